"""The shell of the federation: publish our load, poll the peers', and ask the
pure decision every second which waiting callers to send where."""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from ctoengine.api.routes import Routes
from ctoengine.calls import wire
from ctoengine.config import RoutingConfig, is_open
from ctoengine.config.routing import Federation
from ctoengine.errors import Unauthorized, Unavailable
from ctoengine.federation.decision import Local, PeerSpec, PeerStatus, Policy, Usage, choose_peer
from ctoengine.federation.schemas import FederationStatus
from ctoengine.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from ctoengine.queues.service import QueueService

log = get_logger("ctoengine.federation")

STATUS_PATH = "/api/v1/federation/status"


class OverflowTo:
    """Delivered to a waiting call's task: try this peer now."""

    def __init__(self, peer: str) -> None:
        self.peer = peer


def policy_of(fed: Federation) -> Policy:
    return Policy(target_wait_s=fed.target_wait_s, margin_s=fed.margin_s, stale_after_s=fed.stale_after_s)


class FederationService:
    def __init__(self, queues: QueueService, routing: Callable[[], RoutingConfig]) -> None:
        self.queues = queues
        self.routing = routing
        self.statuses: dict[str, PeerStatus | None] = {}
        self.usage = Usage()
        self._http: aiohttp.ClientSession | None = None

    @property
    def cfg(self) -> Federation | None:
        return self.routing().federation

    # --- what we publish ------------------------------------------------------
    def accepts(self, topic: str | None = None) -> bool:
        cfg, routing = self.cfg, self.routing()
        if cfg is None or not cfg.accept_overflow or routing.emergency.enabled:
            return False
        if not is_open(routing, self.queues.ctx.wall()):
            return False
        if topic is None:
            return True
        return self.expected_wait(topic) is not None

    def expected_wait(self, topic: str) -> float | None:
        dist = self.queues.dist
        queue = next((n for n, q in dist.queues.items() if q.topic == topic), None)
        return None if queue is None else dist.expected_wait_new(queue, self.queues.now())

    def status_doc(self) -> dict[str, Any]:
        cfg = self.cfg
        topics: dict[str, Any] = {}
        for view in self.queues.queues_view():
            ew = self.queues.dist.expected_wait_new(view["name"], self.queues.now())
            agents = view["agents"]
            topics[view["topic"]] = {
                "queue": view["name"],
                "agents_available": agents.get("available", 0),
                "agents_staffed": sum(n for s, n in agents.items() if s not in ("logged_out", "unavailable")),
                "waiting": view["waiting"],
                "expected_wait_s": None if ew is None else round(ew, 1),
            }
        return {
            "centre": cfg.id if cfg else None,
            "level": self.routing().centre.level,
            "accepts_overflow": self.accepts(),
            "at": self.queues.ctx.wall().isoformat(),
            "topics": topics,
        }

    def register(self, routes: Routes) -> None:
        routes.add("GET", STATUS_PATH, self.http_status, op="federationStatus", tag="federation",
                   summary="This centre's queues and spare operators, for its peer centres",
                   output=FederationStatus)  # fmt: skip

    async def http_status(self, request: web.Request) -> FederationStatus:
        """Polled by the peer centres to decide where a waiting caller goes. Needs the token this
        centre gives its peers (not a user's token); 503 when none is configured."""
        cfg = self.cfg
        token = os.environ.get(cfg.token_env, "") if cfg else ""
        if not token:
            raise Unavailable("this centre has no federation token configured")
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            raise Unauthorized("send Authorization: Bearer <the federation token of this centre>")
        return FederationStatus.model_validate(self.status_doc())

    # --- what we read from peers ------------------------------------------------
    async def run(self) -> None:
        self._http = aiohttp.ClientSession()
        try:
            while True:
                cfg = self.cfg
                if cfg is not None and cfg.peers:
                    await asyncio.gather(*(self._poll(name) for name in cfg.peers))
                    self.consider_all()
                await asyncio.sleep(min(1.0, cfg.poll_every_s) if cfg else 5.0)
        finally:
            await self._http.close()

    async def _poll(self, name: str) -> None:
        cfg = self.cfg
        if cfg is None or name not in cfg.peers or self._http is None:
            return
        peer = cfg.peers[name]
        prev = self.statuses.get(name)
        now = self.queues.now()
        if prev is not None and now - prev.fetched_at < cfg.poll_every_s:
            return
        token = os.environ.get(peer.token_env, "")
        metrics = self.queues.ctx.metrics
        try:
            if not token:
                raise ValueError(f"{peer.token_env} is not set")
            timeout = aiohttp.ClientTimeout(total=min(2.0, cfg.stale_after_s))
            headers = {"Authorization": f"Bearer {token}"}
            async with self._http.get(peer.status_url, headers=headers, timeout=timeout) as r:
                if r.status != 200:
                    raise ValueError(f"HTTP {r.status}")
                doc = await r.json()
            topics = doc.get("topics") or {}
            self.statuses[name] = PeerStatus(
                fetched_at=self.queues.now(),
                accepts=bool(doc.get("accepts_overflow")),
                expected_wait_s={
                    str(t): (None if v.get("expected_wait_s") is None else float(v["expected_wait_s"]))
                    for t, v in topics.items()
                },
            )
            metrics.peer_up.labels(name).set(1)
        except (aiohttp.ClientError, TimeoutError, ValueError, TypeError, AttributeError) as e:
            if prev is not None or name not in self.statuses:
                log.warning("peer_unknown", peer=name, error=str(e) or type(e).__name__)
            self.statuses[name] = None  # a failed answer: unknown, never chosen
            metrics.peer_up.labels(name).set(0)

    # --- the decision -----------------------------------------------------------------
    def consider_all(self) -> None:
        cfg = self.cfg
        if cfg is None or not cfg.peers or not self.queues.dist.waiting:
            return
        # Every waiting caller's estimate in one pass (one by one it was quadratic).
        waits = self.queues.dist.expected_waits(self.queues.now())
        for call_id in list(self.queues.dist.waiting):
            self.consider(call_id, waits)

    def consider(self, call_id: str, waits: dict[str, float | None] | None = None) -> None:
        """Offer one waiting caller to a peer if the decision says so; ``waits``: the
        estimates of ``Distributor.expected_waits`` when considering everybody."""
        cfg = self.cfg
        dist = self.queues.dist
        w = dist.waiting.get(call_id)
        task = self.queues.calls.get(call_id)
        if cfg is None or not cfg.peers or w is None or w.ringing is not None or task is None:
            return
        session = task.queue_session
        if session is None or not session.offerable:  # connected, ringing, offered, or came from a peer
            return
        now = self.queues.now()
        topic = dist.queues[w.queue].topic
        local = Local(
            topic=topic,
            waited_s=now - w.entered_at,
            expected_remaining_s=waits.get(call_id)
            if waits is not None
            else dist.expected_wait(call_id, now),
            open=is_open(self.routing(), self.queues.ctx.wall()),
            hops=task.hops,
        )
        peers = [
            (
                PeerSpec(name, p.priority, frozenset(p.topics), p.max_concurrent, p.max_share),
                self.statuses.get(name),
            )
            for name, p in cfg.peers.items()
            if name not in session.tried_peers
        ]
        peer = choose_peer(local, peers, self.usage, policy_of(cfg), now)
        if peer is not None:
            session.offer(peer)

    # --- the call's side ------------------------------------------------------------------
    def headers(
        self, *, federation_id: str, topic: str, caller: str, waited_s: float, hops: int
    ) -> dict[str, str]:
        cfg = self.cfg
        assert cfg is not None
        return wire.federation_headers(
            federation_id=federation_id,
            origin=cfg.id,
            topic=topic,
            caller=caller,
            waited_s=waited_s,
            hops=hops,
        )
