"""Messages on disk read back: lookups, status reports, recovery at start, and retention."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from smsengine.engine.records import MessageFilter, MessageRecord, MessageRow, MessageStatus, MessageView, ReceiptView
from smsengine.engine.store.database import Database

# columns named after the structs' fields, in their order: a row unpacks straight into one
_VIEW_COLUMNS = ", ".join(("id", *MessageView.__struct_fields__[1:]))  # message_id is the id column
_RECORD_COLUMNS = ", ".join(MessageRecord.__struct_fields__)
# one batch of final messages past the horizon, oldest first (rowid order: no sort, stops at LIMIT)
# records purged by age besides messages: table -> the column that says when
_RECORD_TIMES = {"replies": "received_at", "link_clicks": "at"}
_EXPIRED = "SELECT id FROM messages WHERE cursor IS NOT NULL AND final_at < ?1 ORDER BY id LIMIT ?2"


class MessageQueries(Database):
    async def max_message_id(self) -> int:
        return await self._scalar("SELECT COALESCE(MAX(id), 0) FROM messages")

    async def message_view(self, message_id: int) -> MessageView | None:
        """A message as its sender sees it. The row's status is written once, when the message is
        final; until then the segments a carrier accepted say whether, when and where it was
        submitted."""
        row = await self._row(f"SELECT {_VIEW_COLUMNS} FROM messages WHERE id=?", (message_id,))
        if row is None:
            return None
        message = MessageView(str(row[0]), *row[1:])
        message.status = MessageStatus(message.status)
        if message.status is MessageStatus.ACCEPTED:
            first_at, carrier = await self._row(
                "SELECT MIN(submitted_at), MIN(carrier) FROM segments WHERE message_id=?", (message_id,)
            )
            if first_at is not None:
                message.status, message.submitted_at, message.carrier = MessageStatus.SUBMITTED, first_at, carrier
        return message

    async def receipts_since(self, app_id: str, cursor: int, limit: int) -> list[ReceiptView]:
        """An account's status reports after `cursor`, in cursor order."""
        return [view for _, view in await self.receipts_to_push(app_id, cursor, limit)]

    async def receipts_to_push(self, app_id: str, cursor: int, limit: int) -> list[tuple[str, ReceiptView]]:
        """An account's status reports after `cursor`, in cursor order, each with its message's
        own callback URL ("" = the account's): what the pusher reads back after a restart."""
        rows = await self._rows(
            "SELECT callback_url, cursor, id, phone, status, code, remark, submitted_at, final_at, context"
            " FROM messages WHERE app_id=? AND cursor>? ORDER BY cursor LIMIT ?",
            (app_id, cursor, limit),
        )
        return [
            (url, ReceiptView(cursor=c, message_id=str(mid), phone=phone, status=status, code=code, remark=remark,
                              submitted_at=submitted, final_at=final, context=context))
            for url, c, mid, phone, status, code, remark, submitted, final, context in rows
        ]

    async def open_messages(self) -> list[tuple[MessageRecord, dict[int, tuple[str, str]]]]:
        """Messages not final at start: each with the segments already accepted by a carrier
        (seq -> (carrier, carrier_message_id)), which must never be sent again."""
        rows = await self._rows(
            f"SELECT {_RECORD_COLUMNS} FROM messages WHERE status IN ('accepted', 'submitted') ORDER BY id"
        )
        seg_rows = await self._rows(
            "SELECT s.message_id, s.seq, s.carrier, s.carrier_message_id FROM segments s"
            " JOIN messages m ON m.id = s.message_id WHERE m.status IN ('accepted', 'submitted')"
        )
        done: dict[int, dict[int, tuple[str, str]]] = {}
        for mid, seq, carrier, cmid in seg_rows:
            done.setdefault(mid, {})[seq] = (carrier, cmid)
        out = []
        for row in rows:
            record = MessageRecord(*row)
            record.status = MessageStatus(record.status)
            if record.tlvs is not None:
                record.tlvs = bytes.fromhex(record.tlvs)  # type: ignore[arg-type]  # stored as hex
            out.append((record, done.get(record.id, {})))
        return out

    async def first_message_since(self, since: float) -> int | None:
        """The id of the first message created at or after `since`, found by bisecting ids (ids
        grow with creation time), so no index on created_at is needed: ~25 lookups for 10M rows."""
        lo, hi = 1, await self.max_message_id()
        if not hi or (await self._scalar("SELECT created_at FROM messages WHERE id >= ? ORDER BY id LIMIT 1",
                                          (hi,)) or 0) < since:
            return None
        # the smallest x whose next existing id is recent enough (monotone in x); then that id
        first_at = "SELECT id, created_at FROM messages WHERE id >= ? ORDER BY id LIMIT 1"
        while lo < hi:
            mid = (lo + hi) // 2
            _, created_at = await self._row(first_at, (mid,))
            if created_at >= since:
                hi = mid
            else:
                lo = mid + 1
        return (await self._row(first_at, (lo,)))[0]

    async def sends_from(self, first_id: int, limit: int) -> list[tuple[int, str, str, str, float]]:
        """(id, app_id, phone, content, created_at) of up to `limit` messages from `first_id` on,
        in id order: what the rate limits counted when they were accepted."""
        return await self._rows(
            "SELECT id, app_id, phone, content, created_at FROM messages WHERE id >= ? ORDER BY id LIMIT ?",
            (first_id, limit))

    async def reserved_segments_by_account(self, app_id: str | None = None) -> dict[str, int]:
        """Segments of accepted, not yet final messages that no carrier accepted yet: they are
        still reserved against each account's balance."""
        where, params = (" AND m.app_id=?", (app_id,)) if app_id else ("", ())
        rows = await self._rows(
            "SELECT m.app_id, SUM(m.segments - (SELECT COUNT(*) FROM segments s WHERE s.message_id = m.id))"
            " FROM messages m WHERE m.status IN ('accepted', 'submitted')" + where + " GROUP BY m.app_id", params
        )
        return {app: int(reserved) for app, reserved in rows if reserved}

    async def purge_records_before(self, kind: str, horizon: float, batch: int) -> int:
        """Delete up to `batch` records of `kind` ("replies", "link_clicks") older than `horizon`,
        oldest first (rowid order, no sort); returns how many went (0: none left)."""
        when = _RECORD_TIMES[kind]  # a fixed name from the table above: no input reaches the SQL
        return (await self._write((
            f"DELETE FROM {kind} WHERE rowid IN (SELECT rowid FROM {kind} WHERE {when} < ?1 ORDER BY rowid LIMIT ?2)",
            (horizon, batch)))).changed

    async def purge_before(self, horizon: float, batch: int) -> int:
        """Delete up to `batch` final messages that became final before `horizon`, with their
        segments, in one write; returns how many messages went (0: nothing left to purge)."""
        outcome = await self._write(
            (f"DELETE FROM segments WHERE message_id IN ({_EXPIRED})", (horizon, batch)),
            (f"DELETE FROM messages WHERE id IN ({_EXPIRED})", (horizon, batch)),
        )
        return outcome.changed

    async def message_rows(self, where: MessageFilter, *, after: int = 0, before: int | None = None,
                           limit: int = 100) -> list[MessageRow]:
        """Records for lists, keyset-paged by id: oldest first after `after`, or newest first
        below `before`, so pages stay stable while messages are added."""
        return [MessageRow(str(row[0]), *row[1:]) for row in await self.message_tuples(where, after, before, limit)]

    async def message_tuples(self, where: MessageFilter, after: int = 0, before: int | None = None,
                             limit: int = 100) -> list[tuple]:
        """The same rows as plain tuples in MessageRow's field order. A message not final shows
        `submitted`, with its first segment's time, once a carrier accepted a part of it."""
        return await self._rows(*_page_sql(_ROW_COLUMNS, where, after, before, limit))

    async def export_csv(self, where: MessageFilter, write: Callable[[bytes], Awaitable[None]], *,
                         page: int = 5000) -> int:
        """Every matching record, oldest first, as CSV lines handed to `write` a page at a time;
        returns how many. One statement over one snapshot, on a read connection and thread of the
        export's own; SQLite builds each line as UTF-8 bytes (one object per row for Python, not
        fourteen values and a csv writer, nor a str decoded only to be encoded again), and the next
        page is fetched while `write` sends this one. At most `database.MAX_EXPORTS` run at once;
        memory stays one page ahead."""
        async with self._exports:
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-export") as thread:
                conn = await loop.run_in_executor(thread, _read_only, self.path)
                try:
                    sql, params = _stream_sql(_CSV_LINE, where)
                    cursor = await loop.run_in_executor(thread, conn.execute, sql, params)

                    def next_page() -> tuple[int, bytes]:
                        rows = cursor.fetchmany(page)
                        return len(rows), b"".join([line for line, in rows])

                    total = 0
                    pending = loop.run_in_executor(thread, next_page)
                    try:
                        while True:
                            count, data = await pending
                            if not count:
                                return total
                            total += count
                            pending = loop.run_in_executor(thread, next_page)
                            await write(data)
                    finally:
                        pending.cancel()
                finally:
                    await loop.run_in_executor(thread, conn.close)


