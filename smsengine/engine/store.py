"""Durable store on SQLite (WAL) with group commit: many requests share one transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec
import structlog

from smsengine.engine.records import MessageFinal, MessageRecord, MessageStatus, ReceiptView
from smsengine.engine.lifecycle import cancel_tasks

log = structlog.get_logger("smsengine.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    app_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    type TEXT NOT NULL,
    raw_content INTEGER NOT NULL DEFAULT 0,
    balance INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'active',
    utc_offset_minutes INTEGER NOT NULL DEFAULT 480,
    receipt_url TEXT NOT NULL DEFAULT '',
    pushed_cursor INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS signatures (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    remark TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    UNIQUE (app_id, name)
);
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    text TEXT NOT NULL,
    type TEXT NOT NULL,
    region TEXT NOT NULL,
    status TEXT NOT NULL,
    remark TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    content TEXT NOT NULL,
    type TEXT NOT NULL,
    chars INTEGER NOT NULL,
    segments INTEGER NOT NULL,
    data_coding INTEGER NOT NULL,
    status TEXT NOT NULL,
    code INTEGER NOT NULL DEFAULT 0,
    remark TEXT NOT NULL DEFAULT '',
    carrier TEXT NOT NULL DEFAULT '',
    context TEXT NOT NULL DEFAULT '',
    template_id INTEGER,
    created_at REAL NOT NULL,
    scheduled_at REAL,
    submitted_at REAL,
    final_at REAL,
    cursor INTEGER
);
-- status reports are the final messages in cursor order; the index only holds final rows
CREATE INDEX IF NOT EXISTS messages_final ON messages (app_id, cursor) WHERE cursor IS NOT NULL;
CREATE TABLE IF NOT EXISTS segments (
    message_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    carrier TEXT NOT NULL,
    carrier_message_id TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    stat TEXT NOT NULL DEFAULT '',
    err TEXT NOT NULL DEFAULT '',
    done_at REAL,
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unsubscribes (
    app_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (app_id, phone)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replies (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    carrier TEXT NOT NULL,
    received_at REAL NOT NULL
);
"""

_CHARGE = "UPDATE accounts SET balance = balance - ? WHERE app_id=?"

# The same writes for a whole batch as one JSON array parameter. SQLite unpacks it in C with the
# GIL released, where executemany binds every value under the GIL: measured in
# benchmarks/e2e_bench.py, the per-row binding of the writer thread cost the event loop about a
# third of its throughput. Column i of a row is `value->>i`.
_BATCH_INSERT_MESSAGES = (
    "INSERT OR IGNORE INTO messages (id, app_id, phone, content, type, chars, segments, data_coding,"
    " status, context, template_id, created_at, scheduled_at) SELECT value->>0, value->>1, value->>2,"
    " value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, value->>9, value->>10,"
    " value->>11, value->>12 FROM json_each(?)"
)
_BATCH_INSERT_SEGMENTS = (
    "INSERT OR IGNORE INTO segments (message_id, seq, carrier, carrier_message_id, submitted_at, stat, err,"
    " done_at) SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7"
    " FROM json_each(?)"
)
_BATCH_MARK_FINAL = (
    "UPDATE messages SET status=f.status, code=f.code, remark=f.remark, final_at=f.final_at,"
    " submitted_at=f.submitted_at, carrier=f.carrier, cursor=f.cursor FROM (SELECT value->>0 AS status,"
    " value->>1 AS code, value->>2 AS remark, value->>3 AS final_at, value->>4 AS submitted_at,"
    " value->>5 AS carrier, value->>6 AS cursor, value->>7 AS id FROM json_each(?)) AS f"
    " WHERE messages.id = f.id AND messages.cursor IS NULL"
)
_BATCH_SEGMENT_RESULTS = (
    "UPDATE segments SET stat=r.stat, err=r.err, done_at=r.done_at FROM (SELECT value->>0 AS stat,"
    " value->>1 AS err, value->>2 AS done_at, value->>3 AS message_id, value->>4 AS seq FROM json_each(?)) AS r"
    " WHERE segments.message_id = r.message_id AND segments.seq = r.seq"
)
_json = msgspec.json.Encoder()


