"""Reconciliation after an ARI (re)connect: owned calls + live channels -> what to do."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ctoengine.calls import reconcile as r

IN = ("inbound", "112")


def op(call_id: str) -> tuple[str, ...]:
    return ("operator", call_id)


def test_a_live_call_continues_and_is_not_taken_back() -> None:
    actions = r.reconcile([r.OwnedCall("c1")], [r.LiveChannel("c1", IN)], {})
    assert actions == [r.Continue("c1")]


def test_a_call_whose_channel_is_gone_is_finished() -> None:
    assert r.reconcile([r.OwnedCall("c1", frozenset({"c1-l1"}))], [], {}) == [r.CallerGone("c1")]


def test_legs_gone_and_up_and_playbacks_of_a_live_call() -> None:
    owned = [r.OwnedCall("c1", frozenset({"c1-l1", "c1-l2"}), frozenset({"c1-pb1"}))]
    live = [r.LiveChannel("c1", IN), r.LiveChannel("c1-l2", op("c1"))]
    assert r.reconcile(owned, live, {"op1": "c1"}) == [
        r.Continue("c1"),
        r.LegGone("c1", "c1-l1"),
        r.LegUp("c1", "c1-l2"),
        r.CheckPlaybacks("c1", frozenset({"c1-pb1"})),
    ]


def test_a_caller_nobody_owns_is_taken_back_unless_his_call_ended() -> None:
    live = [r.LiveChannel("c2", IN), r.LiveChannel("c3", ("federation", "x")), r.LiveChannel("c4", IN)]
    actions = r.reconcile([], live, {}, ended={"c4"})
    assert actions == [
        r.TakeBack("c2", IN),
        r.TakeBack("c3", ("federation", "x")),
        r.Hangup("c4", "call already ended"),
    ]


def test_channels_outside_our_application_and_features_are_left_alone() -> None:
    live = [r.LiveChannel("x"), r.LiveChannel("f", ("feature", "11", "PJSIP/op1"))]
    assert r.reconcile([], live, {}) == []


def test_orphan_leg_hung_up_but_not_the_leg_of_a_call_taken_back() -> None:
    live = [
        r.LiveChannel("c5", IN),
        r.LiveChannel("c5-l1", op("c5")),
        r.LiveChannel("c6-l1", op("c6")),
    ]
    actions = r.reconcile([], live, {})
    assert r.TakeBack("c5", IN) in actions
    assert r.Hangup("c6-l1", "orphan leg") in actions
    assert not any(isinstance(a, r.Hangup) and a.channel_id == "c5-l1" for a in actions)


def test_operator_released_only_when_nobody_has_his_call() -> None:
    owned = [r.OwnedCall("c1")]
    live = [r.LiveChannel("c1", IN), r.LiveChannel("c2", IN)]
    agents = {"op1": "c1", "op2": "c2", "op3": "c9"}
    releases = [a for a in r.reconcile(owned, live, agents) if isinstance(a, r.ReleaseAgent)]
    assert releases == [r.ReleaseAgent("op3", "c9")]


ids = st.sampled_from([f"c{i}" for i in range(6)])


@given(
    st.sets(ids),
    st.sets(ids),
    st.dictionaries(st.sampled_from(["op1", "op2", "op3"]), ids),
    st.sets(ids),
)
def test_invariants(owned_ids: set[str], live_ids: set[str], agents: dict[str, str], ended: set[str]) -> None:
    owned = [r.OwnedCall(c) for c in sorted(owned_ids)]
    live = [r.LiveChannel(c, IN) for c in sorted(live_ids)]
    actions = r.reconcile(owned, live, agents, ended)
    for c in owned_ids:  # every owned call: exactly one of continue / finish, never restarted
        fate = [a for a in actions if isinstance(a, r.Continue | r.CallerGone) and a.call_id == c]
        assert fate == [r.Continue(c) if c in live_ids else r.CallerGone(c)]
        assert r.TakeBack(c, IN) not in actions
    taken = {a.channel_id for a in actions if isinstance(a, r.TakeBack)}
    assert taken == live_ids - owned_ids - ended
    assert not taken & ended
    released = {a.agent_id for a in actions if isinstance(a, r.ReleaseAgent)}
    assert released == {a for a, c in agents.items() if c not in owned_ids and c not in taken}
