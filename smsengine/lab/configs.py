"""One variant as the two config files its processes read: the simulators' carriers TOML (profile
+ population + overrides) and the engine's TOML (the settings under test, loopback, its own store).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from smsengine.lab.scenario import PROFILES, Scenario, merged

# the account the traffic is sent as
APP_ID = "lab"
APP_KEY = "lab-secret"
ADMIN_TOKEN = "lab-operator"
# profile keys the runner owns (ports, who binds) or the scenario owns (seed, clock, population);
# message id forms are left at their defaults on both sides so any profile pairs with the engine
_RUNNER_KEYS = ("name", "host", "port", "admin_port", "accounts", "seed", "time_scale", "submit_log",
                "fates", "rules", "mo", "clicks", "message_ids", "behaviour", "options")


class Ports(msgspec.Struct):
    """Where each process listens, chosen before they start (loopback, free at the time)."""

    http: int
    smpp: dict[str, int]
    admin: dict[str, int]


def toml_text(table: dict[str, Any]) -> str:
    """A TOML document of `table`, every top-level key on one line (inline tables and arrays)."""
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in table.items() if v is not None)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


def base_profile(name: str) -> dict[str, Any]:
    """The `[[carriers]]` table of that name in config/carriers.toml, less what the runner sets."""
    if not name:
        return {}
    profiles = tomllib.loads(PROFILES.read_text()).get("carriers", [])
    profile = next(p for p in profiles if p.get("name") == name)  # the scenario's loader checked the name
    return {k: v for k, v in profile.items() if k not in _RUNNER_KEYS}


def submit_log(directory: Path, carrier: str) -> Path:
    """Where a simulator writes one JSON line per submit it accepted (carriers/submit_log.py): the
    carrier's own word, reconciled against the engine's store."""
    return directory / f"submits-{carrier}.jsonl"


def carriers_table(scenario: Scenario, ports: Ports, directory: Path) -> dict[str, Any]:
    """The simulators' config: per carrier its base profile, the population's fates and TD
    replies, the scenario's seed and time scale, then the scenario's own overrides."""
    population = scenario.population
    out = []
    for name, carrier in scenario.carriers.items():
        profile: dict[str, Any] = {
            **base_profile(carrier.profile),
            "name": name, "host": "127.0.0.1", "port": ports.smpp[name], "admin_port": ports.admin[name],
            "seed": scenario.seed, "time_scale": scenario.time_scale,
            "fates": {k: v for k, v in population.fates.items() if v},
            "mo": {"share": population.td_share, "delay": list(population.td_delay), "mix": {"TD": 1.0}},
            "submit_log": str(submit_log(directory, name)),
        }
        if carrier.behaviour:
            profile["behaviour"] = carrier.behaviour
            profile["options"] = carrier.options
        out.append(merged(profile, carrier.simulator))
    return {"carriers": out}


def engine_table(scenario: Scenario, ports: Ports, store: Path) -> dict[str, Any]:
    """The engine's config: loopback HTTP, a store of its own, no embedded simulators, one
    organisation account sending raw content, and the scenario's settings."""
    engine = scenario.engine
    carriers = []
    for name, carrier in scenario.carriers.items():
        carriers.append({
            "name": name, "host": "127.0.0.1", "port": ports.smpp[name],
            "marketing_service_type": "MKT",  # how the simulators tell marketing traffic
            "number_lookup_url": f"http://127.0.0.1:{ports.admin[name]}/status/{{number}}",
            **carrier.engine,
        })
    return {
        "log_level": "warning",
        "http": {"host": "127.0.0.1", "port": ports.http, "admin_token": ADMIN_TOKEN},
        "store": {"path": str(store)},
        "simulators": {"embedded": False},
        "dispatch": msgspec.to_builtins(engine.dispatch),
        "screening": msgspec.to_builtins(engine.screening),
        "carriers": carriers,
        "routes": msgspec.to_builtins(scenario.routes()),
        "accounts": [{
            "app_id": APP_ID, "key": APP_KEY, "type": "organisation", "raw_content": True,
            "balance": engine.balance, "signatures": [{"name": scenario.traffic.sign}],
            "limits": msgspec.to_builtins(engine.limits),
        }],
    }


def write(scenario: Scenario, ports: Ports, directory: Path) -> tuple[Path, Path]:
    """Both files in `directory`: (carriers.toml, engine.toml)."""
    carriers, engine = directory / "carriers.toml", directory / "engine.toml"
    carriers.write_text(toml_text(carriers_table(scenario, ports, directory)))
    engine.write_text(toml_text(engine_table(scenario, ports, directory / "engine.db")))
    return carriers, engine
