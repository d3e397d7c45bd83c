"""Recording files on disk: where a row's file is, how long it plays, how full the disk is.

Blocking (file system): the shell calls these in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import wave
from datetime import date
from pathlib import Path

FORMAT = "wav"
_HEADER = 44  # a canonical WAV header, as Asterisk's format_wav writes it
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def inside(base: Path, relative: str) -> Path | None:
    """``base/relative`` if it stays inside ``base`` (a row's path is data: never trusted)."""
    root = base.resolve()
    path = (root / relative).resolve()
    return path if path != root and path.is_relative_to(root) else None


def wav_info(path: Path) -> tuple[int, float]:
    """(size in bytes, duration in seconds) of a finished WAV file. A header whose data size
    was never updated (Asterisk stopped before closing it) is measured by the file size."""
    size = path.stat().st_size
    with wave.open(str(path), "rb") as w:
        rate, width, channels, frames = w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()
    if frames == 0 and size > _HEADER:
        frames = (size - _HEADER) // max(1, width * channels)
    return size, round(frames / rate, 3) if rate else 0.0


def disk_free(path: Path) -> tuple[int, float]:
    """(free bytes, free share) of the file system holding ``path``."""
    usage = shutil.disk_usage(path)
    return usage.free, usage.free / usage.total if usage.total else 0.0


def delete(path: Path) -> None:
    """The file, then its day folder once empty (the folder is kept while it has files)."""
    path.unlink(missing_ok=True)
    parent = path.parent
    if _DAY.match(parent.name):
        with contextlib.suppress(OSError):  # not empty: other recordings of that day
            parent.rmdir()


def old_day_folders(base: Path, before: date) -> list[Path]:
    """Day folders (YYYY-MM-DD) of days before ``before``: files nobody's row points at
    (a row lost with its event) still go once the whole day is past the retention."""
    out: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return out
    for e in entries:
        if e.is_dir(follow_symlinks=False) and _DAY.match(e.name):
            try:
                if date.fromisoformat(e.name) < before:
                    out.append(Path(e.path))
            except ValueError:
                continue
    return sorted(out)
