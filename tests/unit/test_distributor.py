"""The distributor with an injected clock, and its invariants under random events."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctoengine.agents.states import AgentSpec, AgentState, AgentStateChanged, InvalidAgentTransition
from ctoengine.calls.protocol import StartTimer
from ctoengine.queues import distributor as q

S = AgentState


def make(**queue_kw: Any) -> q.Distributor:
    queues = {
        "passport": q.QueueSpec("passport", "passport", wrap_up_s=60, ring_timeout_s=15, **queue_kw),
        "general": q.QueueSpec("general", "general", wrap_up_s=60, ring_timeout_s=15),
    }
    agents = [
        AgentSpec("op1", "PJSIP/op1", {"passport": 5, "general": 1}),
        AgentSpec("op2", "PJSIP/op2", {"passport": 8, "general": 1}),
        AgentSpec("op3", "PJSIP/op3", {"general": 1}),
    ]
    return q.Distributor(queues, agents)


def rings(cmds: list[Any]) -> list[tuple[str, str]]:
    return [(c.call_id, c.agent_id) for c in cmds if isinstance(c, q.RingAgent)]


def test_longest_idle_agent_with_the_skill() -> None:
    d = make()
    d.handle(q.AgentLogin("op2"), 0.0)
    d.handle(q.AgentLogin("op1"), 1.0)
    d.handle(q.AgentLogin("op3"), 2.0)
    out = d.handle(q.CallerQueued("c1", "passport", 10.0), 10.0)
    assert rings(out) == [("c1", "op2")]  # idle since 0.0; op3 has no passport skill
    assert StartTimer("ring:c1", 25.0) in out
    assert d.agents["op2"].state is S.RESERVED


def test_skill_level_breaks_ties() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.AgentLogin("op2"), 0.0)
    assert rings(d.handle(q.CallerQueued("c1", "passport", 1.0), 1.0)) == [("c1", "op2")]


def test_fifo_by_priority_within_a_queue() -> None:
    d = make()
    d.handle(q.CallerQueued("early", "passport", 0.0), 0.0)
    d.handle(q.CallerQueued("late", "passport", 5.0), 5.0)
    d.handle(q.CallerQueued("vip", "passport", 6.0, priority=5), 6.0)
    assert rings(d.handle(q.AgentLogin("op1"), 7.0)) == [("vip", "op1")]
    assert rings(d.handle(q.AgentLogin("op2"), 7.0)) == [("early", "op2")]
    assert d.position("late") == 3  # the two being rung are still ahead of him


def test_cross_queue_the_agent_takes_the_longest_waiter() -> None:
    d = make()
    d.handle(q.CallerQueued("g", "general", 0.0), 0.0)
    d.handle(q.CallerQueued("p", "passport", 3.0), 3.0)
    assert rings(d.handle(q.AgentLogin("op1"), 4.0)) == [("g", "op1")]


def test_wrap_up_is_a_state_and_no_call_is_offered_in_it() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.CallerQueued("c1", "passport", 0.0), 0.0)
    d.handle(q.RingAnswered("c1", "op1"), 2.0)
    out = d.handle(q.CallEnded("c1", "op1"), 182.0)
    assert d.agents["op1"].state is S.WRAP_UP
    assert StartTimer("wrap:op1", 242.0) in out
    assert rings(d.handle(q.CallerQueued("c2", "passport", 190.0), 190.0)) == []
    out = d.handle(q.Tick("wrap:op1"), 242.0)
    assert rings(out) == [("c2", "op1")]
    assert d.handle_time("passport") == pytest.approx(240.0)  # 180 s talk + 60 s wrap-up


def test_ring_timeout_moves_on_and_pauses_after_two_misses() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.AgentLogin("op2"), 1.0)
    assert rings(d.handle(q.CallerQueued("c1", "passport", 2.0), 2.0)) == [("c1", "op1")]
    out = d.handle(q.Tick("ring:c1"), 17.0)
    assert q.CancelRing("c1", "op1") in out
    assert rings(out) == [("c1", "op2")]
    assert d.agents["op1"].missed_rings == 1
    d.handle(q.RingFailed("c1", "op1", "no_answer"), 17.1)  # the shell's late report: ignored
    assert d.agents["op1"].missed_rings == 1
    d.handle(q.CallerQueued("c2", "passport", 18.0), 18.0)
    d.handle(q.Tick("ring:c2"), 33.0)
    assert d.agents["op1"].state is S.PAUSED
    assert d.agents["op1"].reason == "no_answer"


def test_abandon_while_ringing_is_not_the_agents_fault() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.CallerQueued("c1", "passport", 1.0), 1.0)
    out = d.handle(q.CallerLeft("c1"), 5.0)
    assert q.CancelRing("c1", "op1") in out
    assert d.agents["op1"].state is S.AVAILABLE
    assert d.agents["op1"].missed_rings == 0
    assert any(isinstance(c, q.QueueLog) and c.kind == "abandon" and c.wait_s == 4.0 for c in out)


def test_pause_during_a_call_applies_after_wrap_up() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.CallerQueued("c1", "passport", 0.0), 0.0)
    d.handle(q.RingAnswered("c1", "op1"), 1.0)
    d.handle(q.AgentPause("op1", "lunch"), 2.0)
    assert d.agents["op1"].state is S.ON_CALL
    d.handle(q.CallEnded("c1", "op1"), 3.0)
    d.handle(q.Tick("wrap:op1"), 63.0)
    assert (d.agents["op1"].state, d.agents["op1"].reason) == (S.PAUSED, "lunch")


def test_general_agents_after_the_relaxation_time() -> None:
    d = make(general_after_s=15)
    d.handle(q.AgentLogin("op3"), 0.0)
    out = d.handle(q.CallerQueued("c1", "passport", 0.0), 0.0)
    assert rings(out) == []
    assert StartTimer("relax:c1", 15.0) in out
    assert rings(d.handle(q.Tick("relax:c1"), 15.0)) == [("c1", "op3")]


def test_max_wait_exit_and_announcements() -> None:
    d = make(max_wait_s=600, announce_every_s=30, max_wait_action="callback")
    d.handle(q.CallerQueued("c1", "passport", 0.0), 0.0)
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.RingAnswered("c1", "op1"), 1.0)
    d.handle(q.CallerQueued("c2", "passport", 2.0), 2.0)
    out = d.handle(q.Tick("announce:c2"), 32.0)
    (ann,) = [c for c in out if isinstance(c, q.Announce)]
    assert ann.position == 1
    assert ann.expected_wait_s == pytest.approx(240.0)  # op1's talk may last any time: one handle time
    out = d.handle(q.Tick("maxwait:c2"), 602.0)
    assert q.QueueExit("c2", "callback") in out
    assert "c2" not in d.waiting


def test_nobody_staffed_means_no_expected_wait() -> None:
    d = make()
    d.handle(q.CallerQueued("c1", "passport", 0.0), 0.0)
    assert d.expected_wait("c1", 1.0) is None


def test_invalid_transitions_are_refused() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    with pytest.raises(InvalidAgentTransition):
        d.handle(q.AgentLogin("op1"), 1.0)
    with pytest.raises(InvalidAgentTransition):
        d.agents["op2"].set(S.ON_CALL, 1.0)


def test_snapshot_restores_logins_and_order() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.AgentPause("op1", "training"), 0.0)
    d.handle(q.CallerQueued("a", "passport", 1.0), 1.0)
    d.handle(q.CallerQueued("b", "passport", 2.0), 2.0)
    snap = d.snapshot(10.0)
    assert [w["call_id"] for w in snap["waiting"]] == ["a", "b"]
    fresh = make()
    changes = fresh.restore_agents(snap, 100.0)
    assert [(c.agent_id, c.to_state) for c in changes if isinstance(c, AgentStateChanged)] == [
        ("op1", S.PAUSED)
    ]


def test_an_operator_talking_at_a_restart_is_on_that_call_again() -> None:
    d = make()
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.AgentLogin("op2"), 0.0)
    d.handle(q.CallerQueued("c1", "passport", 1.0), 1.0)  # op1 or op2: whoever is rung
    talker = next(a for a in ("op1", "op2") if d.agents[a].state is S.RESERVED)
    d.handle(q.RingAnswered("c1", talker), 2.0)
    d.handle(q.AgentPause(talker, "lunch"), 3.0)
    snap = d.snapshot(12.0)
    assert snap["talks"] == [{"call_id": "c1", "agent": talker, "queue": "passport", "talked_s": 10.0}]

    fresh = make()
    fresh.restore_agents(snap, 100.0, live={"c1"})
    assert (fresh.agents[talker].state, fresh.agents[talker].call_id) == (S.ON_CALL, "c1")
    assert rings(fresh.handle(q.CallerQueued("c2", "passport", 101.0), 101.0)) != [("c2", talker)]
    out = fresh.handle(q.CallEnded("c1", talker), 120.0)
    assert StartTimer(f"wrap:{talker}", 180.0) in out
    assert fresh.handle_time("passport") == pytest.approx(30.0 + 60.0)  # talk counts from before
    fresh.handle(q.Tick(f"wrap:{talker}"), 180.0)
    assert (fresh.agents[talker].state, fresh.agents[talker].reason) == (S.PAUSED, "lunch")

    gone = make()  # the call ended while no engine ran: back to where the operator was
    gone.restore_agents(snap, 100.0, live=set())
    assert (gone.agents[talker].state, gone.agents[talker].reason) == (S.PAUSED, "lunch")


# --- properties -------------------------------------------------------------------
AGENTS = ["op1", "op2", "op3"]
event = st.one_of(
    st.builds(q.AgentLogin, st.sampled_from(AGENTS)),
    st.builds(q.AgentLogout, st.sampled_from(AGENTS)),
    st.builds(q.AgentPause, st.sampled_from(AGENTS), st.just("break")),
    st.builds(q.AgentUnpause, st.sampled_from(AGENTS)),
    st.tuples(st.just("queue"), st.sampled_from(["passport", "general"]), st.integers(0, 2)),
    st.tuples(st.just("leave"), st.integers(0, 30)),
    st.tuples(st.just("answer"), st.integers(0, 30)),
    st.tuples(st.just("fail"), st.integers(0, 30)),
    st.tuples(st.just("end"), st.sampled_from(AGENTS)),
    st.tuples(
        st.just("tick"), st.sampled_from(["wrap", "ring", "relax", "maxwait", "announce"]), st.integers(0, 30)
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(event, st.floats(0, 20)), max_size=60))
def test_invariants_under_random_events(steps: list[tuple[Any, float]]) -> None:
    d = make(general_after_s=10)
    now, n = 0.0, 0
    for ev, dt in steps:
        now += dt
        if isinstance(ev, tuple):
            kind = ev[0]
            if kind == "queue":
                n += 1
                ev = q.CallerQueued(f"c{n}", ev[1], now, priority=ev[2])
            elif kind in ("leave", "answer", "fail"):
                call = f"c{ev[1]}"
                ringing = d.waiting[call].ringing if call in d.waiting else None
                if kind == "leave":
                    ev = q.CallerLeft(call)
                elif ringing is None:
                    continue
                else:
                    ev = (q.RingAnswered if kind == "answer" else q.RingFailed)(
                        call, ringing, *(("no_answer",) if kind == "fail" else ())
                    )  # type: ignore[operator]
            elif kind == "end":
                ag = d.agents[ev[1]]
                if ag.state is not S.ON_CALL or ag.call_id is None:
                    continue
                ev = q.CallEnded(ag.call_id, ag.id)
            else:
                key = ev[1]
                target = AGENTS[ev[2] % 3] if key == "wrap" else f"c{ev[2]}"
                ev = q.Tick(f"{key}:{target}")
        try:
            d.handle(ev, now)
        except InvalidAgentTransition:
            continue
        # An agent is reserved for at most one caller, and a caller rings at most one agent.
        reserved = [a for a in d.agents.values() if a.state is S.RESERVED]
        ringing = [w for w in d.waiting.values() if w.ringing is not None]
        assert sorted(a.id for a in reserved) == sorted(w.ringing for w in ringing)  # type: ignore[type-var]
        for a in reserved:
            assert d.waiting[a.call_id].ringing == a.id  # type: ignore[index]
        # Nobody waits un-rung while an available agent may serve him.
        free = [a for a in d.agents.values() if a.state is S.AVAILABLE]
        assert sorted(d._free) == sorted(a.id for a in free)  # the index of free operators is exact
        for w in d.waiting.values():
            if w.ringing is None:
                assert not [a for a in free if d.may_serve(a, w, now)], (w, free)
        # Everybody's estimate at once is each one's estimate (the federation asks for all).
        assert d.expected_waits(now) == {c: d.expected_wait(c, now) for c in d.waiting}


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(0, 10),
    st.lists(st.floats(0, 60), max_size=10),
    st.integers(1, 20),
    st.floats(1, 600),
)
def test_waits_for_positions_are_the_nth_freeing_moments(
    count: int, available: int, wrap_left: list[float], staffed: int, aht: float
) -> None:
    def reference(position: int) -> float:  # the n-th freeing moment, counted out afresh
        moments = sorted([*wrap_left, *(k * aht / staffed for k in range(1, position + 1))])
        needed = position - available
        return 0.0 if needed <= 0 else moments[needed - 1]

    waits = q.waits_for_positions(count, available, wrap_left, staffed, aht)
    assert waits == pytest.approx([reference(p) for p in range(1, count + 1)])
    assert waits[-1] == q.wait_at_position(count, available, wrap_left, staffed, aht)
    assert waits == sorted(waits)  # a later place never waits less
