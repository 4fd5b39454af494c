"""In-memory rate limits per account and per source (SPEC §4): pure rules over injected time.

Time is always passed in as `now` (unix seconds); nothing here reads a clock. If `now` goes
backwards (an NTP step, two hosts' clocks) it is treated as the latest time seen: windows only
ever look older than they are, never younger, so a clock step can delay sends but can never
let more through than the limits allow, and expired generations are never brought back.

Memory is bounded by expiry in whole generations rather than per entry: daily counts live in
one dict per local day, hourly counts in one dict per local hour, the same-content window in
two dicts of W-second buckets (the current and the previous one). When time moves on, old
dicts are dropped wholesale, so no sweep over millions of entries is ever needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import msgspec

from smsengine.domain.errors import ErrorCode

_DAY = 86400
_HOUR = 3600
# The same-content window is measured in ticks of W/240 s (0.125 s for 30 s). Stored ticks are
# then small ints (<= 256), which CPython shares, so the window costs no per-entry int object.
# Ticks are rounded so that a send is never admitted early (it may be up to 2 ticks late).
_TICKS_PER_WINDOW = 240
_SLOT_BITS = 9  # one stored tick + 1 (1..241) per slot when same_content_max > 1
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_CONTENT_MASK = (1 << 64) - 1

OK = int(ErrorCode.OK)
_SAME = int(ErrorCode.SAME_CONTENT_LIMIT)
_HOURLY = int(ErrorCode.HOURLY_LIMIT)
_DAILY = int(ErrorCode.DAILY_LIMIT)
_INTL = int(ErrorCode.INTERNATIONAL_DAILY_LIMIT)


class LimitPolicy(msgspec.Struct, frozen=True):
    """One account's limits; defaults are the platform defaults of SPEC §4."""

    same_content_max: int = 1
    same_content_window: float = 30.0
    daily_max: int = 10
    hourly_max: int | None = None
    international_daily_max: int = 1000
    utc_offset_minutes: int = 480
    timezone: str | None = None  # an IANA zone; when set it wins over utc_offset_minutes
    allow_list: frozenset[str] = frozenset()  # E.164 numbers that bypass every limit
    alarm_threshold: int | None = None  # accepted messages per account per local day


class LocalCalendar:
    """Local day and hour indices of a unix time in one timezone; cheap on repeated calls."""

    __slots__ = ("_zone", "_offset", "_valid_from", "_valid_to")

    def __init__(self, utc_offset_minutes: int = 0, zone: str | None = None) -> None:
        self._zone = ZoneInfo(zone) if zone else None
        self._offset = utc_offset_minutes * 60
        # A zone's offset is recomputed once per UTC minute (DST changes on minute boundaries).
        self._valid_from = math.inf if self._zone is not None else -math.inf
        self._valid_to = math.inf

    def offset(self, now: float) -> int:
        if not self._valid_from <= now < self._valid_to:
            minute = math.floor(now / 60) * 60
            local = datetime.fromtimestamp(minute, tz=timezone.utc).astimezone(self._zone)
            delta = local.utcoffset()
            self._offset = int(delta.total_seconds()) if delta is not None else 0
            self._valid_from, self._valid_to = minute, minute + 60
        return self._offset

    def day(self, now: float) -> int:
        return math.floor((now + self.offset(now)) / _DAY)

    def hour(self, now: float) -> int:
        return math.floor((now + self.offset(now)) / _HOUR)


class Reservation:
    """Per-item outcome of one `reserve` call, and what `release` needs to roll it back."""

    __slots__ = (
        "account", "codes", "admitted", "alarm", "international",
        "_items", "_day", "_hour", "_bucket", "_slot", "_allow", "_released",
    )

    def __init__(
        self, account: str, items: Sequence[tuple[str, int]], codes: list[int], admitted: int,
        alarm: bool, international: bool, day: int, hour: int, bucket: int, slot: int,
        allow: set[int] | None,
    ) -> None:
        self.account = account
        self.codes = codes  # one per item: 0 admitted, else the ErrorCode value
        self.admitted = admitted  # items admitted by this call (releases do not change it)
        self.alarm = alarm  # this call took the account across its alarm threshold
        self.international = international
        self._items = items
        self._day = day
        self._hour = hour
        self._bucket = bucket
        self._slot = slot
        self._allow = allow  # the allow list in force at reserve time
        self._released: set[int] | None = None

    def admitted_indices(self) -> list[int]:
        return [i for i, code in enumerate(self.codes) if code == OK]


