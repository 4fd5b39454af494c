"""Carrier-fault campaign: the simulator is killed and restarted (with fresh or reused message
ids), frozen (SIGSTOP), throttles everything, or loses its receipts, while the engine is under
load. Every message must end final, and no final state may contradict the number's fate (which
the simulator draws from its seed, so this script knows it too).

Three kinds of process on two cores: this load client, the engine (`python -m smsengine serve`)
and the simulator (`python -m carriers`), which the scenarios kill, restart and stop.

    python benchmarks/chaos_carriers.py                  # every scenario
    python benchmarks/chaos_carriers.py --only sigstop   # one of them
    python benchmarks/chaos_carriers.py --quick          # fewer messages (what `make test` runs)

Writes benchmarks/results/chaos_carriers.json (unless --no-write) and prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import engine_head_toml, progress, route_and_account_toml, write  # noqa: E402
from e2e_bench import Load, free_port, wait_up  # noqa: E402

from carriers.config import FateShares  # noqa: E402
from carriers.fates import OUTCOMES, Fate, FateTable  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 7
SHARES = FateShares(empty=0.1, out_of_service=0.05, blocked=0.05, powered_off=0.05)
FINAL = ("delivered", "failed", "expired")
# codes that mean "the carrier never told us": no fate can be read from them
UNTOLD = {60003: "expired: no receipt in time", 60005: "never accepted", 60006: "throttled too long",
          60008: "carrier timeout"}


@dataclass
class Scenario:
    name: str
    what: str
    carrier: dict = field(default_factory=dict)  # simulator profile overrides (TOML values)
    engine: dict = field(default_factory=dict)  # [dispatch] / carrier overrides for the engine
    fault: Callable[[Run], Awaitable[None]] | None = None


class Run:
    """One scenario's processes: a simulator (restartable) and an engine, in a temp dir."""

    def __init__(self, tmp: Path, scenario: Scenario) -> None:
        self.tmp = tmp
        self.scenario = scenario
        self.smpp_port, self.http_port = free_port(), free_port()
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.sims: subprocess.Popen | None = None
        self.engine: subprocess.Popen | None = None
        self.events: list[str] = []

    def write_configs(self, nonce: int | None = None) -> None:
        extra = "\n".join(f"{k} = {v}" for k, v in self.scenario.carrier.items() if not k.startswith("["))
        ids = f"\n[carriers.message_ids]\nnonce = {nonce}\n" if nonce is not None else ""
        delays = self.scenario.carrier.get("[delays]", "[0.05, 0.5]")
        shares = ", ".join(f"{k} = {v}" for k, v in msgspec_dict(SHARES).items() if v)
        (self.tmp / "carriers.toml").write_text(f"""
[[carriers]]
name = "faulty"
host = "127.0.0.1"
port = {self.smpp_port}
seed = {SEED}
time_scale = 1.0
enquire_link_s = 3600
idle_timeout_s = 3700
{extra}
fates = {{ {shares} }}
[carriers.delays]
regular = {delays}
marketing = {delays}
{ids}""")
        dispatch = "\n".join(f"{k} = {v}" for k, v in self.scenario.engine.get("dispatch", {}).items())
        carrier = "\n".join(f"{k} = {v}" for k, v in self.scenario.engine.get("carrier", {}).items())
        (self.tmp / "engine.toml").write_text(engine_head_toml(self.http_port, self.tmp / "engine.db", "info") + f"""
[dispatch]
recovery_hold_s = 2.0
{dispatch}
[[carriers]]
name = "faulty"
port = {self.smpp_port}
binds = 2
window = 64
response_timeout_s = 2.0
enquire_link_s = 2.0
reconnect_min_s = 0.1
reconnect_max_s = 1.0
{carrier}
""" + route_and_account_toml("faulty"))

    def start_sims(self, nonce: int | None = None) -> None:
        self.write_configs(nonce)
        self.sims = subprocess.Popen(
            [sys.executable, "-m", "carriers", "--config", str(self.tmp / "carriers.toml"), "--log-level", "warning"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.tmp / "carriers.log", "ab"))

    def start_engine(self) -> None:
        self.engine = subprocess.Popen(
            [sys.executable, "-m", "smsengine", "serve", "--config", str(self.tmp / "engine.toml")],
            cwd=ROOT, env=self.env, stdout=open(self.tmp / "engine.log", "ab"), stderr=subprocess.STDOUT)

    def note(self, event: str) -> None:
        self.events.append(event)
        progress(f"  {self.scenario.name}: {event}")

    def stop(self) -> None:
        for proc in (self.engine, self.sims):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def msgspec_dict(struct) -> dict:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


# -- the faults -------------------------------------------------------------------------------------
async def _restart_twice(run: Run, nonce: int | None) -> None:
    for _ in range(2):
        await asyncio.sleep(2.0)
        run.sims.send_signal(signal.SIGKILL)
        run.sims.wait(10)
        run.note("simulator SIGKILLed")
        await asyncio.sleep(1.0)
        run.start_sims(nonce)  # a fixed nonce: the same id sequence as before the kill
        run.note("simulator restarted " + ("issuing the same ids again" if nonce is not None else "(new ids)"))


async def restart_fresh_ids(run: Run) -> None:
    await _restart_twice(run, None)


async def restart_reused_ids(run: Run) -> None:
    await _restart_twice(run, 7)


