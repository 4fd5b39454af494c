"""Accounts on disk: keys and settings, stored balances, and each account's receipt push cursor."""

from __future__ import annotations

from smsengine.domain.accounts import AccountType
from smsengine.engine.records import AccountRow
from smsengine.engine.store.database import Database, scope


class AccountQueries(Database):
    async def account_rows(self, app_id: str | None = None) -> list[AccountRow]:
        """Every account, or just `app_id`'s."""
        where, params = scope(app_id)
        rows = await self._rows(
            "SELECT app_id, key, type, raw_content, balance, state, utc_offset_minutes, receipt_url FROM accounts"
            + where, params
        )
        return [AccountRow(app, key, AccountType(type_), bool(raw), balance, state, offset, url)
                for app, key, type_, raw, balance, state, offset, url in rows]

    async def insert_account(self, account: AccountRow, at: float) -> bool:
        """Create the account unless its app_id exists; True if this call created it."""
        a = account
        outcome = await self._write((
            "INSERT INTO accounts (app_id, key, type, raw_content, balance, state, utc_offset_minutes, receipt_url,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (app_id) DO NOTHING RETURNING app_id",
            (a.app_id, a.key, str(a.type), int(a.raw_content), a.balance, a.state, a.utc_offset_minutes,
             a.receipt_url, at),
        ))
        return bool(outcome.rows)

    async def update_account_seed(self, account: AccountRow) -> None:
        """A configured account that exists already: key, type, raw_content and UTC offset follow
        the config, its receipt URL only fills an empty one, balance and state stay as stored."""
        a = account
        await self._write((
            "UPDATE accounts SET key=?, type=?, raw_content=?, utc_offset_minutes=?,"
            " receipt_url=CASE WHEN receipt_url='' THEN ? ELSE receipt_url END WHERE app_id=?",
            (a.key, str(a.type), int(a.raw_content), a.utc_offset_minutes, a.receipt_url, a.app_id),
        ))

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

    async def pushed_cursor(self, app_id: str) -> int:
        """The last status report cursor the account's receipt URL acknowledged (0: none yet)."""
        return await self._scalar("SELECT pushed_cursor FROM accounts WHERE app_id=?", (app_id,)) or 0

    async def set_pushed_cursor(self, app_id: str, cursor: int) -> None:
        """Move the push cursor forward, never back: durable when this returns."""
        await self._write((
            "UPDATE accounts SET pushed_cursor=? WHERE app_id=? AND pushed_cursor<?", (cursor, app_id, cursor)
        ))
