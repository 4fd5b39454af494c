"""Short links over a real store: a taken code is retried, an account's links are bounded, clicks
ride group commits (never one transaction each) and are counted per UTC hour."""

import sqlite3

import pytest

from smsengine import config
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.shortlinks import HOUR
from smsengine.engine.shortlinks import ShortLinks
from smsengine.engine.store import Store

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
URL = "https://shop.example.cn/sale?from=sms"


def durable(store, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(store.path) as conn:
        return conn.execute(sql, params).fetchall()


async def test_a_taken_code_is_retried_with_a_fresh_one(store):
    codes = iter(["Taken01", "Taken01", "Taken01", "Fresh02"])
    links = ShortLinks(store, max_per_account=10, codes=lambda: next(codes))
    first = await links.create("a", URL, NOW)
    second = await links.create("b", "http://other.example/", NOW)
    assert (first.code, second.code) == ("Taken01", "Fresh02")
    assert durable(store, "SELECT code, app_id, url FROM short_links ORDER BY id") == [
        ("Taken01", "a", URL), ("Fresh02", "b", "http://other.example/")]


async def test_an_account_holds_at_most_max_per_account_links(store):
    links = ShortLinks(store, max_per_account=2)
    for i in range(2):
        await links.create("a", f"{URL}&n={i}", NOW)
    with pytest.raises(SmsError) as err:
        await links.create("a", URL, NOW)
    assert err.value.code is ErrorCode.LINK_LIMIT
    await links.create("b", URL, NOW)  # another account's bound is its own
    assert durable(store, "SELECT app_id, COUNT(*) FROM short_links GROUP BY app_id") == [("a", 2), ("b", 1)]


async def test_a_bad_target_is_refused_before_anything_is_stored(store):
    links = ShortLinks(store, max_per_account=2)
    with pytest.raises(SmsError) as err:
        await links.create("a", "ftp://example.com/", NOW)
    assert err.value.code is ErrorCode.REQUEST_MALFORMED
    assert durable(store, "SELECT COUNT(*) FROM short_links") == [(0,)]


async def test_clicks_ride_one_group_commit_and_are_counted_per_utc_hour(store):
    links = ShortLinks(store, max_per_account=10)
    link = await links.create("a", URL, NOW)
    commits = store.commits
    hour = int(NOW // HOUR) * HOUR
    # 200 clicks this hour, 3 two hours ago, 1 eight days ago (counted, but outside the hours)
    times = [NOW] * 200 + [hour - 2 * HOUR + 5] * 3 + [NOW - 8 * 86400]
    for at in times:
        assert await links.follow(link.code, at, "Mozilla/5.0 " + "x" * 400) == URL
    stats = await links.stats(link, NOW)
    assert store.commits - commits == 1  # every click in one transaction
    assert stats.total == 204
    assert [(h.hour, h.clicks) for h in stats.hours] == [(hour - 2 * HOUR, 3), (hour, 200)]
    assert stats.since == hour - (7 * 24 - 1) * HOUR
    (longest,) = durable(store, "SELECT MAX(LENGTH(user_agent)) FROM link_clicks")[0]
    assert longest == 256


async def test_an_unknown_code_is_not_followed_and_counts_nothing(store):
    links = ShortLinks(store, max_per_account=10)
    assert await links.follow("Nobody1", NOW, "ua") is None
    await store.flush()
    assert durable(store, "SELECT COUNT(*) FROM link_clicks") == [(0,)]


async def test_a_link_is_visible_to_its_account_and_the_operator_only(store):
    links = ShortLinks(store, max_per_account=10)
    link = await links.create("a", URL, NOW)
    assert await links.link(link.code, "a") == link
    assert await links.link(link.code, None) == link  # the operator
    with pytest.raises(SmsError) as err:
        await links.link(link.code, "b")
    assert err.value.code is ErrorCode.NOT_FOUND


async def test_an_accounts_links_page_by_cursor(store):
    links = ShortLinks(store, max_per_account=10)
    made = [await links.create(app, f"{URL}&n={i}", NOW + i) for i, app in enumerate("abaab")]
    mine = [x for x in made if x.app_id == "a"]
    first = await links.page("a", 0, 2)
    rest = await links.page("a", first[-1].id, 2)
    assert first + rest == mine and await links.page("a", rest[-1].id, 2) == []


async def test_clicks_and_links_survive_reopening_the_store(tmp_path):
    store = Store(tmp_path / "s.db")
    await store.open()
    link = await ShortLinks(store, max_per_account=10).create("a", URL, NOW)
    links = ShortLinks(store, max_per_account=10)
    await links.follow(link.code, NOW, "ua")
    await store.close()  # the click was only queued: close commits it
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        reopened = ShortLinks(store, max_per_account=10)
        assert await reopened.follow(link.code, NOW + 1, "ua") == URL  # looked up in the store, not a cache
        assert (await reopened.stats(link, NOW + 1)).total == 2
    finally:
        await store.close()


def test_the_public_base_url_is_configured_and_checked(tmp_path):
    path = tmp_path / "engine.toml"
    path.write_text('[links]\npublic_base_url = "https://t.example.cn"\nmax_per_account = 5\n')
    links = config.load(path, environ={}).links
    assert (links.public_base_url, links.max_per_account) == ("https://t.example.cn", 5)
    overridden = config.load(path, environ={"SMSENGINE_LINKS__PUBLIC_BASE_URL": '"http://10.0.0.1:8080"'})
    assert overridden.links.public_base_url == "http://10.0.0.1:8080"
    path.write_text('[links]\npublic_base_url = "t.example.cn"\n')
    with pytest.raises(config.ConfigError, match="links"):
        config.load(path, environ={})
