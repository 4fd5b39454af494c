"""POST /v1/tasks at its bounds, over HTTP: as many rows as tasks.max_rows are taken whether they
come as CSV, JSON rows or JSON numbers, one more is 1055 (413) every way, and the file's reading
problems (BOM, line numbers, bad bytes) reach the caller as they are in the file."""

from __future__ import annotations

import json
import time

import pytest

from smsengine.domain.task_csv import DEFAULT_MAX_ROWS
from tests.support.rig import Rig, fast_profile, start_rig, stop_rig

DEMO = {"X-App-Id": "demo", "X-App-Key": "demo-secret"}


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def post(rig: Rig, data: bytes, content_type: str, **query) -> tuple[int, dict]:
    async with rig.http.post("/v1/tasks", data=data, params={k: str(v) for k, v in query.items()},
                             headers={**DEMO, "Content-Type": content_type}) as resp:
        return resp.status, await resp.json()


async def test_max_rows_are_taken_and_one_more_is_1055_as_json_rows_or_numbers(rig):
    later = time.time() + 3600  # scheduled: the test is about taking the rows, not sending them
    numbers = [f"+86138{i:08d}" for i in range(DEFAULT_MAX_ROWS + 1)]
    bodies = {
        "rows": lambda n: {"rows": [[number, "1", "2"] for number in numbers[:n]]},
        "numbers": lambda n: {"numbers": numbers[:n], "params": ["1", "2"]},
    }
    for shape, body in bodies.items():
        data = json.dumps({"template_id": 1, "sign": "smsengine", **body(DEFAULT_MAX_ROWS + 1)}).encode()
        status, answer = await post(rig, data, "application/json")
        assert (status, answer["code"]) == (413, 1055), (shape, answer)
        assert "more than 100,000 rows" in answer["message"]
    data = json.dumps({"template_id": 1, "sign": "smsengine", "schedule_at": later,
                       **bodies["numbers"](DEFAULT_MAX_ROWS)}).encode()
    status, view = await post(rig, data, "application/json")
    assert status == 201 and view["recipients"] == DEFAULT_MAX_ROWS and view["status"] == "scheduled", view


async def test_csv_rows_over_the_bound_and_reading_problems_by_line_of_the_file(rig):
    rig.engine.config.tasks.max_rows = 3
    three = (b"\xef\xbb\xbfphone,code,minutes\r\n\r\n+8613800000001,1,2\r\n\r\n+8613800000002,1,2\r\n"
             b"+8613800000003,1,2\r\n\r\n")
    status, view = await post(rig, three, "text/csv", template_id=1, sign="smsengine")
    assert status == 201 and view["recipients"] == 3 and view["problems"] == [], view
    status, answer = await post(rig, three + b"+8613800000004,1,2\n", "text/csv", template_id=1, sign="smsengine")
    assert (status, answer["code"]) == (413, 1055)

    rig.engine.config.tasks.max_rows = 100
    data = ('\ufeff\n"phone","code","minutes"\n+8613800000011,"multi\nline",2\n+8613800000012,1\n').encode()
    status, view = await post(rig, data, "text/csv", template_id=1, sign="smsengine")
    assert status == 201, view
    # a blank first line does not hide the header; a row is reported at the line it starts on
    assert view["recipients"] == 1 and [(p["line"], p["code"]) for p in view["problems"]] == [(5, 1014)]
    bad = b"\xef\xbb\xbf+8613800000021,\xe9\xaa,2\n"
    status, answer = await post(rig, bad, "text/csv", template_id=1, sign="smsengine")
    where = bad.index(b"\xe9")  # counted from the file's first byte, the BOM's included
    assert (status, answer["code"]) == (400, 1004) and f"(byte {where})" in answer["message"]
