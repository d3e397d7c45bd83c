"""Quality control (issue 18, docs/quality.md): recording, live listening, post-call survey."""
