"""The unsubscribe lists on disk: numbers that asked an account to stop sending."""

from __future__ import annotations

from smsengine.engine.records import UnsubscribeRow
from smsengine.engine.store.database import Database, scope


class UnsubscribeQueries(Database):
    async def unsubscribe_rows(self, app_id: str | None = None) -> list[UnsubscribeRow]:
        where, params = scope(app_id)
        return [UnsubscribeRow(app, phone)
                for app, phone in await self._rows("SELECT app_id, phone FROM unsubscribes" + where, params)]

    def add_unsubscribe(self, app_id: str, phone: str, at: float) -> None:
        """Rides the next group commit (the in-memory list already blocks the number)."""
        self._write_later((
            "INSERT OR IGNORE INTO unsubscribes (app_id, phone, created_at) VALUES (?,?,?)", (app_id, phone, at)
        ))

    def remove_unsubscribe(self, app_id: str, phone: str) -> None:
        """Rides the next group commit."""
        self._write_later(("DELETE FROM unsubscribes WHERE app_id=? AND phone=?", (app_id, phone)))
