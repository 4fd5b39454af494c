"""How long the engine takes at start to rebuild its rate limits from the store
(engine/limit_history.restore_limits): a store of `--total` messages, of which the last
`--recent` fall inside the replayed window (25 h); requests of `--batch` numbers each.

One process: the store is built with plain sqlite3 first (not timed), then read back through the
engine's Store and replayed into a RateLimiter, as Engine.start does.

    python benchmarks/limits_restore_bench.py                    # 10M messages, 1M recent
    python benchmarks/limits_restore_bench.py --total 2000000 --recent 2000000
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import progress, rss_mb, write  # noqa: E402

from smsengine.domain.limits import LimitPolicy, RateLimiter  # noqa: E402
from smsengine.engine.limit_history import WINDOW_S, restore_limits  # noqa: E402
from smsengine.engine.store import Store  # noqa: E402
from smsengine.engine.store.schema import SCHEMA  # noqa: E402

INSERT = ("INSERT INTO messages (id, app_id, phone, content, type, chars, segments, data_coding, status,"
          " created_at) VALUES (?, ?, ?, ?, 'regular', 60, 1, 0, 'delivered', ?)")


def build(path: Path, total: int, recent: int, batch: int, now: float) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(SCHEMA)
    old = total - recent
    start_old, start_recent = now - 10 * 86400, now - WINDOW_S + 60

    def rows():
        for i in range(total):
            request = i // batch
            if i < old:
                at = start_old + request * batch * (9 * 86400 / max(1, old))
            else:
                at = start_recent + (request - old // batch) * batch * ((WINDOW_S - 120) / max(1, recent))
            yield (i + 1, f"app{request % 5}", f"+86138{i % 50_000_000:08d}",
                   f"Your verification code is {request % 1_000_000:06d}, valid for 5 minutes.", at)

    chunk: list = []
    for n, row in enumerate(rows(), 1):
        chunk.append(row)
        if len(chunk) == 100_000:
            conn.executemany(INSERT, chunk)
            conn.commit()
            chunk.clear()
            if n % 1_000_000 == 0:
                progress(f"  built {n:,} of {total:,}")
    if chunk:
        conn.executemany(INSERT, chunk)
        conn.commit()
    conn.close()


async def restore(path: Path, now: float) -> tuple[int, float, int]:
    store = Store(path)
    await store.open()
    try:
        limiter = RateLimiter(default=LimitPolicy(daily_max=100, same_content_max=100))
        replayed, took = await restore_limits(store, limiter, now)
        return replayed, took, limiter.tracked_entries()
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=10_000_000)
    parser.add_argument("--recent", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100, help="numbers per request")
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="smsengine-limits-") as tmp:
        db = Path(tmp) / "engine.db"
        progress(f"building a store of {args.total:,} messages ({args.recent:,} in the last 25 h)")
        began = time.monotonic()
        build(db, args.total, args.recent, args.batch, now)
        progress(f"  built in {time.monotonic() - began:.0f} s, {db.stat().st_size / 2**20:,.0f} MiB")
        replayed, took, entries = asyncio.run(restore(db, now))
    progress(f"restored {replayed:,} messages in {took:.2f} s ({replayed / took:,.0f}/s), {entries:,} entries")
    write("limits_restore", {
        "processes": "one process: the engine's Store read back and replayed into a RateLimiter",
        "setup": {"messages_in_store": args.total, "messages_in_window": args.recent,
                  "numbers_per_request": args.batch, "window_s": WINDOW_S},
        "messages_replayed": replayed,
        "seconds": round(took, 3),
        "messages_per_s": round(replayed / took),
        "limiter_entries": entries,
        "rss_mb_after": round(rss_mb(_self_pid()), 1),
    })


def _self_pid() -> int:
    import os
    return os.getpid()


if __name__ == "__main__":
    main()
