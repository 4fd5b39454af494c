"""Who is calling: credentials checked against the accounts, one answer for an unknown app and a
wrong key, and the replay window kept on disk so a restart forgets no request."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence

import structlog

from smsengine.domain.auth import (
    AuthScheme,
    ReplayGuard,
    SignedRequest,
    check_time,
    verify_hmac,
    verify_sig,
)
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.engine.accounts import Account, AccountRegistry
from smsengine.engine.store import Store

log = structlog.get_logger("smsengine.auth")


class ReplayWindow:
    """The replay guard, persisted: every signed request seen is written with the next group
    commit (in the same transaction as an accept queued in the same step, so an accepted request
    is never accepted again, even after kill -9), loaded back at start, and purged from disk as
    the guard forgets it (a tenth of the window at a time)."""

    def __init__(self, store: Store, max_skew: float) -> None:
        self.store = store
        self.guard = ReplayGuard(max_skew)

    def check_and_remember(self, app_id: str, nonce: str, request_time: int, now: float) -> None:
        forgotten_before = self.guard.check_and_remember(app_id, nonce, request_time, now)
        self.store.remember_request(app_id, nonce, request_time)
        if forgotten_before is not None:
            self.store.forget_requests_before(forgotten_before)

    async def load(self, now: float) -> int:
        """Remember the stored requests still inside the window; drop the rest from disk."""
        horizon = self.guard.horizon(now)
        rows = await self.store.requests_since(horizon)
        for app_id, nonce, request_time in rows:
            self.guard.remember(app_id, nonce, request_time)
        self.store.forget_requests_before(horizon)
        log.info("auth.replay_window_loaded", requests=len(rows))
        return len(rows)


class Authenticator:
    """Checks a request's credentials and returns its account. An unknown app id is answered
    exactly as a wrong key (1001, same message) after the same work: the signature is computed
    and compared against a key nobody knows, so neither the answer nor its time tells which app
    ids exist. The account's scheme is checked only once the credentials are good, for the same
    reason."""

    def __init__(self, accounts: AccountRegistry, replays: ReplayWindow, max_skew: float, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.accounts = accounts
        self.replays = replays
        self.max_skew = max_skew
        self.clock = clock
        self._unknown_key = secrets.token_hex(16)

    def _key_of(self, app_id: str) -> tuple[Account | None, str]:
        account = self.accounts.accounts.get(app_id)
        return account, account.key if account is not None else self._unknown_key

    def legacy(self, app_id: str, random: int, request_time: int, mobiles: Sequence[str], sig: str,
               now: float) -> Account:
        """The body's sig (sha256 over key, random, time and numbers)."""
        check_time(request_time, now, self.max_skew)
        account, key = self._key_of(app_id)
        verify_sig(key, random, request_time, mobiles, sig)
        assert account is not None  # the unknown key never verifies
        if account.auth_scheme == AuthScheme.HMAC:
            raise SmsError(ErrorCode.AUTH_SCHEME_REFUSED, "a body sig is not accepted")
        self.replays.check_and_remember(app_id, str(random), request_time, now)
        return account

    def signed(self, request: SignedRequest, now: float) -> Account:
        """An `Authorization: SMSENGINE-HMAC-SHA256` request, whatever the account's scheme."""
        auth = request.authorization
        check_time(auth.timestamp, now, self.max_skew)
        account, key = self._key_of(auth.app_id)
        verify_hmac(key, request.canonical, auth.signature)
        assert account is not None
        self.replays.check_and_remember(auth.app_id, auth.nonce, auth.timestamp, now)
        return account

    def key_holder(self, app_id: str, key: str) -> Account:
        """A person signing in to the console with the account's key, whatever its scheme for API
        calls (the console's session, not the key, then authenticates each page)."""
        account, expected = self._key_of(app_id)
        if account is None or not secrets.compare_digest(expected.encode(), key.encode(errors="surrogateescape")):
            raise SmsError(ErrorCode.SIG_INVALID, "app id or key")
        return account

    def key_pair(self, app_id: str, key: str) -> Account:
        """X-App-Id and X-App-Key (the reads and management calls of `sig` accounts)."""
        account, expected = self._key_of(app_id)
        # header text may carry undecodable bytes (aiohttp keeps them as surrogates): compare bytes
        same = secrets.compare_digest(expected.encode(), key.encode(errors="surrogateescape"))
        if not same or account is None:
            raise SmsError(ErrorCode.SIG_INVALID, "X-App-Id / X-App-Key")
        if account.auth_scheme == AuthScheme.HMAC:
            raise SmsError(ErrorCode.AUTH_SCHEME_REFUSED, "X-App-Key is not accepted")
        return account
