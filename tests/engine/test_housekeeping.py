"""Retention: final records older than the retention period are purged, the rest kept."""

import sqlite3
import time

from smsengine.domain.limits import RateLimiter
from smsengine.engine.housekeeping import Housekeeping
from smsengine.engine.records import MessageFinal, MessageRecord, MessageStatus
from smsengine.engine.store import Store


async def test_purge_removes_only_old_final_messages(tmp_path):
    store = Store(tmp_path / "h.db")
    await store.open()
    try:
        now = time.time()
        old, recent = now - 200 * 86400, now - 10 * 86400
        records = [
            MessageRecord(id=i, app_id="a", phone=f"+8613800000{i:03d}", content="x", type="regular", chars=1,
                          segments=1, data_coding=8, created_at=old if i <= 5 else recent)
            for i in range(1, 11)
        ]
        await store.accept(records)
        for r in records:
            store.segment_submitted(r.id, 1, "c", f"m{r.id}", r.created_at)
            if r.id != 3:  # message 3 is old but never became final: it must be kept
                store.message_final(MessageFinal(r.id, "a", r.phone, MessageStatus.DELIVERED, 0, "DELIVRD",
                                                 r.created_at, r.created_at + 1))
        await store.flush()
        keeper = Housekeeping(store, RateLimiter(), retention_days=180, purge_batch=3)  # two batches
        assert await keeper.purge(now) == 4
        assert keeper.purged == 4
        with sqlite3.connect(store.path) as conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM messages ORDER BY id")]
            segs = [row[0] for row in conn.execute("SELECT message_id FROM segments ORDER BY message_id")]
        assert ids == [3, 6, 7, 8, 9, 10]
        assert segs == ids
        assert await keeper.purge(now) == 0
    finally:
        await store.close()


async def test_replies_and_link_clicks_past_retention_are_purged_in_batches(tmp_path):
    store = Store(tmp_path / "h.db")
    await store.open()
    try:
        now = time.time()
        old, recent = now - 200 * 86400, now - 10 * 86400
        for i in range(7):
            store.add_reply("a", f"+861380000000{i}", f"reply {i}", "c", old if i < 5 else recent)
        with sqlite3.connect(store.path) as conn:
            conn.executemany("INSERT INTO link_clicks (code, at, user_agent) VALUES (?, ?, '')",
                             [("abc", old if i < 4 else recent) for i in range(6)])
        await store.flush()
        await Housekeeping(store, RateLimiter(), retention_days=180, purge_batch=2).purge(now)
        with sqlite3.connect(store.path) as conn:
            replies = [row[0] for row in conn.execute("SELECT text FROM replies ORDER BY id")]
            clicks = conn.execute("SELECT COUNT(*), MIN(at) FROM link_clicks").fetchone()
        assert replies == ["reply 5", "reply 6"]
        assert clicks == (2, recent)
    finally:
        await store.close()


async def test_finished_tasks_past_retention_are_purged_with_their_rows(tmp_path):
    from smsengine.domain.task_csv import RowProblem
    from smsengine.engine.records import TaskRecord

    store = Store(tmp_path / "h.db")
    await store.open()
    try:
        now = time.time()
        old, recent = now - 200 * 86400, now - 10 * 86400

        def task(created_at: float, state: str) -> TaskRecord:
            return TaskRecord(id=0, app_id="a", name="t", type="regular", sign="", template_id=1, template_text="x",
                              context="", callback_url="", created_at=created_at, schedule_at=None, state=state,
                              recipients=1)

        problem = [RowProblem(2, "x", 1016, "not a valid phone number")]
        done_old = await store.create_task(task(old, "completed"), [], problem)
        scheduled_old = await store.create_task(task(old, "scheduled"), [(1, "+8613800000001", ())], problem)
        done_recent = await store.create_task(task(recent, "cancelled"), [], problem)
        await Housekeeping(store, RateLimiter(), retention_days=180).purge(now)
        with sqlite3.connect(store.path) as conn:
            tasks = [row[0] for row in conn.execute("SELECT id FROM tasks ORDER BY id")]
            problems = [row[0] for row in conn.execute("SELECT task_id FROM task_problems ORDER BY task_id")]
            rows = [row[0] for row in conn.execute("SELECT task_id FROM task_rows")]
        # an old task still waiting for its time is not finished: it stays, with its rows
        assert tasks == problems == [scheduled_old, done_recent] and rows == [scheduled_old]
        assert done_old not in tasks
    finally:
        await store.close()
