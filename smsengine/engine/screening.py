"""Empty-number screening: a list of numbers looked up at the number-lookup endpoint of the carrier
each one's route picks, in bounded parallel lookups under one deadline for the whole check."""

from __future__ import annotations

import asyncio
import enum
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import aiohttp
import msgspec
import structlog

from smsengine.config import CarrierConfig, ScreeningConfig
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.numbers import dedupe

log = structlog.get_logger("smsengine.screening")

# numbers in one check: 100,000 of the longest accepted (32 characters) still fit the API's 4 MiB body
MAX_CHECK_NUMBERS = 100_000
# a lookup answer is a small JSON object; a longer one is not an answer (and is not read further)
MAX_ANSWER_BYTES = 4096
# numbers prepared or answered between two turns of the event loop (~3 ms of CPU)
_CHUNK = 500
# what `number_lookup_url` carries in place of the number (an E.164 number: "+" and digits only)
NUMBER_PLACEHOLDER = "{number}"


class NumberState(enum.StrEnum):
    """What a check reports for one number."""

    OK = "ok"  # a subscriber is there, in service
    EMPTY = "empty"  # no subscriber can receive at this number: unassigned, barred or out of service
    POWERED_OFF = "powered_off"  # in service, the handset is off: a message waits (or expires)
    UNKNOWN = "unknown"  # no answer in time, an answer we do not understand, or no lookup endpoint
    INVALID = "invalid"  # not a phone number (1016 at send): nothing was looked up


# The lookup endpoint's `{"status": ...}` (the simulators' vocabulary, carriers/fates.py
# NUMBER_STATUS) → what the check reports. A full inbox or poor reception is a live subscriber
# whose message comes late or fails once; `out_of_service` (barred, no credit) and `invalid` cannot
# receive at all, which is what a caller screening before a task wants to drop. Any other word is
# UNKNOWN: the endpoint said something this table does not know, which is not "empty".
LOOKUP_STATES: dict[str, NumberState] = {
    "ok": NumberState.OK,
    "inbox_full": NumberState.OK,
    "poor_reception": NumberState.OK,
    "empty": NumberState.EMPTY,
    "out_of_service": NumberState.EMPTY,
    "invalid": NumberState.EMPTY,
    "powered_off": NumberState.POWERED_OFF,
}


class _LookupAnswer(msgspec.Struct):
    status: str


_decode_answer = msgspec.json.Decoder(_LookupAnswer).decode


def state_of(http_status: int, body: bytes) -> NumberState:
    """One lookup's answer: a 200 with a JSON object whose `status` the table knows, else UNKNOWN."""
    if http_status != 200 or len(body) > MAX_ANSWER_BYTES:
        return NumberState.UNKNOWN
    try:
        status = _decode_answer(body).status
    except msgspec.DecodeError:
        return NumberState.UNKNOWN
    return LOOKUP_STATES.get(status, NumberState.UNKNOWN)


def lookup_url(template: str, number: str) -> str:
    """The configured endpoint with the number in place of `{number}`. The number is E.164 from
    `normalise` ('+' and ASCII digits), so nothing of the input can change the scheme, host, port
    or path the operator configured; its '+' goes as %2B, which a path and a query both decode to
    '+' (a bare '+' in a query reads as a space)."""
    if not (number[:1] == "+" and number[1:].isdigit() and number.isascii()):
        raise ValueError(f"not an E.164 number: {number!r}")
    return template.replace(NUMBER_PLACEHOLDER, "%2B" + number[1:])


def lookup_carrier(preference: Sequence[str], endpoints: dict[str, str]) -> str:
    """The first carrier of the number's route, in the order the route tries them, that has a
    lookup endpoint; "" when none has."""
    return next((name for name in preference if name in endpoints), "")


class NumberCheck(msgspec.Struct):
    phone: str  # as given
    status: NumberState
    number: str = ""  # E.164; "" for an invalid one
    carrier: str = ""  # whose endpoint was asked; "" when none was


class ScreeningCounts(msgspec.Struct):
    ok: int = 0
    empty: int = 0
    powered_off: int = 0
    unknown: int = 0
    invalid: int = 0


def counts_of(results: Sequence[NumberCheck]) -> ScreeningCounts:
    counts = Counter(result.status for result in results)
    return ScreeningCounts(**{state.value: counts[state] for state in NumberState})


class ScreeningResponse(msgspec.Struct):
    code: int
    message: str
    results: list[NumberCheck]  # one per distinct entry, in the order given
    counts: ScreeningCounts
    duplicates: int  # entries dropped because their number came earlier in the list
    complete: bool  # False: the check's deadline came first, and the numbers not answered are unknown


