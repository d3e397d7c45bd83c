"""One callback attempt with a fixed clock; the numbers that may be promised a callback;
the distributor's reservation of an operator for a callback."""

from __future__ import annotations

import pytest

from ctoengine.agents.states import AgentSpec, AgentState
from ctoengine.callbacks import attempt as a
from ctoengine.callbacks.numbers import callback_key, e164
from ctoengine.config.routing import Outbound
from ctoengine.queues import distributor as q

PLAN = a.Plan("cb-1-100", "op1", "PJSIP/op1", "passport", 15, 30, ("sound:whisper",), ("sound:intro",))
OP, CITIZEN = PLAN.operator_leg, PLAN.call_id


class Run:
    def __init__(self) -> None:
        self.now = 0.0
        self.m = a.CallbackAttempt(PLAN)
        self.cmds: list[a.Command] = []

    def send(self, event: a.Event, dt: float = 0.5) -> list[a.Command]:
        self.now += dt
        out = self.m.handle(event, self.now)
        self.cmds += out
        return out

    def dialling(self) -> None:
        self.send(a.Start(), dt=0.0)
        self.send(a.LegAnswered(OP))
        self.send(a.PlaybackDone(f"{CITIZEN}-whisper"))

    def done(self) -> a.Done:
        (done,) = [c for c in self.cmds if isinstance(c, a.Done)]
        return done


def test_operator_first_whisper_dial_intro_bridge_and_the_end() -> None:
    r = Run()
    assert r.send(a.Start(), dt=0.0) == [a.RingOperator(OP, "PJSIP/op1", 15)]
    assert r.m.deadline == 25.0
    assert r.send(a.LegAnswered(OP)) == [a.PlayTo(OP, f"{CITIZEN}-whisper", ("sound:whisper",))]
    out = r.send(a.PlaybackDone(f"{CITIZEN}-whisper"))
    assert out == [a.Music(OP, True), a.DialCitizen(CITIZEN, 30)]
    assert r.m.dialled and r.m.deadline == 41.0
    assert r.send(a.LegAnswered(CITIZEN)) == [a.PlayTo(CITIZEN, f"{CITIZEN}-intro", ("sound:intro",))]
    out = r.send(a.PlaybackDone(f"{CITIZEN}-intro"))
    assert out == [
        a.Music(OP, False),
        a.Bridge((CITIZEN, OP)),
        a.Feed(q.Connected(CITIZEN, "op1", "passport")),
        a.RecordAnswered(),
    ]
    out = r.send(a.LegGone(CITIZEN, 16), dt=60.0)
    assert out == [a.Feed(q.CallEnded(CITIZEN, "op1")), a.HangupLeg(OP), a.Done("answered", "caller")]
    assert r.m.done and r.send(a.LegGone(OP, 16)) == []


@pytest.mark.parametrize(("cause", "result"), [(17, "busy"), (19, "no_answer"), (38, "failed")])
def test_the_citizen_does_not_answer(cause: int, result: str) -> None:
    r = Run()
    r.dialling()
    out = r.send(a.LegGone(CITIZEN, cause))
    assert out == [a.HangupLeg(OP), a.Feed(q.Unreserve(CITIZEN, "op1")), a.Done(result, "engine", str(cause))]  # type: ignore[arg-type]


def test_no_answer_at_the_deadline_hangs_up_both() -> None:
    r = Run()
    r.dialling()
    assert r.send(a.DeadlinePassed(), dt=10.0) == []
    r.now = r.m.deadline or 0.0
    out = r.send(a.DeadlinePassed(), dt=0.0)
    assert out == [
        a.HangupLeg(CITIZEN),
        a.HangupLeg(OP),
        a.Feed(q.Unreserve(CITIZEN, "op1")),
        a.Done("no_answer"),
    ]


def test_an_operator_who_does_not_answer_is_missed_and_the_citizen_never_rung() -> None:
    r = Run()
    r.send(a.Start(), dt=0.0)
    r.send(a.LegGone(OP, 19))
    assert r.done() == a.Done("operator_unavailable")
    assert a.Feed(q.Unreserve(CITIZEN, "op1", missed=True)) in r.cmds
    assert not r.m.dialled


