"""``eegtrain``: the command line (train, search, runs, predict, export)."""

from .main import main

__all__ = ["main"]
