"""The carriers page (operator only): binds, window, counters and submit_sm_resp errors from the
running engine, and the simulators' own counters from their admin HTTP — or "unreachable"."""

from __future__ import annotations

import socket

import pytest

from carriers.admin import start_admin
from carriers.config import FateRule
from smsengine.console.shell import STATE, ConsoleState
from tests.console.conftest import OPERATOR_TOKEN
from tests.support.polling import eventually
from tests.support.rig import fast_profile, start_rig, stop_rig

REFUSED = "+8613900000001"  # the simulator answers its submit_sm with ESME_RINVDSTADR


@pytest.fixture
async def rig(tmp_path):
    rules = [FateRule(fate="invalid_destination", prefix="8613900")]
    rig = await start_rig(tmp_path, [fast_profile("ideal", rules=rules)])
    yield rig
    await stop_rig(rig)


def console_state(rig) -> ConsoleState:
    """The running console's state (its sub-application under /console)."""
    for resource in rig.server._runner.app.router.resources():
        info = resource.get_info()
        if info.get("prefix") == "/console":
            return info["app"][STATE]
    raise AssertionError("no console mounted")


@pytest.fixture
async def simulator_admin(rig):
    """The rig's simulator with its admin HTTP on an ephemeral port, known to the console; and a
    second carrier name whose admin URL answers nothing (a port just closed)."""
    runner, port = await start_admin(rig.simulators["ideal"], "127.0.0.1", 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    state = console_state(rig)
    state.simulators.update({"ideal": f"http://127.0.0.1:{port}", "ghost": f"http://127.0.0.1:{dead}"})
    yield state
    state.simulators.clear()
    await runner.cleanup()


async def carriers_json(console) -> dict:
    async with console.http.get("/console/carriers.json") as resp:
        assert resp.status == 200
        return await resp.json()


async def test_the_operator_sees_each_bind_and_counters_that_move_with_traffic(console, rig):
    await console.sign_in(operator_token=OPERATOR_TOKEN)
    status, body = await console.get("/console/carriers")
    assert status == 200 and "<h1>Carriers</h1>" in body
    assert '<tr data-bind="ideal/0">' in body and ">bound<" in body and ">transceiver<" in body
    assert 'class="num window">0/64<' in body and 'id="no-simulators"' in body
    before = await carriers_json(console)
    [ideal] = before["carriers"]
    assert (ideal["up"], ideal["binds_up"], ideal["window"], ideal["receipts"]) == (True, 1, 64, 0)
    assert before["submit_errors"] == [] and "none since the engine started" in body

    ids = await rig.client.accepted([f"+86138000000{i:02d}" for i in range(6)] + [REFUSED])
    views = await rig.client.wait_final(ids)
    assert sorted(v["status"] for v in views.values()) == ["delivered"] * 6 + ["failed"]
    after = await carriers_json(console)
    [ideal] = after["carriers"]
    assert ideal["receipts"] == 6 and ideal["queue"] == 0 and ideal["window_used"] == 0
    [bind] = ideal["bind_list"]
    assert bind["bound"] and bind["idle_s"] < 10
    assert after["submit_errors"] == [{"status": 11, "hex": "0x0000000B", "name": "ESME_RINVDSTADR", "count": 1}]
    status, body = await console.get("/console/carriers")
    assert 'class="num receipts">6<' in body
    assert '<tr data-status="0x0000000B"><td class="code">0x0000000B</td><td>ESME_RINVDSTADR</td><td class="num">1</td>' in body


async def test_simulator_counters_show_when_their_admin_answers_and_unreachable_when_not(console, rig, simulator_admin):
    ids = await rig.client.accepted(["+8613800000001", "+8613800000002", REFUSED])
    await rig.client.wait_final(ids)
    await console.sign_in(operator_token=OPERATOR_TOKEN)
    status, body = await console.get("/console/carriers")
    assert status == 200
    ideal = body.split('data-simulator="ideal"')[1].split("</section>")[0]
    assert '<tr data-counter="accepted"><th>accepted</th><td class="num">2</td>' in ideal
    assert '<tr data-counter="rejected"><th>rejected</th><td class="num">ESME_RINVDSTADR 1</td>' in ideal
    ghost = body.split('data-simulator="ghost"')[1].split("</section>")[0]
    assert "unreachable" in ghost and "<table" not in ghost
    simulators = {s["name"]: s for s in (await carriers_json(console))["simulators"]}
    assert simulators["ghost"]["reachable"] is False
    assert dict(simulators["ideal"]["counters"])["submits"] == "3"


async def test_an_account_is_refused_the_carriers_page(console):
    await console.sign_in()
    status, body = await console.get("/console/")
    assert 'href="/console/carriers"' not in body  # not in an account's navigation
    for path in ("/console/carriers", "/console/carriers.json"):
        status, body = await console.get(path)
        assert status == 403 and '<b class="code">1006</b>' in body and "ESME_" not in body


@pytest.mark.timeout(90)
async def test_the_carriers_page_in_a_browser_refreshes_itself(pages, rig, simulator_admin):
    page = await pages.sign_in(operator_token=OPERATOR_TOKEN)
    await page.click("nav a[href='/console/carriers']")
    await page.wait_for_url("**/console/carriers")
    assert await page.locator("#bind-list tr[data-bind='ideal/0'] td.state").inner_text() == "bound"
    assert await page.locator("#carriers tr[data-carrier='ideal'] td.receipts").inner_text() == "0"
    assert await page.locator("[data-simulator='ghost'] .unreachable").inner_text() == "unreachable"
    ids = await rig.client.accepted(["+8613800000001", "+8613800000002", REFUSED])
    await rig.client.wait_final(ids)
    # no reload: the poll brings the new figures
    receipts = page.locator("#carriers tr[data-carrier='ideal'] td.receipts")

    async def refreshed() -> bool:
        return await receipts.inner_text() == "2"

    await eventually(refreshed, 10, lambda: "the receipts count was not refreshed")
    assert await page.locator("#submit-errors tr[data-status='0x0000000B'] td.num").inner_text() == "1"
    accepted = page.locator("[data-simulator='ideal'] tr[data-counter='accepted'] td")
    assert await accepted.inner_text() == "2"
    await pages.shot("carriers")
