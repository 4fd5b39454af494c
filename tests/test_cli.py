"""The command line against a real engine: `python -m smsengine ...` run as a process, the engine
and a simulator on ephemeral ports (tests/support/rig.py), and what it prints and exits with."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import pytest
import typer
from aiohttp import web

from smsengine.cli.connection import default_url
from smsengine.cli.options import instant
from smsengine.config import load
from tests.support.polling import eventually
from tests.support.rig import fast_profile, start_rig, stop_rig

ROOT = Path(__file__).resolve().parents[1]


class Run(msgspec.Struct):
    status: int
    out: str
    err: str


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


def url_of(rig) -> str:
    return f"http://127.0.0.1:{rig.server.http_port}"


def cli_env(url: str) -> dict[str, str]:
    """This environment without the caller's SMSENGINE_* settings; wide, so tables do not wrap."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSENGINE_")}
    return {**env, "SMSENGINE_URL": url, "COLUMNS": "240"}


async def cli(url: str, *args: str, timeout: float = 30.0) -> Run:
    """`python -m smsengine ARGS` with SMSENGINE_URL=url; the engine's loop keeps serving meanwhile."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smsengine", *args, cwd=ROOT, env=cli_env(url), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return Run(proc.returncode, out.decode(), err.decode())


async def api(rig, method: str, path: str, **kwargs) -> dict:
    async with rig.http.request(method, path, headers=rig.client.auth, **kwargs) as resp:
        body = await resp.json()
        assert resp.status < 300, body
        return body


def task_id_in(text: str) -> int:
    match = re.search(r"task (\d+)", text)
    assert match, text
    return int(match.group(1))


def one_line_without_traceback(run: Run) -> str:
    assert "Traceback" not in run.err, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    return lines[0]


async def test_a_csv_task_is_imported_and_followed_until_it_completes(rig, tmp_path):
    csv = tmp_path / "orders.csv"
    csv.write_text("phone,order\n+8613800000101,A-1\n+8613800000102,A-2\nnot-a-number,A-3\n+8613800000103,A-4\n")
    run = await cli(url_of(rig), "task", "import", str(csv), "--template", "3", "--sign", "smsengine",
                    "--name", "orders", "--wait", "20")
    assert run.status == 0, run
    task_id = task_id_in(run.out)
    assert f"task {task_id} completed: 3 final (3 delivered, 0 failed" in run.out
    assert re.search(r"\b4\b.*not-a-number.*1016", run.out), run.out  # the rejected row, by line
    view = await api(rig, "GET", f"/v1/tasks/{task_id}")
    # --type was not given: the template's (marketing) was asked for and used
    assert (view["status"], view["type"], view["name"], view["counts"]["delivered"]) == \
        ("completed", "marketing", "orders", 3)


async def test_a_task_whose_every_row_is_rejected_fails_the_command(rig, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("12,A-1\nnot-a-number,A-2\n")
    run = await cli(url_of(rig), "task", "import", str(csv), "--template", "3", "--sign", "smsengine")
    assert run.status == 1, run
    assert "every row was rejected" in one_line_without_traceback(run)
    view = await api(rig, "GET", f"/v1/tasks/{task_id_in(run.out)}")
    assert (view["recipients"], view["rows_rejected"]) == (0, 2)

    # the numbers are fine, but a regular task may not use a marketing template: each row is
    # refused as the task imports
    csv.write_text("+8613800000111,A-1\n+8613800000112,A-2\n")
    run = await cli(url_of(rig), "task", "import", str(csv), "--template", "3", "--sign", "smsengine",
                    "--type", "regular", "--wait", "20")
    assert run.status == 1, run
    assert "every row was refused as it was imported" in run.err and "Traceback" not in run.err, run.err
    view = await api(rig, "GET", f"/v1/tasks/{task_id_in(run.out)}")
    assert (view["status"], view["recipients"], view["rows_rejected"]) == ("completed", 2, 2)


async def test_a_task_scheduled_an_hour_ahead_is_listed_shown_and_cancelled(rig, tmp_path):
    csv = tmp_path / "later.csv"
    csv.write_text("+8613800000201,B-1\n+8613800000202,B-2\n")
    # local, no offset; 45 s more, so "in 1 h 0 min" however long the command takes to start
    in_an_hour = datetime.fromtimestamp(time.time() + 3645).replace(microsecond=0)
    url = url_of(rig)
    run = await cli(url, "task", "import", str(csv), "--template", "3", "--sign", "smsengine",
                    "--at", in_an_hour.isoformat())
    assert run.status == 0, run
    task_id = task_id_in(run.out)
    assert f"task {task_id} starts at {in_an_hour:%Y-%m-%d %H:%M:%S} (in 1 h 0 min)" in run.out, run.out
    assert (await api(rig, "GET", f"/v1/tasks/{task_id}"))["schedule_at"] == in_an_hour.timestamp()

    listed, shown = await asyncio.gather(cli(url, "task", "list", "--status", "scheduled"),
                                         cli(url, "task", "show", str(task_id)))
    assert listed.status == 0 and re.search(rf"│\s+{task_id} │.*scheduled", listed.out), listed
    assert shown.status == 0 and re.search(r"status\s+scheduled", shown.out) and "marketing" in shown.out, shown
    cancelled = await cli(url, "task", "cancel", str(task_id))
    assert cancelled.status == 0 and re.search(r"status\s+cancelled", cancelled.out), cancelled
    assert (await api(rig, "GET", f"/v1/tasks/{task_id}"))["status"] == "cancelled"

    again = await cli(url, "task", "cancel", str(task_id))
    assert again.status == 1
    line = one_line_without_traceback(again)
    assert line.startswith("smsengine: error 1056: ") and f"task {task_id} is cancelled" in line, line


async def test_messages_are_listed_newest_first_with_filters(rig):
    ids = await rig.client.accepted(["+8613800000301", "+8613800000302", "+8613800000303"])
    await rig.client.wait_final(ids)
    url = url_of(rig)
    run, one = await asyncio.gather(cli(url, "messages", "list", "--status", "delivered", "--limit", "2"),
                                    cli(url, "messages", "list", "--phone", "13800000302"))  # a national form
    assert run.status == 0, run
    assert re.findall(r"^│\s+(\d+) │", run.out, re.MULTILINE) == [ids[2], ids[1]], run.out
    assert "+8613800000303" in run.out and "delivered" in run.out
    assert re.findall(r"^│\s+(\d+) │", one.out, re.MULTILINE) == [ids[1]], one


async def test_an_export_streams_every_row_and_stops_quietly_when_its_reader_does(rig, tmp_path):
    numbers = [f"+86139{i:08d}" for i in range(3000)]  # ~0.5 MB of CSV: more than a pipe holds
    task = await api(rig, "POST", "/v1/tasks", json={"template_id": 1, "sign": "smsengine", "numbers": numbers,
                                                     "params": ["1234", "5"]})

    async def imported() -> bool:
        return sum((await rig.engine.store.task_counts(task["id"])).values()) == len(numbers)

    await eventually(imported, 20)
    url = url_of(rig)

    whole = await cli(url, "export", "task", str(task["id"]))
    assert whole.status == 0 and whole.err == "", whole.err
    lines = whole.out.splitlines()
    assert lines[0].startswith("message_id,phone,content") and len(lines) == 1 + len(numbers)
    assert {line.split(",")[1] for line in lines[1:]} == set(numbers)

    read_end, write_end = os.pipe()
    export = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smsengine", "export", "messages", cwd=ROOT, env=cli_env(url),
        stdout=write_end, stderr=asyncio.subprocess.PIPE)
    head = await asyncio.create_subprocess_exec("head", "-1", stdin=read_end, stdout=asyncio.subprocess.PIPE)
    os.close(read_end)
    os.close(write_end)
    (first, _), (_, err) = await asyncio.wait_for(asyncio.gather(head.communicate(), export.communicate()), 30)
    assert first.decode().startswith("message_id,phone,content") and first.count(b"\n") == 1
    assert export.returncode == 0 and err == b"", err.decode()


async def test_an_unreachable_engine_is_one_line_and_status_1():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    run = await cli(f"http://127.0.0.1:{port}", "task", "list")
    assert run.status == 1 and run.out == ""
    assert one_line_without_traceback(run).startswith(f"smsengine: cannot reach http://127.0.0.1:{port}: ")


async def test_stats_from_an_engine_without_the_endpoint_says_so():
    """Any server without the route stands for an engine from before /v1/stats."""
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        run = await cli(f"http://127.0.0.1:{port}", "stats", "--day", "2026-05-01")
    finally:
        await runner.cleanup()
    assert run.status == 1
    assert one_line_without_traceback(run) == "smsengine: this engine has no /v1/stats"


async def test_stats_show_the_day_as_tables(rig):
    ids = await rig.client.accepted(["+8613800000401", "+8613800000402"])
    await rig.client.wait_final(ids)
    run = await cli(url_of(rig), "stats")
    assert run.status == 0, run
    day = (await api(rig, "GET", "/v1/stats"))["day"]
    assert f"demo · {day} (UTC+" in run.out
    # requests, messages, segments charged, delivered, failed, expired, cancelled, pending
    assert re.search(r"│\s+1 │\s+2 │\s+2 │\s+2 │\s+0 │\s+0 │\s+0 │\s+0 │", run.out), run.out
    assert re.search(r"│ ideal\s+│\s+2 │\s+2 │", run.out), run.out


def test_the_engine_address_follows_its_port_override_and_serve_ignores_the_client_variables(tmp_path):
    assert default_url({}) == "http://127.0.0.1:8080"
    assert default_url({"SMSENGINE_HTTP__PORT": "9090"}) == "http://127.0.0.1:9090"
    client = {"SMSENGINE_URL": "http://127.0.0.1:9090", "SMSENGINE_APP_ID": "demo", "SMSENGINE_APP_KEY": "k",
              "SMSENGINE_ADMIN_TOKEN": "t", "SMSENGINE_HTTP__PORT": "9090"}
    assert load(environ=client).http.port == 9090


def test_times_without_an_offset_are_this_machines_clock():
    assert instant("1767225600") == "1767225600"
    assert instant("2026-12-01T09:00:00+08:00") == "2026-12-01T09:00:00+08:00"
    local = datetime(2026, 12, 1, 9, 0).astimezone()
    assert datetime.fromisoformat(instant("2026-12-01 09:00")) == local
    assert datetime.fromisoformat(instant("2026-12-01")).astimezone(timezone.utc) == \
        datetime(2026, 12, 1).astimezone().astimezone(timezone.utc)
    with pytest.raises(typer.BadParameter):
        instant("next tuesday")
