"""PostgreSQL access: the pool, migrations and translation of asyncpg errors."""
