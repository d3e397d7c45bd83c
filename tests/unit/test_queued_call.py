"""The queue phase of one call with a fixed clock: no Asterisk, no event loop.

Ported from the e2e scenarios of test_queues.py and test_federation.py; the
distributor's commands for the call (RingAgent, CancelRing, Announce,
QueueExit) are fed in by hand, as the shell routes them.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctoengine.calls.protocol import Play, StopPlayback
from ctoengine.queues import call as c
from ctoengine.queues import distributor as q
from ctoengine.queues.call import Phase


class Prompts:
    def position_media(self, position: int, expected_wait_s: float | None) -> list[str]:
        return ["sound:queue_position", f"number:{position}"]

    def exit_media(self, action: str) -> str:
        return f"sound:{action}"

    def offer_media(self, number_ok: bool) -> str:
        return "sound:offer" if number_ok else "sound:no_offer"


CITIZEN = c.CallbackTerms(offer_after_s=60.0, key="1", number_ok=True)
ANONYMOUS = c.CallbackTerms(offer_after_s=60.0, key="1", number_ok=False)


class Run:
    """Drives a machine with a fixed clock and remembers what it asked for."""

    def __init__(self, may_overflow: bool = True, callback: c.CallbackTerms | None = None) -> None:
        self.now = 0.0
        self.m = c.QueuedCall(
            "c1", "passport", {"passport": 60.0, "social": 30.0}, Prompts(), may_overflow, callback
        )
        self.cmds: list[c.Command] = []

    def send(self, event: c.Event, dt: float = 0.5) -> list[c.Command]:
        self.now += dt
        out = self.m.handle(event, self.now)
        self.cmds += out
        return out

    def fed(self) -> list[object]:
        return [cmd.event for cmd in self.cmds if isinstance(cmd, c.Feed)]

    def finishes(self) -> list[c.Finish]:
        return [cmd for cmd in self.cmds if isinstance(cmd, c.Finish)]

    def ring(self, agent: str = "op1") -> str:
        out = self.send(q.RingAgent("c1", agent, f"PJSIP/{agent}", 15.0))
        return next(cmd.leg for cmd in out if isinstance(cmd, c.Ring))

    def talking(self, agent: str = "op1") -> str:
        self.send(c.Enter())
        leg = self.ring(agent)
        self.send(c.LegAnswered(leg))
        return leg

    def offer(self, peer: str = "B") -> str:
        out = self.send(c.OverflowOffered(peer, f"A-c1-{peer}", 20.0))
        return next(cmd.leg for cmd in out if isinstance(cmd, c.OfferToPeer))

    def reply(self, request_id: int) -> c.Reply:
        return [cmd for cmd in self.cmds if isinstance(cmd, c.Reply) and cmd.request_id == request_id][-1]


def test_entry_plays_music_saves_and_queues_with_the_entry_time() -> None:
    r = Run()
    out = r.send(c.Enter(), dt=2.0)
    assert out == [
        c.RecordQueued("passport", 2.0),
        c.HoldMusic(True),
        c.SaveCall(None),
        c.Feed(q.CallerQueued("c1", "passport", 2.0)),
    ]
    assert r.m.phase is Phase.WAITING and r.m.deadline is None


def test_a_restored_caller_keeps_his_entry_time() -> None:
    r = Run()
    r.send(c.Enter(entered_at=-40.0))
    assert r.fed() == [q.CallerQueued("c1", "passport", -40.0)]


def test_ring_no_answer_then_the_next_operator_answers() -> None:
    r = Run()
    r.send(c.Enter())
    first = r.ring("op1")
    assert first == "c1-l1"
    assert c.Ring("c1-l1", "op1", "PJSIP/op1", 20) in r.cmds  # Asterisk's limit: a backstop
    out = r.send(q.CancelRing("c1", "op1"))  # the distributor's ring timer
    assert out == [c.HangupLeg(first)]
    assert r.send(c.LegGone(first, 16)) == []  # the end of a leg given up on tells nothing
    second = r.ring("op2")
    assert second == "c1-l2"
    out = r.send(c.LegAnswered(second))
    assert out == [
        c.RecordAnswered("op2"),
        c.Feed(q.RingAnswered("c1", "op2")),
        c.HoldMusic(False),
        c.Bridge(second),
        c.SaveCall(second),
    ]
    assert r.m.phase is Phase.TALKING
    out = r.send(c.LegGone(second, 16))  # the operator hangs up
    assert out == [
        c.Feed(q.CallEnded("c1", "op2")),
        c.HangupCaller(),
        c.Finish(hangup_by="agent", wrap_up_s=60.0),
    ]
    assert r.m.done


def test_a_busy_operator_is_reported_as_busy() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.ring()
    assert r.send(c.LegGone(leg, 17)) == [c.Feed(q.RingFailed("c1", "op1", "busy"))]
    assert r.m.phase is Phase.WAITING


def test_an_originate_refused_frees_the_operator() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.ring()
    assert r.send(c.LegFailed(leg)) == [c.Feed(q.RingFailed("c1", "op1", "failed"))]
    assert r.m.phase is Phase.WAITING and r.m.leg is None


def test_a_stale_answer_is_hung_up_and_a_stale_ring_refused() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.ring()
    r.send(q.CancelRing("c1", "op1"))
    assert r.send(c.LegAnswered(leg)) == [c.HangupLeg(leg)]
    talking = r.ring("op2")
    r.send(c.LegAnswered(talking))
    # Rung while already talking (a command that crossed the answer): the operator is freed.
    assert r.send(q.RingAgent("c1", "op3", "PJSIP/op3", 15.0)) == [
        c.Feed(q.RingFailed("c1", "op3", "failed"))
    ]


def test_announcements_pause_the_music_and_stop_at_the_answer() -> None:
    r = Run()
    r.send(c.Enter())
    r.now = 30.0
    out = r.send(q.Announce("c1", 2, 90.0), dt=0.0)
    assert out == [c.HoldMusic(False), Play("c1-ann0-2-30", ("sound:queue_position", "number:2"))]
    assert r.send(q.Announce("c1", 2, 90.0)) == []  # one at a time
    assert r.send(c.PlaybackDone("c1-ann0-2-30")) == [c.HoldMusic(True)]
    r.send(q.Announce("c1", 1, None))
    leg = r.ring()
    out = r.send(c.LegAnswered(leg))
    assert StopPlayback("c1-ann0-1-31") in out and c.HoldMusic(False) not in out  # off already


def test_max_wait_exit_says_goodbye_then_hangs_up() -> None:
    r = Run(callback=CITIZEN)
    r.send(c.Enter())
    r.now = 600.0
    out = r.send(q.QueueExit("c1", "callback"), dt=0.0)
    assert out == [c.RequestCallback(), c.HoldMusic(False), Play("c1-bye", ("sound:callback",))]
    assert r.m.phase is Phase.EXITING and r.m.deadline == 630.0
    assert r.finishes() == []
    out = r.send(c.PlaybackDone("c1-bye"), dt=4.0)
    assert out == [c.HangupCaller(), c.Finish("callback_requested", "engine", wait_s=599.5)]  # entered at 0.5


def test_exit_goodbye_lost_ends_at_the_deadline() -> None:
    r = Run()
    r.send(c.Enter())
    r.send(q.QueueExit("c1", "hangup"))
    assert r.send(c.DeadlinePassed(), dt=10.0) == []  # not yet
    r.now = r.m.deadline or 0.0
    out = r.send(c.DeadlinePassed(), dt=0.0)
    assert out[0] == c.HangupCaller() and out[1].disposition == "abandoned"  # type: ignore[union-attr]
    assert r.m.done


def test_caller_hangs_up_during_the_goodbye() -> None:
    r = Run()
    r.send(c.Enter())
    r.send(q.QueueExit("c1", "hangup"))
    out = r.send(c.CallerGone("Normal Clearing"))
    assert out == [c.Finish("abandoned", "engine", wait_s=0.5, hangup_cause="Normal Clearing")]


# --- the caller hangs up, in each phase ---------------------------------------------
def test_caller_gone_while_waiting() -> None:
    r = Run()
    r.send(c.Enter())
    out = r.send(c.CallerGone("Normal Clearing"))
    assert out == [
        c.Feed(q.CallerLeft("c1", "abandoned")),
        c.Finish("abandoned", hangup_cause="Normal Clearing"),
    ]


def test_caller_gone_while_ringing_drops_the_leg() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.ring()
    out = r.send(c.CallerGone())
    assert out == [c.HangupLeg(leg), c.Feed(q.CallerLeft("c1", "abandoned")), c.Finish("abandoned")]


def test_caller_gone_while_talking_starts_the_wrap_up() -> None:
    r = Run()
    leg = r.talking()
    out = r.send(c.CallerGone())
    assert out == [
        c.HangupLeg(leg),
        c.Feed(q.CallEnded("c1", "op1")),
        c.Finish(hangup_by="caller", wrap_up_s=60.0),
    ]
    assert r.m.teardown() == [c.DestroyBridge()]


def test_caller_gone_during_an_overflow_attempt() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.offer()
    out = r.send(c.CallerGone())
    assert out == [c.HangupLeg(leg), c.PeerLeg("B", -1), c.Finish("abandoned")]


def test_caller_gone_while_bridged_to_a_peer() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.offer()
    r.send(c.LegAnswered(leg))
    out = r.send(c.CallerGone())
    assert out == [c.HangupLeg(leg), c.PeerLeg("B", -1), c.Finish(hangup_by="caller")]


# --- overflow to a peer centre -----------------------------------------------------
def test_overflow_answered_by_the_peer() -> None:
    r = Run()
    r.send(c.Enter())
    r.now = 12.0
    out = r.send(c.OverflowOffered("B", "A-c1", 20.0), dt=0.0)
    assert out == [
        c.Feed(q.CallerLeft("c1", "overflowed")),
        c.PeerLeg("B", 1),
        c.OfferToPeer("c1-p1", "B", "A-c1", 11.5, 20),
    ]
    assert r.m.deadline == 42.0
    out = r.send(c.LegAnswered("c1-p1"), dt=3.0)
    assert out == [
        c.RecordOverflowed("B", "A-c1", 14.5),
        c.Overflowed("B", 14.5),
        c.HoldMusic(False),
        c.Bridge("c1-p1"),
        c.SaveCall("c1-p1"),
    ]
    assert r.m.deadline is None
    out = r.send(c.LegGone("c1-p1", 16))  # the peer's operator hangs up
    assert out == [c.HangupCaller(), c.PeerLeg("B", -1), c.Finish(hangup_by="peer")]


def test_overflow_refused_puts_the_caller_back_with_his_place() -> None:
    r = Run()
    r.send(c.Enter(), dt=1.0)
    leg = r.offer("B")
    out = r.send(c.LegGone(leg, 34))  # congestion: the peer refused
    assert out == [c.PeerLeg("B", -1), c.Feed(q.CallerQueued("c1", "passport", 1.0))]
    assert r.m.phase is Phase.WAITING and r.m.deadline is None
    assert r.send(c.OverflowOffered("B", "A-c1", 20.0)) == []  # each peer is tried once
    assert r.offer("C") == "c1-p2"


def test_overflow_timed_out_at_the_backstop() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.offer()
    r.now = r.m.deadline or 0.0
    out = r.send(c.DeadlinePassed(), dt=0.0)
    assert out == [c.HangupLeg(leg), c.PeerLeg("B", -1), c.Feed(q.CallerQueued("c1", "passport", 0.5))]


def test_overflow_originate_failed() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.offer()
    assert r.send(c.LegFailed(leg))[0] == c.PeerLeg("B", -1)
    assert r.m.phase is Phase.WAITING


def test_no_overflow_while_ringing_or_for_a_call_from_a_peer() -> None:
    r = Run()
    r.send(c.Enter())
    r.ring()
    assert not r.m.offerable
    assert r.send(c.OverflowOffered("B", "A-c1", 20.0)) == []
    r2 = Run(may_overflow=False)
    r2.send(c.Enter())
    assert not r2.m.offerable and r2.send(c.OverflowOffered("B", "A-c1", 20.0)) == []


# --- blind transfer, asked in every phase ------------------------------------------
def test_transfer_while_talking_requeues_with_the_first_entry_time() -> None:
    r = Run()
    r.send(c.Enter(), dt=3.0)
    leg = r.ring("op1")
    r.send(c.LegAnswered(leg))
    out = r.send(c.TransferAsked(7, "social", None))
    assert out == [
        c.Feed(q.TransferToQueue("c1", "op1", "social")),
        c.DestroyBridge(),
        c.HangupLeg(leg),
        c.RecordTransferred("social"),
        c.HoldMusic(True),
        c.SaveCall(None),
        c.Feed(q.CallerQueued("c1", "social", 3.0)),
        c.Reply(7),
    ]
    leg2 = r.ring("op8")
    r.send(c.LegAnswered(leg2))
    r.send(c.LegGone(leg2, 16))
    assert r.finishes() == [c.Finish(hangup_by="agent", wrap_up_s=30.0)]  # the new queue's wrap-up


def test_transfer_to_an_operator_only_lets_him_take_the_call() -> None:
    r = Run()
    r.talking()
    r.send(c.TransferAsked(1, None, "op8"))
    assert q.CallerQueued("c1", "passport", 0.5, agent="op8") in r.fed()


def test_transfer_refused_with_a_reason_in_every_other_phase() -> None:
    refusals: dict[str, str | None] = {}

    def ask(name: str, r: Run) -> None:
        r.send(c.TransferAsked(99, "social", None))
        refusals[name] = r.reply(99).refusal

    r = Run()
    ask("new", r)
    r.send(c.Enter())
    ask("waiting", r)
    leg = r.ring()
    ask("ringing", r)
    r.send(c.CallerGone())
    ask("done", r)
    r = Run()
    r.send(c.Enter())
    leg = r.offer()
    ask("offering", r)
    r.send(c.LegAnswered(leg))
    ask("peer", r)
    r = Run()
    r.send(c.Enter())
    r.send(q.QueueExit("c1", "hangup"))
    ask("exiting", r)
    r = Run()
    r.send(c.Enter())
    r.send(q.Announce("c1", 1, None))
    ask("prompt", r)
    assert all(isinstance(v, str) and v for v in refusals.values()), refusals
    assert "peer centre" in (refusals["peer"] or "")
    assert "over" in (refusals["done"] or "")


# --- after a restart --------------------------------------------------------------
def test_reattached_to_an_operator_then_he_hangs_up() -> None:
    r = Run()
    assert r.send(c.Reattach("c1-l3", "op1", None, leg_up=True, entered_at=-50.0)) == []
    assert r.m.phase is Phase.TALKING and r.m.bridged
    r.send(c.LegGone("c1-l3", 16))
    assert r.finishes() == [c.Finish(hangup_by="agent", wrap_up_s=60.0)]
    assert r.fed() == [q.CallEnded("c1", "op1")]


def test_reattached_after_the_operator_hung_up_while_down() -> None:
    r = Run()
    out = r.send(c.Reattach("c1-l3", "op1", None, leg_up=False))
    assert out == [
        c.Feed(q.CallEnded("c1", "op1")),
        c.HangupCaller(),
        c.Finish(hangup_by="agent", wrap_up_s=60.0),
    ]


def test_reattached_to_a_peer_counts_the_leg_and_can_be_transferred_never() -> None:
    r = Run()
    assert r.send(c.Reattach("c1-p1", None, "B", leg_up=True)) == [c.PeerLeg("B", 1)]
    r.send(c.TransferAsked(1, "social", None))
    assert r.reply(1).refusal is not None
    out = r.send(c.LegGone("c1-p1", 16))
    assert out == [c.HangupCaller(), c.PeerLeg("B", -1), c.Finish(hangup_by="peer")]
    r2 = Run()
    out = r2.send(c.Reattach("c1-p1", None, "B", leg_up=False))
    assert out == [c.PeerLeg("B", 1), c.HangupCaller(), c.PeerLeg("B", -1), c.Finish(hangup_by="peer")]


def test_reattached_transfer_works() -> None:
    r = Run()
    r.send(c.Reattach("c1-l3", "op1", None, leg_up=True, entered_at=-50.0))
    r.send(c.TransferAsked(1, "social", None))
    assert r.reply(1).refusal is None
    assert q.CallerQueued("c1", "social", -50.0) in r.fed()


# --- teardown (engine error or cancellation) -----------------------------------------
def test_teardown_in_each_phase_leaves_nothing_behind() -> None:
    r = Run()
    r.send(c.Enter())
    leg = r.ring()
    assert r.m.teardown() == [c.Feed(q.CallerLeft("c1", "abandoned")), c.Finish(), c.HangupLeg(leg)]
    r = Run()
    r.talking()
    assert r.m.teardown() == [
        c.Feed(q.CallEnded("c1", "op1")),
        c.Finish(),
        c.HangupLeg("c1-l1"),
        c.DestroyBridge(),
    ]
    r = Run()
    r.send(c.Enter())
    leg = r.offer()
    assert r.m.teardown() == [c.PeerLeg("B", -1), c.Finish(), c.HangupLeg(leg)]


# --- properties ----------------------------------------------------------------------
_AGENTS = ["op1", "op2", "op3"]
_any_event = st.one_of(
    st.builds(lambda a: q.RingAgent("c1", a, f"PJSIP/{a}", 15.0), st.sampled_from(_AGENTS)),
    st.builds(lambda a: q.CancelRing("c1", a), st.sampled_from(_AGENTS)),
    st.builds(lambda n: q.Announce("c1", n, None), st.integers(1, 3)),
    st.builds(lambda a: q.QueueExit("c1", a), st.sampled_from(["callback", "hangup"])),
    st.builds(c.LegAnswered, st.sampled_from(["latest", "c1-l1", "c1-p1"])),
    st.builds(c.LegGone, st.sampled_from(["latest", "c1-l1", "c1-l2"]), st.sampled_from([16, 17, 34])),
    st.builds(c.LegFailed, st.just("latest")),
    st.builds(c.CallerGone, st.none()),
    st.builds(c.PlaybackDone, st.sampled_from(["c1-bye", "latest-play"])),
    st.builds(lambda p: c.OverflowOffered(p, "A-c1", 10.0), st.sampled_from(["B", "C"])),
    st.builds(lambda n: c.TransferAsked(n, "social", None), st.integers(1, 10**6)),
    st.just(c.DeadlinePassed()),
)


def _resolve(event: c.Event, m: c.QueuedCall, last_play: str | None) -> c.Event:
    """'latest' stands for the leg (or playback) the machine has now, so that paths reach every phase."""
    if isinstance(event, c.LegAnswered | c.LegGone | c.LegFailed) and event.leg == "latest":
        leg = m.leg or "none"
        if isinstance(event, c.LegGone):
            return c.LegGone(leg, event.cause)
        return c.LegAnswered(leg) if isinstance(event, c.LegAnswered) else c.LegFailed(leg)
    if isinstance(event, c.PlaybackDone) and event.playback_id == "latest-play":
        return c.PlaybackDone(last_play or "none")
    return event


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_any_event, st.floats(0.0, 40.0)), max_size=40), st.booleans())
def test_invariants_on_any_path(steps: list[tuple[c.Event, float]], reattach: bool) -> None:
    m = c.QueuedCall("c1", "passport", {"passport": 60.0}, Prompts(), may_overflow=True)
    now = 0.0
    first: c.Event = c.Reattach("c1-l9", "op1", None, leg_up=True) if reattach else c.Enter()
    cmds = m.handle(first, now)
    live_legs: set[str] = {"c1-l9"} if reattach else set()
    last_play: str | None = None
    asked: list[int] = []
    for event, dt in steps:
        now += dt
        event = _resolve(event, m, last_play)
        if isinstance(event, c.TransferAsked):
            asked.append(event.request_id)
        if isinstance(event, c.LegGone | c.LegFailed):
            live_legs.discard(event.leg)
        out = m.handle(event, now)
        cmds += out
        for cmd in out:
            if isinstance(cmd, c.Ring | c.OfferToPeer):
                live_legs.add(cmd.leg)
            elif isinstance(cmd, c.HangupLeg):
                live_legs.discard(cmd.leg)
            elif isinstance(cmd, Play):
                last_play = cmd.playback_id
        # Never two legs at once for one call, and the machine knows the one there is.
        assert len(live_legs) <= 1, live_legs
        assert live_legs == ({m.leg} if m.leg else set())
        if m.deadline is not None:
            assert m.phase in (Phase.EXITING, Phase.OFFERING)
    cmds += m.teardown()
    # Every path ends with exactly one final outcome.
    assert sum(isinstance(cmd, c.Finish) for cmd in cmds) == 1
    assert m.done and m.leg is None and not m.bridged
    # Every transfer asked got exactly one answer.
    replies = [cmd.request_id for cmd in cmds if isinstance(cmd, c.Reply)]
    assert sorted(replies) == sorted(asked)
    # The federation's count of legs to peers goes back to zero.
    assert sum(cmd.delta for cmd in cmds if isinstance(cmd, c.PeerLeg)) == 0
