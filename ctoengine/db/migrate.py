"""Plain-SQL migrations from ``ctoengine/db/migrations/`` (package data, so an
installed wheel carries them), applied in name order, each in a
transaction, recorded with its checksum. A file changed after it was applied
stops the runner: history is not rewritten silently (docs/decisions/001).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from ctoengine.db.pool import connect_once
from ctoengine.errors import MigrationError

DEFAULT_DIR = Path(__file__).resolve().parent / "migrations"

_LOCK_KEY = 0x0C70_E061_5E  # advisory lock: two engines starting at once apply once


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(folder: Path = DEFAULT_DIR) -> list[Migration]:
    if not folder.is_dir():
        raise MigrationError(f"migrations folder {folder} does not exist")
    return [Migration(p.name, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.sql"))]


async def apply(dsn: str, folder: Path = DEFAULT_DIR) -> list[str]:
    """Apply what is new; return the names applied."""
    migrations = discover(folder)
    conn = await connect_once(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_migrations")}
        for name, checksum in applied.items():
            known = next((m for m in migrations if m.name == name), None)
            if known is None:
                raise MigrationError(f"applied migration {name} is missing from {folder}")
            if known.checksum != checksum:
                raise MigrationError(f"migration {name} changed after it was applied; add a new file instead")
        done = []
        for m in migrations:
            if m.name in applied:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                        m.name,
                        m.checksum,
                    )
            except asyncpg.PostgresError as e:
                raise MigrationError(f"migration {m.name} failed: {e}") from None
            done.append(m.name)
        return done
    finally:
        await conn.close()
