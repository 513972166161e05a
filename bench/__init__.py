"""Benchmarks: the engine's ceiling, the worker pool's throughput, peers in the same run."""