class Store:
    """The one writer of the database. Writes queue up and a single task commits them together:
    a commit every `max_delay` seconds or `max_rows` rows, never one per message."""

    def __init__(self, path: str | Path, *, max_rows: int = 5000, max_delay: float = 0.002) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.db: aiosqlite.Connection | None = None  # reads (API, recovery)
        # the writer: its own connection on its own thread, so a whole group commit is one
        # hand-off between threads instead of one await per statement (measured: aiosqlite's
        # per-statement round trips stretched commits to hundreds of ms under load)
        self._writer_db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._messages: list[tuple] = []
        # segment rows waiting for the next commit, by (message id, seq): a receipt that comes
        # before the commit is folded into the insert, so the row is written once
        self._segments: dict[tuple[int, int], list] = {}
        self._results: list[tuple] = []
        self._finals: list[tuple] = []
        self._charges: dict[str, int] = {}
        self._statements: list[tuple[str, tuple]] = []
        self._waiters: list[asyncio.Future] = []
        self._pending_rows = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._closing = False
        self._inflight = False
        self.next_cursor = 1
        self.commits = 0
        self.failure: BaseException | None = None  # the last commit's error, None once one succeeds
        self.failures = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = await aiosqlite.connect(self.path, isolation_level=None)
        # WAL + synchronous=NORMAL: a commit survives a process crash (kill -9) without an
        # fsync per transaction; only an OS crash or power loss can lose the last commits.
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=NORMAL")
        await self.db.execute("PRAGMA busy_timeout=5000")
        await self.db.executescript(SCHEMA)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._writer_db = await asyncio.get_running_loop().run_in_executor(self._executor, self._connect_writer)
        row = await self.fetchone("SELECT COALESCE(MAX(cursor), 0) FROM messages")
        self.next_cursor = int(row[0]) + 1
        self._writer = asyncio.create_task(self._write_loop(), name="store-writer")

    async def close(self) -> None:
        self._closing = True
        if self._writer is not None:
            await self.flush()
            await cancel_tasks(self._writer)
            self._writer = None
        if self._writer_db is not None and self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._writer_db.close)
            self._executor.shutdown(wait=True)
            self._writer_db = None
        if self.db is not None:
            await self.db.close()
            self.db = None

    def _connect_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    # -- writes (batched) --------------------------------------------------------------------
    def _queued(self, rows: int) -> None:
        self._pending_rows += rows
        self._wake.set()

    async def accept(self, records: list[MessageRecord]) -> None:
        """Returns once the records are committed: the API answers only after this."""
        self._messages.extend(
            (
                r.id,
                r.app_id,
                r.phone,
                r.content,
                r.type,
                r.chars,
                r.segments,
                r.data_coding,
                str(r.status),
                r.context,
                r.template_id,
                r.created_at,
                r.scheduled_at,
            )
            for r in records
        )
        self._queued(len(records))
        await self.flush()

    def segment_submitted(self, message_id: int, seq: int, carrier: str, carrier_message_id: str,
                          at: float) -> None:
        """A segment the carrier accepted (submit_sm_resp OK): it is never sent again."""
        self._segments[(message_id, seq)] = [message_id, seq, carrier, carrier_message_id, at, "", "", None]
        self._queued(1)

    def segment_result(self, message_id: int, seq: int, stat: str, err: str, at: float) -> None:
        """A delivery receipt correlated to its segment."""
        pending = self._segments.get((message_id, seq))
        if pending is not None:
            pending[5], pending[6], pending[7] = stat, err, at
            return
        self._results.append((stat, err, at, message_id, seq))
        self._queued(1)

    def message_final(self, f: MessageFinal) -> int:
        """Record a final state; returns the status report's cursor (its place in pull order)."""
        cursor = self.next_cursor
        self.next_cursor = cursor + 1
        self._finals.append(
            (str(f.status), f.code, f.remark, f.final_at, f.submitted_at, f.carrier, cursor, f.message_id)
        )
        self._queued(1)
        return cursor

    def charge(self, app_id: str, segments: int) -> None:
        self._charges[app_id] = self._charges.get(app_id, 0) + segments
        self._queued(1)

    def execute_later(self, sql: str, params: tuple = ()) -> None:
        """A rare write (admin, unsubscribe) that rides the next group commit."""
        self._statements.append((sql, params, None))
        self._queued(1)

    async def execute_now(self, sql: str, params: tuple = ()) -> None:
        """A rare write, committed before this returns; raises its own database error if any."""
        future = asyncio.get_running_loop().create_future()
        self._statements.append((sql, params, future))
        self._queued(1)
        await self.flush()
        if future.done():
            future.result()

    async def flush(self) -> None:
        """Wait until everything queued before this call is committed."""
        if not self._pending_rows and not self._statements and not self._inflight:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake.set()
        await fut

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            if self._pending_rows < self.max_rows and not self._closing:
                # let concurrent requests join this transaction
                await asyncio.sleep(self.max_delay)
            self._wake.clear()
            messages, self._messages = self._messages, []
            segments, self._segments = self._segments, {}
            results, self._results = self._results, []
            finals, self._finals = self._finals, []
            charges, self._charges = self._charges, {}
            statements, self._statements = self._statements, []
            waiters, self._waiters = self._waiters, []
            self._pending_rows = 0
            self._inflight = True
            try:
                failed = await self._commit(messages, segments, results, finals, charges, statements)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The whole transaction failed (disk full, I/O error): nothing in it is durable.
                # Accepts are refused to their callers; state updates go back in the queue for
                # the next attempt, so what the engine knows in memory still reaches the disk.
                self.failures += 1
                self.failure = exc
                log.error("store.commit_failed", error=repr(exc), consecutive=self.failures)
                self._requeue(segments, results, finals, charges, statements)
                for fut in waiters:
                    if not fut.done():
                        fut.set_exception(RuntimeError(f"store commit failed: {exc!r}"))
                await asyncio.sleep(min(1.0, 0.05 * self.failures))
                continue
            finally:
                self._inflight = False
            self.failures = 0
            self.failure = None
            self.commits += 1
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
            for future, exc in failed:
                if not future.done():
                    future.set_exception(exc)

    def _requeue(self, segments, results, finals, charges, statements) -> None:
        for key, row in segments.items():
            self._segments.setdefault(key, row)
        self._results[:0] = results
        self._finals[:0] = finals
        for app, n in charges.items():
            self._charges[app] = self._charges.get(app, 0) + n
        self._statements[:0] = statements
        self._pending_rows += len(segments) + len(results) + len(finals) + len(statements)
        self._wake.set()

    async def _commit(self, messages, segments, results, finals, charges, statements) -> list:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._commit_sync, messages, segments, results, finals, charges, statements
        )

    def _commit_sync(self, messages, segments, results, finals, charges, statements) -> list:
        """One transaction, run on the writer thread. A rare statement (admin, unsubscribe) that
        fails is rolled back alone, inside a savepoint, and its error goes to its caller: one bad
        request must not fail everybody's group commit. Returns [(future, error)]."""
        db = self._writer_db
        assert db is not None
        failed: list = []
        db.execute("BEGIN")
        try:
            if messages:
                db.execute(_BATCH_INSERT_MESSAGES, (_json.encode(messages),))
            if segments:
                db.execute(_BATCH_INSERT_SEGMENTS, (_json.encode(list(segments.values())),))
            if results:
                db.execute(_BATCH_SEGMENT_RESULTS, (_json.encode(results),))
            if finals:
                db.execute(_BATCH_MARK_FINAL, (_json.encode(finals),))
            if charges:
                db.executemany(_CHARGE, [(n, app) for app, n in charges.items()])
            for sql, params, future in statements:
                db.execute("SAVEPOINT one")
                try:
                    db.execute(sql, params)
                except sqlite3.DatabaseError as exc:
                    db.execute("ROLLBACK TO one")
                    log.warning("store.statement_failed", sql=sql, error=repr(exc))
                    if future is not None:
                        failed.append((future, exc))
                db.execute("RELEASE one")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return failed

    # -- reads ---------------------------------------------------------------------------------
    async def fetchall(self, sql: str, params: tuple = ()) -> list[Any]:
        assert self.db is not None
        return list(await self.db.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: tuple = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def max_message_id(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(id), 0) FROM messages")
        return int(row[0])

    async def receipts_since(self, app_id: str, cursor: int, limit: int) -> list[ReceiptView]:
        rows = await self.fetchall(
            "SELECT cursor, id, phone, status, code, remark, submitted_at, final_at, context"
            " FROM messages WHERE app_id=? AND cursor>? ORDER BY cursor LIMIT ?",
            (app_id, cursor, limit),
        )
        return [
            ReceiptView(
                cursor=r[0],
                message_id=str(r[1]),
                phone=r[2],
                status=r[3],
                code=r[4],
                remark=r[5],
                submitted_at=r[6],
                final_at=r[7],
                context=r[8],
            )
            for r in rows
        ]

    async def open_messages(self) -> list[tuple[MessageRecord, dict[int, tuple[str, str]]]]:
        """Messages not final at start: each with the segments already accepted by a carrier
        (seq -> (carrier, carrier_message_id)), which must never be sent again."""
        rows = await self.fetchall(
            "SELECT id, app_id, phone, content, type, chars, segments, data_coding, created_at,"
            " scheduled_at, context, template_id, status FROM messages"
            " WHERE status IN ('accepted', 'submitted') ORDER BY id"
        )
        seg_rows = await self.fetchall(
            "SELECT s.message_id, s.seq, s.carrier, s.carrier_message_id FROM segments s"
            " JOIN messages m ON m.id = s.message_id WHERE m.status IN ('accepted', 'submitted')"
        )
        done: dict[int, dict[int, tuple[str, str]]] = {}
        for mid, seq, carrier, cmid in seg_rows:
            done.setdefault(mid, {})[seq] = (carrier, cmid)
        out = []
        for r in rows:
            rec = MessageRecord(
                id=r[0],
                app_id=r[1],
                phone=r[2],
                content=r[3],
                type=r[4],
                chars=r[5],
                segments=r[6],
                data_coding=r[7],
                created_at=r[8],
                scheduled_at=r[9],
                context=r[10],
                template_id=r[11],
                status=MessageStatus(r[12]),
            )
            out.append((rec, done.get(rec.id, {})))
        return out
