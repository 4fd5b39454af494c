"""The engine: its long-lived services wired once from config, started in order and stopped in
reverse. It knows nothing of HTTP; the composition root (smsengine/server.py) serves it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import structlog

from smsengine.config import AccountConfig, EngineConfig, LimitsConfig
from smsengine.domain.content import SensitiveWords, neutral_names
from smsengine.domain.limits import RateLimiter, SourceRateLimit
from smsengine.engine.accounts import Account, AccountRegistry
from smsengine.engine.authentication import Authenticator, ReplayWindow
from smsengine.engine.callbacks import CallbackPusher
from smsengine.engine.dispatcher import Dispatcher
from smsengine.engine.housekeeping import Housekeeping
from smsengine.engine.intake import Intake, MessageIds
from smsengine.engine.lifecycle import cancel_tasks
from smsengine.engine.limit_history import restore_limits
from smsengine.engine.metrics import EngineMetrics, Sources
from smsengine.engine.notices import OverLimitNotices
from smsengine.engine.pool import CarrierPool, PoolLinks
from smsengine.engine.remote_link import ProcessLinks, RemoteLink
from smsengine.engine.replies import Replies
from smsengine.engine.routing import Router
from smsengine.engine.screening import NumberScreening, NumberState
from smsengine.engine.shortlinks import ShortLinks
from smsengine.engine.records import MessageFinal, MessageStatus
from smsengine.engine.store import Store
from smsengine.engine.tasks import TaskRunner
from smsengine.runtime import usable_cores
from smsengine.smpp.concatenation import ReferenceRotor

log = structlog.get_logger("smsengine")

_DELIVERED = MessageStatus.DELIVERED  # a global: an enum member lookup is ~180 ns on Python 3.11, once per final


def carrier_process_wanted(setting: bool | str, cores: int | None = None) -> bool:
    """`dispatch.carrier_process` resolved: "auto" means a child process when there are more than
    two cores. On two, measured end to end (README "Carrier process"), the process freed the
    event loop but cost ~10 µs of CPU a message more than it saved, and the machine's two cores,
    not the loop, were then the bound: no faster."""
    if setting == "auto":
        return (cores if cores is not None else usable_cores()) > 2
    return bool(setting)


class Engine:
    def __init__(self, config: EngineConfig, *, base_dir: Path | None = None) -> None:
        self.config = config
        self.base_dir = base_dir or Path.cwd()
        db_path = Path(config.store.path)
        if not db_path.is_absolute():
            db_path = self.base_dir / db_path
        self.store = Store(db_path, max_rows=config.store.batch_max_rows,
                           max_delay=config.store.batch_max_delay_ms / 1000, writer_nice=config.store.writer_nice)
        sensitive = SensitiveWords(config.content.sensitive_words)
        self.accounts = AccountRegistry(self.store, config.default_region, sensitive=sensitive,
                                        neutral=neutral_names(config.content.neutral_signature_names))
        self.limiter = RateLimiter(on_alarm=self._alarm)
        self.callbacks = CallbackPusher(self.store, self.accounts, config.callbacks,
                                        allow_private=config.http.allow_private_callbacks)
        self.replies = Replies(self.store, self.accounts, window_s=config.replies.attribution_window_s)
        self.shortlinks = ShortLinks(self.store, max_per_account=config.links.max_per_account)
        self.pools: dict[str, CarrierPool | RemoteLink] = {}
        self.router = Router(config.routes, is_up=lambda name: name in self.pools and self.pools[name].up)
        self.screening = NumberScreening(config.carriers, self.router.preference, config.screening,
                                         config.default_region)
        self.dispatcher = Dispatcher(self.store, self.router, self.accounts, self.replies,
                                     settings=config.dispatch, on_final=self._on_final)
        rotor = ReferenceRotor()  # one for all carriers: a failover keeps a message's reference
        # the binds run in a process of their own (README "Carrier process"), or on this loop
        self.carriers: ProcessLinks | PoolLinks
        if carrier_process_wanted(config.dispatch.carrier_process) and config.carriers:
            self.carriers = ProcessLinks(config.carriers, self.dispatcher, rotor, self.store.when_durable,
                                         config.log_level)
        else:
            self.carriers = PoolLinks(config.carriers, self.dispatcher, rotor, self.store.when_durable)
        for link in self.carriers.links:
            self.pools[link.name] = link
            self.dispatcher.attach(link)
        skew = config.http.max_time_skew_s
        self.auth = Authenticator(self.accounts, ReplayWindow(self.store, skew), skew)
        self.notices = OverLimitNotices(self.callbacks.alarm, self.accounts.alarm_url)
        self.intake = Intake(
            self.accounts, self.store, self.limiter, MessageIds(0), self.dispatcher.enqueue, self.auth,
            default_region=config.default_region, max_chars=config.max_chars,
            source_limit=SourceRateLimit(config.http.source_numbers_per_s, config.http.source_burst),
            open_messages=lambda: self.dispatcher.stats.open, max_open=config.dispatch.max_open_messages,
            sensitive=sensitive,
            on_limited=lambda app_id, phone, code, now: self.notices.stopped(app_id, phone, code, now),
            dispatch_texts=self.dispatcher.enqueue_texts,
        )
        self.tasks = TaskRunner(self.store, self.accounts, self.intake, config.tasks,
                                open_messages=lambda: self.dispatcher.stats.open,
                                max_open=config.dispatch.max_open_messages, screen=self._empty_numbers)
        self.housekeeping = Housekeeping(self.store, self.limiter, config.store.retention_days,
                                         accounts=self.accounts, arrears_grace_s=config.billing.arrears_grace_s)
        self.metrics = EngineMetrics(Sources(
            intake=self.intake.stats, dispatch=self.dispatcher.stats, replies=self.replies.stats,
            pools=self.pools, writer=self.store, receipts=self.dispatcher.correlator,
            carrier_restarts=lambda: self.carriers.restarts,
        ))
        self.draining = False  # stop() began: no new sends are taken
        self._reconcile: asyncio.Task | None = None

    def _alarm(self, app_id: str, day: int, count: int) -> None:
        """An account crossed its daily alarm threshold: log, metric, and its alarm URL if set."""
        self.intake.stats.alarms += 1
        log.warning("limits.alarm", app_id=app_id, accepted_today=count)
        url = self.accounts.alarm_url(app_id)
        if url:
            self.callbacks.alarm(url, {"event": "daily_threshold", "app_id": app_id, "accepted_today": count,
                                       "time": time.time()})

    async def _empty_numbers(self, numbers: list[str]) -> set[str]:
        """Of these E.164 numbers, the ones their carrier's lookup says are empty (a task's screen)."""
        checked = await self.screening.check(numbers)
        return {r.number for r in checked.results if r.status is NumberState.EMPTY}

    def _on_final(self, final: MessageFinal, cursor: int) -> None:
        self.callbacks.on_final(final, cursor)
        if final.status != _DELIVERED:
            self.carriers.ended(final.message_id)  # parts of it still queued are not sent
        if final.task_id is not None:
            self.tasks.on_final(final)

    async def create_account(self, cfg: AccountConfig) -> Account:
        """A new account, durable and in force at once (its limits apply to the next send)."""
        account = await self.accounts.create_account(cfg)
        self.limiter.set_policy(account.app_id, account.policy)
        await self.callbacks.account_added(account.app_id)
        return account

    async def set_limits(self, app_id: str, limits: LimitsConfig) -> None:
        """New limits for an account: durable, then in force for its next send (counts so far kept)."""
        self.limiter.set_policy(app_id, await self.accounts.set_limits(app_id, limits))

    async def start(self) -> None:
        cfg = self.config
        await self.store.open()
        await self.accounts.seed(cfg.accounts)
        await self.accounts.load()
        await self.auth.replays.load(time.time())
        for app_id, account in self.accounts.accounts.items():
            self.limiter.set_policy(app_id, account.policy)
        replayed, took = await restore_limits(self.store, self.limiter, time.time())
        log.info("limits.restored", messages=replayed, seconds=round(took, 3))
        self.intake.ids = MessageIds(await self.store.max_message_id())
        self.dispatcher.start()
        self.carriers.start()
        await self.tasks.start()
        await self._recover()
        await self.callbacks.start()
        await self.screening.start()
        self.metrics.start()
        self.housekeeping.start()
        log.info("engine.started", carriers=list(self.pools))

    async def _recover(self) -> None:
        """Whatever was accepted and is not final goes back to the queues; segments a carrier
        already accepted are asked about (query_sm), never sent again."""
        pending = await self.store.open_messages()
        if not pending:
            return
        await self.carriers.wait_up(5.0)
        partly_sent = self.intake.resume(pending)
        log.info("recovery.requeued", messages=len(pending), partly_sent=partly_sent)
        if partly_sent:
            self._reconcile = asyncio.get_running_loop().create_task(self._reconcile_sent(), name="reconcile")

    async def _reconcile_sent(self) -> None:
        try:
            log.info("recovery.reconciled", resolved=await self.dispatcher.reconcile())
        except Exception:
            # what is not reconciled still ends by its receipt or the carrier's expiry
            log.exception("recovery.reconcile_failed")

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Drain queues and windows, stop the background work, unbind, then flush and close the
        store (late receipts and answers still reach it until the binds are gone)."""
        self.draining = True
        await self.tasks.stop()
        await self.carriers.drain(drain_timeout)
        await cancel_tasks(self._reconcile)
        self.notices.close()
        await self.callbacks.stop()
        await self.screening.stop()
        await self.metrics.stop()
        await self.housekeeping.stop()
        await self.carriers.stop()
        await self.dispatcher.stop()
        await self.replies.settle()  # replies still looking up their sender are stored too
        await self.store.close()
        log.info("engine.stopped")
