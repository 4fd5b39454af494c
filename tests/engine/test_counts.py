"""The statistics the store keeps as messages change (schema.COUNTS) always equal a scan of the
messages themselves: for any mix of accounts, days, statuses, carriers, segments and tasks; for
a file written before the counts existed (built once at open); and after a purge."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsengine.engine.records import MessageFinal, MessageRecord, MessageStatus
from smsengine.engine.store import Store

DAY0 = 1_764_460_800.0  # 2025-11-30 00:00 UTC
CARRIERS = ("ideal", "flaky")
OUTCOMES = [None, (MessageStatus.DELIVERED, 0, "DELIVRD err:000"), (MessageStatus.FAILED, 60002, "UNDELIV err:001"),
            (MessageStatus.FAILED, 60005, "REJECTD err:002"), (MessageStatus.EXPIRED, 60003, "expired"),
            (MessageStatus.CANCELLED, 0, "cancelled")]

message_spec = st.tuples(
    st.sampled_from(["a", "b"]),  # account
    st.floats(min_value=-3 * 3600, max_value=2 * 86400, allow_nan=False),  # created, around two days
    st.sampled_from(["+8613800000001", "+8613900000002", "+447700900123", "+12025550100"]),
    st.sampled_from(OUTCOMES),
    st.integers(min_value=0, max_value=3),  # segments submitted
    st.sampled_from(CARRIERS),
    st.sampled_from([None, 1, 2]),  # task
)


def scanned_day(path: Path, app_id: str, start: float, end: float) -> dict:
    """What the counts must say, from the messages themselves."""
    with sqlite3.connect(path) as db:
        where = "app_id=? AND created_at>=? AND created_at<?"
        span = (app_id, start, end)
        by = dict(db.execute(f"SELECT status, COUNT(*) FROM messages WHERE {where} GROUP BY status", span).fetchall())
        reasons = dict(db.execute(f"SELECT code, COUNT(*) FROM messages WHERE {where} AND status IN"
                                  " ('failed', 'expired') GROUP BY code", span).fetchall())
        carriers = db.execute(f"SELECT carrier, status, COUNT(*) FROM messages WHERE {where} AND carrier != ''"
                              " GROUP BY 1, 2", span).fetchall()
        prefixes = dict(db.execute(f"SELECT substr(phone, 1, 5), COUNT(*) FROM messages WHERE {where} GROUP BY 1",
                                   span).fetchall())
        segments = db.execute("SELECT COUNT(*) FROM segments s JOIN messages m ON m.id = s.message_id"
                              " WHERE m.app_id=? AND m.created_at>=? AND m.created_at<?", span).fetchone()[0]
        requests = db.execute(f"SELECT COUNT(DISTINCT created_at) FROM messages WHERE {where}", span).fetchone()[0]
    per_carrier: dict = {}
    for carrier, status, n in carriers:
        per_carrier.setdefault(carrier, {})[status] = n
    return {"by_status": by, "reasons": reasons, "carriers": per_carrier, "prefixes": prefixes,
            "segments": segments, "requests": requests, "messages": sum(by.values())}


def counted_day(stats) -> dict:
    return {"by_status": stats.by_status, "reasons": {code: n for code, (_, n) in stats.reasons.items()},
            "carriers": stats.carriers, "prefixes": stats.prefixes, "segments": stats.segments_charged,
            "requests": stats.requests, "messages": stats.messages}


def scanned_task(path: Path, task_id: int) -> tuple[dict, int]:
    with sqlite3.connect(path) as db:
        by = dict(db.execute("SELECT status, COUNT(*) FROM messages WHERE task_id=? GROUP BY status", (task_id,)))
        charged = db.execute("SELECT COUNT(*) FROM segments WHERE message_id IN"
                             " (SELECT id FROM messages WHERE task_id=?)", (task_id,)).fetchone()[0]
    return by, charged


async def play(store: Store, specs: list, first_id: int = 1) -> list[MessageRecord]:
    """Accept the messages (one request per account and created time, its messages with
    consecutive ids, as intake takes them), submit their segments, then end them, each step in
    group commits as the engine does."""
    requests: dict[tuple[str, float], list] = {}
    for spec in specs:
        requests.setdefault((spec[0], DAY0 + spec[1]), []).append(spec)  # the time as stored
    ordered = [spec for group in requests.values() for spec in group]
    records = [MessageRecord(id=first_id + i, app_id=app, phone=phone, content="x", type="regular", chars=1,
                             segments=3, data_coding=8, created_at=DAY0 + created, task_id=task)
               for i, (app, created, phone, _, _, _, task) in enumerate(ordered)]
    start = 0
    for group in requests.values():
        await store.accept(records[start:start + len(group)])
        start += len(group)
    for rec, (_, _, _, _, sent, carrier, _) in zip(records, ordered):
        for seq in range(1, sent + 1):
            store.segment_submitted(rec.id, seq, carrier, f"m{rec.id}.{seq}", rec.created_at + 1)
    await store.flush()
    for rec, (_, _, _, outcome, _, carrier, _) in zip(records, ordered):
        if outcome is not None:
            status, code, remark = outcome
            store.message_final(MessageFinal(rec.id, rec.app_id, rec.phone, status, code, remark,
                                             rec.created_at + 1, rec.created_at + 2, carrier=carrier))
    await store.flush()
    return records


async def check(store: Store, path: Path) -> None:
    for app_id in ("a", "b"):
        for day in (-1, 0, 1, 2):
            start = DAY0 + day * 86400
            assert counted_day(await store.day_counts(app_id, start, start + 86400)) == \
                scanned_day(path, app_id, start, start + 86400), (app_id, day)
        # an account 8 hours east of UTC: its day is another 96 slots
        start = DAY0 - 8 * 3600
        assert counted_day(await store.day_counts(app_id, start, start + 86400)) == \
            scanned_day(path, app_id, start, start + 86400)
    for task_id in (1, 2):
        by, charged = scanned_task(path, task_id)
        assert (await store.task_counts(task_id), await store.task_segments_charged(task_id)) == (by, charged)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(message_spec, min_size=1, max_size=40))
async def test_counts_equal_a_scan_of_the_messages(specs):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.db"
        store = Store(path)
        await store.open()
        try:
            await play(store, specs)
            await check(store, path)
        finally:
            await store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(message_spec, min_size=1, max_size=30), st.data())
async def test_counts_ignore_what_the_writer_is_given_twice(specs, data):
    """What a confused carrier or engine could hand the writer again counts nowhere: a segment
    accepted twice, a final for a message already final (in a later commit, or two in one commit),
    a request whose first ids are taken already."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.db"
        store = Store(path)
        await store.open()
        try:
            records = await play(store, specs)
            again = data.draw(st.lists(st.sampled_from(records), max_size=10))
            for rec in again:
                store.segment_submitted(rec.id, 1, "flaky", f"again{rec.id}", rec.created_at + 3)
            await store.flush()
            for rec in again:
                status, code, remark = data.draw(st.sampled_from(OUTCOMES[1:]))
                for carrier in ("ideal", "flaky"):  # two finals in one commit
                    store.message_final(MessageFinal(rec.id, rec.app_id, rec.phone, status, code, remark,
                                                     rec.created_at + 3, rec.created_at + 4, carrier=carrier))
            await store.flush()
            # a request of two taken ids and two new ones, at a time no other request has: only the
            # new ones count
            last = records[-1]
            taken = [MessageRecord(id=last.id - 1 + i, app_id="a", phone="+8613700000000", content="y", type="regular",
                                   chars=1, segments=1, data_coding=8, created_at=DAY0 + 2 * 86400 + 100)
                     for i in range(4)]
            if last.id >= 2:
                await store.accept(taken)
            await check(store, path)
        finally:
            await store.close()


