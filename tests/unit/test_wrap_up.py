"""The operator's wrap-up from the workplace: "ready now" and a bounded "need more time"
(pure distributor events, fixed clock)."""

from __future__ import annotations

import pytest

from ctoengine.agents.states import AgentState, AgentStateChanged, InvalidAgentTransition
from ctoengine.calls.protocol import CancelTimer, StartTimer
from ctoengine.queues import distributor as q
from tests.unit.test_distributor import make, rings

S = AgentState


def talking(**queue_kw: float) -> q.Distributor:
    """op1 answers c1 at 10 s and the call ends at 40 s: wrap-up (60 s) until 100 s."""
    d = make(**queue_kw)
    d.handle(q.AgentLogin("op1"), 0.0)
    assert rings(d.handle(q.CallerQueued("c1", "passport", 5.0), 5.0)) == [("c1", "op1")]
    d.handle(q.RingAnswered("c1", "op1"), 10.0)
    out = d.handle(q.CallEnded("c1", "op1"), 40.0)
    assert StartTimer("wrap:op1", 100.0) in out
    return d


def test_ready_now_ends_the_wrap_up_and_takes_the_next_caller() -> None:
    d = talking()
    d.handle(q.CallerQueued("c2", "passport", 41.0), 41.0)
    assert d.wraps["op1"].call_id == "c1"
    out = d.handle(q.WrapUpDone("op1"), 50.0)
    assert CancelTimer("wrap:op1") in out
    assert rings(out) == [("c2", "op1")]
    assert "op1" not in d.wraps
    assert d.handle(q.Tick("wrap:op1"), 100.0) == []  # a late timer changes nothing


def test_need_more_time_is_bounded() -> None:
    d = talking(wrap_up_extend_max_s=90.0)
    assert d.handle(q.WrapUpExtend("op1", 60.0), 50.0) == [StartTimer("wrap:op1", 160.0)]
    assert d.wrap_extension_left("op1") == 30.0
    assert d.handle(q.WrapUpExtend("op1", 60.0), 60.0) == [StartTimer("wrap:op1", 190.0)]  # cut to 30
    assert d.wrap_extension_left("op1") == 0.0
    assert d.handle(q.WrapUpExtend("op1", 60.0), 70.0) == []  # used up: the timer stays
    assert d.handle(q.Tick("wrap:op1"), 160.0)[0] == AgentStateChanged(
        "op1", S.WRAP_UP, S.AVAILABLE, "wrap_up_done", 160.0
    )


def test_the_expected_wait_counts_the_extension() -> None:
    d = talking()
    d.handle(q.WrapUpExtend("op1", 60.0), 40.0)
    # The caller waits for op1's wrap-up to end at 160 s, not at 100 s.
    _, wrap_left, _ = d._staffing("passport", 50.0) or (0, [], 0)
    assert wrap_left == [110.0]


def test_a_pause_asked_during_the_call_applies_after_ready_now() -> None:
    d = talking()
    d.handle(q.AgentPause("op1", "lunch"), 45.0)
    d.handle(q.WrapUpDone("op1"), 50.0)
    assert (d.agents["op1"].state, d.agents["op1"].reason) == (S.PAUSED, "lunch")


def test_outside_wrap_up_both_are_refused() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    with pytest.raises(InvalidAgentTransition):
        d.handle(q.WrapUpDone("op1"), 1.0)
    with pytest.raises(InvalidAgentTransition):
        d.handle(q.WrapUpExtend("op1", 30.0), 1.0)
    assert d.wrap_extension_left("op1") == 0.0
