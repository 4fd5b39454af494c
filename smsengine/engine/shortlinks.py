"""Short links: codes created per account, redirects that count a click each, reach statistics.

A redirect is the hot path (a campaign's recipients click within minutes): the code's target is
kept in a bounded cache in front of the store (links never change once created), and the click
rides the store's next group commit, so a burst of clicks costs one insert per commit, not a
transaction per click. Rules (codes, targets, hours) are in `smsengine.domain.shortlinks`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.shortlinks import ClickStats, ShortLink, check_target, new_code, stats_since, user_agent

# codes whose target is kept in memory: ~2.2 KB each at the longest target, ~22 MB at most
CACHE_SIZE = 10_000
# a fresh code taken already: ~1e-9 per try at 3.5e12 codes with millions in use, so more than a
# few in a row means something else is wrong (a broken random source), not bad luck
_CODE_TRIES = 8


class LinkStore(Protocol):
    async def add_link(self, app_id: str, code: str, url: str, at: float, max_links: int) -> ShortLink | None: ...
    async def link_count(self, app_id: str) -> int: ...
    async def link(self, code: str) -> ShortLink | None: ...
    async def links_of(self, app_id: str, after: int, limit: int) -> list[ShortLink]: ...
    def add_click(self, code: str, at: float, user_agent: str) -> None: ...
    async def click_stats(self, code: str, since: int) -> ClickStats: ...


class ShortLinks:
    def __init__(self, store: LinkStore, *, max_per_account: int, cache_size: int = CACHE_SIZE,
                 codes: Callable[[], str] = new_code) -> None:
        self.store = store
        self.codes = codes  # fresh codes (tests give collisions on purpose)
        self.max_per_account = max_per_account
        self.cache_size = cache_size
        self._targets: dict[str, str] = {}  # code -> url

    async def create(self, app_id: str, url: str, now: float) -> ShortLink:
        """A new code for `url`, durable when this returns; 1004 for a target that may not be
        redirected to, 1053 when the account holds max_per_account links already."""
        check_target(url)
        for _ in range(_CODE_TRIES):
            link = await self.store.add_link(app_id, self.codes(), url, now, self.max_per_account)
            if link is not None:
                self._remember(link.code, link.url)
                return link
            if await self.store.link_count(app_id) >= self.max_per_account:
                raise SmsError(ErrorCode.LINK_LIMIT, f"at most {self.max_per_account} per account")
        raise SmsError(ErrorCode.INTERNAL, "no free short code found")

    async def follow(self, code: str, at: float, agent: str) -> str | None:
        """The target of `code`, its click counted (with the first 256 characters of the user
        agent); None, and nothing counted, for a code nobody holds."""
        url = self._targets.get(code)
        if url is None:
            link = await self.store.link(code)
            if link is None:
                return None
            url = link.url
            self._remember(code, url)
        self.store.add_click(code, at, user_agent(agent))
        return url

    async def link(self, code: str, app_id: str | None) -> ShortLink:
        """The link `code` as `app_id` sees it (None: the operator, who sees any); another
        account's link answers like a missing one, so codes do not reveal other accounts' links."""
        link = await self.store.link(code)
        if link is None or (app_id is not None and link.app_id != app_id):
            raise SmsError(ErrorCode.NOT_FOUND, f"no short link {code!r}")
        return link

    async def stats(self, link: ShortLink, now: float) -> ClickStats:
        return await self.store.click_stats(link.code, stats_since(now))

    async def page(self, app_id: str, after: int, limit: int) -> list[ShortLink]:
        return await self.store.links_of(app_id, after, limit)

    def _remember(self, code: str, url: str) -> None:
        targets = self._targets
        if len(targets) >= self.cache_size:
            targets.clear()  # refilled by the next lookups: cheaper than keeping an order
        targets[code] = url
