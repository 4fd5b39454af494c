"""Starting a run's processes: a loopback port taken by another process between choosing it and
binding it does not fail the run; the processes start again on new ports."""

from __future__ import annotations

import socket

import pytest

from smsengine.lab import runner
from smsengine.lab.processes import RunError
from smsengine.lab.scenario import load

from .conftest import EXPERIMENTS


@pytest.mark.timeout(90)
async def test_a_port_taken_before_the_engine_binds_it_starts_the_run_again_on_new_ports(tmp_path, monkeypatch):
    scenario = next(iter(load(EXPERIMENTS / "baseline.toml", quick=True).variants.values()))
    names = list(scenario.carriers)
    with socket.socket() as squatter:  # another process's listener on the port handed out first
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        handed = [taken]
        real = runner.free_port
        monkeypatch.setattr(runner, "free_port", lambda: handed.pop() if handed else real())
        ports, processes = await runner._start(scenario, names, tmp_path)
        try:
            assert ports.http != taken
            for process in processes:
                process.check()  # both running
            # the first engine's complaint is in its log: it was the port, nothing else
            assert "address already in use" in (tmp_path / "engine.log").read_text().lower()
        finally:
            for process in reversed(processes):
                process.stop()


def test_only_a_taken_port_is_tried_again():
    assert runner._port_taken(RunError("engine exited with status 1: ... OSError: [Errno 98] error while"
                                       " attempting to bind on address ('127.0.0.1', 4): address already in use"))
    assert not runner._port_taken(RunError("simulators exited with status 1: bad config"))
    assert not runner._port_taken(TimeoutError())
