"""The routing file's JSON Schema: generated from the models, committed for editors,
accepts the demo file and rejects a bad one; `config show` and the prompts hint."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ctoengine import cli
from ctoengine.config.schema import routing_schema, routing_schema_text
from ctoengine.config.yamlpos import load_with_positions

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "config" / "routing.schema.json"
DEMO = ROOT / "config" / "demo.yaml"


def _iso(o: object) -> str:
    assert isinstance(o, date | datetime)
    return o.isoformat()


def _as_editor_sees(text: str) -> Any:
    """The YAML as JSON data: dates and times are strings to a YAML 1.2 editor."""
    data, _ = load_with_positions(text)
    return json.loads(json.dumps(data, default=_iso))


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_the_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == routing_schema_text(), (
        "config/routing.schema.json is stale: ctoengine config schema > config/routing.schema.json"
    )


def test_the_schema_carries_the_models_descriptions() -> None:
    schema = routing_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    queue = schema["$defs"]["Queue"]["properties"]
    assert queue["ring_timeout_s"]["description"] == "Ring an operator this long, then the next"
    assert all("description" in p for p in schema["properties"].values())


def test_the_demo_file_points_editors_at_the_schema_and_validates() -> None:
    text = DEMO.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=routing.schema.json"
    _validator().validate(_as_editor_sees(text))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["queues"]["passport"].update(ring_timeut_s=10), "Additional properties"),
        (lambda d: d["queues"]["passport"].update(ring_timeout_s="long"), "is not of type 'number'"),
        (lambda d: d["centre"].update(level="galactic"), "is not one of"),
        (lambda d: d.pop("numbers"), "'numbers' is a required property"),
        (lambda d: d["menus"]["main"]["options"].update({"12": {"queue": "general"}}), "does not match"),
        (lambda d: d["menus"]["main"]["options"].update({"9": {}}), "should be non-empty"),
    ],
)
def test_the_schema_rejects_a_bad_file(change: Any, expected: str) -> None:
    data = _as_editor_sees(DEMO.read_text(encoding="utf-8"))
    change(data)
    errors = [e.message for e in _validator().iter_errors(data)]
    assert errors
    assert any(expected in m for m in errors), errors


def test_config_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == routing_schema()


def test_config_show_prints_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "show", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert "wrap_up_s: 60.0" in out  # a default the demo file does not write
    assert "caller_number_retention_days: 1095" in out


def test_config_show_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("centre: {name: x}\n", encoding="utf-8")
    assert cli.main(["config", "show", str(bad)]) == 1
    assert "bad.yaml:1:" in capsys.readouterr().err


def test_missing_prompts_say_how_to_make_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = DEMO.read_text(encoding="utf-8").replace("prompts_dir: ../prompts/ru", f"prompts_dir: {tmp_path}")
    assert f"prompts_dir: {tmp_path}" in text
    f = tmp_path / "r.yaml"
    f.write_text(text, encoding="utf-8")
    assert cli.main(["config", "check", str(f)]) == 1
    err = capsys.readouterr().err
    assert "has no audio file" in err
    assert err.count("scripts/prompts") == 1
