"""Self-service: where the status of a citizen's application comes from."""
