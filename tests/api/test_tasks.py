"""Bulk tasks over real sockets and SQLite: a CSV or a JSON list becomes messages through the
send's rules, rows that cannot go are reported by line, scheduled tasks start on time and can be
called off, and a task's view counts its messages by final state."""

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.polling import eventually
from tests.support.rig import fast_profile, start_rig, stop_rig


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


def in_a_week_iso() -> str:
    """A schedule_at as ISO 8601 with an offset (Beijing time), a week from now."""
    return datetime.fromtimestamp(time.time() + 7 * 86400, tz=timezone(timedelta(hours=8))).isoformat()


async def post_csv(rig, data: bytes, **fields) -> tuple[int, dict]:
    query = {"template_id": "1", "sign": "smsengine", **{k: str(v) for k, v in fields.items()}}
    async with rig.http.post("/v1/tasks", data=data, params=query,
                             headers={**rig.client.auth, "Content-Type": "text/csv"}) as resp:
        return resp.status, await resp.json()


async def get(rig, path: str, **params) -> dict:
    async with rig.http.get(path, params=params, headers=rig.client.auth) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return body


async def wait_completed(rig, task_id: int, timeout: float = 20.0) -> dict:
    view: dict = {}

    async def done() -> bool:
        nonlocal view
        view = await get(rig, f"/v1/tasks/{task_id}")
        return view["status"] == "completed"

    deadline = asyncio.get_running_loop().time() + timeout
    while not await done():
        assert asyncio.get_running_loop().time() < deadline, view
        await asyncio.sleep(0.1)
    return view


async def test_csv_edge_cases_become_rows_with_problems_by_line(rig):
    # BOM, CRLF, a header, quoted fields (a comma inside), a blank line, Chinese parameters,
    # a bad number in the middle, a row with a missing parameter, and an exact duplicate
    data = ("\ufeffphone,code,minutes\r\n"
            "+8613800000001,1234,5\r\n"
            "\r\n"
            "13800000002,\"12,34\",5\r\n"
            "not-a-number,1,2\r\n"
            "+8613800000003,验证,十\r\n"
            "+8613800000004,99\r\n"
            "+8613800000001,1234,5\r\n").encode()
    status, view = await post_csv(rig, data, name="launch")
    assert status == 201, view
    assert view["recipients"] == 3 and view["rows_merged"] == 1 and view["name"] == "launch"
    assert [(p["line"], p["code"]) for p in view["problems"]] == [(5, 1016), (7, 1014)]
    done = await wait_completed(rig, view["id"])
    assert done["counts"]["delivered"] == 3 and done["segments_charged"] == 3
    page = await get(rig, f"/v1/tasks/{view['id']}/messages")
    contents = {m["phone"]: m["content"] for m in page["messages"]}
    assert contents["+8613800000002"] == "【smsengine】Your verification code is 12,34, valid for 5 minutes."
    assert contents["+8613800000003"] == "【smsengine】Your verification code is 验证, valid for 十 minutes."
    assert all(m["status"] == "delivered" and m["final_at"] >= m["submitted_at"] for m in page["messages"])