def _filter_sql(where: MessageFilter) -> tuple[list[str], list]:
    """WHERE clauses over `messages m` for a filter (column names are fixed here, values bound)."""
    clauses: list[str] = ["1"]
    params: list = []
    for column, value in (("app_id", where.app_id), ("task_id", where.task_id), ("phone", where.phone),
                          ("template_id", where.template_id), ("carrier", where.carrier)):
        if value is not None:
            clauses.append(f"m.{column} = ?")
            params.append(value)
    if where.statuses:
        clauses.append(f"m.status IN ({', '.join('?' * len(where.statuses))})")
        params.extend(where.statuses)
    if where.content_prefixes:
        clauses.append("(" + " OR ".join(["substr(m.content, 1, ?) = ?"] * len(where.content_prefixes)) + ")")
        for prefix in where.content_prefixes:
            params.extend((len(prefix), prefix))
    if where.first_id is not None:
        clauses.append("m.id >= ?")
        params.append(where.first_id)
    if where.last_id is not None:
        clauses.append("m.id <= ?")
        params.append(where.last_id)
    return clauses, params


# a records page: every column a list shows, over the filtered, keyset-paged messages (`sub`: the
# first segment's time of a message not final, NULL when no part was accepted yet)
_SUBMITTED_AT = "CASE WHEN sub IS NULL THEN submitted_at ELSE sub END"
_STATUS = "CASE WHEN sub IS NULL THEN status ELSE 'submitted' END"
_ROW_COLUMNS = (f"id, phone, content, chars, segments, created_at, {_SUBMITTED_AT}, final_at, {_STATUS}, code, remark,"
                " carrier, template_id, task_id")


