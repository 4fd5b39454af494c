"""The task runner (engine/tasks.py) over real sockets and SQLite: scheduled tasks start on the
runner's clock and across restarts, a crash in the middle of an import sends every row exactly
once, a cancel before the start charges nothing, and each row meets the rules of a send."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from carriers.group import SimulatorGroup
from smsengine.config import DispatchConfig, LimitsConfig, TasksConfig, TemplateSeed
from tests.api.test_tasks import get, wait_completed
from tests.engine.test_crash_recovery import free_port, start_engine, stop_engine, wait_http, write_config
from tests.support.polling import eventually
from tests.support.rig import Client, Rig, db_rows, demo_account, fast_profile, start_rig, start_server, stop_rig

DEMO = {"X-App-Id": "demo", "X-App-Key": "demo-secret"}


class SteppedClock:
    """The runner's clock: real time moved by an offset, so a test can jump it ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def jump_to(self, moment: float) -> None:
        self.offset = moment - time.time()


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def create_task(rig: Rig, headers: dict | None = None, **body) -> tuple[int, dict]:
    body = {"template_id": 1, "sign": "smsengine", **body}
    async with rig.http.post("/v1/tasks", json=body, headers=headers or DEMO) as resp:
        return resp.status, await resp.json()


async def created(rig: Rig, headers: dict | None = None, **body) -> dict:
    status, view = await create_task(rig, headers, **body)
    assert status == 201, view
    return view


async def finished(rig: Rig, task_id: int, headers: dict, timeout: float = 20.0) -> dict:
    """The task's view once it completed, read with the credentials of the account it belongs to."""
    async def view() -> dict | None:
        async with rig.http.get(f"/v1/tasks/{task_id}", headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 200, body
            return body if body["status"] == "completed" else None

    return await eventually(view, timeout, lambda: f"task {task_id} not completed", interval=0.05)


async def delete_task(rig: Rig, task_id: int) -> tuple[int, dict]:
    async with rig.http.delete(f"/v1/tasks/{task_id}", headers=DEMO) as resp:
        return resp.status, await resp.json()


async def restart(rig: Rig, between=lambda: None) -> Rig:
    """Stop the engine (the simulators stay up), call `between`, and start a new engine on the
    same store."""
    await rig.http.close()
    await rig.server.stop(drain_timeout=2.0)
    between()
    server = await start_server(rig.server.config, rig.engine.base_dir)
    return Rig(rig.simulators, server, aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}"))


def rows(numbers: list[str]) -> list[list[str]]:
    return [[n, "1234", "5"] for n in numbers]


# -- schedule ---------------------------------------------------------------------------------------------
async def test_a_scheduled_task_starts_within_a_second_of_its_time_on_the_runners_clock(rig):
    clock = rig.engine.tasks.clock = SteppedClock()
    at = clock() + 3600.0  # an hour ahead: only the jump below can bring it
    view = await created(rig, rows=rows(["+8613800000101", "+8613800000102"]), schedule_at=at)
    assert view["status"] == "scheduled" and view["schedule_at"] == at and view["started_at"] is None
    await asyncio.sleep(3 * rig.engine.config.tasks.check_every_s)  # the runner looked, more than once
    view = await get(rig, f"/v1/tasks/{view['id']}")
    assert view["status"] == "scheduled" and view["counts"]["pending"] == 0
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]

    clock.jump_to(at - 0.5)  # half a second before its time
    assert (await get(rig, f"/v1/tasks/{view['id']}"))["status"] == "scheduled"
    done = await wait_completed(rig, view["id"], timeout=10)
    assert at <= done["started_at"] < at + 1.0, done["started_at"] - at
    assert done["counts"]["delivered"] == 2


