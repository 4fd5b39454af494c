"""Accounts on disk: keys and settings, how each signs its requests, stored balances, and each
account's receipt push cursor."""

from __future__ import annotations

import msgspec

from smsengine.config import LimitsConfig
from smsengine.domain.accounts import AccountType
from smsengine.domain.auth import AuthScheme
from smsengine.engine.records import AccountRow
from smsengine.engine.store.database import Database, scope
from smsengine.engine.store.writer import Statement

# an account without an account_auth row (created before the table existed) uses the legacy sig
_SET_SCHEME = ("INSERT INTO account_auth (app_id, scheme) VALUES (?,?)"
               " ON CONFLICT (app_id) DO UPDATE SET scheme=excluded.scheme")


def _set_scheme(app_id: str, scheme: AuthScheme) -> Statement:
    return (_SET_SCHEME, (app_id, str(scheme)))


def _limits_json(limits: LimitsConfig | None) -> str:
    return msgspec.json.encode(limits).decode() if limits is not None else ""


def _limits_of(stored: str) -> LimitsConfig | None:
    return msgspec.json.decode(stored, type=LimitsConfig) if stored else None


_POSITIONS = frozenset({"pushed_cursor", "reply_cursor", "receipt_from"})


class AccountQueries(Database):
    async def account_rows(self, app_id: str | None = None) -> list[AccountRow]:
        """Every account, or just `app_id`'s."""
        where, params = scope(app_id, "a.app_id")
        rows = await self._rows(
            "SELECT a.app_id, key, type, raw_content, balance, state, utc_offset_minutes, receipt_url,"
            " COALESCE(s.scheme, 'sig'), limits, reply_url FROM accounts AS a"
            " LEFT JOIN account_auth AS s ON s.app_id = a.app_id" + where, params
        )
        return [AccountRow(app, key, AccountType(type_), bool(raw), balance, state, offset, url, AuthScheme(auth),
                           _limits_of(limits), reply_url)
                for app, key, type_, raw, balance, state, offset, url, auth, limits, reply_url in rows]

    async def insert_account(self, account: AccountRow, at: float) -> bool:
        """Create the account (with its auth scheme) unless its app_id exists; True if this call
        created it."""
        a = account
        outcome = await self._write(
            # first, so both rows or neither: only when the account is new (a row left by an
            # account deleted by hand is overwritten)
            ("INSERT INTO account_auth (app_id, scheme) SELECT ?, ? WHERE NOT EXISTS"
             " (SELECT 1 FROM accounts WHERE app_id=?) ON CONFLICT (app_id) DO UPDATE SET scheme=excluded.scheme",
             (a.app_id, str(a.auth_scheme), a.app_id)),
            ("INSERT INTO accounts (app_id, key, type, raw_content, balance, state, utc_offset_minutes, receipt_url,"
             " created_at, limits, reply_url) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (app_id) DO NOTHING"
             " RETURNING app_id",
             (a.app_id, a.key, str(a.type), int(a.raw_content), a.balance, a.state, a.utc_offset_minutes,
              a.receipt_url, at, _limits_json(a.limits), a.reply_url)),
        )
        return bool(outcome.rows)

    async def update_account_seed(self, account: AccountRow, auth_scheme: AuthScheme | None = None) -> None:
        """A configured account that exists already: key, type, raw_content and UTC offset follow
        the config, its receipt and reply URLs only fill empty ones, balance and state stay as stored; the
        auth scheme follows the config only where the config names one (else the operator's
        choice stands: a restart must not take an account back to the legacy sig). Its limits
        follow the config."""
        a = account
        statements: list[Statement] = [(
            "UPDATE accounts SET key=?, type=?, raw_content=?, utc_offset_minutes=?, limits=?,"
            " receipt_url=CASE WHEN receipt_url='' THEN ? ELSE receipt_url END,"
            " reply_url=CASE WHEN reply_url='' THEN ? ELSE reply_url END WHERE app_id=?",
            (a.key, str(a.type), int(a.raw_content), a.utc_offset_minutes, _limits_json(a.limits), a.receipt_url,
             a.reply_url, a.app_id),
        )]
        if auth_scheme is not None:
            statements.append(_set_scheme(a.app_id, auth_scheme))
        await self._write(*statements)

    async def set_auth_scheme(self, app_id: str, scheme: AuthScheme) -> None:
        await self._write(_set_scheme(app_id, scheme))

    async def arrears(self) -> list[tuple[str, int, str, float | None]]:
        """(app_id, stored balance, state, arrears_since) of every account, charges queued before
        this call included."""
        await self.flush()
        return await self._rows("SELECT app_id, balance, state, arrears_since FROM accounts")

    async def set_arrears_since(self, app_id: str, since: float | None) -> None:
        await self._write(("UPDATE accounts SET arrears_since=? WHERE app_id=?", (since, app_id)))

    async def set_limits(self, app_id: str, limits: LimitsConfig) -> None:
        await self._write(("UPDATE accounts SET limits=? WHERE app_id=?", (_limits_json(limits), app_id)))

    async def set_reply_url(self, app_id: str, url: str) -> None:
        await self._write(("UPDATE accounts SET reply_url=? WHERE app_id=?", (url, app_id)))

    async def set_receipt_url(self, app_id: str, url: str) -> None:
        await self._write(("UPDATE accounts SET receipt_url=? WHERE app_id=?", (url, app_id)))

    async def set_state(self, app_id: str, state: str) -> None:
        await self._write(("UPDATE accounts SET state=? WHERE app_id=?", (state, app_id)))

    async def add_balance(self, app_id: str, segments: int) -> None:
        """Top up (or, negative, take back) the stored balance."""
        await self._write(("UPDATE accounts SET balance=balance+? WHERE app_id=?", (segments, app_id)))

    async def balance_of(self, app_id: str) -> int | None:
        """The stored balance once every charge queued before this call is committed; None for
        an unknown account."""
        await self.flush()
        return await self._scalar("SELECT balance FROM accounts WHERE app_id=?", (app_id,))

    # -- push positions: where each account's callbacks stand (engine/callbacks.py) ---------------
    # pushed_cursor: the last status report cursor the receipt URL acknowledged; reply_cursor: the
    # last reply id the reply URL acknowledged; receipt_from: reports at or before it with no URL
    # of their own go nowhere (the account had no receipt URL until then). 0: none yet.
    async def _position(self, column: str, app_id: str) -> int:
        assert column in _POSITIONS  # a fixed name: no input reaches the SQL
        return await self._scalar(f"SELECT {column} FROM accounts WHERE app_id=?", (app_id,)) or 0

    async def _set_position(self, column: str, app_id: str, cursor: int, *, forward_only: bool = False) -> None:
        """Durable when this returns; `forward_only` never moves it back."""
        assert column in _POSITIONS
        only = f" AND {column}<?" if forward_only else ""
        await self._write((f"UPDATE accounts SET {column}=? WHERE app_id=?{only}",
                           (cursor, app_id, cursor) if forward_only else (cursor, app_id)))

    async def pushed_cursor(self, app_id: str) -> int:
        return await self._position("pushed_cursor", app_id)

    async def set_pushed_cursor(self, app_id: str, cursor: int) -> None:
        await self._set_position("pushed_cursor", app_id, cursor, forward_only=True)

    async def reset_pushed_cursor(self, app_id: str, cursor: int) -> None:
        await self._set_position("pushed_cursor", app_id, cursor)

    async def reply_cursor(self, app_id: str) -> int:
        return await self._position("reply_cursor", app_id)

    async def set_reply_cursor(self, app_id: str, cursor: int) -> None:
        await self._set_position("reply_cursor", app_id, cursor, forward_only=True)

    async def reset_reply_cursor(self, app_id: str, cursor: int) -> None:
        await self._set_position("reply_cursor", app_id, cursor)

    async def receipt_from(self, app_id: str) -> int:
        return await self._position("receipt_from", app_id)

    async def set_receipt_from(self, app_id: str, cursor: int) -> None:
        await self._set_position("receipt_from", app_id, cursor)
