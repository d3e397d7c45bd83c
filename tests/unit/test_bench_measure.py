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
    assert "Queue(q-passport" in (extra / "extensions-extra.conf").read_text()


def test_ratios_and_table() -> None:
    e = {"offered": 100, "failed": 0, "asterisk_cpu_s_per_call": 0.02, "engine_cpu_s_per_call": 0.005}
    b = {"offered": 100, "failed": 0, "asterisk_cpu_s_per_call": 0.01}
    r = run.ratios(e, b)
    assert r["offered"] == 1.0 and r["asterisk_cpu_s_per_call"] == 2.0 and r["failed"] is None
    text = run.table({"engine": e, "baseline": b, "ratios": r})
    assert "engine CPU / Asterisk CPU (engine run): 0.25" in text
