"""The interpreter tuned for a long-running process that allocates many short-lived objects: the
engine (`serve`) and its carrier process."""

from __future__ import annotations

import gc
import sys


def tune() -> None:
    """Measured in benchmarks/e2e_bench.py: the store's writer thread waits for the GIL at every
    hand-off, so a short switch interval keeps group commits short; and the hot path allocates
    many short-lived objects, so a larger gen-0 threshold (and frozen start-up objects) cuts the
    collector's share of CPU. Cycles are still collected."""
    sys.setswitchinterval(0.0002)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
