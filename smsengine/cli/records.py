"""`messages list` and `export messages|task`: the records, as a table or as the engine's CSV
streamed to stdout."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from smsengine.api.schemas import MessagePage
from smsengine.cli import views
from smsengine.cli.connection import EngineClient, Target, target_of
from smsengine.cli.options import (
    AdminToken,
    AppId,
    Carrier,
    Key,
    Phone,
    Since,
    Sign,
    Status,
    TaskId,
    TemplateId,
    Until,
    Url,
)

messages = typer.Typer(help="Message records.", no_args_is_help=True)
export = typer.Typer(help="Records as CSV on stdout (the engine's export, streamed).", no_args_is_help=True)

MESSAGES_PAGE = 1000  # the most GET /v1/messages answers at once


def message_filters(phone: str | None, status: str | None, since: str | None, until: str | None,
                    task: int | None, template: int | None, sign: str | None, carrier: str | None) -> dict[str, Any]:
    """The flags as GET /v1/messages names them."""
    return {"phone": phone, "status": status, "since": since, "until": until, "task_id": task,
            "template_id": template, "sign": sign, "carrier": carrier}


@messages.command("list")
def list_messages(
    phone: Phone = None, status: Status = None, since: Since = None, until: Until = None, task: TaskId = None,
    template: TemplateId = None, sign: Sign = None, carrier: Carrier = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first")] = 20,
    url: Url = None, app_id: AppId = None, key: Key = None, admin_token: AdminToken = None,
) -> int:
    """Records, newest first (numbers masked when the engine is configured to)."""
    target = target_of(url, app_id, key, admin_token, os.environ)
    query = {**message_filters(phone, status, since, until, task, template, sign, carrier), **target.scope}
    return asyncio.run(_list(target, query, limit))


async def _list(target: Target, query: dict[str, Any], limit: int) -> int:
    async with EngineClient.open(target) as engine:
        rows = await engine.newest("/v1/messages", MessagePage, query, limit=limit, page_size=MESSAGES_PAGE,
                                   items=lambda page: page.messages, cursor=lambda page: page.next)
    Console().print(views.messages_table(rows) if rows else "no messages")
    return 0


@export.command("messages")
def export_messages(
    phone: Phone = None, status: Status = None, since: Since = None, until: Until = None, task: TaskId = None,
    template: TemplateId = None, sign: Sign = None, carrier: Carrier = None,
    url: Url = None, app_id: AppId = None, key: Key = None, admin_token: AdminToken = None,
) -> int:
    """Every record the filters select, as CSV (whole numbers: for the account's own systems)."""
    target = target_of(url, app_id, key, admin_token, os.environ)
    query = {**message_filters(phone, status, since, until, task, template, sign, carrier), **target.scope}
    return asyncio.run(_export(target, "/v1/messages", query))


@export.command("task")
def export_task(
    task_id: Annotated[int, typer.Argument(help="Task id", min=1)],
    url: Url = None, app_id: AppId = None, key: Key = None, admin_token: AdminToken = None,
) -> int:
    """A task's messages, oldest first, as CSV."""
    target = target_of(url, app_id, key, admin_token, os.environ)
    return asyncio.run(_export(target, f"/v1/tasks/{task_id}/messages", {}))


async def _export(target: Target, path: str, query: dict[str, Any]) -> int:
    async with EngineClient.open(target) as engine:
        await engine.stream(path, {**query, "format": "csv"}, sys.stdout.buffer)
    return 0
