"""The options several commands share: where the engine is and who asks, filters, and the
times a person types (a naive ISO time is the local clock's, made an instant here)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated

import typer

from smsengine.cli.connection import ENV_ADMIN_TOKEN, ENV_APP_ID, ENV_KEY, ENV_URL

_ENGINE = "Engine"
_FILTERS = "Filters"


def instant(text: str) -> str:
    """Unix seconds or ISO 8601 as the API takes them; an ISO time without an offset ("2026-12-01
    09:00", "2026-12-01") is read on this machine's clock and sent with its offset."""
    text = text.strip()
    try:
        float(text)
    except ValueError:
        pass
    else:
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not unix seconds or ISO 8601: {text!r}") from None
    return (moment if moment.tzinfo is not None else moment.astimezone()).isoformat()


def day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise typer.BadParameter(f"not a day (YYYY-MM-DD): {text!r}") from None


class MessageType(enum.StrEnum):
    REGULAR = "regular"
    MARKETING = "marketing"


class TaskStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class MessageStatus(enum.StrEnum):
    PENDING = "pending"  # accepted or submitted, not final yet
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# -- the engine and the credentials (every command that calls it) --------------------------------------
Url = Annotated[str | None, typer.Option(
    "--url", envvar=ENV_URL, rich_help_panel=_ENGINE, show_default=False,
    help="The engine (default: http://127.0.0.1:8080, or the port in SMSENGINE_HTTP__PORT)")]
AppId = Annotated[str | None, typer.Option(
    "--app-id", envvar=ENV_APP_ID, rich_help_panel=_ENGINE, show_default=False, help="Account (default: demo)")]
Key = Annotated[str | None, typer.Option(
    "--key", envvar=ENV_KEY, rich_help_panel=_ENGINE, show_default=False,
    help="The account's key, sent as X-App-Key (default: demo-secret)")]
AdminToken = Annotated[str | None, typer.Option(
    "--admin-token", envvar=ENV_ADMIN_TOKEN, rich_help_panel=_ENGINE, show_default=False,
    help="Operator token (X-Admin-Token): any account; lists cover all accounts unless --app-id names one")]

# -- filters ---------------------------------------------------------------------------------------------
Since = Annotated[str | None, typer.Option(
    "--since", parser=instant, rich_help_panel=_FILTERS, help="Created at or after: unix seconds or ISO 8601")]
Until = Annotated[str | None, typer.Option(
    "--until", parser=instant, rich_help_panel=_FILTERS, help="Created before: unix seconds or ISO 8601")]
Phone = Annotated[str | None, typer.Option("--phone", rich_help_panel=_FILTERS, help="One number, any usual form")]
Status = Annotated[MessageStatus | None, typer.Option("--status", rich_help_panel=_FILTERS, show_default=False)]
TaskId = Annotated[int | None, typer.Option("--task", rich_help_panel=_FILTERS, help="Messages of this task")]
TemplateId = Annotated[int | None, typer.Option("--template", rich_help_panel=_FILTERS,
                                                help="Rendered from this template")]
Sign = Annotated[str | None, typer.Option("--sign", rich_help_panel=_FILTERS, help="Sent under this signature")]
Carrier = Annotated[str | None, typer.Option("--carrier", rich_help_panel=_FILTERS, help="Final at this carrier")]