async def test_a_scheduled_task_survives_a_restart_and_a_cancelled_one_stays_cancelled(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    try:
        at = time.time() + 3600.0
        kept = await created(rig, rows=rows(["+8613800000201", "+8613800000202", "+8613800000203"]), schedule_at=at)
        called_off = await created(rig, rows=rows(["+8613800000211", "+8613800000212"]), schedule_at=at)
        status, view = await delete_task(rig, called_off["id"])
        assert status == 200 and view["status"] == "cancelled"
        balance = (await get(rig, "/v1/accounts/demo"))["balance"]
        rig = await restart(rig)

        clock = rig.engine.tasks.clock = SteppedClock()
        assert (await get(rig, f"/v1/tasks/{kept['id']}"))["status"] == "scheduled"
        assert (await get(rig, f"/v1/tasks/{called_off['id']}"))["status"] == "cancelled"
        await asyncio.sleep(0.5)
        assert (await get(rig, f"/v1/tasks/{kept['id']}"))["status"] == "scheduled"  # not before its time

        clock.jump_to(at - 0.2)
        done = await wait_completed(rig, kept["id"], timeout=10)
        assert at <= done["started_at"] < at + 1.0
        assert done["counts"]["delivered"] == 3 and done["recipients"] == 3
        # the cancelled one's time has passed too: nothing of it ran
        view = await get(rig, f"/v1/tasks/{called_off['id']}")
        assert view["status"] == "cancelled" and view["started_at"] is None and view["counts"]["delivered"] == 0
        await rig.engine.store.flush()
        assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages WHERE task_id=?", (called_off["id"],)) == [(0,)]
        assert db_rows(rig.engine, "SELECT COUNT(*) FROM task_rows") == [(0,)]
        assert (await get(rig, "/v1/accounts/demo"))["balance"] == balance - 3
    finally:
        await stop_rig(rig)


# -- exactly once across a crash --------------------------------------------------------------------------
def crash_config(path: Path, carrier_port: int, db: Path) -> None:
    """test_crash_recovery's engine, importing 50 rows a chunk and holding at most 100 messages
    open, so a 400-row task is still importing a second after it is created (the carrier takes
    300 submits/s); quick retries, a short recovery hold."""
    write_config(path, carrier_port, db)
    text = path.read_text()
    changes = {"[dispatch]\nrecovery_hold_s = 3.0\n":
               "[tasks]\nchunk_rows = 50\n[dispatch]\nrecovery_hold_s = 1.0\nmax_open_messages = 100\n",
               "reconnect_min_s = 0.05\n": "reconnect_min_s = 0.05\nretry_backoff_s = 0.05\nthrottle_pause_s = 0.05\n"}
    for old, new in changes.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text)


def task_state(db: Path, task_id: int) -> tuple[str, int]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT state, imported_line FROM tasks WHERE id=?", (task_id,)).fetchone()


def task_messages(db: Path, task_id: int) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT phone, content, status FROM messages WHERE task_id=?", (task_id,)).fetchall()


