"""The store's writer thread: its CPU per message for the three writes every message makes (accepted,
submitted with its receipt folded in, final), the counts it keeps included, on a real SQLite file.

Two kinds of traffic, alternated so a noisy machine slows both alike: `send` (a request's messages
share one text and consecutive ids: one statement per request) and `task` (every row its own text:
one statement per batch over per-row JSON). One process; the writer's CPU is read from its thread's
/proc schedstat, so nothing inside the store is patched.

    python benchmarks/store_bench.py                 # 3 rounds of 40,000 messages each way
    python benchmarks/store_bench.py -n 100000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import progress, thread_times, write  # noqa: E402

from smsengine.engine.records import MessageFinal, MessageRecord, MessageStatus  # noqa: E402
from smsengine.engine.store import Store  # noqa: E402

TEXT = "【签名】您的验证码是{}，五分钟内有效。请勿告诉他人。如非本人操作请忽略本短信，谢谢。"


async def one_run(kind: str, n: int, batch: int) -> dict:
    """n messages in requests of `batch`: accepted (awaited, as the API does), then submitted with
    half the receipts folded into the same commit, then final; returns the writer's CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        await store.open()
        before = thread_times(os.getpid()).get("store-writer", (0.0, 0.0))[0]
        commits0 = store.commits
        started = time.perf_counter()
        now = time.time()
        for start in range(0, n, batch):
            records = [
                MessageRecord(id=i + 1, app_id="bench", phone=f"+86138{(i * 7919) % 10**8:08d}",
                              content=TEXT.format(f"{i % 1_000_000:06d}" if kind == "task" else "123456"),
                              type="regular", chars=48, segments=1, data_coding=8, created_at=now + start / 1000)
                for i in range(start, start + batch)
            ]
            await store.accept(records)
            for r in records:
                store.segment_submitted(r.id, 1, "bench", f"{r.id:x}", now)
            for r in records[: batch // 2]:
                store.segment_result(r.id, 1, "DELIVRD", "000", now + 1)
            await store.flush()
            for r in records[batch // 2:]:
                store.segment_result(r.id, 1, "DELIVRD", "000", now + 1)
            for r in records:
                store.message_final(MessageFinal(r.id, "bench", r.phone, MessageStatus.DELIVERED, 0,
                                                 "DELIVRD err:000", now, now + 1, carrier="bench"))
            await store.flush()
        wall = time.perf_counter() - started
        writer = thread_times(os.getpid()).get("store-writer", (0.0, 0.0))[0] - before
        commits = store.commits - commits0
        await store.close()
    return {"writer_cpu_us_per_message": round(writer / n * 1e6, 1), "seconds": round(wall, 2),
            "commits": commits, "messages_per_s": round(n / wall)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=40_000, help="messages per run")
    parser.add_argument("--batch", type=int, default=200, help="numbers per request")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each kind, alternated")
    parser.add_argument("--out", default="store")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"send": [], "task": []}
    for round_ in range(1, args.rounds + 1):
        for kind in ("send", "task") if round_ % 2 else ("task", "send"):
            result = await one_run(kind, args.n, args.batch)
            runs[kind].append(result)
            progress(f"round {round_} {kind:4s}: writer {result['writer_cpu_us_per_message']:5.1f} us CPU a message,"
                     f" {result['messages_per_s']:,} messages/s, {result['commits']} commits")
    summary = {kind: {"median_writer_cpu_us_per_message": statistics.median(r["writer_cpu_us_per_message"]
                                                                            for r in results)}
               for kind, results in runs.items()}
    progress("median writer CPU a message: " + ", ".join(
        f"{kind} {s['median_writer_cpu_us_per_message']} us" for kind, s in summary.items()))
    path = write(args.out, {
        "command": "python benchmarks/store_bench.py " + " ".join(sys.argv[1:]),
        "processes": "one: this script and the store's writer thread",
        "setup": {"messages_per_run": args.n, "numbers_per_request": args.batch, "rounds": args.rounds,
                  "writes": "accept (awaited), submitted (half the receipts folded into the same commit), final",
                  "send": "a request's messages share one text and consecutive ids",
                  "task": "every message its own text (a bulk task's rows with parameters)"},
        "summary": summary,
        "runs": runs,
    })
    progress(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
