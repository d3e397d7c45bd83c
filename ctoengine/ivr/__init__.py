"""The IVR: a pure state machine per call (greeting, announcements, menus, self-service)."""
