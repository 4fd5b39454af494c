"""SMPP chaos campaign (issue 8, bad input): a simulator under SMPP fuzz beside a well-behaved client,
and the engine against a hostile SMSC beside a good carrier. Every run is bounded in time and in
count, on loopback only; what is sent comes from a seed (tests/support/hostile_smpp.py).

Part 1, simulator: `python -m carriers --ephemeral --ready-line` in a process of its own; this
process keeps K hostile connections of every kind open at a time (random bytes, mutated PDUs drawn
from the hypothesis strategies of tests/smpp, truncated PDUs, huge command_length, PDUs before
bind, wrong passwords, pipelined binds and submits, undefined command ids, unsolicited responses,
slowloris) beside one SteadySender that binds with its own account and submits steadily; then, in
a phase of its own, floods of enquire_link from clients that never read. Each attacker has its own
loopback address (127.0.x.y), so the bind lockout falls on it alone. Checked after: the simulator
is alive, its good client got an answer for every submit (within 1 s) and a receipt for every
accepted one, a fresh good bind is accepted, its sockets went back to the listeners and that bind,
no traceback in its log, its RSS stayed within a budget.

Part 2, engine: `python -m smsengine serve` and a good simulator in processes of their own; the
hostile SMSC (it binds, then garbles answers, sends garbage receipts, floods enquire_link, unbinds,
closes mid-PDU, goes silent) and the HTTP load in this one. Every number routes to [hostile, good].
Checked after: the engine process is alive and /healthz answers, every accepted message is final
within dispatch.validity_s (+ slack) by the engine's own SQLite file, every message the good carrier
took was delivered and its bind never dropped, no carrier.handler_error, every deliver_sm answered,
its RSS within a budget.

    .venv/bin/python benchmarks/chaos_smpp.py             # both parts, ~2 min
    .venv/bin/python benchmarks/chaos_smpp.py --quick     # ~1 min
    .venv/bin/python benchmarks/chaos_smpp.py --only engine --seed 3 --no-write

Writes benchmarks/results/chaos_smpp.json (unless --no-write), prints a table, exits 1 when an
invariant does not hold (each known cause is named with the xfail test that pins it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import engine_head_toml, progress, route_and_account_toml, rss_mb, write  # noqa: E402
from e2e_bench import Load, free_port, wait_up  # noqa: E402

from carriers.esme import EsmeClient  # noqa: E402
from tests.support.hostile_smpp import (  # noqa: E402
    MESSAGE_ROWS,
    Account,
    Attack,
    HostileSmsc,
    MessageRow,
    Payloads,
    fuzz_smsc,
    judge_messages,
)

ROOT = Path(__file__).resolve().parent.parent
GOOD = Account("good", "goodpass")
FUZZER = Account("fuzzer", "fuzzpass")
# invariant -> the xfail of tests/test_chaos_smpp.py that pins its known cause
KNOWN_CAUSES = {
    "flood: good_client_answers_within_1s": "test_the_simulator_stops_reading_a_client_that_reads_nothing",
    "flood: simulator_rss_within_budget": "test_the_simulator_stops_reading_a_client_that_reads_nothing",
    "no_handler_errors": "test_requests_read_before_a_broken_frame_are_no_handler_errors",
    "no_answer_lost": "test_the_engine_records_a_submit_answer_read_right_after_an_unbind",
    "every_deliver_sm_answered": "test_the_engine_answers_a_receipt_for_an_unknown_id_that_comes_twice",
}


class Process:
    """A child process of the campaign: started with its log in the temp dir, sampled from /proc."""

    def __init__(self, args: list[str], log: Path, *, ready_line: bool = False) -> None:
        """`ready_line`: its stdout is read for the ready line; else stdout and stderr go to `log`."""
        self.log = log
        with open(log, "ab") as sink:
            self.proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                         stdout=subprocess.PIPE if ready_line else sink, stderr=sink)
        self.rss_samples: list[float] = []

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> float:
        try:
            return rss_mb(self.proc.pid)
        except (OSError, ValueError):
            return 0.0

    def sockets(self) -> int:
        """Open sockets of the process (listeners included), from /proc/<pid>/fd."""
        fds = Path(f"/proc/{self.proc.pid}/fd")
        count = 0
        for fd in fds.iterdir():
            try:
                count += os.readlink(fd).startswith("socket:")
            except OSError:
                pass
        return count

    async def sample_rss(self, every_s: float = 0.5) -> None:
        while True:
            self.rss_samples.append(self.rss())
            await asyncio.sleep(every_s)

    async def ready_line(self, timeout: float) -> dict:
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)  # type: ignore[union-attr]
        return json.loads(line)

    def log_lines(self, *words: str) -> int:
        text = self.log.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if any(word in line for word in words))

    def stop(self) -> int | None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


# ---- part 1: the simulator under SMPP fuzz ----------------------------------------------------------


def simulator_config(tmp: Path, args: argparse.Namespace) -> Path:
    path = tmp / "fuzzed.toml"
    path.write_text(f"""
