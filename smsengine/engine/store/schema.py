"""The SQLite schema: tables and indexes, created if absent when the store opens."""

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
    created_at REAL NOT NULL,
    limits TEXT NOT NULL DEFAULT '',  -- the account's LimitsConfig as JSON ('' = the defaults)
    arrears_since REAL,  -- when its stored balance was first seen <= 0 (NULL: in credit)
    reply_url TEXT NOT NULL DEFAULT '',  -- where its replies are pushed ('' = pull only)
    reply_cursor INTEGER NOT NULL DEFAULT 0  -- the last reply id its reply URL acknowledged
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
    created_at REAL NOT NULL,
    name TEXT NOT NULL DEFAULT '',  -- what the account calls it
    note TEXT NOT NULL DEFAULT ''  -- the applicant's explanation for the reviewer (remark is the reviewer's)
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
    cursor INTEGER,
    tlvs TEXT,  -- the send's vendor-specific TLVs: hex of their wire form (NULL: none)
    callback_url TEXT NOT NULL DEFAULT '',  -- where its status report goes ('' = the account's receipt_url)
    task_id INTEGER  -- the bulk task it came from (NULL: an API send)
);
-- status reports are the final messages in cursor order; the index only holds final rows
CREATE INDEX IF NOT EXISTS messages_final ON messages (app_id, cursor) WHERE cursor IS NOT NULL;
-- replies are attributed to the last sender of their number (replies.Replies, store.last_sender)
CREATE INDEX IF NOT EXISTS messages_phone ON messages (phone);
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
    received_at REAL NOT NULL,
    complete INTEGER NOT NULL DEFAULT 1  -- 0: a long reply stored with only the parts that came
);
-- authentication (issue 8): how each account signs its requests (no row: the legacy `sig`), and
-- the signed requests seen inside the time-skew window, so a replay is refused across restarts;
-- rows older than the window are purged (the time check refuses those requests anyway)
CREATE TABLE IF NOT EXISTS account_auth (
    app_id TEXT PRIMARY KEY,
    scheme TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replay_window (
    time INTEGER NOT NULL,
    app_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    PRIMARY KEY (time, app_id, nonce)
) WITHOUT ROWID;
-- short links (issue 9, SPEC §8a): a code per target per account (its id is the list cursor), and
-- one row per click, inserted in group commits (store/shortlinks.py), counted by code and hour
CREATE TABLE IF NOT EXISTS short_links (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    url TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS short_links_app ON short_links (app_id, id);
CREATE TABLE IF NOT EXISTS link_clicks (
    code TEXT NOT NULL,
    at REAL NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS link_clicks_code ON link_clicks (code, at);
-- bulk tasks (issue 11, SPEC §8): the task, its rows waiting to go through intake (deleted once
-- imported), and every row that was not sent, with its line and reason. `imported_line` is the
-- last row taken into messages, committed with them: a restart resumes after it, exactly once.
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    sign TEXT NOT NULL,
    template_id INTEGER NOT NULL,
    template_text TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '',
    callback_url TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    schedule_at REAL,
    state TEXT NOT NULL,  -- scheduled | importing | imported | completed | cancelled
    recipients INTEGER NOT NULL,
    rows_merged INTEGER NOT NULL DEFAULT 0,
    screen INTEGER NOT NULL DEFAULT 0,  -- drop numbers its carrier's lookup says are empty (SPEC §8a)
    imported_line INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    completed_at REAL,  -- every message of it final (and every row imported)
    cancelled_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_app ON tasks (app_id, id);
CREATE TABLE IF NOT EXISTS task_rows (
    task_id INTEGER NOT NULL,
    line INTEGER NOT NULL,
    phone TEXT NOT NULL,
    params TEXT NOT NULL,  -- JSON array of strings
    PRIMARY KEY (task_id, line)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_problems (
    task_id INTEGER NOT NULL,
    line INTEGER NOT NULL,
    value TEXT NOT NULL,
    code INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_problems_task ON task_problems (task_id, line);
"""

# Columns added after a table first shipped: (table, column, declaration). CREATE TABLE IF NOT
# EXISTS leaves an older file's table as it was, so the store adds what is missing when it opens.
COLUMNS_ADDED = [
    ("accounts", "limits", "TEXT NOT NULL DEFAULT ''"),
    ("accounts", "arrears_since", "REAL"),
    ("replies", "complete", "INTEGER NOT NULL DEFAULT 1"),
    ("accounts", "reply_url", "TEXT NOT NULL DEFAULT ''"),
    ("accounts", "reply_cursor", "INTEGER NOT NULL DEFAULT 0"),
    ("templates", "name", "TEXT NOT NULL DEFAULT ''"),
    ("templates", "note", "TEXT NOT NULL DEFAULT ''"),
    ("messages", "tlvs", "TEXT"),
    ("messages", "callback_url", "TEXT NOT NULL DEFAULT ''"),
    ("messages", "task_id", "INTEGER"),
    ("accounts", "receipt_from", "INTEGER NOT NULL DEFAULT 0"),
]

# Indexes on columns added above: created after the columns exist (an older file gets them too).
INDEXES_AFTER_COLUMNS = """
CREATE INDEX IF NOT EXISTS messages_task ON messages (task_id, id) WHERE task_id IS NOT NULL;
"""

# Statistics kept as messages come and change, so an account's day or a task's figures are a few
# rows to add up rather than a scan of its messages (200k messages of a day: 630 ms scanned, 15 ms
# counted; benchmarks/console_bench.py). The writer keeps them exactly, in the same transactions
# as the changes, with a few statements per group commit (counting.py, which says what they cost).
# A slot is 15 minutes of created_at (unix seconds // 900): every UTC offset in use is a multiple
# of 15 minutes, so an account's local day is 96 whole slots.
COUNTS = """
CREATE TABLE IF NOT EXISTS message_counts (
    app_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    status TEXT NOT NULL,
    code INTEGER NOT NULL,
    carrier TEXT NOT NULL,
    prefix TEXT NOT NULL,  -- the first 5 characters of the E.164 number (the country, roughly)
    messages INTEGER NOT NULL,
    remark TEXT NOT NULL,  -- the latest remark given with this code
    PRIMARY KEY (app_id, slot, status, code, carrier, prefix)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS charge_counts (
    app_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    segments INTEGER NOT NULL,  -- segments charged (submitted) of the messages created in the slot
    PRIMARY KEY (app_id, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS request_counts (
    app_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    requests INTEGER NOT NULL,  -- sends and task chunks that accepted something
    PRIMARY KEY (app_id, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_counts (
    task_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    messages INTEGER NOT NULL,
    PRIMARY KEY (task_id, status)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_charges (
    task_id INTEGER PRIMARY KEY,
    segments INTEGER NOT NULL
);
-- kept by the writer's statements (counting.py); the triggers that kept them once are dropped
DROP TRIGGER IF EXISTS counts_message_added;
DROP TRIGGER IF EXISTS counts_message_stored;
DROP TRIGGER IF EXISTS counts_message_changed;
DROP TRIGGER IF EXISTS counts_segment_added;
"""

# The counts of a file written before they existed: built once, from what it holds, in the same
# transaction as the tables (the store is not yet writing).
COUNTS_BACKFILL = [
    "INSERT INTO message_counts SELECT app_id, CAST(created_at / 900 AS INTEGER), status, code, carrier,"
    " substr(phone, 1, 5), COUNT(*), MAX(remark) FROM messages WHERE true GROUP BY 1, 2, 3, 4, 5, 6",
    "INSERT INTO charge_counts SELECT m.app_id, CAST(m.created_at / 900 AS INTEGER), COUNT(*)"
    " FROM segments s JOIN messages m ON m.id = s.message_id WHERE true GROUP BY 1, 2",
    "INSERT INTO request_counts SELECT app_id, CAST(created_at / 900 AS INTEGER), COUNT(DISTINCT created_at)"
    " FROM messages WHERE true GROUP BY 1, 2",
    "INSERT INTO task_counts SELECT task_id, status, COUNT(*) FROM messages WHERE task_id IS NOT NULL GROUP BY 1, 2",
    "INSERT INTO task_charges SELECT m.task_id, COUNT(*) FROM segments s JOIN messages m ON m.id = s.message_id"
    " WHERE m.task_id IS NOT NULL GROUP BY 1",
]
SLOT_S = 900

# Run once, right after a column above is added to an older file: (table, column) -> statement.
# Before per-message callback URLs, an account without a receipt URL had nothing to push: its
# push cursor starts at the newest report instead of reading the whole history back at start.
AFTER_COLUMN_ADDED = {
    ("messages", "callback_url"):
        "UPDATE accounts SET pushed_cursor=(SELECT COALESCE(MAX(cursor), 0) FROM messages) WHERE receipt_url=''",
}
