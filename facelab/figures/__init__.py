"""The topic figures of the chapters, one module per topic, built on :mod:`facelab.plotting`'s primitives.

A figure function takes an experiment's result and returns a matplotlib ``Figure``; it computes nothing
that the experiment did not (figures sit above the data/models/metrics layers and never import
:mod:`facelab.experiments` at run time).
"""
