"""matplotlib is the optional [reports] extra: without it --chart says how to install it."""

import importlib.util

import pytest

from ctoengine.errors import UsageError
from ctoengine.reports import render


def test_without_matplotlib_the_chart_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a)
    )
    with pytest.raises(UsageError, match=r"pip install 'ctoengine\[reports\]'"):
        render.require_matplotlib()


def test_the_cli_refuses_a_chart_before_touching_the_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ctoengine import cli

    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/none")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a)
    )
    assert cli.main(["report", "--from", "2026-11-22", "--csv", "-", "--chart", "x.png"]) == 1
    assert "ctoengine[reports]" in capsys.readouterr().err


def test_with_the_dev_extra_matplotlib_is_there() -> None:
    render.require_matplotlib()