def test_the_operator_withdrawn_while_the_citizen_rings() -> None:
    r = Run()
    r.dialling()
    out = r.send(a.OperatorWithdrawn())
    assert out == [a.HangupLeg(CITIZEN), a.HangupLeg(OP), a.Done("operator_unavailable")]  # no Unreserve


def test_the_citizen_hangs_up_on_the_introduction() -> None:
    r = Run()
    r.dialling()
    r.send(a.LegAnswered(CITIZEN))
    out = r.send(a.LegGone(CITIZEN, 16))
    assert out == [a.HangupLeg(OP), a.Feed(q.Unreserve(CITIZEN, "op1")), a.Done("hung_up", "caller")]


def test_a_refused_originate_is_a_failed_attempt() -> None:
    r = Run()
    r.dialling()
    r.send(a.LegFailed(CITIZEN))
    assert r.done().result == "failed"


# --- numbers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("79161234567", "+79161234567"),
        ("89161234567", "+79161234567"),
        ("+7 916 123-45-67", "+79161234567"),
        ("84959876543", "+74959876543"),
        ("anonymous", None),
        ("", None),
        (None, None),
        ("77012345678", None),  # Kazakhstan shares +7
        ("88091234567", None),  # premium rate
        ("123", None),
    ],
)
def test_who_may_be_called_back(raw: str | None, key: str | None) -> None:
    assert e164(raw) == key


def test_the_trunk_patterns_have_the_last_word() -> None:
    out = Outbound(trunk="pstn-out", caller_id="88003336060", allowed=[r"(\+7|7|8)9[0-9]{9}"])
    assert callback_key("79161234567", out.allows) == "+79161234567"
    assert callback_key("84959876543", out.allows) is None  # valid, but not a number the trunk may dial


# --- the distributor ----------------------------------------------------------------
def test_reserve_connect_end_and_unreserve() -> None:
    d = q.Distributor(
        {"passport": q.QueueSpec("passport", "passport", wrap_up_s=10.0)},
        [AgentSpec("op1", "PJSIP/op1", {"passport": 5}), AgentSpec("op2", "PJSIP/op2", {"egrul": 5})],
    )
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.AgentLogin("op2"), 0.0)
    assert d.free_by_topic() == {"passport": ["op1"], "egrul": ["op2"]}
    assert d.handle(q.Reserve("cb", "op2", "passport"), 1.0) == []  # not his topic
    d.handle(q.Reserve("cb", "op1", "passport"), 1.0)
    assert d.agents["op1"].state is AgentState.RESERVED
    d.handle(q.CallerQueued("c1", "passport", 1.0), 1.0)
    assert d.waiting["c1"].ringing is None  # a reserved operator is not rung for an inbound caller
    assert d.longest_wait_by_topic(5.0) == {"passport": 4.0}
    d.handle(q.Connected("cb", "op1", "passport"), 2.0)
    assert d.agents["op1"].state is AgentState.ON_CALL
    d.handle(q.CallEnded("cb", "op1"), 50.0)
    assert d.agents["op1"].state is AgentState.WRAP_UP
    d.handle(q.Unreserve("cb", "op1"), 51.0)  # too late: ignored
    assert d.agents["op1"].state is AgentState.WRAP_UP


def test_a_missed_callback_ring_counts_like_a_missed_ring() -> None:
    d = q.Distributor(
        {"passport": q.QueueSpec("passport", "passport")}, [AgentSpec("op1", "PJSIP/op1", {"passport": 5})]
    )
    d.handle(q.AgentLogin("op1"), 0.0)
    for t in (1.0, 2.0):
        d.handle(q.Reserve(f"cb{t}", "op1", "passport"), t)
        d.handle(q.Unreserve(f"cb{t}", "op1", missed=True), t)
    assert (d.agents["op1"].state, d.agents["op1"].reason) == (AgentState.PAUSED, "no_answer")


def test_logout_while_reserved_tells_the_callback() -> None:
    d = q.Distributor(
        {"passport": q.QueueSpec("passport", "passport")}, [AgentSpec("op1", "PJSIP/op1", {"passport": 5})]
    )
    d.handle(q.AgentLogin("op1"), 0.0)
    d.handle(q.Reserve("cb", "op1", "passport"), 1.0)
    out = d.handle(q.AgentLogout("op1"), 2.0)
    assert q.CancelRing("cb", "op1") in out
