"""What the engine keeps across a restart, in the ``engine_state`` table."""
