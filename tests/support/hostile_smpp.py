"""Hostile SMPP peers for the chaos campaigns (benchmarks/chaos_smpp.py, tests/test_chaos_smpp.py):
attackers that abuse an SMSC, a well-behaved ESME that measures what they cost it, and an SMSC
that abuses its ESME.

What a peer sends is a plain function of a seeded `random.Random` (and of PDUs drawn once from the
hypothesis strategies of tests/smpp); the coroutines only write those bytes, wait, and count what
comes back. Every loop here is bounded by a deadline and a count."""

from __future__ import annotations

import asyncio
import enum
import functools
import random
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from carriers.esme import EsmeClient
from smsengine.domain.errors import ErrorCode
from smsengine.smpp.codec import PduError, decode_pdu, encode_pdu
from smsengine.smpp.constants import HEADER_SIZE, CommandId, CommandStatus, EsmClass, Tag, status_name
from smsengine.smpp.pdu import (
    AlertNotification,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    CancelSm,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    SubmitMulti,
    SmeDestination,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from smsengine.smpp.receipt import parse_receipt
from tests.smpp.pdu_strategies import any_pdu, pdus_of
from tests.smpp.test_codec_fuzz import mutated

_HEADER = struct.Struct(">IIII")
_LENGTH = struct.Struct(">I")
_C = CommandId
_S = CommandStatus
# command ids SMPP 3.4 does not define, requests and responses (0x0103/0x80000103 are data_sm's)
UNDEFINED_COMMANDS = (0x00000000, 0x0000000A, 0x00000099, 0x00000104, 0x12345678, 0x7FFFFFFF,
                      0x80000099, 0x8000000B, 0x80000102, 0xFFFFFFFF)


class Account(NamedTuple):
    system_id: str
    password: str


def pdu_label(pdu: Pdu) -> str:
    """`generic_nack ESME_RINVCMDLEN`: a PDU's command and status, the key answers are counted by."""
    try:
        name = CommandId(pdu.command_id).name.lower()
    except ValueError:
        name = f"{pdu.command_id:#010x}"
    return f"{name} {status_name(pdu.command_status)}"


def examples(strategy: st.SearchStrategy, count: int, seed: int) -> list:
    """`count` examples of a hypothesis strategy, the same ones for the same seed. Hypothesis has no
    public draw() outside a test, so a @given function collects what it is handed."""
    drawn: list = []

    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    return drawn


class Payloads:
    """PDUs drawn once from tests/smpp/pdu_strategies: valid ones of every type with random field
    values, the same with bytes flipped, cut or inserted (test_codec_fuzz.mutated), and mutated
    submit_sm (the PDU a bound attacker gets furthest with)."""

    def __init__(self, seed: int, count: int = 300) -> None:
        self.valid = [encode_pdu(p) for p in examples(any_pdu, count, seed)]
        self.mutated = examples(mutated(), count, seed + 1)
        self.mutated_submits = examples(mutated(pdus_of(SubmitSm)), count, seed + 2)


# ---- attacks on an SMSC: what is sent (pure) ------------------------------------------------------


class Attack(enum.Enum):
    RANDOM_BYTES = "random_bytes"  # noise, unbound
    MUTATED = "mutated"  # valid PDUs of any type with bytes flipped/cut/inserted, unbound
    MUTATED_BOUND = "mutated_bound"  # the same (mostly submit_sm) after a good bind
    FIELDS_BOUND = "fields_bound"  # well-framed PDUs of every type with random field values, bound
    TRUNCATED = "truncated"  # a PDU cut short: length kept (the rest never comes) or fixed up
    HUGE_LENGTH = "huge_length"  # command_length < 16 or far above the PDU size limit
    BEFORE_BIND = "before_bind"  # submit_sm, query_sm, unbind, ... on an unbound connection
    WRONG_PASSWORD = "wrong_password"  # binds with a wrong password or an unknown system_id
    PIPELINED = "pipelined"  # bind + submits (or two binds, or a refused bind + submits) in one write
    UNKNOWN_COMMAND = "unknown_command"  # command ids SMPP 3.4 does not define
    UNSOLICITED = "unsolicited"  # responses to requests nobody sent
    SLOWLORIS = "slowloris"  # a PDU one byte at a time
    FLOOD_NO_READ = "flood_no_read"  # bound, enquire_link as fast as the SMSC takes them, never reading


class Script(NamedTuple):
    """What one hostile connection does: bind first (with the attacker's good credentials) or not,
    then each step: bytes to write, or seconds to wait. `linger`: then stay until the SMSC closes
    the connection (or the attack's time is up) instead of hanging up once it is quiet. `flood_s`:
    write the steps again and again for that long, reading nothing. `quiet_s`: how long a silence
    means the SMSC has said all it will."""

    steps: list[bytes | float]
    bind: bool = False
    linger: bool = False
    flood_s: float = 0.0
    quiet_s: float = 0.3


def _submit(seq: int, rng: random.Random) -> bytes:
    return encode_pdu(SubmitSm(sequence_number=seq, source_addr="fuzz",
                               destination_addr=f"86139{rng.randrange(10**8):08d}", short_message=b"fuzz"))


def _bind(seq: int, account: Account) -> bytes:
    return encode_pdu(BindTransceiver(sequence_number=seq, system_id=account.system_id, password=account.password))


def _header(length: int, command_id: int, status: int, seq: int) -> bytes:
    return _HEADER.pack(length, command_id, status, seq)


class _Draw(NamedTuple):
    """What every script builder is handed: the attacker's random source and PDUs, its own
    credentials, a first sequence number, and the campaign's pacing."""

    rng: random.Random
    payloads: Payloads
    account: Account
    seq: int
    slow_s: float
    flood_s: float


def _random_bytes(d: _Draw) -> Script:
    rng = d.rng
    return Script([rng.randbytes(rng.randint(1, 300)) for _ in range(rng.randint(1, 3))], linger=_lingers(rng))


def _lingers(rng: random.Random) -> bool:
    """Some unbound connections stay until the SMSC closes them at its bind deadline."""
    return rng.random() < 0.2


def _mutated(d: _Draw) -> Script:
    rng = d.rng
    return Script([b"".join(rng.choice(d.payloads.mutated) for _ in range(rng.randint(1, 5)))], linger=_lingers(rng))


def _mutated_bound(d: _Draw) -> Script:
    rng = d.rng
    pool = d.payloads.mutated_submits if rng.random() < 0.7 else d.payloads.mutated
    return Script([b"".join(rng.choice(pool) for _ in range(rng.randint(1, 8)))], bind=True)


def _fields_bound(d: _Draw) -> Script:
    rng = d.rng
    return Script([b"".join(rng.choice(d.payloads.valid) for _ in range(rng.randint(1, 10)))], bind=True)


def _truncated(d: _Draw) -> Script:
    rng = d.rng
    whole = rng.choice([_bind(d.seq, d.account), _submit(d.seq, rng), rng.choice(d.payloads.valid)])
    cut = whole[: rng.randint(1, len(whole) - 1)]
    bind = rng.random() < 0.3
    if rng.random() < 0.5 and len(cut) >= 4:
        cut = _LENGTH.pack(len(cut)) + cut[4:]  # the body parser meets the cut, not the framer
        return Script([cut], bind=bind)
    return Script([cut], bind=bind, linger=not bind)  # the rest never comes: the bind deadline does


def _huge_length(d: _Draw) -> Script:
    rng = d.rng
    length = rng.choice([0, 1, 4, 15, 64 * 1024 + 1, 1 << 24, 0x7FFFFFFF, 0xFFFFFFFF])
    command = rng.choice([_C.SUBMIT_SM, _C.BIND_TRANSCEIVER, _C.ENQUIRE_LINK, 0x00000099])
    return Script([_header(length, command, 0, d.seq) + rng.randbytes(rng.randint(0, 64))],
                  bind=rng.random() < 0.3)


def _before_bind(d: _Draw) -> Script:
    rng, seq = d.rng, d.seq
    pdus: list[Pdu] = [
        SubmitSm(sequence_number=seq, destination_addr="8613900000000"), QuerySm(sequence_number=seq + 1),
        Unbind(sequence_number=seq + 2), EnquireLink(sequence_number=seq + 3),
        CancelSm(sequence_number=seq + 4), DataSm(sequence_number=seq + 5),
        SubmitMulti(sequence_number=seq + 6, destinations=[SmeDestination(1, 1, "8613900000001")]),
        DeliverSm(sequence_number=seq + 7), AlertNotification(sequence_number=seq + 8),
        Outbind(sequence_number=seq + 9, system_id=d.account.system_id),
    ]
    rng.shuffle(pdus)
    return Script([b"".join(encode_pdu(p) for p in pdus[: rng.randint(1, len(pdus))])], linger=_lingers(rng))


def _wrong_password(d: _Draw) -> Script:
    rng = d.rng
    wrong = rng.choice([Account(d.account.system_id, f"g{rng.randrange(10**6)}"),
                        Account(f"nobody{rng.randrange(100)}", d.account.password)])
    binds = b"".join(_bind(d.seq + i, wrong) for i in range(rng.choice([1, 1, 1, 2, 3])))
    return Script([binds], quiet_s=1.0)  # refusals come late (bind_failure_delay_s, 0.5 s by default)


def _pipelined(d: _Draw) -> Script:
    rng, seq = d.rng, d.seq
    first = _bind(seq, d.account if rng.random() < 0.7 else Account(d.account.system_id, "wrong"))
    extra = [_bind(seq + 100, d.account)] if rng.random() < 0.3 else []
    submits = [_submit(seq + 1 + i, rng) for i in range(rng.randint(1, 20))]
    return Script([b"".join([first, *extra, *submits])])


def _unknown_command(d: _Draw) -> Script:
    rng = d.rng
    items = []
    for i in range(rng.randint(1, 5)):
        body = rng.randbytes(rng.randint(0, 40))
        items.append(_header(HEADER_SIZE + len(body), rng.choice(UNDEFINED_COMMANDS), 0, d.seq + i) + body)
    return Script([b"".join(items)], bind=rng.random() < 0.5)


def _unsolicited(d: _Draw) -> Script:
    rng, seq = d.rng, d.seq
    responses: list[Pdu] = [
        SubmitSmResp(seq, 0, {}, "abc"), DeliverSmResp(seq + 1), BindTransceiverResp(seq + 2, 0, {}, "x"),
        BindReceiverResp(seq + 3), GenericNack(seq + 4, _S.ESME_RSYSERR), EnquireLinkResp(seq + 5),
        UnbindResp(seq + 6),
    ]
    return Script([b"".join(encode_pdu(rng.choice(responses)) for _ in range(rng.randint(1, 10)))],
                  bind=rng.random() < 0.5)


def _slowloris(d: _Draw) -> Script:
    """A bind (unbound) or a submit_sm (bound) dribbled one byte per `slow_s`."""
    bound = d.rng.random() < 0.3
    whole = _submit(d.seq, d.rng) if bound else _bind(d.seq, d.account)
    steps: list[bytes | float] = []
    for byte in whole:
        steps += [bytes((byte,)), d.slow_s]
    return Script(steps, bind=bound, linger=not bound)


def _flood_no_read(d: _Draw) -> Script:
    flood = b"".join(encode_pdu(EnquireLink(sequence_number=d.seq + i)) for i in range(1000))
    return Script([flood], bind=True, flood_s=d.flood_s)


SCRIPTS = {
    Attack.RANDOM_BYTES: _random_bytes, Attack.MUTATED: _mutated, Attack.MUTATED_BOUND: _mutated_bound,
    Attack.FIELDS_BOUND: _fields_bound, Attack.TRUNCATED: _truncated, Attack.HUGE_LENGTH: _huge_length,
    Attack.BEFORE_BIND: _before_bind, Attack.WRONG_PASSWORD: _wrong_password, Attack.PIPELINED: _pipelined,
    Attack.UNKNOWN_COMMAND: _unknown_command, Attack.UNSOLICITED: _unsolicited, Attack.SLOWLORIS: _slowloris,
    Attack.FLOOD_NO_READ: _flood_no_read,
}
assert set(SCRIPTS) == set(Attack), "every attack needs a script"


def script_for(attack: Attack, rng: random.Random, payloads: Payloads, account: Account,
               slow_s: float = 0.2, flood_s: float = 2.0) -> Script:
    """One hostile connection of kind `attack` (`account`: the attacker's own credentials, for the
    attacks that bind first)."""
    return SCRIPTS[attack](_Draw(rng, payloads, account, rng.randrange(1, 0x7FFF0000), slow_s, flood_s))


# ---- attacks on an SMSC: the shell ----------------------------------------------------------------


@dataclass
class AttackTally:
    """One attack kind: what was sent and how the SMSC answered."""

    connections: int = 0
    connect_failures: int = 0  # refused or reset at connect (the SMSC at its connection cap)
    bytes_sent: int = 0
    bound: int = 0  # binds of our own that the SMSC accepted before the attack proper
    answers: Counter = field(default_factory=Counter)  # pdu_label -> count
    malformed_answers: int = 0  # bytes from the SMSC that are not a PDU: a bug of the SMSC
    closed_by_smsc: int = 0
    hung_up: int = 0  # still open when we were done: we closed it
    seconds: float = 0.0
    # FLOOD_NO_READ: the most bytes one connection got the SMSC to take while we read nothing
    # (without back-pressure this grows with time; with it, it stops at the socket buffers)
    largest_unread_flood: int = 0

    def summary(self) -> dict:
        nacks = sum(n for label, n in self.answers.items() if label.startswith("generic_nack"))
        return {
            "connections": self.connections, "connect_failures": self.connect_failures,
            "bytes_sent": self.bytes_sent, "bound_first": self.bound,
            "generic_nacks": nacks, "responses": sum(self.answers.values()) - nacks,
            "closed_by_smsc": self.closed_by_smsc, "open_until_we_hung_up": self.hung_up,
            "malformed_answers": self.malformed_answers,
            "largest_unread_flood_bytes": self.largest_unread_flood,
            "answers": dict(self.answers.most_common()),
        }


class _Answers:
    """Reads and frames what the SMSC writes back to one hostile connection."""

    def __init__(self, reader: asyncio.StreamReader, tally: AttackTally) -> None:
        self.reader = reader
        self.tally = tally
        self.closed = False
        self.last_heard = time.monotonic()
        self.bind_status: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        buffer = b""
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.last_heard = time.monotonic()
                buffer += data
                while len(buffer) >= 4:
                    length = _LENGTH.unpack_from(buffer)[0]
                    if length < HEADER_SIZE or length > 1 << 20:
                        self.tally.malformed_answers += 1
                        buffer = b""
                        break
                    if len(buffer) < length:
                        break
                    self._answer(buffer[:length])
                    buffer = buffer[length:]
        except (ConnectionError, OSError):
            pass
        self.closed = True
        if not self.bind_status.done():
            self.bind_status.set_result(-1)

    def _answer(self, frame: bytes) -> None:
        try:
            pdu = decode_pdu(frame)
        except PduError:
            self.tally.malformed_answers += 1
            return
        self.tally.answers[pdu_label(pdu)] += 1
        if type(pdu) is BindTransceiverResp and not self.bind_status.done():
            self.bind_status.set_result(pdu.command_status)

    async def quiet(self, quiet_s: float, limit_s: float) -> None:
        """Until nothing came for `quiet_s`, the SMSC closed, or `limit_s` passed."""
        deadline = time.monotonic() + limit_s
        while not self.closed and time.monotonic() < deadline:
            left = self.last_heard + quiet_s - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))


