"""Empty-number screening over HTTP: POST /v1/numbers/check asks real simulators' admin ports
(`/status/{number}`) and answers each number's state as the simulator's seeded fates have it;
invalid numbers are reported, an endpoint that is down or talks nonsense gives `unknown` (never a
5xx), the check is bounded in numbers (1054), in lookups at once and in time."""

import asyncio
import json
import socket
import time

import aiohttp
import pytest
from aiohttp import web

from carriers.config import FateRule, FateShares
from carriers.group import SimulatorGroup
from smsengine.api.openapi import openapi_document
from smsengine.config import RouteConfig, RouteTarget, ScreeningConfig
from smsengine.engine.screening import MAX_CHECK_NUMBERS
from tests.api.test_auth import authorization
from tests.api.test_openapi import answer_errors
from tests.support.rig import ADMIN, Rig, engine_config, fast_profile, start_server, stop_rig

DEMO = {"X-App-Id": "demo", "X-App-Key": "demo-secret"}
PATH = "/v1/numbers/check"

# what the check must answer for each word of the simulator's /status/{number} (carriers/fates.py)
EXPECTED = {"ok": "ok", "empty": "empty", "powered_off": "powered_off", "out_of_service": "empty",
            "inbox_full": "ok", "poor_reception": "ok"}
# numbers +8613900000000..+8613900000069: ten of each forced fate
FORCED = ["empty", "powered_off", "out_of_service", "inbox_full", "poor_reception", "blocked", "delivered"]
RULES = [FateRule(fate=fate, first=f"86139000000{i}0", last=f"86139000000{i}9") for i, fate in enumerate(FORCED)]


def forced_number(fate: str, k: int = 0) -> str:
    return f"+86139000000{FORCED.index(fate)}{k}"


async def start(tmp_path, profiles, *, lookups: dict[str, str] | None = None, **config) -> Rig:
    """Simulators, then an engine whose carriers look numbers up at the simulators' admin ports
    (or at `lookups`, by carrier name)."""
    sims = await SimulatorGroup(profiles).start()
    try:
        urls = {name: f"http://127.0.0.1:{port}/status/{{number}}" for name, port in sims.admin_ports.items() if port}
        urls.update(lookups or {})
        changes = {name: {"number_lookup_url": url} for name, url in urls.items()}
        server = await start_server(engine_config(tmp_path, sims.ports, carrier_changes=changes, **config), tmp_path)
    except BaseException:
        await sims.close()
        raise
    return Rig(sims, server, aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}"))


async def check(http: aiohttp.ClientSession, numbers: list[str], headers: dict | None = None,
                **body) -> tuple[int, dict]:
    async with http.post(PATH, json={"phone_numbers": numbers, **body},
                         headers=DEMO if headers is None else headers) as resp:
        return resp.status, await resp.json()


def documented(status: int, body) -> list[str]:
    return answer_errors(openapi_document(), PATH, "POST", status, body)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def rig(tmp_path):
    profile = fast_profile("ideal", admin_port=0, seed=5, rules=RULES,
                           fates=FateShares(empty=0.2, powered_off=0.2, out_of_service=0.1, inbox_full=0.1))
    rig = await start(tmp_path, [profile])
    yield rig
    await stop_rig(rig)


async def test_each_number_gets_the_state_its_carrier_has_seeded(rig):
    forced = [forced_number(fate, k) for fate in FORCED for k in range(10)]
    seeded = [f"+86138000{i:05d}" for i in range(300)]
    status, answer = await check(rig.http, forced + seeded)
    assert status == 200 and documented(200, answer) == []
    assert answer["code"] == 0 and answer["complete"] is True and answer["duplicates"] == 0
    results = answer["results"]
    assert [r["phone"] for r in results] == forced + seeded  # one each, in the order given
    assert {r["carrier"] for r in results} == {"ideal"}
    assert [r["number"] for r in results] == forced + seeded
    by_fate = {fate: {r["status"] for r in results[i * 10:(i + 1) * 10]} for i, fate in enumerate(FORCED)}
    assert by_fate == {"empty": {"empty"}, "powered_off": {"powered_off"}, "out_of_service": {"empty"},
                       "inbox_full": {"ok"}, "poor_reception": {"ok"}, "blocked": {"ok"}, "delivered": {"ok"}}
    # the seeded share: what the simulator itself says of each number, number by number
    behaviour = rig.simulators["ideal"].behaviour
    expected = [EXPECTED[behaviour.number_status(n).status] for n in seeded]
    assert [r["status"] for r in results[70:]] == expected
    assert {"ok", "empty", "powered_off"} <= set(expected)  # the shares gave every state
    assert answer["counts"] == {state: sum(r["status"] == state for r in results)
                                for state in ("ok", "empty", "powered_off", "unknown", "invalid")}
    assert sum(answer["counts"].values()) == len(results)


