"""`task import|list|show|cancel`: bulk tasks through the API, an import followed to its end
with a progress bar."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smsengine.api.schemas import TaskPage, TaskView, TemplateView
from smsengine.cli import views
from smsengine.cli.connection import UPLOAD_TIMEOUT, CommandError, EngineClient, Target, target_of
from smsengine.cli.options import AdminToken, AppId, Key, MessageType, Since, TaskStatus, Until, Url, instant

app = typer.Typer(help="Bulk tasks: import a CSV, follow it, list, show, cancel.", no_args_is_help=True)


# the engine's request body limit (api/app.py build_app): a larger file is refused before it is read
MAX_UPLOAD = 4 * 1024 * 1024
POLL_S = 0.5  # a followed task is asked for its counts this often
TASKS_PAGE = 100  # the most GET /v1/tasks answers at once
ENDED = ("completed", "cancelled")


def read_upload(file: str) -> bytes:
    """The CSV as it will be sent ("-": standard input), at most MAX_UPLOAD bytes."""
    try:
        if file == "-":
            data = sys.stdin.buffer.read(MAX_UPLOAD + 1)
        else:
            with Path(file).open("rb") as f:
                data = f.read(MAX_UPLOAD + 1)
    except OSError as exc:
        raise CommandError(f"{file}: {exc.strerror or exc}") from None
    if len(data) > MAX_UPLOAD:
        raise CommandError(f"{file}: larger than {MAX_UPLOAD // 2**20} MiB, the most one request to the engine carries")
    return data


def made_nothing(task: TaskView) -> bool:
    """Every row was rejected: in the file, or (once the task has ended) refused as it was imported."""
    return task.recipients == 0 or (task.status in ENDED and views.finished(task.counts) + task.counts.pending == 0)


def import_status(task: TaskView, waited: bool) -> int:
    """0 when the task has messages and, if it was followed, completed; 1 when every row was
    rejected, or it was cancelled, or the wait ran out first."""
    if made_nothing(task):
        return 1
    return 0 if not waited or task.status == "completed" else 1


def expected(task: TaskView, rejected_in_file: int) -> int:
    """The messages a task will have: its recipients (rows of the file that could be sent) less
    the rows refused since, as it was imported (screened empty, refused by a rule)."""
    return max(task.recipients - (task.rows_rejected - rejected_in_file), 0)


async def template_type(engine: EngineClient, template_id: int) -> str | None:
    """The type a task must name is the template's; asked for when --type is not given (None: no
    such template, and the engine's refusal will say so)."""
    templates = await engine.call("GET", "/v1/templates", list[TemplateView])
    return next((t.type for t in templates if t.id == template_id), None)


async def follow(engine: EngineClient, task: TaskView, seconds: float, console: Console) -> TaskView:
    """Ask for the task's counts every POLL_S until it ends or `seconds` have passed; a bar of
    its messages in a final state."""
    deadline = time.monotonic() + seconds
    rejected_in_file = task.rows_rejected  # `task` is as created
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[counts]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(f"task {task.id}", total=None, counts="")
        while True:
            c = task.counts
            progress.update(bar, total=expected(task, rejected_in_file), completed=views.finished(c),
                            description=f"task {task.id} {task.status}",
                            counts=f"{c.delivered} delivered · {c.failed + c.expired} failed · {c.pending} pending")
            left = deadline - time.monotonic()
            if task.status in ENDED or left <= 0:
                return task
            await asyncio.sleep(min(POLL_S, left))
            task = await engine.call("GET", f"/v1/tasks/{task.id}", TaskView)


