"""Chaos fuzzing of the HTTP API: schemathesis from the served /openapi.json against a real engine,
longer and varied (a seed) where tests/api/test_fuzz.py is bounded and fixed; prints a table
(operations tried, requests sent, 5xx, schema violations) with one reproduction per failure, and
exits 1 when a request got a 5xx.

    .venv/bin/python benchmarks/chaos_fuzz_http.py [--examples 200] [--seed N] [--identity garbled]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

from hypothesis.errors import HypothesisDeprecationWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import progress, write  # noqa: E402

from smsengine.logs import configure  # noqa: E402
from tests.api.fuzzing import IDENTITIES, MODES, fuzz, served_rig  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="per operation × identity × mode")
    parser.add_argument("--seed", type=int, default=None, help="default: from the clock (printed)")
    parser.add_argument("--identity", action="append", choices=[*IDENTITIES, "garbled"],
                        help="repeatable; default: all, garbled (Latin-1 credentials headers) included")
    parser.add_argument("--mode", action="append", choices=list(MODES), help="repeatable; default: both")
    args = parser.parse_args()
    # the table is the output: the engine's info lines and aiohttp's traceback per 500 would bury it
    configure("warning")
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    # schemathesis's negative generation draws from `random`, which seeded runs warn about
    warnings.filterwarnings("ignore", category=HypothesisDeprecationWarning)
    seed = args.seed if args.seed is not None else int(time.time())
    identities = args.identity or [*IDENTITIES, "garbled"]
    progress(f"seed {seed}, {args.examples} examples per operation × identity ({', '.join(identities)}) × mode")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, served_rig(Path(tmp)) as base_url:
        tally = fuzz(base_url, max_examples=args.examples, identities=identities, modes=args.mode, seed=seed)
    elapsed = time.monotonic() - started
    print(tally.report())
    print(f"{'seconds':<22}{elapsed:>8.0f}")
    write("chaos_fuzz_http", {
        "seed": seed, "examples": args.examples, "identities": identities, "seconds": round(elapsed, 1),
        "operations": len(tally.operations), "requests": tally.requests,
        "statuses": {f"{k // 100}xx": v for k, v in sorted(tally.statuses.items())},
        "server_errors": tally.server_error_count, "schema_violations": tally.violation_count,
        "found": sorted(f"{label}: {kind}" for label, kind in [*tally.server_errors, *tally.violations]),
    })
    return 1 if tally.server_error_count else 0


if __name__ == "__main__":
    sys.exit(main())
