"""sipp callers and operator softphones for the demo, the benchmark and the tests."""