@app.command("import")
def import_task(
    file: Annotated[str, typer.Argument(help="CSV: the number, then one column per template parameter ('-': stdin)")],
    template: Annotated[int, typer.Option("--template", help="Template id")],
    sign: Annotated[str, typer.Option("--sign", help="Signature")] = "",
    at: Annotated[str | None, typer.Option(
        "--at", parser=instant, help="Start at: unix seconds or ISO 8601 (no offset: this machine's clock)")] = None,
    name: Annotated[str, typer.Option("--name", help="A name for the task")] = "",
    kind: Annotated[MessageType | None, typer.Option("--type", show_default=False,
                                                     help="regular or marketing (default: the template's)")] = None,
    screen: Annotated[bool, typer.Option("--screen", help="Drop numbers their carrier reports empty (1058)")] = False,
    wait: Annotated[float, typer.Option("--wait", help="Follow the task this many seconds (0: don't)")] = 0.0,
    url: Url = None, app_id: AppId = None, key: Key = None, admin_token: AdminToken = None,
) -> int:
    """Upload a CSV as a task; show it and the rows rejected; follow it with --wait."""
    target = target_of(url, app_id, key, admin_token, os.environ)
    fields = {"template_id": template, "sign": sign, "name": name, "type": kind, "schedule_at": at,
              "screen": "true" if screen else None}
    return asyncio.run(_import(target, read_upload(file), fields, wait))


async def _import(target: Target, data: bytes, fields: dict, wait: float) -> int:
    out, err = Console(), Console(stderr=True)
    async with EngineClient.open(target) as engine:
        if fields["type"] is None:
            fields["type"] = await template_type(engine, fields["template_id"])
        task = await engine.call("POST", "/v1/tasks", TaskView, params=fields, body=data, content_type="text/csv",
                                 timeout=UPLOAD_TIMEOUT)
        out.print(views.task_created(task))
        if task.recipients == 0:
            err.print(f"task {task.id}: every row was rejected, nothing to send", highlight=False)
            return import_status(task, waited=False)
        if task.status == "scheduled":
            out.print(views.start_line(task, time.time()), highlight=False)
        if wait <= 0:
            return import_status(task, waited=False)
        task = await follow(engine, task, wait, err)
    out.print(views.counts_line(task), highlight=False)
    if task.status not in ENDED:
        err.print(f"task {task.id} is still {task.status} after {wait:g} s", highlight=False)
    elif made_nothing(task):
        err.print(f"task {task.id}: every row was refused as it was imported (`task show {task.id}`)",
                  highlight=False)
    return import_status(task, waited=True)


@app.command("list")
def list_tasks(
    status: Annotated[TaskStatus | None, typer.Option("--status", show_default=False)] = None,
    kind: Annotated[MessageType | None, typer.Option("--type", show_default=False)] = None,
    since: Since = None, until: Until = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first")] = 20,
    url: Url = None, app_id: AppId = None, key: Key = None, admin_token: AdminToken = None,
) -> int:
    """The account's tasks, newest first."""
    target = target_of(url, app_id, key, admin_token, os.environ)
    query = {"status": status, "type": kind, "since": since, "until": until, **target.scope}
    return asyncio.run(_list(target, query, limit))


async def _list(target: Target, query: dict, limit: int) -> int:
    async with EngineClient.open(target) as engine:
        tasks = await engine.newest("/v1/tasks", TaskPage, query, limit=limit, page_size=TASKS_PAGE,
                                    items=lambda page: page.tasks, cursor=lambda page: page.next_before)
    Console().print(views.tasks_table(tasks) if tasks else "no tasks")
    return 0


TaskArg = Annotated[int, typer.Argument(help="Task id", min=1)]


@app.command("show")
def show_task(task_id: TaskArg, url: Url = None, app_id: AppId = None, key: Key = None,
              admin_token: AdminToken = None) -> int:
    """A task: status, counts by final state, segments charged, the rows rejected."""
    return asyncio.run(_one(target_of(url, app_id, key, admin_token, os.environ), "GET", task_id))


@app.command("cancel")
def cancel_task(task_id: TaskArg, url: Url = None, app_id: AppId = None, key: Key = None,
                admin_token: AdminToken = None) -> int:
    """Call off a task that has not started (nothing of it is charged)."""
    return asyncio.run(_one(target_of(url, app_id, key, admin_token, os.environ), "DELETE", task_id))


async def _one(target: Target, method: str, task_id: int) -> int:
    async with EngineClient.open(target) as engine:
        task = await engine.call(method, f"/v1/tasks/{task_id}", TaskView)
    out = Console()
    out.print(views.task_detail(task))
    out.print()
    out.print(views.problems_table(task))
    return 0