[[carriers]]
name = "fuzzed"
host = "127.0.0.1"
port = 1          # --ephemeral binds both to 0
admin_port = 1
seed = {args.seed}
time_scale = 0.001
window = 256
bind_timeout_s = {args.bind_timeout}
accounts = [{{ system_id = "{GOOD.system_id}", password = "{GOOD.password}" }},
            {{ system_id = "{FUZZER.system_id}", password = "{FUZZER.password}" }}]
[carriers.delays]
regular = [1.0, 5.0]
""")
    return path


async def simulator_phase(name: str, port: int, sim: Process, payloads: Payloads, kinds: tuple[Attack, ...],
                          seconds: float, args: argparse.Namespace) -> dict:
    """One phase of part 1: `kinds` of attack for `seconds` beside a fresh good client; the
    simulator's RSS is sampled throughout and its lingering connections left to the bind deadline."""
    rss_before = sim.rss()
    sim.rss_samples = []
    progress(f"simulator/{name}: {len(kinds) * args.attackers} hostile connections at a time for {seconds:g} s"
             f" beside a good client at {args.rate:g} submits/s")
    sampler = asyncio.ensure_future(sim.sample_rss())
    reporter = asyncio.ensure_future(_report_every(5.0, lambda: f"simulator/{name}: RSS {sim.rss():.0f} MiB"))
    try:
        result = await fuzz_smsc("127.0.0.1", port, good=GOOD, hostile=FUZZER, payloads=payloads,
                                 seed=args.seed, seconds=seconds, attackers_per_kind=args.attackers,
                                 max_connections_per_attacker=args.max_connections, rate=args.rate,
                                 flood_s=args.flood, kinds=kinds)
        await result.good.wait_receipts(10.0)
        await result.good.close()
        progress(f"simulator/{name}: done in {result.seconds:.1f} s; {args.bind_timeout + 1:g} s for the bind"
                 " deadline to clear what lingers")
        await asyncio.sleep(args.bind_timeout + 1.0)
    finally:
        sampler.cancel()
        reporter.cancel()
    return {
        "attacks": {kind.value: tally.summary() for kind, tally in result.attacks.items()},
        "good_client": result.good.summary(),
        "rss_before_mb": round(rss_before, 1), "rss_peak_mb": round(max(sim.rss_samples, default=0.0), 1),
        "rss_after_mb": round(sim.rss(), 1),
    }


