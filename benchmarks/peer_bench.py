"""Peer benchmark: the engine against Debian's Kannel (the reference gateway), end to end — from the
first send request until the customer's callback endpoint has the last delivery receipt.

Each gateway runs in turn, never both at once, against its own fresh simulator process
(`python -m carriers`, e2e_bench's instant-delivery profile: an SMSC hands a receipt to any bind of
the system_id, so two gateways must never share one) and its own callback sink process
(`benchmarks/callback_sink.py`). The load client in this process sends the same N messages to N
distinct numbers, the same text, the same numbers per request and concurrency to both:
- Kannel: bearerbox and smsbox as two processes from a generated kannel.conf; GET
  /cgi-bin/sendsms with several numbers in `to` (space-separated), dlr-mask 3 (delivered or
  failed: finals only) and a dlr-url naming the number (`%p`), which smsbox fetches once per
  receipt;
- the engine: `python -m smsengine serve` configured exactly as e2e_bench configures it, POST
  /v1/sms/send, receipts pushed by the engine to the account's receipt_url in batches.
"End to end" ends when the sink has a receipt for every accepted message. `--repeat K` runs the
pair K times, alternating which goes first, and reports each run and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import RESULTS, machine_busy_seconds, progress, write  # noqa: E402
from e2e_bench import Load, SinkClient, free_port, proc_stats, wait_up, write_configs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIGNATURE_HEADER = "X-Smsengine-Signature"
# What the engine puts on the wire for template 1 with signature `smsengine` (UCS-2, one segment):
# Kannel is given the same text, so both submit the same short_message to the simulator.
KANNEL_TEXT = "【smsengine】Your verification code is {code}, valid for 5 minutes."


class KannelSettings(msgspec.Struct, kw_only=True):
    """The kannel.conf choices that bear on throughput, each one chosen not to hold Kannel back.

    One bind, not the engine's two: the simulator hands a receipt to any bind of the system_id,
    and Kannel files a message's DLR entry only when the bind that submitted it has read the
    submit_sm_resp, so a receipt arriving first on another bind finds nothing and is dropped
    ("DLR ... not found"). With `instances = 2` a quarter of the receipts were lost (4,531 of
    20,000), and every lost entry stays in the internal DLR list, which each receipt scans
    linearly: bearerbox used 27 CPU-s and the run fell to 471 msgs/s. On one transceiver bind the
    receipt always follows its submit_sm_resp, and nothing is lost."""

    binds: int = 1  # `instances` of the one smsc group, each a transceiver bind
    window: int = 512  # max-pending-submits per bind, the engine's window (Kannel's default is 10)
    smsbox_max_pending: int = 512  # DLRs bearerbox hands smsbox before its acks (default 100)
    max_pending_requests: int = 512  # dlr-url fetches smsbox has open at once (the default)
    store: str = "none"  # "none": queue in memory like the internal DLR storage; "file": store-file
    log_level: int = 2  # warnings: nothing per message, but a DLR that finds no message is logged


def kannel_conf(settings: KannelSettings, tmp: Path, admin_port: int, box_port: int, sendsms_port: int,
                smpp_port: int) -> str:
    """kannel.conf for one bearerbox and one smsbox on loopback, one smsc group to the simulator."""
    store = f'store-type = file\nstore-location = "{tmp / "kannel.store"}"\n' if settings.store == "file" else ""
    return f"""
group = core
admin-port = {admin_port}
admin-interface = 127.0.0.1
admin-password = bench
status-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = {box_port}
smsbox-interface = 127.0.0.1
smsbox-max-pending = {settings.smsbox_max_pending}
box-allow-ip = "127.0.0.1"
log-file = "{tmp / "bearerbox.log"}"
log-level = {settings.log_level}
dlr-storage = internal
{store}
group = smsc
smsc = smpp
smsc-id = instant
host = 127.0.0.1
port = {smpp_port}
transceiver-mode = true
instances = {settings.binds}
smsc-username = smsengine
smsc-password = secret
system-type = ""
max-pending-submits = {settings.window}
enquire-link-interval = 30
reconnect-delay = 1
log-level = {settings.log_level}

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box_port}
sendsms-port = {sendsms_port}
sendsms-interface = 127.0.0.1
max-pending-requests = {settings.max_pending_requests}
log-file = "{tmp / "smsbox.log"}"
log-level = {settings.log_level}

