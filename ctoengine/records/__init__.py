"""Call records, agent and queue events: built by the call flow, written off the call path."""
