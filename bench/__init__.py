"""Benchmarks: speed and memory of the platform against a pandas peer and a bare DuckDB lower
bound (issue 7). Nothing here is imported by the platform or asserted by the test suite."""