AlarmCallback = Callable[[str, int, int], None]  # (account, local day index, accepted today)


class _AccountState:
    __slots__ = (
        "policy", "calendar", "allow", "smax", "scale", "dmax", "hmax", "imax",
        "day", "daily", "intl_used", "accepted", "alarmed",
        "hour", "hourly", "bucket", "same", "same_prev",
    )

    def __init__(self, policy: LimitPolicy) -> None:
        self.policy = policy
        self.calendar = LocalCalendar(policy.utc_offset_minutes, policy.timezone)
        self.allow = {int(n) for n in policy.allow_list} or None
        self.smax = policy.same_content_max
        self.scale = _TICKS_PER_WINDOW / policy.same_content_window
        self.dmax = policy.daily_max
        self.hmax = policy.hourly_max
        self.imax = policy.international_daily_max
        self.day = -1
        self.daily: dict[int, int] = {}  # number -> messages admitted this local day
        self.intl_used = 0
        self.accepted = 0
        self.alarmed = False
        self.hour = -1
        self.hourly: dict[int, int] = {}  # number -> messages admitted this local hour
        self.bucket = -1
        self.same: dict[int, int] = {}  # (number << 64 | content) -> packed ticks, this bucket
        self.same_prev: dict[int, int] = {}  # the same for the previous bucket

    def advance(self, now: float) -> tuple[int, int, int, int, int]:
        """Roll generations forward to `now`; returns (day, hour, bucket, tick, slot).

        `tick` is a lower bound of now's tick (what checks compare against); `slot` is an upper
        bound of it relative to the bucket start, +1 so a slot is never 0 (what gets stored).
        Rounding both ways means float error can only make a send wait, never pass early.
        """
        day = self.calendar.day(now)
        if day != self.day:
            self.day, self.daily = day, {}
            self.intl_used = self.accepted = 0
            self.alarmed = False
        hour = self.calendar.hour(now) if self.hmax is not None else 0
        if hour != self.hour:
            self.hour, self.hourly = hour, {}
        ticks = now * self.scale
        floor_tick = math.floor(ticks)
        bucket = floor_tick // _TICKS_PER_WINDOW
        if bucket != self.bucket:
            self.same_prev = self.same if bucket == self.bucket + 1 else {}
            self.same = {}
            self.bucket = bucket
        slot = floor_tick + 2 - bucket * _TICKS_PER_WINDOW
        return day, hour, bucket, math.ceil(ticks) - 1, slot

    def entries(self) -> int:
        return len(self.daily) + len(self.hourly) + len(self.same) + len(self.same_prev)


def _same_content(current: int | None, previous: int | None, limit: int, tick: int,
                  prev_base: int, slot: int) -> int:
    """Packed slots for the current bucket after admitting one more send, or -1 if over limit.

    Slots hold stored tick + 1 relative to their bucket start. Every slot of the current bucket
    is within the window; a slot of the previous bucket is only if it is not provably W old.
    """
    recent = 0
    if previous is not None:
        while previous:
            if tick - (prev_base + (previous & _SLOT_MASK) - 1) < _TICKS_PER_WINDOW:
                recent += 1
            previous >>= _SLOT_BITS
    packed = current or 0
    shift = 0
    while packed >> shift:
        recent += 1
        shift += _SLOT_BITS
    if recent >= limit:
        return -1
    return packed | (slot << shift)


