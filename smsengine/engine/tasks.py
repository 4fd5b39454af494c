"""Bulk tasks: a file or list of recipients stored at once, then taken through intake in chunks,
so dispatch starts while later rows still wait; started on time, cancelled before they start,
carried on after a restart (SPEC §8).

A task is many sends through the same rules, not a second pipeline: each chunk goes through
`Intake.accept_rows` (render, unsubscribe, limits, balance) and the dispatcher, and its progress
commits with its messages, so a restart resumes after the last committed chunk, exactly once.
Rows are applied the rules when they are imported, i.e. when the task starts: a scheduled task
that is cancelled has reserved and charged nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from smsengine.config import TasksConfig
from smsengine.domain.errors import MESSAGES, ErrorCode, SmsError
from smsengine.domain.task_csv import RowProblem, TaskFile
from smsengine.engine.accounts import AccountRegistry
from smsengine.engine.intake import MAX_SCHEDULE_AHEAD, Intake
from smsengine.engine.lifecycle import cancel_tasks, wait_event
from smsengine.engine.records import MessageFinal, TaskRecord
from smsengine.engine.store import Store, StoreError

log = structlog.get_logger("smsengine.tasks")

# the public status of a task, from its stored state
STATUS_OF_STATE = {"scheduled": "scheduled", "importing": "running", "imported": "running",
                   "completed": "completed", "cancelled": "cancelled"}
STATES_OF_STATUS = {"scheduled": ("scheduled",), "running": ("importing", "imported"),
                    "completed": ("completed",), "cancelled": ("cancelled",)}


class TaskRunner:
    def __init__(self, store: Store, accounts: AccountRegistry, intake: Intake, settings: TasksConfig, *,
                 open_messages: Callable[[], int], max_open: int,
                 screen: Callable[[list[str]], Awaitable[set[str]]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.accounts = accounts
        self.intake = intake
        self.settings = settings
        self.open_messages = open_messages  # the dispatcher's open messages: imports wait below max_open
        self.max_open = max_open
        self.screen = screen  # numbers -> the empty ones, for tasks that ask to drop them (SPEC §8a)
        self.clock = clock
        self.scheduled: dict[int, TaskRecord] = {}
        self.pending: dict[int, int] = {}  # task id -> its imported messages not final yet
        self.importing: dict[int, asyncio.Task] = {}
        self.wake = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._finishing: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Carry on what a restart interrupted: scheduled tasks wait for their time, imports resume
        after their last committed chunk, and running tasks complete when their messages do."""
        tasks = await self.store.open_tasks()
        if tasks:
            self.pending.update(await self.store.open_task_messages([t.id for t in tasks]))
        for task in tasks:
            if task.state == "scheduled":
                self.scheduled[task.id] = task
            elif task.state == "importing":
                self.pending.setdefault(task.id, 0)
                self._import_later(task)
            else:  # imported: complete once its messages are final
                self.pending.setdefault(task.id, 0)
                self._maybe_complete(task.id)
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="tasks")

    async def stop(self) -> None:
        await cancel_tasks(self._loop_task, *self.importing.values(), *self._finishing)

    # -- creating and cancelling -----------------------------------------------------------------------
    async def create(self, task: TaskRecord, file: TaskFile) -> TaskRecord:
        """Store the task and its rows (durable when this returns); it starts now or at its time."""
        now = self.clock()
        account = self.accounts.get(task.app_id)
        template = account.templates.get(task.template_id)
        if template is None:
            raise SmsError(ErrorCode.TEMPLATE_MISMATCH, f"no template {task.template_id}")
        if task.sign and task.sign not in account.signatures:
            raise SmsError(ErrorCode.SIGNATURE_NOT_APPROVED, f"unknown signature {task.sign!r}")
        if task.schedule_at is not None and task.schedule_at > now + MAX_SCHEDULE_AHEAD:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "schedule_at is more than 30 days ahead")
        task.template_text = template.text
        task.created_at = now
        task.recipients = len(file.rows)
        task.rows_merged = file.merged
        task.state = "scheduled" if task.schedule_at is not None and task.schedule_at > now else "importing"
        if task.state == "importing":
            task.started_at = now
        await self.store.create_task(task, file.rows, file.problems)
        log.info("tasks.created", task_id=task.id, app_id=task.app_id, recipients=task.recipients,
                 rejected=len(file.problems), state=task.state)
        if task.state == "scheduled":
            self.scheduled[task.id] = task
            self.wake.set()
        else:
            self.pending[task.id] = 0
            self._import_later(task)
        return task

    async def cancel(self, task_id: int, app_id: str | None) -> TaskRecord:
        """Call off a task that has not started: nothing of it was reserved or charged."""
        task = await self.store.task(task_id)
        if task is None or (app_id is not None and task.app_id != app_id):
            raise SmsError(ErrorCode.NOT_FOUND, f"no task {task_id}")
        if not await self.store.set_task_state(task_id, "cancelled", self.clock(), only_from=("scheduled",)):
            raise SmsError(ErrorCode.NOT_CANCELLABLE, f"task {task_id} is {STATUS_OF_STATE[task.state]}")
        self.scheduled.pop(task_id, None)
        await self.store.drop_task_rows(task_id)
        log.info("tasks.cancelled", task_id=task_id)
        return await self.store.task(task_id)  # type: ignore[return-value]

    # -- running ------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        """Start scheduled tasks when their time comes (within `check_every_s`)."""
        while True:
            await wait_event(self.wake, self.settings.check_every_s)
            self.wake.clear()
            now = self.clock()
            for task in [t for t in self.scheduled.values() if t.schedule_at is None or t.schedule_at <= now]:
                # durable first: a restart after this imports it instead of waiting again
                try:
                    started = await self.store.set_task_state(task.id, "importing", now, only_from=("scheduled",))
                except StoreError as exc:  # the store will answer again: the next tick tries again
                    log.error("tasks.start_failed", task_id=task.id, error=repr(exc))
                    break
                if not started:
                    self.scheduled.pop(task.id, None)  # cancelled meanwhile
                    continue
                self.scheduled.pop(task.id, None)
                task.state, task.started_at = "importing", now
                self.pending[task.id] = 0
                log.info("tasks.started", task_id=task.id, late_s=round(now - (task.schedule_at or now), 3))
                self._import_later(task)

    def _import_later(self, task: TaskRecord) -> None:
        self.importing[task.id] = asyncio.get_running_loop().create_task(self._import(task), name=f"task-{task.id}")

    async def _import(self, task: TaskRecord) -> None:
        chunk = self.settings.chunk_rows
        line = task.imported_line
        # the next chunk's rows are read while this one commits (the rows never change)
        upcoming = asyncio.ensure_future(self.store.task_rows_after(task.id, line, chunk))
        try:
            while True:
                # memory stays bounded: wait while the carriers have as much as they may hold
                while self.open_messages() + chunk > self.max_open:
                    await asyncio.sleep(0.1)
                rows = await upcoming
                done = len(rows) < chunk
                last_line = rows[-1][0] if rows else line
                if not done:
                    upcoming = asyncio.ensure_future(self.store.task_rows_after(task.id, last_line, chunk))
                account = self.accounts.accounts.get(task.app_id)
                if account is None:
                    log.warning("tasks.account_gone", task_id=task.id)
                    return
                dropped: list[RowProblem] = []
                if task.screen and rows and self.screen is not None:
                    empty = await self.screen([phone for _, phone, _ in rows])
                    dropped = [RowProblem(ln, phone, int(ErrorCode.EMPTY_NUMBER), MESSAGES[ErrorCode.EMPTY_NUMBER])
                               for ln, phone, _ in rows if phone in empty]
                    rows = [row for row in rows if row[1] not in empty]
                accepted = await self.intake.accept_rows(account, task, rows, last_line, done, dropped)
                # read after the await: finals of earlier chunks came in meanwhile
                self.pending[task.id] = self.pending.get(task.id, 0) + accepted
                line = task.imported_line = last_line
                if done:
                    break
        except (SmsError, StoreError) as exc:  # the store failed: nothing of the chunk was accepted; retry
            log.error("tasks.import_failed", task_id=task.id, error=str(exc))
            self.importing.pop(task.id, None)
            await asyncio.sleep(1.0)
            self._import_later(task)
            return
        finally:
            if not upcoming.done():  # stopped, failed, or the account went away
                upcoming.cancel()
        task.state = "imported"
        self.importing.pop(task.id, None)
        await self.store.drop_task_rows(task.id)
        log.info("tasks.imported", task_id=task.id)
        self._maybe_complete(task.id)

    def on_final(self, final: MessageFinal) -> None:
        """A message became final: its task completes with its last one."""
        task_id = final.task_id
        if task_id is None:
            return
        left = self.pending.get(task_id)
        if left is None:
            return
        self.pending[task_id] = left - 1
        if left <= 1:
            self._maybe_complete(task_id)

    def _maybe_complete(self, task_id: int) -> None:
        if self.pending.get(task_id, 0) > 0 or task_id in self.importing:
            return
        self.pending.pop(task_id, None)
        done = asyncio.get_running_loop().create_task(
            self.store.set_task_state(task_id, "completed", self.clock(), only_from=("imported",)))
        self._finishing.add(done)
        done.add_done_callback(self._finishing.discard)
