"""The store: group commit durability, one bad write failing only its caller, and every named
query against a real SQLite file (read back through a connection of the test's own)."""

import asyncio
import csv
import io
import sqlite3
import tempfile
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsengine.domain.accounts import AccountType
from smsengine.domain.review import ReviewStatus
from smsengine.domain.templates import MessageType, TemplateRegion
from smsengine.engine.records import MessageFilter, MessageFinal, MessageRecord, MessageStatus
from smsengine.engine.store import (
    AccountRow,
    MessageView,
    ReplyView,
    SignatureRow,
    Store,
    StoreError,
    TemplateRow,
    UnsubscribeRow,
)
from tests.support.polling import eventually

REVIEWED = ReviewStatus.APPROVED


def record(i: int, app_id: str = "a", segments: int = 1, created_at: float | None = None) -> MessageRecord:
    return MessageRecord(id=i, app_id=app_id, phone=f"+86138{i:08d}", content="hello", type="regular", chars=5,
                         segments=segments, data_coding=8, created_at=created_at or time.time())


def final(rec: MessageRecord, at: float, status: MessageStatus = MessageStatus.DELIVERED) -> MessageFinal:
    return MessageFinal(rec.id, rec.app_id, rec.phone, status, 0, "DELIVRD", at - 1, at, carrier="c")


def account(app_id: str = "a", **changes) -> AccountRow:
    fields = dict(app_id=app_id, key="k", type=AccountType.ORGANISATION, raw_content=True, balance=100,
                  state="active", utc_offset_minutes=480, receipt_url="")
    return AccountRow(**(fields | changes))


def durable(store: Store, sql: str, params: tuple = ()) -> list[tuple]:
    """What another connection sees: committed rows only."""
    with sqlite3.connect(store.path) as conn:
        return conn.execute(sql, params).fetchall()


# -- the writer -------------------------------------------------------------------------------------------
async def test_concurrent_accepts_share_commits_and_are_durable(tmp_path):
    store = Store(tmp_path / "s.db", max_delay=0.005)
    await store.open()
    try:
        await asyncio.gather(*(store.accept([record(i * 10 + j) for j in range(10)]) for i in range(50)))
        assert store.commits < 50  # group commit: many callers, fewer transactions
        # a second connection sees every accepted row: they are committed, not just queued
        assert durable(store, "SELECT COUNT(*) FROM messages") == [(500,)]
    finally:
        await store.close()


async def test_a_write_failing_with_any_error_fails_only_its_caller(store):
    """2**63 does not fit SQLite's integer: OverflowError when binding, not a DatabaseError."""
    assert await store.insert_account(account(), 0.0)
    overflow = store.add_balance("a", 2**63)
    accepted = store.accept([record(1), record(2)])
    results = await asyncio.gather(overflow, accepted, return_exceptions=True)
    assert isinstance(results[0], StoreError) and isinstance(results[0].__cause__, OverflowError)
    assert results[1] is None
    assert durable(store, "SELECT id FROM messages ORDER BY id") == [(1,), (2,)]
    assert await store.balance_of("a") == 100  # rolled back alone
    await store.accept([record(3)])  # and the store goes on working
    await store.add_balance("a", 5)
    assert await store.balance_of("a") == 105
    assert store.failure is None and store.writable


async def test_a_failing_write_nobody_waits_for_is_dropped_not_retried_forever(store):
    store.add_reply("a", "+8613800000001", "hi", "c", 2**63)  # cannot be bound
    store.add_reply("a", "+8613800000002", "ok", "c", 1.0)
    await store.accept([record(1)])
    await store.flush()  # an accept returns after its own transaction: wait for the whole group commit
    commits = store.commits
    await store.accept([record(2)])
    await store.flush()
    assert store.commits == commits + 1 and store.failure is None
    assert [r.phone for r in await store.replies_since("a", 0, 10)] == ["+8613800000002"]


async def test_a_failed_commit_shows_until_the_next_one_succeeds(store):
    assert store.writable
    broken = record(1)
    broken.content = object()  # cannot be encoded: the whole batch fails, as a full disk would
    with pytest.raises(StoreError):
        await store.accept([broken])
    assert not store.writable and store.failures == 1
    # the retry after the backoff has nothing left to write (a failed accept is not retried): that
    # is no commit, and the store still shows the failure
    await eventually(lambda: store._round is None)
    assert not store.writable and store.failures == 1
    await store.accept([record(2)])
    assert store.writable and store.failure is None
    assert durable(store, "SELECT id FROM messages") == [(2,)]


