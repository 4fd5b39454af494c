"""Typed engine configuration: TOML file + SMSENGINE_* environment overrides, validated at start."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from smsengine.domain.accounts import Balance, UtcOffsetMinutes
from smsengine.domain.content import DEFAULT_NEUTRAL_NAMES
from smsengine.domain.shortlinks import MAX_LINKS_PER_ACCOUNT
from smsengine.domain.signatures import DEFAULT_SIGNATURE_CAP
from smsengine.domain.templates import DEFAULT_TEMPLATE_CAP, TemplateId
from smsengine.smpp.message_id import CarrierIdFormats
from smsengine.smpp.vendor_tlvs import VendorTlvs, repeated_tag

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "engine.toml"


class ConfigError(Exception):
    """A config file that cannot start the engine: names the key and the reason."""


class HttpConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    # request authentication: a signed request's time may be this far from ours, and its nonce
    # (or random) is remembered, across restarts, for as long
    max_time_skew_s: int = 300
    # per source IP, in recipients per second (a token bucket): SMS-bombing protection that a
    # service sending bulk traffic from one host does not trip by default
    source_numbers_per_s: float = 50_000.0
    source_burst: int = 100_000
    # operator endpoints (account creation, reviews, balances) need X-Admin-Token: this value
    admin_token: str = ""
    # receipt and alarm URLs may name loopback or private addresses (a development setup with a
    # local sink); off, such URLs are refused and names resolving to them are not connected to
    allow_private_callbacks: bool = False
    # the listener's bounds (slowloris, descriptor exhaustion): a connection's request head must be
    # complete this long after it opened (or after the first byte of a later request), a kept-alive
    # connection idle this long is closed, a request body must arrive within body_timeout_s, and
    # beyond max_connections open client connections a new one is answered 503 (1051) and closed
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000


class CallbacksConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Status reports and replies pushed to the customer (README "Callbacks")."""

    batch: int = 1000  # reports per POST at most (fewer when fewer are waiting)
    concurrency: int = 4  # POSTs in flight per account and stream
    timeout_s: float = 5.0  # per POST, connect to answer
    max_backoff_s: float = 60.0  # a failing URL is retried after 0.5 s, doubling up to this
    memory_rows: int = 100_000  # reports waiting in memory per account and stream; beyond, read back from the store
    cursor_every_s: float = 0.5  # how often the acknowledged position is written: the re-push window after a crash
    poll_s: float = 1.0  # how often a feed with nothing in memory looks at the store (replies, catch-up)
    # a send's own callback_url is given up after this many failed POSTs (about 8 minutes with
    # the backoff): one dead URL of one send must not hold its account's reports for ever; the
    # account's receipt_url is never given up (its backlog waits in the store)
    message_url_attempts: int = 14
    max_connections: int = 100  # callback connections in all; `concurrency` at most to one endpoint


class TasksConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Bulk tasks (README "Bulk tasks"): their bounds, and how they are fed through intake."""

    max_rows: int = 100_000  # recipients in one task (rows of its file or list)
    max_bytes: int = 3 * 1024 * 1024  # a task's file must be smaller than this
    chunk_rows: int = 5_000  # rows taken through intake per commit while a task imports
    check_every_s: float = 0.2  # how often scheduled tasks are looked at (they start within this of their time)


class RecordsConfig(msgspec.Struct, forbid_unknown_fields=True):
    # numbers in list views, CSV-free API pages and logs shown as 138****8000; the store and the
    # CSV exports keep them whole
    mask_numbers: bool = False


class ConsoleConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The web console at /console (README "Console")."""

    enabled: bool = True
    session_idle_s: float = 8 * 3600.0  # a session unused this long is signed out
    max_sessions: int = 10_000  # beyond it the least recently used session is signed out
    # sign-in attempts per source address: a burst of this many, then one per 6 s (429, 1013)
    signin_burst: int = 10
    experiments_dir: str = "experiments/results"  # the reports its Experiments page lists


class StoreConfig(msgspec.Struct, forbid_unknown_fields=True):
    path: str = "var/smsengine.db"
    batch_max_rows: int = 5000
    batch_max_delay_ms: float = 2.0
    retention_days: int = 180
    # how much lower than the event loop the writer thread's CPU priority is (a nice value, 0-19;
    # 0: the same). Group commits can wait a little; the loop, which every message passes through,
    # should not wait for a core behind them (README "Performance")
    writer_nice: int = 10


class DispatchConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Deadlines and bounds of dispatch: every message ends, and nothing waits without a limit."""

    # a message not final this long after it became due ends: `expired` (60003) when a carrier
    # accepted it and its receipt never came, `failed` (60005) when no carrier accepted it
    validity_s: float = 86_400.0
    # how often the deadlines are checked (one pass over the oldest open messages)
    expiry_sweep_s: float = 1.0
    # receipts whose id is not (yet) registered wait this long for their submit_sm_resp; at most
    # `max_parked_receipts` wait (the oldest go first)
    receipt_park_s: float = 120.0
    max_parked_receipts: int = 100_000
    # after a restart, parts of open messages with no recorded carrier answer wait this long for
    # receipts that show a carrier accepted them before the crash; the rest are then sent (0: no
    # wait, at-least-once at once). See README "Crashes and duplicates".
    recovery_hold_s: float = 15.0
    # accepted messages not final (queued, in flight, awaiting receipts, scheduled) the engine
    # holds in memory, about 0.9 KB each: beyond it sends are refused with 1052 (503) until
    # carriers catch up. The bound of every carrier queue and send window together.
    max_open_messages: int = 500_000
    # where the SMPP binds (PDU codec, send windows, keepalive, receipt texts) run: true, in a child
    # process of the engine's, on another core; false, on the engine's own event loop; "auto", in
    # the child process when the machine has more than two cores (README "Carrier process": on
    # two, the process costs more CPU than it frees)
    carrier_process: bool | Literal["auto"] = "auto"


class RepliesConfig(msgspec.Struct, forbid_unknown_fields=True):
    # a reply belongs to the account that last sent to its number within this window (SPEC §7:
    # 72 h); with none it is stored unattributed
    attribution_window_s: float = 72 * 3600.0


class BillingConfig(msgspec.Struct, forbid_unknown_fields=True):
    # an account whose stored balance stays <= 0 this long is suspended (1033); topped up, it
    # resumes at once (the seeds: 12 h)
    arrears_grace_s: float = 12 * 3600.0


class LinksConfig(msgspec.Struct, forbid_unknown_fields=True):
    # the engine's address as handsets reach it: a template carries its short link as the fixed
    # text `{public_base_url}/s/{code}`, which redirects here
    public_base_url: str = "http://127.0.0.1:8080"
    # links one account may hold; POST /v1/links beyond it is refused (1053)
    max_per_account: int = MAX_LINKS_PER_ACCOUNT


class ScreeningConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Empty-number screening (POST /v1/numbers/check) at the carriers' `number_lookup_url`."""

    # lookups in flight at once, over all checks (the client's connection limit too)
    concurrency: int = 32
    # one lookup's bound; a lookup not answered by then is `unknown`
    lookup_timeout_s: float = 5.0
    # a whole check's bound: the numbers not answered by then are `unknown`
    deadline_s: float = 60.0


class ContentConfig(msgspec.Struct, forbid_unknown_fields=True):
    # words no message or template may contain: a send is refused with 1002 before anything is
    # reserved or charged, a template at creation (matched case-insensitively, anywhere)
    sensitive_words: list[str] = []
    # signature names refused at creation (1041) as saying nothing about the sender, compared
    # case- and space-insensitively; names like "aabb" or "1111" are refused besides
    neutral_signature_names: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_NEUTRAL_NAMES))


class SimulatorConfig(msgspec.Struct, forbid_unknown_fields=True):
    embedded: bool = True
    config: str = "config/carriers.toml"


class CarrierConfig(msgspec.Struct, forbid_unknown_fields=True):
    """A plain SMPP endpoint: the embedded simulators are only the default entries."""

    name: str
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "smsengine"
    password: str = "secret"
    system_type: str = ""
    bind_mode: Literal["transceiver", "transmitter_receiver"] = "transceiver"
    binds: int = 1
    window: int = 64
    # how this carrier writes ids in submit_sm_resp and in receipts (both normalise to one key)
    message_ids: CarrierIdFormats = msgspec.field(default_factory=CarrierIdFormats)
    concat: Literal["udh", "sar", "payload"] = "udh"
    source_addr: str = "smsengine"
    # service_type on marketing submits, for SMSCs that treat marketing differently ("" = none)
    marketing_service_type: str = ""
    # vendor-specific TLVs every submit_sm to this carrier carries (e.g. India's DLT ids), in the
    # send API's shape; a send's own TLV of the same tag replaces the carrier's
    tlvs: VendorTlvs = []
    enquire_link_s: float = 30.0
    idle_refresh_s: float = 90.0
    response_timeout_s: float = 10.0
    max_retries: int = 3
    retry_backoff_s: float = 0.5
    throttle_pause_s: float = 0.2
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 10.0
    supports_query_sm: bool = True
    # vendor command_status codes to treat like ESME_RTHROTTLED / like a transient error
    # (anything else non-zero and unknown fails the message at once)
    throttle_statuses: list[int] = []
    transient_statuses: list[int] = []
    # a part this carrier keeps answering ESME_RTHROTTLED for this long moves to the route's next
    # carrier, or fails with 60006 (throttling is paused and resent, not counted as an attempt)
    throttle_budget_s: float = 600.0
    # when deliver_sm (receipts, replies) is answered: "durable" once what it carried is committed
    # (a crash in between makes the SMSC deliver it again: nothing is lost), "immediate" at once
    # (for an SMSC whose deliver window is too small to cover a group commit)
    receipt_ack: Literal["durable", "immediate"] = "durable"
    # a long reply whose parts stop coming is stored with what arrived, marked incomplete, this
    # long after its first part
    reply_parts_timeout_s: float = 60.0
    # this carrier's number-lookup endpoint, asked by POST /v1/numbers/check: an http(s) URL with
    # `{number}` where the E.164 number goes, answering JSON {"status": "ok" | "empty" |
    # "powered_off" | ...} (the simulators' admin `/status/{number}`); "" = none
    number_lookup_url: str = ""


