"""Records over HTTP (README "Bulk tasks, records, statistics"): GET /v1/messages filters and
keyset pages that stay put while messages arrive, masked numbers in lists but whole in exports
and single views, the CSV export equal to the list, and a day's statistics in the account's
timezone with failures by code."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from carriers.config import FateRule
from smsengine.config import RecordsConfig, RouteConfig, RouteTarget, SignatureSeed, TasksConfig
from smsengine.domain.numbers import mask_number
from smsengine.engine.records import MessageRow
from tests.support.polling import eventually
from tests.support.rig import Client, Rig, demo_account, fast_profile, start_rig, stop_rig

DEMO = {"X-App-Id": "demo", "X-App-Key": "demo-secret"}
BEIJING = timezone(timedelta(hours=8))
COLUMNS = list(MessageRow.__struct_fields__)


async def get(rig: Rig, path: str, headers: dict | None = None, **params) -> dict:
    async with rig.http.get(path, params={k: str(v) for k, v in params.items()}, headers=headers or DEMO) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return body


async def ids(rig: Rig, **filters) -> list[str]:
    """Every record the filter selects, newest first, walking the pages."""
    found: list[str] = []
    before = 0
    while True:
        page = await get(rig, "/v1/messages", **filters, **({"before": before} if before else {}))
        found += [m["message_id"] for m in page["messages"]]
        before = page["next"]
        if not before:
            return found


async def export(rig: Rig, path: str = "/v1/messages", headers: dict | None = None, **params) -> list[list[str]]:
    async with rig.http.get(path, params={"format": "csv", **params}, headers=headers or DEMO) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        data = await resp.read()
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


async def task(rig: Rig, headers: dict | None = None, **body) -> dict:
    async with rig.http.post("/v1/tasks", json={"sign": "smsengine", **body}, headers=headers or DEMO) as resp:
        view = await resp.json()
        assert resp.status == 201, view
    return view


async def completed(rig: Rig, task_id: int, headers: dict | None = None, timeout: float = 20.0) -> dict:
    async def view() -> dict | None:
        body = await get(rig, f"/v1/tasks/{task_id}", headers)
        return body if body["status"] == "completed" else None

    return await eventually(view, timeout, lambda: f"task {task_id} not completed", interval=0.05)


async def all_final(rig: Rig, count: int) -> None:
    """Every one of the account's `count` records is final (none pending)."""
    async def done() -> bool:
        return len(await ids(rig, limit=1000)) == count and not await ids(rig, status="pending")

    await eventually(done, 20, lambda: f"not all of {count} final", interval=0.05)


# -- paging ------------------------------------------------------------------------------------------------
@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def test_pages_continue_where_the_last_ended_while_messages_arrive(rig):
    first = await rig.client.accepted([f"+86138000007{i:02d}" for i in range(10)])
    newest_first = sorted(first, key=int, reverse=True)
    page = await get(rig, "/v1/messages", limit=4)
    assert [m["message_id"] for m in page["messages"]] == newest_first[:4] and page["next"] == int(newest_first[3])
    seen = [m["message_id"] for m in page["messages"]]
    arrived: list[str] = []
    while page["next"]:
        arrived += await rig.client.accepted([f"+86139000007{len(arrived) + i:02d}" for i in range(3)])
        page = await get(rig, "/v1/messages", limit=4, before=page["next"])
        seen += [m["message_id"] for m in page["messages"]]
    assert seen == newest_first  # no gap, no repeat, none of the newcomers
    assert len(arrived) == 6 and not set(arrived) & set(seen)
    # a fresh walk sees everything, newest first
    assert await ids(rig, limit=4) == sorted(first + arrived, key=int, reverse=True)

    # a task's messages page oldest first with ?after=, stable the same way
    view = await task(rig, template_id=1, rows=[[f"+86137000007{i:02d}", "1", "2"] for i in range(7)])
    await completed(rig, view["id"])
    walked: list[str] = []
    after = 0
    while True:
        page = await get(rig, f"/v1/tasks/{view['id']}/messages", limit=3, after=after)
        walked += [m["message_id"] for m in page["messages"]]
        await rig.client.accepted([f"+86136000007{len(walked):02d}"])  # not the task's: never in its pages
        after = page["next"]
        if not after:
            break
    assert len(walked) == 7 and walked == sorted(walked, key=int) and len(set(walked)) == 7


