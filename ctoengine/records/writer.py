"""Writes records in batches, off the call path; spools them when PostgreSQL is down.

Nothing is lost: a batch that cannot be written goes to an append-only spool
file (fsynced) and is replayed when the database answers again. Nothing is
written twice: call rows are inserted ``ON CONFLICT (call_id) DO NOTHING``,
and a spool file is removed only after its replay committed.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import asyncpg

from ctoengine.db.pool import CONNECTION_ERRORS, describe
from ctoengine.logs import get_logger
from ctoengine.records.model import Record, from_json, to_json

log = get_logger("ctoengine.records")

_JSON_COLUMNS = frozenset({"self_service"})


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


class RecordWriter:
    def __init__(
        self,
        dsn: str,
        spool_dir: Path,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        on_written: Callable[[str, int], None] = lambda table, n: None,
    ) -> None:
        self._dsn = dsn
        self._spool = spool_dir / "records.jsonl"
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._on_written = on_written
        self._queue: asyncio.Queue[Record] = asyncio.Queue()
        self._pool: asyncpg.Pool | None = None
        self._spooled = 0
        self.db_up = False
        spool_dir.mkdir(parents=True, exist_ok=True)
        if self._spool.exists():
            with self._spool.open(encoding="utf-8") as f:
                self._spooled = sum(1 for line in f if line.strip())

    @property
    def backlog(self) -> int:
        """Records not yet in the database: queued plus spooled."""
        return self._queue.qsize() + self._spooled

    def submit(self, record: Record) -> None:
        self._queue.put_nowait(record)

    async def _connect(self) -> asyncpg.Pool | None:
        if self._pool is not None:
            return self._pool
        try:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2, timeout=3)
        except CONNECTION_ERRORS as e:
            if self.db_up:
                log.warning("records_db_down", error=describe(e))
            self.db_up = False
            return None
        self.db_up = True
        return self._pool

    async def _write(self, records: Sequence[Record]) -> None:
        pool = await self._connect()
        if pool is None:
            raise ConnectionError("database unavailable")
        by_type: dict[type[Record], list[Record]] = {}
        for r in records:
            by_type.setdefault(type(r), []).append(r)
        try:
            async with pool.acquire() as conn, conn.transaction():
                for cls, items in by_type.items():
                    sql, cols = _insert_sql(cls)
                    await conn.executemany(sql, [_values(r, cols) for r in items])
        except CONNECTION_ERRORS as e:
            log.warning("records_db_down", error=describe(e))
            self.db_up = False
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.terminate()
            raise ConnectionError("database unavailable") from None
        for cls, items in by_type.items():
            self._on_written(cls.table, len(items))

    def _append_spool(self, records: Sequence[Record]) -> None:
        with self._spool.open("a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(to_json(r), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._spooled += len(records)
        log.warning("records_spooled", count=len(records), backlog=self.backlog)

    async def _replay_spool(self) -> None:
        if not self._spool.exists():
            return
        lines = self._spool.read_text(encoding="utf-8").splitlines()
        records = [from_json(json.loads(line)) for line in lines if line.strip()]
        for i in range(0, len(records), self._batch_size):
            await self._write(records[i : i + self._batch_size])
        self._spool.unlink()
        self._spooled = 0
        log.info("records_spool_replayed", count=len(records))

    async def _drain(self, first: Record | None) -> list[Record]:
        batch = [first] if first is not None else []
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def run(self) -> None:
        """Write until cancelled; on cancel, flush what is queued (or spool it)."""
        retry = 0.5
        try:
            while True:
                if self._spooled:
                    try:
                        await self._replay_spool()
                        retry = 0.5
                    except ConnectionError:
                        pass
                try:
                    first = await asyncio.wait_for(
                        self._queue.get(), timeout=retry if self._spooled else None
                    )
                except TimeoutError:
                    retry = min(retry * 2, 5.0)
                    continue
                await asyncio.sleep(self._flush_interval)  # let a batch gather
                batch = await self._drain(first)
                if self._spooled:
                    self._append_spool(batch)  # keep order behind the spool
                    continue
                try:
                    await self._write(batch)
                except ConnectionError:
                    self._append_spool(batch)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        batch = await self._drain(None)
        if batch and not self._spooled:
            try:
                await self._write(batch)
                batch = []
            except ConnectionError:
                pass
        if batch:
            self._append_spool(batch)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
