"""DueQueue: the pop_due rule on an injected clock, and the task that hands due items to on_due."""

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from smsengine.engine.due import DueQueue
from tests.support.polling import eventually


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_pop_due_returns_due_items_in_due_order_and_keeps_the_rest():
    queue: DueQueue[str] = DueQueue(lambda items: None, clock=FakeClock())
    queue.put(30.0, "c")
    queue.put(10.0, "a")
    queue.put(20.0, "b")
    queue.put(40.0, "d")
    assert queue.next_due() == 10.0
    assert queue.pop_due(9.999) == []
    assert queue.pop_due(20.0) == ["a", "b"]  # due exactly now counts as due
    assert len(queue) == 2
    assert queue.next_due() == 30.0
    assert queue.pop_due(100.0) == ["c", "d"]
    assert queue.next_due() is None and len(queue) == 0


def test_items_due_at_the_same_time_keep_insertion_order():
    queue: DueQueue[int] = DueQueue(lambda items: None, clock=FakeClock())
    for i in range(50):
        queue.put(5.0, i)
    queue.put(1.0, -1)
    assert queue.pop_due(5.0) == [-1, *range(50)]


@given(st.lists(st.tuples(st.integers(0, 20), st.integers()), max_size=60), st.integers(-1, 21))
def test_pop_due_is_a_stable_sort_of_what_is_due(entries, now):
    """Exactly the items with due <= now come out, ordered by due time, ties in insertion order;
    the rest stay for later and come out in the same order."""
    queue: DueQueue[tuple[int, int]] = DueQueue(lambda items: None, clock=FakeClock())
    tagged = [(float(due), (i, value)) for i, (due, value) in enumerate(entries)]
    for due, item in tagged:
        queue.put(due, item)
    expected = [item for due, item in sorted(tagged, key=lambda x: x[0]) if due <= now]
    assert queue.pop_due(float(now)) == expected
    assert len(queue) == len(entries) - len(expected)
    rest = [item for due, item in sorted(tagged, key=lambda x: x[0]) if due > now]
    assert queue.pop_due(float("inf")) == rest


class Recorder:
    """on_due that notes what arrived and the fake time it arrived at."""

    def __init__(self, clock: FakeClock, until: int) -> None:
        self.clock = clock
        self.until = until
        self.batches: list[tuple[float, list[str]]] = []
        self.done = asyncio.Event()

    def __call__(self, items: list[str]) -> None:
        self.batches.append((self.clock(), list(items)))
        if sum(len(b) for _, b in self.batches) >= self.until:
            self.done.set()

    @property
    def items(self) -> list[str]:
        return [item for _, batch in self.batches for item in batch]


async def test_put_of_an_earlier_item_wakes_the_sleeping_task():
    clock = FakeClock(0.0)
    on_due = Recorder(clock, until=1)
    # the task would sleep an hour for the far item: only the wake-up on put can deliver in time
    queue: DueQueue[str] = DueQueue(on_due, clock=clock, max_sleep=3600.0)
    queue.put(1000.0, "far")
    queue.start()
    try:
        await asyncio.sleep(0)  # let the task reach its sleep
        clock.now = 5.0
        queue.put(5.0, "now")
        await asyncio.wait_for(on_due.done.wait(), timeout=2.0)
        assert on_due.batches == [(5.0, ["now"])]
        assert queue.next_due() == 1000.0
    finally:
        await queue.stop()


async def test_put_into_an_empty_queue_wakes_the_idle_task():
    clock = FakeClock(0.0)
    on_due = Recorder(clock, until=2)
    queue: DueQueue[str] = DueQueue(on_due, clock=clock, max_sleep=3600.0)
    queue.start()
    try:
        await asyncio.sleep(0)  # idle: waiting for a first item
        queue.put(0.0, "a")
        queue.put(0.0, "b")
        await asyncio.wait_for(on_due.done.wait(), timeout=2.0)
        assert on_due.items == ["a", "b"]
    finally:
        await queue.stop()


async def test_the_task_delivers_nothing_before_its_time_on_the_fake_clock():
    """Every item reaches on_due at or after its due time, in due order; the clock is advanced
    by the test and the task notices within max_sleep."""
    clock = FakeClock(0.0)
    dues = {"a": 0.0, "b": 10.0, "c": 10.0, "d": 20.0}
    on_due = Recorder(clock, until=len(dues))
    queue: DueQueue[str] = DueQueue(on_due, clock=clock, max_sleep=0.01)
    for name in ("d", "b", "a", "c"):
        queue.put(dues[name], name)
    queue.start()
    try:
        await eventually(lambda: on_due.items == ["a"], timeout=2.0)
        clock.now = 10.0
        await eventually(lambda: len(on_due.items) == 3, timeout=2.0)
        clock.now = 25.0
        await asyncio.wait_for(on_due.done.wait(), timeout=2.0)
        assert on_due.items == ["a", "b", "c", "d"]
        for at, batch in on_due.batches:
            assert all(dues[name] <= at for name in batch), on_due.batches
    finally:
        await queue.stop()


async def test_stop_ends_the_task():
    queue: DueQueue[str] = DueQueue(lambda items: None, clock=FakeClock())
    queue.start()
    task = queue._task
    await queue.stop()
    assert task is not None and task.done()

