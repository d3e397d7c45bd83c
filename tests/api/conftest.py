"""The in-process API tier: the real ``HttpApi`` (middleware, policy, audit, every feature's
routes and models) on aiohttp's test server, with fakes behind the services' Protocols.

No database, no Asterisk, no engine: the whole tier runs in a couple of seconds.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ctoengine.admin.http import AdminRoutes
from ctoengine.agents.http import AgentRoutes
from ctoengine.api.http import HttpApi
from ctoengine.appeals.history import History
from ctoengine.appeals.http import AppealRoutes
from ctoengine.appeals.service import Appeals
from ctoengine.callbacks.http import CallbackRoutes
from ctoengine.config import RoutingConfig, load_routing
from ctoengine.config.routing import Federation
from ctoengine.federation.service import FederationService
from ctoengine.metrics.registry import Metrics
from ctoengine.quality.http import QualityRoutes
from ctoengine.users.http import UserRoutes
from tests.api.fakes import (
    T0,
    FakeAppeals,
    FakeCallbacks,
    FakeEmergency,
    FakeHost,
    FakeListening,
    FakeQueues,
    FakeRecordings,
    FakeUserStore,
    cheap_hash,
)

BOOT = "boot-token"
PEER_TOKEN_ENV = "CTO_TEST_PEER_TOKEN"
PEER_TOKEN = "peer-token"
PAUSE_REASONS = ("break", "lunch", "training")
ROUTING_FILE = Path("/etc/ctoengine/routing.yaml")
DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"
_DEMO: list[RoutingConfig] = []


def demo_routing() -> RoutingConfig:
    """The demo routing file (its appeals' catalogue), read once; prompts' audio not needed."""
    if not _DEMO:
        _DEMO.append(load_routing(DEMO, check_audio=False))
    return _DEMO[0]


RECORDING_BYTES = b"RIFF" + bytes(range(256)) * 40  # what the route serves: bytes, not a valid WAV


class FakeFederation(FederationService):
    """The real status route of a centre with one fixed status document."""

    def __init__(self) -> None:
        pass  # no queue service: status_doc and cfg below are all the route reads

    @property
    def cfg(self) -> Federation | None:
        return Federation(id="A", token_env=PEER_TOKEN_ENV)

    def status_doc(self) -> dict[str, Any]:
        return {
            "centre": "A",
            "level": "regional",
            "accepts_overflow": True,
            "at": "2026-11-22T09:00:00+03:00",
            "topics": {
                "social": {
                    "queue": "social",
                    "agents_available": 1,
                    "agents_staffed": 2,
                    "waiting": 0,
                    "expected_wait_s": None,
                }
            },
        }


async def _health() -> dict[str, Any]:
    return {"ari": True, "database": True}


@dataclass
class Api:
    http: HttpApi
    client: TestClient
    queues: FakeQueues
    store: FakeUserStore
    host: FakeHost
    emergency: FakeEmergency
    appeals: FakeAppeals
    listening: FakeListening


def build(
    store: FakeUserStore, recording_dir: Path | None = None
) -> tuple[HttpApi, FakeQueues, FakeHost, FakeEmergency, FakeAppeals, FakeListening]:
    """The engine's HTTP application as ``Engine.start`` wires it, over fakes."""
    http = HttpApi(BOOT, Metrics(), _health, store=store)
    queues, host, emergency = FakeQueues(), FakeHost(), FakeEmergency()
    FakeFederation().register(http.routes)
    AgentRoutes(queues, lambda: PAUSE_REASONS).register(http.routes)
    http.access.call_owner = queues.agent_on_call
    UserRoutes(http.access, queues.has_agent, clock=lambda: 0.0).register(http.routes)
    AdminRoutes(host, emergency, ROUTING_FILE, lambda: T0).register(http.routes)
    CallbackRoutes(FakeCallbacks()).register(http.routes)
    appeals = FakeAppeals()
    service = Appeals(appeals, demo_routing, queues.agent_on_call)
    AppealRoutes(service, History(appeals, http.access.audit, lambda: T0)).register(http.routes)
    listening = FakeListening()
    QualityRoutes(FakeRecordings(), recording_dir, listening).register(http.routes)
    return http, queues, host, emergency, appeals, listening


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """New users' passwords hashed at the least cost (see ``fakes.CHEAP``)."""
    monkeypatch.setattr("ctoengine.users.http.hash_password", cheap_hash)


@pytest.fixture(autouse=True)
def peer_token() -> Iterator[None]:
    os.environ[PEER_TOKEN_ENV] = PEER_TOKEN
    try:
        yield
    finally:
        os.environ.pop(PEER_TOKEN_ENV, None)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    store = FakeUserStore()
    (tmp_path / "2026-11-22").mkdir()
    (tmp_path / "2026-11-22" / "c-op1-rec1.wav").write_bytes(RECORDING_BYTES)
    http, queues, host, emergency, appeals, listening = build(store, tmp_path)
    client = TestClient(TestServer(http.app))
    await client.start_server()
    try:
        yield Api(http, client, queues, store, host, emergency, appeals, listening)
    finally:
        await client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