async def test_a_cursor_or_limit_that_is_not_a_number_is_1004(rig):
    for params in ({"before": "x"}, {"limit": "ten"}, {"status": "sent"}, {"since": "yesterday"},
                   {"until": "2026-01-01T00:00:00"}):  # a time without an offset is no instant
        async with rig.http.get("/v1/messages", params=params, headers=DEMO) as resp:
            assert (resp.status, (await resp.json())["code"]) == (400, 1004), params


# -- filters -----------------------------------------------------------------------------------------------
async def test_filters_by_phone_status_task_template_carrier_sign_and_time(tmp_path):
    routes = [RouteConfig("+86138", [RouteTarget("east")]), RouteConfig("+86139", [RouteTarget("west")])]
    blocked = FateRule(fate="blocked", first="8613900000050", last="8613900000059")
    account = demo_account(signatures=[SignatureSeed("smsengine"), SignatureSeed("other")])
    rig = await start_rig(tmp_path, [fast_profile("east"), fast_profile("west", rules=[blocked])],
                          routes=routes, accounts=[account])
    try:
        client = rig.client
        a = await client.accepted(["+8613800000001", "+8613800000002", "+8613800000003"])
        b = await client.accepted(["+8613900000050", "+8613900000051"], sign="other")  # blocked: failed
        await asyncio.sleep(0.05)
        middle = time.time()
        await asyncio.sleep(0.05)
        view = await task(rig, template_id=3, rows=[["+8613800000004", "A1"], ["+8613800000005", "A2"]])
        c = await client.accepted(["+8613900000001"], content="a plain text, no template")
        await completed(rig, view["id"])
        await all_final(rig, 8)
        t = [m["message_id"] for m in (await get(rig, f"/v1/tasks/{view['id']}/messages"))["messages"]]

        def newest_first(*groups: list[str]) -> list[str]:
            return sorted((m for g in groups for m in g), key=int, reverse=True)

        assert await ids(rig) == newest_first(a, b, t, c)
        assert await ids(rig, phone="13800000002") == await ids(rig, phone="+8613800000002") == [a[1]]
        assert await ids(rig, phone="+8613800000009") == []
        assert await ids(rig, status="failed") == newest_first(b)
        assert await ids(rig, status="delivered") == newest_first(a, t, c)
        assert await ids(rig, status="pending") == [] and await ids(rig, status="cancelled") == []
        assert await ids(rig, task_id=view["id"]) == newest_first(t)
        assert await ids(rig, template_id=3) == newest_first(t)
        assert await ids(rig, template_id=1) == newest_first(a, b)
        assert await ids(rig, carrier="west") == newest_first(b, c)
        assert await ids(rig, carrier="east") == newest_first(a, t)
        assert await ids(rig, carrier="west", status="delivered") == c
        assert await ids(rig, sign="other") == newest_first(b)
        assert await ids(rig, sign="smsengine") == newest_first(a, t, c)
        # a time as unix seconds, or ISO 8601 with any offset: the same instant
        iso = datetime.fromtimestamp(middle, BEIJING).isoformat()
        utc = datetime.fromtimestamp(middle, timezone.utc).isoformat().replace("+00:00", "Z")
        for moment in (middle, iso, utc):
            assert await ids(rig, since=moment) == newest_first(t, c), moment
            assert await ids(rig, until=moment) == newest_first(a, b), moment
        assert await ids(rig, since=middle - 3600, until=middle, status="failed") == newest_first(b)
        assert await ids(rig, since=time.time() + 60) == []
        # the CSV export takes the same filters
        rows = await export(rig, carrier="west")
        assert [r[0] for r in rows[1:]] == sorted(b + c, key=int)
        assert {r[COLUMNS.index("status")] for r in rows[1:]} == {"failed", "delivered"}
    finally:
        await stop_rig(rig)