async def simulator_part(tmp: Path, args: argparse.Namespace) -> dict:
    progress(f"simulator: drawing {args.payloads} PDUs of each family from the hypothesis strategies")
    payloads = Payloads(args.seed, args.payloads)
    sim = Process([sys.executable, "-m", "carriers", "--config", str(simulator_config(tmp, args)), "--ephemeral",
                   "--ready-line", "--log-level", "warning"], tmp / "fuzzed.log", ready_line=True)
    # the flood that never reads gets a phase of its own: what it does to the good client is then its own
    kinds = tuple(kind for kind in Attack if kind.value not in args.skip_attack)
    phases = {"fuzz": tuple(k for k in kinds if k is not Attack.FLOOD_NO_READ),
              "flood": tuple(k for k in kinds if k is Attack.FLOOD_NO_READ)}
    try:
        ready = await sim.ready_line(30.0)
        port, admin = ready["ports"]["fuzzed"], ready["admin_ports"]["fuzzed"]
        sockets_before = sim.sockets()
        progress(f"simulator: pid {sim.proc.pid}, port {port}")
        results = {name: await simulator_phase(name, port, sim, payloads, phase_kinds,
                                               args.seconds if name == "fuzz" else args.flood_seconds, args)
                   for name, phase_kinds in phases.items() if phase_kinds}
        fresh = await EsmeClient.connect("127.0.0.1", port)
        fresh_status = (await fresh.bind("transceiver", GOOD.system_id, GOOD.password, check=False)).command_status
        sockets_after = sim.sockets()  # the listeners and this fresh good bind
        fresh.close()
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{admin}/counters") as resp:
            counters = await resp.json()
        alive = sim.alive
    finally:
        sim.stop()
    attacks = {kind: tally for phase in results.values() for kind, tally in phase["attacks"].items()}
    first_rss = next(iter(results.values()))["rss_before_mb"]
    checks = {"simulator_alive": alive}
    for name, phase in results.items():
        g = phase["good_client"]
        checks |= {
            f"{name}: good_client_every_submit_answered": g["lost"] == 0 and g["answered"] == g["submitted"] > 0,
            f"{name}: good_client_all_accepted": set(g["statuses"]) == {"ESME_ROK"} and not g["bind_lost"],
            f"{name}: good_client_every_receipt": g["receipts_missing"] == g["foreign_receipts"] == 0,
            f"{name}: good_client_answers_within_1s": g["answer_latency_ms"]["max"] < 1000.0,
            f"{name}: simulator_rss_within_budget": phase["rss_peak_mb"] - first_rss <= args.rss_budget,
        }
    checks |= {
        "fresh_good_bind_accepted": fresh_status == 0,
        "sockets_back_to_listeners_and_good_client": sockets_after - sockets_before == 1,
        "no_malformed_answers": all(a["malformed_answers"] == 0 for a in attacks.values()),
        "no_tracebacks_in_log": sim.log_lines("Traceback", "Fatal error", "Exception in callback") == 0,
    }
    return {
        "process": "simulator in its own process (python -m carriers --ephemeral --ready-line);"
                   " attackers and good client in this one",
        "setup": {"seconds": args.seconds, "flood_seconds": args.flood_seconds, "attackers_per_kind": args.attackers,
                  "phases": {name: [k.value for k in phase] for name, phase in phases.items()},
                  "good_rate_per_s": args.rate, "payloads_per_family": args.payloads,
                  "bind_timeout_s": args.bind_timeout, "flood_connection_s": args.flood,
                  "rss_budget_mb": args.rss_budget},
        "phases": results,
        "simulator": {"sockets_before": sockets_before, "sockets_after": sockets_after, "counters": counters},
        "checks": checks,
    }


# ---- part 2: the engine against a hostile SMSC -------------------------------------------------------


def engine_configs(tmp: Path, good_port: int, hostile_port: int, http_port: int,
                   args: argparse.Namespace) -> tuple[Path, Path]:
    good = tmp / "good.toml"
    good.write_text(f"""
[[carriers]]
name = "good"
host = "127.0.0.1"
port = {good_port}
time_scale = 0.001
window = 256
deliver_window = 5000
[carriers.delays]
regular = [0.0, 500.0]
""")
    engine = tmp / "engine.toml"
    engine.write_text(engine_head_toml(http_port, tmp / "engine.db", "warning") + f"""
[dispatch]
validity_s = {args.validity}
expiry_sweep_s = 0.5
recovery_hold_s = 1.0
[[carriers]]
name = "hostile"
port = {hostile_port}
window = 32
response_timeout_s = 1.0
enquire_link_s = 2.0
reconnect_min_s = 0.05
reconnect_max_s = 0.5
[[carriers]]
name = "good"
port = {good_port}
window = 64
response_timeout_s = 2.0
# every number of the load (+86...) goes to [hostile, good]: this longer prefix wins over "+"
[[routes]]
prefix = "+86"
targets = [{{ carrier = "hostile" }}, {{ carrier = "good" }}]
""" + route_and_account_toml("good"))
    return good, engine


