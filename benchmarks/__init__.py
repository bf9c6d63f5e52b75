"""Benchmarks: every figure is a ratio against baselines measured in the same run."""