async def test_what_sqlite_ignores_counts_nowhere(tmp_path):
    """An id given twice in one group commit (a send of one number and a request whose ids run
    over it: an allocator bug) is stored once and counted once; a segment SQLite refuses (no
    carrier id) is not charged, while the good one beside it is."""
    path = tmp_path / "s.db"
    store = Store(path)
    await store.open()
    try:
        def rec(i: int) -> MessageRecord:
            return MessageRecord(id=i, app_id="a", phone=f"+861380000{i:04d}", content="x", type="regular", chars=1,
                                 segments=2, data_coding=8, created_at=DAY0 + 10, task_id=3)
        await asyncio.gather(store.accept([rec(12)]), store.accept([rec(10), rec(11), rec(12)]))
        assert (await store.day_counts("a", DAY0, DAY0 + 86400)).messages == 3
        store.segment_submitted(10, 1, "ideal", None, DAY0 + 11)  # type: ignore[arg-type]
        store.segment_submitted(10, 2, "ideal", "m10.2", DAY0 + 11)
        await store.flush()
        assert (await store.day_counts("a", DAY0, DAY0 + 86400)).segments_charged == 1
        await check(store, path)
    finally:
        await store.close()


async def test_an_older_file_gets_its_counts_built_when_it_opens(tmp_path):
    path = tmp_path / "old.db"
    specs = [("a", 100.0, "+8613800000001", OUTCOMES[1], 1, "ideal", 1),
             ("a", 200.0, "+8613900000002", OUTCOMES[2], 2, "flaky", 1),
             ("b", 86400 + 5.0, "+447700900123", None, 0, "ideal", None),
             ("a", 300.0, "+12025550100", OUTCOMES[4], 1, "ideal", 2)]
    store = Store(path)
    await store.open()
    await play(store, specs)
    await store.close()
    # make it a file from before the counts
    with sqlite3.connect(path) as db:
        for name in ("message_counts", "charge_counts", "request_counts", "task_counts", "task_charges"):
            db.execute(f"DROP TABLE {name}")
    store = Store(path)
    await store.open()
    try:
        await check(store, path)
        stats = await store.day_counts("a", DAY0, DAY0 + 86400)
        assert (stats.messages, stats.segments_charged, stats.requests) == (3, 4, 3)
        # and the writer keeps them from then on; a message stored again under an id already
        # there (with its segment and final) is ignored, and so counted nowhere
        await play(store, [("a", 400.0, "+8613800000009", OUTCOMES[1], 1, "ideal", 1)])
        await check(store, path)
        assert (await store.day_counts("a", DAY0, DAY0 + 86400)).messages == 3
    finally:
        await store.close()


