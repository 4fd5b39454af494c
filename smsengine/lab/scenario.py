"""A scenario file: carriers and their behaviour, the engine settings under test, the traffic, a
seed and a time scale; variants side by side and a quick version for tests.

    name/description/seed/time_scale/deadline_s
    [population]   who is sent to: numbers drawn from the seed, fate shares, a share replying TD
    [traffic]      how much, how fast, what kind (marketing, lengths, encodings, duplicates, screening)
    [carriers.NAME]            profile (config/carriers.toml) + simulator overrides + engine settings
    [engine]                   routes, dispatch, account limits, screening
    [variants.NAME]            the same keys again, merged over the above (tables key by key,
                               lists and values replaced), one run each under the same seed
    [quick]                    merged over every variant by `--quick`: small counts, seconds

Times: `traffic.rate` (messages/s), `ramp_s`, `duration_s` and `deadline_s` are real seconds,
like every engine setting (it runs on the wall clock) and the simulators' wire properties
(`throughput_per_s`, `latency`). What happens on the handset side — receipt delays, powered-off
holds, validity, replies, a plugin's outage — is in simulated seconds, multiplied by `time_scale`.

A bad file is one `ScenarioError` naming the file and the key.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from smsengine.config import DEFAULT_CONFIG, CarrierConfig, DispatchConfig, LimitsConfig, RouteConfig, RouteTarget, ScreeningConfig

# the outcomes a carrier can give a number (the simulators' fates, carriers/fates.py); what a
# population does not give to one of these is delivered
FATES = ("empty", "powered_off", "out_of_service", "inbox_full", "poor_reception", "blocked", "invalid_destination")
# the carrier profiles a scenario's carrier can start from (`profile = "realistic"`)
PROFILES = DEFAULT_CONFIG.parent / "carriers.toml"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class ScenarioError(Exception):
    """A scenario that cannot run: one line naming the file and the key."""


class Population(msgspec.Struct, forbid_unknown_fields=True):
    """`size` distinct numbers `prefix` + random digits up to `digits` digits (E.164, without "+"),
    drawn from the seed; each number's fate follows `fates` (shares, the rest delivered), the same
    at every carrier unless a carrier's simulator table sets its own `fates`. `td_share` of the
    numbers reply TD (unsubscribe) after a delivered message, `td_delay` simulated seconds later."""

    size: int = 1000
    prefix: str = "+86138"
    digits: int = 13
    fates: dict[str, float] = {}
    td_share: float = 0.0
    td_delay: tuple[float, float] = (5.0, 60.0)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fates) - set(FATES))
        if unknown:
            raise ValueError(f"fates: unknown fate {unknown[0]!r} (known: {', '.join(FATES)})")
        if any(v < 0 for v in self.fates.values()) or sum(self.fates.values()) > 1.0 + 1e-9:
            raise ValueError("fates: shares must be >= 0 and sum to at most 1")
        if not self.prefix.startswith("+") or not self.prefix[1:].isdigit():
            raise ValueError("prefix: a + and digits, e.g. \"+86138\"")
        free = self.digits - (len(self.prefix) - 1)
        if not 6 <= self.digits <= 15 or free < 1 or 10**free < self.size:
            raise ValueError(f"digits: {self.digits} digits leave room for {10**max(free, 0)} numbers after the"
                             f" prefix, fewer than size {self.size}")
        if not 0 <= self.td_share <= 1:
            raise ValueError("td_share: a share within 0..1")


class Text(msgspec.Struct, forbid_unknown_fields=True):
    """One kind of message in the mix: `weight` of the traffic, `segments` long, in `encoding`
    ("gsm7": plain Latin; "ucs2": characters outside GSM 03.38)."""

    weight: float = 1.0
    segments: int = 1
    encoding: Literal["gsm7", "ucs2"] = "gsm7"


class Traffic(msgspec.Struct, forbid_unknown_fields=True):
    """`messages` (or `duration_s` x `rate`) sends at `rate` messages/s, reached linearly over
    `ramp_s`, `batch` numbers per request, `concurrency` requests at once. `marketing_share` are
    marketing (slower receipts), `duplicate_share` repeat a recent message (same number and text:
    merged within a request, refused by the same-content limit after). `screen`: the population is
    checked first (POST /v1/numbers/check) and the numbers found empty are not sent."""

    messages: int = 1000
    duration_s: float = 0.0
    rate: float = 100.0
    ramp_s: float = 0.0
    batch: int = 10
    concurrency: int = 8
    marketing_share: float = 0.0
    duplicate_share: float = 0.0
    screen: bool = False
    sign: str = "smsengine"
    texts: list[Text] = msgspec.field(default_factory=lambda: [Text()])

    def __post_init__(self) -> None:
        if self.duration_s > 0:
            self.messages = max(1, round(self.duration_s * self.rate))
        for name in ("messages", "batch", "concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if self.batch > 200:
            raise ValueError("batch: at most 200 numbers per request")
        if not self.rate > 0:
            raise ValueError("rate: must be > 0")
        for name in ("marketing_share", "duplicate_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: a share within 0..1")
        if not self.texts or any(t.weight < 0 or t.segments < 1 for t in self.texts):
            raise ValueError("texts: at least one text, weights >= 0, segments >= 1")


class Carrier(msgspec.Struct, forbid_unknown_fields=True):
    """A simulated carrier. `profile` names a `[[carriers]]` profile of config/carriers.toml as the
    base ("" for the simulators' defaults); `simulator` overrides its keys (carriers/config.py
    CarrierProfile: throughput_per_s, window, drop_per_s, delays, latency ...); `behaviour` and
    `options` plug a class (e.g. carriers.examples.outage:OutageBehaviour); `engine` is the
    engine's `[[carriers]]` entry for it (binds, window, retries, throttle_budget_s, ...)."""

    profile: str = "ideal"
    behaviour: str = ""
    options: dict[str, Any] = {}
    simulator: dict[str, Any] = {}
    engine: dict[str, Any] = {}