# -- masking -----------------------------------------------------------------------------------------------
async def test_masked_numbers_in_lists_and_problems_whole_in_exports_and_single_views(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")], records=RecordsConfig(mask_numbers=True))
    try:
        (sent,) = await rig.client.accepted(["+8613800008000"])
        async with rig.http.post("/v1/unsubscribes", json={"app_id": "demo", "phone": "+8613800028000"},
                                 headers=DEMO) as resp:
            assert resp.status == 201
        data = "\n".join(["phone,code,minutes", "+8613800018000,1,2", "+8613800028000,1,2", "12345,1,2",
                          "+8613800038000,1", ""]).encode()
        async with rig.http.post("/v1/tasks", data=data, params={"template_id": "1", "sign": "smsengine"},
                                 headers={**DEMO, "Content-Type": "text/csv"}) as resp:
            view = await resp.json()
            assert resp.status == 201, view
        done = await completed(rig, view["id"])
        await all_final(rig, 2)

        listed = (await get(rig, "/v1/messages"))["messages"]
        assert sorted(m["phone"] for m in listed) == ["+86138****8000", "+86138****8000"]
        (in_task,) = (await get(rig, f"/v1/tasks/{view['id']}/messages"))["messages"]
        assert in_task["phone"] == "+86138****8000"
        # a row not sent shows its number masked like a list does, whatever the reason
        problems = {p["line"]: p for p in done["problems"]}
        assert sorted(problems) == [3, 4, 5]
        assert (problems[3]["code"], problems[3]["value"]) == (1015, "+86138****8000")
        assert problems[4]["code"] == 1016 and "12345" not in problems[4]["value"]
        assert problems[5]["code"] == 1014
        assert problems[5]["value"].startswith(mask_number("+8613800038000")), problems[5]["value"]

        # one message asked for by id, and the exports: whole numbers
        assert (await get(rig, f"/v1/messages/{sent}"))["phone"] == "+8613800008000"
        exported = await export(rig)
        assert sorted(r[1] for r in exported[1:]) == ["+8613800008000", "+8613800018000"]
        exported = await export(rig, f"/v1/tasks/{view['id']}/messages")
        assert [r[1] for r in exported[1:]] == ["+8613800018000"]
    finally:
        await stop_rig(rig)


# -- export ------------------------------------------------------------------------------------------------
async def test_an_export_of_thousands_equals_the_list_and_keeps_chinese_text(rig):
    count = 6000  # more than one page of the export (5,000)
    rows = [[f"+86138{i:08d}", f"验证码{i}", "五" if i % 3 else 'a "quoted", comma'] for i in range(count)]
    view = await task(rig, template_id=1, rows=rows)
    assert view["recipients"] == count
    done = await completed(rig, view["id"], timeout=40)
    assert done["counts"]["delivered"] == count

    listed = []
    before = 0
    while True:
        page = await get(rig, "/v1/messages", limit=1000, **({"before": before} if before else {}))
        listed += page["messages"]
        before = page["next"]
        if not before:
            break
    exported = await export(rig)
    assert exported[0] == COLUMNS
    body = exported[1:]
    assert len(body) == len(listed) == count
    assert [r[0] for r in body] == [m["message_id"] for m in reversed(listed)]  # oldest first, no gap
    by_id = {m["message_id"]: m for m in listed}
    for row in body:
        record = by_id[row[0]]
        assert (row[1], row[2], row[8], row[11]) == (record["phone"], record["content"], record["status"],
                                                        record["carrier"])
        assert int(row[COLUMNS.index("task_id")]) == view["id"] and row[COLUMNS.index("template_id")] == "1"
    first, third = body[1], body[3]
    assert first[2] == "【smsengine】Your verification code is 验证码1, valid for 五 minutes."
    assert third[2] == '【smsengine】Your verification code is 验证码3, valid for a "quoted", comma minutes.'
    # the task's own export: the same rows
    assert await export(rig, f"/v1/tasks/{view['id']}/messages") == exported


# -- statistics --------------------------------------------------------------------------------------------
class ShiftedClock:
    """Intake's clock: real time shifted by an offset, so messages can be accepted on either side
    of an account's midnight."""

    def __init__(self, moment: float) -> None:
        self.offset = moment - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def jump_to(self, moment: float) -> None:
        self.offset = moment - time.time()


async def test_stats_count_each_message_on_its_day_in_the_accounts_timezone(tmp_path):
    fates = [FateRule(fate="blocked", first="8613900000000", last="8613900000009"),
             FateRule(fate="invalid_destination", first="8613900000010", last="8613900000014")]
    utc_account = demo_account(app_id="london", key="london-secret", utc_offset_minutes=0,
                               signatures=[SignatureSeed("smsengine")], templates=[])
    rig = await start_rig(tmp_path, [fast_profile("ideal", rules=fates)], accounts=[demo_account(), utc_account],
                          tasks=TasksConfig(chunk_rows=50))
    try:
        # the Beijing midnight nearest to now; messages are accepted just before and after it
        now = time.time()
        midnight = round((now + 8 * 3600) / 86400) * 86400 - 8 * 3600
        today = datetime.fromtimestamp(midnight, BEIJING).date()
        yesterday = today - timedelta(days=1)
        assert datetime.fromtimestamp(midnight, timezone.utc).date() == yesterday  # 16:00 UTC the day before
        clock = rig.engine.intake.clock = ShiftedClock(midnight - 5)
        demo, london = rig.client, Client(rig.http, "london", "london-secret")

        before = await demo.accepted(["+8613800000001", "+8613900000001"], time=int(clock()))  # one blocked
        before += await demo.accepted(["+8613800000002"], time=int(clock()))
        ldn = await london.accepted(["+8613800000901"], time=int(clock()), content="hello from london")
        clock.jump_to(midnight + 1)
        after = await demo.accepted(["+8613800000003"], time=int(clock()))
        ldn += await london.accepted(["+8613800000902"], time=int(clock()), content="hello again")
        # a task of 120 rows in three chunks: 10 blocked (60002), 5 refused at submit (60001)
        numbers = [f"+86139{i:08d}" for i in range(15)] + [f"+86137{i:08d}" for i in range(105)]
        view = await task(rig, template_id=1, rows=[[n, "1", "2"] for n in numbers])
        await completed(rig, view["id"])
        await eventually(lambda: rig.engine.dispatcher.stats.open == 0, 10)
        await rig.engine.store.flush()

        async def day(which: date, headers: dict = DEMO) -> dict:
            return await get(rig, "/v1/stats", headers, day=which.isoformat())

        old = await day(yesterday)
        assert (old["day"], old["utc_offset_minutes"]) == (yesterday.isoformat(), 480)
        assert (old["requests"], old["messages"], old["delivered"], old["failed"], old["pending"]) == (2, 3, 2, 1, 0)
        assert [(r["code"], r["messages"]) for r in old["failure_reasons"]] == [(60002, 1)]
        assert old["segments_charged"] == 3  # a message the carrier took, then failed, was charged
        assert len(before) == 3

        new = await day(today)
        assert new["messages"] == 1 + 120 and new["requests"] == 1 + 3  # the send, and the task's chunks
        assert (new["delivered"], new["failed"], new["expired"], new["pending"]) == (106, 15, 0, 0)
        assert sorted((r["code"], r["messages"]) for r in new["failure_reasons"]) == [(60001, 5), (60002, 10)]
        assert new["segments_charged"] == 116  # what no carrier took is not charged
        # the five the carrier refused at submit are final at that carrier too (not charged)
        assert [(c["carrier"], c["messages"], c["delivered"], c["failed"]) for c in new["carriers"]] == [
            ("ideal", 121, 106, 15)]
        remarks = {r["code"]: r["remark"] for r in new["failure_reasons"]}
        assert remarks == {60002: "UNDELIV err:011 (blocked by the carrier)",
                           60001: "submit_sm_resp ESME_RINVDSTADR (0xb)"}
        assert new["countries"] == [{"country": "CN", "messages": 121}]
        assert len(after) == 1
        assert (await day(today + timedelta(days=1)))["messages"] == 0

        # the same two instants are one day in London
        london_headers = {"X-App-Id": "london", "X-App-Key": "london-secret"}
        both = await day(yesterday, london_headers)
        assert (both["utc_offset_minutes"], both["messages"], both["requests"], both["delivered"]) == (0, 2, 2, 2)
        assert (await day(today, london_headers))["messages"] == 0
        assert len(ldn) == 2
    finally:
        await stop_rig(rig)
