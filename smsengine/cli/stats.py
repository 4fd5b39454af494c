"""`stats`: one day of an account's traffic (GET /v1/stats) as tables."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from smsengine.api.schemas import StatsView
from smsengine.cli.connection import ApiError, EngineClient, NoSuchEndpoint, Target, UnexpectedAnswer, target_of
from smsengine.cli.options import AdminToken, AppId, Key, Url, day

STATS_PATH = "/v1/stats"
_TOTALS = ("requests", "messages", "segments_charged", "delivered", "failed", "expired", "cancelled", "pending")


def utc_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _table(title: str, texts: tuple[str, ...], counts: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in texts:
        table.add_column(name)
    for name in counts:
        table.add_column(name, justify="right")
    return table


def stats_view(stats: StatsView) -> Group:
    totals = _table(f"{stats.app_id} · {stats.day} ({utc_offset(stats.utc_offset_minutes)})", (),
                    tuple(name.replace("_", " ") for name in _TOTALS))
    totals.add_row(*(f"{getattr(stats, name):,}" for name in _TOTALS))
    parts: list[Table | Text] = [totals]
    if stats.failure_reasons:
        reasons = _table("failure reasons", (), ("code", "messages"))
        reasons.add_column("remark (an example)")
        for r in stats.failure_reasons:
            reasons.add_row(str(r.code), f"{r.messages:,}", r.remark)
        parts += [Text(), reasons]
    if stats.carriers:
        carriers = _table("carriers", ("carrier",), ("messages", "delivered", "failed", "expired"))
        for c in stats.carriers:
            carriers.add_row(c.carrier, f"{c.messages:,}", f"{c.delivered:,}", f"{c.failed:,}", f"{c.expired:,}")
        parts += [Text(), carriers]
    if stats.countries:
        countries = _table("countries", ("country",), ("messages",))
        for c in stats.countries:
            countries.add_row(c.country or "unknown", f"{c.messages:,}")
        parts += [Text(), countries]
    return Group(*parts)


def stats(
    on: Annotated[str | None, typer.Option("--day", parser=day,
                                           help="YYYY-MM-DD in the account's timezone (default: today there)")] = None,
    url: Url = None, app_id: AppId = None, key: Key = None, admin_token: AdminToken = None,
) -> int:
    """One day's requests, messages, charges and outcomes; failure reasons, carriers, countries."""
    return asyncio.run(_stats(target_of(url, app_id, key, admin_token, os.environ), on))


async def _stats(target: Target, on: str | None) -> int:
    async with EngineClient.open(target) as engine:
        try:
            answer = await engine.call("GET", STATS_PATH, StatsView, params={"day": on, **target.scope})
        except (ApiError, UnexpectedAnswer) as exc:
            if exc.status == 404:  # an engine from before the endpoint: the route is missing
                raise NoSuchEndpoint(STATS_PATH) from None
            raise
    Console().print(stats_view(answer))
    return 0
