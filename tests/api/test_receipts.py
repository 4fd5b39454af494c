"""GET /v1/receipts over real sockets: cursor paging hands out every final message exactly once,
with the caller's context echoed back."""

import pytest

from tests.support.rig import ADMIN, fast_profile, start_rig, stop_rig


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def receipts_page(rig, since: int, limit: int | str, headers: dict | None = None) -> tuple[int, dict]:
    async with rig.http.get("/v1/receipts", params={"since": str(since), "limit": str(limit)},
                            headers=rig.client.auth if headers is None else headers) as resp:
        return resp.status, await resp.json()


async def send_and_wait(rig, count: int, **fields) -> list[str]:
    numbers = [f"+86139{i:08d}" for i in range(count)]
    status, body = await rig.client.send(numbers, **fields)
    assert status == 200
    ids = [r["message_id"] for r in body["results"]]
    assert len(ids) == count and all(ids)
    await rig.client.wait_final(ids)
    return ids


async def test_paging_by_two_returns_every_message_exactly_once(rig):
    ids = await send_and_wait(rig, 7, context="batch-7")
    seen: list[str] = []
    cursors: list[int] = []
    since = 0
    while True:
        status, page = await receipts_page(rig, since, 2)
        assert status == 200 and page["code"] == 0
        assert len(page["receipts"]) <= 2
        if not page["receipts"]:
            assert page["next_cursor"] == since  # an empty page leaves the cursor where it was
            break
        for item in page["receipts"]:
            seen.append(item["message_id"])
            cursors.append(item["cursor"])
            assert item["context"] == "batch-7"
            assert item["status"] == "delivered" and item["code"] == 0 and item["remark"].startswith("DELIVRD")
            assert item["phone"].startswith("+86139")
            assert item["submitted_at"] <= item["final_at"]
        assert page["next_cursor"] == page["receipts"][-1]["cursor"]
        since = page["next_cursor"]
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)


async def test_receipt_matches_the_message_view(rig):
    (mid,) = await send_and_wait(rig, 1, context='{"order": 42}')
    _, page = await receipts_page(rig, 0, 10)
    (item,) = page["receipts"]
    view = await rig.client.message(mid)
    assert item["message_id"] == mid
    assert item["context"] == view["context"] == '{"order": 42}'
    for field in ("phone", "status", "code", "remark", "submitted_at", "final_at"):
        assert item[field] == view[field], field


async def test_new_receipts_come_after_the_last_cursor(rig):
    first = await send_and_wait(rig, 2)
    _, page = await receipts_page(rig, 0, 100)
    assert sorted(r["message_id"] for r in page["receipts"]) == sorted(first)
    cursor = page["next_cursor"]
    status, body = await rig.client.send(["+8613700000001"])
    second = body["results"][0]["message_id"]
    await rig.client.wait_final([second])
    _, page = await receipts_page(rig, cursor, 100)
    assert [r["message_id"] for r in page["receipts"]] == [second]


async def test_receipts_are_per_account(rig):
    await send_and_wait(rig, 2)
    async with rig.http.post("/v1/accounts", json={"app_id": "other", "key": "other-key"},
                             headers={"X-Admin-Token": ADMIN}) as resp:
        assert resp.status == 201
    status, page = await receipts_page(rig, 0, 100, {"X-App-Id": "other", "X-App-Key": "other-key"})
    assert status == 200 and page["receipts"] == [] and page["next_cursor"] == 0
    # the operator reads any account's receipts by naming it
    status, page = await receipts_page(rig, 0, 100, {"X-Admin-Token": ADMIN, "X-App-Id": "demo"})
    assert status == 200 and len(page["receipts"]) == 2


async def test_receipts_need_the_account_key(rig):
    status, body = await receipts_page(rig, 0, 10, {"X-App-Id": "demo", "X-App-Key": "wrong"})
    assert status == 401 and body["code"] == 1001
    status, body = await receipts_page(rig, 0, 10, {})
    assert status == 401 and body["code"] == 1001


@pytest.mark.parametrize(("since", "limit"), [("x", 10), (0, "ten"), ("9" * 30, 10)])
async def test_non_integer_or_huge_paging_is_1004(rig, since, limit):
    status, body = await receipts_page(rig, since, limit)
    assert status == 400 and body["code"] == 1004


async def test_limit_is_clamped_to_at_least_one(rig):
    await send_and_wait(rig, 2)
    status, page = await receipts_page(rig, 0, 0)
    assert status == 200 and len(page["receipts"]) == 1
