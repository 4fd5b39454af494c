"""The whole path over real sockets: HTTP → intake → SQLite → SMPP → simulator → receipts."""

import pytest

from tests.support.rig import db_rows, fast_profile, start_rig, stop_rig, wait_engine_final


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def test_first_message_is_delivered_with_its_receipt(rig):
    status, body = await rig.client.send(["+8613800138000"])
    assert status == 200 and body["code"] == 0
    (result,) = body["results"]
    assert result["code"] == 0 and result["segments"] == 1 and result["fee"] == 1
    views = await rig.client.wait_final([result["message_id"]])
    view = views[result["message_id"]]
    assert view["status"] == "delivered"
    assert view["remark"].startswith("DELIVRD")
    assert view["submitted_at"] and view["final_at"] >= view["submitted_at"]
    counters = rig.simulators["ideal"].counters
    assert counters.accepted == 1


async def test_long_message_one_receipt_per_segment(rig):
    text = "长" * 150  # 3 segments on the domestic scheme (with the signature)
    status, body = await rig.client.send(["+8613800138001"], content=text)
    (result,) = body["results"]
    assert result["segments"] == 3
    views = await rig.client.wait_final([result["message_id"]])
    assert views[result["message_id"]]["status"] == "delivered"
    assert rig.simulators["ideal"].counters.accepted == 3
    await rig.engine.store.flush()
    rows = db_rows(rig.engine, "SELECT seq, stat FROM segments WHERE message_id=? ORDER BY seq",
                   (int(result["message_id"]),))
    assert rows == [(1, "DELIVRD"), (2, "DELIVRD"), (3, "DELIVRD")]
