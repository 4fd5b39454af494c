"""The runtime of a long-running process (the engine's `serve`, its carrier process): the
interpreter tuned for many short-lived objects, and the cores the process may use."""

from __future__ import annotations

import gc
import math
import os
import sys
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
