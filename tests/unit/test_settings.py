from pathlib import Path

import pytest

from ctoengine.errors import SettingsError
from ctoengine.settings import load_settings

GOOD = {
    "ARI_URL": "http://127.0.0.1:8088/",
    "ARI_PASSWORD": "secret-ari",
    "DATABASE_URL": "postgresql://u:secret-db@127.0.0.1:5432/cto",
    "CTO_API_TOKEN": "secret-token",
}


def test_good_settings_and_nothing_secret_in_redacted() -> None:
    s = load_settings(GOOD)
    assert s.ari_url == "http://127.0.0.1:8088"
    assert s.http_port == 8080
    shown = repr(s.redacted()) + repr(s)
    for secret in ("secret-ari", "secret-db", "secret-token"):
        assert secret not in shown


def test_missing_settings_are_named() -> None:
    with pytest.raises(SettingsError) as e:
        load_settings({"ARI_URL": "http://x:1"})
    msg = str(e.value)
    assert "ARI_PASSWORD is not set" in msg
    assert "DATABASE_URL is not set" in msg
    assert "CTO_API_TOKEN is not set" in msg


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("ARI_URL", "127.0.0.1:8088", "ARI_URL: must be an http"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL: must be a postgresql"),
        ("CTO_HTTP_LISTEN", "8080", "CTO_HTTP_LISTEN: must be HOST:PORT"),
    ],
)
def test_malformed_setting(key: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        load_settings({**GOOD, key: value})


def test_settings_file_then_environment(tmp_path: Path) -> None:
    f = tmp_path / "engine.env"
    f.write_text("# comment\nexport ARI_URL='http://a:1'\nARI_PASSWORD=p\n", encoding="utf-8")
    env = {k: v for k, v in GOOD.items() if k not in ("ARI_URL", "ARI_PASSWORD")}
    s = load_settings({**env, "ARI_URL": "http://b:2"}, settings_file=f)
    assert s.ari_url == "http://b:2"
    assert s.ari_password.get_secret_value() == "p"


def test_bad_settings_file_line(tmp_path: Path) -> None:
    f = tmp_path / "engine.env"
    f.write_text("ARI_URL http://a\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"engine.env:1: expected KEY=value"):
        load_settings(GOOD, settings_file=f)


def test_database_url_alone_is_enough_for_the_database_commands(tmp_path: Path) -> None:
    from ctoengine.settings import load_database_url

    dsn = "postgresql://u:p@127.0.0.1:5432/cto"
    assert load_database_url({"DATABASE_URL": dsn}) == dsn
    f = tmp_path / "s.env"
    f.write_text(f"DATABASE_URL={dsn}\n", encoding="utf-8")
    assert load_database_url({}, settings_file=f) == dsn
    with pytest.raises(SettingsError, match="DATABASE_URL is not set"):
        load_database_url({})
    with pytest.raises(SettingsError, match="postgresql://"):
        load_database_url({"DATABASE_URL": "mysql://x/y"})


def test_migrate_asks_for_no_ari_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ctoengine import cli

    for var in ("ARI_URL", "ARI_PASSWORD", "CTO_API_TOKEN", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL is not set" in err
    assert "ARI" not in err
