"""Callbacks (issue 15): the promise "we will call you back within 24 hours", kept."""
