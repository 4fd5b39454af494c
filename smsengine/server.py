"""The composition root: embedded simulators (if configured), the engine, then its HTTP API —
started in that order, stopped in reverse, and `serve` running them until SIGTERM."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import structlog
from aiohttp import web

from smsengine.api.app import build_app
from smsengine.config import EngineConfig
from smsengine.engine.services import Engine
from smsengine.logs import quiet_bad_requests

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

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


class Server:
    """The engine and its HTTP API."""

    def __init__(self, config: EngineConfig, *, base_dir: Path | None = None) -> None:
        self.config = config
        self.engine = Engine(config, base_dir=base_dir)
        self.simulators = EmbeddedSimulators(config, self.engine.base_dir) if config.simulators.embedded else None
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None

    async def start(self) -> None:
        cfg = self.config.http
        if self.simulators is not None:
            await self.simulators.start()
        await self.engine.start()
        quiet_bad_requests()
        self._runner = web.AppRunner(build_app(self.engine), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.port, backlog=1024)
        await site.start()
        server = site._server  # aiohttp exposes the bound socket only here
        self.http_port = server.sockets[0].getsockname()[1] if server and server.sockets else cfg.port
        log.info("http.started", url=f"http://{cfg.host}:{self.http_port}")

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