async def test_a_crash_in_the_middle_of_an_import_sends_every_row_exactly_once(tmp_path):
    # 400 rows over 300 numbers: 100 numbers get two messages with different codes
    given = [[f"+86139{i % 300:08d}", str(1000 + i), "5"] for i in range(400)]
    def sent(rows: list[list[str]]) -> Counter:
        return Counter((phone, f"【smsengine】Your verification code is {code}, valid for 5 minutes.")
                       for phone, code, _ in rows)

    db, config = tmp_path / "engine.db", tmp_path / "engine.toml"
    async with SimulatorGroup([fast_profile("slow", throughput_per_s=300.0, throughput_burst=10.0)]) as sims:
        crash_config(config, sims.ports["slow"], db)
        port = free_port()
        engine = start_engine(config, port)
        try:
            await wait_http(port, log=config.with_suffix(".log"))
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                async with http.post("/v1/tasks", json={"template_id": 1, "sign": "smsengine", "rows": given},
                                     headers=DEMO) as resp:
                    view = await resp.json()
                    assert resp.status == 201 and view["recipients"] == 400, view
            task_id = view["id"]
            await eventually(lambda: task_state(db, task_id)[1] >= 100, 10, lambda: str(task_state(db, task_id)))
            engine.send_signal(signal.SIGKILL)
            engine.wait(10)

            state, line = task_state(db, task_id)
            assert state == "importing" and 100 <= line < 400  # the kill caught the import half way
            before = task_messages(db, task_id)
            # what committed is exactly the rows up to the last committed chunk, each once
            assert len(before) == line and line % 50 == 0
            assert Counter((p, c) for p, c, _ in before) == sent(given[:line])

            engine = start_engine(config, port)
            await wait_http(port, log=config.with_suffix(".log"))
            await eventually(lambda: task_state(db, task_id)[0] == "completed", 30,
                             lambda: f"{task_state(db, task_id)}, {Counter(s for *_, s in task_messages(db, task_id))}")
            after = task_messages(db, task_id)
            assert Counter((p, c) for p, c, _ in after) == sent(given)  # none missing, none twice
            assert Counter(s for *_, s in after) == {"delivered": 400}
            # at the carrier: at most the PDUs in the window when the engine died went twice
            assert 400 <= sims["slow"].counters.accepted <= 400 + 16
            with sqlite3.connect(db) as conn:
                assert conn.execute("SELECT COUNT(*) FROM task_rows").fetchone() == (0,)
                assert conn.execute("SELECT COUNT(*) FROM task_problems").fetchone() == (0,)
        finally:
            stop_engine(engine)


async def test_an_engine_stopped_while_a_task_imports_carries_on_after_its_restart(tmp_path):
    """The graceful stop cancels the import between (or inside) chunks; the next engine imports
    the rest, once."""
    profile = fast_profile("slow", throughput_per_s=200.0, throughput_burst=10.0)
    rig = await start_rig(tmp_path, [profile], tasks=TasksConfig(chunk_rows=40),
                          dispatch=DispatchConfig(recovery_hold_s=1.0, max_open_messages=80))
    try:
        numbers = [f"+86138{i:08d}" for i in range(300)]
        view = await created(rig, rows=rows(numbers))
        await eventually(lambda: 80 <= db_rows(rig.engine, "SELECT imported_line FROM tasks")[0][0], 10)

        def stopped_half_way() -> None:
            (state, line), = db_rows(rig.engine, "SELECT state, imported_line FROM tasks")
            assert state == "importing" and line < 300 and line % 40 == 0
            assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(line,)]

        rig = await restart(rig, stopped_half_way)
        done = await wait_completed(rig, view["id"], timeout=20)
        assert done["counts"]["delivered"] == 300
        phones = Counter(p for (p,) in db_rows(rig.engine, "SELECT phone FROM messages WHERE task_id=?", (view["id"],)))
        assert phones == Counter(numbers)
    finally:
        await stop_rig(rig)


# -- cancel -----------------------------------------------------------------------------------------------
async def test_cancel_before_the_start_charges_nothing_and_after_the_start_is_1056(rig):
    account = rig.engine.accounts.get("demo")
    balance, available = (await get(rig, "/v1/accounts/demo"))["balance"], account.available
    view = await created(rig, rows=rows(["+8613800000301", "+8613800000302", "+8613800000303"]),
                         schedule_at=time.time() + 600)
    status, cancelled = await delete_task(rig, view["id"])
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert cancelled["counts"] == {"delivered": 0, "failed": 0, "expired": 0, "cancelled": 0, "pending": 0}
    assert cancelled["segments_charged"] == 0
    assert (await get(rig, "/v1/accounts/demo"))["balance"] == balance and account.available == available
    await rig.engine.store.flush()
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM task_rows WHERE task_id=?", (view["id"],)) == [(0,)]
    status, again = await delete_task(rig, view["id"])
    assert (status, again["code"]) == (409, 1056)

    running = await created(rig, rows=rows(["+8613800000311", "+8613800000312"]))
    assert running["status"] == "running"
    status, refused = await delete_task(rig, running["id"])
    assert (status, refused["code"]) == (409, 1056)
    assert "is running)" in refused["message"] or "is completed)" in refused["message"], refused
    done = await wait_completed(rig, running["id"])
    assert done["counts"]["delivered"] == 2 and done["cancelled_at"] is None
    status, refused = await delete_task(rig, running["id"])
    assert (status, refused["code"]) == (409, 1056)
    assert (await get(rig, "/v1/accounts/demo"))["balance"] == balance - 2
    status, missing = await delete_task(rig, 999)
    assert (status, missing["code"]) == (404, 1011)


