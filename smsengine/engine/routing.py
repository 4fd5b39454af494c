"""Routing: destination prefix → carriers, by weight, with failover to the next carrier up."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from smsengine.config import RouteConfig


class _Route:
    __slots__ = ("prefix", "names", "weights", "current")

    def __init__(self, prefix: str, names: list[str], weights: list[int]) -> None:
        self.prefix = prefix
        self.names = names
        self.weights = weights
        self.current = [0] * len(names)


class Router:
    """Longest matching E.164 prefix wins. Within a route, smooth weighted round-robin (as nginx
    does) spreads traffic exactly by weight without randomness; carriers that are down are
    skipped, and the rest of the route follows as failover order."""

    def __init__(self, routes: Sequence[RouteConfig], is_up: Callable[[str], bool] = lambda _: True) -> None:
        self._routes = sorted(
            (_Route(r.prefix, [t.carrier for t in r.targets], [max(0, t.weight) for t in r.targets]) for r in routes),
            key=lambda r: len(r.prefix),
            reverse=True,
        )
        self.is_up = is_up
        self._cache: dict[str, _Route | None] = {}

    def _route_for(self, phone: str) -> _Route | None:
        # prefixes are short; cache by the first 6 characters (country + area) of the number
        key = phone[:6]
        if key in self._cache:
            route = self._cache[key]
            if route is None or phone.startswith(route.prefix):
                return route
        route = next((r for r in self._routes if phone.startswith(r.prefix)), None)
        if len(key) == 6 and (route is None or len(route.prefix) <= 6):
            self._cache[key] = route
        return route

    def candidates(self, phone: str) -> list[str]:
        """Carriers to try for this number, best first; empty when there is no route."""
        route = self._route_for(phone)
        if route is None:
            return []
        if len(route.names) == 1:
            return route.names
        up = [i for i, name in enumerate(route.names) if route.weights[i] > 0 and self.is_up(name)]
        if not up:
            # nothing up: keep the configured order, the dispatcher waits for a bind to return
            return list(route.names)
        total = 0
        best = up[0]
        current = route.current
        for i in up:
            current[i] += route.weights[i]
            total += route.weights[i]
            if current[i] > current[best]:
                best = i
        current[best] -= total
        rest = [route.names[i] for i in up if i != best]
        down = [n for i, n in enumerate(route.names) if i not in up]
        return [route.names[best], *rest, *down]

    def preference(self, phone: str) -> list[str]:
        """The route's carriers in the order `candidates` would try them, without advancing the
        rotation (a lookup is not a send): weighted ones up first, then the rest, each in the
        configured order; empty when there is no route."""
        route = self._route_for(phone)
        if route is None:
            return []
        first = [n for i, n in enumerate(route.names) if route.weights[i] > 0 and self.is_up(n)]
        return first + [n for n in route.names if n not in first]
