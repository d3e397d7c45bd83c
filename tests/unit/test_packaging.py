"""Packaging: compose.yaml is valid YAML with the services a deployment needs, the
Dockerfile installs the lock before the code, and the lock files agree with pyproject.
(No container engine runs on the development machines: nothing is built here.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_yaml_parses_and_has_the_deployment() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"engine", "postgres", "prometheus", "migrate"} <= set(services)
    engine = services["engine"]
    assert engine["command"] == ["run"]
    assert any(v.startswith("spool:/var/spool/ctoengine") for v in engine["volumes"])
    assert "/livez" in " ".join(engine["healthcheck"]["test"])
    assert engine["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["command"] == ["migrate"]
    for volume in services["prometheus"]["volumes"]:
        host = volume.split(":")[0]
        if host.startswith("./"):
            assert (ROOT / host).is_file(), host
    prom = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text(encoding="utf-8"))
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["engine:8080"]


def test_dockerfile_layers_non_root_healthcheck_prompts() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lock = text.index("COPY requirements.lock")
    code = text.index("COPY ctoengine")
    assert lock < text.index("--require-hashes -r /tmp/requirements.lock") < code
    assert "--no-deps ." in text
    assert re.search(r"^USER ctoengine$", text, re.MULTILINE)
    assert "/livez" in text
    assert 'VOLUME ["/var/spool/ctoengine"]' in text
    assert "scripts/prompts" in text
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.MULTILINE):
        assert (ROOT / src).exists(), src


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text(encoding="utf-8")
    return {m[0].lower(): m[1] for m in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)}


def test_the_locks_pin_every_dependency_with_hashes_and_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    names = [re.split(r"[<>=!\[; ]", d)[0].lower().replace("_", "-") for d in project["dependencies"]]
    for name in names:
        assert name in runtime, f"{name} is not in requirements.lock: run scripts/lock"
    for name in ("ruff", "mypy", "pytest", "pytest-asyncio", "jsonschema", "matplotlib"):
        assert name in dev, f"{name} is not in requirements-dev.lock: run scripts/lock"
    assert "matplotlib" not in runtime  # the [reports] extra stays out of the image
    for name, version in runtime.items():
        assert dev.get(name, version) == version, f"{name}: {version} vs {dev[name]}"
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text(encoding="utf-8")
        assert text.count("==") <= text.count("--hash=sha256:")


def test_pytest_asyncio_supports_the_settings_in_pyproject() -> None:
    major = int(_pins("requirements-dev.lock")["pytest-asyncio"].split(".")[0])
    assert major >= 1  # asyncio_default_test_loop_scope
