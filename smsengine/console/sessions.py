"""Console sign-in sessions: random tokens in memory, each with its CSRF token, signed out after
`idle_s` unused and, beyond `max_sessions`, least recently used first; one account (or the
operator) holds at most MAX_PER_HOLDER of them, so no single key can sign everybody else out.

Sessions are not stored: a restart signs everyone out (they sign in again; nothing else is
lost). The clock is injected, so expiry is tested without waiting.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field


MAX_FLASH = 500  # characters of a message left for the next page
MAX_PER_HOLDER = 50  # sessions of one account, or of the operator; its oldest goes first


@dataclass(slots=True)
class Session:
    token: str
    app_id: str  # the account signed in; for the operator, the account it acts for ("" = all)
    operator: bool
    csrf: str  # the secret the forms' tokens derive from (form_token); never itself on a page
    last_seen: float
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (kind, text) shown on the next page

    def form_token(self) -> str:
        """The CSRF token a page's forms and scripts carry: the session's secret bound to the
        account the page was made for. The operator picking another account (in another tab,
        say) makes the forms already shown stale, instead of letting them act for the account
        picked since — a send charged, a template filed, under the wrong account."""
        return hmac.new(self.csrf.encode(), self.app_id.encode(), hashlib.sha256).hexdigest()

    def flash(self, kind: str, text: str) -> None:
        # bounded in number (a page that is never shown must not grow them) and in length (a
        # message may echo a posted field of megabytes, kept until the next page)
        if len(self.flashes) < 10:
            self.flashes.append((kind, text if len(text) <= MAX_FLASH else text[:MAX_FLASH - 1] + "…"))

    def take_flashes(self) -> list[tuple[str, str]]:
        flashes, self.flashes = self.flashes, []
        return flashes


class Sessions:
    def __init__(self, idle_s: float, max_sessions: int) -> None:
        self.idle_s = idle_s
        self.max_sessions = max(1, max_sessions)
        self._by_token: OrderedDict[str, Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._by_token)

    def open(self, app_id: str, operator: bool, now: float) -> Session:
        # an account's session keeps its app id; the operator's moves between accounts
        held = [s.token for s in self._by_token.values()  # least recently used first
                if (s.operator and operator) or (not s.operator and not operator and s.app_id == app_id)]
        for token in held[:max(0, len(held) - MAX_PER_HOLDER + 1)]:
            del self._by_token[token]
        session = Session(secrets.token_urlsafe(32), app_id, operator, secrets.token_urlsafe(32), now)
        self._by_token[session.token] = session
        while len(self._by_token) > self.max_sessions:
            self._by_token.popitem(last=False)
        return session

    def get(self, token: str | None, now: float) -> Session | None:
        """The session of this cookie value, if it is still signed in (its use renews it)."""
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        if now - session.last_seen > self.idle_s:
            del self._by_token[token]
            return None
        session.last_seen = now
        self._by_token.move_to_end(token)
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)