class WriteLock:
    """Another connection holding SQLite's write lock: the writer's next commit waits for it
    (busy_timeout), as behind a slow disk."""

    def __init__(self, path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.close()


async def test_an_empty_accept_during_a_commit_is_answered_after_it(store):
    """An accept with nothing in it while a commit is on the writer thread: the round that follows
    answers it (nothing else comes to wake the writer)."""
    await store.accept([record(1)])
    lock = WriteLock(store.path)
    try:
        store.segment_submitted(1, 1, "c", "X1", 1.0)
        await eventually(lambda: store._inflight)  # the commit waits for the lock
        empty = asyncio.ensure_future(store.accept([]))
        await asyncio.sleep(0)
        assert not empty.done()
    finally:
        lock.release()
    await asyncio.wait_for(empty, 5)
    assert durable(store, "SELECT carrier_message_id FROM segments") == [("X1",)]


async def test_close_waits_for_the_commit_under_way_and_what_waits_behind_it(tmp_path):
    store = Store(tmp_path / "s.db")
    await store.open()
    await store.accept([record(1)])
    lock = WriteLock(store.path)
    store.segment_submitted(1, 1, "c", "X1", 1.0)
    await eventually(lambda: store._inflight)
    ran: list[str] = []
    store.when_durable(lambda: ran.append(durable(store, "SELECT carrier_message_id FROM segments")[0][0]))
    closing = asyncio.ensure_future(store.close())
    await asyncio.sleep(0.01)
    lock.release()
    await asyncio.wait_for(closing, 10)
    assert ran == ["X1"]  # run once what was queued before it was committed


async def test_accepts_stand_when_the_state_updates_of_their_group_commit_fail(store):
    """A group commit writes the accepts in a transaction of their own, then the state updates:
    a failure of the second (here a one-shot trigger standing for a full disk) fails those who
    wait for everything, not the accepts, and the updates are written by the next commit."""
    await store.accept([record(1)])
    with sqlite3.connect(store.path) as conn:  # the failure, switched on and off from outside
        conn.executescript("""
            CREATE TABLE failing (n INTEGER);
            INSERT INTO failing VALUES (1);
            CREATE TRIGGER fail_segments BEFORE INSERT ON segments WHEN (SELECT COUNT(*) FROM failing) > 0
            BEGIN SELECT RAISE(ABORT, 'disk full'); END;
        """)
    store.segment_submitted(1, 1, "c", "X1", 1.0)
    accepting = asyncio.ensure_future(store.accept([record(2)]))
    flushing = asyncio.ensure_future(store.flush())
    await accepting  # answered: its rows are committed
    with pytest.raises(StoreError):
        await flushing  # the segment is not
    assert durable(store, "SELECT id FROM messages ORDER BY id") == [(1,), (2,)]
    assert durable(store, "SELECT COUNT(*) FROM segments") == [(0,)]
    assert not store.writable
    # while the updates cannot be written, new sends are refused (as a full disk refused them before)
    with pytest.raises(StoreError):
        await store.accept([record(4)])
    with sqlite3.connect(store.path) as conn:
        conn.execute("DELETE FROM failing")
    await eventually(lambda: store.writable)  # the writer retries the requeued updates by itself, backing off
    await store.accept([record(3)])
    await store.flush()
    assert durable(store, "SELECT message_id, carrier_message_id FROM segments") == [(1, "X1")]  # requeued, written once
    assert durable(store, "SELECT id FROM messages ORDER BY id") == [(1,), (2,), (3,)]
    assert store.writable and store.failures == 0


async def test_when_durable_runs_after_the_commit_of_what_was_queued_before_it(store):
    await store.accept([record(1)])
    await store.flush()  # an accept is answered after its own transaction, before its group commit ends
    order: list[str] = []
    store.when_durable(lambda: order.append("nothing pending"))  # at once (next loop turn)
    await asyncio.sleep(0)
    assert order == ["nothing pending"]
    store.segment_submitted(1, 1, "a", "X", 1.0)
    store.when_durable(lambda: order.append(
        f"after the commit: {durable(store, 'SELECT carrier_message_id FROM segments')}"))
    assert order == ["nothing pending"]
    await store.flush()
    assert order == ["nothing pending", "after the commit: [('X',)]"]


async def test_when_durable_waits_out_a_failed_commit(store):
    called: list[bool] = []
    broken = record(1)
    broken.content = object()  # the whole batch fails, as a full disk would
    accepting = asyncio.ensure_future(store.accept([broken]))
    store.when_durable(lambda: called.append(store.writable))
    with pytest.raises(StoreError):
        await accepting
    await store.accept([record(2)])
    # not run after the failed commit: after the retry that succeeded (the store was writable)
    assert called == [True]


async def test_finals_of_different_outcomes_are_each_written_even_after_a_failed_commit(store):
    """Finals are written grouped by outcome: each keeps its own, and a commit that fails (here a
    broken accept riding it) leaves them queued for the next one."""
    recs = [record(i, created_at=1795300000.0) for i in (1, 2, 3)]
    await store.accept(recs)
    accepting = asyncio.ensure_future(store.accept([MessageRecord(
        id=9, app_id="a", phone="+8613800000009", content=object(), type="regular", chars=5, segments=1,  # type: ignore[arg-type]
        data_coding=8, created_at=1.0)]))
    cursors = [
        store.message_final(final(recs[0], 10.0)),
        store.message_final(MessageFinal(2, "a", recs[1].phone, MessageStatus.FAILED, 60002, "UNDELIV err:001", 9.0,
                                         10.5, carrier="c")),
        store.message_final(MessageFinal(3, "a", recs[2].phone, MessageStatus.DELIVERED, 0, "DELIVRD", 9.5, 11.0,
                                         carrier="d")),
    ]
    with pytest.raises(StoreError):
        await accepting
    await store.flush()
    assert durable(store, "SELECT id, status, code, remark, carrier, cursor, submitted_at, final_at FROM messages"
                          " ORDER BY id") == [
        (1, "delivered", 0, "DELIVRD", "c", cursors[0], 9.0, 10.0),
        (2, "failed", 60002, "UNDELIV err:001", "c", cursors[1], 9.0, 10.5),
        (3, "delivered", 0, "DELIVRD", "d", cursors[2], 9.5, 11.0),
    ]
    assert sorted(durable(store, "SELECT status, carrier, messages FROM message_counts WHERE messages > 0")) == [
        ("delivered", "c", 1), ("delivered", "d", 1), ("failed", "c", 1)]


async def test_a_counts_remark_is_the_latest_finals_even_when_finals_are_written_grouped(store):
    """Finals are written grouped by outcome; the group holding the latest final goes last, so the
    statistics' "latest remark given with this code" is the latest final's, also after a retry."""
    recs = [record(i, created_at=1795300000.0) for i in range(1, 7)]
    await store.accept(recs)

    def failed(rec, remark):
        return MessageFinal(rec.id, "a", rec.phone, MessageStatus.FAILED, 60001, remark, 9.0, 10.0, carrier="c")

    for rec, remark in zip(recs[:3], ["submit refused 0x58", "submit refused 0x14", "submit refused 0x58"]):
        store.message_final(failed(rec, remark))
    await store.flush()
    assert durable(store, "SELECT remark, messages FROM message_counts WHERE status='failed'") == [
        ("submit refused 0x58", 3)]
    # a commit that fails takes 0x14 back into the queue; 0x58 comes after it and must stay the latest
    accepting = asyncio.ensure_future(store.accept([MessageRecord(
        id=9, app_id="a", phone="+8613800000009", content=object(), type="regular", chars=5, segments=1,  # type: ignore[arg-type]
        data_coding=8, created_at=1.0)]))
    store.message_final(failed(recs[3], "submit refused 0x14"))
    with pytest.raises(StoreError):
        await accepting
    store.message_final(failed(recs[4], "submit refused 0x58"))
    await store.flush()
    assert durable(store, "SELECT remark, messages FROM message_counts WHERE status='failed'") == [
        ("submit refused 0x58", 5)]


async def test_writes_after_close_are_refused(tmp_path):
    store = Store(tmp_path / "s.db")
    await store.open()
    await store.close()
    assert not store.writable and not store.is_open
    with pytest.raises(StoreError):
        await store.set_state("a", "suspended")


async def test_messages_survive_a_reopen(tmp_path):
    store = Store(tmp_path / "s.db")
    await store.open()
    await store.accept([record(7)])
    store.segment_submitted(7, 1, "c", "abc", time.time())
    await store.close()
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        (rec, done), = await store.open_messages()
        assert rec.id == 7 and done == {1: ("c", "abc")}
        assert await store.max_message_id() == 7
    finally:
        await store.close()


async def test_a_messages_vendor_tlvs_survive_a_reopen_and_an_older_file_gains_the_column(tmp_path):
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:  # a messages table from before vendor TLVs
        conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, app_id TEXT NOT NULL, phone TEXT NOT NULL,"
                     " content TEXT NOT NULL, type TEXT NOT NULL, chars INTEGER NOT NULL, segments INTEGER NOT NULL,"
                     " data_coding INTEGER NOT NULL, status TEXT NOT NULL, code INTEGER NOT NULL DEFAULT 0,"
                     " remark TEXT NOT NULL DEFAULT '', carrier TEXT NOT NULL DEFAULT '', context TEXT NOT NULL"
                     " DEFAULT '', template_id INTEGER, created_at REAL NOT NULL, scheduled_at REAL,"
                     " submitted_at REAL, final_at REAL, cursor INTEGER)")
        conn.execute("INSERT INTO messages (id, app_id, phone, content, type, chars, segments, data_coding, status,"
                     " created_at) VALUES (1, 'a', '+8613800000001', 'old', 'regular', 3, 1, 8, 'accepted', 1.0)")
    block = bytes.fromhex("14000003313233" "3fff0000" "14010002000a")  # NULs, an empty value: octets as given
    store = Store(path)
    await store.open()
    try:
        await store.accept([msgspec.structs.replace(record(2), tlvs=block), record(3)])
    finally:
        await store.close()
    assert durable(store, "SELECT id, tlvs FROM messages ORDER BY id") == [(1, None), (2, block.hex()), (3, None)]
    store = Store(path)
    await store.open()
    try:
        assert [(rec.id, rec.tlvs) for rec, _ in await store.open_messages()] == [(1, None), (2, block), (3, None)]
    finally:
        await store.close()


