"""The one way tests wait for something asynchronous: poll a condition until it holds."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def eventually(condition: Callable[[], Any], timeout: float = 10.0,
                     describe: Callable[[], str] | None = None, interval: float = 0.02) -> Any:
    """Poll `condition` (a function, or a coroutine function) until it returns something truthy;
    return that. Fails with `describe()` (or the last value) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            detail = describe() if describe is not None else f"last value {value!r}"
            raise AssertionError(f"condition not met in {timeout} s: {detail}")
        await asyncio.sleep(interval)

