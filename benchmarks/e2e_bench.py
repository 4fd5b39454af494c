"""End-to-end benchmark: HTTP load client → engine (durable accept, SMPP) → simulator → receipts
→ the customer's callback endpoint.

Four processes on two cores: this load client, the engine (`python -m smsengine serve`, with its
carrier process as a fifth when `dispatch.carrier_process` is on, counted as the engine's), the
simulators (`python -m carriers`, instant-delivery profile) and a callback sink
(`benchmarks/callback_sink.py`, verifying each POST's signature like a customer would). "End to
end" is until the sink has the receipt; "stored" is until the engine's store has the final state.
Phase 1 pushes as hard as the engine accepts; phase 2 offers half of phase 1's rate, paced, to
measure latency below saturation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import (  # noqa: E402
    RESULTS, cpu_seconds, descendants, engine_head_toml, machine_busy_seconds, progress, route_and_account_toml, rss_mb,
    thread_cores, thread_times, write)

from smsengine.domain.auth import request_sig  # noqa: E402
from smsengine.lab.runner import parse_metrics  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds used, RSS MiB) of a process and the processes it started (the engine's carrier
    process), summed; zeros once it has gone."""
    cpu = rss = 0.0
    for p in (pid, *descendants(pid)):
        try:
            cpu += cpu_seconds(p)
            rss += rss_mb(p)
        except (OSError, IndexError, ValueError):
            pass
    return cpu, rss


def write_configs(tmp: Path, smpp_port: int, http_port: int, binds: int, window: int,
                  receipt_url: str, db: Path | None = None) -> tuple[Path, Path]:
    carriers = tmp / "carriers.toml"
    carriers.write_text(f"""
[[carriers]]
name = "instant"
host = "127.0.0.1"
port = {smpp_port}
time_scale = 0.0
window = {max(window * 2, 64)}
deliver_window = 5000
[carriers.delays]
regular = [0.0, 0.0]
marketing = [0.0, 0.0]
""")
    engine = tmp / "engine.toml"
    engine.write_text(engine_head_toml(http_port, db or tmp / "engine.db", "warning") + f"""
[[carriers]]
name = "instant"
port = {smpp_port}
binds = {binds}
window = {window}
""" + route_and_account_toml("instant", receipt_url))
    return carriers, engine