async def attack_once(script: Script, host: str, port: int, source: str, account: Account,
                      tally: AttackTally, *, until: float) -> None:
    """Run one hostile connection; nothing of it outlasts `until` (monotonic) by more than a second."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(source, 0)), 5.0)
    except (OSError, asyncio.TimeoutError):
        tally.connect_failures += 1
        return
    tally.connections += 1
    answers = _Answers(reader, tally)
    limit = until + 1.0
    try:
        if script.bind:
            writer.write(_bind(1, account))
            try:
                status = await asyncio.wait_for(asyncio.shield(answers.bind_status), max(0.1, limit - time.monotonic()))
            except asyncio.TimeoutError:
                status = -1
            if status != 0:
                return
            tally.bound += 1
        if script.flood_s:
            await _flood(script, writer, answers, tally, min(limit, time.monotonic() + script.flood_s))
            return
        for step in script.steps:
            if answers.closed or writer.is_closing() or time.monotonic() >= limit:
                break
            if type(step) is bytes:
                writer.write(step)
                tally.bytes_sent += len(step)
            else:
                await asyncio.sleep(step)  # type: ignore[arg-type]
        if script.linger:
            await answers.quiet(float("inf"), limit - time.monotonic())
        else:
            await answers.quiet(script.quiet_s, limit - time.monotonic())
    finally:
        if answers.closed:
            tally.closed_by_smsc += 1
        else:
            tally.hung_up += 1
        writer.transport.abort()
        answers.task.cancel()
        await asyncio.gather(answers.task, return_exceptions=True)
        tally.seconds += time.monotonic() - started


async def _flood(script: Script, writer: asyncio.StreamWriter, answers: _Answers, tally: AttackTally,
                 until: float) -> None:
    """Write the steps until `until`, having stopped reading: what the SMSC takes meanwhile is what
    it buffers for us (its answers) or holds unread in the kernel."""
    answers.task.cancel()  # nothing is read from here on
    taken = 0
    chunk = b"".join(step for step in script.steps if type(step) is bytes)
    while time.monotonic() < until and not writer.is_closing():
        writer.write(chunk)
        try:
            await asyncio.wait_for(writer.drain(), max(0.01, until - time.monotonic()))
        except (asyncio.TimeoutError, ConnectionError):
            break  # the SMSC stopped taking them (back-pressure) or closed
        taken += len(chunk)
        await asyncio.sleep(0)  # drain() does not yield while the buffer is low: let the others run
    tally.bytes_sent += taken
    tally.largest_unread_flood = max(tally.largest_unread_flood, taken)


def attacker_source(kind_index: int, index: int) -> str:
    """A loopback address of the attacker's own (127.0.<kind+1>.<index+2>): the SMSC's per-address
    bind lockout then falls on the attacker, never on the well-behaved client at 127.0.0.1."""
    return f"127.0.{kind_index + 1}.{index + 2}"


async def run_attacker(attack: Attack, index: int, host: str, port: int, account: Account,
                       payloads: Payloads, tally: AttackTally, *, seed: int, until: float,
                       max_connections: int, slow_s: float = 0.2, flood_s: float = 2.0) -> None:
    """Hostile connections of one kind, one after another, until `until` (monotonic) or
    `max_connections` of them."""
    kinds = list(Attack)
    rng = random.Random(seed * 1000 + kinds.index(attack) * 50 + index)
    source = attacker_source(kinds.index(attack), index)
    for _ in range(max_connections):
        if time.monotonic() >= until:
            return
        script = script_for(attack, rng, payloads, account, slow_s, flood_s)
        await attack_once(script, host, port, source, account, tally, until=until)


# ---- the well-behaved ESME ------------------------------------------------------------------------


class SteadySender:
    """A well-behaved ESME: one transceiver bind with its own account, submits at about `rate` per
    second with at most `window` unanswered, and counts every answer and every receipt."""

    def __init__(self, host: str, port: int, account: Account, *, rate: float = 100.0, window: int = 16) -> None:
        self.host, self.port, self.account = host, port, account
        self.rate, self.window = rate, window
        self.client: EsmeClient | None = None
        self.submitted = 0
        self.statuses: Counter = Counter()
        self.lost = 0  # submits whose answer never came (connection lost or timed out)
        self.issued: set[str] = set()
        self.receipts: set[str] = set()  # ids of the receipts received
        self.latencies: list[float] = []  # seconds from each submit to its answer
        self.bind_lost = False
        self._pending: set[asyncio.Future] = set()
        self._receipt_task: asyncio.Task | None = None

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    async def bind(self) -> None:
        self.client = await EsmeClient.connect(self.host, self.port)
        await self.client.bind("transceiver", self.account.system_id, self.account.password)
        self._receipt_task = asyncio.ensure_future(self._collect_receipts())

    async def _collect_receipts(self) -> None:
        assert self.client is not None
        while True:
            pdu = await self.client.delivered.get()
            receipt_id = pdu.tlvs.get(Tag.RECEIPTED_MESSAGE_ID) or parse_receipt(
                pdu.short_message.decode("latin-1")).id
            # matched against `issued` only at the end: a receipt may be read before the
            # done-callback of its submit's answer (read in the same chunk) has run
            self.receipts.add(str(receipt_id))

    @property
    def foreign_receipts(self) -> int:
        """Receipts for ids this client was never given."""
        return len(self.receipts - self.issued)

    def _answered(self, future: asyncio.Future, sent_at: float) -> None:
        self._pending.discard(future)
        self.latencies.append(time.monotonic() - sent_at)
        if future.cancelled() or future.exception() is not None:
            self.lost += 1
            return
        pdu = future.result()
        self.statuses[status_name(pdu.command_status)] += 1
        if not pdu.command_status:
            self.issued.add(pdu.message_id)

    async def run(self, until: float, max_submits: int) -> None:
        """Submit until `until` (monotonic) or `max_submits`, then wait (bounded) for the answers."""
        client = self.client
        assert client is not None
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        n = 0
        while time.monotonic() < until and n < max_submits:
            if client.transport is None:
                self.bind_lost = True
                break
            if len(self._pending) < self.window:
                future = client.send(SubmitSm(source_addr="good", destination_addr=f"86137{n:08d}",
                                              registered_delivery=1, short_message=b"steady"))
                n += 1
                self.submitted += 1
                self._pending.add(future)
                future.add_done_callback(functools.partial(self._answered, sent_at=time.monotonic()))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        deadline = time.monotonic() + 10.0
        while self._pending and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for future in list(self._pending):
            future.cancel()  # counted lost by _answered
        self.bind_lost = self.bind_lost or client.transport is None

    async def wait_receipts(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.issued - self.receipts and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._receipt_task is not None:
            self._receipt_task.cancel()
            await asyncio.gather(self._receipt_task, return_exceptions=True)
        if self.client is not None:
            self.client.close()

    def summary(self) -> dict:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "submitted": self.submitted, "answered": self.answered, "lost": self.lost,
            "answer_latency_ms": {"p50": round(ordered[len(ordered) // 2] * 1000, 1),
                                  "p99": round(ordered[int(len(ordered) * 0.99)] * 1000, 1),
                                  "max": round(ordered[-1] * 1000, 1)},
            "statuses": dict(self.statuses), "receipts": len(self.receipts & self.issued),
            "receipts_missing": len(self.issued - self.receipts), "foreign_receipts": self.foreign_receipts,
            "bind_lost": self.bind_lost,
        }


# ---- an SMSC that abuses its ESME: what is sent (pure) --------------------------------------------


class Mischief(enum.Enum):
    """What the hostile SMSC does with one submit_sm."""

    HONEST = "honest"  # OK with a fresh id, and a true DELIVRD receipt shortly after
    NO_RECEIPT = "no_receipt"  # OK with a fresh id, never a receipt
    WRONG_SEQUENCE = "wrong_sequence"  # submit_sm_resp OK for a sequence number never used
    UNKNOWN_COMMAND = "unknown_command"  # a response with an undefined command id and the submit's seq
    SHORT_LENGTH = "short_length"  # command_length 8 (behind a few enquire_link): the stream is unusable
    HUGE_LENGTH = "huge_length"  # command_length 2**31-1 (behind a few enquire_link)
    TRUNCATED_BODY = "truncated_body"  # submit_sm_resp whose message_id has no NUL
    GENERIC_NACK = "generic_nack"  # generic_nack with the submit's seq and some status
    ERROR_STATUS = "error_status"  # submit_sm_resp with a random non-zero status
    ODD_ID = "odd_id"  # OK with an id of non-ASCII latin-1, spaces or 64 characters
    REUSED_ID = "reused_id"  # OK with an id already given to another number
    SILENCE = "silence"  # never answers
    UNBIND = "unbind"  # answers with an unbind of its own, then says nothing more on that bind
    UNBIND_THEN_ANSWER = "unbind_then_answer"  # an unbind, and the submit's OK answer behind it
    CLOSE_MID_PDU = "close_mid_pdu"  # half a submit_sm_resp, then the connection closes
    ENQUIRE_FLOOD = "enquire_flood"  # hundreds of enquire_link, then an honest answer


class Garbage(enum.Enum):
    """A deliver_sm (or another request) the hostile SMSC sends on its own, now and then."""

    NON_ASCII = "non_ascii"  # receipt text of bytes 0x80-0xFF
    MISSING_FIELDS = "missing_fields"  # `id:` only, `stat:` only, or nothing
    HUGE = "huge"  # a 254-octet short_message and a ~60 KB message_payload
    UNKNOWN_STAT = "unknown_stat"  # a real id with stat:WHATEVER
    NEVER_ISSUED = "never_issued"  # DELIVRD for an id this SMSC never gave
    OTHER_NUMBER = "other_number"  # a real id, reported for another number
    DUPLICATE = "duplicate"  # the same receipt for the same never-issued id, twice
    BAD_TLVS = "bad_tlvs"  # receipted_message_id / message_state of wrong lengths or values
    BAD_LENGTHS = "bad_lengths"  # sm_length past the end of the PDU
    MO_GARBAGE = "mo_garbage"  # an MO "reply" of random bytes, UDH claiming parts of 255
    WRONG_DIRECTION = "wrong_direction"  # query_sm, submit_sm, bind, outbind, alert_notification, data_sm


MISCHIEF_WEIGHTS: dict[Mischief, float] = {
    Mischief.HONEST: 6, Mischief.NO_RECEIPT: 1, Mischief.WRONG_SEQUENCE: 1, Mischief.UNKNOWN_COMMAND: 1,
    Mischief.SHORT_LENGTH: 0.3, Mischief.HUGE_LENGTH: 0.3, Mischief.TRUNCATED_BODY: 1,
    Mischief.GENERIC_NACK: 1, Mischief.ERROR_STATUS: 1, Mischief.ODD_ID: 1, Mischief.REUSED_ID: 1,
    Mischief.SILENCE: 1, Mischief.UNBIND: 0.3, Mischief.UNBIND_THEN_ANSWER: 0.3, Mischief.CLOSE_MID_PDU: 0.3,
    Mischief.ENQUIRE_FLOOD: 0.3,
}
NACK_STATUSES = (_S.ESME_RSYSERR, _S.ESME_RTHROTTLED, _S.ESME_RMSGQFUL, _S.ESME_RSUBMITFAIL,
                 _S.ESME_RINVDSTADR, _S.ESME_RINVCMDLEN, 0x00000401, 0x0000FFFF)


def _resp(seq: int, message_id: str, status: int = 0) -> bytes:
    return encode_pdu(SubmitSmResp(seq, status, {}, message_id))


def receipt_text(message_id: str, stat: str = "DELIVRD", err: str = "000") -> str:
    now = time.localtime()
    stamp = time.strftime("%y%m%d%H%M", now)
    return f"id:{message_id} sub:001 dlvrd:001 submit date:{stamp} done date:{stamp} stat:{stat} err:{err} text:"


def receipt_body(seq: int, message_id: str, number: str, stat: str = "DELIVRD",
                 tlvs: dict | None = None, text: bytes | None = None) -> bytes:
    short_message = text if text is not None else receipt_text(message_id, stat).encode("latin-1")
    return encode_pdu(DeliverSm(sequence_number=seq, source_addr_ton=1, source_addr_npi=1, source_addr=number,
                                destination_addr="smsengine", esm_class=int(EsmClass.DELIVERY_RECEIPT),
                                short_message=short_message[:254], tlvs=tlvs or {}))


def odd_id(rng: random.Random) -> str:
    return rng.choice([
        bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randint(1, 20))).decode("latin-1"),
        "a b\tc",
        "9" * 64,
        "",
        f"{rng.randrange(10**6)}",
    ])


class _Target(NamedTuple):
    """What a garbage PDU is built around: its sequence number, a random source, and an (id,
    number) this SMSC really gave out (or made-up ones before any)."""

    seq: int
    rng: random.Random
    message_id: str
    number: str


def _non_ascii(t: _Target) -> bytes:
    return receipt_body(t.seq, t.message_id, t.number, text=bytes(t.rng.randrange(0x80, 0x100) for _ in range(120)))


def _missing_fields(t: _Target) -> bytes:
    text = t.rng.choice([f"id:{t.message_id}", "stat:DELIVRD err:000", "", "id: stat: err:",
                         f"id:{t.message_id} stat:"])
    return receipt_body(t.seq, t.message_id, t.number, text=text.encode("latin-1"))


def _huge(t: _Target) -> bytes:
    tlvs = {Tag.MESSAGE_PAYLOAD: t.rng.randbytes(60_000)} if t.rng.random() < 0.5 else {}
    return receipt_body(t.seq, t.message_id, t.number, text=b"id:" + t.rng.randbytes(251), tlvs=tlvs)


def _unknown_stat(t: _Target) -> bytes:
    return receipt_body(t.seq, t.message_id, t.number, stat=t.rng.choice(["WHATEVER", "DELIVR", "0", "UNDELIVx"]))


def _never_issued(t: _Target) -> bytes:
    return receipt_body(t.seq, f"never{t.rng.randrange(10**9)}", t.number)


def _other_number(t: _Target) -> bytes:
    return receipt_body(t.seq, t.message_id, f"86199{t.rng.randrange(10**8):08d}")


def _duplicate(t: _Target) -> bytes:
    """Two deliver_sm (sequence numbers seq and seq + 1) with the same receipt for one made-up id."""
    once = receipt_body(t.seq, f"twice{t.rng.randrange(10**9)}", t.number)
    return once + once[:12] + _LENGTH.pack(t.seq + 1) + once[16:]


def _bad_tlvs(t: _Target) -> bytes:
    head = receipt_body(t.seq, t.message_id, t.number, text=b"")
    tlv = t.rng.choice([
        struct.pack(">HH", Tag.RECEIPTED_MESSAGE_ID, 3) + b"abc",  # no NUL
        struct.pack(">HH", Tag.MESSAGE_STATE, 2) + b"\x02\x02",  # too long
        struct.pack(">HH", Tag.MESSAGE_STATE, 1) + bytes((t.rng.randrange(9, 256),)),  # no such state
        struct.pack(">HH", Tag.RECEIPTED_MESSAGE_ID, 200) + b"x" * 10,  # past the end
        struct.pack(">HH", Tag.RECEIPTED_MESSAGE_ID, 1) + b"\0",  # empty id
    ])
    body = head[HEADER_SIZE:] + tlv
    return _header(HEADER_SIZE + len(body), _C.DELIVER_SM, 0, t.seq) + body


def _bad_lengths(t: _Target) -> bytes:
    text = receipt_text(t.message_id).encode("latin-1")[:150]
    whole = receipt_body(t.seq, t.message_id, t.number, text=text)
    at = len(whole) - len(text) - 1  # sm_length: claim more than follows
    return whole[:at] + bytes((len(text) + t.rng.randint(1, 100),)) + whole[at + 1:]


def _mo_garbage(t: _Target) -> bytes:
    rng = t.rng
    udh = bytes((5, 0, 3, rng.randrange(256), 255, rng.randint(1, 255)))
    text = (udh if rng.random() < 0.7 else b"") + rng.randbytes(rng.randint(0, 140))
    return encode_pdu(DeliverSm(sequence_number=t.seq, source_addr=f"86{rng.randrange(10**11):011d}",
                                destination_addr="smsengine", esm_class=0x40 if text[:1] == b"\x05" else 0,
                                data_coding=rng.choice([0, 3, 8]), short_message=text[:254]))


def _wrong_direction(t: _Target) -> bytes:
    seq = t.seq
    pdu = t.rng.choice([
        QuerySm(sequence_number=seq, message_id="x"), SubmitSm(sequence_number=seq),
        BindTransmitter(sequence_number=seq, system_id="smsc"), Outbind(sequence_number=seq),
        AlertNotification(sequence_number=seq), DataSm(sequence_number=seq), Unbind(sequence_number=seq),
    ])
    if type(pdu) is Unbind and t.rng.random() < 0.8:
        pdu = EnquireLink(sequence_number=seq)  # an unbind ends the bind: keep it rare
    return encode_pdu(pdu)


GARBAGE = {
    Garbage.NON_ASCII: _non_ascii, Garbage.MISSING_FIELDS: _missing_fields, Garbage.HUGE: _huge,
    Garbage.UNKNOWN_STAT: _unknown_stat, Garbage.NEVER_ISSUED: _never_issued, Garbage.OTHER_NUMBER: _other_number,
    Garbage.DUPLICATE: _duplicate, Garbage.BAD_TLVS: _bad_tlvs, Garbage.BAD_LENGTHS: _bad_lengths,
    Garbage.MO_GARBAGE: _mo_garbage, Garbage.WRONG_DIRECTION: _wrong_direction,
}
assert set(GARBAGE) == set(Garbage), "every kind of garbage needs a writer"
# requests that have no response: nothing to wait for
_UNANSWERED = frozenset({_C.OUTBIND, _C.ALERT_NOTIFICATION})


def garbage_pdu(kind: Garbage, seq: int, rng: random.Random, issued: list[tuple[str, str]]) -> bytes:
    """The bytes of one unsolicited PDU of kind `kind`; `issued` is (id, number) this SMSC gave out."""
    message_id, number = rng.choice(issued) if issued else ("feedface", "8613700000000")
    return GARBAGE[kind](_Target(seq, rng, message_id, number))


# ---- an SMSC that abuses its ESME: the shell ------------------------------------------------------


@dataclass
class SmscTally:
    binds: Counter = field(default_factory=Counter)  # how bind requests were answered
    mischief: Counter = field(default_factory=Counter)  # Mischief value -> submits treated so
    garbage: Counter = field(default_factory=Counter)  # Garbage value -> PDUs sent
    answers: Counter = field(default_factory=Counter)  # "<garbage kind> -> <pdu_label>" of the ESME's answers
    honest_receipts: int = 0
    enquire_links_sent: int = 0
    from_esme: Counter = field(default_factory=Counter)  # pdu_label of the ESME's requests
    malformed_from_esme: int = 0  # PDUs of the ESME that do not decode: a bug of the ESME
    overdue_deliveries: Counter = field(default_factory=Counter)  # kind -> deliver_sm unanswered > overdue_s
    lost_with_connection: int = 0  # deliver_sm unanswered when their connection closed (not overdue)
    connections: int = 0
    # numbers of the submits answered OK with their own sequence number, in full: the engine was
    # told these were accepted (each message of a campaign goes to a number of its own)
    accepted_numbers: set[str] = field(default_factory=set)

    def summary(self) -> dict:
        return {
            "connections": self.connections, "binds": dict(self.binds),
            "mischief": dict(self.mischief.most_common()), "garbage": dict(self.garbage.most_common()),
            "honest_receipts": self.honest_receipts, "enquire_links_sent": self.enquire_links_sent,
            "esme_answers": dict(self.answers.most_common()), "from_esme": dict(self.from_esme.most_common()),
            "malformed_from_esme": self.malformed_from_esme,
            "overdue_deliveries": dict(self.overdue_deliveries),
            "deliveries_lost_with_connection": self.lost_with_connection,
            "submits_answered_ok": len(self.accepted_numbers),
        }


class HostileSmsc:
    """An SMSC that accepts binds (mostly) and then misbehaves: each submit_sm gets a `Mischief`
    drawn by weight, and every `garbage_every_s` a bound connection gets a `Garbage` PDU. It tracks
    every deliver_sm it sends until answered: one unanswered for `overdue_s` on a connection that
    stays open is counted overdue (the ESME must answer what it is sent, whatever it was)."""

    def __init__(self, seed: int, *, weights: dict[Mischief, float] | None = None,
                 garbage: tuple[Garbage, ...] = tuple(Garbage), garbage_every_s: float = 0.05,
                 flood_size: int = 300, bind_mischief: float = 0.1, overdue_s: float = 5.0,
                 receipt_delay_s: tuple[float, float] = (0.05, 1.0)) -> None:
        self.rng = random.Random(seed)
        weights = weights or MISCHIEF_WEIGHTS
        self.kinds, self.weights = list(weights), list(weights.values())
        self.garbage_kinds = garbage
        self.garbage_every_s = garbage_every_s
        self.flood_size = flood_size
        self.bind_mischief = bind_mischief
        self.overdue_s = overdue_s
        self.receipt_delay_s = receipt_delay_s
        self.tally = SmscTally()
        self.issued: deque[tuple[str, str]] = deque(maxlen=10_000)  # (id, number) given out
        self.connections: set[_HostileConnection] = set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._next_id = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> HostileSmsc:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _HostileConnection(self), host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def new_id(self) -> str:
        self._next_id += 1
        return f"h{self._next_id:08x}"

    def bound(self) -> list[_HostileConnection]:
        """The connections that are bound and still talk."""
        return [c for c in self.connections if c.bound and c.transport is not None and not c.quiet]

    def overdue_now(self) -> int:
        """deliver_sm on open connections unanswered for longer than `overdue_s`."""
        horizon = time.monotonic() - self.overdue_s
        return sum(1 for c in self.connections for _, at in c.pending.values() if at < horizon)

    def count_overdue(self) -> None:
        """Move what is overdue on the open connections into the tally (at the end of a campaign)."""
        horizon = time.monotonic() - self.overdue_s
        for connection in self.connections:
            for seq, (kind, at) in list(connection.pending.items()):
                if at < horizon:
                    self.tally.overdue_deliveries[kind] += 1
                    del connection.pending[seq]

    async def close(self) -> None:
        self.count_overdue()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()


class _HostileConnection(asyncio.Protocol):
    def __init__(self, smsc: HostileSmsc) -> None:
        self.smsc = smsc
        self.rng = random.Random(smsc.rng.random())
        self.transport: asyncio.Transport | None = None
        self.bound = False
        self.quiet = False  # it sent an unbind or broke the stream: it writes nothing more
        self.buffer = b""
        # our sequence numbers start far from the ESME's: an answer to the one is not taken for the other
        self.sequence = 1_000_000_000
        self.pending: dict[int, tuple[str, float]] = {}  # our deliver_sm seq -> (kind, sent at)
        self._out: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    # -- transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.smsc.connections.add(self)
        self.smsc.tally.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.bound = False
        if self._timer is not None:
            self._timer.cancel()
        tally = self.smsc.tally
        horizon = time.monotonic() - self.smsc.overdue_s
        for kind, at in self.pending.values():
            if at < horizon:
                tally.overdue_deliveries[kind] += 1
            else:
                tally.lost_with_connection += 1
        self.pending.clear()
        self.smsc.connections.discard(self)

    def abort(self) -> None:
        self._out = []
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def write(self, data: bytes) -> None:
        """Queued and written once per loop tick, as SMSCs batch their writes: what the ESME then
        reads in one chunk mixes answers, requests and whatever broke the stream."""
        if self.transport is None or self.transport.is_closing() or self.quiet:
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def next_seq(self) -> int:
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        return self.sequence

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= HEADER_SIZE and self.transport is not None:
            length = _LENGTH.unpack_from(self.buffer)[0]
            if length < HEADER_SIZE or length > 1 << 20:
                self.smsc.tally.malformed_from_esme += 1
                self.abort()
                return
            if len(self.buffer) < length:
                return
            frame, self.buffer = self.buffer[:length], self.buffer[length:]
            try:
                pdu = decode_pdu(frame)
            except PduError:
                self.smsc.tally.malformed_from_esme += 1
                continue
            self._on_pdu(pdu)

    # -- what the ESME sends
    def _on_pdu(self, pdu: Pdu) -> None:
        tally = self.smsc.tally
        kind = type(pdu)
        if pdu.is_response:
            entry = self.pending.pop(pdu.sequence_number, None)
            if entry is not None:
                tally.answers[f"{entry[0]} -> {pdu_label(pdu)}"] += 1
            elif kind is UnbindResp:
                self.abort()
            return
        tally.from_esme[pdu_label(pdu)] += 1
        if self.quiet:
            return
        if kind in (BindTransceiver, BindTransmitter) or pdu.command_id == _C.BIND_RECEIVER:
            self._bind(pdu)
        elif kind is SubmitSm:
            self._submit(pdu)  # type: ignore[arg-type]
        elif kind is EnquireLink:
            if self.rng.random() < 0.9:
                self.write(encode_pdu(EnquireLinkResp(pdu.sequence_number)))
        elif kind is Unbind:
            self.write(encode_pdu(UnbindResp(pdu.sequence_number)))
            self.close()
        else:
            self.write(encode_pdu(GenericNack(pdu.sequence_number, _S.ESME_RINVCMDID)))

    def _bind(self, pdu: Pdu) -> None:
        rng, tally = self.rng, self.smsc.tally
        resp_class = {_C.BIND_TRANSCEIVER: BindTransceiverResp, _C.BIND_RECEIVER: BindReceiverResp}.get(
            pdu.command_id, BindTransceiverResp)
        if rng.random() < self.smsc.bind_mischief:
            what = rng.choice(["refuse", "silence", "garbage", "wrong_sequence"])
            tally.binds[what] += 1
            if what == "refuse":
                self.write(encode_pdu(resp_class(pdu.sequence_number, _S.ESME_RBINDFAIL)))
            elif what == "garbage":
                self.write(rng.randbytes(rng.randint(1, 40)))
            elif what == "wrong_sequence":
                self.write(encode_pdu(resp_class(pdu.sequence_number + 7, 0, {}, "hostile")))
            return
        tally.binds["ok"] += 1
        self.write(encode_pdu(resp_class(pdu.sequence_number, 0, {}, "hostile")))
        self.bound = True
        self._arm()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.smsc.garbage_every_s * (0.5 + self.rng.random())
        self._timer = loop.call_later(delay, self._send_garbage)

    def _send_garbage(self) -> None:
        if self.transport is None or not self.bound or self.quiet or not self.smsc.garbage_kinds:
            return
        kind = self.rng.choice(self.smsc.garbage_kinds)
        seq = self.next_seq()
        data = garbage_pdu(kind, seq, self.rng, list(self.smsc.issued)[-200:])
        self.smsc.tally.garbage[kind.value] += 1
        now = time.monotonic()
        if _HEADER.unpack_from(data)[1] not in _UNANSWERED:
            self.pending[seq] = (kind.value, now)
        if kind is Garbage.DUPLICATE:
            self.sequence += 1
            self.pending[seq + 1] = (kind.value, now)
        self.write(data)
        self._arm()

    def _submit(self, pdu: SubmitSm) -> None:
        smsc = self.smsc
        mischief = self.rng.choices(smsc.kinds, smsc.weights)[0]
        smsc.tally.mischief[mischief.value] += 1
        _MISCHIEF[mischief](self, pdu)

    def accept(self, pdu: SubmitSm, message_id: str) -> None:
        """submit_sm_resp OK with `message_id`: the ESME is told its message was accepted."""
        self.write(_resp(pdu.sequence_number, message_id))
        self.smsc.tally.accepted_numbers.add(pdu.destination_addr)

    def issue(self, pdu: SubmitSm, message_id: str) -> None:
        self.smsc.issued.append((message_id, pdu.destination_addr))
        self.accept(pdu, message_id)


def _honest(c: _HostileConnection, pdu: SubmitSm) -> None:
    message_id = c.smsc.new_id()
    c.issue(pdu, message_id)
    delay = c.rng.uniform(*c.smsc.receipt_delay_s)
    asyncio.get_running_loop().call_later(delay, _send_receipt, c.smsc, message_id, pdu.destination_addr)


def _no_receipt(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.issue(pdu, c.smsc.new_id())


def _enquire_flood(c: _HostileConnection, pdu: SubmitSm) -> None:
    size = c.smsc.flood_size
    c.write(b"".join(encode_pdu(EnquireLink(c.next_seq())) for _ in range(size)))
    c.smsc.tally.enquire_links_sent += size
    _honest(c, pdu)


def _wrong_sequence(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.write(_resp((pdu.sequence_number + 1_000_003) % 0x7FFFFFFF + 1, c.smsc.new_id()))


def _unknown_response(c: _HostileConnection, pdu: SubmitSm) -> None:
    command = c.rng.choice(UNDEFINED_COMMANDS) | 0x80000000
    c.write(_header(HEADER_SIZE + 4, command, 0, pdu.sequence_number) + b"abc\0")


def _short_length(c: _HostileConnection, pdu: SubmitSm) -> None:
    _break_stream(c, _header(8, _C.SUBMIT_SM_RESP, 0, pdu.sequence_number))


def _huge_response(c: _HostileConnection, pdu: SubmitSm) -> None:
    _break_stream(c, _header(0x7FFFFFFF, _C.SUBMIT_SM_RESP, 0, pdu.sequence_number) + b"abc")


def _break_stream(c: _HostileConnection, broken: bytes) -> None:
    """A broken frame, with requests of ours just ahead of it in the same write (what a real SMSC's
    buffer holds when it goes wrong); nothing more makes sense on that stream after it."""
    c.write(b"".join(encode_pdu(EnquireLink(c.next_seq())) for _ in range(c.rng.randint(0, 3))) + broken)
    c.quiet = True


def _truncated_body(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.write(_header(HEADER_SIZE + 5, _C.SUBMIT_SM_RESP, 0, pdu.sequence_number) + b"abcde")


def _generic_nack(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.write(encode_pdu(GenericNack(pdu.sequence_number, c.rng.choice(NACK_STATUSES))))


def _error_status(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.write(_resp(pdu.sequence_number, "", c.rng.randrange(1, 0x500)))


def _odd_id(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.issue(pdu, odd_id(c.rng))


def _reused_id(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.accept(pdu, c.rng.choice(c.smsc.issued)[0] if c.smsc.issued else "h00000001")


def _silence(c: _HostileConnection, pdu: SubmitSm) -> None:
    pass


def _unbind(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.write(encode_pdu(Unbind(c.next_seq())))
    c.quiet = True  # after its unbind an SMSC sends nothing more


def _unbind_then_answer(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.write(encode_pdu(Unbind(c.next_seq())) + _resp(pdu.sequence_number, c.smsc.new_id()))
    c.smsc.tally.accepted_numbers.add(pdu.destination_addr)
    c.quiet = True


def _close_mid_pdu(c: _HostileConnection, pdu: SubmitSm) -> None:
    c.write(_resp(pdu.sequence_number, c.smsc.new_id())[:10])
    c.close()


_MISCHIEF = {
    Mischief.HONEST: _honest, Mischief.NO_RECEIPT: _no_receipt, Mischief.WRONG_SEQUENCE: _wrong_sequence,
    Mischief.UNKNOWN_COMMAND: _unknown_response, Mischief.SHORT_LENGTH: _short_length,
    Mischief.HUGE_LENGTH: _huge_response, Mischief.TRUNCATED_BODY: _truncated_body,
    Mischief.GENERIC_NACK: _generic_nack, Mischief.ERROR_STATUS: _error_status, Mischief.ODD_ID: _odd_id,
    Mischief.REUSED_ID: _reused_id, Mischief.SILENCE: _silence, Mischief.UNBIND: _unbind,
    Mischief.UNBIND_THEN_ANSWER: _unbind_then_answer, Mischief.CLOSE_MID_PDU: _close_mid_pdu,
    Mischief.ENQUIRE_FLOOD: _enquire_flood,
}
assert set(_MISCHIEF) == set(Mischief), "every mischief needs a handler"


def _send_receipt(smsc: HostileSmsc, message_id: str, number: str) -> None:
    """A true receipt, on whichever bind is up (as an SMSC's store and forward would)."""
    bound = smsc.bound()
    if not bound:
        return
    connection = smsc.rng.choice(bound)
    seq = connection.next_seq()
    connection.pending[seq] = ("honest", time.monotonic())
    smsc.tally.honest_receipts += 1
    connection.write(receipt_body(seq, message_id, number))


# ---- a campaign against an SMSC --------------------------------------------------------------------


@dataclass
class FuzzResult:
    attacks: dict[Attack, AttackTally]
    good: SteadySender
    seconds: float


async def fuzz_smsc(host: str, port: int, *, good: Account, hostile: Account, payloads: Payloads, seed: int,
                    seconds: float, attackers_per_kind: int = 1, max_connections_per_attacker: int = 1000,
                    rate: float = 100.0, max_submits: int = 100_000, slow_s: float = 0.2, flood_s: float = 2.0,
                    kinds: tuple[Attack, ...] = tuple(Attack)) -> FuzzResult:
    """`attackers_per_kind` hostile connections of every kind at a time against the SMSC for
    `seconds`, while a `SteadySender` bound as `good` submits beside them; returns once every
    attacker has hung up and the sender has every answer it will get."""
    sender = SteadySender(host, port, good, rate=rate)
    await sender.bind()
    started = time.monotonic()
    until = started + seconds
    tallies = {kind: AttackTally() for kind in kinds}
    attackers = [
        run_attacker(kind, i, host, port, hostile, payloads, tallies[kind], seed=seed, until=until,
                     max_connections=max_connections_per_attacker, slow_s=slow_s, flood_s=flood_s)
        for kind in kinds for i in range(attackers_per_kind)
    ]
    await asyncio.gather(sender.run(until, max_submits), *attackers)
    return FuzzResult(tallies, sender, time.monotonic() - started)


# ---- judging an engine campaign by its store ---------------------------------------------------------

FINAL = ("delivered", "failed", "expired")
MESSAGE_ROWS = "SELECT phone, status, code, carrier, created_at, final_at FROM messages"


class MessageRow(NamedTuple):
    phone: str
    status: str
    code: int
    carrier: str
    created_at: float
    final_at: float | None


def judge_messages(rows: list[MessageRow], *, good: str, deadline_s: float,
                   accepted_by_hostile: set[str]) -> dict:
    """The engine's own record of a campaign (`MESSAGE_ROWS`), against what it must hold: every
    message final within `deadline_s` of its acceptance; every message the `good` carrier took
    delivered; none that the hostile SMSC answered OK (to its number, `accepted_by_hostile`)
    reported as never accepted by any carrier."""
    outcomes: Counter = Counter()
    not_final = late = good_not_delivered = answer_lost = 0
    slowest = 0.0
    for phone, status, code, carrier, created_at, final_at in rows:
        outcomes[f"{carrier or '(none)'} {status} {code}"] += 1
        if status not in FINAL or final_at is None:
            not_final += 1
            continue
        slowest = max(slowest, final_at - created_at)
        late += final_at - created_at > deadline_s
        good_not_delivered += carrier == good and status != "delivered"
        answer_lost += code == ErrorCode.NOT_SUBMITTED and phone.lstrip("+") in accepted_by_hostile
    return {
        "messages": len(rows), "not_final": not_final, "final_after_deadline": late,
        "slowest_final_s": round(slowest, 2), "good_carrier_not_delivered": good_not_delivered,
        "accepted_by_hostile_reported_never_accepted": answer_lost,
        "outcomes": dict(outcomes.most_common()),
    }