class RouteTarget(msgspec.Struct, forbid_unknown_fields=True):
    carrier: str
    weight: int = 1


class RouteConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Destinations starting with `prefix` (E.164, e.g. "+86", "+1", "+") go to these carriers;
    the longest matching prefix wins; the next target takes over when one is down."""

    prefix: str
    targets: list[RouteTarget]


class SignatureSeed(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    status: Literal["pending", "approved", "rejected"] = "approved"


class TemplateSeed(msgspec.Struct, forbid_unknown_fields=True):
    id: TemplateId
    text: str
    type: Literal["regular", "marketing"] = "regular"
    region: Literal["mainland", "international"] = "mainland"
    status: Literal["pending", "approved", "rejected"] = "approved"


class LimitsConfig(msgspec.Struct, forbid_unknown_fields=True):
    same_content_max: int = 1
    same_content_window_s: float = 30.0
    daily_max: int = 10
    hourly_max: int | None = None
    international_daily_max: int = 1000
    alarm_threshold: int | None = None  # accepted messages per local day that raise an alarm
    alarm_url: str = ""  # where the alarm is POSTed (besides the log line and the metric)
    allow_list: list[str] = []
    # how many signatures and templates the account may hold (1039 / 1038 beyond)
    max_signatures: int = DEFAULT_SIGNATURE_CAP
    max_templates: int = DEFAULT_TEMPLATE_CAP


class AccountConfig(msgspec.Struct, forbid_unknown_fields=True):
    """An account seeded at start (created if absent; balance only set on creation)."""

    app_id: str
    key: str
    type: Literal["individual", "organisation"] = "organisation"
    raw_content: bool = False
    balance: Balance = 0
    utc_offset_minutes: UtcOffsetMinutes = 480
    receipt_url: str = ""
    reply_url: str = ""  # where replies (MO) are pushed, like receipts ("" = pull only)
    # `sig` (the body's sha256 sig) or `hmac` (whole-request signing only); unset: `sig` for a new
    # account, and an existing one keeps what the operator set
    auth_scheme: Literal["sig", "hmac"] | None = None
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    signatures: list[SignatureSeed] = []
    templates: list[TemplateSeed] = []


class EngineConfig(msgspec.Struct, forbid_unknown_fields=True):
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    callbacks: CallbacksConfig = msgspec.field(default_factory=CallbacksConfig)
    tasks: TasksConfig = msgspec.field(default_factory=TasksConfig)
    records: RecordsConfig = msgspec.field(default_factory=RecordsConfig)
    console: ConsoleConfig = msgspec.field(default_factory=ConsoleConfig)
    simulators: SimulatorConfig = msgspec.field(default_factory=SimulatorConfig)
    dispatch: DispatchConfig = msgspec.field(default_factory=DispatchConfig)
    replies: RepliesConfig = msgspec.field(default_factory=RepliesConfig)
    billing: BillingConfig = msgspec.field(default_factory=BillingConfig)
    content: ContentConfig = msgspec.field(default_factory=ContentConfig)
    links: LinksConfig = msgspec.field(default_factory=LinksConfig)
    screening: ScreeningConfig = msgspec.field(default_factory=ScreeningConfig)
    default_region: str = "CN"
    max_chars: int = 500
    carriers: list[CarrierConfig] = []
    routes: list[RouteConfig] = []
    accounts: list[AccountConfig] = []
    log_level: str = "info"


ENV_PREFIX = "SMSENGINE_"
# SMSENGINE_* variables that are not config keys: SMSENGINE_PROFILE=FILE writes a cProfile of serve;
# the command line's client commands find the engine and the account in the others (README
# "Command line"), so a shell that exports them can still `serve`
NOT_CONFIG = frozenset({"SMSENGINE_CONFIG", "SMSENGINE_PROFILE", "SMSENGINE_URL", "SMSENGINE_APP_ID",
                        "SMSENGINE_APP_KEY", "SMSENGINE_ADMIN_TOKEN"})


def _apply_env(raw: dict[str, Any], environ: dict[str, str]) -> None:
    """SMSENGINE_HTTP__PORT=9090 sets http.port; values are parsed as TOML scalars when they can
    be (numbers, booleans, quoted strings), else taken as plain strings."""
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_CONFIG:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        node = raw
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(path)} does not name a table key")
            node = child
        node[path[-1]] = parsed


def load(path: str | Path | None = None, environ: dict[str, str] | None = None) -> EngineConfig:
    path = Path(path) if path else DEFAULT_CONFIG
    environ = dict(os.environ) if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    _apply_env(raw, environ)
    try:
        config = msgspec.convert(raw, EngineConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _check(config, path)
    return config


def _check(config: EngineConfig, path: Path) -> None:
    names = [c.name for c in config.carriers]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: carriers: duplicate carrier names {names}")
    for i, route in enumerate(config.routes):
        for target in route.targets:
            if target.carrier not in names:
                raise ConfigError(
                    f"{path}: routes[{i}].targets: unknown carrier {target.carrier!r} (known: {names})"
                )
    for carrier in config.carriers:
        if carrier.binds < 1 or carrier.window < 1:
            raise ConfigError(f"{path}: carriers[{carrier.name}]: binds and window must be >= 1")
        repeated = repeated_tag(carrier.tlvs)
        if repeated is not None:
            raise ConfigError(f"{path}: carriers[{carrier.name}].tlvs[{repeated}]: tag"
                              f" {carrier.tlvs[repeated].tag:#06x} given twice")
        lookup = carrier.number_lookup_url
        if lookup and (not lookup.startswith(("http://", "https://")) or lookup.count("{number}") != 1):
            raise ConfigError(f"{path}: carriers[{carrier.name}]: number_lookup_url must be an http(s) URL"
                              " with one {number}")
    d = config.dispatch
    if (d.validity_s <= 0 or d.expiry_sweep_s <= 0 or d.receipt_park_s <= 0 or d.max_parked_receipts < 1
            or d.max_open_messages < 1):
        raise ConfigError(f"{path}: dispatch: validity_s, expiry_sweep_s, receipt_park_s, max_parked_receipts"
                          " and max_open_messages must be > 0")
    h = config.http
    if min(h.header_timeout_s, h.keepalive_timeout_s, h.body_timeout_s) <= 0 or h.max_connections < 1:
        raise ConfigError(f"{path}: http: header_timeout_s, keepalive_timeout_s, body_timeout_s and"
                          " max_connections must be > 0")
    if config.store.batch_max_rows < 1:
        raise ConfigError(f"{path}: store.batch_max_rows must be >= 1")
    if not 0 <= config.store.writer_nice <= 19:
        raise ConfigError(f"{path}: store.writer_nice must be 0 to 19 (a nice value)")
    t = config.tasks
    if min(t.max_rows, t.max_bytes, t.chunk_rows) < 1 or t.check_every_s <= 0:
        raise ConfigError(f"{path}: tasks: max_rows, max_bytes, chunk_rows and check_every_s must be > 0")
    cb = config.callbacks
    if min(cb.batch, cb.concurrency, cb.memory_rows, cb.message_url_attempts, cb.max_connections) < 1 or min(cb.timeout_s, cb.max_backoff_s, cb.cursor_every_s,
                                                                 cb.poll_s) <= 0:
        raise ConfigError(f"{path}: callbacks: batch, concurrency, memory_rows, message_url_attempts,"
                          " max_connections, timeout_s, max_backoff_s, cursor_every_s and poll_s must be > 0")
    links = config.links
    if not links.public_base_url.startswith(("http://", "https://")) or links.max_per_account < 0:
        raise ConfigError(f"{path}: links: public_base_url must be an http(s) URL and max_per_account >= 0")
    sc = config.screening
    if sc.concurrency < 1 or sc.lookup_timeout_s <= 0 or sc.deadline_s <= 0:
        raise ConfigError(f"{path}: screening: concurrency, lookup_timeout_s and deadline_s must be > 0")
    co = config.console
    if co.session_idle_s <= 0 or co.max_sessions < 1 or co.signin_burst < 1:
        raise ConfigError(f"{path}: console: session_idle_s, max_sessions and signin_burst must be > 0")