class RateLimiter:
    """Per-account limits of SPEC §4 with a batch API; one instance serves all accounts."""

    __slots__ = ("_policies", "_default", "_states", "_latest", "_on_alarm")

    def __init__(
        self,
        policies: Mapping[str, LimitPolicy] | None = None,
        default: LimitPolicy | None = None,
        on_alarm: AlarmCallback | None = None,
    ) -> None:
        self._policies = dict(policies or {})
        self._default = default or LimitPolicy()
        self._states: dict[str, _AccountState] = {}
        self._latest = -math.inf
        self._on_alarm = on_alarm

    def set_policy(self, account: str, policy: LimitPolicy) -> None:
        """Change an account's limits; its counts so far are kept."""
        self._policies[account] = policy
        old = self._states.pop(account, None)
        if old is not None:
            state = _AccountState(policy)
            for name in ("day", "daily", "intl_used", "accepted", "alarmed", "hour", "hourly"):
                setattr(state, name, getattr(old, name))
            if state.scale == old.scale:
                state.bucket, state.same, state.same_prev = old.bucket, old.same, old.same_prev
            if (state.hmax is None) != (old.hmax is None):
                state.hour, state.hourly = -1, {}
            self._states[account] = state

    def policy_of(self, account: str) -> LimitPolicy:
        return self._policies.get(account, self._default)

    def _clock(self, now: float) -> float:
        if now < self._latest:
            return self._latest
        self._latest = now
        return now

    def _state(self, account: str) -> _AccountState:
        state = self._states.get(account)
        if state is None:
            state = self._states[account] = _AccountState(self.policy_of(account))
        return state

    def reserve(
        self, account: str, items: Sequence[tuple[str, int]], now: float, international: bool,
        *, notify: bool = True,
    ) -> Reservation:
        """Check and count every (E.164 number, content key) item; codes[i] == 0 means admitted.

        Checks run from the shortest window to the longest (same content, hour, day,
        international per account); a rejected item consumes nothing. `notify=False` (replaying
        sends from before a restart) marks a crossed alarm threshold as raised without calling back.
        """
        now = self._clock(now)
        state = self._state(account)
        day, hour, bucket, tick, slot = state.advance(now)
        prev_base = (bucket - 1) * _TICKS_PER_WINDOW
        smax, dmax, hmax = state.smax, state.dmax, state.hmax
        allow = state.allow
        same, same_prev = state.same, state.same_prev
        same_get, prev_get = same.get, same_prev.get if same_prev else None
        daily = state.daily
        daily_get = daily.get
        hourly = state.hourly
        # -1: not international traffic, so the account's international quota is not consulted
        intl_left = max(0, state.imax - state.intl_used) if international else -1
        codes: list[int] = []
        append = codes.append
        mask = _CONTENT_MASK
        bypassed = 0  # allow-listed items: admitted, counted nowhere
        counted = 0
        for number, content in items:
            n = int(number)
            if allow is not None and n in allow:
                append(OK)
                bypassed += 1
                continue
            key = (n << 64) | (content & mask)
            current = same_get(key)
            previous = prev_get(key) if prev_get is not None else None
            if current is None and previous is None:
                packed = slot
            else:
                packed = _same_content(current, previous, smax, tick, prev_base, slot)
                if packed < 0:
                    append(_SAME)
                    continue
            if hmax is not None:
                in_hour = hourly.get(n, 0)
                if in_hour >= hmax:
                    append(_HOURLY)
                    continue
            in_day = daily_get(n, 0)
            if in_day >= dmax:
                append(_DAILY)
                continue
            if intl_left >= 0:
                if intl_left == 0:
                    append(_INTL)
                    continue
                intl_left -= 1
            if hmax is not None:
                hourly[n] = in_hour + 1
            daily[n] = in_day + 1
            same[key] = packed
            counted += 1
            append(OK)
        if international:
            state.intl_used += counted
        state.accepted += counted
        alarm = self._check_alarm(account, state, notify)
        return Reservation(
            account, items, codes, counted + bypassed, alarm, international,
            day, hour, bucket, slot, allow,
        )

    def check_and_reserve(
        self, account: str, number: str, content_key: int, now: float, international: bool,
    ) -> Reservation:
        """`reserve` for one item; the outcome is `codes[0]`."""
        return self.reserve(account, ((number, content_key),), now, international)

    def _check_alarm(self, account: str, state: _AccountState, notify: bool = True) -> bool:
        threshold = state.policy.alarm_threshold
        if threshold is None or state.alarmed or state.accepted < threshold:
            return False
        state.alarmed = True  # once per account per local day, even if releases dip below
        if notify and self._on_alarm is not None:
            self._on_alarm(account, state.day, state.accepted)
        return True

    def release(self, reservation: Reservation, indices: Sequence[int]) -> int:
        """Give back what admitted items of `reservation` consumed; returns how many were released.

        Items not admitted, allow-listed, or already released are skipped. State of a day, hour
        or bucket that has since expired is gone already and is left alone.
        """
        state = self._states.get(reservation.account)
        if state is None:
            return 0
        same_day = state.day == reservation._day
        same_hour = state.hmax is not None and state.hour == reservation._hour
        if state.bucket == reservation._bucket:
            same = state.same
        elif state.bucket == reservation._bucket + 1:
            same = state.same_prev
        else:
            same = None
        released = 0
        allow = reservation._allow or ()
        for index in indices:
            if reservation.codes[index] != OK:
                continue
            if reservation._released is None:
                reservation._released = set()
            elif index in reservation._released:
                continue
            reservation._released.add(index)
            number, content = reservation._items[index]
            n = int(number)
            if n in allow:
                continue
            if same_day:
                _decrement(state.daily, n)
            if same_hour:
                _decrement(state.hourly, n)
            if same is not None:
                _remove_slot(same, (n << 64) | (content & _CONTENT_MASK), reservation._slot)
            released += 1
        if same_day:
            state.accepted -= released
            if reservation.international:
                state.intl_used -= released
        return released

    def sweep(self, now: float) -> None:
        """Drop expired generations of every account, and accounts left with nothing tracked.

        `reserve` expires the calling account's state itself; the engine calls this now and then
        so that accounts that stopped sending do not keep yesterday's maps.
        """
        now = self._clock(now)
        for account, state in list(self._states.items()):
            state.advance(now)
            if state.entries() == 0 and state.accepted == 0 and state.intl_used == 0:
                del self._states[account]

    def tracked_entries(self) -> int:
        """Entries held in all per-number maps of all accounts (for tests and metrics)."""
        return sum(state.entries() for state in self._states.values())

    def tracked_accounts(self) -> int:
        return len(self._states)


