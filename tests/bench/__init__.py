"""Benchmarks: ``python -m tests.bench`` (or ``make bench``) runs every bench_*.py here.

They are not tests (pytest collects test_*.py only): each prints its raw numbers and a
ratio against a baseline measured in the same run. ``python -m tests.bench.pages`` (``make
bench-pages``, also run by ``make bench``) serves pages at scale with gunicorn and measures
them with wrk against a bare Flask ceiling in the same run: see pages.py.
"""
