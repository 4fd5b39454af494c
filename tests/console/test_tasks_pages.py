"""The console's task pages: a CSV upload made a task and watched to completion, its rows not sent
and messages, CSV export, cancelling a scheduled task (nothing charged), the list's filters and
cursor, and one account's task hidden from another — over HTTP and in Chromium."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from tests.console.conftest import OPERATOR_TOKEN, ConsoleClient
from tests.support.polling import eventually
from tests.support.rig import ADMIN

CSV = "13800138000,1234,5\n13800138001,1234,5\n13800138000,1234,5\n12345,1,2\n13800138002,99,5\n"
TEXT = "【smsengine】Your verification code is 1234, valid for 5 minutes."


async def upload(console: ConsoleClient, csv_text: str, **fields: str) -> tuple[int, str, int]:
    """The send form with a CSV file: answered with the task's page (after the redirect)."""
    data = aiohttp.FormData()
    for name, value in {"sign": "smsengine", "template_id": "1", "type": "regular", **fields}.items():
        data.add_field(name, value)
    data.add_field("file", csv_text.encode(), filename="numbers.csv", content_type="text/csv")
    # as the page's script posts a file: the CSRF token in its header, told where to go
    async with console.http.post("/console/send", data=data, headers={"X-CSRF-Token": console.csrf}) as resp:
        assert resp.status == 200
        target = (await resp.json())["location"]
    status, page = await console.get(target)
    found = re.search(r"<h1>Task #(\d+)", page)
    return status, page, int(found.group(1)) if found else 0


async def task_done(rig, task_id: int) -> dict:
    async def completed():
        async with rig.http.get(f"/v1/tasks/{task_id}", headers=rig.client.auth) as resp:
            view = await resp.json()
        return view if view["status"] == "completed" and not view["counts"]["pending"] else None
    return await eventually(completed, 20.0)


async def test_a_csv_upload_becomes_a_task_with_its_rows_not_sent_messages_and_export(console, rig):
    await console.sign_in()
    status, page, task_id = await upload(console, CSV, name="codes")
    assert status == 200 and task_id and "task %d created: 3 recipients" % task_id in page
    view = await task_done(rig, task_id)
    assert view["counts"]["delivered"] == 3 and view["rows_rejected"] == 1 and view["rows_merged"] == 1

    status, page = await console.get(f"/console/tasks/{task_id}")
    assert status == 200
    assert 'id="task-status">completed<' in page and 'id="count-delivered">3<' in page
    assert 'id="task-segments">3<' in page and 'data-live=' not in page  # over: nothing to poll
    assert "Your verification code is {1}, valid for {2} minutes." in page and "【smsengine】" in page
    problems = re.search(r'<table class="grid" id="problems">.*?</table>', page, re.S).group(0)
    assert "<td class=\"num\">4</td>" in problems and "12345" in problems and "1016" in problems
    messages = re.findall(r'<tr data-message-id="(\d+)">', page)
    assert len(messages) == 3 and page.count("63 | 1") == 2 and page.count(TEXT) == 2
    assert page.count("61 | 1") == 1 and TEXT.replace("1234", "99") in page  # each row its own parameters
    assert page.count('class="status status-delivered">delivered<') == 3

    async with console.http.get(f"/console/tasks/{task_id}/live.json") as resp:
        live = await resp.json()
    assert live["status"] == "completed" and live["counts"]["delivered"] == 3 and live["segments_charged"] == 3

    async with console.http.get(f"/console/tasks/{task_id}/export.csv") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        lines = (await resp.text()).strip().splitlines()
    assert lines[0].startswith("message_id,phone,content") and len(lines) == 4
    assert sorted(line.split(",")[1] for line in lines[1:]) == ["+8613800138000", "+8613800138001", "+8613800138002"]


