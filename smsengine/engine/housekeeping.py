"""Periodic upkeep: expired rate-limit state, accounts in arrears, and records (messages,
segments, replies, link clicks, bulk tasks) past their retention period."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from smsengine.domain.limits import RateLimiter
from smsengine.engine.accounts import AccountRegistry
from smsengine.engine.store import Store
from smsengine.engine.lifecycle import cancel_tasks

log = structlog.get_logger("smsengine.housekeeping")


class Housekeeping:
    def __init__(self, store: Store, limiter: RateLimiter, retention_days: int, *,
                 accounts: AccountRegistry | None = None, arrears_grace_s: float = 12 * 3600.0,
                 sweep_every: float = 30.0, purge_every: float = 3600.0, purge_batch: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limiter = limiter
        self.retention_days = retention_days
        self.accounts = accounts
        self.arrears_grace_s = arrears_grace_s
        self.sweep_every = sweep_every
        self.purge_every = purge_every
        self.purge_batch = purge_batch
        self.clock = clock
        self.purged = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def stop(self) -> None:
        await cancel_tasks(self._task)

    async def _run(self) -> None:
        next_purge = 0.0
        while True:
            # a sweep's interval first: the start (recovery, seeding, the first sends) is busy enough
            await asyncio.sleep(self.sweep_every)
            now = self.clock()
            self.limiter.sweep(now)
            if self.accounts is not None:
                try:
                    await self.accounts.check_arrears(now, self.arrears_grace_s)
                except Exception as exc:
                    log.warning("housekeeping.arrears_failed", error=repr(exc))
            if now >= next_purge:
                try:
                    await self.purge(now)
                except Exception as exc:
                    log.warning("housekeeping.purge_failed", error=repr(exc))
                next_purge = now + self.purge_every

    async def purge(self, now: float) -> int:
        """Delete final messages (and their segments) older than the retention period, in
        batches so no single transaction holds the writer for long."""
        horizon = now - self.retention_days * 86400
        total = 0
        while purged := await self.store.purge_before(horizon, self.purge_batch):
            total += purged
        # replies and short-link clicks go by the same retention, in the same bounded batches
        for kind in ("replies", "link_clicks"):
            while await self.store.purge_records_before(kind, horizon, self.purge_batch):
                pass
        while await self.store.purge_tasks_before(horizon):  # bulk tasks, a hundred at a time
            pass
        await self.store.purge_counts_before(horizon)  # statistics of the days and tasks gone
        if total:
            self.purged += total
            log.info("housekeeping.purged", messages=total, older_than_days=self.retention_days)
        return total