async def test_purged_days_and_tasks_lose_their_counts(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path)
    await store.open()
    try:
        await play(store, [("a", 100.0, "+8613800000001", OUTCOMES[1], 1, "ideal", 7),
                           ("a", 86400 + 100.0, "+8613800000002", OUTCOMES[1], 1, "ideal", None)])
        assert (await store.day_counts("a", DAY0, DAY0 + 86400)).messages == 1
        assert await store.task_counts(7) == {"delivered": 1}  # no tasks row: a purged task
        await store.purge_counts_before(DAY0 + 86400)
        assert (await store.day_counts("a", DAY0, DAY0 + 86400)).messages == 0
        assert (await store.day_counts("a", DAY0 + 86400, DAY0 + 2 * 86400)).messages == 1
        assert await store.task_counts(7) == {} and await store.task_segments_charged(7) == 0
    finally:
        await store.close()


async def test_a_file_with_the_triggers_that_kept_the_counts_once_loses_them(tmp_path):
    """The writer's statements count now; a trigger left from before would count everything twice."""
    path = tmp_path / "s.db"
    store = Store(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TRIGGER counts_message_stored AFTER INSERT ON messages BEGIN"
                   " UPDATE message_counts SET messages = messages + 1; END")
        db.execute("CREATE TRIGGER counts_segment_added AFTER INSERT ON segments BEGIN"
                   " UPDATE charge_counts SET segments = segments + 1; END")
    store = Store(path)
    await store.open()
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall() == []
        await play(store, [("a", 100.0, "+8613800000001", OUTCOMES[1], 2, "ideal", 1),
                           ("a", 100.0, "+8613900000002", OUTCOMES[2], 1, "flaky", 1)])
        await check(store, path)
    finally:
        await store.close()
