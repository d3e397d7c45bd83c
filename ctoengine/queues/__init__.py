"""Queues and the distribution of callers to operators (pure core) and its asyncio shell."""
