"""`ctoengine config check`: every error names its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctoengine.config import ConfigError, check_main, load_routing


def _edit(routing_dir: Path, old: str, new: str) -> Path:
    f = routing_dir / "routing.yaml"
    text = f.read_text(encoding="utf-8")
    assert old in text, old
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    return f


def _line_of(f: Path, fragment: str) -> int:
    for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
        if fragment in line:
            return n
    raise AssertionError(fragment)


def _errors(f: Path) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_routing(f)
    return [str(i) for i in e.value.errors]


def test_demo_file_is_valid(routing_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_main(str(routing_dir / "routing.yaml")) == 0
    assert "OK" in capsys.readouterr().out


def test_unknown_key_names_its_line_and_column(routing_dir: Path) -> None:
    f = _edit(routing_dir, "    timeout_s: 5\n", "    timeout_s: 5\n    timout: 3\n")
    errs = _errors(f)
    assert errs == [f"{f}:{_line_of(f, 'timout:')}:5: unknown key 'timout' (at menus.main.timout)"]


def test_wrong_type(routing_dir: Path) -> None:
    f = _edit(routing_dir, "    retries: 2", "    retries: twice")
    (err,) = _errors(f)
    assert err.startswith(f"{f}:{_line_of(f, 'retries: twice')}:14: ")
    assert "whole number" in err


def test_duplicate_digit(routing_dir: Path) -> None:
    f = _edit(
        routing_dir, '      "0": {queue: general}', '      "0": {queue: general}\n      "1": {queue: egrul}'
    )
    lines = [n for n, x in enumerate(f.read_text().splitlines(), 1) if x.strip().startswith('"1":')]
    (err,) = _errors(f)
    assert err.startswith(f"{f}:{lines[1]}:7: duplicate key '1'")


def test_missing_menu_queue_and_unreachable(routing_dir: Path) -> None:
    f = _edit(routing_dir, '"2": {queue: egrul}', '"2": {menu: nowhere}')
    f = _edit(routing_dir, '"3": {queue: social}', '"3": {queue: pensions}')
    errs = _errors(f)
    assert f"{f}:{_line_of(f, 'menu: nowhere')}:12: menu 'nowhere' does not exist" in errs[0]
    assert any("queue 'pensions' does not exist" in e and f":{_line_of(f, 'pensions')}:" in e for e in errs)


def test_unreachable_menu_and_cycle_without_exit(routing_dir: Path) -> None:
    text = """
  loop_a:
    prompt: invalid
    options: {"1": {menu: loop_b}}
    on_exhausted: {menu: loop_b}
  loop_b:
    prompt: invalid
    options: {"1": {menu: loop_a}}
    on_exhausted: {play: invalid}
"""
    f = _edit(routing_dir, "\nself_service:", text + "\nself_service:")
    errs = _errors(f)
    a = _line_of(f, "loop_a:")
    assert f"{f}:{a}:3: menu 'loop_a' is not reachable from any flow (at menus.loop_a)" in errs
    assert any(e.startswith(f"{f}:{a}:3: menu 'loop_a' has no way out") for e in errs)


def test_missing_prompt_file(routing_dir: Path) -> None:
    (routing_dir / "prompts" / "goodbye.wav").unlink()
    errs = _errors(routing_dir / "routing.yaml")
    assert any("prompt 'goodbye' has no audio file" in e for e in errs)


def test_yaml_syntax_error(routing_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _edit(routing_dir, "  passport: {topic: passport,", "  passport: {topic: [passport,")
    assert check_main(str(f)) == 1
    err = capsys.readouterr().err
    assert f"{f}:" in err
    assert "YAML syntax error" in err
    assert "Traceback" not in err


def test_an_action_needs_exactly_one_key(routing_dir: Path) -> None:
    f = _edit(routing_dir, '"0": {queue: general}', '"0": {queue: general, menu: main}')
    (err,) = _errors(f)
    assert "exactly one of" in err
    assert f":{_line_of(f, 'menu: main}')}:" in err


def test_a_transfer_fallback_must_be_a_queue(routing_dir: Path) -> None:
    f = routing_dir / "routing.yaml"
    f.write_text(
        f.read_text(encoding="utf-8")
        + "external_destinations:\n  mfc: {endpoint: PJSIP/mfc, on_failure_queue: pasport}\n",
        encoding="utf-8",
    )
    (err,) = _errors(f)
    assert err.startswith(f"{f}:{_line_of(f, 'pasport')}:")
    assert "queue 'pasport' does not exist (at external_destinations.mfc.on_failure_queue)" in err
    f.write_text(f.read_text(encoding="utf-8").replace("pasport", "passport"), encoding="utf-8")
    assert load_routing(f).external_destinations["mfc"].on_failure_queue == "passport"
