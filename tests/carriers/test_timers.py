"""The simulator's timer heap: deadline order, and one failing callback does not stall the others."""

from __future__ import annotations

import asyncio

from carriers.timers import TimerHeap
from tests.support.polling import eventually


async def test_a_raising_callback_is_reported_and_the_rest_of_the_batch_runs() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict] = []  # type: ignore[type-arg]
    loop.set_exception_handler(lambda _, context: reported.append(context))
    ran: list[int] = []

    def work(n: int) -> None:
        if n == 2:
            raise ValueError("bad entry")
        ran.append(n)

    try:
        timers = TimerHeap(loop)
        soon = loop.time() + 0.01
        for n in (1, 2, 3, 4):  # same deadline: one batch
            timers.call_at(soon, work, n)
        for n in (5, 6):  # due now: the ready list
            timers.call_at(0.0, work, n if n == 5 else 2)
        timers.call_at(soon + 0.02, work, 7)  # a later batch: the heap must stay armed
        await eventually(lambda: 7 in ran, 5)
    finally:
        loop.set_exception_handler(None)
    assert sorted(ran) == [1, 3, 4, 5, 7]
    assert [type(c["exception"]) for c in reported] == [ValueError, ValueError]
    assert len(timers) == 0