class NumberScreening:
    """Looks numbers up over one client session; at most `settings.concurrency` lookups are in
    flight at once over all checks (the connector's limit is the same, so a lookup never waits for
    a connection inside its own timeout), each bounded by `lookup_timeout_s`, and a whole check by
    `deadline_s`. A check runs `concurrency` workers over its list, not a task per number."""

    def __init__(self, carriers: Sequence[CarrierConfig], preference: Callable[[str], list[str]],
                 settings: ScreeningConfig, default_region: str) -> None:
        self.endpoints = {c.name: c.number_lookup_url for c in carriers if c.number_lookup_url}
        self.preference = preference
        self.settings = settings
        self.default_region = default_region
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.settings.concurrency))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def check(self, given: Sequence[str]) -> ScreeningResponse:
        """Request-level failures raise SmsError; a failed lookup is that number's UNKNOWN."""
        if not given:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "phone_numbers is empty")
        if len(given) > MAX_CHECK_NUMBERS:
            raise SmsError(ErrorCode.TOO_MANY_NUMBERS_TO_CHECK, f"{len(given):,} numbers")
        loop = asyncio.get_running_loop()
        started = loop.time()
        numbers: list[str] = []  # distinct, E.164, in the order given
        carriers: list[str] = []  # whose endpoint to ask for each ("" = none)
        index_of: dict[str, int] = {}  # the raw entry a number was first given as -> its index
        seen: set[str] = set()
        invalid: set[str] = set()
        duplicates = 0
        async for part in _chunks(given):
            recipients = dedupe(part, self.default_region)
            invalid.update(recipients.invalid)
            duplicates += len(recipients.duplicates)
            for number in recipients.numbers:
                if number in seen:  # given in an earlier chunk
                    duplicates += 1
                    continue
                seen.add(number)
                index_of[recipients.raw_of[number]] = len(numbers)
                numbers.append(number)
                carriers.append(lookup_carrier(self.preference(number), self.endpoints))
        states = [NumberState.UNKNOWN] * len(numbers)
        complete = await self._look_up_all(numbers, carriers, states, started + self.settings.deadline_s)
        results: list[NumberCheck] = []
        async for part in _chunks(given):
            for raw in part:
                i = index_of.pop(raw, None)
                if i is not None:
                    results.append(NumberCheck(raw, states[i], numbers[i], carriers[i]))
                elif raw in invalid:
                    invalid.discard(raw)  # one result per distinct entry
                    results.append(NumberCheck(raw, NumberState.INVALID))
        counts = counts_of(results)
        log.info("screening.checked", numbers=len(results), complete=complete,
                 seconds=round(loop.time() - started, 3), **msgspec.structs.asdict(counts))
        return ScreeningResponse(0, "OK", results, counts, duplicates, complete)

    async def _look_up_all(self, numbers: list[str], carriers: list[str], states: list[NumberState],
                           deadline: float) -> bool:
        """Fill `states` in place; False when the deadline (loop time) stopped the workers first."""
        todo: Iterator[int] = (i for i, carrier in enumerate(carriers) if carrier)

        async def work() -> None:
            # the workers share one iterator: each takes the next number when it is free
            for i in todo:
                states[i] = await self._look_up(carriers[i], numbers[i])

        workers = min(self.settings.concurrency, sum(1 for c in carriers if c))
        if not workers:
            return True
        try:
            async with asyncio.timeout_at(deadline):
                await asyncio.gather(*(work() for _ in range(workers)))
        except TimeoutError:
            return False
        return True

    async def _look_up(self, carrier: str, number: str) -> NumberState:
        session = self._session
        assert session is not None, "NumberScreening.start() first"
        async with self._slots:
            try:
                async with asyncio.timeout(self.settings.lookup_timeout_s):
                    async with session.get(lookup_url(self.endpoints[carrier], number),
                                           allow_redirects=False) as resp:
                        return state_of(resp.status, await _bounded_body(resp))
            # no answer: refused, reset, timed out, or a URL that cannot be used (InvalidURL is a ValueError)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return NumberState.UNKNOWN


async def _chunks(items: Sequence[str]) -> AsyncIterator[Sequence[str]]:
    """`items` a chunk at a time, yielding to the event loop between chunks: normalising, routing
    and answering 100,000 numbers is about a second of CPU, which sends must not wait behind."""
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]
        await asyncio.sleep(0)


async def _bounded_body(resp: aiohttp.ClientResponse) -> bytes:
    """At most MAX_ANSWER_BYTES + 1 bytes of the body: enough to tell an answer from a longer one."""
    body = b""
    while len(body) <= MAX_ANSWER_BYTES:
        chunk = await resp.content.read(MAX_ANSWER_BYTES + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return body
