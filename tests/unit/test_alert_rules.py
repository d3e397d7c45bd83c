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
        "CtoRecordingDiskFilling",
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


def test_every_alert_has_a_description_and_a_runbook_in_docs() -> None:
    import re

    import yaml

    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    runbook = (RULES.parents[1] / "docs" / "runbook.md").read_text(encoding="utf-8")
    anchors = {h.strip().lower() for h in re.findall(r"^## (.+)$", runbook, re.MULTILINE)}
    for alert in alerts:
        ann = alert["annotations"]
        assert ann.get("description"), alert["alert"]
        assert ann["runbook_url"] == f"docs/runbook.md#{alert['alert'].lower()}"
        assert alert["alert"].lower() in anchors


def test_the_dashboard_has_instance_and_queue_variables_and_the_sla_thresholds() -> None:
    from tests.dashboard import dashboard, panel_queries, variable_queries

    assert set(variable_queries()) == {"instance", "queue"}
    for title, expr in panel_queries():
        assert 'instance=~"$instance"' in expr, (title, expr)
    panels = {p["title"]: p for p in dashboard()["panels"]}
    steps = {
        t: [s["value"] for s in p["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])]
        for t, p in panels.items()
    }
    assert steps["Service level (answered within 20 s), 15 min"] == [None, 0.8]
    assert steps["Abandoned share, 15 min"] == [None, 0.05]
    assert any("ctoengine_agent_state" in e and "Per operator" in t for t, e in panel_queries())


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (variables substituted) as a recording rule; the e2e test
    tests/e2e/test_dashboard_queries.py runs them against a real Prometheus."""
    import yaml

    from tests.dashboard import panel_queries, substitute

    values = {"instance": ".*", "queue": ".*"}
    rules = [
        {"record": f"dashboard:query:{i}", "expr": substitute(expr, values)}
        for i, (_, expr) in enumerate(panel_queries())
    ]
    f = tmp_path / "dashboard-rules.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(["promtool", "check", "rules", str(f)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
