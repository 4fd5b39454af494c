"""Many deadlines, one event-loop timer: the simulator's scheduler for receipts, MO and late responses."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any


class TimerHeap:
    """`call_at(when, fn, arg)` without a task or loop handle per call.

    Due entries run in deadline order in one batch; the loop timer is re-armed only when a new
    deadline is earlier than the armed one. Entries due now go to a ready list (no heap work).

    A callback that raises is reported to the loop's exception handler (traceback kept, as asyncio
    does for its own callbacks) and the batch goes on: one bad entry must not stall the thousands
    due after it. Callbacks should still handle their expected failures themselves."""

    __slots__ = ("_loop", "_heap", "_ready", "_counter", "_handle", "_armed_at", "_closed")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._ready: list[tuple[Callable[[Any], None], Any]] = []
        self._counter = itertools.count()
        self._handle: asyncio.Handle | None = None
        self._armed_at = float("inf")
        self._closed = False

    def __len__(self) -> int:
        return len(self._heap) + len(self._ready)

    def call_at(self, when: float, fn: Callable[[Any], None], arg: Any) -> None:
        if self._closed:
            return
        if when <= self._loop.time():
            if not self._ready:
                self._loop.call_soon(self._run_ready)
            self._ready.append((fn, arg))
            return
        heapq.heappush(self._heap, (when, next(self._counter), fn, arg))
        if when < self._armed_at:
            if self._handle is not None:
                self._handle.cancel()
            self._armed_at = when
            self._handle = self._loop.call_at(when, self._fire)

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
        self._heap.clear()
        self._ready.clear()

    def _run_ready(self) -> None:
        ready, self._ready = self._ready, []
        for fn, arg in ready:
            try:
                fn(arg)
            except Exception as exc:  # reported to the loop, not swallowed
                self._report(fn, exc)

    def _report(self, fn: Callable[[Any], None], exc: Exception) -> None:
        self._loop.call_exception_handler({"message": f"timer callback {fn!r} failed", "exception": exc})

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = float("inf")
        heap = self._heap
        # A little slack batches entries due within the same millisecond into one wake-up.
        limit = self._loop.time() + 0.001
        pop = heapq.heappop
        while heap and heap[0][0] <= limit and not self._closed:
            _, _, fn, arg = pop(heap)
            try:  # zero-cost when nothing raises (3.11)
                fn(arg)
            except Exception as exc:  # reported to the loop, not swallowed
                self._report(fn, exc)
        if heap and not self._closed:
            self._armed_at = heap[0][0]
            self._handle = self._loop.call_at(self._armed_at, self._fire)
