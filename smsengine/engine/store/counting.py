"""The statistics (schema.COUNTS) kept by the writer: a few statements per group commit, in the
transactions that change the messages they count, on the writer thread.

Why statements per batch and not triggers: triggers ran three to four statements for every
message, each a sub-program of its own. Here each kind of change (stored, submitted, final) is
read once from the rows it touches, by primary key, grouped in SQLite's C code; what goes in from
Python is a short JSON array of ids or id ranges, never the batch's own JSON again (whose parsing
made an earlier per-batch counting dearer than the triggers). Measured, writer CPU a message:
benchmarks/store_bench.py (medians of 3) send 42.6 -> 39.1 us, task 60.4 -> 57.0 us; a driver with
the saturation pattern (4,000 accepts a commit with the previous wave's segments and finals) 31.5
-> 26.5 us, against 18.6 us with no counts at all.

Exactness, as the triggers had it: a message counts once, when inserted (an insert ignored because
its id is taken counts nowhere); a final moves it from its old (status, code, carrier) to the new
one only when the row really changes (`cursor IS NULL`, and something differs); a segment counts
when inserted. Every statement that inserts messages or segments or changes a message's status,
code or carrier is in writer.py and calls these; tests/engine/test_counts.py holds the counts
against a scan of the messages."""

from __future__ import annotations

import sqlite3

import msgspec

_json = msgspec.json.Encoder()

_SLOT = "CAST(m.created_at / 900 AS INTEGER)"

# Each kind of change is read once from the messages it touches, grouped by what the counts are
# kept by, into a small temp table; the upserts into the counts read that (a handful of rows).
# Reading the messages once per count instead cost ~2-3 us a message each (finals: 9.8 us for
# four statements, 3.2 in one).
_SCRATCH = (
    "CREATE TEMP TABLE IF NOT EXISTS counted (app_id TEXT, slot INTEGER, status TEXT, code INTEGER, carrier TEXT,"
    " prefix TEXT, task_id INTEGER, messages INTEGER, requests INTEGER)",
    "CREATE TEMP TABLE IF NOT EXISTS charged (app_id TEXT, slot INTEGER, task_id INTEGER, segments INTEGER)",
)
_GROUPS = "GROUP BY 1, 2, 3, 4, 5, 6, 7"

# -- stored: the new messages, id ranges [first, last] as a JSON array -------------------------------
_NEW = "json_each(?1) r JOIN messages m ON m.id BETWEEN r.value->>0 AND r.value->>1"
_TAKEN_IDS = f"SELECT m.id FROM {_NEW}"
# a request's messages (a send, a task's chunk) take consecutive ids and share their created_at:
# the first of them, the one whose id - 1 is not of the same request, counts the request. Read
# after the whole commit's inserts, where the triggers read as each row went in: two requests of
# one account with the same created_at (to the microsecond) and following ids count as one, as
# the backfill's COUNT(DISTINCT created_at) counts them
_STORED = (
    f"INSERT INTO temp.counted SELECT m.app_id, {_SLOT}, m.status, m.code, m.carrier, substr(m.phone, 1, 5),"
    " m.task_id, COUNT(*), SUM(NOT EXISTS (SELECT 1 FROM messages p WHERE p.id = m.id - 1"
    f" AND p.created_at = m.created_at AND p.app_id = m.app_id)) FROM {_NEW} WHERE true {_GROUPS}"
)
_COUNT_STORED = (
    "INSERT INTO message_counts SELECT app_id, slot, status, code, carrier, prefix, SUM(messages), ''"
    " FROM temp.counted WHERE true GROUP BY 1, 2, 3, 4, 5, 6"
    " ON CONFLICT DO UPDATE SET messages = messages + excluded.messages"
)
_COUNT_REQUESTS = (
    "INSERT INTO request_counts SELECT app_id, slot, SUM(requests) FROM temp.counted WHERE true GROUP BY 1, 2"
    " HAVING SUM(requests) > 0 ON CONFLICT DO UPDATE SET requests = requests + excluded.requests"
)
_COUNT_TASKS = (
    "INSERT INTO task_counts SELECT task_id, status, SUM(messages) FROM temp.counted WHERE task_id IS NOT NULL"
    " GROUP BY 1, 2 ON CONFLICT DO UPDATE SET messages = messages + excluded.messages"
)

