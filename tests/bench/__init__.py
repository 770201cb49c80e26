"""Benchmarks: ``python -m tests.bench`` (or ``make bench``) runs every bench_*.py here.

They are not tests (pytest collects test_*.py only): each prints its raw numbers and a
ratio against a baseline measured in the same run.
"""