def open_messages(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT COUNT(*) FROM messages WHERE status IN ('accepted', 'submitted')").fetchone()[0]


async def engine_metrics(http: aiohttp.ClientSession) -> dict[str, dict[str, float]]:
    """smsengine_carrier_* samples by carrier: {"handler_errors": {"hostile": 0.0, ...}, ...}."""
    async with http.get("/metrics") as resp:
        text = await resp.text()
    wanted = ("handler_errors", "reconnects", "bind_refusals", "binds", "receipts")
    found: dict[str, dict[str, float]] = {name: {} for name in wanted}
    for family in text_string_to_metric_families(text):
        name = family.name.removeprefix("smsengine_carrier_")
        if name in found:
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    found[name][sample.labels.get("carrier", "")] = sample.value
    return found


async def engine_part(tmp: Path, args: argparse.Namespace) -> dict:
    hostile = await HostileSmsc(args.seed, overdue_s=5.0).start()
    good_port, http_port = free_port(), free_port()
    good_cfg, engine_cfg = engine_configs(tmp, good_port, hostile.port, http_port, args)
    url = f"http://127.0.0.1:{http_port}"
    good = Process([sys.executable, "-m", "carriers", "--config", str(good_cfg), "--log-level", "warning"],
                   tmp / "good.log")
    engine: Process | None = None
    try:
        engine = Process([sys.executable, "-m", "smsengine", "serve", "--config", str(engine_cfg)], tmp / "engine.log")
        try:
            await wait_up(url, 30.0)
        except RuntimeError:
            tail = "\n".join(engine.log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"the engine did not become healthy; the end of {engine.log}:\n{tail}") from None
        rss_before = engine.rss()
        total = int(args.engine_rate * args.seconds)
        progress(f"engine: pid {engine.proc.pid}; {total:,} messages at {args.engine_rate:g}/s to [hostile, good],"
                 f" validity_s {args.validity:g}")
        load = Load(url, args.batch)
        sampler = asyncio.ensure_future(engine.sample_rss())
        db = tmp / "engine.db"
        reporter = asyncio.ensure_future(_report_every(5.0, lambda: (
            f"engine: RSS {engine.rss():.0f} MiB, {load.accepted:,} accepted, {open_messages(db):,} open,"
            f" hostile did {sum(hostile.tally.mischief.values()):,} submits wrong or right,"
            f" {sum(hostile.tally.garbage.values()):,} garbage PDUs")))
        began = time.monotonic()
        try:
            await load.run(0, total, concurrency=4, rate=args.engine_rate)
            loaded_s = time.monotonic() - began
            deadline = time.monotonic() + args.validity + 15.0
            while (left := open_messages(db)) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            settled_s = time.monotonic() - began
            await asyncio.sleep(3.0)  # late deliver_sm get their answers (parked ones within 2 s)
        finally:
            sampler.cancel()
            reporter.cancel()
        progress(f"engine: load done in {loaded_s:.1f} s, {left:,} open {settled_s:.1f} s after the start")
        alive = engine.alive
        async with aiohttp.ClientSession(url) as http:
            async with http.get("/healthz") as resp:
                health = resp.status
            metrics = await engine_metrics(http)
        rss_after = engine.rss()
        hostile.count_overdue()
        code = engine.stop()
    finally:
        if engine is not None:
            engine.stop()
        good.stop()
        await hostile.close()
    with sqlite3.connect(f"file:{tmp / 'engine.db'}?mode=ro", uri=True) as conn:
        rows = [MessageRow(*row) for row in conn.execute(MESSAGE_ROWS)]
    verdict = judge_messages(rows, good="good", deadline_s=args.validity + 3.0,
                             accepted_by_hostile=hostile.tally.accepted_numbers)
    smsc = hostile.tally.summary()
    rss_peak = max(engine.rss_samples, default=rss_after)
    checks = {
        "engine_alive_and_healthz_answers": alive and health == 200,
        "engine_stopped_cleanly": code == 0,
        "every_message_final": verdict["not_final"] == 0 and verdict["messages"] == load.accepted > 0,
        "final_within_validity_plus_3s": verdict["final_after_deadline"] == 0,
        "good_carrier_delivered_all_it_took": verdict["good_carrier_not_delivered"] == 0,
        "good_bind_never_dropped": metrics["reconnects"].get("good", -1) == 0,
        "no_handler_errors": metrics["handler_errors"].get("hostile", -1) == 0 == metrics["handler_errors"].get("good"),
        "no_answer_lost": verdict["accepted_by_hostile_reported_never_accepted"] == 0,
        "every_deliver_sm_answered": not smsc["overdue_deliveries"],
        "engine_sent_no_malformed_pdu": smsc["malformed_from_esme"] == 0,
        "no_tracebacks_in_log": engine.log_lines("Traceback", "Fatal error", "Exception in callback") == 0,
        "engine_rss_within_budget": rss_peak - rss_before <= args.rss_budget,
    }
    return {
        "process": "engine and good simulator in processes of their own; hostile SMSC and HTTP load in this one",
        "setup": {"messages": total, "rate_per_s": args.engine_rate, "batch": args.batch,
                  "validity_s": args.validity, "routes": {"+86": ["hostile", "good"], "+": ["good"]}},
        "load": {"requests": load.requests, "accepted": load.accepted, "rejected": load.rejected,
                 "errors": load.errors, "loaded_s": round(loaded_s, 1), "settled_s": round(settled_s, 1)},
        "hostile_smsc": smsc,
        "messages": verdict,
        "engine": {"rss_before_mb": round(rss_before, 1), "rss_peak_mb": round(rss_peak, 1),
                   "rss_after_mb": round(rss_after, 1), "metrics": metrics, "exit_code": code,
                   "handler_error_lines": engine.log_lines("carrier.handler_error")},
        "checks": checks,
    }


async def _report_every(seconds: float, line) -> None:
    while True:
        await asyncio.sleep(seconds)
        progress(line())


# ---- the report -------------------------------------------------------------------------------------


def _rows(rows: list[tuple]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in
                               enumerate(zip(row, widths))).rstrip() for row in rows)