def start_gateway(carriers_cfg: Path, engine_cfg: Path, env: dict) -> tuple[subprocess.Popen, subprocess.Popen]:
    """The simulators, then the engine, each a process of its own: (simulators, engine)."""
    sims = subprocess.Popen([sys.executable, "-m", "carriers", "--config", str(carriers_cfg)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    engine = subprocess.Popen([sys.executable, "-m", "smsengine", "serve", "--config", str(engine_cfg)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sims, engine


async def wait_up(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("engine did not become healthy")


class Load:
    def __init__(self, url: str, batch: int, numbers: int = 0) -> None:
        self.url = url
        self.batch = batch
        self.numbers = numbers  # distinct numbers, reused in turn (0: every message to a new one)
        self.accepted = 0
        self.rejected = 0
        self.requests = 0
        self.errors = 0
        self._random = random.Random(1)

    def body(self, phones: list[str]) -> bytes:
        now = int(time.time())
        rnd = self._random.randrange(1, 2**62)
        return json.dumps({
            "app_id": "bench", "random": rnd, "time": now,
            "sig": request_sig("bench-secret", rnd, now, phones), "phone_numbers": phones,
            "template_id": 1, "params": [str(rnd % 1_000_000), "5"], "sign": "smsengine",
        }).encode()

    async def post(self, http: aiohttp.ClientSession, phones: list[str]) -> None:
        async with http.post("/v1/sms/send", data=self.body(phones),
                             headers={"Content-Type": "application/json"}) as resp:
            answer = await resp.json()
        self.requests += 1
        if resp.status != 200:
            self.errors += 1
            return
        ok = sum(1 for r in answer["results"] if r["code"] == 0)
        self.accepted += ok
        self.rejected += len(answer["results"]) - ok

    async def run(self, start: int, total: int, concurrency: int, rate: float | None) -> float:
        """Post `total` messages to distinct numbers; `rate` (messages/s) paces an open loop."""
        def phone(n: int) -> str:
            if self.numbers:
                n %= self.numbers
            return f"+86{130 + (n // 100_000_000) % 10}{n % 100_000_000:08d}"

        batches = [[phone(n) for n in range(i, min(i + self.batch, start + total))]
                   for i in range(start, start + total, self.batch)]
        queue: asyncio.Queue = asyncio.Queue()
        for b in batches:
            queue.put_nowait(b)
        began = time.monotonic()
        interval = self.batch / rate if rate else 0.0
        next_slot = [began]

        async def worker(http: aiohttp.ClientSession) -> None:
            while not queue.empty():
                phones = queue.get_nowait()
                if interval:
                    slot = next_slot[0]
                    next_slot[0] += interval
                    delay = slot - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await self.post(http, phones)

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(self.url, connector=connector) as http:
            await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return time.monotonic() - began


def db_progress(db: Path) -> tuple[int, int]:
    """(segments accepted by the carrier, messages final) as the engine has committed them."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        submitted = conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
        final = conn.execute("SELECT COUNT(*) FROM messages WHERE cursor IS NOT NULL").fetchone()[0]
    return submitted, final


def latencies(db: Path, first_id: int, last_id: int) -> dict:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT submitted_at - created_at, final_at - created_at FROM messages WHERE id BETWEEN ? AND ?"
            " AND final_at IS NOT NULL", (first_id, last_id)).fetchall()
    submit = sorted(r[0] for r in rows if r[0] is not None)
    final = sorted(r[1] for r in rows)

    def pct(values: list[float], p: float) -> float:
        return round(values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000, 2) if values else 0.0

    return {
        "messages": len(rows),
        "accept_to_submit_ms": {f"p{p}": pct(submit, p) for p in (50, 90, 99, 99.9)},
        "accept_to_final_ms": {f"p{p}": pct(final, p) for p in (50, 90, 99, 99.9)},
        "_cdf": {"submit": submit[:: max(1, len(submit) // 2000)], "final": final[:: max(1, len(final) // 2000)]},
    }


class SinkClient:
    """The callback sink process, asked over HTTP what reached it."""

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.pid = pid

    async def call(self, method: str, path: str):
        async with aiohttp.ClientSession() as http, http.request(method, self.url + path) as resp:
            return await resp.json() if path != "/reset" else None

    async def reset(self) -> None:
        await self.call("POST", "/reset")

    async def stats(self) -> dict:
        return await self.call("GET", "/stats")

    async def accept_to_sink(self, db: Path) -> dict:
        """Accept (the engine's created_at) → received by the sink, per message."""
        arrivals = dict(await self.call("GET", "/dump"))
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            lags = sorted(arrivals[str(mid)] - created for mid, created in conn.execute(
                "SELECT id, created_at FROM messages WHERE id >= ?", (min(map(int, arrivals), default=0),))
                if str(mid) in arrivals)
        return {f"p{p}": round(lags[min(len(lags) - 1, int(p / 100 * len(lags)))] * 1000, 2) if lags else None
                for p in (50, 90, 99, 99.9)}


_PIPE_METRICS = ("smsengine_store_commits_total", "smsengine_store_writer_busy_seconds_total",
                 "smsengine_store_commit_seconds_sum", "smsengine_store_commit_seconds_count",
                 "smsengine_event_loop_lag_seconds_bucket", "smsengine_event_loop_lag_seconds_sum",
                 "smsengine_event_loop_lag_seconds_count")


async def pipe_metrics(url: str) -> dict[tuple[str, str], float]:
    """The engine's own view of its pipe (/metrics): the writer's commits and busy seconds, the
    event loop's lag histogram."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as resp:
        text = await resp.text()
    return {(name, dict(labels).get("le", "")): value for name, series in parse_metrics(text).items()
            if name in _PIPE_METRICS for labels, value in series.items()}


def pipe_figures(before: dict, after: dict, seconds: float) -> dict:
    """What the writer and the loop did in a phase: how much of it the writer spent committing
    (near 1.0: the store bounds the engine), and how late the loop ran a timer (its iterations)."""
    delta = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after}
    commits = delta[("smsengine_store_commits_total", "")]
    busy = delta[("smsengine_store_writer_busy_seconds_total", "")]  # failed rounds too
    timed = delta[("smsengine_store_commit_seconds_count", "")]
    ticks = delta[("smsengine_event_loop_lag_seconds_count", "")]
    bounds = sorted(((float(le), n) for (name, le), n in delta.items() if name.endswith("_bucket")))

    def quantile(q: float) -> float | str | None:  # the bucket's upper bound: how late at most
        if not ticks:
            return None
        for bound, n in bounds:
            if n >= q * ticks:
                return bound * 1000 if bound != float("inf") else "more than the last bucket"
        return 0.0

    return {"commits": int(commits), "writer_busy_share": round(busy / seconds, 2),
            "commit_ms_mean": round(delta[("smsengine_store_commit_seconds_sum", "")] / timed * 1000, 1)
            if timed else None,
            "loop_lag_ms": {"mean": round(delta[("smsengine_event_loop_lag_seconds_sum", "")] / ticks * 1000, 1)
                            if ticks else None, "p50_at_most": quantile(0.5), "p99_at_most": quantile(0.99)}}


async def phase(name: str, load: Load, db: Path, engine_pid: int, sims_pid: int, start: int, total: int,
                concurrency: int, rate: float | None, timeline: list[dict], sink: SinkClient | None) -> dict:
    progress(f"{name}: {total:,} messages, concurrency {concurrency}" + (f", paced at {rate:,.0f}/s" if rate else ""))
    if sink is not None:
        await sink.reset()
    first_id = db_progress(db)[1]
    accepted_before = load.accepted
    cpu0, rss0 = proc_stats(engine_pid)
    sims0, _ = proc_stats(sims_pid)
    sink0 = proc_stats(sink.pid)[0] if sink else 0.0
    client0 = sum(os.times()[:2])
    watched = {"engine": engine_pid, **{"carrier_process": p for p in descendants(engine_pid)[:1]},
               "simulator": sims_pid, "load_client": os.getpid(), **({"sink": sink.pid} if sink else {})}
    threads0 = {role: thread_times(pid) for role, pid in watched.items()}
    machine0 = machine_busy_seconds()
    pipe0 = await pipe_metrics(load.url)
    t0 = time.monotonic()
    t0_wall = time.time()
    sender = asyncio.create_task(load.run(start, total, concurrency, rate))
    sent_time = None
    target_final = first_id + total
    submitted0, final0 = db_progress(db)
    timeline.append({"phase": name, "t": 0.0, "accepted": 0, "submitted": submitted0, "final": final0,
                     "engine_cpu_s": 0.0, "engine_rss_mb": round(proc_stats(engine_pid)[1], 1)})
    last = (t0, 0, submitted0, final0, 0)
    while True:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        submitted, final = db_progress(db)
        cpu, rss = proc_stats(engine_pid)
        accepted = load.accepted - accepted_before
        at_sink = (await sink.stats())["unique"] if sink else 0
        point = {"phase": name, "t": round(now - t0, 2), "accepted": accepted, "submitted": submitted,
                 "final": final, "at_sink": at_sink, "engine_cpu_s": round(cpu - cpu0, 2),
                 "engine_rss_mb": round(rss, 1)}
        timeline.append(point)
        dt = now - last[0]
        progress(f"  t={now - t0:5.1f}s accepted {accepted:>8,} ({(accepted - last[1]) / dt:>7,.0f}/s)"
                 f"  submitted {submitted:>8,} ({(submitted - last[2]) / dt:>7,.0f}/s)"
                 f"  final {final:>8,} ({(final - last[3]) / dt:>7,.0f}/s)"
                 + (f"  at sink {at_sink:>8,} ({(at_sink - last[4]) / dt:>7,.0f}/s)" if sink else "")
                 + f"  engine RSS {rss:,.0f} MiB")
        last = (now, accepted, submitted, final, at_sink)
        if sender.done() and sent_time is None:
            sent_time = sender.result()
        if sender.done() and final >= target_final - load.rejected and (sink is None or at_sink >= load.accepted
                                                                         - accepted_before):
            break
        if now - t0 > 600:
            progress("  giving up after 600 s")
            break
    end = time.monotonic()
    pipe = pipe_figures(pipe0, await pipe_metrics(load.url), end - t0)
    cpu, rss = proc_stats(engine_pid)
    sims_cpu = proc_stats(sims_pid)[0] - sims0
    sink_cpu = proc_stats(sink.pid)[0] - sink0 if sink else 0.0
    client_cpu = sum(os.times()[:2]) - client0
    polled = end - t0
    by_thread = {role: thread_cores(threads0[role], thread_times(pid), polled) for role, pid in watched.items()}
    machine_cores = (machine_busy_seconds() - machine0) / polled
    # the end is when the engine decided the last final state (its own clock, in the store),
    # not the next tick of this once-a-second progress loop
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        last_final = conn.execute("SELECT MAX(final_at) FROM messages WHERE id BETWEEN ? AND ?",
                                  (first_id + 1, first_id + total)).fetchone()[0]
    stored = (last_final - t0_wall) if last_final else polled
    lat = latencies(db, first_id + 1, first_id + total)
    sink_figures: dict = {}
    elapsed = stored
    if sink is not None:
        stats = await sink.stats()
        elapsed = (stats["last_at"] - t0_wall) if stats["last_at"] else polled
        sink_figures = {
            "at_sink": stats["unique"], "duplicates_at_sink": stats["duplicates"], "posts": stats["posts"],
            "bad_signatures": stats["bad_signatures"], "receipt_to_sink_ms": stats["receipt_to_sink_ms"],
            "accept_to_sink_ms": await sink.accept_to_sink(db), "sink_cpu_utilisation": round(sink_cpu / polled, 2),
        }
    result = {
        "messages": total,
        "accepted": load.accepted - accepted_before,
        "seconds_to_accept_all": round(sent_time or elapsed, 2),
        "seconds_to_all_final": round(stored, 2),
        "seconds_to_all_at_sink": round(elapsed, 2) if sink else None,
        "accepted_per_s": round((load.accepted - accepted_before) / (sent_time or elapsed)),
        "stored_messages_per_s": round(total / stored),
        "end_to_end_messages_per_s": round(total / elapsed),
        "end_to_end_means": "receipt received by the callback sink" if sink else "final state stored (no sink)",
        "engine_cpu_seconds": round(cpu - cpu0, 1),
        "engine_cpu_utilisation": round((cpu - cpu0) / polled, 2),
        "engine_rss_mb_start": round(rss0, 1),
        "engine_rss_mb": round(rss, 1),
        "simulator_cpu_utilisation": round(sims_cpu / polled, 2),
        "load_client_cpu_utilisation": round(client_cpu / polled, 2),
        # what bounds the phase: a thread near 1.0 of running + waiting_for_cpu has no time left
        # (the engine's event loop is "main"; waiting_for_cpu: runnable while all cores were taken)
        "cores_by_thread": by_thread,
        "machine_cores_busy": round(machine_cores, 2),
        # the engine's /metrics over the phase: the writer's share of it in commits, the loop's lag
        "engine_pipe": pipe,
        **sink_figures,
        **lat,
    }
    progress(f"{name}: {result['accepted_per_s']:,} accepted/s, {result['end_to_end_messages_per_s']:,} end-to-end/s"
             f" ({result['end_to_end_means']}), {result['stored_messages_per_s']:,} stored/s,"
             f" p99 accept→submit {result['accept_to_submit_ms']['p99']} ms"
             + (f", p99 receipt→sink {sink_figures['receipt_to_sink_ms']['p99']} ms" if sink else ""))
    loop = by_thread["engine"].get("main", {})
    progress(f"  engine event loop: {loop.get('running', 0):.2f} cores running + {loop.get('waiting_for_cpu', 0):.2f}"
             f" waiting for a CPU; machine {machine_cores:.2f} of {os.cpu_count()} cores busy; by thread: "
             + ", ".join(f"{role}/{name} {c['running']:.2f}+{c['waiting_for_cpu']:.2f}"
                         for role, threads in by_thread.items() for name, c in threads.items()))
    progress(f"  store writer committing {pipe['writer_busy_share']:.0%} of the phase ({pipe['commits']} commits, mean"
             f" {pipe['commit_ms_mean']} ms); event loop lag mean {pipe['loop_lag_ms']['mean']} ms, p99 at most"
             f" {pipe['loop_lag_ms']['p99_at_most']} ms")
    return result


def plot(timeline: list[dict], phases: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        progress("matplotlib missing: no plot")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    for name in phases:
        pts = [p for p in timeline if p["phase"] == name]
        if not pts:
            continue
        t = [p["t"] for p in pts]
        for key, style in (("accepted", "-"), ("submitted", "--"), ("final", ":"), ("at_sink", "-.")):
            values = [p.get(key, 0) for p in pts]
            rates = [(values[i] - values[i - 1]) / max(1e-9, t[i] - t[i - 1]) for i in range(1, len(values))]
            ax1.plot(t[1:], rates, style, label=f"{name} {key}/s")
    ax1.set_xlabel("seconds")
    ax1.set_ylabel("messages per second")
    ax1.set_title("throughput over time")
    ax1.legend(fontsize=7)
    for name, result in phases.items():
        cdf = result.get("_cdf", {})
        for key, style in (("submit", "-"), ("final", "--")):
            values = [v * 1000 for v in cdf.get(key, [])]
            if values:
                ax2.plot(values, [i / len(values) for i in range(len(values))], style, label=f"{name} accept→{key}")
    ax2.set_xscale("log")
    ax2.set_xlabel("milliseconds")
    ax2.set_ylabel("fraction of messages")
    ax2.set_title("latency CDF")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    progress(f"wrote {path.relative_to(ROOT)}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200_000, help="messages in the saturation phase")
    parser.add_argument("--paced", type=int, default=60_000, help="messages in the half-load phase (0: skip)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--binds", type=int, default=2)
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--numbers", type=int, default=0,
                        help="distinct numbers, reused in turn (0: a new number per message); per-number state"
                             " (rate limits, reply attribution) grows with distinct numbers by design")
    parser.add_argument("--no-sink", action="store_true", help="no callback sink: end to end = stored")
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                        help="the sink verifies each POST's signature")
    parser.add_argument("--out", default="e2e", help="results name under benchmarks/results/")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="smsengine-e2e-"))
    smpp_port, http_port, sink_port = free_port(), free_port(), free_port()
    receipt_url = "" if args.no_sink else f"http://127.0.0.1:{sink_port}/receipts"
    carriers_cfg, engine_cfg = write_configs(tmp, smpp_port, http_port, args.binds, args.window, receipt_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sink_proc = None
    if not args.no_sink:
        sink_proc = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "callback_sink.py"), "--port", str(sink_port),
             *(["--key", "bench-secret"] if args.verify else [])], cwd=ROOT, env=env)
    sims, engine = start_gateway(carriers_cfg, engine_cfg, env)
    url = f"http://127.0.0.1:{http_port}"
    timeline: list[dict] = []
    phases: dict[str, dict] = {}
    try:
        await wait_up(url)
        sink = SinkClient(f"http://127.0.0.1:{sink_port}", sink_proc.pid) if sink_proc else None
        load = Load(url, args.batch, args.numbers)
        progress("warm-up: 2,000 messages")
        await load.run(900_000_000, 2_000, 2, None)
        while db_progress(tmp / "engine.db")[1] < 2_000 or (sink and (await sink.stats())["unique"] < 2_000):
            await asyncio.sleep(0.2)
        phases["saturation"] = await phase("saturation", load, tmp / "engine.db", engine.pid, sims.pid, 0, args.n,
                                           args.concurrency, None, timeline, sink)
        if args.paced:
            rate = phases["saturation"]["end_to_end_messages_per_s"] / 2
            phases["half_load"] = await phase("half_load", load, tmp / "engine.db", engine.pid, sims.pid, 500_000_000,
                                              args.paced, args.concurrency, rate, timeline, sink)
        sims_cpu, sims_rss = proc_stats(sims.pid)
    finally:
        engine.terminate()
        sims.terminate()
        if sink_proc:
            sink_proc.terminate()
        for p in (engine, sims, *([sink_proc] if sink_proc else [])):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
    plot(timeline, phases, RESULTS / f"{args.out}.png")
    for result in phases.values():
        result.pop("_cdf", None)
    write(args.out, {
        "command": "python " + " ".join(sys.argv),
        "processes": "load client, engine, simulator" + ("" if args.no_sink else " and callback sink")
                     + " as separate processes (2 cores shared); the engine's figures include its carrier process"
                     " (cores_by_thread shows it apart) when dispatch.carrier_process is on: "
                     + os.environ.get("SMSENGINE_DISPATCH__CARRIER_PROCESS", "auto"),
        "setup": {"batch_numbers_per_request": args.batch, "distinct_numbers": args.numbers or "all",
                  "concurrency": args.concurrency, "binds": args.binds,
                  "window": args.window, "durable_accept": "SQLite WAL, group commit before the HTTP answer",
                  "carrier": "simulator, instant delivery, one receipt per segment",
                  "callbacks": "none" if args.no_sink else "account receipt_url → sink process"
                               + (", signatures verified" if args.verify else "")},
        "targets": {"end_to_end_messages_per_s": 20_000, "p99_receipt_to_sink_ms_at_half_load": 250,
                    "p99_accept_to_submit_ms_at_half_load": 50},
        "phases": phases,
        "simulator": {"cpu_seconds": round(sims_cpu, 1), "rss_mb": round(sims_rss, 1)},
        "timeline": timeline,
    })


if __name__ == "__main__":
    asyncio.run(main())
