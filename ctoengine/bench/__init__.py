"""The load benchmark: the engine against Asterisk's own Queue() on the same
box, operators and callers (``scripts/bench``, docs/benchmark.md).

``profile`` writes the benchmark profile (routing file, baseline dialplan and
queues); ``measure`` reads what each run left (sipp statistics, call records,
queue_log, /proc, /metrics); ``run`` drives the stack and sipp and prints the
table.
"""
