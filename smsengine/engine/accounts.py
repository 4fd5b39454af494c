"""Accounts at run time: keys, balances, signatures, templates and unsubscribe lists in memory,
loaded from the store at start and written back through it."""

from __future__ import annotations

import time

import structlog

from smsengine.config import AccountConfig
from smsengine.domain.accounts import AccountType
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.limits import LimitPolicy
from smsengine.domain.numbers import normalise
from smsengine.domain.review import ReviewStatus
from smsengine.domain.signatures import Signature
from smsengine.domain.templates import MessageType, Template, TemplateRegion, parse_template
from smsengine.engine.store import Store

log = structlog.get_logger("smsengine.accounts")


class Account:
    """One app. `available` is the balance less segments reserved by accepted, unsent messages;
    the stored balance only drops when a segment is charged at submit."""

    __slots__ = (
        "app_id", "key", "type", "raw_content", "available", "state", "utc_offset_minutes",
        "receipt_url", "signatures", "templates", "unsubscribed", "policy",
    )

    def __init__(self, app_id: str, key: str, type: AccountType, raw_content: bool, balance: int,
                 state: str, utc_offset_minutes: int, receipt_url: str, policy: LimitPolicy) -> None:
        self.app_id = app_id
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


def policy_from(cfg: AccountConfig, default_region: str) -> LimitPolicy:
    allow = frozenset(n for n in (normalise(x, default_region) for x in cfg.limits.allow_list) if n)
    return LimitPolicy(
        same_content_max=cfg.limits.same_content_max,
        same_content_window=cfg.limits.same_content_window_s,
        daily_max=cfg.limits.daily_max,
        hourly_max=cfg.limits.hourly_max,
        international_daily_max=cfg.limits.international_daily_max,
        utc_offset_minutes=cfg.utc_offset_minutes,
        allow_list=allow,
        alarm_threshold=cfg.limits.alarm_threshold,
    )


def template_from_row(row) -> Template:
    tid, app_id, text, type_, region, status, remark = row
    return Template(
        id=tid, account=app_id, text=text, type=MessageType(type_), region=TemplateRegion(region),
        compiled=parse_template(text), status=ReviewStatus(status), remark=remark,
    )


