"""Intake: one send request through every rule, ending in a durable accept and a queued dispatch."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import NamedTuple

import structlog

from smsengine.domain.accounts import AccountType
from smsengine.domain.content import SensitiveWords
from smsengine.domain.auth import SignedRequest
from smsengine.domain.errors import MESSAGES, ErrorCode, SmsError
from smsengine.domain.limits import RateLimiter, Reservation, SourceRateLimit
from smsengine.domain.numbers import Region, dedupe, region_of
from smsengine.domain.signatures import check_signature_use
from smsengine.domain.templates import MessageType, check_template_use, render
from smsengine.domain.text import Scheme, Segmentation, compose, segment
from smsengine.engine.accounts import Account, AccountRegistry
from smsengine.engine.authentication import Authenticator
from smsengine.domain.task_csv import RowProblem
from smsengine.engine.records import MessageRecord, TaskRecord
from smsengine.engine.requests import SendRequest, SendResponse, SendResult
from smsengine.engine.stats import IntakeStats
from smsengine.engine.store import Store
from smsengine.engine.store.writer import Statement
from smsengine.smpp.vendor_tlvs import encode_vendor_tlvs

log = structlog.get_logger("smsengine.intake")

MAX_NUMBERS = 200
MAX_SCHEDULE_AHEAD = 30 * 86400.0
_OK_MESSAGE = MESSAGES[ErrorCode.OK]
_SCHEME = {Region.MAINLAND: Scheme.DOMESTIC, Region.INTERNATIONAL: Scheme.GSM}

# accepted messages that share one text, segmented once; `done` (recovery only): segments a
# carrier already accepted, by message id
Dispatch = Callable[[list[MessageRecord], Segmentation, "dict[int, dict[int, tuple[str, str]]] | None"], None]


class _Admission(NamedTuple):
    """The per-number rules' verdict on a batch: a code per number (0 = admitted), the limiter's
    reservation, which of its items were kept (paid for), and the segments reserved."""

    codes: list[int]
    reservation: Reservation | None
    kept: list[int]
    reserved: int


def _state_refusal(account: Account) -> SmsError | None:
    """What the account's state says to a send or a task's next chunk: suspended for arrears, or
    disabled by the operator."""
    if account.state == "suspended":
        return SmsError(ErrorCode.SUSPENDED_ARREARS)
    if account.state != "active":
        return SmsError(ErrorCode.APP_DISABLED)
    return None


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
        dispatch_texts: Callable[[list[tuple[list[MessageRecord], Segmentation]]], None] | None = None,
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
        # many texts in one hand-off (a task's rows); by default one dispatch per text
        self.dispatch_texts = dispatch_texts or (lambda groups: [dispatch(r, seg, None) for r, seg in groups])
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
        refusal = _state_refusal(account)
        if refusal is not None:
            raise refusal
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

    def compose_text(self, req: SendRequest, account: Account, region: Region) -> tuple[str, int | None]:
        """The exact text a send puts on the wire to numbers of `region`: the template rendered
        with its parameters (or the raw content), the signature checked and added; and the
        template's id. Raises the send's refusal (1014, 1037, 1017, ...)."""
        body, template_id = self._body(req, account, region)
        signature = account.signatures.get(req.sign) if req.sign else None
        if req.sign and signature is None:
            raise SmsError(ErrorCode.SIGNATURE_NOT_APPROVED, f"unknown signature {req.sign!r}")
        check_signature_use(signature, region)
        return compose(body, signature.name if signature else None, _SCHEME[region]), template_id

    def check_text(self, text: str, region: Region) -> Segmentation:
        """The content rules on a composed text (sensitive words 1002, length 1012), then its
        segments: what is charged per number."""
        self.sensitive.check(text)
        return segment(text, _SCHEME[region], max_chars=self.max_chars)

    async def send(self, req: SendRequest, source: str = "", signed: SignedRequest | None = None, *,
                   caller: Account | None = None) -> SendResponse:
        """Request-level failures raise SmsError; per-recipient ones are results. `signed`: the
        request's HMAC credentials, when it came with them (else the body's sig is checked);
        `caller`: an account already authenticated (a console session), whose state still counts."""
        now = self.clock()
        self.stats.requests += 1
        if caller is not None:
            refusal = _state_refusal(caller)
            if refusal is not None:
                raise refusal
            account = caller
        else:
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
        text, template_id = self.compose_text(req, account, region)
        seg = self.check_text(text, region)  # the whole request: before anything is reserved or charged
        segments = seg.segments
        content_key = zlib.crc32(text.encode())

        results: list[SendResult] = []
        admitted = self._admit(account, numbers, [content_key] * len(numbers), [segments] * len(numbers),
                               region, now)
        accepted: list[str] = []
        for phone, code in zip(numbers, admitted.codes):
            if code:
                results.append(self._reject(raw_of[phone], ErrorCode(code)))
            else:
                accepted.append(phone)
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
        await self._store(account, records, admitted)
        self.dispatch(records, seg, None)
        for mid, phone in zip(ids, accepted):
            results.append(
                SendResult(phone=raw_of[phone], code=0, message=_OK_MESSAGE, message_id=str(mid),
                           chars=seg.chars, segments=segments, fee=segments)
            )
        return results

    def _admit(self, account: Account, phones: list[str], content_keys: list[int], segments: list[int],
               region: Region, now: float) -> _Admission:
        """The per-number rules, in order: unsubscribed, rate limits, balance (each admitted number
        reserves its segments). codes[i] == 0: admitted; a refused number consumes nothing."""
        codes = [0] * len(phones)
        unsubscribed = account.unsubscribed
        candidates: list[int] = []
        for i, phone in enumerate(phones):
            if phone in unsubscribed:
                codes[i] = ErrorCode.UNSUBSCRIBED
            else:
                candidates.append(i)
        if not candidates:
            return _Admission(codes, None, [], 0)
        reservation = self.limiter.reserve(
            account.app_id, [(phones[i], content_keys[i]) for i in candidates], now,
            international=region is Region.INTERNATIONAL,
        )
        unpaid: list[int] = []
        kept: list[int] = []
        reserved = 0
        limited = self.on_limited
        for j, (i, code) in enumerate(zip(candidates, reservation.codes)):
            if code:
                codes[i] = code
                if limited is not None:
                    limited(account.app_id, phones[i], code, now)
            elif account.available < segments[i]:
                unpaid.append(j)
                codes[i] = ErrorCode.BALANCE_EXHAUSTED
            else:
                account.available -= segments[i]
                reserved += segments[i]
                kept.append(j)
        if unpaid:
            self.limiter.release(reservation, unpaid)
        return _Admission(codes, reservation, kept, reserved)

    async def _store(self, account: Account, records: list[MessageRecord], *admissions: _Admission,
                     together: tuple[Statement, ...] = ()) -> None:
        """Accept durably; if the store fails, nothing is accepted: balance and limits go back."""
        try:
            await self.store.accept(records, together)
        except Exception:
            for admitted in admissions:
                account.available += admitted.reserved
                if admitted.reservation is not None:
                    self.limiter.release(admitted.reservation, admitted.kept)
            raise SmsError(ErrorCode.INTERNAL, "store unavailable") from None

    async def accept_rows(self, account: Account, task: TaskRecord, rows: list[tuple[int, str, tuple[str, ...]]],
                          last_line: int, done: bool, dropped: list[RowProblem] | None = None) -> int:
        """A chunk of a bulk task's rows (line, E.164, params) through the rules of a send: each row
        rendered with its own parameters, then unsubscribe, limits and balance per number. The rows
        refused are recorded with their line and reason, together with the messages and the task's
        progress (up to `last_line`; `done`: this is the last chunk) and the rows the caller `dropped`,
        in one commit. Returns how many were accepted."""
        now = self.clock()
        problems: list[RowProblem] = list(dropped or ())
        template = account.templates.get(task.template_id)
        signature = account.signatures.get(task.sign) if task.sign else None
        refusal = self._task_refusal(account, template, signature, task)
        by_region: dict[Region, list[tuple[int, str, tuple[str, ...]]]] = {}
        for row in rows:
            if refusal is not None:
                problems.append(RowProblem(row[0], row[1], int(refusal.code), refusal.message))
            else:
                by_region.setdefault(region_of(row[1]), []).append(row)
        records: list[MessageRecord] = []
        admissions: list[_Admission] = []
        groups: dict[str, tuple[list[MessageRecord], Segmentation]] = {}
        for region, group in by_region.items():
            try:
                check_template_use(template, MessageType(task.type), region, account.type)
                check_signature_use(signature, region)
            except SmsError as exc:
                problems.extend(RowProblem(line, phone, int(exc.code), exc.message) for line, phone, _ in group)
                continue
            scheme = _SCHEME[region]
            rendered: list[tuple[int, str, str, Segmentation]] = []
            texts: dict[tuple[str, ...], tuple[str, Segmentation] | SmsError] = {}
            for line, phone, params in group:
                made = texts.get(params)
                if made is None:
                    try:
                        body = render(template.compiled, list(params), account_type=account.type)
                        text = compose(body, signature.name if signature else None, scheme)
                        made = (text, self.check_text(text, region))
                    except SmsError as exc:
                        made = exc
                    texts[params] = made
                if isinstance(made, SmsError):
                    problems.append(RowProblem(line, phone, int(made.code), made.message))
                else:
                    rendered.append((line, phone, *made))
            admitted = self._admit(account, [r[1] for r in rendered], [zlib.crc32(r[2].encode()) for r in rendered],
                                   [r[3].segments for r in rendered], region, now)
            admissions.append(admitted)
            accepted = [r for r, code in zip(rendered, admitted.codes) if not code]
            problems.extend(RowProblem(line, phone, code, MESSAGES[ErrorCode(code)])
                            for (line, phone, _, _), code in zip(rendered, admitted.codes) if code)
            for mid, (line, phone, text, seg) in zip(self.ids.take(len(accepted)), accepted):
                record = MessageRecord(
                    id=mid, app_id=account.app_id, phone=phone, content=text, type=task.type, chars=seg.chars,
                    segments=seg.segments, data_coding=seg.data_coding, created_at=now, context=task.context,
                    template_id=task.template_id, callback_url=task.callback_url, task_id=task.id)
                records.append(record)
                key = f"{scheme.name}:{text}"
                if key not in groups:
                    groups[key] = ([], seg)
                groups[key][0].append(record)
        problems.sort(key=lambda p: p.line)
        await self._store(account, records, *admissions,
                          together=self.store.task_import_statements(task.id, last_line, done, problems))
        self.dispatch_texts(list(groups.values()))
        return len(records)

    def _task_refusal(self, account: Account, template, signature, task: TaskRecord) -> SmsError | None:
        """What stops every row of a task at once: the account's state, a template or signature
        gone (or no longer approved) since the task was created."""
        refusal = _state_refusal(account)
        if refusal is not None:
            return refusal
        if template is None:
            return SmsError(ErrorCode.TEMPLATE_MISMATCH, f"no template {task.template_id}")
        if task.sign and signature is None:
            return SmsError(ErrorCode.SIGNATURE_NOT_APPROVED, f"unknown signature {task.sign!r}")
        return None

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
