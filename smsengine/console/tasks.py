"""Console pages: bulk tasks — the list with its filters and counts, a task's detail (rows not
sent, each number's message), cancelling a scheduled one, its CSV export."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from smsengine.api.app import (
    _STORED_INT_MAX,
    _export,
    _masked,
    _masked_rows,
    _owned_task,
    _task_view,
    task_page,
)
from smsengine.console.sending import offset_text
from smsengine.console.shell import acting_app, page, session_of, state_of, wall_clock, zone_of
from smsengine.domain.errors import SmsError
from smsengine.engine.records import MessageFilter
from smsengine.engine.tasks import STATES_OF_STATUS

routes = web.RouteTableDef()

PAGE_TASKS = 20
PAGE_MESSAGES = 50
PAGE_PROBLEMS = 50
_FILTERS = ("status", "type", "since", "until")


def _cursor(request: web.Request, name: str) -> int:
    """A paging cursor from the query: ASCII digits within the stored range, else the start."""
    text = request.query.get(name, "")
    return int(text) if text.isascii() and text.isdigit() and int(text) <= _STORED_INT_MAX else 0


@routes.get("/tasks")
async def task_list(request: web.Request) -> web.Response:
    """Newest first, paged by the API's `before` cursor; the operator acting for all accounts sees
    every account's tasks. Times are wall clocks of the account (UTC for all accounts)."""
    engine = state_of(request).engine
    app_id = acting_app(request, required=False)
    offset = engine.accounts.get(app_id).utc_offset_minutes if app_id else 0
    filters = {name: request.query.get(name, "") for name in _FILTERS}
    status, kind = filters["status"] or None, filters["type"] or None
    error = ""
    try:
        result = await task_page(engine, app_id or None, status=status, kind=kind,
                                 before=_cursor(request, "before"), limit=PAGE_TASKS,
                                 since=wall_clock(filters["since"], zone_of(request), "since"),
                                 until=wall_clock(filters["until"], zone_of(request), "until"))
        tasks, next_before = result.tasks, result.next_before
    except SmsError as exc:
        error, tasks, next_before = f"{int(exc.code)}: {exc.message}", [], 0
    return page(request, "tasks.html", {
        "tasks": tasks, "next_before": next_before, "filters": filters, "statuses": list(STATES_OF_STATUS),
        "offset": offset_text(offset), "error": error,
        "filter_query": urlencode({k: v for k, v in filters.items() if v}),
    }, status=400 if error else 200)


@routes.get("/tasks/{task_id}")
async def task_detail(request: web.Request) -> web.Response:
    """The task's view, its rows not sent (by line, paged by ?problems_after=) and its messages
    (oldest first, paged by ?after=): another account's task is not found."""
    engine, task = await _owned_task(request)
    view = await _task_view(engine, task, detail=False)
    problems_after = _cursor(request, "problems_after")
    problems = await engine.store.task_problems(task.id, problems_after, PAGE_PROBLEMS)
    after = _cursor(request, "after")
    rows = await engine.store.message_rows(MessageFilter(task_id=task.id, app_id=task.app_id), after=after,
                                           limit=PAGE_MESSAGES)
    return page(request, "task.html", {
        "task": view, "live": view.status in ("scheduled", "running"),
        "problems": [(p.line, _masked(engine, p.value), p.code, p.reason) for p in problems],
        "problems_next": problems[-1].line if len(problems) == PAGE_PROBLEMS else 0,
        "problems_after": problems_after,
        "messages": _masked_rows(engine, rows), "after": after,
        "messages_next": int(rows[-1].message_id) if len(rows) == PAGE_MESSAGES else 0,
    })


@routes.get("/tasks/{task_id}/live.json")
async def task_live(request: web.Request) -> web.Response:
    """A task's status and counts, polled by its page while it is scheduled or running."""
    engine, task = await _owned_task(request)
    view = await _task_view(engine, task, detail=False)
    return web.json_response({
        "status": view.status, "recipients": view.recipients, "rows_rejected": view.rows_rejected,
        "segments_charged": view.segments_charged, "started_at": view.started_at,
        "completed_at": view.completed_at,
        "counts": {name: getattr(view.counts, name) for name in view.counts.__struct_fields__},
    })


@routes.post("/tasks/{task_id}/cancel")
async def task_cancel(request: web.Request) -> web.Response:
    engine, task = await _owned_task(request)
    session = session_of(request)
    try:
        await engine.tasks.cancel(task.id, task.app_id)
        session.flash("ok", f"task {task.id} cancelled: nothing of it is sent or charged")
    except SmsError as exc:  # started meanwhile (1056): said on the task's page
        session.flash("error", f"{int(exc.code)}: {exc.message}")
    raise web.HTTPFound(f"/console/tasks/{task.id}")


@routes.get("/tasks/{task_id}/export.csv")
async def task_export(request: web.Request) -> web.StreamResponse:
    """Every message of the task as CSV, numbers whole (as the API's ?format=csv)."""
    engine, task = await _owned_task(request)
    return await _export(request, engine, MessageFilter(task_id=task.id, app_id=task.app_id), f"task-{task.id}.csv")

