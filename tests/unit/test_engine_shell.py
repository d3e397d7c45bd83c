"""The engine's HTTP shell without a stack: liveness, readiness, and the emergency switch's 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ctoengine.app import Engine
from ctoengine.config import RoutingConfig
from ctoengine.db.pool import SharedPool
from ctoengine.errors import DatabaseError
from ctoengine.settings import Settings


async def _db_down() -> asyncpg.Pool:
    raise DatabaseError("PostgreSQL is unreachable (ConnectionRefusedError: test)")


@pytest.fixture
async def engine_client(demo: RoutingConfig, tmp_path: Path) -> AsyncIterator[tuple[Engine, TestClient]]:
    settings = Settings(
        ari_url="http://127.0.0.1:9",
        ari_password="x",  # type: ignore[arg-type]
        database_url="postgresql://u:p@127.0.0.1:9/db",  # type: ignore[arg-type]
        api_token="t",  # type: ignore[arg-type]
        spool_dir=tmp_path,
        instance="unit",
    )
    engine = Engine(settings, demo)
    engine._db = SharedPool(_db_down)
    engine._register_admin_routes()
    client = TestClient(TestServer(engine.http.app))
    await client.start_server()
    try:
        yield engine, client
    finally:
        await client.close()


async def test_livez_needs_no_dependency(engine_client: tuple[Engine, TestClient]) -> None:
    _, client = engine_client
    r = await client.get("/livez")
    assert r.status == 200
    assert await r.json() == {"ok": True}


@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
async def test_readiness_names_what_failed(engine_client: tuple[Engine, TestClient], path: str) -> None:
    _, client = engine_client
    r = await client.get(path)
    assert r.status == 503
    assert await r.json() == {"ok": False, "ari": False, "database": False}


async def test_emergency_switch_is_refused_when_it_cannot_be_stored(
    engine_client: tuple[Engine, TestClient],
) -> None:
    engine, client = engine_client
    before = engine.routing.emergency.enabled
    auth = {"Authorization": "Bearer t"}
    r = await client.post("/api/v1/emergency", json={"enabled": not before, "by": "duty"}, headers=auth)
    body = await r.json()
    assert r.status == 503, body
    assert body["error"] == "emergency_not_stored"
    assert "NOT switched" in body["message"]
    assert engine.routing.emergency.enabled is before  # not applied in memory either
    r = await client.get("/api/v1/emergency", headers=auth)
    assert (await r.json())["source"] == "file"
