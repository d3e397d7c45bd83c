"""The built wheel, installed into a clean venv with the lock's dependencies, migrates a
fresh database with nothing but DATABASE_URL (issue 19's "done when"): the migrations
travel as package data, and no ARI setting is asked for.

Builds with ``pip wheel --no-deps``; installs ``requirements.lock`` with
``--require-hashes`` from PyPI, or, when the index cannot be reached, from the local
wheel folders pip is configured with (``PIP_FIND_LINKS``) with ``--no-index``.
The database is a new one (``CREATE DATABASE``) on the e2e stack's PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.e2e.stack import ROOT, Stack

pytestmark = pytest.mark.e2e


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=900)
    assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def _install_the_wheel(tmp_path: Path) -> Path:
    """Build the wheel and install it into a clean venv; its ``bin`` folder."""
    # 1. The wheel, as a release would build it.
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT))
    (wheel,) = dist.glob("ctoengine-*.whl")

    # 2. A clean venv: the lock's dependencies, then the wheel alone.
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    py = str(venv / "bin" / "python")
    lock = str(ROOT / "requirements.lock")
    online = subprocess.run(
        [py, "-m", "pip", "install", "-q", "--require-hashes", "-r", lock],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if online.returncode != 0:
        links = os.environ.get("PIP_FIND_LINKS", "")
        if not links:
            pytest.fail(f"requirements.lock did not install, no PIP_FIND_LINKS:\n{online.stderr[-3000:]}")
        _run(py, "-m", "pip", "install", "-q", "--no-index", "--find-links", links, "-r", lock)
    _run(py, "-m", "pip", "install", "-q", "--no-deps", str(wheel))
    # Away from the checkout, whose own ctoengine/ folder would be imported first.
    where = _run(py, "-c", "import ctoengine; print(ctoengine.__file__)", cwd=tmp_path).strip()
    assert where.startswith(str(venv)), where  # the wheel's copy, not the checkout
    return venv / "bin"


async def test_the_wheel_migrates_a_fresh_database(stack: Stack, tmp_path: Path) -> None:
    bin_dir = await asyncio.to_thread(_install_the_wheel, tmp_path)

    # 3. A fresh database on the e2e PostgreSQL.
    admin_url = stack.exports["CTO_ADMIN_DATABASE_URL"]  # the engine's own role may not CREATE DATABASE
    name = f"ctoengine_wheel_{random.randrange(10**9)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(admin_url)
        dsn = urlunsplit(parts._replace(path=f"/{name}"))

        # 4. migrate with DATABASE_URL only (no ARI_*, no CTO_*), outside the checkout.
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "DATABASE_URL": dsn, "HOME": str(tmp_path)}
        ctoengine = str(bin_dir / "ctoengine")
        out = await asyncio.to_thread(_run, ctoengine, "migrate", env=env, cwd=tmp_path)
        shipped = sorted((ROOT / "ctoengine" / "db" / "migrations").glob("*.sql"))
        assert out.startswith("migrations: 001_"), out
        assert all(p.name in out for p in shipped), out
        again = await asyncio.to_thread(_run, ctoengine, "migrate", env=env, cwd=tmp_path)
        assert again.strip() == "migrations: up to date"

        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY name")
            assert [r["name"] for r in rows] == [p.name for p in shipped]
            for r, p in zip(rows, shipped, strict=True):
                assert r["checksum"] == hashlib.sha256(p.read_text(encoding="utf-8").encode()).hexdigest()
            assert await conn.fetchval("SELECT count(*) FROM cdr") == 0  # the view exists
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
