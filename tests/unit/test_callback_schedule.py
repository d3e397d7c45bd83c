"""The callback scheduler with a fixed clock, and its invariants (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ctoengine.callbacks import schedule as s

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
RULES = s.Rules(inbound_first_s=30.0, retry_after_s=600.0, attempts=3)


def req(rid: str, topic: str = "passport", minutes_ago: float = 10, attempts: int = 0) -> s.Pending:
    at = T0 - timedelta(minutes=minutes_ago)
    return s.Pending(rid, topic, topic, at, at + timedelta(hours=24), at, attempts)


def floor(free: dict[str, list[str]] | None = None, waits: dict[str, float] | None = None) -> s.Floor:
    return s.Floor(free if free is not None else {"passport": ["op1", "op2"]}, waits or {})


def test_oldest_first_each_with_its_own_operator() -> None:
    dials = s.choose([req("b", minutes_ago=5), req("a", minutes_ago=50), req("c")], floor(), T0, True, RULES)
    assert dials == [s.Dial("a", "op1"), s.Dial("c", "op2")]  # two operators: the third waits


def test_nothing_outside_the_hours_and_the_night_request_in_the_morning() -> None:
    night = req("n", minutes_ago=9 * 60)  # made at midnight
    assert s.choose([night], floor(), T0, False, RULES) == []
    assert s.choose([night], floor(), T0, True, RULES) == [s.Dial("n", "op1")]


def test_inbound_callers_first() -> None:
    r = req("a")
    assert s.choose([r], floor(waits={"passport": 31.0}), T0, True, RULES) == []
    assert s.choose([r], floor(waits={"passport": 30.0, "social": 500.0}), T0, True, RULES) == [
        s.Dial("a", "op1")
    ]


def test_only_an_operator_with_the_topic_and_only_when_due() -> None:
    assert s.choose([req("a", topic="social")], floor(), T0, True, RULES) == []
    later = s.Pending("a", "passport", "passport", T0, T0 + timedelta(hours=24), T0 + timedelta(seconds=1))
    assert s.choose([later], floor(), T0, True, RULES) == []
    overdue = req("o", minutes_ago=25 * 60)
    assert s.choose([overdue], floor(), T0, True, RULES) == []


def test_retry_after_the_interval_then_failed_after_the_attempts() -> None:
    r = req("a")
    first = s.after_attempt(r, "no_answer", T0, RULES)
    assert first == s.After("pending", 1, T0 + timedelta(seconds=600))
    r2 = s.Pending(r.id, r.topic, r.queue, r.requested_at, r.due_by, first.next_attempt_at, first.attempts)
    assert s.choose([r2], floor(), T0 + timedelta(seconds=599), True, RULES) == []
    assert s.choose([r2], floor(), T0 + timedelta(seconds=600), True, RULES) == [s.Dial("a", "op1")]
    assert s.after_attempt(r2, "busy", T0, RULES).status == "pending"
    last = s.Pending(r.id, r.topic, r.queue, r.requested_at, r.due_by, T0, 2)
    assert s.after_attempt(last, "failed", T0, RULES) == s.After("failed", 3, T0 + timedelta(seconds=600))


def test_a_retry_past_the_due_time_fails_now_and_answered_is_done() -> None:
    r = s.Pending("a", "passport", "passport", T0, T0 + timedelta(seconds=300), T0, 0)
    assert s.after_attempt(r, "no_answer", T0, RULES).status == "failed"
    assert s.after_attempt(r, "answered", T0, RULES) == s.After("done", 1, T0)


def test_an_operator_who_did_not_take_it_costs_the_citizen_no_attempt() -> None:
    after = s.after_attempt(req("a", attempts=2), "operator_unavailable", T0, RULES)
    assert after == s.After("pending", 2, T0 + s.OPERATOR_RETRY)


# --- invariants ---------------------------------------------------------------------
TOPICS = ["passport", "egrul", "social"]
AGENTS = [f"op{i}" for i in range(1, 6)]

requests = st.lists(
    st.builds(
        lambda i, topic, ago, nxt, hours: s.Pending(
            f"r{i}",
            topic,
            topic,
            T0 - timedelta(minutes=ago),
            T0 - timedelta(minutes=ago) + timedelta(hours=hours),
            T0 + timedelta(seconds=nxt),
        ),
        st.integers(0, 50),
        st.sampled_from(TOPICS),
        st.integers(0, 3000),
        st.integers(-120, 120),
        st.integers(1, 48),
    ),
    max_size=12,
    unique_by=lambda r: r.id,
)
floors = st.builds(
    s.Floor,
    st.dictionaries(st.sampled_from(TOPICS), st.lists(st.sampled_from(AGENTS), unique=True, max_size=4)),
    st.dictionaries(st.sampled_from(TOPICS), st.floats(0, 120)),
)


@settings(max_examples=300, deadline=None)
@given(requests, floors, st.booleans())
def test_scheduler_invariants(pending: list[s.Pending], fl: s.Floor, open_now: bool) -> None:
    dials = s.choose(pending, fl, T0, open_now, RULES)
    by_id = {r.id: r for r in pending}
    agents = [d.agent_id for d in dials]
    assert len(agents) == len(set(agents))  # an operator is reserved once
    assert len({d.request_id for d in dials}) == len(dials)  # a request is dialled once
    if not open_now:
        assert dials == []
    for d in dials:
        r = by_id[d.request_id]
        assert s.due(r, T0)  # never before its next attempt, never after its due time
        assert d.agent_id in fl.free.get(r.topic, ())  # only an operator with the topic
        assert fl.longest_wait_s.get(r.topic, 0.0) <= RULES.inbound_first_s  # inbound callers first
    # Nobody free is left idle while a request he could take is due (when open).
    chosen = {d.request_id for d in dials}
    for r in pending:
        eligible = open_now and s.due(r, T0) and fl.longest_wait_s.get(r.topic, 0.0) <= RULES.inbound_first_s
        if eligible and r.id not in chosen:
            assert set(fl.free.get(r.topic, ())) <= set(agents)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(s.RESULTS), st.integers(0, 5), st.integers(1, 48))
def test_after_attempt_invariants(result: s.Result, attempts: int, hours: int) -> None:
    r = s.Pending("a", "passport", "passport", T0, T0 + timedelta(hours=hours), T0, attempts)
    after = s.after_attempt(r, result, T0, RULES)
    assert after.attempts in (attempts, attempts + 1)
    if after.status == "pending":
        assert after.attempts < RULES.attempts or result == "operator_unavailable"
        assert after.next_attempt_at < r.due_by  # every attempt before due_by
        assert after.next_attempt_at > T0