async def test_status_report_cursors_continue_after_a_reopen(tmp_path):
    store = Store(tmp_path / "s.db")
    await store.open()
    await store.accept([record(1), record(2)])
    assert [store.message_final(final(record(i), 10.0)) for i in (1, 2)] == [1, 2]
    await store.close()
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        await store.accept([record(3)])
        assert store.message_final(final(record(3), 11.0)) == 3
    finally:
        await store.close()


async def test_batched_json_writes_keep_every_value_exact(store):
    """The writer hands SQLite whole batches as JSON: types, unicode, NULLs and floats survive."""
    created = 1795300000.123456
    rec = MessageRecord(id=42, app_id="a", phone="+8613800138000", content='【签名】引号" \\ 😀 \n end',
                        type="marketing", chars=20, segments=2, data_coding=8, created_at=created,
                        scheduled_at=None, context='{"k": 1}', template_id=None)
    await store.accept([rec])
    store.segment_submitted(42, 1, "c", "0a1b", created + 0.5)
    await store.flush()  # seq 1 committed before its receipt: the result is an UPDATE
    store.segment_result(42, 1, "DELIVRD", "000", created + 1.25)
    store.segment_submitted(42, 2, "c", "0a1c", created + 0.5)
    store.segment_result(42, 2, "UNDELIV", "001", created + 1.5)  # folded into the insert
    store.message_final(MessageFinal(42, "a", rec.phone, MessageStatus.FAILED, 60002, "UNDELIV err:001",
                                     created + 0.5, created + 1.5, carrier="c"))
    await store.flush()
    row = durable(store,
                  "SELECT content, context, template_id, scheduled_at, created_at, typeof(id), status, code, remark,"
                  " submitted_at, final_at, carrier, cursor FROM messages WHERE id=42")
    assert row == [(rec.content, '{"k": 1}', None, None, created, "integer", "failed", 60002,
                    "UNDELIV err:001", created + 0.5, created + 1.5, "c", 1)]
    segs = durable(store, "SELECT seq, carrier_message_id, stat, err, done_at FROM segments ORDER BY seq")
    assert segs == [(1, "0a1b", "DELIVRD", "000", created + 1.25), (2, "0a1c", "UNDELIV", "001", created + 1.5)]