class Engine(msgspec.Struct, forbid_unknown_fields=True):
    """The engine settings under test. Without routes, every number goes to the first carrier and
    the others follow in order as its failover (weight 0)."""

    routes: list[RouteConfig] = []
    dispatch: DispatchConfig = msgspec.field(default_factory=DispatchConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    screening: ScreeningConfig = msgspec.field(default_factory=ScreeningConfig)
    balance: int = 1_000_000_000


class Scenario(msgspec.Struct, forbid_unknown_fields=True):
    """One variant, everything merged: what a run needs."""

    name: str = ""
    description: str = ""
    seed: int = 1
    time_scale: float = 1.0
    deadline_s: float = 120.0  # real seconds after the last send to wait for every final state
    population: Population = msgspec.field(default_factory=Population)
    traffic: Traffic = msgspec.field(default_factory=Traffic)
    carriers: dict[str, Carrier] = {}
    engine: Engine = msgspec.field(default_factory=Engine)
    variant: str = "default"
    variant_description: str = ""

    def routes(self) -> list[RouteConfig]:
        if self.engine.routes:
            return self.engine.routes
        names = list(self.carriers)
        return [RouteConfig("+", [RouteTarget(n, 1 if i == 0 else 0) for i, n in enumerate(names)])]


class ScenarioFile(msgspec.Struct):
    """A file as read: its name, one line of description, and each variant ready to run."""

    path: Path
    name: str
    description: str
    variants: dict[str, Scenario]


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: tables merged key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_FIELD = re.compile(r"^(?P<field>[a-z_]+): (?P<reason>.*)$", re.S)  # a __post_init__ names its field so
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")


def _one_line(exc: msgspec.ValidationError | ValueError, where: str) -> str:
    """msgspec's "reason - at `$.a.b[0]`" as "a.b[0]: reason" (an unknown field named as the key)."""
    match = _AT.match(str(exc))
    reason, path = (match["reason"], match["path"] or "") if match else (str(exc), "")
    key = path.lstrip(".")
    unknown, field = _UNKNOWN.match(reason), _FIELD.match(reason)
    if unknown:
        key = f"{key}.{unknown['field']}" if key else unknown["field"]
        reason = "unknown key"
    elif field:
        key = f"{key}.{field['field']}" if key else field["field"]
        reason = field["reason"]
    key = f"{where}{key}" if key else where.rstrip(".")
    return f"{key}: {reason}" if key else reason


def _check(scenario: Scenario, where: str) -> None:
    if not scenario.carriers:
        raise ScenarioError(f"{where}carriers: at least one carrier")
    profiles = [p.get("name") for p in tomllib.loads(PROFILES.read_text()).get("carriers", [])]
    for name, carrier in scenario.carriers.items():
        if not NAME.match(name):
            raise ScenarioError(f"{where}carriers.{name}: a carrier name is lowercase letters, digits, - and _")
        if carrier.profile and carrier.profile not in profiles:
            raise ScenarioError(f"{where}carriers.{name}.profile: no profile {carrier.profile!r} in"
                                f" config/carriers.toml (known: {', '.join(map(str, profiles))})")
        for key in ("name", "host", "port", "admin_port", "submit_log"):
            if key in carrier.simulator or key in carrier.engine:
                raise ScenarioError(f"{where}carriers.{name}: `{key}` is set by the runner")
        try:
            msgspec.convert({"name": name, **carrier.engine}, CarrierConfig)
        except msgspec.ValidationError as exc:
            raise ScenarioError(_one_line(exc, f"{where}carriers.{name}.engine.")) from None
    for i, route in enumerate(scenario.routes()):
        for j, target in enumerate(route.targets):
            if target.carrier not in scenario.carriers:
                raise ScenarioError(f"{where}engine.routes[{i}].targets[{j}].carrier: unknown carrier"
                                    f" {target.carrier!r} (known: {', '.join(scenario.carriers)})")
    if not scenario.time_scale > 0 or not scenario.deadline_s > 0:
        raise ScenarioError(f"{where}time_scale / deadline_s: must be > 0")


def load(path: str | Path, *, quick: bool = False) -> ScenarioFile:
    """Every variant of the scenario in `path` (with the quick overrides when `quick`)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    variants = raw.pop("variants", {}) or {"default": {}}
    quick_over = raw.pop("quick", {})
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        raise ScenarioError(f"{path}: variants: a table of tables, [variants.NAME]")
    if not isinstance(quick_over, dict):
        raise ScenarioError(f"{path}: quick: a table")
    raw.setdefault("name", path.stem)
    out: dict[str, Scenario] = {}
    for vname, over in variants.items():
        where = f"{path}: " if vname == "default" else f"{path}: variants.{vname}."
        if not NAME.match(vname):
            raise ScenarioError(f"{path}: variants.{vname}: a variant name is lowercase letters, digits, - and _")
        over = dict(over)
        over.setdefault("variant_description", over.pop("description", ""))
        data = merged(raw, over)
        if quick:
            data = merged(data, quick_over)
        data["variant"] = vname
        try:
            for cname, carrier in (data.get("carriers") or {}).items() if isinstance(data.get("carriers"), dict) else ():
                try:  # one by one: msgspec names a table's key `[...]`, the carrier's name is wanted
                    msgspec.convert(carrier, Carrier)
                except (msgspec.ValidationError, ValueError) as exc:
                    raise ValueError(_one_line(exc, f"carriers.{cname}.")) from None
            scenario = msgspec.convert(data, Scenario)
        except (msgspec.ValidationError, ValueError) as exc:
            # a key set in the variant is named there; one from the base file in the base
            reason = _one_line(exc, "")
            key = reason.split(":", 1)[0]
            prefix = where if _sets(over, key) else (f"{path}: quick." if quick and _sets(quick_over, key)
                                                     else f"{path}: ")
            raise ScenarioError(prefix + reason) from None
        _check(scenario, where)
        out[vname] = scenario
    first = next(iter(out.values()))
    return ScenarioFile(path, first.name, first.description, out)


def _sets(table: dict[str, Any], key: str) -> bool:
    """Whether `table` sets the dotted `key` (or a table above it)."""
    node: Any = table
    for part in re.split(r"\.|\[", key):
        part = part.rstrip("]")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def shipped(directory: Path) -> list[ScenarioFile]:
    """The scenarios in `directory` (each `*.toml`), by name; unreadable ones raise."""
    return [load(p) for p in sorted(directory.glob("*.toml"))]