group = sendsms-user
username = bench
password = bench-secret
max-messages = 1
"""


class KannelLoad(Load):
    """e2e_bench's load client speaking smsbox's /cgi-bin/sendsms: the same batches of numbers (without
    the "+") in one GET each, `to` space-separated, the same closed loop."""

    def __init__(self, url: str, batch: int, dlr_url: str) -> None:
        super().__init__(url, batch)
        self.dlr_url = dlr_url

    def query(self, numbers: list[str]) -> str:
        return urllib.parse.urlencode({
            "username": "bench", "password": "bench-secret", "from": "10690000", "to": " ".join(numbers),
            "text": KANNEL_TEXT.format(code=int(numbers[0]) % 1_000_000), "charset": "UTF-8", "coding": 2,
            "dlr-mask": 3, "dlr-url": self.dlr_url,
        }, quote_via=urllib.parse.quote)

    async def post(self, http: aiohttp.ClientSession, phones: list[str]) -> None:
        numbers = [phone.lstrip("+") for phone in phones]
        async with http.get("/cgi-bin/sendsms?" + self.query(numbers)) as resp:
            answer = await resp.text()
        self.requests += 1
        # 202 "Sent." for the whole request; receivers smsbox refused are listed after "Denied receivers are:"
        if resp.status != 202:
            self.errors += 1
            self.rejected += len(numbers)
            return
        denied = len(answer.split("Denied receivers are:", 1)[1].split()) if "Denied" in answer else 0
        self.accepted += len(numbers) - denied
        self.rejected += denied


class Children:
    """The child processes of one gateway's run: started with their output in the run's temp dir,
    all stopped (TERM, then KILL after a grace) whatever happens."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.out", "wb")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        log.close()
        self.procs[name] = proc
        return proc

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.tmp / f"{name}.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def python_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


async def start_carrier_and_sink(children: Children, carriers_cfg: Path, smpp_port: int, sink_port: int,
                                 key: str | None) -> SinkClient:
    """A fresh simulator (e2e_bench's profile) and a fresh callback sink, both listening."""
    env = python_env()
    children.start("simulator", [sys.executable, "-m", "carriers", "--config", str(carriers_cfg)], env)
    proc = children.start("sink", [sys.executable, str(ROOT / "benchmarks" / "callback_sink.py"), "--port",
                                   str(sink_port), "--id-param", "id", *(["--key", key] if key else [])], env)
    await wait_listening(smpp_port, children)
    await wait_listening(sink_port, children)
    return SinkClient(f"http://127.0.0.1:{sink_port}", proc.pid)