@pytest.mark.parametrize("shared", [
    dict(),
    dict(scheduled_at=1795300900.5, template_id=7, context='{"k": "é"}', tlvs=b"\x14\x00\x00\x01\x02",
         callback_url="http://127.0.0.1:9/cb", task_id=3, type="marketing", status=MessageStatus.CANCELLED),
])
async def test_a_requests_messages_written_in_one_statement_are_the_rows_written_one_by_one(tmp_path, shared):
    """A send's messages go to SQLite as one statement binding what they share; the same records
    written row by row (as a task's rows with texts of their own are) give the same rows and counts."""
    created = 1795300000.123456
    records = [MessageRecord(id=100 + i, app_id="a", phone=f"+86139{i:08d}", content='【签名】引号" \\ 😀',
                             chars=12, segments=2, data_coding=8, created_at=created,
                             **({"type": "regular"} | shared)) for i in range(5)]
    tables = ("SELECT * FROM messages ORDER BY id", "SELECT * FROM message_counts", "SELECT * FROM request_counts",
              "SELECT * FROM task_counts")
    seen = []
    for name, batches in (("one", [records]), ("each", [[r] for r in records])):
        s = Store(tmp_path / f"{name}.db")
        await s.open()
        try:
            for batch in batches:
                await s.accept(batch)
            seen.append([durable(s, sql) for sql in tables])
        finally:
            await s.close()
    assert seen[0] == seen[1]
    assert len(seen[0][0]) == 5 and seen[0][2][0][2] == 1  # five messages, one request


