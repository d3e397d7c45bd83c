"""The callback offer in the queue machine (issue 15), with a fixed clock."""

from __future__ import annotations

from ctoengine.calls.protocol import Play, StopPlayback
from ctoengine.queues import call as c
from ctoengine.queues import distributor as q
from ctoengine.queues.call import Phase
from tests.unit.test_queued_call import ANONYMOUS, CITIZEN, Run


def waiting(terms: c.CallbackTerms | None = CITIZEN) -> Run:
    r = Run(callback=terms)
    r.send(c.Enter(), dt=0.0)
    return r


def test_no_offer_while_the_honest_wait_is_short() -> None:
    r = waiting()
    assert r.m.wants_estimate
    assert r.send(c.WaitEstimate(60.0)) == []  # not over offer_after_s
    assert r.send(c.KeyPressed("1")) == []  # no offer heard: the key means nothing
    assert r.m.phase is Phase.WAITING


def test_offer_when_the_wait_is_long_then_key_1_registers_and_confirms() -> None:
    r = waiting()
    out = r.send(c.WaitEstimate(61.0), dt=5.0)
    assert out == [c.HoldMusic(False), Play("c1-cbo", ("sound:offer",))]
    assert not r.m.wants_estimate
    assert r.send(c.WaitEstimate(500.0)) == []  # offered once
    assert r.send(c.KeyPressed("2")) == []  # not the offer's key
    out = r.send(c.KeyPressed("1"), dt=1.5)
    assert out == [
        c.Feed(q.CallerLeft("c1", "callback")),
        StopPlayback("c1-cbo"),  # the offer may still be playing: the confirmation must not queue behind
        c.RequestCallback(),
        Play("c1-bye", ("sound:callback",)),
    ]
    assert r.m.phase is Phase.EXITING
    out = r.send(c.PlaybackDone("c1-bye"), dt=6.0)
    assert out == [c.HangupCaller(), c.Finish("callback_requested", "engine", wait_s=7.5)]


def test_offer_at_once_when_nobody_with_the_skill_is_logged_in() -> None:
    r = waiting()
    out = r.send(c.WaitEstimate(None), dt=0.0)
    assert Play("c1-cbo", ("sound:offer",)) in out
    assert r.send(c.PlaybackDone("c1-cbo")) == [c.HoldMusic(True)]  # back to the music
    out = r.send(c.KeyPressed("1"))  # after the offer ended, the key still accepts it
    assert c.RequestCallback() in out and StopPlayback("c1-cbo") not in out


def test_key_while_an_operator_is_rung_still_accepts_and_frees_him() -> None:
    r = waiting()
    r.send(c.WaitEstimate(None))
    r.send(c.PlaybackDone("c1-cbo"))
    leg = r.ring("op1")
    out = r.send(c.KeyPressed("1"))
    assert out[:2] == [c.Feed(q.CallerLeft("c1", "callback")), c.HangupLeg(leg)]
    assert c.RequestCallback() in out
    assert r.send(q.CancelRing("c1", "op1")) == []  # the distributor's release comes after: nothing left


def test_an_announcement_playing_defers_the_offer() -> None:
    r = waiting()
    r.send(q.Announce("c1", 3, 300.0))
    assert r.send(c.WaitEstimate(300.0)) == []
    assert r.m.wants_estimate  # asked again with the next estimate
    r.send(c.PlaybackDone(next(cmd.playback_id for cmd in r.cmds if isinstance(cmd, Play))))
    assert Play("c1-cbo", ("sound:offer",)) in r.send(c.WaitEstimate(300.0))


def test_no_offer_while_ringing_or_without_callbacks() -> None:
    r = waiting()
    r.ring("op1")
    assert r.send(c.WaitEstimate(None)) == []
    plain = waiting(None)
    assert not plain.m.wants_estimate
    assert plain.send(c.WaitEstimate(None)) == []


def test_anonymous_hears_the_notice_is_never_promised_and_leaves_abandoned() -> None:
    r = waiting(ANONYMOUS)
    out = r.send(c.WaitEstimate(None))
    assert Play("c1-cbo", ("sound:no_offer",)) in out
    assert r.send(c.KeyPressed("1")) == []  # nothing to accept
    out = r.send(q.QueueExit("c1", "callback"))
    assert c.RequestCallback() not in out
    assert Play("c1-bye", ("sound:no_callback",)) in out
    r.send(c.PlaybackDone("c1-bye"))
    assert r.finishes()[-1].disposition == "abandoned"


def test_max_wait_without_a_callback_section_promises_nothing() -> None:
    r = waiting(None)
    out = r.send(q.QueueExit("c1", "callback"))
    assert out == [c.HoldMusic(False), Play("c1-bye", ("sound:no_callback",))]
    r.send(c.PlaybackDone("c1-bye"))
    assert r.finishes()[-1].disposition == "abandoned"


def test_max_wait_during_the_offer_stops_it_and_registers_without_asking() -> None:
    r = waiting()
    r.send(c.WaitEstimate(None))
    out = r.send(q.QueueExit("c1", "callback"))
    assert out == [
        StopPlayback("c1-cbo"),
        c.RequestCallback(),
        Play("c1-bye", ("sound:callback",)),
    ]
