"""Engine settings from the environment (or a ``KEY=value`` settings file).

Secrets (ARI password, API token, the database password inside DATABASE_URL)
come only from here, never from the routing file or the repository, and are
never logged: ``Settings.redacted()`` is what may be shown.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from ctoengine.errors import SettingsError

# environment variable -> field name
_ENV = {
    "ARI_URL": "ari_url",
    "ARI_USER": "ari_user",
    "ARI_PASSWORD": "ari_password",
    "CTO_ARI_APP": "ari_app",
    "DATABASE_URL": "database_url",
    "CTO_HTTP_LISTEN": "http_listen",
    "CTO_API_TOKEN": "api_token",
    "CTO_ROUTING": "routing_file",
    "CTO_SPOOL_DIR": "spool_dir",
    "CTO_RECORDING_DIR": "recording_dir",
    "CTO_INSTANCE": "instance",
    "CTO_LOG_LEVEL": "log_level",
    "CTO_SIP_SECURITY_LOG": "sip_security_log",
    "CTO_SIP_BLOCKED_CONF": "sip_blocked_conf",
    "CTO_SIP_NEVER_BLOCK": "sip_never_block",
    "CTO_STALL_REPORT_S": "stall_report_s",
    "CTO_WEB_SESSION_IDLE_S": "web_session_idle_s",
    "CTO_WEB_SESSION_MAX_S": "web_session_max_s",
    "CTO_WEB_COOKIE_SECURE": "web_cookie_secure",
}


class Settings(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}

    ari_url: str = Field(
        description="Base URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088 or http://[::1]:8088"
    )
    ari_user: str = Field(default="ctoengine", description="ARI user (ari.conf)")
    ari_password: SecretStr = Field(description="ARI password")
    ari_app: str = Field(default="ctoengine", description="Stasis application name")
    database_url: SecretStr = Field(description="postgresql://user:password@host:port/db")
    http_listen: str = Field(default="127.0.0.1:8080", description="HOST:PORT of the HTTP API")
    api_token: SecretStr = Field(description="Bearer token of the HTTP API")
    routing_file: Path = Field(default=Path("config/demo.yaml"), description="routing YAML")
    spool_dir: Path = Field(default=Path("run/spool"), description="call-record spool folder")
    recording_dir: Path | None = Field(
        default=None,
        description="Asterisk's recording folder (<astspooldir>/recording) as the engine sees it:"
        " where it reads recordings to serve, measure and delete (None: recordings are made,"
        " but neither served nor measured nor deleted)",
    )
    instance: str = Field(default_factory=lambda: os.uname().nodename, description="engine name")
    log_level: str = Field(default="info", description="debug, info, warning or error")
    sip_security_log: Path | None = Field(
        default=None, description="Asterisk's security log (logger.conf 'security'): SIP auth failures"
    )
    sip_blocked_conf: Path | None = Field(
        default=None, description="pjsip-blocked.conf the engine writes blocked addresses to"
    )
    sip_never_block: str = Field(
        default="", description="comma-separated addresses never blocked (e.g. a trusted proxy)"
    )
    stall_report_s: float = Field(
        default=1.0,
        ge=0,
        description="log the event loop's stack when it is stuck this long (seconds; 0: never)",
    )
    web_session_idle_s: int = Field(
        default=1800,
        ge=60,
        description="a web session ends after this many seconds without a request (an open live page counts)",
    )
    web_session_max_s: int = Field(
        default=12 * 3600, ge=300, description="a web session ends this many seconds after its login"
    )
    web_cookie_secure: bool = Field(
        default=False, description="mark the session cookie Secure (set when the pages are served over https)"
    )

    @field_validator("ari_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        """Host lower-cased, an IPv6 literal in brackets, no credentials in the URL."""
        from ctoengine.ari.client import normalize_base_url

        return normalize_base_url(v)

    @field_validator("database_url")
    @classmethod
    def _pg_url(cls, v: SecretStr) -> SecretStr:
        parts = urlsplit(v.get_secret_value())
        if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return v

    @field_validator("http_listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("must be debug, info, warning or error")
        return v.lower()

    @property
    def http_host(self) -> str:
        return self.http_listen.rpartition(":")[0]

    @property
    def http_port(self) -> int:
        return int(self.http_listen.rpartition(":")[2])

    def redacted(self) -> dict[str, str]:
        db = urlsplit(self.database_url.get_secret_value())
        return {
            "ari_url": self.ari_url,
            "ari_user": self.ari_user,
            "ari_app": self.ari_app,
            "database": f"{db.hostname}:{db.port or 5432}{db.path}",
            "http_listen": self.http_listen,
            "routing_file": str(self.routing_file),
            "instance": self.instance,
        }


def _read_settings_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SettingsError(f"cannot read settings file {path}: {e.strerror}") from None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise SettingsError(f"{path}:{n}: expected KEY=value")
        out[key.strip()] = value.strip().strip("'\"")
    return out


def read_setting(key: str, environ: dict[str, str] | None = None, settings_file: Path | None = None) -> str:
    """One setting, unchecked ("" when unset): the environment wins over the settings file."""
    env = os.environ if environ is None else environ
    value = env.get(key, "")
    if not value and settings_file is not None:
        value = _read_settings_file(settings_file).get(key, "")
    return value


def load_database_url(environ: dict[str, str] | None = None, settings_file: Path | None = None) -> str:
    """Only ``DATABASE_URL`` (the environment wins over the settings file): what
    ``migrate``, ``report`` and ``records`` need, without the engine's ARI settings."""
    dsn = read_setting("DATABASE_URL", environ, settings_file)
    if not dsn:
        raise SettingsError("DATABASE_URL is not set")
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise SettingsError("DATABASE_URL: must be a postgresql://user:password@host:port/database URL")
    return dsn


def load_settings(environ: dict[str, str] | None = None, settings_file: Path | None = None) -> Settings:
    """Settings from a settings file (if given) overridden by the environment."""
    env = dict(os.environ if environ is None else environ)
    source: dict[str, str] = {}
    if settings_file is not None:
        source.update(_read_settings_file(settings_file))
    source.update({k: v for k, v in env.items() if k in _ENV})
    values = {_ENV[k]: v for k, v in source.items() if k in _ENV}
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as e:
        names = {v: k for k, v in _ENV.items()}
        problems = []
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            var = names.get(field, field)
            if err["type"] == "missing":
                problems.append(f"{var} is not set")
            else:
                problems.append(f"{var}: {err['msg'].removeprefix('Value error, ')}")
        raise SettingsError("bad settings: " + "; ".join(problems)) from None