async def test_messages_not_of_one_request_are_written_row_by_row(store):
    """Ids that do not follow each other, or texts that differ: each row as it is."""
    at = time.time()
    mixed = [record(7, created_at=at), record(9, created_at=at), MessageRecord(
        id=10, app_id="a", phone="+8613800000010", content="other", type="regular", chars=5, segments=1,
        data_coding=8, created_at=at)]
    await store.accept(mixed)
    rows = durable(store, "SELECT id, phone, content FROM messages ORDER BY id")
    assert rows == [(7, "+8613800000007", "hello"), (9, "+8613800000009", "hello"), (10, "+8613800000010", "other")]


# -- accounts ---------------------------------------------------------------------------------------------
async def test_an_account_is_inserted_once_and_read_back_typed(store):
    assert await store.insert_account(account("a", type=AccountType.INDIVIDUAL, raw_content=False), 0.0)
    assert not await store.insert_account(account("a", key="other"), 0.0)
    assert await store.insert_account(account("b", balance=7, utc_offset_minutes=-300), 0.0)
    rows = await store.account_rows()
    assert sorted(rows, key=lambda r: r.app_id) == [
        account("a", type=AccountType.INDIVIDUAL, raw_content=False), account("b", balance=7, utc_offset_minutes=-300)
    ]
    (b,) = await store.account_rows("b")
    assert b.raw_content is True and b.type is AccountType.ORGANISATION


async def test_a_reseeded_account_keeps_balance_and_state_and_fills_only_an_empty_receipt_url(store):
    await store.insert_account(account("a"), 0.0)
    await store.set_state("a", "suspended")
    await store.update_account_seed(account("a", key="new", type=AccountType.INDIVIDUAL, balance=999,
                                            receipt_url="http://x/1"))
    (row,) = await store.account_rows("a")
    assert (row.key, row.type, row.balance, row.state, row.receipt_url) == (
        "new", AccountType.INDIVIDUAL, 100, "suspended", "http://x/1")
    await store.update_account_seed(account("a", receipt_url="http://x/2"))
    assert (await store.account_rows("a"))[0].receipt_url == "http://x/1"


async def test_account_settings_and_balance_are_durable_when_the_call_returns(store):
    await store.insert_account(account("a"), 0.0)
    await store.set_receipt_url("a", "http://x/r")
    await store.set_state("a", "suspended")
    await store.add_balance("a", 50)
    assert durable(store, "SELECT receipt_url, state, balance FROM accounts") == [("http://x/r", "suspended", 150)]
    await store.add_balance("a", -20)
    assert await store.balance_of("a") == 130
    assert await store.balance_of("nobody") is None


async def test_balance_of_counts_charges_still_queued(store):
    await store.insert_account(account("a"), 0.0)
    store.charge("a", 3)
    store.charge("a", 4)
    assert await store.balance_of("a") == 93


async def test_push_cursor_starts_at_zero_and_only_moves_forward(store):
    await store.insert_account(account("a"), 0.0)
    assert await store.pushed_cursor("a") == 0
    await store.set_pushed_cursor("a", 10)
    await store.set_pushed_cursor("a", 4)
    assert await store.pushed_cursor("a") == 10
    assert durable(store, "SELECT pushed_cursor FROM accounts") == [(10,)]
    assert await store.pushed_cursor("nobody") == 0


# -- signatures and templates -----------------------------------------------------------------------------
async def test_a_push_cursor_can_be_set_back_and_reports_carry_their_callback_url(store):
    await store.insert_account(account("a"), 0.0)
    recs = [record(1), msgspec.structs.replace(record(2), callback_url="https://example.com/own"), record(3)]
    await store.accept(recs)
    for rec in recs:
        store.message_final(final(rec, 50.0))
    await store.set_pushed_cursor("a", 3)
    await store.reset_pushed_cursor("a", 1)  # a backlog asked for again
    assert await store.pushed_cursor("a") == 1
    pushed = await store.receipts_to_push("a", 1, 10)
    assert [(url, view.message_id, view.cursor) for url, view in pushed] == [
        ("https://example.com/own", "2", 2), ("", "3", 3)]
    assert [view.message_id for _, view in await store.receipts_to_push("a", 0, 1)] == ["1"]


