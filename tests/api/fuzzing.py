"""Schemathesis over a real engine: every operation of the served /openapi.json fuzzed over a real
socket as the operator, as an account, with no credentials and with garbled ones, failures counted.

Shared by tests/api/test_fuzz.py (a bounded run in `make test`) and benchmarks/chaos_fuzz_http.py
(a longer one). Schemathesis calls synchronously (requests), so the rig runs its own event loop in
a thread of its own; the engine, simulators and sockets are the same as every other API test's.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smsengine.domain.auth import request_sig
from tests.support.rig import ADMIN, Rig, fast_profile, start_rig, stop_rig

# who calls: fixed credentials, or headers drawn per request
IDENTITIES: dict[str, dict[str, str]] = {
    "operator": {"X-Admin-Token": ADMIN},
    "account": {"X-App-Id": "demo", "X-App-Key": "demo-secret"},
    # no credentials of ours: the generator fills the security headers with printable ASCII
    "anonymous": {},
}
# Credentials headers with any Latin-1 character (requests sends them as single bytes >= 0x80,
# which aiohttp keeps as surrogates): 614 of 13,012 chaos requests were 500s before the secret
# comparison took them (tests/api/test_bad_input.py). Their curl lines re-encode as UTF-8.
_LATIN1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=24)
GARBLED = st.fixed_dictionaries({}, optional={
    "X-App-Id": st.one_of(st.just("demo"), _LATIN1.map(str.strip)),
    "X-App-Key": _LATIN1.map(str.strip),
    "X-Admin-Token": _LATIN1.map(str.strip),
})
MODES = {"positive": schemathesis.GenerationMode.POSITIVE, "negative": schemathesis.GenerationMode.NEGATIVE}
# a 5xx is the failure that matters; the others say the document and the handlers disagree
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
REQUEST_TIMEOUT_S = 10.0


@contextmanager
def served_rig(tmp: Path) -> Iterator[str]:
    """An engine with an embedded-style simulator and its HTTP server on 127.0.0.1, running in a
    thread; yields the base URL and stops everything on exit."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["rig"] = loop.run_until_complete(start_rig(tmp, [fast_profile("ideal")]))
            loop.run_until_complete(_send_some(box["rig"]))
        except BaseException as exc:  # handed to the caller's thread, raised there
            box["error"] = exc
        started.set()
        if "error" not in box:
            loop.run_forever()
        if "rig" in box:
            loop.run_until_complete(stop_rig(box["rig"]))

    thread = threading.Thread(target=run, name="fuzzed-engine", daemon=True)
    thread.start()
    if not started.wait(30.0):
        raise RuntimeError("the engine did not start within 30 s")
    try:
        if "error" in box:
            raise box["error"]
        yield f"http://127.0.0.1:{box['rig'].server.http_port}"
    finally:
        if "error" not in box:
            loop.call_soon_threadsafe(loop.stop)
        thread.join(30.0)
        loop.close()


async def _send_some(rig: Rig) -> None:
    """A few real messages, so that looking ids up finds some (ids 1..3) and not only 404s."""
    status, body = await rig.client.send(["+8613800000001", "+8613800000002", "+8613800000003"])
    assert status == 200 and [r["code"] for r in body["results"]] == [0, 0, 0], body


def sign_send_body(case: schemathesis.Case) -> None:
    """A send request is authenticated by `sig` in its body, which no generator can produce:
    as the demo account, sign what was generated (numbers included) so the fuzz reaches intake."""
    body = case.body
    if not isinstance(body, dict):
        return
    numbers = body.get("phone_numbers")
    rnd = body.get("random")
    if not (isinstance(numbers, list) and all(isinstance(n, str) for n in numbers) and isinstance(rnd, int)):
        return
    body["app_id"] = "demo"
    body["time"] = int(time.time())
    body["sig"] = request_sig("demo-secret", rnd, body["time"], numbers)


_fresh = itertools.count(int(time.time() * 1000))


def _number(i: int) -> str:
    return f"+86138{i % 100_000:08d}"


def aim_at_own_resources(case: schemathesis.Case, app_id: str) -> None:
    """Random app ids, ids and numbers name nothing (401, 404, 1016): point them at the caller's
    own account, at low ids (the seeded account's and earlier requests') and at valid numbers, so
    that the rules behind the lookups are fuzzed too."""
    for container in (case.path_parameters, case.query, case.body):
        if isinstance(container, dict) and "app_id" in container:
            container["app_id"] = app_id
    path = case.path_parameters or {}
    if "message_id" in path:
        path["message_id"] = str(1 + sum(map(ord, str(path["message_id"]))) % 20)
    if isinstance(path.get("id"), int):
        path["id"] = 1 + path["id"] % 5
    body = case.body
    if isinstance(body, dict):
        if isinstance(body.get("phone"), str):
            body["phone"] = _number(len(body["phone"]))
        if isinstance(body.get("phone_numbers"), list):
            body["phone_numbers"] = [_number(i) for i in range(len(body["phone_numbers"]))]
        if isinstance(body.get("random"), int):
            body["random"] = next(_fresh)  # a replayed (random, time) pair stops at 1028


