"""Where the engine may call out to (receipt and alarm URLs): public addresses only, unless the
config allows private ones — a customer's URL must not reach the operator's own network (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_public(address: str) -> bool:
    """A globally routable IP address (not loopback, private, link-local, reserved, multicast)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast


def private_target(url: str) -> str | None:
    """Why `url` names a non-public host as written (an IP literal or a local name), or None.
    Names that resolve to private addresses are refused at connect time by `PublicResolver`."""
    host = (URL(url).host or "").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return f"{host} is this machine"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a name: checked when it is resolved
    return None if is_public(host) else f"{host} is not a public address"


class PublicResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then keeps public addresses only, so a name that
    points (or is re-pointed, DNS rebinding) at a private address is refused at each connect."""

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        results = [r for r in await self._resolver.resolve(host, port, family) if is_public(r["host"])]
        if not results:
            raise OSError(f"{host} resolves to no public address: refused")
        return results

    async def close(self) -> None:
        await self._resolver.close()