# the same columns as one CSV line, CRLF ended, as UTF-8 bytes (RFC 4180 quoting for the text
# ones: %w doubles '"'; numbers as SQLite prints them, NULL as empty). One printf per line, not
# thirteen `||`, each of which copies the line so far into a new string, and BLOBs, not a str
# decoded only to be encoded again: the same bytes, and an export over HTTP went from 76k to 131k
# rows/s (the export thread is the bottleneck: the engine's CPU time equals the export's time;
# medians of 3 A/B runs of task_bench's export). Times stay as SQLite prints a REAL: as ISO text
# (strftime) the line was 25% slower, as '%.3f' 10% faster, not worth a changed column. printf's
# %s and %w stop at a NUL character, which `||` would keep; no stored text holds one: intake
# refuses a NUL in what it stores from a request (engine/requests.NO_NUL), a receipt's text is read
# up to its NUL (inbound.receipt_fields), and our own remarks have none; test_store checks the
# export against the records list for any text without one.
_CSV_LINE = ("CAST(printf('%d,%s,\"%w\",%d,%d,%s,%s,%s,%s,%d,\"%w\",\"%w\",%s,%s\r\n', id, phone, content, chars,"
             f" segments, created_at, {_SUBMITTED_AT}, final_at, {_STATUS}, code, remark, carrier, template_id,"
             " task_id) AS BLOB)")


def _read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _stream_sql(columns: str, where: MessageFilter) -> tuple[str, tuple]:
    """Every matching message, oldest first, in one statement (an export's)."""
    clauses, params = _filter_sql(where)
    return (f"SELECT {columns} FROM (SELECT m.*, CASE WHEN m.status = 'accepted' THEN"
            " (SELECT MIN(s.submitted_at) FROM segments s WHERE s.message_id = m.id) END AS sub"
            f" FROM messages m WHERE {' AND '.join(clauses)} ORDER BY m.id)", tuple(params))


def _page_sql(columns: str, where: MessageFilter, after: int, before: int | None, limit: int) -> tuple[str, tuple]:
    clauses, params = _filter_sql(where)
    if before is not None:
        clauses.append("m.id < ?")
        params.append(before)
        order = "DESC"
    else:
        clauses.append("m.id > ?")
        params.append(after)
        order = "ASC"
    return (f"SELECT {columns} FROM (SELECT m.*, CASE WHEN m.status = 'accepted' THEN"
            " (SELECT MIN(s.submitted_at) FROM segments s WHERE s.message_id = m.id) END AS sub"
            f" FROM messages m WHERE {' AND '.join(clauses)} ORDER BY m.id {order} LIMIT ?)", (*params, limit))
