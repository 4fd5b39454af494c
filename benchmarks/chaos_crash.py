"""Crash campaign: SIGKILL the engine under load again and again, then reconcile its store against
the carrier's own record of every submit_sm it accepted.

Three kinds of process on two cores: this load client, the engine (`python -m smsengine serve`,
killed and restarted `--kills` times) and the simulator (`python -m carriers --submit-log`, never
killed). Each message goes to its own number, so the simulator's submit log counts how often each
message reached the carrier. At the end the engine runs until nothing is open, and the table says
what was accepted, lost (accepted, never final), duplicated (a number submitted more often than its
message has parts) and contradicted (delivered in our store while the carrier never had it).

    python benchmarks/chaos_crash.py                 # 10 kills at 3,000 msg/s, instant receipts
    python benchmarks/chaos_crash.py --receipts slow # receipts 0.5-4 s after the submit
    python benchmarks/chaos_crash.py --quick         # 3 kills at 1,000 msg/s (what `make test` runs)

Writes benchmarks/results/chaos_crash[_slow].json (or prints only, with --no-write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import engine_head_toml, progress, route_and_account_toml, write  # noqa: E402
from e2e_bench import Load, free_port, wait_up  # noqa: E402

from carriers.submit_log import read_submit_log  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECEIPT_DELAYS = {"instant": (0.0, 0.0), "slow": (0.5, 4.0)}
FINAL = ("delivered", "failed", "expired")


def write_configs(tmp: Path, smpp_port: int, http_port: int, receipts: str, hold_s: float) -> tuple[Path, Path]:
    low, high = RECEIPT_DELAYS[receipts]
    carriers = tmp / "carriers.toml"
    carriers.write_text(f"""
[[carriers]]
name = "crashtest"
host = "127.0.0.1"
port = {smpp_port}
time_scale = 1.0
window = 256
deliver_window = 5000
[carriers.delays]
regular = [{low}, {high}]
marketing = [{low}, {high}]
""")
    engine = tmp / "engine.toml"
    engine.write_text(engine_head_toml(http_port, tmp / "engine.db", "info") + f"""
[dispatch]
recovery_hold_s = {hold_s}
[[carriers]]
name = "crashtest"
port = {smpp_port}
binds = 2
window = 128
reconnect_min_s = 0.05
""" + route_and_account_toml("crashtest"))
    return carriers, engine


def open_counts(db: Path) -> tuple[int, int]:
    """(messages stored, messages not final) as committed."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        total, = conn.execute("SELECT COUNT(*) FROM messages").fetchone()
        open_, = conn.execute("SELECT COUNT(*) FROM messages WHERE status IN ('accepted', 'submitted')").fetchone()
    return total, open_


