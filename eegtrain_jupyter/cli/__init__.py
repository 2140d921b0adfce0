"""``eegtrain``: the command line (train, search, benchmark, runs, predict, export)."""

from .main import main

__all__ = ["main"]
