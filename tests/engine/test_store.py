"""The store: group commit durability, and one bad statement not failing everyone's commit."""

import asyncio
import sqlite3
import time

import pytest

from smsengine.engine.records import MessageRecord
from smsengine.engine.store import Store


def record(i: int) -> MessageRecord:
    return MessageRecord(id=i, app_id="a", phone=f"+86138{i:08d}", content="hello", type="regular", chars=5,
                         segments=1, data_coding=8, created_at=time.time())


async def test_concurrent_accepts_share_commits_and_are_durable(tmp_path):
    store = Store(tmp_path / "s.db", max_delay=0.005)
    await store.open()
    try:
        await asyncio.gather(*(store.accept([record(i * 10 + j) for j in range(10)]) for i in range(50)))
        assert store.commits < 50  # group commit: many callers, fewer transactions
        # a second connection sees every accepted row: they are committed, not just queued
        with sqlite3.connect(tmp_path / "s.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 500
    finally:
        await store.close()


async def test_a_failing_statement_fails_only_its_caller(tmp_path):
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        await store.execute_now("INSERT INTO signatures (app_id, name, status, created_at) VALUES ('a','x','p',0)")
        duplicate = store.execute_now(
            "INSERT INTO signatures (app_id, name, status, created_at) VALUES ('a','x','p',0)")
        accepted = store.accept([record(1), record(2)])
        results = await asyncio.gather(duplicate, accepted, return_exceptions=True)
        assert isinstance(results[0], sqlite3.IntegrityError)
        assert results[1] is None
        rows = await store.fetchall("SELECT id FROM messages ORDER BY id")
        assert rows == [(1,), (2,)]
        await store.accept([record(3)])  # and the store goes on working
        assert store.failure is None
    finally:
        await store.close()


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
    finally:
        await store.close()


async def test_batched_json_writes_keep_every_value_exact(tmp_path):
    """The writer hands SQLite whole batches as JSON: types, unicode, NULLs and floats survive."""
    from smsengine.engine.records import MessageFinal, MessageStatus

    store = Store(tmp_path / "s.db")
    await store.open()
    try:
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
        row = await store.fetchone(
            "SELECT content, context, template_id, scheduled_at, created_at, typeof(id), status, code, remark,"
            " submitted_at, final_at, carrier, cursor FROM messages WHERE id=42")
        assert row == (rec.content, '{"k": 1}', None, None, created, "integer", "failed", 60002,
                       "UNDELIV err:001", created + 0.5, created + 1.5, "c", 1)
        segs = await store.fetchall("SELECT seq, carrier_message_id, stat, err, done_at FROM segments ORDER BY seq")
        assert segs == [(1, "0a1b", "DELIVRD", "000", created + 1.25), (2, "0a1c", "UNDELIV", "001", created + 1.5)]
    finally:
        await store.close()
