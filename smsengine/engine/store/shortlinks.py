"""Short links on disk: each account's links, and their clicks, counted per hour for reach statistics."""

from __future__ import annotations

from smsengine.domain.shortlinks import HOUR, ClickStats, HourClicks, ShortLink
from smsengine.engine.store.database import Database

_LINK_COLUMNS = "id, code, app_id, url, created_at"
# Only below the account's bound, and only a code nobody holds: no row back means one or the other
# (the caller tells them apart). One statement, so two creations at once cannot both take the last
# place: the writer applies them one after the other.
_ADD_LINK = (
    "INSERT INTO short_links (code, app_id, url, created_at) SELECT ?1, ?2, ?3, ?4"
    " WHERE (SELECT COUNT(*) FROM short_links WHERE app_id = ?2) < ?5"
    " ON CONFLICT (code) DO NOTHING RETURNING id"
)
# every click of a group commit in one statement (see writer._append_row): a redirect never waits
# for a transaction of its own, and a burst of clicks costs one insert per commit
_CLICKS = "INSERT INTO link_clicks (code, at, user_agent) SELECT value->>0, value->>1, value->>2 FROM json_each(?)"


class ShortLinkQueries(Database):
    async def add_link(self, app_id: str, code: str, url: str, at: float, max_links: int) -> ShortLink | None:
        """The new link, durable; None when `code` is taken or the account holds `max_links` already."""
        outcome = await self._write((_ADD_LINK, (code, app_id, url, at, max_links)))
        return ShortLink(outcome.rows[0][0], code, app_id, url, at) if outcome.rows else None

    async def link_count(self, app_id: str) -> int:
        return await self._scalar("SELECT COUNT(*) FROM short_links WHERE app_id=?", (app_id,))

    async def link(self, code: str) -> ShortLink | None:
        row = await self._row(f"SELECT {_LINK_COLUMNS} FROM short_links WHERE code=?", (code,))
        return ShortLink(*row) if row else None

    async def links_of(self, app_id: str, after: int, limit: int) -> list[ShortLink]:
        """An account's links after the cursor `after` (a link's id), oldest first."""
        rows = await self._rows(
            f"SELECT {_LINK_COLUMNS} FROM short_links WHERE app_id=? AND id>? ORDER BY id LIMIT ?",
            (app_id, after, limit))
        return [ShortLink(*row) for row in rows]

    def add_click(self, code: str, at: float, user_agent: str) -> None:
        """Rides the next group commit."""
        self._append_row(_CLICKS, (code, at, user_agent))

    async def click_stats(self, code: str, since: int) -> ClickStats:
        """Clicks on `code`, clicks queued before this call included: all of them, and per UTC hour
        from `since` (index link_clicks_code)."""
        await self.flush()
        total = await self._scalar("SELECT COUNT(*) FROM link_clicks WHERE code=?", (code,))
        rows = await self._rows(
            f"SELECT CAST(at / {HOUR} AS INTEGER) * {HOUR} AS hour, COUNT(*) FROM link_clicks"
            " WHERE code=? AND at >= ? GROUP BY hour ORDER BY hour", (code, since))
        return ClickStats(total, since, [HourClicks(hour, n) for hour, n in rows])
