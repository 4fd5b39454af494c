"""The replay window on disk: signed requests seen while their time is inside the allowed skew."""

from __future__ import annotations

from smsengine.engine.store.database import Database

# one statement per group commit for all the requests of the batch (see writer._append_row)
_REMEMBER = (
    "INSERT OR IGNORE INTO replay_window (time, app_id, nonce)"
    " SELECT value->>0, value->>1, value->>2 FROM json_each(?)"
)


class ReplayWindowQueries(Database):
    def remember_request(self, app_id: str, nonce: str, time: int) -> None:
        """Rides the next group commit, in the same transaction as an accept queued in the same step."""
        self._append_row(_REMEMBER, (time, app_id, nonce))

    async def requests_since(self, time: int) -> list[tuple[str, str, int]]:
        """(app_id, nonce, time) of the requests remembered with a time at or after `time`."""
        rows = await self._rows("SELECT app_id, nonce, time FROM replay_window WHERE time >= ?", (time,))
        return [(app_id, nonce, t) for app_id, nonce, t in rows]

    def forget_requests_before(self, time: int) -> None:
        """Drop what the time check refuses anyway (a range of the primary key); rides the next commit."""
        self._write_later(("DELETE FROM replay_window WHERE time < ?", (time,)))