def _checks(checks: dict[str, bool]) -> str:
    lines = []
    for name, ok in checks.items():
        cause = "" if ok or name not in KNOWN_CAUSES else f"   known: {KNOWN_CAUSES[name]}"
        lines.append(f"  {'ok  ' if ok else 'FAIL'}  {name}{cause}")
    return "\n".join(lines)


def table(report: dict) -> str:
    out = []
    if "simulator" in report:
        part = report["simulator"]
        rows: list[tuple] = [("attack", "conns", "bytes", "gnack", "resp", "closed", "hung up", "most frequent answer")]
        for phase in part["phases"].values():
            for kind, a in phase["attacks"].items():
                top = next(iter(a["answers"]), "-")
                rows.append((kind, a["connections"], a["bytes_sent"], a["generic_nacks"], a["responses"],
                             a["closed_by_smsc"], a["open_until_we_hung_up"], top))
        out += ["Part 1: simulator under SMPP fuzz", _rows(rows)]
        for name, phase in part["phases"].items():
            g = phase["good_client"]
            flood = phase["attacks"].get("flood_no_read", {}).get("largest_unread_flood_bytes")
            out.append(f"{name}: good client {g['submitted']:,} submits, {g['answered']:,} answered, {g['lost']} lost"
                       f" (answer p50 {g['answer_latency_ms']['p50']} ms, p99 {g['answer_latency_ms']['p99']} ms),"
                       f" {g['receipts']:,} receipts ({g['receipts_missing']} missing,"
                       f" {g['foreign_receipts']} foreign);"
                       f" simulator RSS {phase['rss_before_mb']} -> peak {phase['rss_peak_mb']} ->"
                       f" {phase['rss_after_mb']} MiB" + (f"; one unread flood took {flood:,} B" if flood else ""))
        s_ = part["simulator"]
        out += [f"simulator: sockets {s_['sockets_before']} -> {s_['sockets_after']} (listeners + a fresh good bind),"
                f" bind timeouts {s_['counters']['bind_timeouts']}, lockouts {s_['counters']['bind_lockouts']},"
                f" bind failures {s_['counters']['bind_failures']}",
                _checks(part["checks"]), ""]
    if "engine" in report:
        part = report["engine"]
        smsc, verdict, engine = part["hostile_smsc"], part["messages"], part["engine"]
        rows = [("hostile SMSC did", "times")] + list(smsc["mischief"].items())
        garbage = [("garbage sent", "times")] + list(smsc["garbage"].items())
        answers = [("what the engine answered (kind -> answer)", "times")] + list(smsc["esme_answers"].items())
        outcomes = [("message outcome (carrier status code)", "messages")] + list(verdict["outcomes"].items())
        m = engine["metrics"]
        out += ["Part 2: engine against a hostile SMSC", _rows(rows), _rows(garbage), _rows(answers), _rows(outcomes),
                f"binds: hostile {smsc['binds']}, engine reconnects {m['reconnects']}; handler errors"
                f" {m['handler_errors']}; enquire_link sent {smsc['enquire_links_sent']:,}",
                f"messages: {verdict['messages']:,} accepted, {verdict['not_final']} not final, slowest final"
                f" {verdict['slowest_final_s']} s, {verdict['accepted_by_hostile_reported_never_accepted']} answered OK"
                f" by the hostile SMSC but reported never accepted; deliver_sm overdue {smsc['overdue_deliveries']}",
                f"engine: RSS {engine['rss_before_mb']} -> peak {engine['rss_peak_mb']} ->"
                f" {engine['rss_after_mb']} MiB",
                _checks(part["checks"])]
    return "\n".join(out)


