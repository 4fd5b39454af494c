"""The composition root: embedded simulators (if configured), the engine, then its HTTP API —
started in that order, stopped in reverse, and `serve` running them until SIGTERM."""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import structlog
from aiohttp import web

from smsengine.api.app import build_app
from smsengine.api.listener import Listener, ListenerSite
from smsengine.config import EngineConfig
from smsengine.console.app import console_app
from smsengine.engine.services import Engine
from smsengine.api.request_logs import quiet_bad_requests

log = structlog.get_logger("smsengine")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when the engine dies, even by SIGKILL
    (Linux prctl; elsewhere the child must be stopped by hand)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


async def _answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


# besides the client connections and carrier binds: callback pushes (aiohttp's pool of 100), SQLite
# (database, -wal and -shm for the writer and the reader) and headroom (listening socket, logs,
# DNS, the simulators' pipes); README "Operations" gives the same sum
_OTHER_OPEN_FILES = 100 + 8 + 50


def open_files_needed(config: EngineConfig) -> int:
    binds = sum(c.binds * (2 if c.bind_mode == "transmitter_receiver" else 1) for c in config.carriers)
    return config.http.max_connections + binds + _OTHER_OPEN_FILES


def ensure_open_files(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to `needed` as far as the hard limit allows (no privilege
    needed); returns the soft limit now in force, and logs when it stays below `needed` (past
    it, every accept and every SQLite open fails)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning("http.open_files_low", limit=soft, needed=needed,
                    hint="raise `ulimit -n` (hard limit) or lower http.max_connections")
    return soft


class EmbeddedSimulators:
    """The configured carriers' simulators as a child process: on two cores they must not share
    the engine's event loop, and a crash of either side stays visible to the other."""

    def __init__(self, config: EngineConfig, base_dir: Path) -> None:
        path = Path(config.simulators.config)
        if not path.is_absolute():
            path = base_dir / path if (base_dir / path).exists() else PROJECT_ROOT / path
        self.path = path
        self.endpoints = [(c.name, c.host, c.port) for c in config.carriers]
        self.process: subprocess.Popen | None = None

    async def start(self, timeout: float = 15.0) -> None:
        for name, host, port in self.endpoints:
            # something already answering there (e.g. the orphan of a killed engine) would be
            # talked to instead of our own simulator, which cannot bind: refuse to start
            if await _answers(host, port):
                raise RuntimeError(f"port {port} of simulated carrier {name} is already in use")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "carriers", "--config", str(self.path)],
            cwd=str(PROJECT_ROOT), env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        for name, host, port in self.endpoints:
            while not await _answers(host, port):
                if self.process.poll() is not None:
                    raise RuntimeError(f"carrier simulators exited with {self.process.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"simulated carrier {name} did not open port {port}")
                await asyncio.sleep(0.1)

    def admin_urls(self) -> dict[str, str]:
        """Carrier name → its simulator's admin base URL (the console shows their counters)."""
        try:
            with self.path.open("rb") as f:
                carriers = tomllib.load(f).get("carriers", [])
        except (OSError, tomllib.TOMLDecodeError):
            return {}
        return {str(c["name"]): f"http://127.0.0.1:{int(c['admin_port'])}"
                for c in carriers if isinstance(c, dict) and c.get("name") and c.get("admin_port")}

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


async def _to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


class Server:
    """The engine and its HTTP API."""

    def __init__(self, config: EngineConfig, *, base_dir: Path | None = None) -> None:
        self.config = config
        self.engine = Engine(config, base_dir=base_dir)
        self.simulators = EmbeddedSimulators(config, self.engine.base_dir) if config.simulators.embedded else None
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None
        cfg = config.http
        self.listener = Listener(header_timeout=cfg.header_timeout_s, body_timeout=cfg.body_timeout_s,
                                 max_connections=cfg.max_connections)

    async def start(self) -> None:
        cfg = self.config.http
        ensure_open_files(open_files_needed(self.config))
        if self.simulators is not None:
            await self.simulators.start()
        await self.engine.start()
        quiet_bad_requests()
        self.engine.metrics.registry.register(self.listener)
        app = build_app(self.engine, middlewares=[self.listener.middleware])
        if self.config.console.enabled:
            admin = self.simulators.admin_urls() if self.simulators is not None else {}
            app.add_subapp("/console", console_app(self.engine, simulators=admin))
            app.router.add_get("/", _to_console)
            app.router.add_get("/console", _to_console)
        # keepalive_timeout: aiohttp closes a connection idle (or with a late next request) this long
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=cfg.keepalive_timeout_s)
        await self._runner.setup()
        site = ListenerSite(self._runner, self.listener, cfg.host, cfg.port, backlog=1024)
        await site.start()
        self.http_port = site.port
        log.info("http.started", url=f"http://{cfg.host}:{self.http_port}", max_connections=cfg.max_connections)

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop taking requests, then stop the engine (drain, unbind, flush), then the simulators."""
        self.engine.draining = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.engine.stop(drain_timeout)
        if self.simulators is not None:
            self.simulators.stop()


async def serve(config: EngineConfig) -> None:
    server = Server(config)
    try:
        await server.start()
    except BaseException:
        await server.stop(drain_timeout=0.0)  # undo what did start, then report why
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("engine.stopping")
    await server.stop()
