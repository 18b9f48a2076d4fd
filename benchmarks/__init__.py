"""Benchmarks of suprsend-async against the official suprsend-py-sdk; run `python -m benchmarks`."""
