"""The processes of one run: the simulators (`python -m carriers`) and the engine (`python -m
smsengine serve`), each with its config in the run's temp dir, its output in a log file there,
started on loopback ports chosen beforehand and always stopped (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import smsengine

ROOT = Path(smsengine.__file__).resolve().parent.parent
STOP_WAIT_S = 15.0  # a process given SIGTERM is killed if it has not gone after this long


class RunError(Exception):
    """A run that could not go on: a process that would not start, or died; one line."""


def free_port() -> int:
    """A port free on loopback now (another process could take it before ours binds: rare; the
    process then fails to start, and the runner starts the run's processes again on new ports)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class Process:
    """One child process with its log; `stop()` is safe to call twice and after it died."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for key in [k for k in env if k.startswith("SMSENGINE_")]:
            del env[key]  # the config file says everything; a shell's overrides would change the run
        with log.open("ab") as out:
            self.popen = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check(self) -> None:
        """Raise when the process has ended (it should run until stopped)."""
        code = self.popen.poll()
        if code is not None:
            raise RunError(f"{self.name} exited with status {code}: {log_tail(self.log) or 'no output'}")

    def stop(self) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def start_simulators(config: Path, directory: Path) -> Process:
    return Process("simulators", ["-m", "carriers", "--config", str(config), "--log-level", "warning"],
                   directory / "carriers.log")


def start_engine(config: Path, directory: Path) -> Process:
    return Process("engine", ["-m", "smsengine", "serve", "--config", str(config)], directory / "engine.log")
