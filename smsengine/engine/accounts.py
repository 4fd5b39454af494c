"""Accounts at run time: keys, balances, signatures, templates and unsubscribe lists in memory,
loaded from the store at start and written back through it."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta, timezone

import msgspec
import structlog

from smsengine.config import AccountConfig, LimitsConfig
from smsengine.domain.accounts import BALANCE_MAX, AccountType
from smsengine.domain.auth import AuthScheme
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.content import SensitiveWords, check_not_neutral
from smsengine.domain.limits import LimitPolicy
from smsengine.domain.numbers import normalise
from smsengine.domain.review import ReviewStatus
from smsengine.domain.signatures import Signature
from smsengine.domain.templates import MessageType, Template, TemplateRegion, parse_template
from smsengine.domain.text import refuse_nul
from smsengine.engine.store import AccountRow, Store, TemplateRow

log = structlog.get_logger("smsengine.accounts")


class Account:
    """One app. `available` is the balance less segments reserved by accepted, unsent messages;
    the stored balance only drops when a segment is charged at submit."""

    __slots__ = (
        "app_id", "key", "type", "raw_content", "available", "state", "utc_offset_minutes",
        "receipt_url", "signatures", "templates", "unsubscribed", "policy", "auth_scheme", "reply_url",
    )

    def __init__(self, app_id: str, key: str, type: AccountType, raw_content: bool, balance: int,
                 state: str, utc_offset_minutes: int, receipt_url: str, policy: LimitPolicy,
                 auth_scheme: AuthScheme = AuthScheme.SIG, reply_url: str = "") -> None:
        self.app_id = app_id
        self.reply_url = reply_url
        self.key = key
        self.type = type
        self.raw_content = raw_content
        self.available = balance
        self.state = state
        self.utc_offset_minutes = utc_offset_minutes
        self.receipt_url = receipt_url
        self.signatures: dict[str, Signature] = {}
        self.templates: dict[int, Template] = {}
        self.unsubscribed: set[str] = set()
        self.policy = policy
        self.auth_scheme = auth_scheme

    @property
    def zone(self) -> timezone:
        """The account's own time zone: its days, and the times its pages show and read."""
        return timezone(timedelta(minutes=self.utc_offset_minutes))


def policy_from(limits: LimitsConfig, utc_offset_minutes: int, default_region: str) -> LimitPolicy:
    allow = frozenset(n for n in (normalise(x, default_region) for x in limits.allow_list) if n)
    return LimitPolicy(
        same_content_max=limits.same_content_max,
        same_content_window=limits.same_content_window_s,
        daily_max=limits.daily_max,
        hourly_max=limits.hourly_max,
        international_daily_max=limits.international_daily_max,
        utc_offset_minutes=utc_offset_minutes,
        allow_list=allow,
        alarm_threshold=limits.alarm_threshold,
    )


def template_from_row(row: TemplateRow) -> Template:
    return Template(
        id=row.id, account=row.app_id, text=row.text, type=row.type, region=row.region,
        compiled=parse_template(row.text), status=row.status, remark=row.remark, name=row.name, note=row.note,
    )


def row_from_config(cfg: AccountConfig) -> AccountRow:
    """A new account's row: the legacy sig unless the config names a scheme."""
    return AccountRow(cfg.app_id, cfg.key, AccountType(cfg.type), cfg.raw_content, cfg.balance, "active",
                      cfg.utc_offset_minutes, cfg.receipt_url, AuthScheme(cfg.auth_scheme or AuthScheme.SIG),
                      cfg.limits, cfg.reply_url)


