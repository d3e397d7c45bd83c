"""Whether to send a waiting caller to a peer centre, and to which: a pure
function of our queue, the peers' published state and the quotas.

Send when the caller would wait past the target here (the wait so far plus the
honest expected remaining wait), or no operator with the skill is logged in, or
the centre is closed; and only to a peer whose expected wait for the topic is
clearly shorter (by ``margin_s``). Among those: the shortest expected wait, then
the higher priority, then the least used quota. Never a call that has already
been overflowed once (no loops, no ping-pong), never a peer whose state is
unknown or stale, never past a peer's concurrent-call limit or our share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Policy:
    target_wait_s: float = 20.0
    margin_s: float = 10.0  # the peer's expected wait must be shorter by at least this
    stale_after_s: float = 10.0  # a peer status older than this is unknown


@dataclass(frozen=True)
class PeerSpec:
    name: str
    priority: int = 0
    topics: frozenset[str] = frozenset()  # empty: every topic
    max_concurrent: int = 10
    max_share: float = 1.0  # of our queued calls that may be sent to this peer


@dataclass(frozen=True)
class PeerStatus:
    """What the peer last published (GET /api/v1/federation/status)."""

    fetched_at: float
    accepts: bool
    expected_wait_s: dict[str, float | None] = field(default_factory=dict)  # by topic; None: nobody staffed


@dataclass(frozen=True)
class Local:
    topic: str
    waited_s: float
    expected_remaining_s: float | None  # None: nobody with the skill is logged in
    open: bool = True
    hops: int = 0  # how many times this call has been overflowed already


@dataclass
class Usage:
    """Our calls at each peer now, and the shares sent."""

    active: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    queued: int = 0  # our calls that entered a queue (the base of max_share)

    def share(self, peer: str) -> float:
        return self.sent.get(peer, 0) / self.queued if self.queued else 0.0


def needs_overflow(local: Local, policy: Policy) -> bool:
    if local.hops > 0:
        return False
    if not local.open or local.expected_remaining_s is None:
        return True
    return local.waited_s + local.expected_remaining_s > policy.target_wait_s


def choose_peer(
    local: Local,
    peers: Sequence[tuple[PeerSpec, PeerStatus | None]],
    usage: Usage,
    policy: Policy,
    now: float,
) -> str | None:
    """The peer to send this caller to now, or None to keep him."""
    if not needs_overflow(local, policy):
        return None
    ours = float("inf") if local.expected_remaining_s is None else local.expected_remaining_s
    best: tuple[float, int, float, str] | None = None
    for spec, status in peers:
        if status is None or now - status.fetched_at > policy.stale_after_s or not status.accepts:
            continue
        if spec.topics and local.topic not in spec.topics:
            continue
        theirs = status.expected_wait_s.get(local.topic)
        if theirs is None or theirs + policy.margin_s > ours:
            continue
        if usage.active.get(spec.name, 0) >= spec.max_concurrent:
            continue
        # Counting this call too, with one call of slack so the first calls of a day can go.
        if usage.sent.get(spec.name, 0) + 1 > spec.max_share * usage.queued + 1:
            continue
        key = (theirs, -spec.priority, usage.share(spec.name), spec.name)
        if best is None or key < best:
            best = key
    return None if best is None else best[3]