async def test_invalid_numbers_are_reported_and_repeats_counted_as_duplicates(rig):
    national = forced_number("empty")[3:]  # "13900000000": the same number read in the default region CN
    given = ["12ab", forced_number("empty"), "+86 139", "", national, "1" * 32, "12ab", forced_number("delivered")]
    status, answer = await check(rig.http, given)
    assert status == 200 and documented(200, answer) == []
    assert [(r["phone"], r["status"], r["number"]) for r in answer["results"]] == [
        ("12ab", "invalid", ""),
        (forced_number("empty"), "empty", forced_number("empty")),
        ("+86 139", "invalid", ""),
        ("", "invalid", ""),
        ("1" * 32, "invalid", ""),
        (forced_number("delivered"), "ok", forced_number("delivered")),
    ]
    assert answer["duplicates"] == 1  # the national form of a number already given
    assert answer["counts"] == {"ok": 1, "empty": 1, "powered_off": 0, "unknown": 0, "invalid": 4}
    assert all(r["carrier"] == "" for r in answer["results"] if r["status"] == "invalid")  # nothing asked


async def test_a_number_is_looked_up_at_the_carrier_its_route_picks(tmp_path):
    """+86 goes to `cn` (where every number is empty) unless its weight is 0; +1 to `us` (all
    delivered), whose lookups are at `us`'s endpoint; +44 to `quiet`, which has no endpoint, and
    then to `us`; +33 has no route at all."""
    profiles = [
        fast_profile("cn", admin_port=0, rules=[FateRule(fate="empty", prefix="86")]),
        fast_profile("us", admin_port=0),
        fast_profile("quiet"),  # no admin port: no lookup endpoint
    ]
    routes = [RouteConfig("+86", [RouteTarget("us", 0), RouteTarget("cn")]),
              RouteConfig("+1", [RouteTarget("us")]),
              RouteConfig("+44", [RouteTarget("quiet"), RouteTarget("us")]),
              RouteConfig("+852", [RouteTarget("quiet")])]
    rig = await start(tmp_path, profiles, routes=routes)
    try:
        given = ["+8613800000001", "+14155552671", "+447911123456", "+33612345678", "+85251234567"]
        status, answer = await check(rig.http, given)
        assert status == 200 and documented(200, answer) == []
        assert [(r["status"], r["carrier"]) for r in answer["results"]] == [
            ("empty", "cn"), ("ok", "us"), ("ok", "us"), ("unknown", ""), ("unknown", "")]
    finally:
        await stop_rig(rig)


