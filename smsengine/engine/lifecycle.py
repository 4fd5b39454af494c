"""Ending the engine's long-lived background tasks, and the bounded wait they sleep in."""

from __future__ import annotations

import asyncio


async def cancel_tasks(*tasks: asyncio.Task | None) -> None:
    """Cancel and wait for each task; their cancellation is expected, not an error."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    await asyncio.gather(*live, return_exceptions=True)


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for `event` at most `timeout` seconds (None: until it is set); True when it was set.

    asyncio.timeout, not asyncio.wait_for: on Python 3.11 a cancel that lands while wait_for's
    own timeout is releasing it can be lost, and a background task looping over wait_for then
    never ends (seen as an engine stop hanging in tests about one run in three)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
