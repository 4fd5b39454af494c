"""Intake: one send request through every rule, ending in a durable accept and a queued dispatch."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

import structlog

from smsengine.domain.accounts import AccountType
from smsengine.domain.content import SensitiveWords
from smsengine.domain.auth import SignedRequest
from smsengine.domain.errors import MESSAGES, ErrorCode, SmsError
from smsengine.domain.limits import RateLimiter, SourceRateLimit
from smsengine.domain.numbers import Region, dedupe, region_of
from smsengine.domain.signatures import check_signature_use
from smsengine.domain.templates import MessageType, check_template_use, render
from smsengine.domain.text import Scheme, Segmentation, compose, segment
from smsengine.engine.accounts import Account, AccountRegistry
from smsengine.engine.authentication import Authenticator
from smsengine.engine.records import MessageRecord
from smsengine.engine.requests import SendRequest, SendResponse, SendResult
from smsengine.engine.stats import IntakeStats
from smsengine.engine.store import Store
from smsengine.smpp.vendor_tlvs import encode_vendor_tlvs

log = structlog.get_logger("smsengine.intake")

MAX_NUMBERS = 200
MAX_SCHEDULE_AHEAD = 30 * 86400.0
_OK_MESSAGE = MESSAGES[ErrorCode.OK]
_SCHEME = {Region.MAINLAND: Scheme.DOMESTIC, Region.INTERNATIONAL: Scheme.GSM}

# accepted messages that share one text, segmented once; `done` (recovery only): segments a
# carrier already accepted, by message id
Dispatch = Callable[[list[MessageRecord], Segmentation, "dict[int, dict[int, tuple[str, str]]] | None"], None]


class MessageIds:
    """Engine message ids: increasing integers, resumed from the store at start."""

    __slots__ = ("_next",)

    def __init__(self, start: int) -> None:
        self._next = start + 1

    def take(self, n: int) -> range:
        first = self._next
        self._next += n
        return range(first, first + n)


class Intake:
    def __init__(
        self,
        accounts: AccountRegistry,
        store: Store,
        limiter: RateLimiter,
        ids: MessageIds,
        dispatch: Dispatch,
        auth: Authenticator,
        *,
        default_region: str = "CN",
        max_chars: int = 500,
        source_limit: SourceRateLimit | None = None,
        open_messages: Callable[[], int] = lambda: 0,
        max_open: int = 500_000,
        sensitive: SensitiveWords | None = None,
        on_limited: Callable[[str, str, int, float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.store = store
        self.limiter = limiter
        self.ids = ids
        self.dispatch = dispatch
        self.default_region = default_region
        self.max_chars = max_chars
        self.auth = auth  # credentials, and the replay window (persisted)
        self.source_limit = source_limit
        # messages accepted and not final, and their bound: what keeps memory bounded when
        # carriers fall behind (the queues in front of them hold these)
        self.open_messages = open_messages
        self.max_open = max_open
        self.sensitive = sensitive or SensitiveWords([])
        self.on_limited = on_limited  # (app_id, number, code, now) of each recipient a limit refused
        self.clock = clock
        self.stats = IntakeStats()

    def _authenticate(self, req: SendRequest, signed: SignedRequest | None, now: float) -> Account:
        if signed is not None:
            account = self.auth.signed(signed, now)
            if req.app_id and req.app_id != account.app_id:
                raise SmsError(ErrorCode.REQUEST_MALFORMED, "app_id differs from the Authorization AppId")
        else:
            missing = [name for name in ("app_id", "random", "time") if getattr(req, name) in ("", None)]
            if missing:
                raise SmsError(ErrorCode.REQUEST_MALFORMED,
                               f"{', '.join(missing)} required (or an Authorization header)")
            assert req.random is not None and req.time is not None
            account = self.auth.legacy(req.app_id, req.random, req.time, req.phone_numbers, req.sig, now)
        if account.state == "suspended":
            raise SmsError(ErrorCode.SUSPENDED_ARREARS)
        if account.state != "active":
            raise SmsError(ErrorCode.APP_DISABLED)
        return account

    def _body(self, req: SendRequest, account: Account, region: Region) -> tuple[str, int | None]:
        request_type = MessageType(req.type)
        if req.template_id is not None:
            if req.content is not None:
                raise SmsError(ErrorCode.REQUEST_MALFORMED, "give template_id or content, not both")
            template = account.templates.get(req.template_id)
            if template is None:
                raise SmsError(ErrorCode.TEMPLATE_MISMATCH, f"no template {req.template_id}")
            check_template_use(template, request_type, region, account.type)
            return render(template.compiled, req.params, account_type=account.type), template.id
        if req.content is None:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "template_id or content is required")
        if not account.raw_content:
            raise SmsError(ErrorCode.NO_PERMISSION, "raw content is not enabled for this account")
        if account.type is AccountType.INDIVIDUAL and request_type is MessageType.MARKETING:
            raise SmsError(ErrorCode.INDIVIDUAL_NO_MARKETING)
        return req.content, None

    async def send(self, req: SendRequest, source: str = "", signed: SignedRequest | None = None) -> SendResponse:
        """Request-level failures raise SmsError; per-recipient ones are results. `signed`: the
        request's HMAC credentials, when it came with them (else the body's sig is checked)."""
        now = self.clock()
        self.stats.requests += 1
        account = self._authenticate(req, signed, now)
        given = req.phone_numbers
        if not given:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "phone_numbers is empty")
        if len(given) > MAX_NUMBERS:
            raise SmsError(ErrorCode.TOO_MANY_NUMBERS, f"{len(given)} numbers")
        if self.open_messages() + len(given) > self.max_open:
            self.stats.busy += 1
            raise SmsError(ErrorCode.ENGINE_BUSY, f"{self.max_open:,} messages are open")
        if req.schedule_at is not None and req.schedule_at > now + MAX_SCHEDULE_AHEAD:
            # a send far in the future would hold its balance reservation all that time
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "schedule_at is more than 30 days ahead")
        if self.source_limit is not None and source:
            code = self.source_limit.admit(source, now, float(len(given)))
            if code:
                raise SmsError(code)
        recipients = dedupe(given, self.default_region)
        numbers = recipients.numbers
        regions = {region_of(n) for n in numbers}
        if len(regions) > 1:
            raise SmsError(ErrorCode.MIXED_REGIONS)
        results: list[SendResult] = [
            SendResult(phone=raw, code=ErrorCode.NUMBER_INVALID, message=MESSAGES[ErrorCode.NUMBER_INVALID])
            for raw in recipients.invalid
        ]
        if numbers:
            results.extend(await self._accept(req, account, numbers, recipients.raw_of, regions.pop(), now))
        # one result per distinct entry, in the order the caller gave them
        by_raw = {r.phone: r for r in results}
        ordered = []
        for raw in given:
            result = by_raw.pop(raw, None)
            if result is not None:
                ordered.append(result)
        return SendResponse(
            code=0,
            message=_OK_MESSAGE,
            results=ordered,
            duplicates=len(recipients.duplicates),
            duplicate_numbers=recipients.duplicates,
        )

    async def _accept(self, req, account: Account, numbers: list[str], raw_of: dict[str, str],
                      region: Region, now: float) -> list[SendResult]:
        body, template_id = self._body(req, account, region)
        signature = account.signatures.get(req.sign) if req.sign else None
        if req.sign and signature is None:
            raise SmsError(ErrorCode.SIGNATURE_NOT_APPROVED, f"unknown signature {req.sign!r}")
        check_signature_use(signature, region)
        scheme = _SCHEME[region]
        text = compose(body, signature.name if signature else None, scheme)
        self.sensitive.check(text)  # the whole request: before anything is reserved or charged
        seg = segment(text, scheme, max_chars=self.max_chars)
        segments = seg.segments
        content_key = zlib.crc32(text.encode())

        results: list[SendResult] = []
        unsubscribed = account.unsubscribed
        candidates: list[str] = []
        for phone in numbers:
            if phone in unsubscribed:
                results.append(self._reject(raw_of[phone], ErrorCode.UNSUBSCRIBED))
            else:
                candidates.append(phone)
        if not candidates:
            return results
        reservation = self.limiter.reserve(
            account.app_id, [(p, content_key) for p in candidates], now,
            international=region is Region.INTERNATIONAL,
        )
        accepted: list[str] = []
        unpaid: list[int] = []
        limited = self.on_limited
        for i, (phone, code) in enumerate(zip(candidates, reservation.codes)):
            if code:
                results.append(self._reject(raw_of[phone], ErrorCode(code)))
                if limited is not None:
                    limited(account.app_id, phone, code, now)
            elif account.available < segments:
                unpaid.append(i)
                results.append(self._reject(raw_of[phone], ErrorCode.BALANCE_EXHAUSTED))
            else:
                account.available -= segments
                accepted.append(phone)
        if unpaid:
            self.limiter.release(reservation, unpaid)
        if not accepted:
            return results

        ids = self.ids.take(len(accepted))
        scheduled = req.schedule_at if req.schedule_at and req.schedule_at > now else None
        tlvs = encode_vendor_tlvs(req.tlvs)  # once per request, shared by its messages
        records = [
            MessageRecord(
                id=mid, app_id=account.app_id, phone=phone, content=text, type=req.type,
                chars=seg.chars, segments=segments, data_coding=seg.data_coding, created_at=now,
                scheduled_at=scheduled, context=req.context, template_id=template_id, tlvs=tlvs,
                callback_url=req.callback_url,
            )
            for mid, phone in zip(ids, accepted)
        ]
        try:
            await self.store.accept(records)
        except Exception:
            # not durable, so not accepted: give back balance and limits, fail the request
            account.available += segments * len(records)
            self.limiter.release(reservation, [i for i, c in enumerate(reservation.codes) if c == 0])
            raise SmsError(ErrorCode.INTERNAL, "store unavailable") from None
        self.dispatch(records, seg, None)
        for mid, phone in zip(ids, accepted):
            results.append(
                SendResult(phone=raw_of[phone], code=0, message=_OK_MESSAGE, message_id=str(mid),
                           chars=seg.chars, segments=segments, fee=segments)
            )
        return results

    def resume(self, pending: list[tuple[MessageRecord, dict[int, tuple[str, str]]]]) -> int:
        """Dispatch messages accepted before a restart and not final: each distinct text is
        segmented once, as at accept. Returns how many were partly sent already."""
        groups: dict[str, list[MessageRecord]] = {}
        done: dict[int, dict[int, tuple[str, str]]] = {}
        for record, sent in pending:
            groups.setdefault(record.content, []).append(record)
            if sent:
                done[record.id] = sent
        for text, records in groups.items():
            by_scheme: dict[Scheme, list[MessageRecord]] = {}
            for record in records:
                by_scheme.setdefault(_SCHEME[region_of(record.phone)], []).append(record)
            for scheme, same in by_scheme.items():
                seg = segment(text, scheme, max_chars=max(self.max_chars, len(text)))
                self.dispatch(same, seg, done)
        return len(done)

    def _reject(self, phone: str, code: ErrorCode) -> SendResult:
        rejections = self.stats.rejections
        rejections[code] = rejections.get(code, 0) + 1
        return SendResult(phone=phone, code=int(code), message=MESSAGES[code])
