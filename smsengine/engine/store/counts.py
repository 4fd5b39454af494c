"""Statistics read from the counts the store keeps as messages change (schema.COUNTS)."""

from __future__ import annotations

from smsengine.engine.records import DayStats
from smsengine.engine.store.database import Database
from smsengine.engine.store.schema import SLOT_S


def _slot(at: float) -> int:
    """The 15-minute slot an instant starts (a day bound of an offset that is not a multiple of 15
    minutes falls to the nearest slot)."""
    return round(at / SLOT_S)


class CountQueries(Database):
    async def day_counts(self, app_id: str, start: float, end: float) -> DayStats:
        """An account's messages created in [start, end) (its local day), by status, failure code,
        carrier and number prefix; requests and segments charged: a few hundred rows at most."""
        span = (app_id, _slot(start), _slot(end))
        where = "app_id=? AND slot>=? AND slot<?"
        stats = DayStats()
        stats.requests = await self._scalar(f"SELECT COALESCE(SUM(requests), 0) FROM request_counts WHERE {where}",
                                            span)
        stats.segments_charged = await self._scalar(
            f"SELECT COALESCE(SUM(segments), 0) FROM charge_counts WHERE {where}", span)
        for status, code, carrier, prefix, count, remark in await self._rows(
                f"SELECT status, code, carrier, prefix, SUM(messages), MAX(remark) FROM message_counts WHERE {where}"
                " GROUP BY status, code, carrier, prefix HAVING SUM(messages) > 0", span):
            stats.messages += count
            stats.by_status[status] = stats.by_status.get(status, 0) + count
            if status in ("failed", "expired"):
                reason = stats.reasons.setdefault(code, [remark, 0])
                reason[1] += count
            if carrier:
                per = stats.carriers.setdefault(carrier, {})
                per[status] = per.get(status, 0) + count
            stats.prefixes[prefix] = stats.prefixes.get(prefix, 0) + count
        return stats

    async def task_counts(self, task_id: int) -> dict[str, int]:
        """Messages of a task by status."""
        return dict(await self._rows("SELECT status, messages FROM task_counts WHERE task_id=? AND messages > 0",
                                     (task_id,)))

    async def task_segments_charged(self, task_id: int) -> int:
        return await self._scalar("SELECT COALESCE(SUM(segments), 0) FROM task_charges WHERE task_id=?",
                                  (task_id,))

    async def purge_counts_before(self, horizon: float) -> int:
        """Counts of days older than the records' retention, and of purged tasks, go with them."""
        slot = int(horizon // SLOT_S)
        outcome = await self._write(
            ("DELETE FROM message_counts WHERE slot < ?", (slot,)),
            ("DELETE FROM charge_counts WHERE slot < ?", (slot,)),
            ("DELETE FROM request_counts WHERE slot < ?", (slot,)),
            ("DELETE FROM task_counts WHERE task_id NOT IN (SELECT id FROM tasks)", ()),
            ("DELETE FROM task_charges WHERE task_id NOT IN (SELECT id FROM tasks)", ()),
        )
        return outcome.changed