def reconcile(db: Path, submit_log: Path) -> dict:
    """The store against the carrier's record: every number is one message of `segments` parts."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT phone, segments, status FROM messages").fetchall()
        recorded = dict(conn.execute("SELECT m.phone, COUNT(*) FROM segments s JOIN messages m"
                                     " ON m.id = s.message_id GROUP BY m.phone").fetchall())
    submits = Counter(line.destination for line in read_submit_log(submit_log))
    statuses = Counter(status for _, _, status in rows)
    duplicated = lost = contradicted = unrecorded = 0
    for phone, segments, status in rows:
        carried = submits.get(phone.lstrip("+"), 0)
        duplicated += max(0, carried - segments)
        lost += status not in FINAL
        contradicted += status == "delivered" and carried == 0
        unrecorded += carried > 0 and recorded.get(phone, 0) < min(carried, segments)
    phones = {phone.lstrip("+") for phone, _, _ in rows}
    return {
        "messages_accepted": len(rows),
        "statuses": dict(statuses),
        "submits_at_carrier": sum(submits.values()),
        "duplicated_segments": duplicated,
        "lost_not_final": lost,
        "delivered_but_never_at_carrier": contradicted,
        "at_carrier_but_not_recorded": unrecorded,
        "submits_for_numbers_never_accepted": sum(n for d, n in submits.items() if d not in phones),
    }


def start_engine(config: Path, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "smsengine", "serve", "--config", str(config)], cwd=ROOT,
                            env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


async def load_until_cancelled(load: Load, start: int, rate: float) -> None:
    """Paced requests to fresh numbers; errors while the engine is down or dying are counted."""
    per_request = load.batch
    interval = per_request / rate
    n = start
    async with aiohttp.ClientSession(load.url, timeout=aiohttp.ClientTimeout(total=10)) as http:
        next_at = time.monotonic()
        pending: set[asyncio.Task] = set()
        try:
            while True:
                phones = [f"+86{130 + (i // 100_000_000) % 10}{i % 100_000_000:08d}" for i in range(n, n + per_request)]
                n += per_request
                task = asyncio.ensure_future(_post(load, http, phones))
                pending.add(task)
                task.add_done_callback(pending.discard)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            load.next_number = n


async def _post(load: Load, http: aiohttp.ClientSession, phones: list[str]) -> None:
    try:
        await load.post(http, phones)
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError):
        load.errors += 1


async def campaign(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsengine-chaos-"))
    smpp_port, http_port = free_port(), free_port()
    carriers_cfg, engine_cfg = write_configs(tmp, smpp_port, http_port, args.receipts, args.hold)
    submit_log, engine_log = tmp / "submits.jsonl", tmp / "engine.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sims = subprocess.Popen([sys.executable, "-m", "carriers", "--config", str(carriers_cfg), "--submit-log",
                             str(submit_log), "--log-level", "warning"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "carriers.log", "ab"))
    url = f"http://127.0.0.1:{http_port}"
    rng = random.Random(args.seed)
    load = Load(url, args.batch)
    load.next_number = 0
    kills: list[dict] = []
    engine: subprocess.Popen | None = None
    began = time.monotonic()
    try:
        for k in range(args.kills):
            engine = start_engine(engine_cfg, env, engine_log)
            await wait_up(url, 30.0)
            running = asyncio.ensure_future(load_until_cancelled(load, load.next_number, args.rate))
            alive = rng.uniform(args.min_alive, args.max_alive)
            await asyncio.sleep(alive)
            engine.send_signal(signal.SIGKILL)
            engine.wait(10)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            stored, open_ = open_counts(tmp / "engine.db")
            kills.append({"kill": k + 1, "after_s": round(alive, 2), "stored": stored, "open_at_kill": open_})
            progress(f"kill {k + 1}/{args.kills} after {alive:.1f} s: {stored:,} stored, {open_:,} open")
        engine = start_engine(engine_cfg, env, engine_log)
        await wait_up(url, 30.0)
        deadline = time.monotonic() + args.settle
        while (left := open_counts(tmp / "engine.db")[1]) and time.monotonic() < deadline:
            progress(f"settling: {left:,} open")
            await asyncio.sleep(1.0)
        engine.send_signal(signal.SIGTERM)
        engine.wait(30)
    finally:
        for proc in (engine, sims):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    totals = reconcile(tmp / "engine.db", submit_log)
    totals["duplicated_per_kill"] = round(totals["duplicated_segments"] / max(1, args.kills), 2)
    return {
        "processes": "load client, engine (SIGKILLed and restarted) and simulator in separate processes (2 cores)",
        "setup": {"kills": args.kills, "rate_messages_per_s": args.rate, "batch": args.batch,
                  "receipts": args.receipts, "receipt_delay_s": RECEIPT_DELAYS[args.receipts],
                  "recovery_hold_s": args.hold, "alive_s": [args.min_alive, args.max_alive], "seed": args.seed},
        "duration_s": round(time.monotonic() - began, 1),
        "requests": load.requests, "request_errors_while_killed": load.errors,
        "kills": kills,
        "result": totals,
        "tmp": str(tmp),
    }


def table(report: dict) -> str:
    r = report["result"]
    rows = [
        ("kills", report["setup"]["kills"]),
        ("messages accepted (stored)", r["messages_accepted"]),
        ("submits the carrier accepted", r["submits_at_carrier"]),
        ("lost: accepted, not final", r["lost_not_final"]),
        ("duplicated segments", r["duplicated_segments"]),
        ("duplicated per kill", r["duplicated_per_kill"]),
        ("delivered but never at the carrier", r["delivered_but_never_at_carrier"]),
        ("at the carrier but not recorded", r["at_carrier_but_not_recorded"]),
        ("final states", ", ".join(f"{k} {v:,}" for k, v in sorted(r["statuses"].items()))),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=3000.0, help="messages per second offered")
    parser.add_argument("--batch", type=int, default=100, help="numbers per request")
    parser.add_argument("--receipts", choices=sorted(RECEIPT_DELAYS), default="instant")
    parser.add_argument("--hold", type=float, default=15.0, help="engine dispatch.recovery_hold_s")
    parser.add_argument("--min-alive", type=float, default=2.0)
    parser.add_argument("--max-alive", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=120.0, help="seconds allowed for the last run to finish")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="3 kills at 1,000 msg/s, 3 s hold")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.kills, args.rate, args.hold, args.min_alive, args.max_alive = 3, 1000.0, 3.0, 1.0, 2.5
    report = asyncio.run(campaign(args))
    print(table(report), flush=True)
    if not args.no_write:
        write("chaos_crash" + ("" if args.receipts == "instant" else f"_{args.receipts}"), report)
    else:
        print(json.dumps(report["result"]), flush=True)
    r = report["result"]
    ok = not (r["lost_not_final"] or r["delivered_but_never_at_carrier"] or r["at_carrier_but_not_recorded"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
