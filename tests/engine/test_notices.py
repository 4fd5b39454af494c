"""Over-limit notices: once per account, number, limit and window, batched per account."""

import asyncio

from smsengine.domain.errors import ErrorCode
from smsengine.engine.notices import OverLimitNotices

DAILY, SAME, HOURLY = ErrorCode.DAILY_LIMIT, ErrorCode.SAME_CONTENT_LIMIT, ErrorCode.HOURLY_LIMIT


def notices(urls: dict[str, str]) -> tuple[OverLimitNotices, list[tuple[str, dict]]]:
    sent: list[tuple[str, dict]] = []
    return OverLimitNotices(lambda url, event: sent.append((url, event)), lambda app: urls.get(app, ""),
                            every_s=0.01, clock=lambda: 5.0), sent


async def test_each_number_is_reported_once_per_limit_and_window_in_one_post_per_account():
    n, sent = notices({"shop": "http://x/alarm", "clinic": "http://y/alarm"})
    for _ in range(3):  # the same refusal, request after request
        n.stopped("shop", "+8613800000001", DAILY, 1000.0)
    n.stopped("shop", "+8613800000001", SAME, 1000.0)  # another limit: its own notice
    n.stopped("shop", "+8613800000002", DAILY, 1001.0)
    n.stopped("clinic", "+8613800000001", DAILY, 1001.0)
    n.stopped("nobody", "+8613800000001", DAILY, 1001.0)  # no alarm URL: nothing to tell
    n.stopped("shop", "+8613800000001", ErrorCode.UNSUBSCRIBED, 1001.0)  # not a limit
    await asyncio.sleep(0.05)
    assert sorted(url for url, _ in sent) == ["http://x/alarm", "http://y/alarm"]
    shop = next(event for url, event in sent if url == "http://x/alarm")
    assert shop["event"] == "over_limit" and shop["app_id"] == "shop"
    assert [(x["phone"], x["code"]) for x in shop["numbers"]] == [
        ("+8613800000001", DAILY), ("+8613800000001", SAME), ("+8613800000002", DAILY)]
    sent.clear()
    n.stopped("shop", "+8613800000001", SAME, 1000.0 + 31)  # the next 30 s window: again
    n.stopped("shop", "+8613800000001", DAILY, 1000.0 + 3600)  # the same day: not again
    await asyncio.sleep(0.05)
    assert [[(x["phone"], x["code"]) for x in e["numbers"]] for _, e in sent] == [[("+8613800000001", SAME)]]


async def test_a_flood_of_refusals_is_bounded_per_post():
    n, sent = notices({"shop": "http://x/alarm"})
    n.max_batch = 5
    for i in range(8):
        n.stopped("shop", f"+86138000000{i:02d}", HOURLY, 100.0)
    await asyncio.sleep(0.05)
    assert len(sent) == 1 and len(sent[0][1]["numbers"]) == 5 and n.dropped == 3
