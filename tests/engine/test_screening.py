"""The rules of empty-number screening without an event loop: what a lookup answer means, where a
lookup goes, which carrier is asked, how results are counted, and the config that sets it up."""

import asyncio
from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from yarl import URL

from carriers.config import load_carriers_config
from carriers.fates import NUMBER_STATUS
from smsengine import config as engine_config
from smsengine.config import CarrierConfig, ConfigError, RouteConfig, RouteTarget, ScreeningConfig
from smsengine.domain.numbers import dedupe
from smsengine.domain.errors import MESSAGES, ErrorCode
from smsengine.engine.routing import Router
from smsengine.engine.screening import (
    LOOKUP_STATES,
    MAX_ANSWER_BYTES,
    MAX_CHECK_NUMBERS,
    NumberCheck,
    NumberScreening,
    NumberState,
    counts_of,
    lookup_carrier,
    lookup_url,
    state_of,
)

ROOT = Path(__file__).resolve().parents[2]


def answer(status: str) -> bytes:
    return msgspec.json.encode({"number": "+8613800000001", "status": status, "fate": "whatever"})


def test_every_word_the_simulators_answer_is_known_and_means_what_it_says():
    assert set(NUMBER_STATUS.values()) <= set(LOOKUP_STATES)
    assert state_of(200, answer("ok")) is NumberState.OK
    assert state_of(200, answer("empty")) is NumberState.EMPTY
    assert state_of(200, answer("powered_off")) is NumberState.POWERED_OFF
    assert state_of(200, answer("out_of_service")) is NumberState.EMPTY  # barred: cannot receive
    assert state_of(200, answer("inbox_full")) is NumberState.OK  # a live subscriber
    # a lookup never says a number is invalid: that is the caller's input, found before any lookup
    assert NumberState.INVALID not in LOOKUP_STATES.values()


@pytest.mark.parametrize(("status", "body"), [
    (500, answer("ok")),
    (302, answer("ok")),
    (200, b"<html>maintenance</html>"),
    (200, answer("sleeping")),
    (200, answer("OK")),  # words are exact
    (200, b'{"state": "ok"}'),
    (200, b'["ok"]'),
    (200, b'{"status": 1}'),
    (200, b""),
    (200, answer("ok")[:-1] + b', "pad": "' + b"x" * MAX_ANSWER_BYTES + b'"}'),
])
def test_anything_else_is_unknown(status, body):
    assert state_of(status, body) is NumberState.UNKNOWN


@given(st.integers(100, 599), st.binary(max_size=200) | st.text(max_size=50).map(answer))
def test_an_answer_never_raises_and_is_never_invalid(status, body):
    assert state_of(status, body) in set(NumberState) - {NumberState.INVALID}


@given(st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True),
       st.sampled_from(["http://127.0.0.1:8775/status/{number}", "https://hlr.example.cn/v2/lookup?msisdn={number}&x=1",
                        "http://[::1]:9000/{number}/state"]))
def test_a_lookup_goes_to_the_configured_endpoint_with_only_the_number_changed(number, template):
    url = URL(lookup_url(template, number))
    configured = URL(template.replace("{number}", "N"))
    assert (url.scheme, url.host, url.port) == (configured.scheme, configured.host, configured.port)
    assert str(url) == template.replace("{number}", "%2B" + number[1:])
    # what the endpoint decodes is the number itself, in the path or in the query
    assert number in url.path or url.query.get("msisdn") == number


@pytest.mark.parametrize("number", ["8613800000001", "+86/../admin", "+8613800000001@evil.example", "+١٢٣٤٥٦"])
def test_only_an_e164_number_is_put_in_a_url(number):
    with pytest.raises(ValueError, match="not an E.164 number"):
        lookup_url("http://127.0.0.1:8775/status/{number}", number)


def test_the_first_carrier_of_the_route_with_an_endpoint_is_asked():
    endpoints = {"b": "http://b/{number}", "c": "http://c/{number}"}
    assert lookup_carrier(["a", "b", "c"], endpoints) == "b"
    assert lookup_carrier(["c", "b"], endpoints) == "c"
    assert lookup_carrier(["a"], endpoints) == ""
    assert lookup_carrier([], endpoints) == ""