async def wait_listening(port: int, children: Children, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children.check()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


_STATUS_FIELDS = {
    "submitted": re.compile(r"SMS: received \d+ \(\d+ queued\), sent (\d+)"),
    "queued": re.compile(r"SMS: received \d+ \(\d+ queued\), sent \d+ \((\d+) queued\)"),
    "receipts": re.compile(r"DLR: received (\d+)"),
    "dlr_waiting": re.compile(r"DLR: (\d+) queued"),
}


class Bearerbox:
    """bearerbox's status page: its counters, and how many smsc binds are online."""

    def __init__(self, admin_port: int) -> None:
        self.url = f"http://127.0.0.1:{admin_port}/status.txt?password=bench"

    async def status(self) -> tuple[dict[str, int], int]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, http.get(self.url) as resp:
            text = await resp.text()
        counters = {name: int(m.group(1)) if (m := pattern.search(text)) else 0
                    for name, pattern in _STATUS_FIELDS.items()}
        return counters, len(re.findall(r"\(online \d+s", text))


async def wait_for_quiet(limit_s: float, threshold: float = 0.3) -> float:
    """Wait, at most `limit_s`, until the machine's processes use less than `threshold` cores over a
    second (this is a shared machine: someone's test run would take cores from one gateway and not
    the other); the cores busy in the last second."""
    began = time.monotonic()
    told = False
    while True:
        before = machine_busy_seconds()
        await asyncio.sleep(1.0)
        busy = machine_busy_seconds() - before
        if busy < threshold or time.monotonic() - began > limit_s:
            if told:
                progress(f"  machine {'quiet' if busy < threshold else 'still busy'}: {busy:.2f} cores busy")
            return round(busy, 2)
        if not told:
            progress(f"  waiting for a quiet machine ({busy:.2f} cores busy elsewhere, at most {limit_s:.0f} s)")
            told = True


class Meter:
    """CPU seconds and the largest RSS of a set of processes over one measured stretch, and the CPU
    the rest of the machine used meanwhile (noise)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.cpu0 = {name: proc_stats(pid)[0] for name, pid in pids.items()}
        self.client0 = sum(os.times()[:2])
        self.machine0 = machine_busy_seconds()
        self.rss = {name: 0.0 for name in pids}
        self.cpu = dict.fromkeys(pids, 0.0)

    def sample(self) -> None:
        for name, pid in self.pids.items():
            cpu, rss = proc_stats(pid)
            if cpu:
                self.cpu[name] = cpu - self.cpu0[name]
            self.rss[name] = max(self.rss[name], rss)

    def result(self) -> tuple[dict[str, float], dict[str, float], float]:
        """(CPU seconds per process, largest RSS MiB per process, CPU seconds of everything else)."""
        self.sample()
        cpu = {name: round(v, 2) for name, v in self.cpu.items()}
        cpu["load_client"] = round(sum(os.times()[:2]) - self.client0, 2)
        others = machine_busy_seconds() - self.machine0 - sum(cpu.values())
        return cpu, {name: round(v, 1) for name, v in self.rss.items()}, round(max(0.0, others), 2)


async def measure(name: str, total: int, send: Callable[[], Awaitable[float]], load: Load,
                  sink: SinkClient, pids: dict[str, int], args: argparse.Namespace, children: Children,
                  counters: Callable[[], Awaitable[dict[str, int]]] | None = None) -> dict:
    """Send `total` messages with `send` and wait until the sink has a receipt for every accepted one,
    or nothing new has reached it for `--stall` seconds, or `--deadline`. The end is the sink's own
    time of the last first arrival."""
    busy_before = await wait_for_quiet(args.quiet_wait)
    await sink.reset()
    meter = Meter(pids)
    t0 = time.monotonic()
    t0_wall = time.time()
    sender = asyncio.create_task(send())
    sent_time = None
    last = (t0, 0, 0)
    last_arrival = t0
    timeline: list[dict] = []
    try:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            children.check()
            meter.sample()
            at_sink = (await sink.stats())["unique"]
            extra = await counters() if counters else {}
            dt = now - last[0]
            timeline.append({"t": round(now - t0, 2), "accepted": load.accepted, "at_sink": at_sink, **extra})
            progress(f"  {name} t={now - t0:5.1f}s accepted {load.accepted:>7,} ({(load.accepted - last[1]) / dt:>6,.0f}/s)"
                     f"  at sink {at_sink:>7,} ({(at_sink - last[2]) / dt:>6,.0f}/s)"
                     + "".join(f"  {k} {v:,}" for k, v in extra.items()))
            if at_sink > last[2]:
                last_arrival = now
            last = (now, load.accepted, at_sink)
            if sender.done() and sent_time is None:
                sent_time = sender.result()
            if sender.done() and at_sink >= load.accepted:
                break
            if sender.done() and now - last_arrival > args.stall:
                progress(f"  {name}: nothing new at the sink for {args.stall:.0f} s: {load.accepted - at_sink:,}"
                         " receipts missing")
                break
            if now - t0 > args.deadline:
                progress(f"  {name}: giving up after {args.deadline:.0f} s")
                break
    finally:
        if not sender.done():
            sender.cancel()
    polled = time.monotonic() - t0
    cpu, rss, others = meter.result()
    stats = await sink.stats()
    elapsed = (stats["last_at"] - t0_wall) if stats["last_at"] else polled
    complete = stats["unique"] >= load.accepted == total
    result = {
        "messages": total,
        "accepted": load.accepted,
        "rejected": load.rejected,
        "requests": load.requests,
        "request_errors": load.errors,
        "complete": complete,
        "seconds_to_accept_all": round(sent_time, 2) if sent_time else None,
        "seconds_to_last_receipt_at_sink": round(elapsed, 2),
        "accepted_per_s": round(load.accepted / sent_time) if sent_time else None,
        # a rate only when every message's receipt arrived: a run that lost receipts has no end
        "end_to_end_messages_per_s": round(total / elapsed) if complete else None,
        "receipts_at_sink_per_s": round(stats["unique"] / elapsed),
        "receipts_at_sink": stats["unique"],
        "receipts_missing": max(0, load.accepted - stats["unique"]),
        "duplicates_at_sink": stats["duplicates"],
        "sink_requests": stats["posts"],
        "bad_signatures": stats["bad_signatures"],
        "cpu_seconds": cpu,
        "cpu_seconds_total": round(sum(cpu.values()), 2),
        "cpu_seconds_per_1000_messages": round(sum(cpu.values()) / total * 1000, 3),
        "cpu_cores_busy": round(sum(cpu.values()) / polled, 2),
        "rss_mb_max": rss,
        "machine_busy_cores_before": busy_before,
        "other_processes_cpu_seconds": others,
        "other_processes_cores": round(others / polled, 2),
        "timeline": timeline,
    }
    rate = result["end_to_end_messages_per_s"]
    progress(f"{name}: {f'{rate:,}' if rate else 'INCOMPLETE'} msgs/s end to end ({stats['unique']:,} of"
             f" {load.accepted:,} receipts at the sink in {elapsed:.1f} s, {stats['duplicates']} duplicates),"
             f" {result['accepted_per_s']:,} accepted/s; CPU s " + ", ".join(f"{k} {v}" for k, v in cpu.items())
             + f"; other processes {others} CPU s")
    return result


async def run_kannel(n: int, args: argparse.Namespace, settings: KannelSettings) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsengine-peer-kannel-"))
    smpp_port, admin_port, box_port, sendsms_port, sink_port = (free_port() for _ in range(5))
    conf = tmp / "kannel.conf"
    conf.write_text(kannel_conf(settings, tmp, admin_port, box_port, sendsms_port, smpp_port))
    carriers_cfg, _ = write_configs(tmp, smpp_port, free_port(), args.binds, args.window, "")
    children = Children(tmp)
    try:
        sink = await start_carrier_and_sink(children, carriers_cfg, smpp_port, sink_port, None)
        # -v: what reaches stderr (the .out files); the log files get log-level
        children.start("bearerbox", ["bearerbox", "-v", "3", str(conf)])
        await wait_listening(box_port, children)
        children.start("smsbox", ["smsbox", "-v", "3", str(conf)])
        await wait_listening(sendsms_port, children)
        bearerbox = Bearerbox(admin_port)
        deadline = time.monotonic() + 30
        while (await bearerbox.status())[1] < settings.binds:
            children.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kannel's binds are not online: see {tmp}")
            await asyncio.sleep(0.2)
        dlr_url = f"http://127.0.0.1:{sink_port}/dlr?id=%p&s=%d"
        url = f"http://127.0.0.1:{sendsms_port}"
        warm = KannelLoad(url, args.batch, dlr_url)
        await warm.run(900_000_000, 2_000, 2, None)
        refused(warm, tmp)
        await until_at_sink(sink, warm.accepted, children, args.stall)

        async def counters() -> dict[str, int]:
            return (await bearerbox.status())[0]

        load = KannelLoad(url, args.batch, dlr_url)
        result = await measure("kannel", n, lambda: load.run(0, n, args.concurrency, None), load, sink,
                               {"bearerbox": children.procs["bearerbox"].pid, "smsbox": children.procs["smsbox"].pid,
                                "simulator": children.procs["simulator"].pid, "sink": sink.pid},
                               args, children, counters)
        result["dlrs_not_found_logged"] = (tmp / "bearerbox.log").read_text(errors="replace").count("not found")
    finally:
        children.stop()
    shutil.rmtree(tmp, ignore_errors=True)  # kept when the run failed, to read its logs
    return result


def refused(warm: Load, tmp: Path) -> None:
    """A gateway that accepted none of the warm-up (a broken build, a config it refuses) is not measured."""
    if not warm.accepted:
        raise RuntimeError(f"the gateway accepted none of the warm-up ({warm.requests} requests, {warm.errors}"
                           f" answered with an error status): its output is in {tmp}")


async def until_at_sink(sink: SinkClient, count: int, children: Children, stall: float) -> dict:
    """Wait for the warm-up's receipts: all of them, or until none has arrived for `stall` seconds."""
    seen, since = -1, time.monotonic()
    while True:
        stats = await sink.stats()
        if stats["unique"] >= count:
            return stats
        children.check()
        if stats["unique"] != seen:
            seen, since = stats["unique"], time.monotonic()
        elif time.monotonic() - since > stall:
            progress(f"  warm-up: {count - seen:,} of {count:,} receipts never reached the sink"
                     f" ({stats['bad_signatures']} answered 401 for a bad signature)")
            return stats
        await asyncio.sleep(0.2)


def engine_signs() -> bool:
    """Whether the engine in this tree signs its callbacks (only then may the sink verify them)."""
    return any(SIGNATURE_HEADER in path.read_text(errors="replace")
               for path in (ROOT / "smsengine").rglob("*.py"))


async def run_engine(n: int, args: argparse.Namespace, verify: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsengine-peer-engine-"))
    smpp_port, http_port, sink_port = free_port(), free_port(), free_port()
    carriers_cfg, engine_cfg = write_configs(tmp, smpp_port, http_port, args.binds, args.window,
                                             f"http://127.0.0.1:{sink_port}/receipts")
    children = Children(tmp)
    try:
        sink = await start_carrier_and_sink(children, carriers_cfg, smpp_port, sink_port,
                                            "bench-secret" if verify else None)
        children.start("engine", [sys.executable, "-m", "smsengine", "serve", "--config", str(engine_cfg)],
                       python_env())
        url = f"http://127.0.0.1:{http_port}"
        await wait_up(url)
        warm = Load(url, args.batch)
        await warm.run(900_000_000, 2_000, 2, None)
        refused(warm, tmp)
        await until_at_sink(sink, warm.accepted, children, args.stall)
        # the same client on: a fresh one would draw the same `random` values, which the engine
        # refuses as replayed requests
        load = warm
        load.accepted = load.rejected = load.requests = load.errors = 0
        result = await measure("engine", n, lambda: load.run(0, n, args.concurrency, None), load, sink,
                               {"engine": children.procs["engine"].pid, "simulator": children.procs["simulator"].pid,
                                "sink": sink.pid}, args, children)
    finally:
        children.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return result


async def run_gateway(gateway: str, args: argparse.Namespace, settings: KannelSettings, verify: bool) -> dict:
    """One gateway's measured run, tried again (up to --retries) when it failed or when other processes
    took more than --max-noise cores meanwhile; the attempts put aside are kept, in short."""
    discarded: list[dict] = []
    for attempt in range(1 + args.retries):
        try:
            if gateway == "kannel":
                result = await run_kannel(args.n, args, settings)
            else:
                result = await run_engine(args.n, args, verify)
        except RuntimeError as exc:
            progress(f"  {gateway}: the run failed: {str(exc)[-500:]}")
            result = {"failed": str(exc)[-2000:]}
        noise = result.get("other_processes_cores", 0.0)
        if "failed" not in result and noise <= args.max_noise:
            break
        if attempt < args.retries:
            if "failed" not in result:
                progress(f"  {gateway}: other processes took {noise} cores during the run: once more")
            discarded.append({k: result[k] for k in ("failed", "end_to_end_messages_per_s", "other_processes_cores")
                              if k in result})
    result["discarded_attempts"] = discarded
    return result


def stray_kannel() -> list[int]:
    """bearerbox/smsbox processes running before this run starts any (a service the package started, say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("bearerbox", "smsbox"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def median(values: list[float], digits: int = 2) -> float | None:
    return round(statistics.median(values), digits) if values else None


def summarise(runs: list[dict]) -> dict:
    """Medians over the runs that measured something (a failed run has no figures)."""
    summary: dict = {"runs": len(runs), "median_ratio_engine_over_kannel": median(
        [r["ratio_engine_over_kannel"] for r in runs if r["ratio_engine_over_kannel"] is not None])}
    for gateway in ("kannel", "engine"):
        done = [r[gateway] for r in runs if "cpu_seconds" in r[gateway]]
        if not done:
            summary[gateway] = {"measured_runs": 0}
            continue

        def of(key: str) -> float | None:
            return median([g[key] for g in done if g.get(key) is not None])

        summary[gateway] = {
            "measured_runs": len(done),
            "end_to_end_messages_per_s": of("end_to_end_messages_per_s"),
            "accepted_per_s": of("accepted_per_s"),
            "seconds_to_last_receipt_at_sink": of("seconds_to_last_receipt_at_sink"),
            "receipts_missing": sum(g["receipts_missing"] for g in done),
            "duplicates_at_sink": sum(g["duplicates_at_sink"] for g in done),
            "all_runs_complete": len(done) == len(runs) and all(g["complete"] for g in done),
            "cpu_seconds": {p: median([g["cpu_seconds"][p] for g in done]) for p in done[0]["cpu_seconds"]},
            "cpu_seconds_per_1000_messages": of("cpu_seconds_per_1000_messages"),
            "cpu_cores_busy": of("cpu_cores_busy"),
            "rss_mb_max": {p: median([g["rss_mb_max"][p] for g in done], 1) for p in done[0]["rss_mb_max"]},
            "other_processes_cores": of("other_processes_cores"),
        }
    return summary


def plot(runs: list[dict], summary: dict, path: Path, kannel_version: str, messages: int) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        progress("matplotlib missing: no plot")
        return
    gateways = ("kannel", "engine")
    labels = {"kannel": f"Kannel {kannel_version}\n(bearerbox + smsbox)", "engine": "smsengine"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    medians = [summary[g].get("end_to_end_messages_per_s") or 0 for g in gateways]
    bars = ax1.bar([labels[g] for g in gateways], medians, color=["#8c8c8c", "#3b75af"])
    for i, g in enumerate(gateways):
        values = [r[g]["end_to_end_messages_per_s"] for r in runs if r[g].get("end_to_end_messages_per_s")]
        ax1.plot([i] * len(values), values, "k.", label="each run" if i == 0 else None)
    for bar, value in zip(bars, medians):
        ax1.annotate(f"{value:,.0f}/s", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom")
    ratio = summary["median_ratio_engine_over_kannel"]
    ax1.set_title(f"end to end (receipt at the callback sink), median of {len(runs)}"
                  + (f"\nengine / Kannel = {ratio}" if ratio else ""), fontsize=10)
    ax1.set_ylabel("messages per second")
    ax1.legend(fontsize=8)
    bottoms = [0.0, 0.0]
    colours = {"engine": "#3b75af", "bearerbox": "#5a5a5a", "smsbox": "#a0a0a0", "simulator": "#e0a040",
               "sink": "#60a060", "load_client": "#c06060"}
    for proc, colour in colours.items():
        heights = [summary[g].get("cpu_seconds", {}).get(proc, 0.0) / messages * 1000 for g in gateways]
        if any(heights):
            ax2.bar([labels[g] for g in gateways], heights, bottom=bottoms, color=colour, label=proc)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
    ax2.set_title("CPU seconds per 1,000 messages, by process (median run)", fontsize=10)
    ax2.set_ylabel("CPU seconds")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    progress(f"wrote {path.relative_to(ROOT)}")


def engine_source() -> dict:
    """Which engine was measured: the commit, and the engine and simulator files that differed from it."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout

    return {"commit": git("rev-parse", "HEAD").strip(),
            "uncommitted": git("status", "--porcelain", "--", "smsengine", "carriers").splitlines()}


def kannel_version() -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "kannel"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=60_000, help="messages per gateway per run")
    # five: on this noisy 2-core machine one gateway's rate moves by a third between runs minutes apart
    parser.add_argument("--repeat", type=int, default=5, help="run the pair this many times (alternating order)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (both gateways)")
    parser.add_argument("--batch", type=int, default=200, help="numbers per request (both gateways)")
    parser.add_argument("--binds", type=int, default=2, help="the engine's SMPP binds (e2e_bench's default)")
    parser.add_argument("--window", type=int, default=512, help="unacknowledged submits per bind")
    parser.add_argument("--kannel-binds", type=int, default=1,
                        help="Kannel's transceiver binds (instances); more than one loses receipts, see KannelSettings")
    parser.add_argument("--kannel-store", choices=("none", "file"), default="none")
    parser.add_argument("--only", choices=("kannel", "engine"), help="run one gateway, print, write nothing")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds one gateway's run may take")
    parser.add_argument("--quiet-wait", type=float, default=300.0,
                        help="seconds to wait, before each measured run, for other processes to leave the cores")
    parser.add_argument("--max-noise", type=float, default=0.15,
                        help="cores other processes may use during a measured run before it is done again")
    parser.add_argument("--retries", type=int, default=2, help="how often a failed or disturbed run is done again")
    parser.add_argument("--stall", type=float, default=15.0,
                        help="seconds without a new receipt at the sink, once all is sent, that end a run")
    parser.add_argument("--out", default="peers", help="results name under benchmarks/results/")
    args = parser.parse_args()

    if args.only != "engine" and not all(subprocess.run(["sh", "-c", f"command -v {b}"], capture_output=True).returncode
                                         == 0 for b in ("bearerbox", "smsbox")):
        sys.exit("Kannel is not installed: `make bench-peers` installs it (apt-get install kannel)")
    strays = stray_kannel()
    if strays:
        progress(f"warning: bearerbox/smsbox processes not started by this run are running ({strays}):"
                 " they share the 2 cores")
    settings = KannelSettings(binds=args.kannel_binds, window=args.window, store=args.kannel_store)
    verify = engine_signs()
    progress(f"engine callbacks {'are signed: the sink verifies them' if verify else 'carry no signature: the sink does not verify'}")
    source = engine_source()
    runs: list[dict] = []
    for i in range(args.repeat):
        order = ["kannel", "engine"] if i % 2 == 0 else ["engine", "kannel"]
        if args.only:
            order = [args.only]
        run: dict = {"run": i + 1, "order": order}
        for gateway in order:
            progress(f"run {i + 1}/{args.repeat}: {gateway}, {args.n:,} messages")
            run[gateway] = await run_gateway(gateway, args, settings, verify)
        if not args.only:
            k, e = run["kannel"].get("end_to_end_messages_per_s"), run["engine"].get("end_to_end_messages_per_s")
            run["ratio_engine_over_kannel"] = round(e / k, 2) if k and e else None
            progress(f"run {i + 1}: engine {e} msgs/s, Kannel {k} msgs/s, ratio {run['ratio_engine_over_kannel']}")
        runs.append(run)
    if args.only:
        progress("--only: nothing written")
        return
    summary = summarise(runs)
    version = kannel_version()
    plot(runs, summary, RESULTS / f"{args.out}.png", version, args.n)
    for run in runs:
        for gateway in ("kannel", "engine"):
            timeline = run[gateway].get("timeline", [])
            run[gateway]["timeline"] = timeline[:: max(1, len(timeline) // 60)]
    example_conf = kannel_conf(settings, Path("$TMP"), 0, 0, 0, 0)
    write(args.out, {
        "command": "python " + " ".join(sys.argv),
        "processes": "Kannel: load client (this process), bearerbox, smsbox, simulator, callback sink — five"
                     " processes; engine: load client, engine, simulator, callback sink — four (the engine's CPU"
                     " includes its carrier process when dispatch.carrier_process is on: "
                     + os.environ.get("SMSENGINE_DISPATCH__CARRIER_PROCESS", "auto") + "); all share the"
                     " machine's 2 cores, and only one gateway runs at a time, each with a fresh simulator and sink",
        "end_to_end_means": "first send request → the last receipt's first arrival at the callback sink (sink clock)",
        "setup": {
            "messages_per_gateway_per_run": args.n,
            "order": "alternating per run (kannel first on odd runs); before each measured run the script waits"
                     f" up to {args.quiet_wait:.0f} s for the machine to be idle, and a run during which other"
                     f" processes took more than {args.max_noise} cores is done again (up to {args.retries} times;"
                     " see other_processes_cores and discarded_attempts per run)",
            "load": {"numbers_per_request": args.batch, "concurrency": args.concurrency,
                     "numbers": "distinct mainland numbers, one message each, one segment (UCS-2 text of 62 chars)"},
            "carrier": "python -m carriers, e2e_bench's instant-delivery profile (time_scale 0, no delays,"
                       f" window {max(args.window * 2, 64)}), one receipt per message, account smsengine/secret",
            "kannel": {
                "version": version,
                "stray_kannel_processes_at_start": strays,
                "processes": "bearerbox -v 3 kannel.conf; smsbox -v 3 kannel.conf",
                "request": f"GET /cgi-bin/sendsms?username&password&from=10690000&to=<{args.batch} numbers,"
                           " space-separated>&text=<same text as the engine sends>&charset=UTF-8&coding=2"
                           "&dlr-mask=3&dlr-url=http://127.0.0.1:SINK/dlr?id=%p&s=%d",
                "receipts": "one HTTP GET per receipt from smsbox to the sink (dlr-url), number in `id`",
                "settings": msgspec.structs.asdict(settings),
                "why": {
                    "instances 1, transceiver-mode": "receipts on the bind that submitted: with 2 binds Kannel"
                                                     " drops the receipts that overtake their submit_sm_resp on the"
                                                     " other bind (see KannelSettings in peer_bench.py)",
                    "max-pending-submits": "the engine's window; Kannel's default 10 caps a bind at 10/RTT",
                    "throughput": "unset: no throttle",
                    "dlr-storage internal": "in memory, no database round trip per submit and receipt",
                    "store": "none by default: accepted messages live in memory only (the engine commits each"
                             " to SQLite before answering); --kannel-store file turns Kannel's store file on",
                    "smsbox-max-pending": "512 DLRs in flight to smsbox instead of 100",
                    "max-pending-requests": "512 concurrent dlr-url fetches (default)",
                    "log-level 2, no access-log": "nothing written per message",
                    "msg-id-type unset": "the simulator writes the same hex id in submit_sm_resp and receipt;"
                                         " Kannel compares them as strings",
                },
                "kannel_conf": example_conf,
            },
            "engine": {
                "source": source,
                "config": "e2e_bench.write_configs: binds, window, SQLite WAL store, receipt_url → sink",
                "request": f"POST /v1/sms/send, template 1, {args.batch} numbers per request, signed",
                "receipts": "the engine's callback pusher: batched JSON POSTs to the account's receipt_url",
                "sink_verifies_signatures": verify,
            },
        },
        "summary": summary,
        "runs": runs,
    })


if __name__ == "__main__":
    asyncio.run(main())
