"""One variant run end to end: simulators and engine started as processes, the planned traffic
sent over HTTP from this process, the engine and the simulators sampled while it runs, every
message waited for until final (or the deadline), then everything read back and stopped.

What comes back (`Observation`) is raw: accounting.py turns it into figures.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from smsengine.domain.auth import request_sig
from smsengine.lab import configs
from smsengine.lab.processes import RunError, free_port, start_engine, start_simulators
from smsengine.lab.scenario import Scenario
from smsengine.lab.traffic import Request, plan

SAMPLE_EVERY_S = 0.25
START_TIMEOUT_S = 30.0  # the engine healthy with every carrier bound, from the processes' start
START_ATTEMPTS = 3  # a port taken between choosing and binding it: started again on new ports
CALL_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
HEALTH_TIMEOUT = aiohttp.ClientTimeout(total=1)
CHECK_CHUNK = 50_000  # numbers per POST /v1/numbers/check (at most 100,000 and 4 MiB)
FATE_LOOKUPS = 16  # /status/{number} requests in flight at once


class Answer(msgspec.Struct):
    """What one send request got: HTTP status and, per distinct number, (phone, code, message id,
    segments); `error` when no answer came (connection refused, timeout)."""

    request: int
    http: int
    code: int
    results: list[tuple[str, int, int, int]]
    duplicates: int
    sent_at: float
    error: str = ""


class Sample(msgspec.Struct):
    """The engine's gauges and counters (from /metrics) at `t` seconds after the traffic began."""

    t: float
    sent: int  # recipients posted so far
    accepted: int
    submitted: int  # segments accepted by carriers
    final: int
    open: int
    retries: int
    failovers: int
    rejected: dict[str, int]  # intake refusals by code
    carriers: dict[str, dict[str, float]]  # per carrier: binds, window, queue, throttled, receipts


class Observation(msgspec.Struct):
    """Everything read from one run, for accounting."""

    scenario: Scenario
    population: list[str]
    requests: list[Request]
    screened: dict[str, str]  # number -> what the check said, when traffic.screen
    answers: list[Answer]
    messages: list[dict[str, str]]  # the engine's CSV export, row by row
    segments: list[tuple[int, int, str, float, str, str, float | None, str]]  # message, seq, carrier, at,
    # stat, err, done, carrier message id
    carrier_submits: list[tuple[str, str, str]]  # (carrier, message id, destination) of every submit accepted
    balance_start: int
    balance_end: int
    samples: list[Sample]
    counters: dict[str, dict[str, Any]]  # per carrier, the simulators' /counters at the end
    fates: dict[str, str]  # number -> fate at the carrier it went to (or the route's first)
    started_at: float  # wall clock when the traffic began
    traffic_s: float  # last answer, seconds after the start
    finished_s: float  # every message final (or the deadline), seconds after the start
    complete: bool  # every accepted message final before the deadline
    engine_exit: int | None = None


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _one(metrics: dict, name: str) -> int:
    return int(sum(metrics.get(name, {}).values()))


def _by(metrics: dict, name: str, label: str) -> dict[str, float]:
    return {dict(k).get(label, ""): v for k, v in metrics.get(name, {}).items()}


