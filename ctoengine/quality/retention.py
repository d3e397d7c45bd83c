"""Recordings older than ``retention.recordings_days``: the file first, then its row (a file
that cannot be deleted keeps its row, so the next run tries again). Day folders past the
retention are emptied too: a file whose row was never written (its event lost while the
engine was down) must not stay for ever.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import structlog

from ctoengine.quality.files import delete, inside, old_day_folders
from ctoengine.quality.store import DELETE, OLD

log = structlog.get_logger(__name__)

BATCH = 500


def _delete_files(base: Path, paths: list[tuple[int, str]]) -> list[int]:
    done: list[int] = []
    for row_id, relative in paths:
        path = inside(base, relative)
        try:
            if path is not None:
                delete(path)
        except OSError as e:
            log.warning("recording_not_deleted", path=relative, error=str(e))
            continue
        done.append(row_id)
    return done


def _sweep(base: Path, cutoff: datetime) -> int:
    """Files in day folders wholly before the cutoff's day (a day of margin for time zones)."""
    n = 0
    for folder in old_day_folders(base, (cutoff - timedelta(days=1)).date()):
        for f in sorted(folder.iterdir()):
            if f.is_file() and not f.is_symlink():
                try:
                    delete(f)
                    n += 1
                except OSError as e:
                    log.warning("recording_not_deleted", path=str(f), error=str(e))
    return n


async def erase_recordings(
    conn: asyncpg.Connection | asyncpg.Pool, cutoff: datetime, base: Path | None
) -> int:
    """How many recordings started before ``cutoff`` were deleted (rows; plus stray files).
    Without the folder (``CTO_RECORDING_DIR`` unset) nothing is deleted: a row without its
    file would hide a file nobody deletes."""
    if base is None:
        return 0
    total = 0
    while True:
        rows = await conn.fetch(OLD, cutoff, BATCH)
        if not rows:
            break
        done = await asyncio.to_thread(_delete_files, base, [(int(r["id"]), str(r["path"])) for r in rows])
        if done:
            await conn.execute(DELETE, done)
        total += len(done)
        if len(rows) < BATCH or not done:
            break
    return total + await asyncio.to_thread(_sweep, base, cutoff)
