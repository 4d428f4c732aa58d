"""Benchmarks run by ``make bench``: figures with a same-run baseline, medians of repeats."""
