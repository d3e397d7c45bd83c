"""The HTTP listener: /metrics, /healthz and the JSON API under /api/v1."""