async def test_a_row_whose_param_holds_a_nul_is_a_row_not_sent_with_1059(rig):
    # the rows are stored as given (task_rows keeps params as JSON, NUL and all); rendering the
    # row's text refuses it, so it is reported by line, and the other rows go
    csv_body = "+8613800000021,12\x0034,5\r\n+8613800000022,1234,5\r\n".encode()
    status, from_csv = await post_csv(rig, csv_body)
    assert status == 201 and from_csv["recipients"] == 2 and from_csv["problems"] == [], from_csv
    body = {"template_id": 1, "sign": "smsengine", "rows": [["+8613800000023", "1234", "5"],
                                                            ["+8613800000024", "5\x00", "5"]]}
    async with rig.http.post("/v1/tasks", json=body, headers=rig.client.auth) as resp:
        from_json = await resp.json()
        assert resp.status == 201 and from_json["recipients"] == 2, from_json
    for view, refused, sent in ((from_csv, (1, "+8613800000021"), "+8613800000022"),
                                (from_json, (2, "+8613800000024"), "+8613800000023")):
        done = await wait_completed(rig, view["id"])
        assert [(p["line"], p["value"], p["code"]) for p in done["problems"]] == [(*refused, 1059)], done
        assert "U+0000" in done["problems"][0]["reason"]
        assert done["counts"]["delivered"] == 1 and done["segments_charged"] == 1
        page = await get(rig, f"/v1/tasks/{view['id']}/messages")
        assert [m["phone"] for m in page["messages"]] == [sent]
    # a task's context is every message's: refused with a NUL (1004 naming it), no task made
    status, refused = await post_csv(rig, b"+8613800000025,1234,5\r\n", context="order\x0017")
    assert (status, refused["code"]) == (400, 1004) and "$.context" in refused["message"], refused
    assert [t["id"] for t in (await get(rig, "/v1/tasks"))["tasks"]] == [from_json["id"], from_csv["id"]]


async def test_json_rows_and_a_scheduled_task_that_is_cancelled_charges_nothing(rig):
    balance = (await get(rig, "/v1/accounts/demo"))["balance"]
    body = {"template_id": 1, "sign": "smsengine", "numbers": ["+8613800000011", "+8613800000012"],
            "params": ["1", "2"], "schedule_at": in_a_week_iso()}
    async with rig.http.post("/v1/tasks", json=body, headers=rig.client.auth) as resp:
        view = await resp.json()
        assert resp.status == 201, view
    assert view["status"] == "scheduled" and view["recipients"] == 2
    async with rig.http.delete(f"/v1/tasks/{view['id']}", headers=rig.client.auth) as resp:
        cancelled = await resp.json()
        assert resp.status == 200 and cancelled["status"] == "cancelled"
    async with rig.http.delete(f"/v1/tasks/{view['id']}", headers=rig.client.auth) as resp:
        assert resp.status == 409 and (await resp.json())["code"] == 1056
    assert (await get(rig, "/v1/accounts/demo"))["balance"] == balance
    tasks = await get(rig, "/v1/tasks", status="cancelled")
    assert [t["id"] for t in tasks["tasks"]] == [view["id"]]


async def test_a_scheduled_task_starts_on_time(rig):
    clock = rig.engine.tasks
    start = clock.clock()
    body = {"template_id": 1, "sign": "smsengine", "rows": [["+8613800000021", "1", "2"]],
            "schedule_at": start + 2.0}
    async with rig.http.post("/v1/tasks", json=body, headers=rig.client.auth) as resp:
        view = await resp.json()
    assert view["status"] == "scheduled"
    done = await wait_completed(rig, view["id"])
    assert done["started_at"] - body["schedule_at"] < 1.0 and done["started_at"] >= body["schedule_at"]
    assert done["counts"]["delivered"] == 1


async def test_too_many_rows_and_a_too_large_file_are_refused(rig):
    rig.engine.config.tasks.max_rows = 3
    status, body = await post_csv(rig, b"+8613800000031,1,2\n+8613800000032,1,2\n+8613800000033,1,2\n+8613800000034,1,2\n")
    assert (status, body["code"]) == (413, 1055)
    rig.engine.config.tasks.max_rows = 100_000
    rig.engine.config.tasks.max_bytes = 40
    status, body = await post_csv(rig, b"+8613800000031,1,2\n+8613800000032,1,2\n+86138")
    assert (status, body["code"]) == (413, 1055)


async def test_cancel_a_scheduled_single_message(rig):
    status, body = await rig.client.send(["+8613800000041"], schedule_at=rig.engine.tasks.clock() + 3600)
    mid = body["results"][0]["message_id"]
    async with rig.http.delete(f"/v1/messages/{mid}", headers=rig.client.auth) as resp:
        view = await resp.json()
        assert resp.status == 200, view
    assert view["status"] == "cancelled" and view["code"] == 1057


