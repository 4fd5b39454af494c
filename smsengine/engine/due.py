"""Work that falls due later (scheduled sends, retries after backoff): one heap, one task."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

from smsengine.engine.lifecycle import cancel_tasks, wait_event

log = structlog.get_logger("smsengine.due")

T = TypeVar("T")


class DueQueue(Generic[T]):
    """Items with a due time on the injected clock. `pop_due(now)` is the whole rule and takes
    the clock as an argument (tests drive it directly); the task only sleeps until the earliest
    item, at most `max_sleep` so a wall clock that jumps is noticed, and hands each batch of due
    items to `on_due` in due order."""

    def __init__(self, on_due: Callable[[list[T]], None], *, clock: Callable[[], float] = time.time,
                 max_sleep: float = 1.0) -> None:
        self.on_due = on_due
        self.clock = clock
        self.max_sleep = max_sleep
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def put(self, due: float, item: T) -> None:
        heap = self._heap
        heapq.heappush(heap, (due, next(self._order), item))
        if heap[0][2] is item:  # a new earliest item: the sleeping task must look again
            self._wake.set()

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[T]:
        heap = self._heap
        due: list[T] = []
        while heap and heap[0][0] <= now:
            due.append(heapq.heappop(heap)[2])
        return due

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="due-queue")

    async def stop(self) -> None:
        await cancel_tasks(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            items = self.pop_due(self.clock())
            if items:
                try:
                    self.on_due(items)
                except Exception:
                    # a bug handling one batch must not end every later retry and scheduled send
                    log.exception("due.handler_error", items=len(items))
                continue
            first = self.next_due()
            if first is None:
                await self._wake.wait()
                continue
            await wait_event(self._wake, min(self.max_sleep, first - self.clock()))
