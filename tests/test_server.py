"""The composition root: embedded simulators die with the engine, an engine never starts
against a port something else already holds, and it takes the open files its config needs."""

from __future__ import annotations

import asyncio
import resource
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smsengine.config import CarrierConfig, EngineConfig, HttpConfig, SimulatorConfig
from smsengine.server import EmbeddedSimulators, open_files_needed
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def simulator_config(tmp: Path, port: int) -> EngineConfig:
    carriers = tmp / "carriers.toml"
    carriers.write_text(textwrap.dedent(f"""
        [[carriers]]
        name = "ideal"
        host = "127.0.0.1"
        port = {port}
        accounts = [{{ system_id = "smsengine", password = "secret" }}]
    """))
    return EngineConfig(simulators=SimulatorConfig(embedded=True, config=str(carriers)),
                        carriers=[CarrierConfig(name="ideal", port=port)])


async def answers(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def test_a_port_already_held_fails_the_start_before_any_child_is_spawned(tmp_path):
    holder = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = holder.sockets[0].getsockname()[1]
    try:
        simulators = EmbeddedSimulators(simulator_config(tmp_path, port), tmp_path)
        with pytest.raises(RuntimeError, match=f"port {port} .* already in use"):
            await simulators.start()
        assert simulators.process is None
    finally:
        holder.close()
        await holder.wait_closed()


async def test_the_simulators_die_with_a_killed_engine(tmp_path):
    """SIGKILL leaves no chance to clean up: the child must not outlive its parent and keep the
    port (a restarted engine would talk to the orphan)."""
    port = free_port()
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import asyncio, sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from tests.test_server import simulator_config
        from smsengine.server import EmbeddedSimulators
        sims = EmbeddedSimulators(simulator_config(Path({str(tmp_path)!r}), {port}), Path({str(tmp_path)!r}))
        asyncio.run(sims.start())
        print("ready", flush=True)
        time.sleep(60)
    """)], cwd=str(ROOT), stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 20)
        assert line.strip() == b"ready"
        assert await answers(port)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        await eventually(lambda: _closed(port), 10)
    finally:
        parent.kill()


async def _closed(port: int) -> bool:
    return not await answers(port)


def _open_files_after(limits: tuple[int, int], needed: int) -> tuple[int, str]:
    """Run ensure_open_files in a child started under `limits` (soft, hard): the soft limit it
    leaves, and what it printed."""
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(f"""
            import resource, sys
            sys.path.insert(0, {str(ROOT)!r})
            from smsengine.server import ensure_open_files
            ensure_open_files({needed})
            print("soft", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        """)],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits),
        capture_output=True, text=True, timeout=30, check=True,
    )
    return int(child.stdout.rsplit("soft", 1)[1]), child.stdout


def test_the_engine_raises_its_open_files_limit_to_what_the_config_needs():
    config = EngineConfig(http=HttpConfig(max_connections=1000),
                          carriers=[CarrierConfig(name="a", binds=2), CarrierConfig(name="b", binds=1,
                                                                                     bind_mode="transmitter_receiver")])
    needed = open_files_needed(config)
    assert needed == 1000 + 2 + 2 + 158
    soft, printed = _open_files_after((256, 4096), needed)
    assert soft == needed and "open_files_low" not in printed
    # a hard limit below what is needed: raised as far as it goes, and said
    soft, printed = _open_files_after((256, 512), needed)
    assert soft == 512 and "open_files_low" in printed