def test_preference_is_the_sends_order_without_turning_the_rotation():
    routes = [RouteConfig("+86", [RouteTarget("a", 3), RouteTarget("b", 1), RouteTarget("spare", 0)])]
    up = {"a": True, "b": True, "spare": True}
    router, untouched = Router(routes, lambda n: up[n]), Router(routes, lambda n: up[n])
    assert router.preference("+8613800000001") == ["a", "b", "spare"]
    for _ in range(7):
        router.preference("+8613800000001")
    firsts = [router.candidates("+8613800000001")[0] for _ in range(8)]
    assert firsts == [untouched.candidates("+8613800000001")[0] for _ in range(8)]
    up["a"] = False  # a carrier that is down comes after those that are up, as in `candidates`
    assert router.preference("+8613800000001") == ["b", "a", "spare"]
    assert router.preference("+14155552671") == []


@given(st.lists(st.sampled_from(list(NumberState)), max_size=300))
def test_the_counts_are_the_results(states):
    counts = msgspec.structs.asdict(counts_of([NumberCheck("x", s) for s in states]))
    assert counts == {s.value: states.count(s) for s in NumberState}
    assert sum(counts.values()) == len(states)


# numbers in two forms (E.164 and national), and entries that are no numbers
POOL = [f"+861380000{i:04d}" for i in range(40)] + [f"1380000{i:04d}" for i in range(40)] + ["12ab", "", "+1"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(POOL), min_size=1, max_size=1_600))
@example(POOL * 15)  # 1,245 entries: every number and non-number again in later chunks
def test_a_check_answers_each_distinct_entry_once_in_order_as_dedupe_does(given_numbers):
    """Prepared in chunks (the event loop turns between them), the answer is the whole list's:
    one result per distinct entry in the order given, repeats across chunks counted as duplicates."""
    async def run():
        # the route's carrier has no endpoint: nothing is looked up, everything valid is unknown
        screening = NumberScreening([CarrierConfig("a")], Router([RouteConfig("+", [RouteTarget("a")])]).preference,
                                    ScreeningConfig(), "CN")
        await screening.start()
        try:
            return await screening.check(given_numbers)
        finally:
            await screening.stop()

    answer = asyncio.run(run())
    whole = dedupe(given_numbers, "CN")
    assert [r.number for r in answer.results if r.number] == whole.numbers
    assert [r.phone for r in answer.results if r.number] == [whole.raw_of[n] for n in whole.numbers]
    assert [r.phone for r in answer.results if not r.number] == list(dict.fromkeys(whole.invalid))
    assert answer.duplicates == len(whole.duplicates)
    assert [r.phone for r in answer.results] == [p for p in dict.fromkeys(given_numbers)
                                                if p in set(whole.invalid) or p in whole.raw_of.values()]
    assert {r.status for r in answer.results if r.number} <= {NumberState.UNKNOWN} and answer.complete


def test_the_bound_is_the_one_the_catalogue_names():
    assert f"{MAX_CHECK_NUMBERS:,}" in MESSAGES[ErrorCode.TOO_MANY_NUMBERS_TO_CHECK]


# -- config ---------------------------------------------------------------------------------------------------
def load(tmp_path, toml: str):
    path = tmp_path / "engine.toml"
    path.write_text(toml)
    return engine_config.load(path, environ={})


@pytest.mark.parametrize("url", ["127.0.0.1:8775/status/{number}", "ftp://h/{number}", "http://h/status/",
                                 "http://h/{number}/{number}"])
def test_a_lookup_url_must_be_http_with_one_placeholder(tmp_path, url):
    with pytest.raises(ConfigError, match="number_lookup_url"):
        load(tmp_path, f'[[carriers]]\nname = "a"\nnumber_lookup_url = "{url}"\n')


@pytest.mark.parametrize("key", ["concurrency = 0", "lookup_timeout_s = 0", "deadline_s = -1"])
def test_screening_bounds_must_be_positive(tmp_path, key):
    with pytest.raises(ConfigError, match="screening"):
        load(tmp_path, f"[screening]\n{key}\n")


def test_the_shipped_config_looks_up_at_the_embedded_simulators_admin_ports():
    config = engine_config.load(ROOT / "config" / "engine.toml", environ={})
    admin = {p.name: p.admin_port for p in load_carriers_config(ROOT / "config" / "carriers.toml")}
    assert {c.name: c.number_lookup_url for c in config.carriers} == {
        c.name: f"http://127.0.0.1:{admin[c.name]}/status/{{number}}" for c in config.carriers}
    assert config.screening.deadline_s == 60.0 and config.screening.concurrency == 32