async def test_an_older_file_gaining_callback_urls_starts_accounts_without_a_receipt_url_from_now(tmp_path):
    """Before per-message URLs, an account without a receipt_url had nothing to push: when the
    column arrives, its cursor moves to the newest report instead of pushing its whole history
    at the next start; an account with a URL keeps its backlog. Once, at that open only."""
    path = tmp_path / "s.db"
    store = Store(path)
    await store.open()
    await store.insert_account(account("plain"), 0.0)
    await store.insert_account(account("hooked", receipt_url="https://example.com/receipts"), 0.0)
    recs = [record(i, app_id="plain" if i % 2 else "hooked") for i in range(1, 7)]
    await store.accept(recs)
    for rec in recs:
        store.message_final(final(rec, 50.0))
    await store.set_pushed_cursor("hooked", 2)
    await store.close()
    with sqlite3.connect(path) as conn:  # the messages table as it was before callback_url
        conn.execute("ALTER TABLE messages DROP COLUMN callback_url")
    store = Store(path)
    await store.open()
    try:
        assert await store.pushed_cursor("plain") == 6
        assert await store.pushed_cursor("hooked") == 2
        assert [(url, v.message_id) for url, v in await store.receipts_to_push("hooked", 2, 10)] == [
            ("", "4"), ("", "6")]
        await store.reset_pushed_cursor("plain", 1)
    finally:
        await store.close()
    store = Store(path)
    await store.open()
    try:
        assert await store.pushed_cursor("plain") == 1  # the column is there: nothing moves it again
    finally:
        await store.close()


async def test_signatures_get_their_own_ids_and_a_taken_name_none(store):
    ids = await asyncio.gather(*(store.insert_signature("a", f"Name{i}", ReviewStatus.PENDING, 0.0) for i in range(10)))
    assert len(set(ids)) == 10
    assert await store.insert_signature("a", "Name3", ReviewStatus.PENDING, 0.0) is None
    other = await store.insert_signature("b", "Name3", REVIEWED, 0.0)  # names are per account
    by_id = {r.id: r for r in await store.signature_rows()}
    assert [by_id[sid].name for sid in ids] == [f"Name{i}" for i in range(10)]
    assert await store.signature_rows("b") == [SignatureRow(other, "b", "Name3", REVIEWED, "")]


async def test_a_signature_review_is_stored(store):
    sid = await store.insert_signature("a", "Acme", ReviewStatus.PENDING, 0.0)
    await store.update_signature_review(sid, ReviewStatus.REJECTED, "not your brand")
    assert await store.signature_rows("a") == [SignatureRow(sid, "a", "Acme", ReviewStatus.REJECTED, "not your brand")]


async def test_templates_created_together_get_their_own_ids(store):
    texts = [f"Notice {i}: {{1}}" for i in range(20)]
    ids = await asyncio.gather(*(store.insert_template("a", t, MessageType.REGULAR, TemplateRegion.MAINLAND,
                                                       ReviewStatus.PENDING, 0.0) for t in texts))
    assert len(set(ids)) == 20
    by_id = {r.id: r.text for r in await store.template_rows("a")}
    assert [by_id[i] for i in ids] == texts


async def test_a_template_with_a_given_id_is_inserted_once(store):
    tid = await store.insert_template("a", "Code {1}", MessageType.MARKETING, TemplateRegion.INTERNATIONAL,
                                      REVIEWED, 0.0, template_id=901)
    assert tid == 901
    assert await store.insert_template("b", "Other {1}", MessageType.REGULAR, TemplateRegion.MAINLAND,
                                       REVIEWED, 0.0, template_id=901) is None
    assert await store.template_owner(901) == "a"
    assert await store.template_owner(902) is None
    fresh = await store.insert_template("b", "Next {1}", MessageType.REGULAR, TemplateRegion.MAINLAND,
                                        ReviewStatus.PENDING, 0.0)
    assert fresh == 902  # after the highest id
    await store.update_template_review(fresh, ReviewStatus.REJECTED, "too vague")
    assert await store.template_rows() == [
        TemplateRow(901, "a", "Code {1}", MessageType.MARKETING, TemplateRegion.INTERNATIONAL, REVIEWED, ""),
        TemplateRow(902, "b", "Next {1}", MessageType.REGULAR, TemplateRegion.MAINLAND, ReviewStatus.REJECTED,
                    "too vague"),
    ]


# -- unsubscribes and replies -----------------------------------------------------------------------------
async def test_unsubscribes_ride_the_next_commit(store):
    store.add_unsubscribe("a", "+8613800000001", 1.0)
    store.add_unsubscribe("a", "+8613800000001", 2.0)  # once
    store.add_unsubscribe("b", "+8613800000002", 1.0)
    assert durable(store, "SELECT COUNT(*) FROM unsubscribes") == [(0,)]  # queued, not yet committed
    await store.flush()
    assert await store.unsubscribe_rows("a") == [UnsubscribeRow("a", "+8613800000001")]
    store.remove_unsubscribe("a", "+8613800000001")
    await store.flush()
    assert await store.unsubscribe_rows() == [UnsubscribeRow("b", "+8613800000002")]


