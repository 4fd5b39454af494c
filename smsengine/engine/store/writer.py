"""The group-commit writer: one thread, one connection, many requests' writes in one transaction."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import NamedTuple

import msgspec
import structlog

from smsengine.engine.records import MessageFinal, MessageRecord
from smsengine.engine.store.counting import (
    count_finals,
    count_segments,
    count_stored,
    merged,
    prepare as prepare_counting,
    taken_ids,
)
from smsengine.runtime import lower_thread_priority, name_thread

log = structlog.get_logger("smsengine.store")

_CHARGE = "UPDATE accounts SET balance = balance - ? WHERE app_id=?"

# The same writes for a whole batch as one JSON array parameter. SQLite unpacks it in C with the
# GIL released, where executemany binds every value under the GIL: measured in
# benchmarks/e2e_bench.py, the per-row binding of the writer thread cost the event loop about a
# third of its throughput. Column i of a row is `value->>i`. JSON has no bytes: a message's
# vendor TLVs go as hex (null without), stored as that TEXT (SQLite 3.40 has no unhex()).
_BATCH_INSERT_MESSAGES = (
    "INSERT OR IGNORE INTO messages (id, phone, app_id, content, type, chars, segments, data_coding,"
    " status, context, template_id, created_at, scheduled_at, tlvs, callback_url, task_id) SELECT value->>0,"
    " value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, value->>9,"
    " value->>10, value->>11, value->>12, value->>13, value->>14, value->>15 FROM json_each(?)"
)
# A request's messages differ only in id (consecutive) and number: one execution per request binds
# what they share once and reads only the numbers from JSON. The per-row form above parses each
# row's JSON again for every column: perf on the writer thread under e2e_bench put a fifth of its
# time in SQLite's JSON code. Measured (benchmarks/store_bench.py, medians of 3): 59.5 us of writer
# CPU per message (accepted, submitted, final) with the per-row form, 41.5 us with this one, for
# sends (store.json); a task's rows, each with its own text, keep the per-row form.
_REQUEST_COLUMNS = ("app_id, content, type, chars, segments, data_coding, status, context, template_id, created_at,"
                    " scheduled_at, tlvs, callback_url, task_id")
_BATCH_INSERT_REQUEST = (
    f"INSERT OR IGNORE INTO messages (id, phone, {_REQUEST_COLUMNS}) SELECT ?1 + key, value, ?2, ?3, ?4, ?5, ?6, ?7,"
    " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15 FROM json_each(?16)"
)
_BATCH_INSERT_SEGMENTS = (
    "INSERT OR IGNORE INTO segments (message_id, seq, carrier, carrier_message_id, submitted_at, stat, err,"
    " done_at) SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7"
    " FROM json_each(?)"
)
# Finals with the same outcome (status, code, remark, carrier: most of a batch) in one execution
# binding those once, for the same reason
_BATCH_MARK_FINAL = (
    "UPDATE messages SET status=?1, code=?2, remark=?3, carrier=?4, final_at=f.final_at,"
    " submitted_at=f.submitted_at, cursor=f.cursor FROM (SELECT value->>0 AS id, value->>1 AS cursor,"
    " value->>2 AS final_at, value->>3 AS submitted_at FROM json_each(?5)) AS f"
    " WHERE messages.id = f.id AND messages.cursor IS NULL"
)
_BATCH_SEGMENT_RESULTS = (
    "UPDATE segments SET stat=r.stat, err=r.err, done_at=r.done_at FROM (SELECT value->>0 AS stat,"
    " value->>1 AS err, value->>2 AS done_at, value->>3 AS message_id, value->>4 AS seq FROM json_each(?)) AS r"
    " WHERE segments.message_id = r.message_id AND segments.seq = r.seq"
)
_json = msgspec.json.Encoder()

Statement = tuple[str, tuple]


class StoreError(Exception):
    """A write that is not durable: its own statement failed (rolled back alone), or its whole
    group commit did. The original error (sqlite3, OverflowError, OSError...) is the cause."""


class _AfterAccepts(Exception):
    """A group commit's second transaction (the state updates) failed after its first (the
    accepts) was committed: those stand, and their callers were answered. The cause is the error."""


class Outcome(NamedTuple):
    """What the last statement of a write gave back: its RETURNING rows and how many rows it changed."""

    rows: list[tuple]
    changed: int


def _request_values(r: MessageRecord) -> tuple:
    """What a request's messages have in common: the columns of _REQUEST_COLUMNS, as stored."""
    return (r.app_id, r.content, r.type, r.chars, r.segments, r.data_coding, str(r.status), r.context, r.template_id,
            r.created_at, r.scheduled_at, r.tlvs.hex() if r.tlvs else None, r.callback_url, r.task_id)


