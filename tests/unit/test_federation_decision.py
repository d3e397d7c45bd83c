"""The overflow decision: when a caller leaves for a peer, and to which."""

from __future__ import annotations

from ctoengine.federation.decision import (
    Local,
    PeerSpec,
    PeerStatus,
    Policy,
    Usage,
    choose_peer,
    needs_overflow,
)

POLICY = Policy(target_wait_s=20, margin_s=10, stale_after_s=10)
NOW = 1000.0


def status(
    wait: float | None, *, topic: str = "passport", age: float = 1, accepts: bool = True
) -> PeerStatus:
    return PeerStatus(fetched_at=NOW - age, accepts=accepts, expected_wait_s={topic: wait})


def late(**kw: object) -> Local:
    """A caller who would wait 15 + 30 s here: past the target."""
    args: dict[str, object] = {"topic": "passport", "waited_s": 15.0, "expected_remaining_s": 30.0}
    args.update(kw)
    return Local(**args)  # type: ignore[arg-type]


def test_a_caller_answered_within_the_target_at_home_stays() -> None:
    local = Local("passport", waited_s=5, expected_remaining_s=10)
    assert not needs_overflow(local, POLICY)
    assert choose_peer(local, [(PeerSpec("B"), status(0))], Usage(queued=10), POLICY, NOW) is None


def test_nobody_staffed_or_closed_at_home_means_overflow() -> None:
    assert needs_overflow(Local("passport", 0, None), POLICY)
    assert needs_overflow(Local("passport", 0, 0, open=False), POLICY)


def test_a_call_overflowed_once_is_never_sent_on() -> None:
    local = late(hops=1)
    assert not needs_overflow(local, POLICY)
    assert choose_peer(local, [(PeerSpec("B"), status(0))], Usage(queued=10), POLICY, NOW) is None


def test_the_peer_must_be_clearly_faster() -> None:
    usage = Usage(queued=10)
    # Ours 30 s more; theirs 25 s + 10 s margin is not clearly shorter.
    assert choose_peer(late(), [(PeerSpec("B"), status(25))], usage, POLICY, NOW) is None
    assert choose_peer(late(), [(PeerSpec("B"), status(20))], usage, POLICY, NOW) == "B"


def test_unknown_stale_refusing_or_unstaffed_peers_are_never_chosen() -> None:
    usage = Usage(queued=10)
    for peer_status in (None, status(0, age=11), status(0, accepts=False), status(None)):
        assert choose_peer(late(), [(PeerSpec("B"), peer_status)], usage, POLICY, NOW) is None


def test_a_peer_without_the_topic_is_skipped() -> None:
    spec = PeerSpec("B", topics=frozenset({"social"}))
    assert choose_peer(late(), [(spec, status(0))], Usage(queued=10), POLICY, NOW) is None
    other = PeerStatus(fetched_at=NOW, accepts=True, expected_wait_s={"social": 0})
    assert choose_peer(late(), [(PeerSpec("B"), other)], Usage(queued=10), POLICY, NOW) is None


def test_shortest_wait_then_priority_then_least_used_share() -> None:
    usage = Usage(queued=100, sent={"B": 5, "C": 1})
    peers = [(PeerSpec("B", priority=1), status(3)), (PeerSpec("C"), status(2))]
    assert choose_peer(late(), peers, usage, POLICY, NOW) == "C"
    peers = [(PeerSpec("B", priority=1), status(2)), (PeerSpec("C"), status(2))]
    assert choose_peer(late(), peers, usage, POLICY, NOW) == "B"
    peers = [(PeerSpec("B"), status(2)), (PeerSpec("C"), status(2))]
    assert choose_peer(late(), peers, usage, POLICY, NOW) == "C"


def test_quotas_concurrent_calls_and_share() -> None:
    spec = PeerSpec("B", max_concurrent=2, max_share=0.1)
    assert choose_peer(late(), [(spec, status(0))], Usage(queued=10, active={"B": 2}), POLICY, NOW) is None
    # A 10 % share of 10 queued calls is one call, plus one of slack: the third is refused.
    assert choose_peer(late(), [(spec, status(0))], Usage(queued=10, sent={"B": 1}), POLICY, NOW) == "B"
    assert choose_peer(late(), [(spec, status(0))], Usage(queued=10, sent={"B": 2}), POLICY, NOW) is None
    # The first call of the day can go although nothing has been queued yet.
    assert choose_peer(late(), [(spec, status(0))], Usage(queued=0), POLICY, NOW) == "B"
