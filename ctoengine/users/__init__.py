"""API users, roles, tokens and the audit log (issue 14)."""