def _in_common(r: MessageRecord) -> tuple:
    """The columns of _REQUEST_COLUMNS as the record holds them (compared, not stored)."""
    return (r.app_id, r.content, r.type, r.chars, r.segments, r.data_coding, r.status, r.context, r.template_id,
            r.created_at, r.scheduled_at, r.tlvs, r.callback_url, r.task_id)


def _one_request(records: list[MessageRecord]) -> tuple[int, tuple, list[str]] | None:
    """(first id, shared values, numbers) when the records differ only in number and in ids that
    follow each other (a send's messages); None otherwise (a task's rows of their own texts)."""
    if len(records) < 2:
        return None
    first = records[0]
    base, shared = first.id, _in_common(first)
    for i, r in enumerate(records):
        if r.id != base + i or _in_common(r) != shared:
            return None
    return base, _request_values(first), [r.phone for r in records]


def _connect(path: Path, nice: int) -> sqlite3.Connection:
    name_thread(b"store-writer")
    lower_thread_priority(nice)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA temp_store=MEMORY")  # counting's scratch table
    prepare_counting(conn)
    return conn


def _store_error(what: str, cause: BaseException) -> StoreError:
    error = StoreError(f"{what}: {cause!r}")
    error.__cause__ = cause
    return error


class GroupCommitWriter:
    """The one writer of the database. Writes queue up and a single task commits them together:
    a commit every `max_delay` seconds or `max_rows` rows, never one per message."""

    def __init__(self, *, max_rows: int, max_delay: float, writer_nice: int = 0) -> None:
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.writer_nice = writer_nice
        # the writer: its own connection on its own thread, so a whole group commit is one
        # hand-off between threads instead of one await per statement (measured: aiosqlite's
        # per-statement round trips stretched commits to hundreds of ms under load)
        self._writer_db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._messages: list[tuple] = []
        self._requests: list[tuple[int, tuple, list[str]]] = []  # see _one_request
        # statements that stand or fall with the accepts of the same commit (a task's progress)
        self._with_accepts: list[Statement] = []
        # segment rows waiting for the next commit, by (message id, seq): a receipt that comes
        # before the commit is folded into the insert, so the row is written once
        self._segments: dict[tuple[int, int], list] = {}
        self._results: list[tuple] = []
        # finals by outcome (status, code, remark, carrier): (id, cursor, final_at, submitted_at)
        self._finals: dict[tuple, list[tuple]] = {}
        self._charges: dict[str, int] = {}
        # hot inserts of other concepts (the replay window): rows by statement, see _append_row
        self._appended: dict[str, list[tuple]] = {}
        # rare writes (admin, unsubscribe, replies): statements applied together, and the future of
        # the caller waiting for them, or None when nobody waits
        self._writes: list[tuple[tuple[Statement, ...], asyncio.Future | None]] = []
        self._waiters: list[asyncio.Future] = []
        # accepts waiting for their rows only (the group commit's first transaction), see _commit_sync
        self._accept_waiters: list[asyncio.Future] = []
        # callbacks to run once everything queued before them is committed (when_durable)
        self._durable: list[Callable[[], None]] = []
        self._pending_rows = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False  # from _start_writer until _stop_writer
        # the next round, due (call_soon), gathering (max_delay) or backing off after a failure
        self._round: asyncio.Handle | None = None
        self._closing = False
        self._inflight = False  # a round runs on the writer thread
        self.next_cursor = 1
        self.commits = 0
        # seconds each round took on the writer thread (recent ones, for /metrics to take) and in all
        self.commit_seconds: deque[float] = deque(maxlen=4096)
        self.busy_seconds = 0.0
        self.failure: BaseException | None = None  # the last commit's error, None once one succeeds
        self.failures = 0
        # the state updates' transaction failed after its accepts were committed, and has not been
        # written since: new accepts are refused meanwhile (see accept)
        self._updates_failing = False

    @property
    def writable(self) -> bool:
        """The writer runs and its last commit went through: what /healthz reports, without a write."""
        return self._running and self.failure is None

    async def _start_writer(self, path: Path) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._writer_db = await self._loop.run_in_executor(self._executor, _connect, path, self.writer_nice)
        self._running = True
        self._closing = False
        if self._pending_rows or self._writes:
            self._next_round()

    def _busy(self) -> bool:
        """Anything queued, waiting, due or on the writer thread."""
        return bool(self._pending_rows or self._writes or self._inflight or self._round is not None or self._durable
                    or self._waiters or self._accept_waiters)

    async def _stop_writer(self) -> None:
        self._closing = True  # rounds start at once from now on
        try:
            # until nothing is left: a when_durable registered during the last round is one more
            while self._running and self._busy():
                if self._round is not None and not self._inflight:
                    # due later (gathering, or backing off after a failure): closing does not wait
                    self._round.cancel()
                    self._round = None
                    self._start_round()
                await self.flush()
                await asyncio.sleep(0)
        finally:
            self._running = False
            if self._round is not None:
                self._round.cancel()
                self._round = None
            closed = StoreError("the store closed")
            for fut in [*self._waiters, *self._accept_waiters, *(f for _, f in self._writes if f is not None)]:
                if not fut.done():
                    fut.set_exception(closed)
            if self._writer_db is not None and self._executor is not None:
                # after a round still on the writer thread (one worker): never closed mid-commit
                await asyncio.get_running_loop().run_in_executor(self._executor, self._writer_db.close)
                self._executor.shutdown(wait=True)
                self._writer_db = None

    # -- the hot path: batched, committed together ------------------------------------------------
    def _queued(self, rows: int) -> None:
        self._pending_rows += rows
        self._wake()

    async def accept(self, records: list[MessageRecord], together: tuple[Statement, ...] = ()) -> None:
        """Returns once the records are committed: the API answers only after this. `together`:
        statements committed in the same transaction, and like the records never retried behind
        the caller's back if it fails (a bulk task's progress: exactly once across a crash).

        That is the accepts' own transaction, before the state updates of the same group commit
        (see _commit_sync): writes nobody waits for that were queued earlier may still be on their
        way. Refused while the state updates keep failing (a full disk): messages whose submits and
        receipts cannot be recorded must not pile up behind the ones already accepted."""
        self._check_writing()
        if self._updates_failing:
            raise _store_error("the store cannot record message progress", self.failure or StoreError("failing"))
        self._with_accepts.extend(together)
        request = _one_request(records)
        if request is not None:
            self._requests.append(request)
        else:
            self._messages.extend((r.id, r.phone, *_request_values(r)) for r in records)
        self._queued(len(records) + len(together))
        fut = asyncio.get_running_loop().create_future()
        self._accept_waiters.append(fut)
        await fut  # once the accepts are committed, not the state updates queued with them

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
        outcome = (str(f.status), f.code, f.remark, f.carrier)
        finals = self._finals
        rows = finals.pop(outcome, None)  # re-inserted: groups are written in order of their latest final,
        if rows is None:  # so a count's "latest remark" is the latest final's
            rows = []
        finals[outcome] = rows
        rows.append((f.message_id, cursor, f.final_at, f.submitted_at))
        self._queued(1)
        return cursor

    def charge(self, app_id: str, segments: int) -> None:
        self._charges[app_id] = self._charges.get(app_id, 0) + segments
        self._queued(1)

    def _append_row(self, sql: str, row: tuple) -> None:
        """A hot insert that rides the next group commit: every row queued under one `sql` goes
        in one execution over a json_each array (`sql` reads `value->>i`), like the messages'.
        Queued in the same step as an accept, it commits in the same transaction."""
        rows = self._appended.get(sql)
        if rows is None:
            rows = self._appended[sql] = []
        rows.append(row)
        self._queued(1)

    # -- rare writes ------------------------------------------------------------------------------
    def _write_later(self, *statements: Statement) -> None:
        """A rare write that rides the next group commit; nobody waits, a failure is logged."""
        self._writes.append((statements, None))
        self._queued(1)

    def _check_writing(self) -> None:
        """A wait on a writer that is not running would never end: refuse it."""
        if not self._running:
            raise StoreError("the store is not open")

    async def _write(self, *statements: Statement) -> Outcome:
        """A rare write, its statements applied together or not at all, committed when this
        returns; raises StoreError if it failed (alone) or its group commit did."""
        self._check_writing()
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._writes.append((statements, future))
        self._queued(1)
        return await future

    async def flush(self) -> None:
        """Wait until everything queued before this call is committed."""
        if not self._pending_rows and not self._writes and not self._inflight:
            return
        self._check_writing()
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake()
        await fut

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the loop once every write queued so far is committed: how a carrier's
        deliver_sm is answered only after what it told us is on disk, so a crash before that makes
        the SMSC deliver it again instead of losing it. Never waits, never fails: a failed commit
        keeps the callback for the retry that succeeds."""
        if not self._pending_rows and not self._writes and not self._inflight:
            asyncio.get_running_loop().call_soon(callback)  # nothing is waiting to be written
            return
        self._durable.append(callback)
        self._wake()

    # -- rounds: one group commit each, driven by callbacks on the loop ------------------------------
    # Under load the event loop runs long iterations (60 ms on average at saturation, up to 0.4 s:
    # a bind's read of thousands of receipts, thirty send requests resuming at once). A coroutine
    # awaiting run_in_executor needs two of them to see its commit finish (the thread's callback,
    # then the task's step), and a timer a third: measured, the writer sat idle 33% of an e2e_bench
    # run between commits (120 ms a gap) with sends waiting. Here the writer thread's callback
    # starts the next round itself, so the writer waits for the end of one iteration at most.
    def _wake(self) -> None:
        """Something was queued or waits: a round, unless one is due or on the writer thread."""
        if self._round is None and not self._inflight and self._running:
            self._next_round()

    def _next_round(self, now: bool = False) -> None:
        """The next round: when enough is queued (or closing) at once (`now`: in this very call,
        else at the loop's next turn, after whoever queued has registered its wait), else after
        `max_delay`, so concurrent requests join the same transaction."""
        loop = self._loop
        assert loop is not None
        if self._pending_rows >= self.max_rows or self._closing:
            if now:
                self._start_round()
            else:
                self._round = loop.call_soon(self._start_round)
        else:
            self._round = loop.call_later(self.max_delay, self._start_round)

    def _start_round(self) -> None:
        """Take everything queued and hand it to the writer thread as one group commit."""
        self._round = None
        if self._inflight or not self._running:
            return
        messages, self._messages = self._messages, []
        requests, self._requests = self._requests, []
        with_accepts, self._with_accepts = self._with_accepts, []
        segments, self._segments = self._segments, {}
        results, self._results = self._results, []
        finals, self._finals = self._finals, {}
        charges, self._charges = self._charges, {}
        appended, self._appended = self._appended, {}
        writes, self._writes = self._writes, []
        waiters, self._waiters = self._waiters, []
        accept_waiters, self._accept_waiters = self._accept_waiters, []
        durable, self._durable = self._durable, []
        self._pending_rows = 0
        if not (messages or requests or with_accepts or segments or results or finals or charges or appended
                or writes):
            # only waits (a flush or when_durable while the last group commit was finishing):
            # what they wait for is committed, no transaction needed; nothing was written, so a
            # failure stands (a round retried after a failed accepts' transaction has nothing left)
            self._done(waiters + accept_waiters, durable, [])
            return
        self._inflight = True
        assert self._executor is not None and self._loop is not None
        # called on the writer thread once the accepts are committed
        accepted = (partial(self._loop.call_soon_threadsafe, self._accepts_committed, accept_waiters)
                    if accept_waiters else None)
        batch = (messages, segments, results, finals, charges, writes, appended, with_accepts, requests)
        self._executor.submit(self._commit_round, batch, (waiters, accept_waiters, durable), accepted)

    def _commit_round(self, batch: tuple, waits: tuple, accepted: Callable[[], None] | None) -> None:
        """On the writer thread: the group commit, then its outcome back to the loop."""
        started = time.perf_counter()
        try:
            result: list | BaseException = self._commit_sync(*batch, accepted)
        except BaseException as exc:  # whatever it is, the loop must hear of it or the writer stalls
            result = exc
        seconds = time.perf_counter() - started
        try:
            self._loop.call_soon_threadsafe(self._round_done, batch, waits, result, seconds)  # type: ignore[union-attr]
        except RuntimeError:  # the loop is closed: nobody is left to tell
            log.warning("store.round_after_loop_closed")

    def _round_done(self, batch: tuple, waits: tuple, result: list | BaseException, seconds: float) -> None:
        """On the loop: wake who waited for the round, or requeue after a failure; then the next
        round at once if enough is queued (what came during this commit is its batch)."""
        self._inflight = False
        self.busy_seconds += seconds
        waiters, _, durable = waits
        try:
            if isinstance(result, BaseException):
                self._round_failed(result, batch, waits)
                return
            self.failures = 0
            self.failure = None
            self._updates_failing = False
            self.commits += 1
            self.commit_seconds.append(seconds)
            self._done(waiters, durable, result)
        finally:
            if self._round is None and self._running and self._busy():
                self._next_round(now=True)  # not one loop iteration later

    def _round_failed(self, exc: BaseException, batch: tuple, waits: tuple) -> None:
        """A transaction failed (disk full, I/O error): nothing in it is durable. Its callers are
        told so (accepts and awaited writes fail, not retried behind their backs); state updates
        and unawaited writes go back in the queue for the next attempt, after a backoff, so what
        the engine knows in memory still reaches the disk. When only the second one failed, the
        accepts and the rows committed with them stand (answered already)."""
        _, segments, results, finals, charges, writes, appended, _, _ = batch
        waiters, accept_waiters, durable = waits
        after_accepts = isinstance(exc, _AfterAccepts)
        error: BaseException = (exc.__cause__ or exc) if after_accepts else exc
        self.failures += 1
        self.failure = error
        self._updates_failing = self._updates_failing or after_accepts
        log.error("store.commit_failed", error=repr(error), consecutive=self.failures,
                  accepts_committed=after_accepts)
        self._requeue(segments, results, finals, charges, [w for w in writes if w[1] is None],
                      {} if after_accepts else appended)
        self._durable[:0] = durable
        failed = waiters + [f for _, f in writes if f is not None]
        if not after_accepts:
            failed += accept_waiters
        for fut in failed:
            if not fut.done():
                fut.set_exception(_store_error("store commit failed", error))
        if self._running:
            assert self._loop is not None
            if self._round is not None:
                self._round.cancel()
            self._round = self._loop.call_later(min(1.0, 0.05 * self.failures), self._start_round)

    @staticmethod
    def _done(waiters: list[asyncio.Future], durable: list[Callable[[], None]], outcomes: list) -> None:
        """A group commit went through: wake who waited for it, run what waited for durability."""
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        for callback in durable:
            try:
                callback()
            except Exception:
                log.exception("store.durable_callback_failed")
        for fut, outcome in outcomes:
            if fut.done():
                continue
            if isinstance(outcome, Outcome):
                fut.set_result(outcome)
            else:
                fut.set_exception(_store_error("store write failed", outcome))

    def _accepts_committed(self, waiters: list[asyncio.Future]) -> None:
        """These accepts are durable; unless the state updates are still failing, the store is
        writable again."""
        if not self._updates_failing:
            self.failures = 0
            self.failure = None
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _requeue(self, segments, results, finals, charges, writes, appended) -> None:
        for key, row in segments.items():
            self._segments.setdefault(key, row)
        self._results[:0] = results
        newer, self._finals = self._finals, dict(finals)  # the failed commit's finals come first
        for outcome, rows in newer.items():
            earlier = self._finals.pop(outcome, [])
            earlier.extend(rows)
            self._finals[outcome] = earlier
        for app, n in charges.items():
            self._charges[app] = self._charges.get(app, 0) + n
        self._writes[:0] = writes
        for sql, rows in appended.items():
            self._appended.setdefault(sql, [])[:0] = rows
            self._pending_rows += len(rows)
        self._pending_rows += len(segments) + len(results) + sum(map(len, finals.values())) + len(writes)

    def _commit_sync(self, messages, segments, results, finals, charges, writes, appended, with_accepts=(),
                     requests=(), accepted: Callable[[], None] | None = None) -> list:
        """Two transactions, run on the writer thread: the accepts (with the rows that stand or
        fall with them: a task's progress, the replay window), then `accepted()` is called, then
        the state updates (segments, receipts, finals, charges, rare writes). Why two: every send
        request waits for its accept, and under load one group commit held ~10,000 rows and took
        ~0.2 s, of which the accepts are ~40%; a request that came during a commit waited for the
        rest of it and then the whole next one (0.35-0.5 s at saturation, peer_bench), and the
        event loop sat idle ~11% of the time waiting for such commits with requests pending.

        A rare write that fails, whatever the error (a constraint, an int too large for SQLite to
        bind), is rolled back alone inside a savepoint and the error goes to its caller: one bad
        request must not fail everybody's group commit, nor stay in the queue failing every later
        one. Returns [(future, Outcome or the error)] for the writes somebody waits for; raises
        _AfterAccepts when the second transaction failed after the first was committed."""
        db = self._writer_db
        assert db is not None
        accepts = bool(messages or requests or with_accepts or appended)
        if accepts:
            db.execute("BEGIN")
            try:
                # an id given twice in one commit (a bug elsewhere) is stored once and must count once
                ranges = merged([[row[0], row[0]] for row in messages]
                                + [[first_id, first_id + len(phones) - 1] for first_id, _, phones in requests])
                # ids already taken (never, unless something is wrong): their inserts are ignored
                # and must not count
                taken = taken_ids(db, ranges) if ranges else ()
                if messages:
                    db.execute(_BATCH_INSERT_MESSAGES, (_json.encode(messages),))
                for first_id, shared, phones in requests:
                    db.execute(_BATCH_INSERT_REQUEST, (first_id, *shared, _json.encode(phones)))
                if taken:
                    log.warning("store.message_ids_taken", ids=taken[:10], count=len(taken))
                    ranges = merged([[i, i] for i in {i for first, last in ranges for i in range(first, last + 1)}
                                                     - set(taken)])
                if ranges:
                    count_stored(db, ranges)
                for sql, params in with_accepts:
                    db.execute(sql, params)
                for sql, rows in appended.items():
                    db.execute(sql, (_json.encode(rows),))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        try:  # whatever fails from here on, the accepts are committed
            if accepted is not None:
                accepted()
            if not (segments or results or finals or charges or writes):
                return []
            return self._write_updates(db, segments, results, finals, charges, writes)
        except Exception as exc:
            if accepts or accepted is not None:
                raise _AfterAccepts() from exc
            raise

    @staticmethod
    def _write_updates(db: sqlite3.Connection, segments, results, finals, charges, writes) -> list:
        """The group commit's second transaction: the state updates and the rare writes."""
        outcomes: list = []
        db.execute("BEGIN")
        try:
            if segments:
                inserted = list(segments.values())
                db.execute("SAVEPOINT segments")
                params = (_json.encode(inserted),)
                if db.execute(_BATCH_INSERT_SEGMENTS, params).rowcount == len(inserted):
                    charged = [row[0] for row in inserted]
                else:
                    # some were ignored (there already: a carrier's answer given twice): again, and
                    # count only the rows SQLite says it inserted
                    db.execute("ROLLBACK TO segments")
                    charged = [i for (i,) in db.execute(_BATCH_INSERT_SEGMENTS + " RETURNING message_id", params)]
                db.execute("RELEASE segments")
                count_segments(db, charged)
            if results:
                db.execute(_BATCH_SEGMENT_RESULTS, (_json.encode(results),))
            for outcome, rows in finals.items():
                count_finals(db, outcome, [row[0] for row in rows])
                db.execute(_BATCH_MARK_FINAL, (*outcome, _json.encode(rows)))
            if charges:
                db.executemany(_CHARGE, [(n, app) for app, n in charges.items()])
            for statements, future in writes:
                db.execute("SAVEPOINT one")
                try:
                    outcome = Outcome([], 0)
                    for sql, params in statements:
                        cursor = db.execute(sql, params)
                        outcome = Outcome(cursor.fetchall(), cursor.rowcount)
                except Exception as exc:
                    # if SQLite itself gave up the transaction (disk full, I/O), this raises and the
                    # whole commit fails below, as it must
                    db.execute("ROLLBACK TO one")
                    log.warning("store.write_failed", sql=sql, error=repr(exc))
                    outcome = exc
                db.execute("RELEASE one")
                if future is not None:
                    outcomes.append((future, outcome))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return outcomes
