"""The SQLite file: WAL, the schema, and one read connection beside the group-commit writer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosqlite

from smsengine.engine.store.schema import (
    AFTER_COLUMN_ADDED,
    COLUMNS_ADDED,
    COUNTS,
    COUNTS_BACKFILL,
    INDEXES_AFTER_COLUMNS,
    SCHEMA,
)
from smsengine.engine.store.writer import GroupCommitWriter


MAX_EXPORTS = 4


def scope(app_id: str | None, column: str = "app_id") -> tuple[str, tuple]:
    """A WHERE clause for one account's rows, or none for every account's."""
    return (f" WHERE {column}=?", (app_id,)) if app_id else ("", ())


class Database(GroupCommitWriter):
    """Opens and closes the file; reads go through aiosqlite, writes through the writer thread."""

    def __init__(self, path: str | Path, *, max_rows: int = 5000, max_delay: float = 0.002,
                 writer_nice: int = 0) -> None:
        super().__init__(max_rows=max_rows, max_delay=max_delay, writer_nice=writer_nice)
        self.path = Path(path)
        self._reader: aiosqlite.Connection | None = None
        # CSV exports running at once (messages.export_csv): each holds a read connection and a
        # thread of its own for its whole length; more wait their turn
        self._exports = asyncio.Semaphore(MAX_EXPORTS)

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        # WAL + synchronous=NORMAL: a commit survives a process crash (kill -9) without an
        # fsync per transaction; only an OS crash or power loss can lose the last commits.
        await self._reader.execute("PRAGMA journal_mode=WAL")
        await self._reader.execute("PRAGMA synchronous=NORMAL")
        await self._reader.execute("PRAGMA busy_timeout=5000")
        await self._reader.executescript(SCHEMA)
        for table, column, declaration in COLUMNS_ADDED:
            present = {row[1] for row in await self._rows(f"PRAGMA table_info({table})")}
            if column not in present:
                await self._reader.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                if (table, column) in AFTER_COLUMN_ADDED:
                    await self._reader.execute(AFTER_COLUMN_ADDED[(table, column)])
        await self._reader.executescript(INDEXES_AFTER_COLUMNS)
        await self._open_counts()
        # status report cursors continue from the last one handed out
        self.next_cursor = await self._scalar("SELECT COALESCE(MAX(cursor), 0) FROM messages") + 1
        await self._start_writer(self.path)

    async def _open_counts(self) -> None:
        """The statistics tables (schema.COUNTS: the writer keeps them, see counting.py); a file from
        before them gets them built from its messages in the same transaction (seconds for millions)."""
        existed = await self._scalar("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='message_counts'")
        if existed:
            await self._reader.executescript(COUNTS)  # drops the triggers that kept them once
            return
        try:
            # one script (executescript commits whatever is pending before it starts)
            await self._reader.executescript("BEGIN;" + COUNTS + ";".join(COUNTS_BACKFILL) + ";COMMIT;")
        except BaseException:
            if self._reader.in_transaction:
                await self._reader.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        """Flush what is queued and close; safe to call twice or on a store never opened."""
        try:
            await self._stop_writer()
        finally:
            if self._reader is not None:
                await self._reader.close()
                self._reader = None

    @property
    def is_open(self) -> bool:
        return self._reader is not None

    async def _rows(self, sql: str, params: tuple = ()) -> list[Any]:
        assert self._reader is not None, "the store is not open"
        return list(await self._reader.execute_fetchall(sql, params))

    async def _row(self, sql: str, params: tuple = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    async def _scalar(self, sql: str, params: tuple = ()) -> Any:
        row = await self._row(sql, params)
        return row[0] if row else None