@dataclass
class Tally:
    operations: set[str] = field(default_factory=set)
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_operation: Counter = field(default_factory=Counter)
    # (operation, check title) -> one reproduction, so a failure found a thousand times reads once
    server_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    violations: dict[tuple[str, str], str] = field(default_factory=dict)
    server_error_count: int = 0
    violation_count: int = 0

    def record(self, label: str, status: int, failures: list[Failure], reproduce: str) -> None:
        """One response: a 5xx counts once (whatever else it failed), any other response once if
        it failed a check; the first reproduction of each (operation, failure) is kept."""
        self.requests += 1
        self.statuses[status // 100 * 100] += 1
        self.by_operation[(label, status)] += 1
        if status >= 500:
            self.server_error_count += 1
        elif failures:
            self.violation_count += 1
        if status >= 500:
            self.server_errors.setdefault((label, str(status)), reproduce)
        for failure in failures if status < 500 else ():
            self.violations.setdefault((label, failure.title), f"{failure.message}\n{reproduce}")

    def report(self) -> str:
        lines = [f"{'operations tried':<22}{len(self.operations):>8}",
                 f"{'requests sent':<22}{self.requests:>8}",
                 *(f"{f'  answered {k // 100}xx':<22}{v:>8}" for k, v in sorted(self.statuses.items())),
                 f"{'5xx':<22}{self.server_error_count:>8}",
                 f"{'schema violations':<22}{self.violation_count:>8}"]
        by_identity: dict[str, Counter] = {}
        for (label, status), n in self.by_operation.items():
            counts = by_identity.setdefault(label.rsplit(" as ", 1)[1], Counter())
            counts["requests"] += n
            counts["5xx"] += n if status >= 500 else 0
        lines += [f"  as {name:<17}{c['requests']:>8} requests, {c['5xx']} 5xx" for name, c in by_identity.items()]
        for title, found in (("5xx", self.server_errors), ("schema violations", self.violations)):
            for (label, kind), example in found.items():
                lines.append(f"\n{title}: {label}: {kind}\n{example}")
        return "\n".join(lines)


def fuzz(base_url: str, *, max_examples: int, identities: list[str] | None = None,
         modes: list[str] | None = None, seed: int | None = None) -> Tally:
    """Each operation × identity × mode gets `max_examples` generated requests; identities are
    IDENTITIES' names and "garbled" (Latin-1 credentials headers). With no seed the run is
    derandomised (the same requests every time, as a test must be); a seed varies it."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.output.sanitization.enabled = False  # the rig's test credentials, shown to reproduce
    tally = Tally()
    session = requests.Session()
    settings = hypothesis.settings(
        max_examples=max_examples, deadline=None, database=None, derandomize=seed is None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
        suppress_health_check=list(HealthCheck), print_blob=False,
    )
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            tally.operations.add(operation.label)
            for identity in identities or list(IDENTITIES):
                for mode in modes or list(MODES):
                    _fuzz_one(operation, identity, MODES[mode], base_url, session, settings, tally, seed)
    finally:
        session.close()
    return tally


def _fuzz_one(operation, identity: str, mode, base_url: str, session: requests.Session,
              settings: hypothesis.settings, tally: Tally, seed: int | None) -> None:
    headers_of = GARBLED if identity == "garbled" else st.just(IDENTITIES[identity])
    signs = identity == "account" and operation.label == "POST /v1/sms/send"

    @settings
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode), headers=headers_of,
                      own=st.booleans())
    def run(case: schemathesis.Case, headers: dict[str, str], own: bool) -> None:
        if own and identity in ("operator", "account"):
            aim_at_own_resources(case, "demo")
        if signs:
            sign_send_body(case)
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
            failures: list[Failure] = []
        except FailureGroup as group:
            failures = list(group.exceptions)
        tally.record(f"{operation.label} as {identity}", response.status_code, failures,
                     case.as_curl_command(headers=headers))

    if seed is not None:
        run = hypothesis.seed(random.Random(f"{seed}:{operation.label}:{identity}:{mode}").getrandbits(64))(run)
    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # nothing to make invalid (no parameters, no body): negative mode has no case to send
        if mode is not schemathesis.GenerationMode.NEGATIVE:
            raise
