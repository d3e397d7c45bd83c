"""The record writer's files: the spool, the torn lines set aside, the quarantine,
and the memory buffer that stands in for the spool while the disk is full.

Files in the spool directory, each mode 600 (personal data):

- ``records.jsonl``: batches the database could not take, one record a line,
  the lines of a batch consecutive (format in ``ctoengine.records.writer``).
- ``spool-torn.jsonl``: spool lines that did not load (torn by a crash mid-write).
- ``quarantine.jsonl``: rows the database refused for their data, with the error.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ctoengine.logs import get_logger
from ctoengine.metrics.registry import Metrics
from ctoengine.records.model import Record, from_json, to_json

log = get_logger("ctoengine.records")

# What a spool line that does not load raises (UnicodeDecodeError and
# json.JSONDecodeError are ValueErrors).
_TORN_ERRORS = (ValueError, KeyError, TypeError, AttributeError)


def _column_of(e: BaseException, cols: Sequence[str]) -> str | None:
    column = getattr(e, "column_name", None)
    if column:
        return str(column)
    m = re.search(r"query argument \$(\d+)", str(e))
    if m and 0 < int(m[1]) <= len(cols):
        return cols[int(m[1]) - 1]
    return None


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte to ``fd`` (the seam the full-disk tests replace)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def open_locked(path: Path, flags: int = os.O_WRONLY | os.O_APPEND | os.O_CREAT) -> int:
    """Open a spool file mode 600 (personal data), with an exclusive lock on the
    file it is now: the retention job rewrites spool files (into a new file
    renamed over the old one) under the same lock, so an append never goes to a
    file just replaced."""
    while True:
        fd = os.open(path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass  # replaced or removed while we waited: open the path again
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _append_durably(path: Path, data: bytes) -> None:
    """Append and fsync; on failure cut the file back to where it was (no half batch)."""
    fd = open_locked(path)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, start)
            except OSError as e:
                log.error("records_file_truncate_failed", path=str(path), error=str(e))
            raise
    finally:
        os.close(fd)


def _parse_line(line: bytes) -> tuple[str, int, Record]:
    """(batch id, index in the batch, record) of one spool line; raises one of _TORN_ERRORS."""
    data = json.loads(line.decode("utf-8"))
    if not isinstance(data, dict):
        raise TypeError("a spool line is a JSON object")
    record = from_json(data)
    batch_id = data.get("batch")
    if batch_id is None:
        return "legacy-" + hashlib.sha256(line.strip()).hexdigest()[:32], 0, record
    index = data.get("i")
    if not isinstance(batch_id, str) or not batch_id or isinstance(index, bool) or not isinstance(index, int):
        raise ValueError("bad batch id or index")
    return batch_id, index, record


@dataclass
class Batch:
    """Records written together, under one id; ``index[k]`` is the position
    ``records[k]`` had when the batch was formed (stable across spool round trips)."""

    id: str
    records: list[Record]
    index: list[int]

    @classmethod
    def new(cls, records: Iterable[Record]) -> Batch:
        rs = list(records)
        return cls(uuid.uuid4().hex, rs, list(range(len(rs))))

    def __len__(self) -> int:
        return len(self.records)

    def spool_lines(self) -> bytes:
        return "".join(
            json.dumps({"batch": self.id, "i": i, **to_json(r)}, ensure_ascii=False, default=str) + "\n"
            for i, r in zip(self.index, self.records, strict=True)
        ).encode("utf-8")


class Spool:
    """Batches kept for later, in file order: on disk, or in memory while the disk refuses."""

    def __init__(self, spool_dir: Path, metrics: Metrics, memory_limit: int) -> None:
        self._dir = spool_dir
        self._file = spool_dir / "records.jsonl"
        self._torn_file = spool_dir / "spool-torn.jsonl"
        self._quarantine_file = spool_dir / "quarantine.jsonl"
        self._metrics = metrics
        self._memory_limit = memory_limit
        self.spooled = 0  # records in the spool file
        self.memory: deque[Batch] = deque()  # batches the spool could not take, oldest first
        self.in_memory = 0
        self.failing = False
        self._torn_tail = False  # the spool's last line has no newline (a crash mid-write)
        self._torn_done: set[bytes] = set()  # hashes of torn lines already set aside
        spool_dir.mkdir(parents=True, exist_ok=True)
        for f in (self._file, self._torn_file, self._quarantine_file):
            with contextlib.suppress(OSError):
                f.chmod(0o600)  # written by an engine that did not make them private
        if self._file.exists():
            raw = self._file.read_bytes()
            self.spooled = sum(1 for line in raw.split(b"\n") if line.strip())
            self._torn_tail = bool(raw) and not raw.endswith(b"\n")

    def behind(self) -> bool:
        """Older records wait (spool or memory): new batches queue up behind them."""
        return bool(self.spooled or self.memory)

    def _append(self, batch: Batch) -> None:
        data = batch.spool_lines()
        if self._torn_tail:
            data = b"\n" + data  # end the torn line: it must not swallow ours
        _append_durably(self._file, data)
        self._torn_tail = False
        self.spooled += len(batch)

    def failed(self, e: OSError) -> None:
        if not self.failing:
            log.error(
                "records_spool_failing", path=str(self._dir), error=str(e), memory_limit=self._memory_limit
            )
        self.failing = True
        self._metrics.records_spool_failing.set(1)

    def _ok(self) -> None:
        if self.failing:
            log.info("records_spool_writable_again", path=str(self._dir))
        self.failing = False
        self._metrics.records_spool_failing.set(0)

    def spill_memory(self) -> None:
        """Move the memory buffer to the spool, oldest first, as far as the disk lets us."""
        while self.memory:
            batch = self.memory[0]
            try:
                self._append(batch)
            except OSError as e:
                self.failed(e)
                return
            self.memory.popleft()
            self.in_memory -= len(batch)
        self._ok()

    def keep(self, batch: Batch) -> bool:
        """Keep a batch for later: in the spool (True), or in memory when the spool cannot be written."""
        if self.memory:
            self.spill_memory()  # keep the order: older batches first
        if not self.memory:
            try:
                self._append(batch)
            except OSError as e:
                self.failed(e)
            else:
                self._ok()
                return True
        self._to_memory(batch)
        return False

    def _to_memory(self, batch: Batch) -> None:
        self.memory.append(batch)
        self.in_memory += len(batch)
        lost: Counter[str] = Counter()
        while self.in_memory > self._memory_limit:
            oldest = self.memory[0]
            drop = min(len(oldest), self.in_memory - self._memory_limit)
            lost.update(r.table for r in oldest.records[:drop])
            del oldest.records[:drop]
            del oldest.index[:drop]
            self.in_memory -= drop
            if not oldest.records:
                self.memory.popleft()
        self._count_lost(lost, "spool not writable and memory buffer full")

    def written_from_memory(self) -> None:
        """The oldest batch in memory is in the database now."""
        batch = self.memory.popleft()
        self.in_memory -= len(batch)

    def drop_memory(self, reason: str) -> None:
        """Give up what is in memory (the engine stops): counted and logged as lost."""
        if not self.memory:
            return
        lost = Counter(r.table for b in self.memory for r in b.records)
        self.memory.clear()
        self.in_memory = 0
        self._count_lost(lost, reason)

    def _count_lost(self, lost: Counter[str], reason: str) -> None:
        if not lost:
            return
        for table, n in lost.items():
            self._metrics.records_lost.labels(table).inc(n)
        log.error(
            "records_lost", count=sum(lost.values()), by_table=dict(lost), reason=reason, path=str(self._dir)
        )

    def probe(self) -> None:
        """While the spool is failing with nothing to spool: can the disk take a write again?"""
        probe = self._dir / ".spool-probe"
        try:
            _append_durably(probe, b"\0" * 4096)
            probe.unlink()
        except OSError:
            with contextlib.suppress(OSError):
                probe.unlink()
            return
        self._ok()

    def load(self) -> tuple[list[Batch], int]:
        """The spool's batches in file order, and how many torn lines stay in it
        (they could not be set aside)."""
        try:
            raw = self._file.read_bytes()
        except FileNotFoundError:
            return [], 0
        batches: dict[str, Batch] = {}
        seen: set[tuple[str, int]] = set()
        torn: list[bytes] = []
        good: list[bytes] = []
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                batch_id, index, record = _parse_line(line)
            except _TORN_ERRORS:
                torn.append(line)
                continue
            good.append(line)
            if (batch_id, index) in seen:
                continue
            seen.add((batch_id, index))
            batch = batches.setdefault(batch_id, Batch(batch_id, [], []))
            batch.records.append(record)
            batch.index.append(index)
        kept = self._set_aside(torn, good) if torn else 0
        return list(batches.values()), kept

    def _set_aside(self, torn: list[bytes], good: list[bytes]) -> int:
        new = [t for t in torn if hashlib.sha256(t).digest() not in self._torn_done]
        if new:
            try:
                _append_durably(self._torn_file, b"".join(t + b"\n" for t in new))
            except OSError as e:
                log.error("records_spool_torn_not_set_aside", count=len(new), error=str(e))
                return len(torn)
            self._torn_done.update(hashlib.sha256(t).digest() for t in new)
            self._metrics.records_spool_torn.inc(len(new))
            log.warning("records_spool_torn", count=len(new), set_aside_in=str(self._torn_file))
        # Rewrite the spool without them, so a later replay does not meet them again.
        tmp = self._file.with_suffix(".jsonl.tmp")
        try:
            tmp.unlink(missing_ok=True)
            _append_durably(tmp, b"".join(g + b"\n" for g in good))
            tmp.replace(self._file)
        except OSError as e:
            log.warning("records_spool_rewrite_failed", error=str(e))
            with contextlib.suppress(OSError):
                tmp.unlink()
        else:
            self._torn_tail = False
        self.spooled = len(good)
        return 0

    def replayed(self, kept: int) -> None:
        """The spool's batches are in the database; ``kept`` torn lines stay in the file."""
        if kept:
            self.spooled = kept
            return
        self._file.unlink(missing_ok=True)
        self.spooled = 0
        self._torn_tail = False

    def quarantine(
        self, batch_id: str, index: int, record: Record, e: BaseException, cols: list[str]
    ) -> None:
        """Set aside a row refused for its data; ``OSError`` if the file cannot take it."""
        entry = {
            "quarantined_at": datetime.now(UTC).isoformat(),
            "batch": batch_id,
            "i": index,
            **to_json(record),
            "error": f"{type(e).__name__}: {e}",
            "sqlstate": getattr(e, "sqlstate", None),
        }
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        try:
            _append_durably(self._quarantine_file, line.encode("utf-8"))
        except OSError as oe:
            self.failed(oe)
            raise
        self._metrics.records_quarantined.labels(record.table).inc()
        # No values here (they may be personal data): they are in the quarantine file.
        log.error(
            "record_quarantined",
            table=record.table,
            batch=batch_id,
            index=index,
            call_id=getattr(record, "call_id", None),
            error=type(e).__name__,
            sqlstate=getattr(e, "sqlstate", None),
            column=_column_of(e, cols),
            constraint=getattr(e, "constraint_name", None),
            file=str(self._quarantine_file),
        )
