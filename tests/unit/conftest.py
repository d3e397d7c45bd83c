from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ctoengine.config import RoutingConfig, load_routing

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "demo.yaml"


@pytest.fixture
def routing_dir(tmp_path: Path) -> Path:
    """A copy of the demo routing file with dummy prompt files beside it."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for txt in (ROOT / "prompts" / "ru").glob("*.txt"):
        (prompts / f"{txt.stem}.wav").write_bytes(b"RIFF")
    text = DEMO.read_text(encoding="utf-8").replace("prompts_dir: ../prompts/ru", "prompts_dir: prompts")
    text = text.replace("kb_dir: ../kb", f"kb_dir: {ROOT / 'kb'}")
    (tmp_path / "routing.yaml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def demo(routing_dir: Path) -> RoutingConfig:
    return load_routing(routing_dir / "routing.yaml")


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
