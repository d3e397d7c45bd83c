"""Operators: their states (a pure state machine) and the API routes to steer them."""
