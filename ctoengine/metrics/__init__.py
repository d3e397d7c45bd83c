"""Prometheus metrics of the engine; every name is documented in docs/metrics.md."""