class AccountRegistry:
    def __init__(self, store: Store, default_region: str) -> None:
        self.store = store
        self.default_region = default_region
        self.accounts: dict[str, Account] = {}
        self.policies: dict[str, LimitPolicy] = {}

    def get(self, app_id: str) -> Account:
        account = self.accounts.get(app_id)
        if account is None:
            raise SmsError(ErrorCode.APP_NOT_FOUND, app_id)
        return account

    async def seed(self, seeds: list[AccountConfig]) -> None:
        """Create configured accounts that do not exist yet; existing ones keep their stored
        balance and state, but key, type and limits follow the config."""
        now = time.time()
        for cfg in seeds:
            row = await self.store.fetchone("SELECT app_id FROM accounts WHERE app_id=?", (cfg.app_id,))
            if row is None:
                await self.store.execute_now(
                    "INSERT INTO accounts (app_id, key, type, raw_content, balance, utc_offset_minutes,"
                    " receipt_url, created_at) VALUES (?,?,?,?,?,?,?,?)",
                    (cfg.app_id, cfg.key, cfg.type, int(cfg.raw_content), cfg.balance,
                     cfg.utc_offset_minutes, cfg.receipt_url, now),
                )
            else:
                await self.store.execute_now(
                    "UPDATE accounts SET key=?, type=?, raw_content=?, utc_offset_minutes=? WHERE app_id=?",
                    (cfg.key, cfg.type, int(cfg.raw_content), cfg.utc_offset_minutes, cfg.app_id),
                )
                if cfg.receipt_url:
                    await self.store.execute_now(
                        "UPDATE accounts SET receipt_url=? WHERE app_id=? AND receipt_url=''",
                        (cfg.receipt_url, cfg.app_id),
                    )
            for sig in cfg.signatures:
                await self.store.execute_now(
                    "INSERT OR IGNORE INTO signatures (app_id, name, status, created_at) VALUES (?,?,?,?)",
                    (cfg.app_id, sig.name, sig.status, now),
                )
            for tpl in cfg.templates:
                parse_template(tpl.text)  # a bad seeded template fails the start, not a send
                owner = await self.store.fetchone("SELECT app_id FROM templates WHERE id=?", (tpl.id,))
                if owner is not None and owner[0] != cfg.app_id:
                    raise SmsError(ErrorCode.TEMPLATE_INVALID,
                                   f"template id {tpl.id} of account {cfg.app_id} belongs to {owner[0]}")
                await self.store.execute_now(
                    "INSERT OR IGNORE INTO templates (id, app_id, text, type, region, status, created_at)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (tpl.id, cfg.app_id, tpl.text, tpl.type, tpl.region, tpl.status, now),
                )
            self.policies[cfg.app_id] = policy_from(cfg, self.default_region)

    async def load(self, only: str | None = None) -> None:
        """Build the in-memory accounts from the store (all of them, or just `only`)."""
        where, params = (" WHERE app_id=?", (only,)) if only else ("", ())
        rows = await self.store.fetchall(
            "SELECT app_id, key, type, raw_content, balance, state, utc_offset_minutes, receipt_url FROM accounts"
            + where, params
        )
        for app_id, key, type_, raw, balance, state, offset, url in rows:
            policy = self.policies.get(app_id) or LimitPolicy(utc_offset_minutes=offset)
            self.accounts[app_id] = Account(app_id, key, AccountType(type_), bool(raw), balance, state,
                                            offset, url, policy)
        for sid, app_id, name, status, remark in await self.store.fetchall(
            "SELECT id, app_id, name, status, remark FROM signatures" + where, params
        ):
            if app_id in self.accounts:
                self.accounts[app_id].signatures[name] = Signature(
                    id=sid, account=app_id, name=name, status=ReviewStatus(status), remark=remark
                )
        for row in await self.store.fetchall(
            "SELECT id, app_id, text, type, region, status, remark FROM templates" + where, params
        ):
            if row[1] in self.accounts:
                self.accounts[row[1]].templates[row[0]] = template_from_row(row)
        for app_id, phone in await self.store.fetchall("SELECT app_id, phone FROM unsubscribes" + where, params):
            if app_id in self.accounts:
                self.accounts[app_id].unsubscribed.add(phone)
        # segments of accepted-but-unsent messages are still reserved against the balance
        for app_id, reserved in await self.store.fetchall(
            "SELECT m.app_id, SUM(m.segments - (SELECT COUNT(*) FROM segments s WHERE s.message_id = m.id))"
            " FROM messages m WHERE m.status IN ('accepted', 'submitted')"
            + (" AND m.app_id=?" if only else "") + " GROUP BY m.app_id", params
        ):
            if app_id in self.accounts and reserved:
                self.accounts[app_id].available -= int(reserved)
        log.info("accounts.loaded", accounts=len(rows))

    def unsubscribe(self, app_id: str, phone: str) -> bool:
        account = self.accounts.get(app_id)
        if account is None or phone in account.unsubscribed:
            return False
        account.unsubscribed.add(phone)
        self.store.execute_later(
            "INSERT OR IGNORE INTO unsubscribes (app_id, phone, created_at) VALUES (?,?,?)",
            (app_id, phone, time.time()),
        )
        return True

    def resubscribe(self, app_id: str, phone: str) -> bool:
        account = self.get(app_id)
        if phone not in account.unsubscribed:
            return False
        account.unsubscribed.discard(phone)
        self.store.execute_later("DELETE FROM unsubscribes WHERE app_id=? AND phone=?", (app_id, phone))
        return True
