"""The benchmark's arithmetic and parsing, on fixed inputs."""

from __future__ import annotations

import math
from pathlib import Path

from ctoengine.bench import measure, profile, run
from ctoengine.config.load import load_routing


def test_percentile_is_nearest_rank() -> None:
    xs = list(range(1, 101))
    assert measure.percentile(xs, 50) == 50
    assert measure.percentile(xs, 99) == 99
    assert measure.percentile([7.0], 99) == 7.0
    assert measure.percentile([], 50) is None


def test_histogram_quantile_uses_only_what_was_observed_between_scrapes() -> None:
    before_text = (
        'x_bucket{le="0.001"} 90\nx_bucket{le="0.01"} 100\nx_bucket{le="+Inf"} 100\n'
        'other_bucket{le="0.001"} 5\n'
    )
    after_text = 'x_bucket{le="0.001"} 189\nx_bucket{le="0.01"} 199\nx_bucket{le="+Inf"} 200\n'
    before, after = measure.buckets(before_text, "x"), measure.buckets(after_text, "x")
    assert before == {0.001: 90, 0.01: 100, math.inf: 100}
    # 100 new observations: 99 under 1 ms, 0 more under 10 ms, 1 above.
    assert measure.histogram_quantile(before, after, 0.5) == 0.001
    assert measure.histogram_quantile(before, after, 0.99) == 0.001
    assert measure.histogram_quantile(before, after, 0.999) == math.inf
    assert measure.histogram_quantile(after, after, 0.99) is None


def test_sipp_statistics_take_totals_and_the_peak(tmp_path: Path) -> None:
    stats = tmp_path / "s.csv"
    stats.write_text(
        "StartTime;OutgoingCall(C);CurrentCall;SuccessfulCall(C);FailedCall(C);Retransmissions(C);\n"
        "t;5;5;0;0;0;\n"
        "t;10;7;3;0;1;\n"
        "t;10;0;9;1;2;\n"
    )
    s = measure.sipp_stats(stats)
    assert (s.offered, s.successful, s.failed, s.retransmissions, s.peak_concurrent) == (10, 9, 1, 2, 7)
    (tmp_path / "c_1_rtt.csv").write_text("Date_ms;response_time_ms;rtd_no\n100;4;1\n200;6;1\n")
    assert sorted(measure.sipp_response_ms(tmp_path)) == [4.0, 6.0]


def test_baseline_figures_from_queue_log_and_log_lines(tmp_path: Path) -> None:
    ql, ml = tmp_path / "queue_log", tmp_path / "messages.log"
    ql.write_text(
        "99|old|q-passport|PJSIP/op1|CONNECT|50|x|0\n"  # before the run: ignored
        "200|a|q-passport|NONE|ENTERQUEUE||7999|1\n"
        "201|a|q-passport|PJSIP/op1|CONNECT|3|x|0\n"
        "230|b|q-general|PJSIP/op2|CONNECT|25|x|0\n"
        "240|c|q-general|NONE|ABANDON|1|1|12\n"
        "241|d|q-general|NONE|ABANDON|1|1|2\n"
    )
    ml.write_text(
        "[..] NOTICE[1][C-1] Ext. 1: BENCH queued a 200.100000\n"
        "[..] NOTICE[1][C-2] Ext. 1: BENCH ring a 200.102000\n"
        "[..] NOTICE[1][C-2] Ext. 1: BENCH ring a 210.000000\n"  # a second ring: the first counts
        "[..] NOTICE[1][C-3] Ext. 1: BENCH queued b 205.000000\n"
    )
    fig = measure.baseline_figures(ql, ml, since_epoch=150)
    assert (fig.offered, fig.answered, fig.within_target, fig.abandoned, fig.short_abandoned) == (
        4,
        2,
        1,
        2,
        1,
    )
    assert fig.service_level == 1 / 3
    assert fig.abandoned_share == 1 / 3
    assert [round(x, 6) for x in fig.ring_latency_s] == [0.002]