async def test_records_are_filtered_paged_and_exported(rig):
    ids = await rig.client.accepted([f"+86138000001{i:02d}" for i in range(5)])
    await rig.client.wait_final(ids)
    page = await get(rig, "/v1/messages", limit="2")
    assert [m["message_id"] for m in page["messages"]] == sorted(ids, key=int, reverse=True)[:2]
    more = await get(rig, "/v1/messages", limit="2", before=str(page["next"]))
    assert [m["message_id"] for m in more["messages"]] == sorted(ids, key=int, reverse=True)[2:4]
    one = await get(rig, "/v1/messages", phone="13800000102")
    assert [m["phone"] for m in one["messages"]] == ["+8613800000102"]
    async with rig.http.get("/v1/messages", params={"format": "csv"}, headers=rig.client.auth) as resp:
        text = await resp.text()
    lines = text.strip().splitlines()
    assert lines[0].startswith("message_id,phone,content") and len(lines) == 6


async def test_stats_count_the_accounts_day(rig):
    ids = await rig.client.accepted(["+8613800000201", "+8613800000202"])
    ids += await rig.client.accepted(["+14155550123"], template_id=2, params=["1234", "5"])
    await rig.client.wait_final(ids)
    day = await get(rig, "/v1/stats")
    assert (day["messages"], day["delivered"], day["segments_charged"], day["pending"]) == (3, 3, 3, 0)
    assert day["requests"] == 2 and day["utc_offset_minutes"] == 480
    assert {c["country"]: c["messages"] for c in day["countries"]} == {"CN": 2, "US": 1}
    assert [(c["carrier"], c["delivered"]) for c in day["carriers"]] == [("ideal", 3)]
    empty = await get(rig, "/v1/stats", day="2020-01-01")
    assert empty["messages"] == 0 and empty["day"] == "2020-01-01"


async def test_the_csv_export_quotes_text_and_reads_back_as_the_list(rig):
    import csv
    import io

    # content with a comma, a quote and Chinese; a task so both exports can be compared
    status, view = await post_csv(rig, '+8613800000301,"a ""quoted"", word",5\n+8613800000302,验证,5\n'.encode())
    assert status == 201, view
    await wait_completed(rig, view["id"])
    listed = (await get(rig, f"/v1/tasks/{view['id']}/messages"))["messages"]
    async with rig.http.get(f"/v1/tasks/{view['id']}/messages", params={"format": "csv"},
                            headers=rig.client.auth) as resp:
        assert resp.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["message_id"] for r in rows] == [m["message_id"] for m in listed]
    for row, item in zip(rows, listed):
        assert row["content"] == item["content"] and row["remark"] == item["remark"]
        assert row["phone"] == item["phone"] and row["status"] == item["status"] == "delivered"
        assert float(row["final_at"]) == pytest.approx(item["final_at"], abs=1e-3)
        assert int(row["task_id"]) == view["id"] and row["carrier"] == "ideal"
    assert 'a "quoted", word' in rows[0]["content"] and "验证" in rows[1]["content"]


async def test_receipts_and_replies_export_as_csv(rig):
    import csv
    import io

    ids = await rig.client.accepted(["+8613800000401", "+8613800000402"])
    await rig.client.wait_final(ids)
    async with rig.http.get("/v1/receipts", params={"format": "csv"}, headers=rig.client.auth) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert sorted(r["message_id"] for r in rows) == sorted(ids)
    assert all(r["status"] == "delivered" and r["cursor"] for r in rows)
    async with rig.http.get("/v1/replies", params={"format": "csv"}, headers=rig.client.auth) as resp:
        header = (await resp.text()).splitlines()[0]
    assert header == "cursor,phone,text,carrier,received_at,complete"