# -- an endpoint that is down, wrong or slow ---------------------------------------------------------------
class OddEndpoint:
    """A lookup endpoint of our own making on a real socket: /status/{number} answers by the
    number's last digit, and counts the lookups in flight."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.asked: list[str] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def status(self, request: web.Request) -> web.StreamResponse:
        number = request.match_info["number"]
        self.asked.append(number)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return {
                "0": lambda: web.json_response({"status": "empty"}),
                "1": lambda: web.json_response({"status": "ok"}, status=500),
                "2": lambda: web.Response(text="<html>maintenance</html>"),
                "3": lambda: web.json_response({"status": "sleeping"}),  # a word the check does not know
                "4": lambda: web.json_response({"status": "ok", "pad": "x" * 10_000}),  # too long to be an answer
                "5": lambda: web.json_response({"state": "ok"}),
                "6": lambda: web.json_response(["ok"]),
                "7": lambda: web.Response(status=302, headers={"Location": "http://127.0.0.1:1/status/x"}),
            }.get(number[-1], lambda: web.json_response({"status": "powered_off"}))()
        finally:
            self.in_flight -= 1

    async def __aenter__(self) -> "OddEndpoint":
        app = web.Application()
        app.router.add_get("/status/{number}", self.status)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)  # do not wait out slow answers
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/status/{{number}}"


async def test_an_endpoint_that_is_down_or_answers_nonsense_gives_unknown_not_an_error(tmp_path):
    """`down`'s endpoint refuses connections; `odd`'s answers 500, HTML, unknown words, oversized
    or misshapen JSON and redirects for some numbers, sense for others."""
    async with OddEndpoint() as odd:
        routes = [RouteConfig("+1", [RouteTarget("down")]), RouteConfig("+86", [RouteTarget("odd")])]
        rig = await start(tmp_path, [fast_profile("down"), fast_profile("odd")], routes=routes,
                          lookups={"down": f"http://127.0.0.1:{closed_port()}/status/{{number}}", "odd": odd.url})
        try:
            given = ["+14155552671", "+14155552672"] + [f"+861380000000{d}" for d in range(10)]
            status, answer = await check(rig.http, given)
            assert status == 200 and documented(200, answer) == []
            assert answer["complete"] is True
            assert [r["status"] for r in answer["results"]] == [
                "unknown", "unknown",  # down
                "empty", "unknown", "unknown", "unknown", "unknown", "unknown", "unknown", "unknown",
                "powered_off", "powered_off"]
            assert answer["counts"]["unknown"] == 9
            # the number went as configured, its "+" percent-encoded, and no redirect was followed
            assert sorted(odd.asked) == [f"+861380000000{d}" for d in range(10)]
        finally:
            await stop_rig(rig)


async def test_lookups_run_in_parallel_at_most_concurrency_at_once(tmp_path):
    async with OddEndpoint(delay=0.05) as odd:
        rig = await start(tmp_path, [fast_profile("odd")], lookups={"odd": odd.url},
                          screening=ScreeningConfig(concurrency=4))
        try:
            numbers = [f"+86138000001{i:02d}" for i in range(40)]
            started = time.monotonic()
            status, answer = await check(rig.http, numbers)
            took = time.monotonic() - started
            assert status == 200 and answer["complete"] is True
            assert odd.most_in_flight == 4  # parallel, and bounded
            assert len(odd.asked) == 40
            assert took < 40 * 0.05  # not one after another
        finally:
            await stop_rig(rig)


async def test_a_slow_lookup_is_unknown_after_its_timeout_and_the_whole_check_stops_at_its_deadline(tmp_path):
    async with OddEndpoint(delay=3.0) as odd:
        # each lookup is cut at 0.2 s: every number unknown, and the check complete
        rig = await start(tmp_path, [fast_profile("odd")], lookups={"odd": odd.url},
                          screening=ScreeningConfig(concurrency=8, lookup_timeout_s=0.2, deadline_s=30.0))
        try:
            status, answer = await check(rig.http, ["+8613800000008", "+8613800000009"])
            assert status == 200 and answer["complete"] is True
            assert [r["status"] for r in answer["results"]] == ["unknown", "unknown"]
        finally:
            await stop_rig(rig)
    async with OddEndpoint(delay=3.0) as odd:
        # lookups that would each take 3 s, a check that may take 0.5 s: answered by then, all unknown
        (tmp_path / "deadline").mkdir()
        rig = await start(tmp_path / "deadline", [fast_profile("odd")], lookups={"odd": odd.url},
                          screening=ScreeningConfig(concurrency=8, lookup_timeout_s=10.0, deadline_s=0.5))
        try:
            numbers = [f"+86138000002{i:02d}" for i in range(20)]
            started = time.monotonic()
            status, answer = await check(rig.http, numbers)
            assert time.monotonic() - started < 2.5
            assert status == 200 and documented(200, answer) == []
            assert answer["complete"] is False
            assert answer["counts"]["unknown"] == 20 and len(answer["results"]) == 20
            assert len(odd.asked) == 8  # the first lookups of the eight workers, no more
        finally:
            await stop_rig(rig)


# -- bounds and credentials ------------------------------------------------------------------------------------
async def test_more_than_100000_numbers_is_1054_and_100000_fit_the_body_limit(tmp_path):
    # a route to a carrier without a lookup endpoint: the numbers are counted, none is asked
    rig = await start(tmp_path, [fast_profile("quiet")])
    try:
        numbers = [f"+86138{i:08d}" for i in range(MAX_CHECK_NUMBERS + 1)]
        status, answer = await check(rig.http, numbers)
        assert (status, answer["code"]) == (400, 1054) and documented(400, answer) == []
        assert "more than 100,000 numbers in one check" in answer["message"]
        status, answer = await check(rig.http, numbers[:MAX_CHECK_NUMBERS])
        assert status == 200 and answer["counts"]["unknown"] == MAX_CHECK_NUMBERS
        # the longest numbers accepted (32 characters), 100,000 of them, still fit the 4 MiB body
        longest = [f"+{i:031d}" for i in range(MAX_CHECK_NUMBERS)]
        assert len(json.dumps({"phone_numbers": longest})) < 4 * 1024 * 1024
        status, answer = await check(rig.http, longest)
        assert status == 200 and answer["counts"]["invalid"] == MAX_CHECK_NUMBERS
        status, answer = await check(rig.http, ["1" * 33])  # each number's own bound
        assert (status, answer["code"]) == (400, 1004)
        status, answer = await check(rig.http, [])
        assert (status, answer["code"]) == (400, 1004)
        async with rig.http.post(PATH, data=b'{"phone_numbers": ["' + b"1" * (4 * 1024 * 1024) + b'"]}',
                                 headers={**DEMO, "Content-Type": "application/json"}) as resp:
            assert resp.status == 413 and (await resp.json())["code"] == 1004
    finally:
        await stop_rig(rig)


async def test_a_check_needs_an_accounts_credentials(rig):
    number = forced_number("powered_off")
    status, answer = await check(rig.http, [number], headers={"X-App-Id": "demo", "X-App-Key": "wrong"})
    assert (status, answer["code"]) == (401, 1001) and documented(401, answer) == []
    status, answer = await check(rig.http, [number], headers={})
    assert (status, answer["code"]) == (401, 1001)
    # the operator names the account
    status, answer = await check(rig.http, [number], headers={"X-Admin-Token": ADMIN}, app_id="demo")
    assert status == 200 and answer["results"][0]["status"] == "powered_off"
    # a whole-request signature
    body = json.dumps({"phone_numbers": [number]}).encode()
    headers = {"Authorization": authorization("demo", "demo-secret", "POST", PATH, body),
               "Content-Type": "application/json"}
    async with rig.http.post(PATH, data=body, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json())["counts"]["powered_off"] == 1


async def test_a_task_can_drop_empty_numbers_before_it_starts(tmp_path):
    """SPEC §8a (issue 9): a task with `screen: true` checks its numbers when it starts; the empty
    ones are not sent (nor charged) and are reported as rows not sent with 1058."""
    rig = await start(tmp_path, [fast_profile("ideal", admin_port=0, seed=5, rules=RULES)])
    try:
        numbers = [forced_number("empty", 0), forced_number("delivered", 1), forced_number("out_of_service", 2),
                   forced_number("inbox_full", 3)]
        body = {"template_id": 1, "sign": "smsengine", "numbers": numbers, "params": ["1", "2"], "screen": True}
        async with rig.http.post("/v1/tasks", json=body, headers=DEMO) as resp:
            view = await resp.json()
            assert resp.status == 201, view
        deadline = time.monotonic() + 20
        while view["status"] != "completed":
            assert time.monotonic() < deadline, view
            await asyncio.sleep(0.1)
            async with rig.http.get(f"/v1/tasks/{view['id']}", headers=DEMO) as resp:
                view = await resp.json()
        assert view["screen"] is True and view["screened_empty"] == 2 and view["rows_rejected"] == 2
        assert sorted((p["line"], p["code"]) for p in view["problems"]) == [(1, 1058), (3, 1058)]
        assert view["counts"]["delivered"] + view["counts"]["failed"] == 2 and view["segments_charged"] == 2
    finally:
        await stop_rig(rig)
