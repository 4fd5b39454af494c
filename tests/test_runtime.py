"""The process runtime: thread priorities (the store's writer below the event loop)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from smsengine.engine.store import Store
from smsengine.runtime import lower_thread_priority

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def _nice_of(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def _in_thread(nice: int) -> int:
    seen: list[int] = []

    def run() -> None:
        lower_thread_priority(nice)
        seen.append(_nice_of(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen[0]


def test_a_thread_lowers_its_own_priority_and_no_other():
    base = _nice_of(threading.get_native_id())
    assert _in_thread(3) == min(19, base + 3)
    assert _in_thread(0) == base  # 0: left as it is
    assert _in_thread(40) == 19  # never past the lowest priority
    assert _nice_of(threading.get_native_id()) == base  # the caller's thread (the loop) keeps its own
    assert _nice_of(0) == base


def _thread_named(name: str) -> int | None:
    for task in Path("/proc/self/task").iterdir():
        if (task / "comm").read_text().strip() == name:
            return int(task.name)
    return None


@pytest.mark.parametrize("nice", [0, 5])
async def test_the_store_writer_runs_below_the_loop(tmp_path, nice):
    base = _nice_of(threading.get_native_id())
    store = Store(tmp_path / "s.db", writer_nice=nice)
    await store.open()
    try:
        writer = _thread_named("store-writer")
        assert writer is not None and writer != threading.get_native_id()
        assert _nice_of(writer) == min(19, base + nice)
        assert _nice_of(threading.get_native_id()) == base
    finally:
        await store.close()