def _decrement(counts: dict[int, int], key: int) -> None:
    value = counts.get(key, 0)
    if value > 1:
        counts[key] = value - 1
    elif value == 1:
        del counts[key]


def _remove_slot(same: dict[int, int], key: int, slot: int) -> None:
    packed = same.get(key)
    if packed is None:
        return
    kept, shift, removed = 0, 0, False
    while packed:
        value = packed & _SLOT_MASK
        packed >>= _SLOT_BITS
        if value == slot and not removed:
            removed = True
            continue
        kept |= value << shift
        shift += _SLOT_BITS
    if kept:
        same[key] = kept
    else:
        del same[key]


class SourceRateLimit:
    """Token bucket per source address against SMS bombing: `burst` at once, `rate` per second.

    A bucket left alone for burst/rate seconds is full again, which is the same as no entry,
    so buckets live in two generations of that length and older ones are dropped wholesale:
    memory is bounded by the sources seen in the last two refill periods.
    """

    __slots__ = ("rate", "burst", "_period", "_generation", "_current", "_previous", "_latest")

    def __init__(self, rate: float = 20.0, burst: float = 40.0) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._period = burst / rate
        self._generation = -1
        self._current: dict[str, tuple[float, float]] = {}  # source -> (tokens, at)
        self._previous: dict[str, tuple[float, float]] = {}
        self._latest = -math.inf

    def admit(self, source: str, now: float, cost: float = 1.0) -> ErrorCode:
        """Take `cost` tokens from `source`'s bucket; a refused request takes nothing."""
        if now < self._latest:
            now = self._latest
        self._latest = now
        generation = math.floor(now / self._period)
        if generation != self._generation:
            self._previous = self._current if generation == self._generation + 1 else {}
            self._current = {}
            self._generation = generation
        entry = self._current.get(source) or self._previous.pop(source, None)
        if entry is None:
            tokens = self.burst
        else:
            left, at = entry
            tokens = min(self.burst, left + (now - at) * self.rate)
        if tokens < cost:
            self._current[source] = (tokens, now)
            return ErrorCode.SOURCE_RATE_LIMITED
        self._current[source] = (tokens - cost, now)
        return ErrorCode.OK

    def tracked_sources(self) -> int:
        return len(self._current) + len(self._previous)