async def test_replies_page_by_cursor_per_account(store):
    for i in range(5):
        store.add_reply("a", f"+861380000000{i}", f"text {i}", "c", 100.0 + i)
    store.add_reply("b", "+8613800000009", "other", "c", 1.0)
    await store.flush()
    first = await store.replies_since("a", 0, 3)
    assert [r.text for r in first] == ["text 0", "text 1", "text 2"]
    assert first[0] == ReplyView(first[0].cursor, "+8613800000000", "text 0", "c", 100.0)
    rest = await store.replies_since("a", first[-1].cursor, 3)
    assert [r.text for r in rest] == ["text 3", "text 4"]
    assert await store.replies_since("a", rest[-1].cursor, 3) == []


# -- messages ---------------------------------------------------------------------------------------------
async def test_message_view_reads_submitted_from_segments_until_final(store):
    rec = record(5, segments=2, created_at=100.0)
    assert await store.message_view(5) is None
    await store.accept([rec])
    view = await store.message_view(5)
    assert isinstance(view, MessageView)
    assert (view.status, view.submitted_at, view.carrier, view.final_at) == (MessageStatus.ACCEPTED, None, "", None)
    store.segment_submitted(5, 2, "slow", "m2", 103.0)
    store.segment_submitted(5, 1, "fast", "m1", 102.0)
    await store.flush()
    view = await store.message_view(5)
    assert (view.status, view.submitted_at, view.carrier) == (MessageStatus.SUBMITTED, 102.0, "fast")
    store.message_final(MessageFinal(5, "a", rec.phone, MessageStatus.DELIVERED, 0, "DELIVRD", 102.0, 110.0,
                                     carrier="fast"))
    await store.flush()
    view = await store.message_view(5)
    assert view == MessageView("5", "a", rec.phone, MessageStatus.DELIVERED, 0, "DELIVRD", "hello", "regular", 5, 2,
                              "fast", "", 100.0, None, 102.0, 110.0)


async def test_receipts_come_in_cursor_order_per_account(store):
    recs = [record(i, app_id="a" if i % 2 else "b") for i in range(1, 7)]
    await store.accept(recs)
    for rec in reversed(recs):
        store.message_final(final(rec, 50.0))
    await store.flush()
    page = await store.receipts_since("a", 0, 2)
    assert [(r.message_id, r.cursor) for r in page] == [("5", 2), ("3", 4)]
    assert [r.message_id for r in await store.receipts_since("a", 4, 10)] == ["1"]


async def test_reserved_segments_are_the_unsent_ones_of_open_messages(store):
    await store.accept([record(1, "a", segments=3), record(2, "a", segments=2), record(3, "b", segments=4),
                        record(4, "b", segments=1)])
    store.segment_submitted(1, 1, "c", "x", 1.0)
    store.message_final(final(record(4, "b"), 5.0))  # final: nothing reserved
    await store.flush()
    assert await store.reserved_segments_by_account() == {"a": 4, "b": 4}
    assert await store.reserved_segments_by_account("a") == {"a": 4}


async def test_purge_deletes_old_final_messages_in_batches_with_their_segments(store):
    old = [record(i, created_at=1.0) for i in range(1, 8)]
    await store.accept(old + [record(8, created_at=1.0), record(9, created_at=500.0)])
    for rec in old + [record(9)]:
        store.segment_submitted(rec.id, 1, "c", f"m{rec.id}", 1.0)
    for rec in old:
        store.message_final(final(rec, 10.0))
    store.message_final(final(record(9), 500.0))  # final, but after the horizon
    await store.flush()
    assert [await store.purge_before(100.0, 3) for _ in range(4)] == [3, 3, 1, 0]
    assert durable(store, "SELECT id FROM messages ORDER BY id") == [(8,), (9,)]  # 8 never became final
    assert durable(store, "SELECT message_id FROM segments") == [(9,)]


async def test_first_message_since_bisects_ids_with_gaps(store):
    assert await store.first_message_since(0.0) is None  # an empty store
    ids = [1, 2, 5, 6, 7, 20, 21, 40]  # gaps, as purges leave them
    times = [100.0, 100.0, 101.0, 105.0, 105.0, 110.0, 111.0, 120.0]  # one request shares a time
    await store.accept([record(i, created_at=t) for i, t in zip(ids, times)])
    for since in [0.0, 99.9, 100.0, 100.5, 101.0, 104.0, 105.0, 109.0, 110.0, 111.0, 115.0, 120.0]:
        expected = next(i for i, t in zip(ids, times) if t >= since)
        assert await store.first_message_since(since) == expected, since
    assert await store.first_message_since(120.1) is None
    rows = await store.sends_from(6, 3)
    assert [(r[0], r[4]) for r in rows] == [(6, 105.0), (7, 105.0), (20, 110.0)]


