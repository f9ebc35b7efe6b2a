"""``python -m facelab``: the same command line as ``facelab`` (``facelab.cli``)."""
import sys

from facelab.cli import main

sys.exit(main())
