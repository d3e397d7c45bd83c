"""The alert and recording rules are valid Prometheus rules (promtool, from Debian's prometheus)."""

import subprocess
from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "monitoring" / "alerts.yml"


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = RULES.read_text(encoding="utf-8")
    rules = text.count("- record: ") + text.count("- alert: ")
    assert f"SUCCESS: {rules} rules found" in result.stdout


def test_every_alert_the_issue_names_is_there() -> None:
    text = RULES.read_text(encoding="utf-8")
    for alert in (
        "CtoServiceLevelBelowTarget",
        "CtoAbandonedShareHigh",
        "CtoNoOperatorLoggedIn",
        "CtoAriDisconnected",
        "CtoRecordBacklogGrowing",
        "CtoTaskRestarting",
        "CtoRecordSpoolFailing",
        "CtoRecordsLost",
        "CtoRecordsQuarantined",
    ):
        assert f"alert: {alert}" in text


def test_the_alerts_fire_when_they_should() -> None:
    """promtool's rule tests: 60% within 20 s and 20% abandoned fire both SLA alerts after 15 min."""
    result = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"], capture_output=True, text=True, cwd=RULES.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_dashboard_uses_only_metrics_the_engine_exports() -> None:
    import json
    import re

    from prometheus_client import generate_latest

    from ctoengine.metrics.registry import Metrics

    exported = {
        line.split()[2]
        for line in generate_latest(Metrics().registry).decode().splitlines()
        if line.startswith("# TYPE")
    }
    recorded = set(re.findall(r"record: (\S+)", RULES.read_text(encoding="utf-8")))
    dashboard = json.loads((RULES.parent / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    for expr in exprs:
        for name in re.findall(r"(ctoengine[:_][a-z_:0-9]+)", expr):
            base = re.sub(r"_(bucket|count|sum|total)$", "", name)
            assert name in recorded or base in exported or name in exported, (name, expr)