async def test_a_file_from_before_a_column_was_added_gets_it_when_opened(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the accounts table as it shipped before `limits`
        conn.execute("CREATE TABLE accounts (app_id TEXT PRIMARY KEY, key TEXT NOT NULL, type TEXT NOT NULL,"
                     " raw_content INTEGER NOT NULL DEFAULT 0, balance INTEGER NOT NULL DEFAULT 0,"
                     " state TEXT NOT NULL DEFAULT 'active', utc_offset_minutes INTEGER NOT NULL DEFAULT 480,"
                     " receipt_url TEXT NOT NULL DEFAULT '', pushed_cursor INTEGER NOT NULL DEFAULT 0,"
                     " created_at REAL NOT NULL)")
        conn.execute("INSERT INTO accounts (app_id, key, type, created_at) VALUES ('old', 'k', 'organisation', 1)")
    store = Store(path)
    await store.open()
    try:
        [row] = await store.account_rows("old")
        assert row.limits is None  # the defaults apply
        from smsengine.config import LimitsConfig
        await store.set_limits("old", LimitsConfig(daily_max=3))
        [row] = await store.account_rows("old")
        assert row.limits == LimitsConfig(daily_max=3)
    finally:
        await store.close()


# -- the CSV export -------------------------------------------------------------------------------------
TIMES = st.floats(0, 4e9, allow_nan=False)
# any character but NUL: none reaches the store (intake refuses it in texts, 1059 and 1004; a
# receipt's text is read up to its NUL), and printf's %s and %w, which build the CSV, stop at one;
# nor a lone surrogate (no UTF-8 for it: the JSON decoder refuses one, receipts are latin-1,
# replies decode with "replace")
STORED_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30)
EXPORTED = st.lists(st.tuples(STORED_TEXT, STORED_TEXT, STORED_TEXT.map(lambda t: t[:12]), TIMES, TIMES,
                              st.sampled_from(["accepted", "submitted", "delivered"])), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPORTED)
def test_the_csv_export_reads_back_as_the_records_list(messages):
    """SQLite writes each line with one printf: whatever the text (quotes, commas, line breaks, '%'),
    a CSV reader gets back the records list's values, times as SQLite prints the stored float, NULL
    as an empty field (texts without a NUL: see STORED_TEXT)."""
    async def export(path: Path) -> tuple[bytes, int, list[tuple]]:
        store = Store(path)
        await store.open()
        try:
            await store.accept([MessageRecord(id=i, app_id="a", phone=f"+86138{i:08d}", content=content,
                                              type="regular", chars=len(content), segments=2, data_coding=8,
                                              created_at=created, template_id=i if i % 2 else None)
                                for i, (content, _, _, created, _, _) in enumerate(messages, 1)])
            for i, (_, remark, carrier, _, at, status) in enumerate(messages, 1):
                if status == "submitted":
                    store.segment_submitted(i, 1, carrier, f"m{i}", at)
                elif status == "delivered":
                    store.message_final(MessageFinal(i, "a", f"+86138{i:08d}", MessageStatus.DELIVERED, 7, remark,
                                                     None, at, carrier=carrier))
            await store.flush()
            chunks: list[bytes] = []

            async def write(data: bytes) -> None:
                chunks.append(data)

            count = await store.export_csv(MessageFilter(app_id="a"), write, page=4)
            listed = await store.message_tuples(MessageFilter(app_id="a"), limit=len(messages))
            return b"".join(chunks), count, listed
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as tmp:
        data, count, listed = asyncio.run(export(Path(tmp) / "s.db"))
    with sqlite3.connect(":memory:") as conn:
        def text(value: object) -> str:  # as SQLite prints a value; NULL empty
            return "" if value is None else conn.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0]

        expected = [[text(value) for value in row] for row in listed]
    assert count == len(messages) == len(listed)
    assert data.endswith(b"\r\n")
    assert list(csv.reader(io.StringIO(data.decode(), newline=""))) == expected


# -- bulk tasks -----------------------------------------------------------------------------------------
async def test_a_tasks_rows_come_back_exactly_as_stored_in_line_order(store):
    from smsengine.engine.records import TaskRecord

    task = TaskRecord(id=0, app_id="a", name="t", type="regular", sign="", template_id=1, template_text="x",
                      context="", callback_url="", created_at=1.0, schedule_at=None, state="importing", recipients=4)
    odd = ['a "quoted", word', "back\\slash", "验证码 🙂", "", "nul\x00inside", '["not", "an array"]', "%s"]
    rows = [(2, "+8613800000001", tuple(odd[:2])), (3, "+8613800000002", tuple(odd[2:4])),
            (5, "+8613800000003", tuple(odd[4:6])), (9, "+8613800000004", (odd[6], "5"))]
    task_id = await store.create_task(task, rows, [])
    assert await store.task_rows_after(task_id, 0, 3) == rows[:3]
    assert await store.task_rows_after(task_id, 5, 10) == rows[3:]
