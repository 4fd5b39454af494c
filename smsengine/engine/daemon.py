"""The engine: every service wired once from config, started in order and stopped in reverse."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import structlog
from aiohttp import web

from smsengine.api.app import build_app
from smsengine.config import AccountConfig, EngineConfig
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.limits import RateLimiter, SourceRateLimit
from smsengine.domain.signatures import Signature
from smsengine.domain.templates import Template
from smsengine.engine.accounts import AccountRegistry, policy_from
from smsengine.engine.callbacks import CallbackPusher
from smsengine.engine.carrier import CarrierLink
from smsengine.engine.dispatcher import Dispatcher
from smsengine.engine.housekeeping import Housekeeping
from smsengine.engine.intake import Intake, MessageIds
from smsengine.engine.metrics import EngineMetrics
from smsengine.engine.routing import Router
from smsengine.engine.store import Store

log = structlog.get_logger("smsengine")

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


class Engine:
    def __init__(self, config: EngineConfig, *, base_dir: Path | None = None) -> None:
        self.config = config
        self.base_dir = base_dir or Path.cwd()
        db_path = Path(config.store.path)
        if not db_path.is_absolute():
            db_path = self.base_dir / db_path
        self.store = Store(db_path, max_rows=config.store.batch_max_rows,
                           max_delay=config.store.batch_max_delay_ms / 1000)
        self.accounts = AccountRegistry(self.store, config.default_region)
        self.metrics = EngineMetrics(self)
        self.limiter = RateLimiter(on_alarm=self._alarm)
        self._alarm_urls = {a.app_id: a.limits.alarm_url for a in config.accounts if a.limits.alarm_url}
        self.links: dict[str, CarrierLink] = {}
        self.router = Router(config.routes, is_up=lambda name: name in self.links and self.links[name].up)
        self.dispatcher = Dispatcher(self.store, self.router, self.accounts, on_final=self._on_final)
        self.callbacks = CallbackPusher(self.store, self.accounts)
        self.housekeeping = Housekeeping(self.store, self.limiter, config.store.retention_days)
        self.intake: Intake | None = None  # type: ignore[assignment]
        self.draining = False
        # accounts, signatures and templates are created one at a time (see their save methods)
        self._creating = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._simulators: subprocess.Popen | None = None
        self.http_port: int | None = None

    def _alarm(self, app_id: str, day: int, count: int) -> None:
        """An account crossed its daily alarm threshold: log, metric, and its alarm URL if set."""
        self.metrics.alarms += 1
        log.warning("limits.alarm", app_id=app_id, accepted_today=count)
        url = self._alarm_urls.get(app_id)
        if url:
            self.callbacks.alarm(url, {"event": "daily_threshold", "app_id": app_id, "accepted_today": count,
                                       "time": time.time()})

    def _on_final(self, final) -> None:
        self.callbacks.wake.set()

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        if cfg.simulators.embedded:
            await self._start_simulators()
        await self.store.open()
        await self.accounts.seed(cfg.accounts)
        await self.accounts.load()
        for app_id, account in self.accounts.accounts.items():
            self.limiter.set_policy(app_id, account.policy)
        self.intake = Intake(
            self.accounts, self.store, self.limiter, MessageIds(await self.store.max_message_id()),
            self.dispatcher.enqueue, default_region=cfg.default_region, max_chars=cfg.max_chars,
            max_time_skew=cfg.http.max_time_skew_s,
            source_limit=SourceRateLimit(cfg.http.source_numbers_per_s, cfg.http.source_burst),
        )
        await self.dispatcher.start()
        for carrier in cfg.carriers:
            link = CarrierLink(carrier, self.dispatcher)
            self.links[carrier.name] = link
            self.dispatcher.attach(link)
            await link.start()
        # recovery: whatever was accepted and not final goes back to the queues
        pending = await self.store.open_messages()
        if pending:
            if self.links:
                await asyncio.gather(*(link.wait_up(5.0) for link in self.links.values()))
            done = {rec.id: segs for rec, segs in pending if segs}
            self.dispatcher.enqueue([rec for rec, _ in pending], done)
            log.info("recovery.requeued", messages=len(pending), partly_sent=len(done))
            if done:
                asyncio.get_running_loop().create_task(self._reconcile())
        await self.callbacks.start()
        self.metrics.start()
        self.housekeeping.start()
        app = build_app(self)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.http.host, cfg.http.port, backlog=1024)
        await site.start()
        server = site._server  # aiohttp exposes the bound socket only here
        self.http_port = server.sockets[0].getsockname()[1] if server and server.sockets else cfg.http.port
        log.info("engine.started", http=f"http://{cfg.http.host}:{self.http_port}", carriers=list(self.links))

    async def _reconcile(self) -> None:
        try:
            resolved = await self.dispatcher.reconcile()
            log.info("recovery.reconciled", resolved=resolved)
        except Exception as exc:
            log.warning("recovery.reconcile_failed", error=repr(exc))

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop intake, drain windows, flush the store, unbind — in that order."""
        self.draining = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await asyncio.gather(*(link.drain(drain_timeout) for link in self.links.values()))
        await self.callbacks.stop()
        await self.metrics.stop()
        await self.housekeeping.stop()
        for link in self.links.values():
            await link.stop()
        await self.dispatcher.stop()
        if self.store.db is not None:
            await self.store.close()
        if self._simulators is not None:
            self._simulators.terminate()
            try:
                self._simulators.wait(5)
            except subprocess.TimeoutExpired:
                self._simulators.kill()
        log.info("engine.stopped")

    async def _start_simulators(self) -> None:
        """The embedded carriers run as a child process: on two cores they must not share the
        engine's event loop, and a crash of either side stays visible to the other."""
        path = Path(self.config.simulators.config)
        if not path.is_absolute():
            path = self.base_dir / path if (self.base_dir / path).exists() else PROJECT_ROOT / path
        self._simulators = subprocess.Popen(
            [sys.executable, "-m", "carriers", "--config", str(path)],
            cwd=str(PROJECT_ROOT), env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        )
        deadline = time.monotonic() + 15
        for carrier in self.config.carriers:
            while True:
                if self._simulators.poll() is not None:
                    raise RuntimeError(f"carrier simulators exited with {self._simulators.returncode}")
                try:
                    _, writer = await asyncio.open_connection(carrier.host, carrier.port)
                    writer.close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"simulated carrier {carrier.name} did not open port {carrier.port}")
                    await asyncio.sleep(0.1)

    # -- management (API) -------------------------------------------------------------------------------------
    async def create_account(self, cfg: AccountConfig) -> None:
        # checked again under the lock: two creations of one app_id must not both reach the INSERT
        async with self._creating:
            if cfg.app_id in self.accounts.accounts:
                raise SmsError(ErrorCode.REQUEST_MALFORMED, f"account {cfg.app_id} exists")
            await self.accounts.seed([cfg])
            await self.accounts.load(only=cfg.app_id)
        self.limiter.set_policy(cfg.app_id, policy_from(cfg, self.config.default_region))

    def find_signature(self, sid: int) -> Signature:
        for account in self.accounts.accounts.values():
            for sig in account.signatures.values():
                if sig.id == sid:
                    return sig
        raise SmsError(ErrorCode.NOT_FOUND, f"no signature {sid}")

    def find_template(self, tid: int) -> Template:
        for account in self.accounts.accounts.values():
            if tid in account.templates:
                return account.templates[tid]
        raise SmsError(ErrorCode.NOT_FOUND, f"no template {tid}")

    async def save_signature(self, sig: Signature, *, new: bool) -> Signature:
        import msgspec

        if new:
            # checked again under the lock: a duplicate name reaching the INSERT would fail the
            # whole group commit, and with it the store
            async with self._creating:
                if sig.name in self.accounts.get(sig.account).signatures:
                    raise SmsError(ErrorCode.SIGNATURE_INVALID, f"signature {sig.name!r} exists")
                await self.store.execute_now(
                    "INSERT INTO signatures (app_id, name, status, created_at) VALUES (?,?,?,?)",
                    (sig.account, sig.name, str(sig.status), time.time()),
                )
                row = await self.store.fetchone("SELECT id FROM signatures WHERE app_id=? AND name=?",
                                                (sig.account, sig.name))
            sig = msgspec.structs.replace(sig, id=row[0])
        else:
            await self.store.execute_now("UPDATE signatures SET status=?, remark=? WHERE id=?",
                                         (str(sig.status), sig.remark, sig.id))
        self.accounts.get(sig.account).signatures[sig.name] = sig
        return sig

    async def save_template(self, tpl: Template, *, new: bool) -> Template:
        import msgspec

        if new:
            # one creation at a time: concurrent INSERTs share a group commit, and MAX(id) read
            # back afterwards would hand every one of them the same id
            async with self._creating:
                await self.store.execute_now(
                    "INSERT INTO templates (app_id, text, type, region, status, created_at) VALUES (?,?,?,?,?,?)",
                    (tpl.account, tpl.text, str(tpl.type), str(tpl.region), str(tpl.status), time.time()),
                )
                row = await self.store.fetchone("SELECT MAX(id) FROM templates WHERE app_id=?", (tpl.account,))
            tpl = msgspec.structs.replace(tpl, id=row[0])
        else:
            await self.store.execute_now("UPDATE templates SET status=?, remark=? WHERE id=?",
                                         (str(tpl.status), tpl.remark, tpl.id))
        self.accounts.get(tpl.account).templates[tpl.id] = tpl
        return tpl


async def serve(config: EngineConfig) -> None:
    engine = Engine(config)
    try:
        await engine.start()
    except BaseException:
        await engine.stop(drain_timeout=0.0)  # undo what did start, then report why
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("engine.stopping")
    await engine.stop()
