"""Benchmarks of eegtrain-jupyter, each against a baseline measured in the same run.

Run ``python -m bench`` (full) or ``python -m bench --quick`` (CI smoke run, tiny sizes, no thresholds).
"""
