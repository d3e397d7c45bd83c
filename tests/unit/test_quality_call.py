"""Quality control in the queue phase (issue 18) with a fixed clock: the recording notice
before queueing, the recording of each connection, the post-call survey."""

from __future__ import annotations

from datetime import datetime

from ctoengine.calls.protocol import Play, StopPlayback
from ctoengine.quality.survey import PROMPT_LIMIT_S, SurveyScore, SurveyTerms, TalkEnded
from ctoengine.quality.terms import QualityTerms, StartRecording, recording_name
from ctoengine.queues import call as c
from ctoengine.queues import distributor as q
from ctoengine.queues.call import Phase
from tests.unit.test_queued_call import Prompts

SURVEY = SurveyTerms("sound:survey", "sound:thanks", answer_s=8.0)
RECORD = QualityTerms(record=True, notice="sound:notice")


class Run:
    def __init__(self, quality: QualityTerms) -> None:
        self.now = 0.0
        self.m = c.QueuedCall("c1", "passport", {"passport": 60.0}, Prompts(), True, None, quality)
        self.cmds: list[c.Command] = []

    def send(self, event: c.Event, dt: float = 0.5) -> list[c.Command]:
        self.now += dt
        out = self.m.handle(event, self.now)
        self.cmds += out
        return out

    def talking(self) -> str:
        self.send(c.Enter())
        if self.m._notice is not None:
            self.send(c.PlaybackDone("c1-rec-notice"))
        out = self.send(q.RingAgent("c1", "op1", "PJSIP/op1", 15.0))
        leg = next(cmd.leg for cmd in out if isinstance(cmd, c.Ring))
        self.send(c.LegAnswered(leg))
        return leg

    def finishes(self) -> list[c.Finish]:
        return [cmd for cmd in self.cmds if isinstance(cmd, c.Finish)]


# --- recording ----------------------------------------------------------------------
def test_the_notice_is_heard_before_the_caller_joins_the_queue() -> None:
    r = Run(RECORD)
    out = r.send(c.Enter(), dt=1.0)
    assert out == [
        c.RecordQueued("passport", 1.0),
        c.SaveCall(None),
        Play("c1-rec-notice", ("sound:notice",)),
    ]
    assert not r.m.offerable and not r.m.wants_estimate
    out = r.send(c.PlaybackDone("c1-rec-notice"), dt=3.0)
    # Queued with the entry time: the notice is part of his wait.
    assert out == [c.HoldMusic(True), c.Feed(q.CallerQueued("c1", "passport", 1.0))]
    assert r.m.offerable


def test_a_caller_who_leaves_during_the_notice_was_never_queued() -> None:
    r = Run(RECORD)
    r.send(c.Enter())
    out = r.send(c.CallerGone("normal"))
    assert not any(isinstance(cmd, c.Feed) for cmd in out)
    assert r.finishes() == [c.Finish("abandoned", hangup_cause="normal")]
    r2 = Run(RECORD)
    r2.send(c.Enter())
    assert not any(isinstance(cmd, c.Feed) for cmd in r2.m.teardown())


def test_each_connection_is_recorded_right_after_the_bridge() -> None:
    r = Run(RECORD)
    r.send(c.Enter())
    r.send(c.PlaybackDone("c1-rec-notice"))
    out = r.send(q.RingAgent("c1", "op1", "PJSIP/op1", 15.0))
    leg = next(cmd.leg for cmd in out if isinstance(cmd, c.Ring))
    out = r.send(c.LegAnswered(leg))
    i = out.index(c.Bridge(leg))
    assert out[i + 1] == StartRecording("c1-rec1")
    assert out[-1] == c.SaveCall(leg)


def test_no_recording_and_no_notice_without_terms() -> None:
    r = Run(QualityTerms())
    r.talking()
    assert not any(isinstance(cmd, StartRecording | Play) for cmd in r.cmds)


def test_recording_names_are_dated_and_safe() -> None:
    assert recording_name("1732.5-rec1", datetime(2026, 11, 26)) == "2026-11-26/1732.5-rec1"
    assert recording_name("../x/y", datetime(2026, 1, 2)) == "2026-01-02/_x_y"


# --- the survey ---------------------------------------------------------------------
def survey_run() -> tuple[Run, str]:
    r = Run(QualityTerms(survey=SURVEY))
    leg = r.talking()
    return r, leg


