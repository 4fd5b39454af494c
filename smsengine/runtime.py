"""The runtime of a long-running process (the engine's `serve`, its carrier process): the
interpreter tuned for many short-lived objects, its threads named and prioritised, and the cores
the process may use."""

from __future__ import annotations

import ctypes
import gc
import math
import os
import sys
import threading
from pathlib import Path


def tune() -> None:
    """Measured in benchmarks/e2e_bench.py: the store's writer thread waits for the GIL at every
    hand-off, so a short switch interval keeps group commits short; and the hot path allocates
    many short-lived objects, so a larger gen-0 threshold (and frozen start-up objects) cuts the
    collector's share of CPU. Cycles are still collected."""
    sys.setswitchinterval(0.0002)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def name_thread(name: bytes) -> None:
    """Give the calling thread an OS-level name (Linux: what top -H, ps -L and /proc show), so the
    store's writer can be told from the event loop when their CPU time is looked at."""
    try:
        ctypes.CDLL(None).prctl(15, name[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass  # not Linux: the name is only a convenience


def lower_thread_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by `nice` (its nice value goes up by that much, to
    at most 19; Linux schedules threads, not processes, and lets any thread lower its own). For
    threads doing batchable work
    beside the event loop: when the two cores are contended, the loop, which every message waits
    on, runs first. Measured in benchmarks/e2e_bench.py (the store's writer at nice 10, 3
    interleaved pairs): the loop waited for a CPU 0.05-0.09 of the time instead of 0.12-0.13, and
    end to end went 9,292/10,138/10,760 -> 9,925/10,529/11,208 messages/s."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return  # elsewhere setpriority would renice the whole process
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + nice))
    except OSError:
        pass  # a sandbox that forbids it: the thread runs at the process's priority


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: its CPU affinity (taskset, cpusets), capped by a cgroup
    CPU quota (a container's --cpus; v2 `cpu.max`, v1 `cpu/cpu.cfs_quota_us`), not the host's
    count."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    for quota_file, period_file in ((cgroup / "cpu.max", None),
                                    (cgroup / "cpu" / "cpu.cfs_quota_us", cgroup / "cpu" / "cpu.cfs_period_us")):
        try:
            if period_file is None:
                quota, period = quota_file.read_text().split()
            else:
                quota, period = quota_file.read_text().strip(), period_file.read_text().strip()
        except (OSError, ValueError):
            continue
        if quota not in ("max", "-1"):
            try:
                cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
            except ValueError:
                pass
        break
    return cores