async def test_a_task_scheduled_an_hour_ahead_is_cancelled_from_its_page_and_nothing_is_charged(console, rig):
    await console.sign_in()
    balance = await rig.engine.store.balance_of("demo")
    # the datetime-local field is a wall clock of the account (UTC+8 here)
    at = datetime.now(timezone(timedelta(hours=8))) + timedelta(hours=1)
    status, page, task_id = await upload(console, CSV, schedule_local=at.strftime("%Y-%m-%dT%H:%M"))
    assert status == 200 and 'id="task-status">scheduled<' in page and 'id="cancel-task"' in page
    task = await rig.engine.store.task(task_id)
    assert abs(task.schedule_at - (time.time() + 3600)) < 61
    assert 'data-live="/console/tasks/%d/live.json"' % task_id in page

    status, page = await console.post(f"/console/tasks/{task_id}/cancel", {})
    assert status == 200 and f"task {task_id} cancelled" in page
    assert 'id="task-status">cancelled<' in page and 'id="task-segments">0<' in page and 'id="cancel-task"' not in page
    assert await rig.engine.store.balance_of("demo") == balance
    async with rig.http.get(f"/v1/tasks/{task_id}", headers=rig.client.auth) as resp:
        view = await resp.json()
    assert view["status"] == "cancelled" and view["segments_charged"] == 0 and sum(view["counts"].values()) == 0
    # a second cancel is the engine's refusal, said on the page
    status, page = await console.post(f"/console/tasks/{task_id}/cancel", {})
    assert status == 200 and "1056: " in page and "is cancelled" in page


async def test_an_account_cannot_see_another_accounts_task(console, rig):
    async with rig.http.post("/v1/accounts", headers={"X-Admin-Token": ADMIN},
                             json={"app_id": "acme", "key": "acme-key"}) as resp:
        assert resp.status == 201
    await console.sign_in()
    _, _, task_id = await upload(console, CSV, schedule_at=str(time.time() + 3600))
    other = ConsoleClient(str(console.http._base_url))
    try:
        await other.sign_in("acme", "acme-key")
        for path in (f"/console/tasks/{task_id}", f"/console/tasks/{task_id}/export.csv",
                     f"/console/tasks/{task_id}/live.json"):
            status, page = await other.get(path)
            assert status == 404 and "1011" in page, path
        status, page = await other.post(f"/console/tasks/{task_id}/cancel", {})
        assert status == 404 and "1011" in page
        status, page = await other.get("/console/tasks")
        assert status == 200 and f'data-task-id="{task_id}"' not in page and 'id="no-tasks"' in page
    finally:
        await other.close()
    assert (await rig.engine.store.task(task_id)).state == "scheduled"
    # the operator acting for all accounts sees every account's tasks, with their account
    operator = ConsoleClient(str(console.http._base_url))
    try:
        await operator.sign_in(operator_token=OPERATOR_TOKEN)
        status, page = await operator.get("/console/tasks?app_id=")
        assert status == 200 and f'data-task-id="{task_id}"' in page and "<th>account</th>" in page
        status, page = await operator.get(f"/console/tasks/{task_id}")
        assert status == 200 and 'id="cancel-task"' in page
    finally:
        await operator.close()


