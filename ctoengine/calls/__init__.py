"""The per-call flow: its events, commands and the task that owns one call."""