def test_the_operator_hangs_up_and_the_caller_is_asked() -> None:
    r, leg = survey_run()
    out = r.send(c.LegGone(leg, 16), dt=10.0)
    assert out == [
        c.Feed(q.CallEnded("c1", "op1")),
        TalkEnded(),
        c.DestroyBridge(),
        Play("c1-survey", ("sound:survey",)),
    ]
    assert r.m.phase is Phase.SURVEY and not r.m.bridged
    assert r.m.deadline == r.now + PROMPT_LIMIT_S + 8.0


def test_a_score_after_the_prompt_thanks_and_hangs_up() -> None:
    r, leg = survey_run()
    r.send(c.LegGone(leg, 16))
    r.send(c.PlaybackDone("c1-survey"), dt=4.0)
    assert r.m.deadline == r.now + 8.0
    out = r.send(c.KeyPressed("4"))
    assert out == [SurveyScore(4), Play("c1-survey-thanks", ("sound:thanks",))]
    out = r.send(c.PlaybackDone("c1-survey-thanks"))
    assert out == [c.HangupCaller(), c.Finish(hangup_by="agent", wrap_up_s=60.0)]
    assert r.m.done


def test_a_key_during_the_prompt_stops_it_and_counts() -> None:
    r, leg = survey_run()
    r.send(c.LegGone(leg, 16))
    out = r.send(c.KeyPressed("5"))
    assert out[:2] == [StopPlayback("c1-survey"), SurveyScore(5)]
    assert r.send(c.PlaybackDone("c1-survey")) == []  # the stopped prompt: nothing more
    assert r.m.phase is Phase.SURVEY


def test_other_keys_are_ignored_and_only_one_score_counts() -> None:
    r, leg = survey_run()
    r.send(c.LegGone(leg, 16))
    r.send(c.PlaybackDone("c1-survey"))
    for key in ("0", "6", "#", "*"):
        assert r.send(c.KeyPressed(key)) == []
    r.send(c.KeyPressed("2"))
    assert r.send(c.KeyPressed("3")) == []
    assert [cmd for cmd in r.cmds if isinstance(cmd, SurveyScore)] == [SurveyScore(2)]


def test_no_key_leaves_the_score_empty_at_the_deadline() -> None:
    r, leg = survey_run()
    r.send(c.LegGone(leg, 16))
    r.send(c.PlaybackDone("c1-survey"), dt=4.0)
    assert r.send(c.DeadlinePassed(), dt=7.9) == []  # early: nothing
    out = r.send(c.DeadlinePassed(), dt=0.2)
    assert out == [c.HangupCaller(), c.Finish(hangup_by="agent", wrap_up_s=60.0)]
    assert not any(isinstance(cmd, SurveyScore) for cmd in r.cmds)


def test_a_lost_prompt_end_is_bounded() -> None:
    r, leg = survey_run()
    r.send(c.LegGone(leg, 16))
    out = r.send(c.DeadlinePassed(), dt=PROMPT_LIMIT_S + 8.0)
    assert out[0] == c.HangupCaller() and r.m.done


def test_a_hang_up_during_the_survey_leaves_no_score() -> None:
    r, leg = survey_run()
    r.send(c.LegGone(leg, 16))
    out = r.send(c.CallerGone("normal"))
    assert out == [c.Finish(hangup_by="agent", wrap_up_s=60.0, hangup_cause="normal")]
    assert r.m.teardown() == []  # the bridge is gone already


def test_without_a_survey_the_operators_hang_up_ends_the_call() -> None:
    r = Run(QualityTerms())
    leg = r.talking()
    out = r.send(c.LegGone(leg, 16))
    assert c.HangupCaller() in out and r.m.done


def test_the_caller_hanging_up_first_is_not_surveyed() -> None:
    r, _leg = survey_run()
    out = r.send(c.CallerGone("normal"))
    assert r.m.done and not any(isinstance(cmd, Play) for cmd in out)


def test_no_transfer_during_the_survey() -> None:
    r, leg = survey_run()
    r.send(c.LegGone(leg, 16))
    out = r.send(c.TransferAsked(7, "social", None))
    assert out == [c.Reply(7, "the operator has hung up; the caller is in the post-call survey")]


def test_without_thanks_the_score_hangs_up_at_once() -> None:
    r = Run(QualityTerms(survey=SurveyTerms("sound:survey", None, 5.0)))
    leg = r.talking()
    r.send(c.LegGone(leg, 16))
    out = r.send(c.KeyPressed("1"))
    assert out == [
        StopPlayback("c1-survey"),
        SurveyScore(1),
        c.HangupCaller(),
        c.Finish(hangup_by="agent", wrap_up_s=60.0),
    ]