class AccountRegistry:
    def __init__(self, store: Store, default_region: str, *, sensitive: SensitiveWords | None = None,
                 neutral: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.default_region = default_region
        self.sensitive = sensitive or SensitiveWords([])  # refused in new templates (1002)
        self.neutral = neutral  # signature names refused as neutral (1041)
        self.accounts: dict[str, Account] = {}
        self.policies: dict[str, LimitPolicy] = {}
        self.limits: dict[str, LimitsConfig] = {}  # as stored: what policies are made from
        self._alarm_urls: dict[str, str] = {}
        # accounts are created one at a time: the exists check and the seeding of a new one (its
        # template ids are checked against other accounts') must not interleave with another's
        self._creating = asyncio.Lock()

    def get(self, app_id: str) -> Account:
        account = self.accounts.get(app_id)
        if account is None:
            raise SmsError(ErrorCode.APP_NOT_FOUND, app_id)
        return account

    def alarm_url(self, app_id: str) -> str:
        """Where the account's daily-threshold alarm is POSTed ("" = only the log and the metric)."""
        return self._alarm_urls.get(app_id, "")

    # -- start --------------------------------------------------------------------------------------
    async def seed(self, seeds: list[AccountConfig]) -> None:
        """Create configured accounts that do not exist yet; existing ones keep their stored
        balance, state and (unless the config names one) auth scheme, but key, type and limits
        follow the config. An empty app id or key is refused (empty credentials must not match), and
        one holding a NUL.
        A seed that could never be sent with fails the start (or the account's creation) before
        anything is written: a template that does not parse, a NUL in a template or signature name."""
        now = time.time()
        for cfg in seeds:
            if not cfg.app_id or not cfg.key:
                raise SmsError(ErrorCode.REQUEST_MALFORMED, "an account's app_id and key must not be empty")
            if "\x00" in cfg.app_id or "\x00" in cfg.key:
                raise SmsError(ErrorCode.REQUEST_MALFORMED,
                               "an account's app_id and key must not hold a NUL character (U+0000)")
            for sig in cfg.signatures:
                refuse_nul(sig.name, ErrorCode.SIGNATURE_INVALID)
            for tpl in cfg.templates:
                refuse_nul(tpl.text, ErrorCode.TEMPLATE_INVALID)
                parse_template(tpl.text)
        for cfg in seeds:
            row = row_from_config(cfg)
            if not await self.store.insert_account(row, now):
                await self.store.update_account_seed(row, AuthScheme(cfg.auth_scheme) if cfg.auth_scheme else None)
            for sig in cfg.signatures:
                await self.store.insert_signature(cfg.app_id, sig.name, ReviewStatus(sig.status), now)
            for tpl in cfg.templates:
                owner = await self.store.template_owner(tpl.id)
                if owner is not None and owner != cfg.app_id:
                    raise SmsError(ErrorCode.TEMPLATE_INVALID,
                                   f"template id {tpl.id} of account {cfg.app_id} belongs to {owner}")
                await self.store.insert_template(cfg.app_id, tpl.text, MessageType(tpl.type),
                                                 TemplateRegion(tpl.region), ReviewStatus(tpl.status), now,
                                                 template_id=tpl.id)

    async def load(self, only: str | None = None) -> None:
        """Build the in-memory accounts from the store (all of them, or just `only`)."""
        rows = await self.store.account_rows(only)
        for r in rows:
            # everything about limits lives in the store: configured accounts wrote theirs at seed
            limits = self.limits[r.app_id] = r.limits or LimitsConfig()
            policy = self.policies[r.app_id] = policy_from(limits, r.utc_offset_minutes, self.default_region)
            self._alarm_urls[r.app_id] = limits.alarm_url
            self.accounts[r.app_id] = Account(r.app_id, r.key, r.type, r.raw_content, r.balance, r.state,
                                              r.utc_offset_minutes, r.receipt_url, policy, r.auth_scheme, r.reply_url)
        for sig in await self.store.signature_rows(only):
            if sig.app_id in self.accounts:
                self.accounts[sig.app_id].signatures[sig.name] = Signature(
                    id=sig.id, account=sig.app_id, name=sig.name, status=sig.status, remark=sig.remark
                )
        for tpl in await self.store.template_rows(only):
            if tpl.app_id in self.accounts:
                self.accounts[tpl.app_id].templates[tpl.id] = template_from_row(tpl)
        for unsubscribed in await self.store.unsubscribe_rows(only):
            if unsubscribed.app_id in self.accounts:
                self.accounts[unsubscribed.app_id].unsubscribed.add(unsubscribed.phone)
        # segments of accepted-but-unsent messages are still reserved against the balance
        for app_id, reserved in (await self.store.reserved_segments_by_account(only)).items():
            if app_id in self.accounts:
                self.accounts[app_id].available -= reserved
        log.info("accounts.loaded", accounts=len(rows))

    # -- management (operator and account API) --------------------------------------------------------
    async def create_account(self, cfg: AccountConfig) -> Account:
        """A new account described like a configured one (limits, reviewed signatures and
        templates); REQUEST_MALFORMED if the app_id exists."""
        async with self._creating:
            if cfg.app_id in self.accounts:
                raise SmsError(ErrorCode.REQUEST_MALFORMED, f"account {cfg.app_id} exists")
            await self.seed([cfg])
            await self.load(only=cfg.app_id)
        return self.accounts[cfg.app_id]

    async def set_limits(self, app_id: str, limits: LimitsConfig) -> LimitPolicy:
        """Durable first; returns the account's new policy (the caller puts it in force)."""
        account = self.get(app_id)
        await self.store.set_limits(app_id, limits)
        self.limits[app_id] = limits
        policy = self.policies[app_id] = account.policy = policy_from(limits, account.utc_offset_minutes,
                                                                      self.default_region)
        self._alarm_urls[app_id] = limits.alarm_url
        return policy

    async def set_reply_url(self, app_id: str, url: str) -> None:
        await self.store.set_reply_url(app_id, url)
        self.get(app_id).reply_url = url

    async def set_receipt_url(self, app_id: str, url: str) -> None:
        await self.store.set_receipt_url(app_id, url)
        self.get(app_id).receipt_url = url

    async def set_auth_scheme(self, app_id: str, scheme: AuthScheme) -> None:
        """Durable first: once this returns, requests are checked under the new scheme."""
        await self.store.set_auth_scheme(app_id, scheme)
        self.get(app_id).auth_scheme = scheme

    async def set_state(self, app_id: str, state: str) -> None:
        await self.store.set_state(app_id, state)
        self.get(app_id).state = state

    async def add_balance(self, app_id: str, segments: int) -> None:
        """Top up (negative: take back); the stored balance must stay within BALANCE_MAX."""
        account = self.get(app_id)
        stored = await self.store.balance_of(app_id) or 0
        if abs(stored + segments) > BALANCE_MAX:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, f"the balance would leave ±{BALANCE_MAX}")
        await self.store.add_balance(app_id, segments)
        account.available += segments
        if account.state == "suspended" and stored + segments > 0:
            # topped up out of arrears: it resumes at once, not at the next check
            await self.store.set_arrears_since(app_id, None)
            await self.set_state(app_id, "active")

    async def check_arrears(self, now: float, grace_s: float) -> list[str]:
        """Suspend (1033) every account whose stored balance has stayed <= 0 for `grace_s`, and
        resume every suspended one back in credit; returns the app ids whose state changed."""
        changed = []
        for app_id, balance, state, since in await self.store.arrears():
            if app_id not in self.accounts:
                continue
            if balance <= 0:
                if since is None:
                    await self.store.set_arrears_since(app_id, now)
                elif state == "active" and now - since >= grace_s:
                    await self.set_state(app_id, "suspended")
                    log.warning("accounts.suspended_for_arrears", app_id=app_id, balance=balance,
                                since=since)
                    changed.append(app_id)
            else:
                if since is not None:
                    await self.store.set_arrears_since(app_id, None)
                if state == "suspended":
                    await self.set_state(app_id, "active")
                    log.info("accounts.resumed", app_id=app_id, balance=balance)
                    changed.append(app_id)
        return changed

    def refund(self, app_id: str, segments: int) -> None:
        """Segments reserved at accept and never charged (the message failed before they were
        submitted) go back to what the account may spend; the stored balance never lost them."""
        account = self.accounts.get(app_id)
        if account is not None and segments > 0:
            account.available += segments

    def find_signature(self, sid: int) -> Signature:
        for account in self.accounts.values():
            for sig in account.signatures.values():
                if sig.id == sid:
                    return sig
        raise SmsError(ErrorCode.NOT_FOUND, f"no signature {sid}")

    def find_template(self, tid: int) -> Template:
        for account in self.accounts.values():
            if tid in account.templates:
                return account.templates[tid]
        raise SmsError(ErrorCode.NOT_FOUND, f"no template {tid}")

    async def add_signature(self, sig: Signature) -> Signature:
        """Store a new signature (its id is ignored); SIGNATURE_INVALID if the name is taken or
        too neutral to identify a sender."""
        account = self.get(sig.account)
        check_not_neutral(sig.name, self.neutral)
        sid = await self.store.insert_signature(sig.account, sig.name, sig.status, time.time())
        if sid is None:
            raise SmsError(ErrorCode.SIGNATURE_INVALID, f"signature {sig.name!r} exists")
        sig = msgspec.structs.replace(sig, id=sid)
        account.signatures[sig.name] = sig
        return sig

    async def save_signature_review(self, sig: Signature) -> Signature:
        """Store a reviewer's decision (made by the domain's approve/reject)."""
        await self.store.update_signature_review(sig.id, sig.status, sig.remark)
        self.get(sig.account).signatures[sig.name] = sig
        return sig

    async def add_template(self, tpl: Template) -> Template:
        """Store a new template under the next free id (its own id is ignored); SENSITIVE_CONTENT
        if its text has a sensitive word."""
        account = self.get(tpl.account)
        self.sensitive.check(tpl.text)
        tid = await self.store.insert_template(tpl.account, tpl.text, tpl.type, tpl.region, tpl.status, time.time(),
                                               name=tpl.name, note=tpl.note)
        assert tid is not None  # no id given, so none can be taken
        tpl = msgspec.structs.replace(tpl, id=tid)
        account.templates[tid] = tpl
        return tpl

    async def save_template_edit(self, tpl: Template) -> Template:
        """Store an edited template (made by the domain's edit_template: pending again)."""
        self.sensitive.check(tpl.text)
        await self.store.update_template_text(tpl.id, tpl.text, tpl.status, tpl.name, tpl.note)
        self.get(tpl.account).templates[tpl.id] = tpl
        return tpl

    async def save_signature_edit(self, old: Signature, new: Signature) -> Signature:
        """Store a renamed signature (made by the domain's rename_signature: pending again);
        SIGNATURE_INVALID if the account has that name already or it is too neutral."""
        check_not_neutral(new.name, self.neutral)
        if not await self.store.update_signature_name(new.id, new.name, new.status):
            raise SmsError(ErrorCode.SIGNATURE_INVALID, f"signature {new.name!r} exists")
        signatures = self.get(new.account).signatures
        signatures.pop(old.name, None)
        signatures[new.name] = new
        return new

    async def save_template_review(self, tpl: Template) -> Template:
        """Store a reviewer's decision (made by the domain's approve/reject)."""
        await self.store.update_template_review(tpl.id, tpl.status, tpl.remark)
        self.get(tpl.account).templates[tpl.id] = tpl
        return tpl

    # -- unsubscribe lists: the in-memory set decides at once, the store follows with the next commit --
    def unsubscribe(self, app_id: str, phone: str) -> bool:
        account = self.accounts.get(app_id)
        if account is None or phone in account.unsubscribed:
            return False
        account.unsubscribed.add(phone)
        self.store.add_unsubscribe(app_id, phone, time.time())
        return True

    def resubscribe(self, app_id: str, phone: str) -> bool:
        account = self.get(app_id)
        if phone not in account.unsubscribed:
            return False
        account.unsubscribed.discard(phone)
        self.store.remove_unsubscribe(app_id, phone)
        return True
