"""Benchmarks behind `make bench`. Each module writes JSON to benchmarks/results/<name>.json."""
