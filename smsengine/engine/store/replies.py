"""Replies (MO) on disk: what handsets sent back, kept per account for the pull API."""

from __future__ import annotations

import msgspec

from smsengine.engine.records import ReplyView
from smsengine.engine.store.database import Database


class ReplyQueries(Database):
    def add_reply(self, app_id: str, phone: str, text: str, carrier: str, received_at: float,
                  complete: bool = True) -> None:
        """Rides the next group commit: replies arrive on the receive path, which never waits."""
        self._write_later((
            "INSERT INTO replies (app_id, phone, text, carrier, received_at, complete) VALUES (?,?,?,?,?,?)",
            (app_id, phone, text, carrier, received_at, int(complete)),
        ))

    async def last_sender(self, phone: str, since: float) -> str | None:
        """The account that last sent to `phone` at or after `since` (index messages_phone)."""
        return await self._scalar(
            "SELECT app_id FROM messages WHERE phone=? AND created_at >= ? ORDER BY id DESC LIMIT 1", (phone, since))

    async def replied_messages(self, app_id: str, replies: list[tuple[str, float]]) -> list[tuple[int, str] | None]:
        """For each (number, received at): the account's newest message to that number created at
        or before then, as (id, content) — what the reply answers, as far as anyone can tell.
        One statement for a page of replies, each lookup along the phone index."""
        if not replies:
            return []
        rows = await self._rows(
            "SELECT r.key, m.id, m.content FROM json_each(?1) AS r JOIN messages AS m ON m.id = ("
            " SELECT id FROM messages WHERE phone = r.value->>0 AND app_id = ?2 AND created_at <= r.value->>1"
            " ORDER BY id DESC LIMIT 1)", (msgspec.json.encode(replies).decode(), app_id))
        found = {index: (mid, content) for index, mid, content in rows}
        return [found.get(i) for i in range(len(replies))]

    async def max_reply_id(self) -> int:
        """The newest reply's id once every reply queued so far is committed (0: none)."""
        await self.flush()
        return await self._scalar("SELECT COALESCE(MAX(id), 0) FROM replies")

    async def replies_since(self, app_id: str, cursor: int, limit: int) -> list[ReplyView]:
        """An account's replies after `cursor`, oldest first."""
        rows = await self._rows(
            "SELECT id, phone, text, carrier, received_at, complete FROM replies WHERE app_id=? AND id>?"
            " ORDER BY id LIMIT ?", (app_id, cursor, limit),
        )
        return [ReplyView(c, phone, text, carrier, at, bool(complete)) for c, phone, text, carrier, at, complete in rows]
