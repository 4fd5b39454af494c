"""Replies (MO) on disk: what handsets sent back, kept per account for the pull API."""

from __future__ import annotations

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
