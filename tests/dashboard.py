"""The Grafana dashboard's queries with its template variables substituted (shared by the
unit test, which checks their syntax with promtool, and the e2e test, which runs them
against a real Prometheus)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[1] / "monitoring" / "grafana-dashboard.json"
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<match>.+),\s*)?(?P<label>\w+)\)$")


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel."""
    return [(p["title"], t["expr"]) for p in dashboard()["panels"] for t in p.get("targets", [])]


def variable_queries() -> dict[str, str]:
    """Template variable name -> its ``label_values(...)`` query."""
    out = {}
    for v in dashboard()["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]
            out[v["name"]] = q["query"] if isinstance(q, dict) else q
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's interpolation of ``$name`` / ``${name}`` (regex values, as with allValue ``.*``)."""
    for name, value in values.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in expr.replace("$__", ""), f"unsubstituted variable in {expr}"
    return expr