def test_the_benchmark_routing_file_is_a_valid_routing_file(routing_dir: Path) -> None:
    # routing_dir holds stand-ins for the prompts, which only the e2e set-up generates.
    routing, extra = profile.write(
        routing_dir / "bench", profile.Timings(operators=5, hold_s=3), routing_dir / "prompts"
    )
    cfg = load_routing(routing)
    assert len(cfg.operators) == 5
    assert {q.wrap_up_s for q in cfg.queues.values()} == {1.0}
    queues = (extra / "queues-extra.conf").read_text()
    assert queues.count("member => PJSIP/op") == 10 and "[general]" not in queues
    dialplan = (extra / "extensions-extra.conf").read_text()
    assert "Queue(q-passport" in dialplan
    assert f"exten => {profile.DIRECT_DID},1" in dialplan and "% 5]" in dialplan


def test_ratios_and_table() -> None:
    e = {"offered": 100, "failed": 0, "asterisk_cpu_s_per_call": 0.02, "engine_cpu_s_per_call": 0.005}
    b = {"offered": 100, "failed": 0, "asterisk_cpu_s_per_call": 0.01}
    r = run.ratios(e, b)
    assert r["offered"] == 1.0 and r["asterisk_cpu_s_per_call"] == 2.0 and r["failed"] is None
    d = {"offered": 100, "failed": 0, "asterisk_cpu_s_per_call": 0.008}
    text = run.table({"engine": e, "baseline": b, "direct": d, "ratios": r})
    assert "engine CPU / Asterisk CPU (engine run): 0.25" in text
    assert "bare" in text.splitlines()[0] and "0.008" in text


def test_direct_figures_from_log_lines(tmp_path: Path) -> None:
    ml = tmp_path / "messages.log"
    ml.write_text(
        "[..] NOTICE[1][C-1] Ext. 1: BENCH queued a 200.000000\n"
        "[..] NOTICE[1][C-2] Ext. s: BENCH ring a 200.001000\n"
        "[..] NOTICE[1][C-2] Ext. s: BENCH answer a 200.301000\n"
        "[..] NOTICE[1][C-3] Ext. 1: BENCH queued b 201.000000\n"  # never answered
        "[..] NOTICE[1][C-4] Ext. 1: BENCH queued c 230.000000\n"
        "[..] NOTICE[1][C-4] Ext. s: BENCH answer c 255.000000\n"  # answered after 25 s
    )
    fig = measure.direct_figures(ml, since_epoch=150)
    assert (fig.offered, fig.answered, fig.within_target) == (3, 2, 1)
    assert [round(x, 6) for x in fig.ring_latency_s] == [0.001]


def test_peak_cpu_over_a_window() -> None:
    s = measure.ProcessSampler({"x": 1}, window_s=2.0)
    # 0.1 s of CPU a second for 4 s, then 0.9 s a second for 2 s.
    s.cpu["x"] = [(t, 0.1 * t) for t in range(5)] + [(5.0, 1.3), (6.0, 2.2)]
    assert s.peak_cpu_pct("x") == 90.0
    assert s.peak_cpu_pct("nobody") is None


def test_the_ramp_goes_past_its_list_and_names_a_limit() -> None:
    assert run.next_rates([10, 20, 30], limit=55) == [10, 20, 30, 40, 50]
    assert run.next_rates([5], limit=12) == [5, 10]
    step = {"failed": 0, "retransmissions": 0, "answered": 10, "offered": 10}
    assert run.clean(step)
    assert not run.clean({**step, "retransmissions": 1})
    assert not run.clean({**step, "answered": 9})
    busy = {"asterisk_cpu_pct_peak": 150.0, "engine_cpu_pct_peak": 40.0, "event_loop_lag_ms_p99": 5}
    assert run.limit_of(busy, cpus=2).startswith("box CPU")
    assert run.limit_of({**busy, "event_loop_lag_ms_p99": 250}, cpus=2).startswith("engine event loop")
    idle = {"asterisk_cpu_pct_peak": 60.0, "engine_cpu_pct_peak": 20.0, "event_loop_lag_ms_p99": None}
    assert run.limit_of(idle, cpus=2).startswith("SIP timing")