# -- the rules of a send, per row -------------------------------------------------------------------------
async def test_each_row_meets_the_unsubscribe_list_the_balance_and_the_rate_limits(tmp_path):
    def code_template(template_id: int) -> list[TemplateSeed]:  # template ids are the engine's, not an account's
        return [TemplateSeed(template_id, "Your verification code is {1}, valid for {2} minutes.")]

    accounts = [demo_account(),
                demo_account(app_id="poor", key="poor-secret", balance=3, templates=code_template(11)),
                demo_account(app_id="capped", key="capped-secret", templates=code_template(12),
                             limits=LimitsConfig(daily_max=1, same_content_max=100))]
    rig = await start_rig(tmp_path, [fast_profile("ideal")], accounts=accounts, tasks=TasksConfig(chunk_rows=2))
    try:
        # the unsubscribe list: the number is a row not sent, 1015, as a send to it would be
        async with rig.http.post("/v1/unsubscribes", json={"app_id": "demo", "phone": "13800000402"},
                                 headers=DEMO) as resp:
            assert resp.status == 201
        view = await created(rig, rows=rows(["+8613800000401", "+8613800000402", "+8613800000403"]))
        done = await wait_completed(rig, view["id"])
        assert [(p["line"], p["value"], p["code"]) for p in done["problems"]] == [(2, "+8613800000402", 1015)]
        assert done["counts"]["delivered"] == 2 and done["rows_rejected"] == 1 and done["recipients"] == 3
        status, body = await rig.client.send(["+8613800000402"])
        assert body["results"][0]["code"] == 1015

        # a balance for three messages: three rows go, the rest are 1031, nothing goes negative
        poor = {"X-App-Id": "poor", "X-App-Key": "poor-secret"}
        view = await created(rig, poor, template_id=11, rows=rows([f"+86138000005{i:02d}" for i in range(5)]))
        done = await finished(rig, view["id"], poor)
        assert done["counts"]["delivered"] == 3 and done["segments_charged"] == 3
        assert [(p["line"], p["code"]) for p in done["problems"]] == [(4, 1031), (5, 1031)]
        async with rig.http.get("/v1/accounts/poor", headers=poor) as resp:
            assert (await resp.json())["balance"] == 0

        # one message a day per number: the same number with other params is 1025, across chunks
        capped = {"X-App-Id": "capped", "X-App-Key": "capped-secret"}
        given = [["+8613800000601", "1", "2"], ["+8613800000602", "1", "2"], ["+8613800000601", "3", "4"],
                 ["+8613800000603", "1", "2"]]
        view = await created(rig, capped, template_id=12, rows=given)
        assert view["rows_merged"] == 0 and view["recipients"] == 4
        done = await finished(rig, view["id"], capped)
        assert [(p["line"], p["code"]) for p in done["problems"]] == [(3, 1025)]
        assert done["counts"]["delivered"] == 3
        # and the task's messages count for the API's sends too
        client = Client(rig.http, "capped", "capped-secret")
        status, body = await client.send(["+8613800000602"], template_id=12, params=["5", "6"])
        assert body["results"][0]["code"] == 1025
    finally:
        await stop_rig(rig)