# -- final: the messages the finals' UPDATE will change (not final yet, something differs) -----------
# outcome ?1 status, ?2 code, ?3 carrier; ?4 the finals' message ids as a JSON array (IN: once each)
_MOVING = (
    f"INSERT INTO temp.counted SELECT m.app_id, {_SLOT}, m.status, m.code, m.carrier, substr(m.phone, 1, 5),"
    " m.task_id, COUNT(*), 0 FROM messages m WHERE m.id IN (SELECT value FROM json_each(?4)) AND m.cursor IS NULL"
    f" AND (m.status IS NOT ?1 OR m.code IS NOT ?2 OR m.carrier IS NOT ?3) {_GROUPS}"
)
_UNCOUNT_OLD = (
    "UPDATE message_counts SET messages = messages - d.n FROM (SELECT app_id AS a, slot AS s, status AS st, code AS c,"
    " carrier AS ca, prefix AS p, SUM(messages) AS n FROM temp.counted GROUP BY 1, 2, 3, 4, 5, 6) AS d"
    " WHERE app_id = d.a AND slot = d.s AND status = d.st AND code = d.c AND carrier = d.ca AND prefix = d.p"
)
_COUNT_NEW = (
    "INSERT INTO message_counts SELECT app_id, slot, ?1, ?2, ?3, prefix, SUM(messages), ?4 FROM temp.counted"
    " WHERE true GROUP BY 1, 2, 6 ON CONFLICT DO UPDATE SET messages = messages + excluded.messages,"
    " remark = excluded.remark"
)
_UNCOUNT_TASKS_OLD = (
    "UPDATE task_counts SET messages = messages - d.n FROM (SELECT task_id AS t, status AS st, SUM(messages) AS n"
    " FROM temp.counted WHERE task_id IS NOT NULL GROUP BY 1, 2) AS d WHERE task_id = d.t AND status = d.st"
)
_COUNT_TASKS_NEW = (
    "INSERT INTO task_counts SELECT task_id, ?1, SUM(messages) FROM temp.counted WHERE task_id IS NOT NULL"
    " GROUP BY 1 ON CONFLICT DO UPDATE SET messages = messages + excluded.messages"
)

# -- submitted: segments just inserted, their message ids as a JSON array (one per segment) ----------
_SUBMITTED = (
    f"INSERT INTO temp.charged SELECT m.app_id, {_SLOT}, m.task_id, COUNT(*) FROM json_each(?1) j"
    " JOIN messages m ON m.id = j.value WHERE true GROUP BY 1, 2, 3"
)
_COUNT_CHARGES = (
    "INSERT INTO charge_counts SELECT app_id, slot, SUM(segments) FROM temp.charged WHERE true GROUP BY 1, 2"
    " ON CONFLICT DO UPDATE SET segments = segments + excluded.segments"
)
_COUNT_TASK_CHARGES = (
    "INSERT INTO task_charges SELECT task_id, SUM(segments) FROM temp.charged WHERE task_id IS NOT NULL GROUP BY 1"
    " ON CONFLICT DO UPDATE SET segments = segments + excluded.segments"
)


def prepare(db: sqlite3.Connection) -> None:
    """On the writer's connection, once: the temp tables the counting groups in."""
    for sql in _SCRATCH:
        db.execute(sql)


def merged(ranges: list[list[int]]) -> list[list[int]]:
    """[first, last] id ranges sorted, with overlapping and adjacent ones joined: each id once."""
    out: list[list[int]] = []
    for first, last in sorted(ranges):
        if out and out[-1][1] + 1 >= first:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return out


def taken_ids(db: sqlite3.Connection, ranges: list[list[int]]) -> list[int]:
    """Ids in `ranges` already in the table: an INSERT OR IGNORE of them will not count. One seek
    a range, nothing read in the normal case (ids are new)."""
    return [i for (i,) in db.execute(_TAKEN_IDS, (_json.encode(ranges),))]


def count_stored(db: sqlite3.Connection, ranges: list[list[int]]) -> None:
    """Count the messages just inserted with ids in `ranges` (none of which were there before)."""
    db.execute(_STORED, (_json.encode(ranges),))
    db.execute(_COUNT_STORED)
    db.execute(_COUNT_REQUESTS)
    db.execute(_COUNT_TASKS)
    db.execute("DELETE FROM temp.counted")


def count_segments(db: sqlite3.Connection, message_ids: list[int]) -> None:
    """Count segments just inserted (their message ids, one per segment) as charged."""
    db.execute(_SUBMITTED, (_json.encode(message_ids),))
    db.execute(_COUNT_CHARGES)
    db.execute(_COUNT_TASK_CHARGES)
    db.execute("DELETE FROM temp.charged")


def count_finals(db: sqlite3.Connection, outcome: tuple, message_ids: list[int]) -> None:
    """Before the finals' UPDATE: move the messages it will change from their old counts to
    `outcome` (status, code, remark, carrier)."""
    status, code, remark, carrier = outcome
    db.execute(_MOVING, (status, code, carrier, _json.encode(message_ids)))
    db.execute(_UNCOUNT_OLD)
    db.execute(_COUNT_NEW, (status, code, carrier, remark))
    db.execute(_UNCOUNT_TASKS_OLD)
    db.execute(_COUNT_TASKS_NEW, (status,))
    db.execute("DELETE FROM temp.counted")
