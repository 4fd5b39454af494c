"""Typed simulator configuration: one `CarrierProfile` per simulated SMSC, loaded from TOML (config/carriers.toml).

Times in a profile are in seconds of the *simulated* world; every delay the simulator waits is
multiplied by `time_scale` (0.001 makes a minute last 60 ms), so experiments run fast and the
numbers in the file stay readable.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

DEFAULT_CARRIERS_CONFIG = Path(__file__).resolve().parent.parent / "config" / "carriers.toml"


class CarrierConfigError(Exception):
    """A carriers file that cannot start the simulators: names the carrier / key and the reason."""


class Account(msgspec.Struct, forbid_unknown_fields=True):
    system_id: str
    password: str


class Latency(msgspec.Struct, forbid_unknown_fields=True):
    """submit_sm_resp latency in milliseconds (not scaled by time_scale: it is a wire property).

    fixed: `ms`; uniform: `low_ms`..`high_ms`; lognormal: median `ms`, shape `sigma`. 0 answers at once."""

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    ms: float = 0.0
    low_ms: float = 0.0
    high_ms: float = 0.0
    sigma: float = 0.5


class FateShares(msgspec.Struct, forbid_unknown_fields=True):
    """Share of numbers with each fate; `delivered` takes whatever the others leave (they must sum <= 1)."""

    empty: float = 0.0
    powered_off: float = 0.0
    out_of_service: float = 0.0
    inbox_full: float = 0.0
    poor_reception: float = 0.0
    blocked: float = 0.0
    invalid_destination: float = 0.0


class FateRule(msgspec.Struct, forbid_unknown_fields=True):
    """Force `fate` on numbers starting with `prefix` and/or inside `first`..`last` (digits only, inclusive).

    Numbers are compared without a leading "+". Rules are tried in order; the first match wins."""

    fate: str
    prefix: str = ""
    first: str = ""
    last: str = ""


class Delays(msgspec.Struct, forbid_unknown_fields=True):
    """Receipt delays, simulated seconds, drawn uniformly from [low, high]."""

    regular: tuple[float, float] = (1.0, 5.0)
    marketing: tuple[float, float] = (60.0, 300.0)
    # powered off: the phone comes back after this long (DELIVRD), unless that is past validity (EXPIRED)
    powered_off: tuple[float, float] = (600.0, 14400.0)
    poor_reception: tuple[float, float] = (120.0, 1800.0)
    validity: float = 7200.0


class Marketing(msgspec.Struct, forbid_unknown_fields=True):
    """How the simulator tells marketing traffic from regular (SMPP itself cannot say).

    A submit is marketing when its service_type is in `service_types` or its source_addr starts
    with one of `source_prefixes`. Everything else is regular."""

    service_types: list[str] = msgspec.field(default_factory=lambda: ["MKT"])
    source_prefixes: list[str] = []


class MessageIds(msgspec.Struct, forbid_unknown_fields=True):
    """`resp`: how submit_sm_resp writes ids; `receipt`: how receipts write the same id ("" = same as resp).

    Ids are unique across restarts: each start draws a fresh `nonce` (32 random bits) into the top
    of every id, so ids issued before a restart are never issued again (fates still come from
    `seed` alone). Set `nonce` (any integer) to get the same ids on every start, for experiments
    that must reproduce ids too."""

    resp: Literal["hex", "decimal", "uuid"] = "hex"
    receipt: Literal["", "hex", "decimal", "uuid"] = ""
    nonce: int | None = None


class MoReplies(msgspec.Struct, forbid_unknown_fields=True):
    """Mobile-originated replies: `share` of delivered recipients answer after `delay` (simulated s).

    `mix` maps reply text -> weight; it should include unsubscribe keywords (T, N, TD, ...)."""

    share: float = 0.0
    delay: tuple[float, float] = (5.0, 120.0)
    mix: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_REPLY_MIX))


class LinkClicks(msgspec.Struct, forbid_unknown_fields=True):
    """Recipients opening short links: `share` of delivered messages whose text carries an
    `http(s)://HOST[/PATH]/s/CODE` link get an HTTP GET to it (as written, any host), `delay`
    simulated seconds after their receipt. Who clicks hashes (seed, number, link), so runs replay.

    Bounded: at most `concurrency` GETs at once, each given up after `timeout_s` (real seconds);
    beyond `pending_max` clicks waiting for a GET, new ones are dropped (counted)."""

    share: float = 0.0
    delay: tuple[float, float] = (1.0, 30.0)
    concurrency: int = 8
    pending_max: int = 10_000
    timeout_s: float = 10.0


DEFAULT_REPLY_MIX: dict[str, float] = {
    "TD": 3.0,
    "T": 1.0,
    "N": 1.0,
    "Unsubscribe": 1.0,
    "QX": 0.5,
    "0000": 0.5,
    "OK thanks": 4.0,
    "Who is this?": 2.0,
    # longer than one segment: arrives as UDH-concatenated parts
    "Please call me back tomorrow morning, I am in meetings all day today and cannot answer"
    " the phone. If it is urgent send another message with the details and I will read it"
    " during the lunch break. Thanks a lot and have a nice day!": 1.0,
}


class CarrierProfile(msgspec.Struct, forbid_unknown_fields=True):
    """One simulated carrier: where it listens, who may bind, and how it behaves."""

    name: str
    host: str = "127.0.0.1"
    port: int = 2775
    admin_port: int | None = None  # HTTP: /status/{number}, /counters, /metrics; None = no admin server
    accounts: list[Account] = msgspec.field(default_factory=lambda: [Account("smsengine", "secret")])
    seed: int = 1
    time_scale: float = 1.0
    # SMPP session
    window: int = 64  # unanswered submits per bind before ESME_RTHROTTLED
    window_status: Literal["throttled", "queue_full"] = "throttled"
    enquire_link_s: float = 30.0  # real seconds idle before the SMSC probes the bind
    deliver_window: int = 1000  # deliver_sm sent to one bind and not yet answered
    # connections: what one peer can hold open (real seconds, not scaled by time_scale).
    # Every connection is a file descriptor: keep `ulimit -n` above the sum of max_connections over
    # the listeners of the process plus ~64 (admin HTTP, logs); beyond the limit accept() fails
    # with EMFILE and asyncio stops accepting anyone for a while.
    max_connections: int = 512  # open SMPP connections per listener; more are closed at once
    bind_timeout_s: float = 5.0  # an accepted connection not bound by then is closed
    idle_timeout_s: float = 120.0  # a bound connection silent this long is closed (keep > enquire_link_s)
    bind_failure_delay_s: float = 0.5  # a refused bind is answered this much later (slows guessing)
    bind_failures_max: int = 10  # failed binds from one peer address within bind_failure_window_s ...
    bind_failure_window_s: float = 60.0
    bind_lockout_s: float = 300.0  # ... refuse its binds (ESME_RBINDFAIL) for this long
    # faults and limits
    throughput_per_s: float = 0.0  # submits/s for the whole carrier; 0 = unlimited
    throughput_burst: float = 0.0  # token bucket depth; 0 = a tenth of a second's worth (at least 1)
    queue_full_rate: float = 0.0
    system_error_rate: float = 0.0
    drop_per_pdu: float = 0.0  # probability that a received PDU kills its connection
    drop_per_s: float = 0.0  # probability per second, per bind, of a spontaneous drop
    latency: Latency = msgspec.field(default_factory=Latency)
    # fates and receipts
    fates: FateShares = msgspec.field(default_factory=FateShares)
    rules: list[FateRule] = []
    sensitive_words: list[str] = []
    delays: Delays = msgspec.field(default_factory=Delays)
    marketing: Marketing = msgspec.field(default_factory=Marketing)
    message_ids: MessageIds = msgspec.field(default_factory=MessageIds)
    mo: MoReplies = msgspec.field(default_factory=MoReplies)
    clicks: LinkClicks = msgspec.field(default_factory=LinkClicks)
    # bounded memory
    receipt_store: int = 100_000  # receipts kept per system_id while no receiver is bound
    message_table: int = 200_000  # recent messages answerable by query_sm
    # JSON lines, one per accepted submit (see carriers/submit_log.py); "" = no log
    submit_log: str = ""
    # pluggable behaviour: "package.module:Class" and its options table
    behaviour: str = ""
    options: dict[str, Any] = {}


class CarriersFile(msgspec.Struct, forbid_unknown_fields=True):
    carriers: list[CarrierProfile] = []


_FATE_NAMES = (
    "delivered",
    "empty",
    "powered_off",
    "out_of_service",
    "inbox_full",
    "poor_reception",
    "blocked",
    "sensitive",
    "invalid_destination",
)


def validate(profile: CarrierProfile, where: str = "") -> None:
    """Reject values that would make the simulator misbehave silently."""
    at = f"{where}carriers[{profile.name}]"
    shares = msgspec.structs.asdict(profile.fates)
    if any(v < 0 for v in shares.values()) or sum(shares.values()) > 1.0 + 1e-9:
        raise CarrierConfigError(f"{at}.fates: shares must be >= 0 and sum to at most 1, got {shares}")
    for i, rule in enumerate(profile.rules):
        if rule.fate not in _FATE_NAMES:
            raise CarrierConfigError(f"{at}.rules[{i}]: unknown fate {rule.fate!r} (known: {_FATE_NAMES})")
        if not (rule.prefix or rule.first or rule.last):
            raise CarrierConfigError(f"{at}.rules[{i}]: needs a prefix or a first..last range")
        if (rule.first or rule.last) and not (rule.first.isdigit() and rule.last.isdigit()):
            raise CarrierConfigError(f"{at}.rules[{i}]: first and last must both be digit strings")
    for name in ("queue_full_rate", "system_error_rate", "drop_per_pdu", "drop_per_s"):
        if not 0.0 <= getattr(profile, name) <= 1.0:
            raise CarrierConfigError(f"{at}.{name}: must be within 0..1")
    if profile.window < 1 or profile.deliver_window < 1:
        raise CarrierConfigError(f"{at}.window / deliver_window: must be >= 1")
    if profile.max_connections < 1 or profile.bind_failures_max < 1:
        raise CarrierConfigError(f"{at}.max_connections / bind_failures_max: must be >= 1")
    for name in ("bind_timeout_s", "idle_timeout_s", "bind_failure_window_s"):
        if not getattr(profile, name) > 0:
            raise CarrierConfigError(f"{at}.{name}: must be > 0")
    if profile.bind_failure_delay_s < 0 or profile.bind_lockout_s < 0:
        raise CarrierConfigError(f"{at}.bind_failure_delay_s / bind_lockout_s: must be >= 0")
    if profile.time_scale < 0:
        raise CarrierConfigError(f"{at}.time_scale: must be >= 0")
    if not profile.accounts:
        raise CarrierConfigError(f"{at}.accounts: at least one account is needed")
    if not 0.0 <= profile.mo.share <= 1.0:
        raise CarrierConfigError(f"{at}.mo.share: must be within 0..1")
    clicks = profile.clicks
    if not 0.0 <= clicks.share <= 1.0 or not 0 <= clicks.delay[0] <= clicks.delay[1]:
        raise CarrierConfigError(f"{at}.clicks: share must be within 0..1 and delay 0 <= low <= high")
    if clicks.concurrency < 1 or clicks.pending_max < 1 or not clicks.timeout_s > 0:
        raise CarrierConfigError(f"{at}.clicks: concurrency, pending_max and timeout_s must be > 0")
    for field in ("regular", "marketing", "powered_off", "poor_reception"):
        low, high = getattr(profile.delays, field)
        if not 0 <= low <= high:
            raise CarrierConfigError(f"{at}.delays.{field}: need 0 <= low <= high")


def parse_carriers(data: dict[str, Any], where: str = "") -> list[CarrierProfile]:
    try:
        parsed = msgspec.convert(data, CarriersFile)
    except msgspec.ValidationError as exc:
        raise CarrierConfigError(f"{where}{exc}") from exc
    names = [c.name for c in parsed.carriers]
    if len(set(names)) != len(names):
        raise CarrierConfigError(f"{where}carriers: duplicate names {names}")
    for profile in parsed.carriers:
        validate(profile, where)
    return parsed.carriers


def load_carriers_config(path: str | Path = DEFAULT_CARRIERS_CONFIG) -> list[CarrierProfile]:
    """Every carrier profile in a TOML file (`[[carriers]]` tables)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CarrierConfigError(f"{path}: {exc}") from exc
    return parse_carriers(data, f"{path}: ")


def with_ports(profile: CarrierProfile, port: int | None = None, admin_port: int | None = -1) -> CarrierProfile:
    """A copy listening elsewhere (0 = an ephemeral port); admin_port -1 keeps the profile's own."""
    changes: dict[str, Any] = {}
    if port is not None:
        changes["port"] = port
    if admin_port != -1:
        changes["admin_port"] = admin_port
    return msgspec.structs.replace(profile, **changes)
