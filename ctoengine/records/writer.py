"""Writes records in batches, off the call path; never ends except by cancellation.

Nothing is lost:

- A batch that cannot be written (PostgreSQL down, or refusing every write)
  goes to an append-only spool file (fsynced) and is replayed when the
  database answers again.
- A batch PostgreSQL refuses for its data (SQLSTATE class 22 or 23: a value out
  of a column's range, a check constraint) is written again row by row, each
  row in a transaction of its own; a row still refused goes to
  ``quarantine.jsonl`` with the error (fsynced), is counted in
  ``ctoengine_records_quarantined_total{table}`` and logged once.
- A spool line that does not load (torn by a crash mid-write) is set aside in
  ``spool-torn.jsonl``, counted, and the rest replays.
- When the spool cannot be written (a full disk), batches wait in a bounded
  memory buffer (``ctoengine_records_spool_failing`` is 1); beyond its bound
  the oldest records are dropped, counted in ``ctoengine_records_lost_total``
  and logged as errors.

Nothing is written twice (docs/decisions/004-exactly-once-records.md): every
batch has an id, and the transaction that writes it inserts the id into
``record_batches``; a batch whose id is already there (a replay after a partial
replay, a COMMIT whose answer was lost) is skipped. A batch written row by row
is marked ``split`` and each row keyed ``<batch id>:<row index>``.

Spool format, one record a line, the lines of a batch consecutive::

    {"batch": "<uuid hex>", "i": <index in the batch>, "table": "calls", "row": {...}}

Lines without ``batch`` (written by older engines) are each a batch of their
own, keyed ``legacy-<sha256 of the line>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ctoengine.db.pool import CONNECTION_ERRORS, DB_ERRORS, describe
from ctoengine.logs import get_logger
from ctoengine.metrics.registry import Metrics
from ctoengine.records.model import Record, from_json, to_json

log = get_logger("ctoengine.records")

_Conn = asyncpg.Connection | PoolConnectionProxy

# A connection lost mid-query: asyncpg may also say so with an InternalClientError
# ("cannot switch to state ...; another operation is in progress").
_LOST: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.exceptions.InternalClientError)

_JSON_COLUMNS = frozenset({"self_service"})

MEMORY_LIMIT = 200_000  # records kept in memory while the spool cannot be written
BATCH_ID_RETENTION_DAYS = 7  # record_batches rows older than this are deleted
_PRUNE_EVERY_S = 3600.0
_SHUTDOWN_WRITE_S = 5.0

_CLAIM = (
    "INSERT INTO record_batches (batch_id, split) VALUES ($1, $2)"
    " ON CONFLICT (batch_id) DO NOTHING RETURNING split"
)
_IS_SPLIT = "SELECT split FROM record_batches WHERE batch_id = $1"
_PRUNE = "DELETE FROM record_batches WHERE written_at < now() - make_interval(days => $1)"

# What a spool line that does not load raises (UnicodeDecodeError and
# json.JSONDecodeError are ValueErrors).
_TORN_ERRORS = (ValueError, KeyError, TypeError, AttributeError)


def _insert_sql(cls: type[Record]) -> tuple[str, list[str]]:
    cols = [f.name for f in fields(cls)]
    params = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    sql = f"INSERT INTO {cls.table} ({', '.join(cols)}) VALUES ({params})"  # noqa: S608 - names are ours
    if cls.conflict:
        sql += f" ON CONFLICT ({cls.conflict}) DO NOTHING"
    return sql, cols


def _values(record: Record, cols: list[str]) -> tuple[Any, ...]:
    out = []
    for c in cols:
        v = getattr(record, c)
        if c in _JSON_COLUMNS and v is not None:
            v = json.dumps(v, ensure_ascii=False)
        out.append(v)
    return tuple(out)


def _is_data_error(e: BaseException) -> bool:
    """A refusal of this row's data, not of the database: SQLSTATE class 22
    (data exception; asyncpg's own "invalid input for query argument" is 22000)
    or 23 (integrity constraint), or a value we could not even encode."""
    if isinstance(e, asyncpg.PostgresError):
        return str(getattr(e, "sqlstate", "") or "")[:2] in ("22", "23")
    return isinstance(e, TypeError | ValueError)


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


class _Unwritable(Exception):
    """The database cannot take the batch now (down, or refusing every write): keep it."""


class RecordWriter:
    def __init__(
        self,
        dsn: str,
        spool_dir: Path,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        on_written: Callable[[str, int], None] = lambda table, n: None,
        metrics: Metrics | None = None,
        memory_limit: int = MEMORY_LIMIT,
    ) -> None:
        self._dsn = dsn
        self._dir = spool_dir
        self._spool = spool_dir / "records.jsonl"
        self._torn_file = spool_dir / "spool-torn.jsonl"
        self._quarantine_file = spool_dir / "quarantine.jsonl"
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._on_written = on_written
        self._metrics = metrics if metrics is not None else Metrics()
        self._memory_limit = memory_limit
        self._queue: asyncio.Queue[Record] = asyncio.Queue()
        self._pool: asyncpg.Pool | None = None
        self._spooled = 0
        self._memory: deque[Batch] = deque()  # batches the spool could not take, oldest first
        self._in_memory = 0
        self._hand: Batch | None = None  # the batch being gathered or written now
        self._spool_failing = False
        self._spool_torn_tail = False  # the spool's last line has no newline (a crash mid-write)
        self._torn_done: set[bytes] = set()  # hashes of torn lines already set aside
        self._retry = 0.5
        self._next_prune = 0.0
        self.db_up = False
        spool_dir.mkdir(parents=True, exist_ok=True)
        for f in (self._spool, self._torn_file, self._quarantine_file):
            with contextlib.suppress(OSError):
                f.chmod(0o600)  # written by an engine that did not make them private
        if self._spool.exists():
            raw = self._spool.read_bytes()
            self._spooled = sum(1 for line in raw.split(b"\n") if line.strip())
            self._spool_torn_tail = bool(raw) and not raw.endswith(b"\n")

    @property
    def backlog(self) -> int:
        """Records not yet in the database: queued, in hand, spooled and in memory."""
        hand = len(self._hand) if self._hand is not None else 0
        return self._queue.qsize() + hand + self._spooled + self._in_memory

    def submit(self, record: Record) -> None:
        self._queue.put_nowait(record)

    # -- the database -------------------------------------------------------

    async def _connect(self) -> asyncpg.Pool | None:
        if self._pool is not None:
            return self._pool
        try:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2, timeout=3)
        except DB_ERRORS as e:
            if self.db_up:
                log.warning("records_db_down", error=describe(e))
            self.db_up = False
            return None
        self.db_up = True
        return self._pool

    def _lost_connection(self, e: BaseException) -> None:
        log.warning("records_db_down", error=describe(e))
        self.db_up = False
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    async def _write_batch(self, batch: Batch) -> None:
        """Write the batch exactly once, or raise ``_Unwritable`` (then keep it and retry)."""
        pool = await self._connect()
        if pool is None:
            raise _Unwritable("database unavailable")
        try:
            async with pool.acquire() as conn:
                if await self._write_whole(conn, batch) == "split":
                    await self._write_rows(conn, batch)
                await self._prune(conn)
        except _Unwritable:
            raise
        except _LOST as e:
            self._lost_connection(e)
            raise _Unwritable("database unavailable") from None
        except asyncpg.PostgresError as e:  # reachable, but refusing writes (schema, read-only, full disk)
            log.warning("records_db_refused", error=describe(e), sqlstate=e.sqlstate)
            raise _Unwritable(str(e)) from None

    async def _write_whole(self, conn: _Conn, batch: Batch) -> Literal["written", "skipped", "split"]:
        by_type: dict[type[Record], list[Record]] = {}
        for r in batch.records:
            by_type.setdefault(type(r), []).append(r)
        try:
            async with conn.transaction():
                if await conn.fetchval(_CLAIM, batch.id, False) is None:
                    split = await conn.fetchval(_IS_SPLIT, batch.id)
                    if not split:
                        log.info("records_batch_already_written", batch=batch.id, count=len(batch))
                        return "skipped"
                    return "split"
                for cls, items in by_type.items():
                    sql, cols = _insert_sql(cls)
                    await conn.executemany(sql, [_values(r, cols) for r in items])
        except (asyncpg.PostgresError, TypeError, ValueError) as e:
            if not _is_data_error(e):
                raise
            log.warning("records_batch_refused", batch=batch.id, count=len(batch), error=type(e).__name__)
            return "split"
        for cls, items in by_type.items():
            self._on_written(cls.table, len(items))
        return "written"

    async def _write_rows(self, conn: _Conn, batch: Batch) -> None:
        """Each row in a transaction of its own, keyed ``<batch>:<index>``; bad rows quarantined."""
        await conn.fetchval(_CLAIM, batch.id, True)  # from now on a replay goes row by row too
        for index, record in zip(batch.index, batch.records, strict=True):
            key = f"{batch.id}:{index}"
            sql, cols = _insert_sql(type(record))
            try:
                async with conn.transaction():
                    if await conn.fetchval(_CLAIM, key, False) is None:
                        continue  # written (or quarantined) before
                    await conn.execute(sql, *_values(record, cols))
            except (asyncpg.PostgresError, TypeError, ValueError) as e:
                if not _is_data_error(e):
                    raise
                self._quarantine(batch.id, index, record, e, cols)
                await conn.execute(_CLAIM, key, False)
                continue
            self._on_written(record.table, 1)

    def _quarantine(
        self, batch_id: str, index: int, record: Record, e: BaseException, cols: list[str]
    ) -> None:
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
            self._spool_failed(oe)
            raise _Unwritable(f"quarantine file not writable: {oe}") from None
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

    async def _prune(self, conn: _Conn) -> None:
        """Now and then, forget batch ids older than BATCH_ID_RETENTION_DAYS."""
        now = asyncio.get_running_loop().time()
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_EVERY_S
        try:
            status = await conn.execute(_PRUNE, BATCH_ID_RETENTION_DAYS)
        except asyncpg.PostgresError as e:
            log.warning("records_batch_ids_prune_failed", error=describe(e))
            return
        log.info("records_batch_ids_pruned", rows=int(status.split()[-1]))

    # -- the spool and the memory buffer ------------------------------------

    def _behind(self) -> bool:
        """Older records wait (spool or memory): new batches queue up behind them."""
        return bool(self._spooled or self._memory)

    def _append_spool(self, batch: Batch) -> None:
        data = batch.spool_lines()
        if self._spool_torn_tail:
            data = b"\n" + data  # end the torn line: it must not swallow ours
        _append_durably(self._spool, data)
        self._spool_torn_tail = False
        self._spooled += len(batch)

    def _spool_failed(self, e: OSError) -> None:
        if not self._spool_failing:
            log.error(
                "records_spool_failing", path=str(self._dir), error=str(e), memory_limit=self._memory_limit
            )
        self._spool_failing = True
        self._metrics.records_spool_failing.set(1)

    def _spool_ok(self) -> None:
        if self._spool_failing:
            log.info("records_spool_writable_again", path=str(self._dir))
        self._spool_failing = False
        self._metrics.records_spool_failing.set(0)

    def _spill_memory(self) -> None:
        """Move the memory buffer to the spool, oldest first, as far as the disk lets us."""
        while self._memory:
            batch = self._memory[0]
            try:
                self._append_spool(batch)
            except OSError as e:
                self._spool_failed(e)
                return
            self._memory.popleft()
            self._in_memory -= len(batch)
        self._spool_ok()

    def _keep(self, batch: Batch) -> None:
        """Keep a batch for later: in the spool, or in memory when the spool cannot be written."""
        if self._memory:
            self._spill_memory()  # keep the order: older batches first
        if not self._memory:
            try:
                self._append_spool(batch)
            except OSError as e:
                self._spool_failed(e)
            else:
                self._spool_ok()
                log.warning("records_spooled", count=len(batch), backlog=self.backlog)
                return
        self._to_memory(batch)

    def _to_memory(self, batch: Batch) -> None:
        self._memory.append(batch)
        self._in_memory += len(batch)
        lost: Counter[str] = Counter()
        while self._in_memory > self._memory_limit:
            oldest = self._memory[0]
            drop = min(len(oldest), self._in_memory - self._memory_limit)
            lost.update(r.table for r in oldest.records[:drop])
            del oldest.records[:drop]
            del oldest.index[:drop]
            self._in_memory -= drop
            if not oldest.records:
                self._memory.popleft()
        self._count_lost(lost, "spool not writable and memory buffer full")

    def _count_lost(self, lost: Counter[str], reason: str) -> None:
        if not lost:
            return
        for table, n in lost.items():
            self._metrics.records_lost.labels(table).inc(n)
        log.error(
            "records_lost", count=sum(lost.values()), by_table=dict(lost), reason=reason, path=str(self._dir)
        )

    def _probe_spool(self) -> None:
        """While the spool is failing with nothing to spool: can the disk take a write again?"""
        probe = self._dir / ".spool-probe"
        try:
            _append_durably(probe, b"\0" * 4096)
            probe.unlink()
        except OSError:
            with contextlib.suppress(OSError):
                probe.unlink()
            return
        self._spool_ok()

    def _load_spool(self) -> tuple[list[Batch], int]:
        """The spool's batches in file order, and how many torn lines stay in it
        (they could not be set aside)."""
        try:
            raw = self._spool.read_bytes()
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
        tmp = self._spool.with_suffix(".jsonl.tmp")
        try:
            tmp.unlink(missing_ok=True)
            _append_durably(tmp, b"".join(g + b"\n" for g in good))
            tmp.replace(self._spool)
        except OSError as e:
            log.warning("records_spool_rewrite_failed", error=str(e))
            with contextlib.suppress(OSError):
                tmp.unlink()
        else:
            self._spool_torn_tail = False
        self._spooled = len(good)
        return 0

    async def _replay_spool(self) -> None:
        """Write the spool batch by batch in file order; batches written before are skipped."""
        if await self._connect() is None:
            raise _Unwritable("database unavailable")  # do not read the file for nothing
        batches, kept = self._load_spool()
        for batch in batches:
            await self._write_batch(batch)
        count = sum(len(b) for b in batches)
        if kept:
            self._spooled = kept  # torn lines that could not be set aside stay in the file
            log.info("records_spool_replayed", count=count, batches=len(batches), torn_left=kept)
            return
        self._spool.unlink(missing_ok=True)
        self._spooled = 0
        self._spool_torn_tail = False
        log.info("records_spool_replayed", count=count, batches=len(batches))

    async def _catch_up(self) -> None:
        """Replay the spool, then the memory buffer; with the database down, move memory to the spool."""
        try:
            if self._spooled:
                await self._replay_spool()
            while self._memory:
                await self._write_batch(self._memory[0])
                batch = self._memory.popleft()
                self._in_memory -= len(batch)
        except _Unwritable:
            if self._memory:
                self._spill_memory()
            return
        self._retry = 0.5
        if self._spool_failing:
            self._probe_spool()

    # -- the loop -----------------------------------------------------------

    def _drain(self, batch: list[Record]) -> list[Record]:
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _deliver(self, batch: Batch) -> None:
        if self._behind():
            self._keep(batch)  # keep the order behind what waits
            return
        try:
            await self._write_batch(batch)
        except _Unwritable:
            self._keep(batch)
        except Exception:
            log.exception("records_write_failed", batch=batch.id, count=len(batch))
            self._keep(batch)

    async def _step(self) -> None:
        waiting = self._behind() or self._spool_failing
        if waiting:
            await self._catch_up()
            waiting = self._behind() or self._spool_failing
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout=self._retry if waiting else None)
        except TimeoutError:
            self._retry = min(self._retry * 2, 5.0)
            return
        self._hand = Batch.new([first])
        await asyncio.sleep(self._flush_interval)  # let a batch gather
        self._drain(self._hand.records)
        self._hand.index = list(range(len(self._hand.records)))
        await self._deliver(self._hand)
        self._hand = None

    async def run(self) -> None:
        """Write until cancelled; on cancel, flush what is queued (or spool it)."""
        try:
            while True:
                try:
                    await self._step()
                except Exception:  # a bug must not end the writer: the batch in hand is kept
                    log.exception("records_writer_error")
                    if self._hand is not None:
                        batch, self._hand = self._hand, None
                        self._keep(batch)
                    await asyncio.sleep(self._retry)
                    self._retry = min(self._retry * 2, 5.0)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        batches = [self._hand] if self._hand is not None else []
        self._hand = None
        while not self._queue.empty():
            batches.append(Batch.new(self._drain([])))
        for batch in batches:
            if not self._behind():
                try:
                    await asyncio.wait_for(self._write_batch(batch), _SHUTDOWN_WRITE_S)
                    continue
                except (_Unwritable, TimeoutError):
                    pass
                except Exception:
                    log.exception("records_write_failed", batch=batch.id, count=len(batch))
            self._keep(batch)
        if self._memory:
            self._spill_memory()
        if self._memory:
            lost = Counter(r.table for b in self._memory for r in b.records)
            self._memory.clear()
            self._in_memory = 0
            self._count_lost(lost, "shut down while the spool could not be written")
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), _SHUTDOWN_WRITE_S)
            except TimeoutError:
                pool.terminate()
            except DB_ERRORS:
                pool.terminate()
