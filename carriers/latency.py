"""submit_sm_resp latency distributions: fixed, uniform or lognormal, in milliseconds."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from carriers.config import Latency


def latency_sampler(latency: Latency, rng: random.Random) -> Callable[[], float] | None:
    """A function drawing one latency in seconds, or None when every answer is immediate."""
    if latency.kind == "fixed":
        if latency.ms <= 0:
            return None
        fixed = latency.ms / 1000.0
        return lambda: fixed
    if latency.kind == "uniform":
        low, high = latency.low_ms / 1000.0, latency.high_ms / 1000.0
        if high <= 0:
            return None
        return lambda: rng.uniform(low, high)
    if latency.ms <= 0:
        return None
    mu, sigma = math.log(latency.ms / 1000.0), latency.sigma
    return lambda: rng.lognormvariate(mu, sigma)
