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
import json
from collections import deque
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ctoengine.db.pool import CONNECTION_ERRORS, DB_ERRORS, describe
from ctoengine.logs import get_logger
from ctoengine.metrics.registry import Metrics
from ctoengine.records.model import Record
from ctoengine.records.spool import Batch, Spool

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
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._on_written = on_written
        self._metrics = metrics if metrics is not None else Metrics()
        self._spool = Spool(spool_dir, self._metrics, memory_limit)
        self._queue: asyncio.Queue[Record] = asyncio.Queue()
        self._pool: asyncpg.Pool | None = None
        self._hand: Batch | None = None  # the batch being gathered or written now
        self._retry = 0.5
        self._next_prune = 0.0
        self.db_up = False

    # The failure-path tests look into the memory buffer and the spool.
    @property
    def _memory(self) -> deque[Batch]:
        return self._spool.memory

    @property
    def _in_memory(self) -> int:
        return self._spool.in_memory

    def _load_spool(self) -> tuple[list[Batch], int]:
        return self._spool.load()

    @property
    def backlog(self) -> int:
        """Records not yet in the database: queued, in hand, spooled and in memory."""
        hand = len(self._hand) if self._hand is not None else 0
        return self._queue.qsize() + hand + self._spool.spooled + self._spool.in_memory

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
        try:
            self._spool.quarantine(batch_id, index, record, e, cols)
        except OSError as oe:
            raise _Unwritable(f"quarantine file not writable: {oe}") from None

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

    def _keep(self, batch: Batch) -> None:
        """Keep a batch for later: in the spool, or in memory when the spool cannot be written."""
        if self._spool.keep(batch):
            log.warning("records_spooled", count=len(batch), backlog=self.backlog)

    async def _replay_spool(self) -> None:
        """Write the spool batch by batch in file order; batches written before are skipped."""
        if await self._connect() is None:
            raise _Unwritable("database unavailable")  # do not read the file for nothing
        batches, kept = self._spool.load()
        for batch in batches:
            await self._write_batch(batch)
        count = sum(len(b) for b in batches)
        self._spool.replayed(kept)
        if kept:  # torn lines that could not be set aside stay in the file
            log.info("records_spool_replayed", count=count, batches=len(batches), torn_left=kept)
            return
        log.info("records_spool_replayed", count=count, batches=len(batches))

    async def _catch_up(self) -> None:
        """Replay the spool, then the memory buffer; with the database down, move memory to the spool."""
        try:
            if self._spool.spooled:
                await self._replay_spool()
            while self._spool.memory:
                await self._write_batch(self._spool.memory[0])
                self._spool.written_from_memory()
        except _Unwritable:
            if self._spool.memory:
                self._spool.spill_memory()
            return
        self._retry = 0.5
        if self._spool.failing:
            self._spool.probe()

    # -- the loop -----------------------------------------------------------

    def _drain(self, batch: list[Record]) -> list[Record]:
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _deliver(self, batch: Batch) -> None:
        if self._spool.behind():
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
        waiting = self._spool.behind() or self._spool.failing
        if waiting:
            await self._catch_up()
            waiting = self._spool.behind() or self._spool.failing
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
            if not self._spool.behind():
                try:
                    await asyncio.wait_for(self._write_batch(batch), _SHUTDOWN_WRITE_S)
                    continue
                except (_Unwritable, TimeoutError):
                    pass
                except Exception:
                    log.exception("records_write_failed", batch=batch.id, count=len(batch))
            self._keep(batch)
        if self._spool.memory:
            self._spool.spill_memory()
        self._spool.drop_memory("shut down while the spool could not be written")
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), _SHUTDOWN_WRITE_S)
            except TimeoutError:
                pool.terminate()
            except DB_ERRORS:
                pool.terminate()