class Lab:
    """The HTTP side of a run: the engine's API as the lab account, and the simulators' admin."""

    def __init__(self, http: aiohttp.ClientSession, engine_url: str, admin: dict[str, str]) -> None:
        self.http = http
        self.engine_url = engine_url
        self.admin = admin
        self.account = {"X-App-Id": configs.APP_ID, "X-App-Key": configs.APP_KEY}

    @classmethod
    def on(cls, http: aiohttp.ClientSession, ports: configs.Ports, carriers: list[str]) -> Lab:
        """The lab of processes listening on `ports` (loopback)."""
        return cls(http, f"http://127.0.0.1:{ports.http}", {n: f"http://127.0.0.1:{ports.admin[n]}" for n in carriers})

    async def healthy(self, carriers: list[str]) -> bool:
        try:
            # short: whatever holds the port may never answer (a process that took it first)
            async with self.http.get(self.engine_url + "/healthz", timeout=HEALTH_TIMEOUT) as resp:
                body = await resp.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return False
        return all(body.get("carriers", {}).get(name) for name in carriers)

    async def metrics(self) -> dict:
        async with self.http.get(self.engine_url + "/metrics") as resp:
            return parse_metrics(await resp.text())

    async def balance(self) -> int:
        async with self.http.get(f"{self.engine_url}/v1/accounts/{configs.APP_ID}",
                                 headers={"X-Admin-Token": configs.ADMIN_TOKEN}) as resp:
            return int((await resp.json())["balance"])

    async def send(self, request: Request, phones: list[str], sign: str, sent_at: float) -> Answer:
        now = int(time.time())
        rnd = request.index + 1  # unique per request in a store of its own: never a replay
        body = {"app_id": configs.APP_ID, "random": rnd, "time": now, "sig": request_sig(configs.APP_KEY, rnd, now, phones),
                "phone_numbers": phones, "content": request.text, "sign": sign, "type": request.type}
        try:
            async with self.http.post(self.engine_url + "/v1/sms/send", json=body) as resp:
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            return Answer(request.index, 0, -1, [], 0, sent_at, error=f"{type(exc).__name__}: {exc}")
        if resp.status != 200 or not isinstance(answer, dict) or "results" not in answer:
            code = answer.get("code", -1) if isinstance(answer, dict) else -1
            return Answer(request.index, resp.status, int(code), [], 0, sent_at, error=f"HTTP {resp.status}")
        results = [(r["phone"], int(r["code"]), int(r.get("message_id") or 0), int(r.get("segments") or 0))
                   for r in answer["results"]]
        return Answer(request.index, 200, int(answer.get("code", 0)), results, int(answer.get("duplicates", 0)),
                      sent_at)

    async def export(self) -> list[dict[str, str]]:
        async with self.http.get(self.engine_url + "/v1/messages", params={"format": "csv"},
                                 headers=self.account, timeout=aiohttp.ClientTimeout(total=300)) as resp:
            text = await resp.text()
        return list(csv.DictReader(io.StringIO(text)))

    async def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(numbers), CHECK_CHUNK):
            chunk = numbers[i:i + CHECK_CHUNK]
            async with self.http.post(self.engine_url + "/v1/numbers/check", json={"phone_numbers": chunk},
                                      headers=self.account, timeout=aiohttp.ClientTimeout(total=300)) as resp:
                body = await resp.json()
            if resp.status != 200:
                raise RunError(f"POST /v1/numbers/check: HTTP {resp.status}: {body}")
            for row in body["results"]:
                out[row["phone"]] = row["status"]
        return out

    async def counters(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, url in self.admin.items():
            async with self.http.get(url + "/counters") as resp:
                out[name] = await resp.json()
        return out

    async def fates(self, where: dict[str, str]) -> dict[str, str]:
        """Each number's fate at its carrier (number -> carrier), from the simulator's /status."""
        out: dict[str, str] = {}
        queue = list(where.items())

        async def worker() -> None:
            while queue:
                number, carrier = queue.pop()
                async with self.http.get(f"{self.admin[carrier]}/status/{number}") as resp:
                    out[number] = (await resp.json())["fate"]

        await asyncio.gather(*(worker() for _ in range(FATE_LOOKUPS)))
        return out


def _sample(t: float, sent: int, accepted: int, metrics: dict) -> Sample:
    carriers: dict[str, dict[str, float]] = {}
    for key, name in (("binds", "smsengine_carrier_binds"), ("window", "smsengine_carrier_window_used"),
                      ("queue", "smsengine_carrier_queue_depth"), ("throttled", "smsengine_carrier_throttled_total"),
                      ("receipts", "smsengine_carrier_receipts_total")):
        for carrier, value in _by(metrics, name, "carrier").items():
            carriers.setdefault(carrier, {})[key] = value
    return Sample(
        t=round(t, 3), sent=sent, accepted=accepted,
        submitted=_one(metrics, "smsengine_segments_submitted_total"),
        final=_one(metrics, "smsengine_messages_final_total"), open=_one(metrics, "smsengine_messages_open"),
        retries=_one(metrics, "smsengine_submit_retries_total"), failovers=_one(metrics, "smsengine_failovers_total"),
        rejected={code: int(n) for code, n in _by(metrics, "smsengine_recipients_rejected_total", "code").items()},
        carriers=carriers,
    )


def _named(error: RunError, names: list[str]) -> RunError:
    """The simulators' complaint about their generated file, with `$.carriers[i]` named as the
    scenario's key (carriers.NAME.simulator)."""
    text = re.sub(r"- at `\$\.carriers\[(\d+)\]([^`]*)`",
                  lambda m: f"(carriers.{names[int(m[1])]}.simulator{m[2]})" if int(m[1]) < len(names) else m[0],
                  str(error))
    return RunError(text)


async def _wait_started(lab: Lab, names: list[str], processes: list) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not await lab.healthy(names):
        for process in processes:
            try:
                process.check()
            except RunError as exc:
                raise _named(exc, names) from None
        if time.monotonic() > deadline:
            raise RunError(f"the engine did not bind every carrier ({', '.join(names)}) within {START_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.1)


def _port_taken(error: BaseException) -> bool:
    """A process that could not listen because its port was taken meanwhile (processes.free_port)."""
    return isinstance(error, RunError) and "address already in use" in str(error).lower()


async def _start(scenario: Scenario, names: list[str], directory: Path) -> tuple[configs.Ports, list]:
    """The simulators and the engine on free loopback ports, healthy with every carrier bound.
    Another process can take a chosen port before ours binds it (seen once in ~20 CI runs): then
    everything is stopped and started again on new ports, from an empty store."""
    for attempt in range(1, START_ATTEMPTS + 1):
        ports = configs.Ports(free_port(), {n: free_port() for n in names}, {n: free_port() for n in names})
        carriers_config, engine_config = configs.write(scenario, ports, directory)
        processes = [start_simulators(carriers_config, directory), start_engine(engine_config, directory)]
        try:
            async with aiohttp.ClientSession(timeout=CALL_TIMEOUT) as http:
                await _wait_started(Lab.on(http, ports, names), names, processes)
            return ports, processes
        except BaseException as exc:
            for process in reversed(processes):
                process.stop()
            if not _port_taken(exc) or attempt == START_ATTEMPTS:
                raise
            for leftover in directory.glob("engine.db*"):
                leftover.unlink()
    raise AssertionError("unreachable")


def read_store(db: Path) -> list[tuple[int, int, str, float, str, str, float | None, str]]:
    """Every segment a carrier accepted, read from the engine's SQLite file (read-only, after it stopped)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [tuple(row) for row in conn.execute(  # type: ignore[misc]
            "SELECT message_id, seq, carrier, submitted_at, stat, err, done_at, carrier_message_id FROM segments"
            " ORDER BY submitted_at")]


def read_submit_logs(directory: Path, carriers: list[str]) -> list[tuple[str, str, str]]:
    """(carrier, message id, destination) of every submit the simulators accepted (read after they stopped)."""
    out = []
    for name in carriers:
        path = configs.submit_log(directory, name)
        if path.exists():
            for line in path.read_bytes().splitlines():
                row = msgspec.json.decode(line)
                out.append((row["carrier"], row["message_id"], row["destination"]))
    return out


OnSample = Callable[[Sample], None]


async def run_variant(scenario: Scenario, directory: Path | None = None, on_sample: OnSample | None = None) -> Observation:
    """Run one variant in `directory` (a temp dir when None, removed after) and read it all back."""
    if directory is None:
        with tempfile.TemporaryDirectory(prefix=f"smsengine-lab-{scenario.name}-") as tmp:
            return await run_variant(scenario, Path(tmp), on_sample)
    population, requests = plan(scenario)
    names = list(scenario.carriers)
    ports, processes = await _start(scenario, names, directory)
    engine = processes[1]
    try:
        connector = aiohttp.TCPConnector(limit=scenario.traffic.concurrency + FATE_LOOKUPS + 4)
        async with aiohttp.ClientSession(timeout=CALL_TIMEOUT, connector=connector) as http:
            lab = Lab.on(http, ports, names)
            balance_start = await lab.balance()
            screened: dict[str, str] = {}
            if scenario.traffic.screen:
                screened = await lab.check_numbers(sorted({p for r in requests for p in r.phones}))
            observed = await _drive(scenario, lab, requests, screened, processes, on_sample)
            messages = await lab.export()
            counters = await lab.counters()
            balance_end = await lab.balance()
            first = scenario.routes()[0].targets[0].carrier
            where = {p: first for r in requests for p in r.phones}
            where.update({row["phone"]: row["carrier"] for row in messages if row["carrier"] in lab.admin})
            fates = await lab.fates(where)
        engine_exit = engine.stop()
        segments = read_store(directory / "engine.db")
    finally:
        for process in reversed(processes):
            process.stop()
    carrier_submits = read_submit_logs(directory, names)
    samples, answers, started_at, traffic_s, finished_s, complete = observed
    return Observation(scenario, population, requests, screened, answers, messages, segments, carrier_submits,
                       balance_start, balance_end, samples, counters, fates, started_at, traffic_s, finished_s,
                       complete, engine_exit)


async def _drive(scenario: Scenario, lab: Lab, requests: list[Request], screened: dict[str, str],
                 processes: list, on_sample: OnSample | None):
    """Send every request on time, sample the engine meanwhile, and wait until every accepted
    message is final or `deadline_s` has passed since the last answer."""
    sign = scenario.traffic.sign
    answers: list[Answer] = []
    samples: list[Sample] = []
    queue = list(reversed(requests))
    counts = {"sent": 0, "accepted": 0}
    t0, started_at = time.monotonic(), time.time()

    async def worker() -> None:
        while queue:
            request = queue.pop()
            delay = t0 + request.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            phones = [p for p in request.phones if screened.get(p) != "empty"]
            if not phones:
                answers.append(Answer(request.index, 0, 0, [], 0, request.at))
                continue
            counts["sent"] += len(phones)
            answer = await lab.send(request, phones, sign, time.monotonic() - t0)
            counts["accepted"] += sum(1 for r in answer.results if r[1] == 0)
            answers.append(answer)

    async def sample() -> Sample:
        for process in processes:
            process.check()
        point = _sample(time.monotonic() - t0, counts["sent"], counts["accepted"], await lab.metrics())
        samples.append(point)
        if on_sample is not None:
            on_sample(point)
        return point

    async def sampler() -> None:
        while True:
            await sample()
            await asyncio.sleep(SAMPLE_EVERY_S)

    sampling = asyncio.create_task(sampler())
    try:
        await asyncio.gather(*(worker() for _ in range(scenario.traffic.concurrency)))
        traffic_s = time.monotonic() - t0
        deadline = time.monotonic() + scenario.deadline_s
        complete = False
        while time.monotonic() < deadline:
            if sampling.done():
                sampling.result()  # a process died: its error
            if samples and samples[-1].open == 0 and samples[-1].final >= counts["accepted"]:
                complete = True
                break
            await asyncio.sleep(SAMPLE_EVERY_S / 2)
    finally:
        sampling.cancel()
        try:
            await sampling
        except asyncio.CancelledError:
            pass
    finished_s = time.monotonic() - t0
    await sample()
    answers.sort(key=lambda a: a.request)
    return samples, answers, started_at, traffic_s, finished_s, complete
