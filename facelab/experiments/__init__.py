"""The experiments the chapters run, one module per chapter topic."""
