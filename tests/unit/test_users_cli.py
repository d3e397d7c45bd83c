"""``ctoengine users``: the password never on the command line; clear one-line errors."""

from __future__ import annotations

import pytest

from ctoengine.cli import main


def test_password_comes_from_the_named_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:9/db")
    monkeypatch.delenv("PW_UNSET", raising=False)
    assert main(["users", "add", "admin", "--role", "admin", "--password-env", "PW_UNSET"]) == 1
    assert "PW_UNSET" in capsys.readouterr().err
    monkeypatch.setenv("PW_SHORT", "short")
    assert main(["users", "add", "admin", "--role", "admin", "--password-env", "PW_SHORT"]) == 1
    assert "at least 10" in capsys.readouterr().err


def test_an_operator_needs_an_agent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:9/db")
    assert main(["users", "add", "op1", "--role", "operator", "--password-env", "X"]) == 1
    assert "bound to an agent" in capsys.readouterr().err


def test_no_password_argument_exists() -> None:
    with pytest.raises(SystemExit):
        main(["users", "add", "admin", "--role", "admin", "--password", "secret-secret"])


def test_without_a_terminal_the_prompt_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:9/db")
    assert main(["users", "add", "admin", "--role", "admin"]) == 1  # pytest's stdin is no terminal
    assert "--password-env" in capsys.readouterr().err