def code_under_test() -> dict:
    """Which engine and simulator ran: the checkout's commit, and whether their files differ from it."""
    def git(*words: str) -> str:
        try:
            return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"root": str(ROOT), "commit": git("rev-parse", "--short", "HEAD"),
            "modified": git("status", "--porcelain", "--", "smsengine", "carriers").splitlines()}


async def campaign(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsengine-chaos-smpp-"))
    report: dict = {"seed": args.seed, "quick": args.quick, "tmp": str(tmp), "code": code_under_test()}
    began = time.monotonic()
    if args.only in (None, "simulator"):
        report["simulator"] = await simulator_part(tmp, args)
    if args.only in (None, "engine"):
        report["engine"] = await engine_part(tmp, args)
    report["duration_s"] = round(time.monotonic() - began, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["simulator", "engine"])
    parser.add_argument("--skip-attack", action="append", default=[], choices=[k.value for k in Attack],
                        help="leave this attack kind out of part 1 (repeatable)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each part's attack / load")
    parser.add_argument("--attackers", type=int, default=2, help="hostile connections of each kind at a time")
    parser.add_argument("--max-connections", type=int, default=2000, help="per attacker (a bound on the count)")
    parser.add_argument("--payloads", type=int, default=200, help="PDUs drawn from each hypothesis strategy")
    parser.add_argument("--rate", type=float, default=200.0, help="the good client's submits per second")
    parser.add_argument("--flood", type=float, default=3.0, help="seconds one flood_no_read connection lasts")
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="length of part 1's flood phase")
    parser.add_argument("--bind-timeout", type=float, default=2.0, help="the simulator's bind_timeout_s")
    parser.add_argument("--engine-rate", type=float, default=100.0, help="messages per second through the engine")
    parser.add_argument("--batch", type=int, default=10, help="numbers per send request")
    parser.add_argument("--validity", type=float, default=20.0, help="the engine's dispatch.validity_s")
    parser.add_argument("--rss-budget", type=float, default=64.0, help="MiB a process may grow by")
    parser.add_argument("--quick", action="store_true",
                        help="10 s per part (4 s of flood), 1 attacker per kind, 10 s validity")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.attackers, args.payloads, args.validity = 10.0, 1, 60, 10.0
        args.flood, args.flood_seconds = 2.0, 4.0
    report = asyncio.run(campaign(args))
    print(table(report), flush=True)
    if not args.no_write:
        write("chaos_smpp", report)
    checks = [ok for part in ("simulator", "engine") if part in report for ok in report[part]["checks"].values()]
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
