"""Scenario files: variants merged over the base and the quick version over both, and a bad file
refused with one line naming the file and the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from smsengine.config import EngineConfig
from smsengine.lab import configs
from smsengine.lab.configs import Ports, toml_text
from smsengine.lab.scenario import ScenarioError, load, merged, shipped
from smsengine.lab.traffic import plan

from .conftest import EXPERIMENTS, SHIPPED

BASE = """
description = "two carriers"
seed = 5
[population]
size = 50
fates = { empty = 0.1 }
[traffic]
messages = 40
batch = 8
[carriers.a]
engine = { window = 16 }
[carriers.b]
"""


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(BASE + text)
    return path


def error_of(tmp_path: Path, text: str, quick: bool = False) -> str:
    with pytest.raises(ScenarioError) as caught:
        load(scenario_file(tmp_path, text), quick=quick)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_shipped_scenarios_load_with_their_variants_and_quick_versions():
    files = {f.name: f for f in shipped(EXPERIMENTS)}
    assert set(SHIPPED) <= set(files)
    for name in SHIPPED:
        full, quick = files[name], load(EXPERIMENTS / f"{name}.toml", quick=True)
        assert len(full.variants) >= 2 and full.description
        for variant, scenario in quick.variants.items():
            assert scenario.traffic.messages <= 1000 < full.variants[variant].traffic.messages
            assert scenario.seed == full.variants[variant].seed


def test_variants_merge_tables_key_by_key_and_replace_the_rest(tmp_path):
    file = load(scenario_file(tmp_path, """
[variants.wide]
description = "window 256"
carriers.a.engine.window = 256
[variants.narrow]
engine.routes = [{ prefix = "+", targets = [{ carrier = "b" }] }]
[quick]
traffic.messages = 10
"""), quick=True)
    wide, narrow = file.variants["wide"], file.variants["narrow"]
    assert wide.carriers["a"].engine == {"window": 256} and narrow.carriers["a"].engine == {"window": 16}
    assert wide.variant_description == "window 256" and narrow.variant == "narrow"
    assert [t.carrier for t in wide.routes()[0].targets] == ["a", "b"]  # default: first, then failover
    assert [(t.carrier, t.weight) for t in wide.routes()[0].targets] == [("a", 1), ("b", 0)]
    assert [t.carrier for t in narrow.routes()[0].targets] == ["b"]
    assert wide.traffic.messages == narrow.traffic.messages == 10 and wide.traffic.batch == 8
    assert merged({"a": {"b": 1, "c": [1]}}, {"a": {"c": [2]}}) == {"a": {"b": 1, "c": [2]}}


@pytest.mark.parametrize(("text", "expected"), [
    ("[variants.v]\ntraffic.ratee = 5\n", "variants.v.traffic.ratee: unknown key"),
    ("[variants.v]\nratee = 5\n", "variants.v.ratee: unknown key"),
    ("[variants.v]\ncarriers.b.engin = {}\n", "variants.v.carriers.b.engin: unknown key"),
    ('[engine.dispatch]\nvalidity_s = "soon"\n', "engine.dispatch.validity_s: Expected `float`, got `str`"),
    ("[variants.v]\ntraffic.batch = 500\n", "variants.v.traffic.batch: at most 200 numbers per request"),
    ("[variants.v]\ncarriers.a.engine.windw = 3\n", "variants.v.carriers.a.engine.windw: unknown key"),
    ('[engine]\nroutes = [{ prefix = "+", targets = [{ carrier = "zz" }] }]\n',
     "engine.routes[0].targets[0].carrier: unknown carrier 'zz'"),
    ('[carriers.c]\nprofile = "nope"\n', "carriers.c.profile: no profile 'nope'"),
    ("[carriers.c]\nsimulator = { port = 1 }\n", "carriers.c: `port` is set by the runner"),
    ("[variants.v]\npopulation.fates.happy = 0.5\n", "population.fates: unknown fate 'happy'"),
    ("[variants.v]\npopulation.fates = { blocked = 0.9, powered_off = 0.9 }\n",
     "population.fates: shares must be >= 0"),
    ("[quick]\ntraffic.rate = -1\n", "quick.traffic.rate: must be > 0"),
])
def test_a_bad_scenario_is_one_line_naming_the_key(tmp_path, text, expected):
    message = error_of(tmp_path, text, quick="[quick]" in text)
    assert message.startswith(str(tmp_path / "s.toml") + ": ")
    assert expected in message, message


def test_not_toml_and_missing_file_are_one_line(tmp_path):
    assert "not valid TOML" in error_of(tmp_path, "[traffic\n")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load(tmp_path / "absent.toml")


def test_configs_carry_the_population_and_the_settings_under_test(tmp_path):
    scenario = load(scenario_file(tmp_path, "")).variants["default"]
    ports = Ports(9000, {"a": 9001, "b": 9002}, {"a": 9101, "b": 9102})
    carriers = configs.carriers_table(scenario, ports, tmp_path)["carriers"]
    assert [c["name"] for c in carriers] == ["a", "b"]
    assert all(c["seed"] == 5 and c["fates"] == {"empty": 0.1} and c["port"] in (9001, 9002) for c in carriers)
    engine = configs.engine_table(scenario, ports, tmp_path / "e.db")
    assert engine["carriers"][0]["window"] == 16 and engine["simulators"] == {"embedded": False}
    assert engine["carriers"][1]["number_lookup_url"] == "http://127.0.0.1:9102/status/{number}"
    # the files written are what the processes will read
    msgspec.convert(tomllib.loads(toml_text(engine)), EngineConfig)
    assert tomllib.loads(toml_text({"carriers": carriers}))["carriers"][0]["fates"] == {"empty": 0.1}


def test_the_plan_is_a_function_of_the_seed(tmp_path):
    scenario = load(scenario_file(tmp_path, "")).variants["default"]
    population, requests = plan(scenario)
    again = plan(scenario)
    assert (population, requests) == again
    assert len(set(population)) == 50 and sum(len(r.phones) for r in requests) == 40
    assert all(len(r.phones) <= 8 for r in requests)