async def sigstop(run: Run) -> None:
    await asyncio.sleep(2.0)
    run.sims.send_signal(signal.SIGSTOP)
    run.note("simulator SIGSTOPped for 8 s")
    await asyncio.sleep(8.0)
    run.sims.send_signal(signal.SIGCONT)
    run.note("simulator SIGCONTinued")


SCENARIOS = [
    Scenario("restart", "simulator killed and restarted twice, fresh ids (receipts it owed are lost)",
             fault=restart_fresh_ids, engine={"dispatch": {"validity_s": 20.0}},
             carrier={"[delays]": "[0.5, 3.0]"}),
    Scenario("restart_reused_ids", "as restart, but the simulator issues the same ids again after each restart",
             fault=restart_reused_ids, engine={"dispatch": {"validity_s": 20.0}},
             carrier={"[delays]": "[0.5, 3.0]"}),
    Scenario("sigstop", "simulator frozen (SIGSTOP) for 8 s, then continued", fault=sigstop,
             engine={"dispatch": {"validity_s": 30.0}}),
    Scenario("throttle_all", "the carrier takes 5 submits/s and throttles the rest: throttle budget 5 s, validity 20 s",
             carrier={"throughput_per_s": 5.0, "throughput_burst": 1.0},
             engine={"carrier": {"throttle_budget_s": 5.0, "throttle_pause_s": 0.5},
                     "dispatch": {"validity_s": 20.0}}),
    Scenario("lost_receipts", "receipts come an hour late: every message expires by its deadline (15 s)",
             carrier={"[delays]": "[3600.0, 3600.0]"}, engine={"dispatch": {"validity_s": 15.0}}),
]


def expected_status(fate: Fate) -> str:
    if fate is Fate.INVALID_DESTINATION:
        return "failed"
    return "delivered" if OUTCOMES[fate].delivered else "failed"


def judge(db: Path, fates: FateTable) -> dict:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT phone, status, code FROM messages").fetchall()
    statuses = Counter(status for _, status, _ in rows)
    untold = Counter(UNTOLD[code] for _, status, code in rows if status in FINAL and code in UNTOLD)
    stuck = sum(status not in FINAL for _, status, _ in rows)
    contradicting = 0
    for phone, status, code in rows:
        if status in FINAL and code not in UNTOLD and status != expected_status(fates.fate_of(phone)):
            contradicting += 1
    return {"messages": len(rows), "statuses": dict(statuses), "not_final": stuck,
            "contradicting_fate": contradicting, "ended_untold": dict(untold)}


async def run_scenario(scenario: Scenario, messages: int, rate: float, settle: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"smsengine-chaos-{scenario.name}-"))
    run = Run(tmp, scenario)
    progress(f"{scenario.name}: {scenario.what}")
    began = time.monotonic()
    run.start_sims()
    await asyncio.sleep(0.5)
    run.start_engine()
    try:
        url = f"http://127.0.0.1:{run.http_port}"
        await wait_up(url, 30.0)
        load = Load(url, 100)
        sending = asyncio.ensure_future(load.run(0, messages, 4, rate))
        if scenario.fault is not None:
            await scenario.fault(run)
        await sending
        run.note(f"load done: {load.accepted:,} accepted, {load.errors} request errors")
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            with sqlite3.connect(f"file:{tmp / 'engine.db'}?mode=ro", uri=True, timeout=5) as conn:
                left, = conn.execute(
                    "SELECT COUNT(*) FROM messages WHERE status IN ('accepted', 'submitted')").fetchone()
            if not left:
                break
            await asyncio.sleep(1.0)
    finally:
        run.stop()
    result = judge(tmp / "engine.db", FateTable(SEED, SHARES))
    result.update(scenario=scenario.name, what=scenario.what, events=run.events,
                  seconds=round(time.monotonic() - began, 1), tmp=str(tmp))
    progress(f"{scenario.name}: {result['messages']:,} messages, {result['not_final']} not final,"
             f" {result['contradicting_fate']} contradicting their fate, {result['statuses']}")
    return result


def table(results: list[dict]) -> str:
    head = f"{'scenario':<20} {'messages':>8} {'not final':>9} {'contradicting':>13}  final states; ended untold"
    lines = [head, "-" * len(head)]
    for r in results:
        untold = ", ".join(f"{k} {v}" for k, v in r["ended_untold"].items()) or "-"
        states = ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items()))
        lines.append(f"{r['scenario']:<20} {r['messages']:>8,} {r['not_final']:>9} {r['contradicting_fate']:>13}"
                     f"  {states}; {untold}")
    return "\n".join(lines)


async def campaign(args: argparse.Namespace) -> list[dict]:
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    return [await run_scenario(s, args.messages, args.rate, args.settle) for s in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], choices=[s.name for s in SCENARIOS])
    parser.add_argument("--messages", type=int, default=6000, help="messages per scenario")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second offered")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds allowed after the load for finals")
    parser.add_argument("--quick", action="store_true", help="2,000 messages per scenario at 300/s")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rate = 2000, 300.0  # the load still runs while the faults happen
    results = asyncio.run(campaign(args))
    print(table(results), flush=True)
    if not args.no_write:
        write("chaos_carriers", {
            "processes": "load client, engine and simulator in separate processes (2 cores); the simulator is"
                         " killed, restarted and stopped by the scenarios",
            "setup": {"messages_per_scenario": args.messages, "rate_messages_per_s": args.rate, "seed": SEED,
                      "fate_shares": msgspec_dict(SHARES)},
            "scenarios": results,
        })
    bad = sum(r["not_final"] + r["contradicting_fate"] for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
