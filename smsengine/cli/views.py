"""How the command line shows the API's tasks and records: rich tables built from the typed
views, no I/O (the commands print them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from smsengine.api.schemas import MessageRow, RowProblemView, TaskCounts, TaskView

# a task's first rejected rows shown after an import; `task show` lists all the engine keeps
FIRST_PROBLEMS = 10
_STATUS_STYLE = {"delivered": "green", "completed": "green", "failed": "red", "expired": "red",
                 "cancelled": "yellow", "scheduled": "cyan", "running": "blue", "accepted": "blue",
                 "submitted": "blue"}


def when(seconds: float | None) -> str:
    """A unix time on this machine's clock, to the second ("" for none)."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def how_long(seconds: float) -> str:
    """A wait in the largest units that matter: "12 s", "59 min", "2 h 5 min", "3 d 4 h"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours == 0:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


def finished(counts: TaskCounts) -> int:
    """Messages of a task in a final state."""
    return counts.delivered + counts.failed + counts.expired + counts.cancelled


def styled(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def start_line(task: TaskView, now: float) -> str:
    """When a scheduled task starts, for a person ("" for any other)."""
    if task.status != "scheduled" or task.schedule_at is None:
        return ""
    return f"task {task.id} starts at {when(task.schedule_at)} (in {how_long(task.schedule_at - now)})"


def counts_line(task: TaskView) -> str:
    c = task.counts
    return (f"task {task.id} {task.status}: {finished(c)} final ({c.delivered} delivered, {c.failed} failed, "
            f"{c.expired} expired, {c.cancelled} cancelled), {c.pending} pending")


def task_detail(task: TaskView) -> Table:
    title = f"task {task.id}" + (f" · {task.name}" if task.name else "")
    grid = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    template = f"{task.template_id}" + (f" ({task.template_name})" if task.template_name else "")
    merged = f" ({task.rows_merged:,} equal rows merged)" if task.rows_merged else ""
    rows: list[tuple[str, str | Text]] = [
        ("status", styled(task.status)),
        ("account", task.app_id),
        ("template", template),
        ("text", task.template_text),
        ("signature", task.sign),
        ("type", task.type),
        ("recipients", f"{task.recipients:,}" + merged),
        ("rows rejected", f"{task.rows_rejected:,}"
                          + (f" ({task.screened_empty:,} empty numbers, screened)" if task.screened_empty else "")),
        ("created", when(task.created_at)),
    ]
    for label, moment in (("starts", task.schedule_at), ("started", task.started_at),
                          ("completed", task.completed_at), ("cancelled", task.cancelled_at)):
        if moment is not None and (label != "starts" or task.status == "scheduled"):
            rows.append((label, when(moment)))
    c = task.counts
    rows += [("final", f"{finished(c):,}: {c.delivered:,} delivered, {c.failed:,} failed, "
                       f"{c.expired:,} expired, {c.cancelled:,} cancelled"),
             ("pending", f"{c.pending:,}"), ("segments charged", f"{task.segments_charged:,}")]
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def problems_table(task: TaskView, first: int | None = None) -> Table | Text:
    """The rows the task will not send, by line; `first` of them (all that came when None)."""
    if not task.problems:
        return Text("no rows rejected" if not task.rows_rejected else f"{task.rows_rejected:,} rows rejected")
    shown: Sequence[RowProblemView] = task.problems[:first] if first is not None else task.problems
    more = task.rows_rejected - len(shown)
    caption = f"and {more:,} more (`task show {task.id}` lists up to {len(task.problems):,})" \
        if more > 0 and first is not None else (f"and {more:,} more" if more > 0 else None)
    table = Table(title=f"rows rejected: {task.rows_rejected:,}", title_justify="left", caption=caption,
                  caption_justify="left")
    table.add_column("line", justify="right")
    table.add_column("value")
    table.add_column("code", justify="right")
    table.add_column("reason")
    for p in shown:
        table.add_row(str(p.line), p.value, str(p.code), p.reason)
    return table


def task_created(task: TaskView) -> Group:
    return Group(task_detail(task), Text(), problems_table(task, FIRST_PROBLEMS))


def tasks_table(tasks: Sequence[TaskView]) -> Table:
    several_accounts = len({t.app_id for t in tasks}) > 1
    table = Table()
    table.add_column("id", justify="right")
    if several_accounts:
        table.add_column("account")
    for name in ("name", "type", "status", "template"):
        table.add_column(name)
    for name in ("recipients", "rejected", "delivered", "failed", "pending"):
        table.add_column(name, justify="right")
    table.add_column("created")
    table.add_column("starts")
    for t in tasks:
        cells: list[str | Text] = [str(t.id)] + ([t.app_id] if several_accounts else [])
        cells += [t.name, t.type, styled(t.status), str(t.template_id), f"{t.recipients:,}", f"{t.rows_rejected:,}",
                  f"{t.counts.delivered:,}", f"{t.counts.failed + t.counts.expired:,}", f"{t.counts.pending:,}",
                  when(t.created_at), when(t.schedule_at) if t.status == "scheduled" else ""]
        table.add_row(*cells)
    return table


def messages_table(rows: Sequence[MessageRow]) -> Table:
    table = Table()
    table.add_column("id", justify="right")
    table.add_column("phone", no_wrap=True)
    table.add_column("status")
    table.add_column("remark")
    table.add_column("carrier")
    table.add_column("segs", justify="right")
    table.add_column("created", no_wrap=True)
    table.add_column("final", no_wrap=True)
    table.add_column("task", justify="right")
    table.add_column("content")
    for m in rows:
        remark = f"{m.code} {m.remark}" if m.code else m.remark
        table.add_row(m.message_id, m.phone, styled(m.status), remark, m.carrier, str(m.segments),
                      when(m.created_at), when(m.final_at), str(m.task_id or ""), m.content)
    return table