async def test_the_list_filters_and_pages_by_cursor(console, rig):
    later = time.time() + 3600
    for i in range(21):
        async with rig.http.post("/v1/tasks", headers=rig.client.auth,
                                 json={"template_id": 1, "sign": "smsengine", "name": f"t{i}", "schedule_at": later,
                                       "numbers": ["13800138000"], "params": ["1", "2"]}) as resp:
            assert resp.status == 201
    await console.sign_in()
    status, page = await console.get("/console/tasks")
    ids = [int(x) for x in re.findall(r'data-task-id="(\d+)"', page)]
    assert len(ids) == 20 and ids == sorted(ids, reverse=True)
    older = re.search(r'id="older" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    status, page = await console.get(older)
    rest = [int(x) for x in re.findall(r'data-task-id="(\d+)"', page)]
    assert len(rest) == 1 and rest[0] < ids[-1] and 'id="older"' not in page

    status, page = await console.get("/console/tasks?status=scheduled")
    assert len(re.findall(r'data-task-id="', page)) == 20
    older = re.search(r'id="older" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "status=scheduled" in older
    for query in ("status=completed", "type=marketing", "since=2099-01-01T00:00"):
        status, page = await console.get(f"/console/tasks?{query}")
        assert status == 200 and 'id="no-tasks"' in page, query
    status, page = await console.get("/console/tasks?since=2000-01-01T00:00&type=regular")
    assert len(re.findall(r'data-task-id="', page)) == 20
    status, page = await console.get("/console/tasks?status=finished")
    assert status == 400 and "1004" in page


@pytest.mark.timeout(90)
async def test_upload_a_csv_in_a_browser_and_watch_the_task_complete(pages, rig, tmp_path):
    page = await pages.sign_in()
    await page.goto(f"{pages.base}/console/send")
    await page.fill("#task-name", "browser upload")
    await page.set_input_files("#file", files=[{"name": "numbers.csv", "mimeType": "text/csv",
                                                "buffer": CSV.encode()}])
    await page.click("#send")
    await page.wait_for_url(re.compile(r".*/console/tasks/\d+$"))
    task_id = int(page.url.rsplit("/", 1)[1])
    # the counts refresh on their own until the task is over (then the page loads its messages)
    await page.locator("#count-delivered", has_text="3").wait_for(timeout=20_000)
    await page.locator("#task-status", has_text="completed").wait_for(timeout=20_000)
    await page.locator("#messages tr[data-message-id]").nth(2).wait_for(timeout=10_000)
    assert await page.locator("#messages tr[data-message-id]").count() == 3
    assert await page.locator("#problems tbody tr").count() == 1
    await pages.shot("task")

    # a scheduled one beside it, cancelled from its page
    await page.goto(f"{pages.base}/console/send")
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    await page.fill("#schedule-at", later.isoformat())  # ISO 8601 with its offset, as the API takes it
    await page.set_input_files("#file", files=[{"name": "later.csv", "mimeType": "text/csv", "buffer": CSV.encode()}])
    await page.click("#send")
    await page.wait_for_url(re.compile(r".*/console/tasks/\d+$"))
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#cancel-task")
    await page.locator("#task-status", has_text="cancelled").wait_for()
    assert "cancelled" in await page.locator(".flash.ok").inner_text()

    await page.goto(f"{pages.base}/console/tasks")
    row = page.locator(f"#tasks tr[data-task-id='{task_id}']")
    assert await row.locator("td.delivered").inner_text() == "3"
    assert await row.locator("td.segments").inner_text() == "3"
    assert await page.locator("#tasks td.status", has_text="cancelled").count() == 1
    await pages.shot("tasks")


async def test_a_csv_refused_comes_back_to_the_send_page_with_the_reason(console, rig):
    await console.sign_in()
    status, page, task_id = await upload(console, CSV, template_id="")
    assert status == 200 and task_id == 0 and "1004: " in page and "pick one" in page and 'id="send-form"' in page
    status, page, task_id = await upload(console, "number\n" + "\n".join(f"13800{i:06d},1,2" for i in range(3)),
                                         template_id="3")  # marketing takes one parameter: each row 1014
    view = await task_done(rig, task_id)
    assert view["recipients"] == 0 and view["rows_rejected"] == 3
    assert await rig.engine.store.task(task_id) is not None


async def test_a_large_csv_posted_by_a_plain_form_becomes_a_task(console, rig):
    """No script: the form's multipart body (large enough to arrive in several reads, which the
    listener collects before the handler runs) carries the CSRF token and the file."""
    import aiohttp

    await console.sign_in()
    rows = "".join(f"+86138{i:08d},{i % 10000:04d},5\n" for i in range(8000))  # ~190 KB
    form = aiohttp.FormData()
    form.add_field("template_id", "1")
    form.add_field("sign", "smsengine")
    form.add_field("name", "plain form")
    form.add_field("file", rows.encode(), filename="numbers.csv", content_type="text/csv")
    form.add_field("csrf", console.csrf)
    async with console.http.post("/console/send", data=form, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        location = resp.headers["Location"]
    assert location.startswith("/console/tasks/")
    status, body = await console.get(location)
    assert status == 200 and "plain form" in body and "8000 recipients" in body
    # and without the token the same upload is refused, nothing made
    form = aiohttp.FormData()
    form.add_field("template_id", "1")
    form.add_field("file", rows.encode(), filename="numbers.csv", content_type="text/csv")
    async with console.http.post("/console/send", data=form, allow_redirects=False) as resp:
        assert resp.status == 403
    assert len(await rig.engine.store.tasks("demo", before=2**62, limit=10)) == 1
