"""The listen / whisper / barge machine (issue 18): where the supervisor is, which snoop."""

from __future__ import annotations

from ctoengine.quality import listen as ls


def session(mode: ls.Mode = "listen") -> ls.Listening:
    return ls.Listening("c1", 1, "c1-l1", "c1-br", "PJSIP/sup1", mode)


def test_the_supervisor_is_rung_first() -> None:
    m = session()
    assert m.start() == [ls.DialSupervisor("sup-c1-0001", "PJSIP/sup1")]
    assert m.phase is ls.Phase.DIALING


def test_listen_hears_both_sides_through_a_snoop_that_does_not_whisper() -> None:
    m = session()
    m.start()
    assert m.handle(ls.Answered()) == [
        ls.CreateBridge("lbr-c1-0001"),
        ls.AddToBridge("lbr-c1-0001", "sup-c1-0001"),
        ls.Snoop("snp-c1-0001-001", "c1-l1", "both", "none"),
    ]
    assert m.handle(ls.SnoopUp("snp-c1-0001-001")) == [ls.AddToBridge("lbr-c1-0001", "snp-c1-0001-001")]


def test_whisper_replaces_the_snoop_with_one_that_speaks_to_the_operator_only() -> None:
    m = session()
    m.handle(ls.Answered())
    out = m.handle(ls.ModeAsked("whisper"))
    assert out == [ls.HangupChannel("snp-c1-0001-001"), ls.Snoop("snp-c1-0001-002", "c1-l1", "both", "out")]
    # The old snoop coming up late is hung up, the new one joins.
    assert m.handle(ls.SnoopUp("snp-c1-0001-001")) == [ls.HangupChannel("snp-c1-0001-001")]
    assert m.handle(ls.SnoopUp("snp-c1-0001-002")) == [ls.AddToBridge("lbr-c1-0001", "snp-c1-0001-002")]


def test_barge_moves_the_supervisor_into_the_calls_bridge_and_back() -> None:
    m = session("whisper")
    m.handle(ls.Answered())
    out = m.handle(ls.ModeAsked("barge"))
    assert out == [
        ls.HangupChannel("snp-c1-0001-001"),
        ls.RemoveFromBridge("lbr-c1-0001", "sup-c1-0001"),
        ls.AddToBridge("c1-br", "sup-c1-0001"),
    ]
    assert m.where == "c1-br" and m.snoop is None
    out = m.handle(ls.ModeAsked("listen"))
    assert out == [
        ls.RemoveFromBridge("c1-br", "sup-c1-0001"),
        ls.AddToBridge("lbr-c1-0001", "sup-c1-0001"),  # the bridge exists already
        ls.Snoop("snp-c1-0001-002", "c1-l1", "both", "none"),
    ]


def test_barge_from_the_start_needs_no_bridge_of_its_own() -> None:
    m = session("barge")
    assert m.handle(ls.Answered()) == [ls.AddToBridge("c1-br", "sup-c1-0001")]
    out = m.handle(ls.CallGone())
    assert out == [ls.HangupChannel("sup-c1-0001"), ls.Ended("the call's conversation is over")]


def test_a_mode_asked_while_ringing_applies_on_answer() -> None:
    m = session()
    assert m.handle(ls.ModeAsked("barge")) == []
    assert m.handle(ls.Answered()) == [ls.AddToBridge("c1-br", "sup-c1-0001")]
    assert m.handle(ls.ModeAsked("barge")) == []


def test_the_end_cleans_up_everything_once() -> None:
    m = session()
    m.handle(ls.Answered())
    out = m.handle(ls.SupervisorGone())
    assert out == [
        ls.HangupChannel("snp-c1-0001-001"),
        ls.DestroyBridge("lbr-c1-0001"),
        ls.Ended("the supervisor hung up"),
    ]
    assert m.ended
    assert m.handle(ls.CallGone()) == []
    assert m.handle(ls.SnoopUp("snp-late")) == [ls.HangupChannel("snp-late")]


def test_a_failed_originate_ends_the_session() -> None:
    m = session()
    m.start()
    assert m.handle(ls.Failed("originate")) == [
        ls.HangupChannel("sup-c1-0001"),
        ls.Ended("failed: originate"),
    ]


def test_ids_never_prefix_one_another() -> None:
    ids = []
    for seq in (1, 2, 10):
        m = ls.Listening("c1", seq, "c1-l1", "c1-br", "PJSIP/sup1", "listen")
        m.handle(ls.Answered())
        for mode in ("whisper", "listen", "whisper"):
            m.handle(ls.ModeAsked(mode))
        ids += [m.leg, *(f"snp-c1-{m.leg[-4:]}-{k:03d}" for k in range(1, 5))]
    assert not [(a, b) for a in ids for b in ids if a != b and b.startswith(a)]
