"""The account registry over a real store: creation, balances and refunds, signatures and
templates, unsubscribe lists — in memory at once, and the same after a reload from disk."""

import asyncio
import time

import pytest

from smsengine.config import AccountConfig, LimitsConfig, SignatureSeed, TemplateSeed
from smsengine.domain.accounts import BALANCE_MAX
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.review import ReviewStatus
from smsengine.domain.signatures import approve_signature, new_signature
from smsengine.domain.templates import MessageType, TemplateRegion, new_template, reject_template
from smsengine.engine.accounts import AccountRegistry
from smsengine.engine.records import MessageRecord
from smsengine.engine.store import Store

NUMBER = "+8613800000001"


async def registry_with(store: Store, *seeds: AccountConfig) -> AccountRegistry:
    registry = AccountRegistry(store, "CN")
    await registry.seed(list(seeds))
    await registry.load()
    return registry


async def reloaded(store: Store) -> AccountRegistry:
    await store.flush()
    return await registry_with(store)


async def test_created_account_has_its_seeded_items_and_policy(store):
    registry = await registry_with(store)
    acme = await registry.create_account(AccountConfig(
        app_id="acme", key="k", balance=10, limits=LimitsConfig(daily_max=3, alarm_url="http://x/alarm"),
        signatures=[SignatureSeed("Acme")], templates=[TemplateSeed(901, "Code {1}")],
    ))
    assert (acme.available, acme.policy.daily_max) == (10, 3)
    assert acme.signatures["Acme"].status is ReviewStatus.APPROVED
    assert acme.templates[901].compiled.param_count == 1
    assert registry.alarm_url("acme") == "http://x/alarm" and registry.alarm_url("other") == ""
    with pytest.raises(SmsError) as err:
        await registry.create_account(AccountConfig(app_id="acme", key="again"))
    assert err.value.code is ErrorCode.REQUEST_MALFORMED
    again = (await reloaded(store)).get("acme")
    assert (again.key, again.available, list(again.templates)) == ("k", 10, [901])


async def test_the_same_account_created_twice_at_once_is_created_once(store):
    registry = await registry_with(store)
    results = await asyncio.gather(*(registry.create_account(AccountConfig(app_id="acme", key=k))
                                     for k in ("first", "second")), return_exceptions=True)
    assert sum(isinstance(r, SmsError) for r in results) == 1
    winner = next(r for r in results if not isinstance(r, SmsError))
    assert (await reloaded(store)).get("acme").key == winner.key


async def test_balance_top_up_is_durable_and_bounded(store):
    registry = await registry_with(store, AccountConfig(app_id="a", key="k", balance=5))
    await registry.add_balance("a", 20)
    assert registry.get("a").available == 25
    assert await store.balance_of("a") == 25
    with pytest.raises(SmsError) as err:
        await registry.add_balance("a", BALANCE_MAX)
    assert err.value.code is ErrorCode.REQUEST_MALFORMED
    assert registry.get("a").available == 25 and await store.balance_of("a") == 25


async def test_refund_gives_reserved_segments_back_to_available_only(store):
    registry = await registry_with(store, AccountConfig(app_id="a", key="k", balance=10))
    registry.get("a").available -= 4  # reserved at accept
    registry.refund("a", 3)
    registry.refund("a", 0)
    registry.refund("nobody", 3)
    assert registry.get("a").available == 9
    assert await store.balance_of("a") == 10  # the stored balance never lost them


async def test_unsent_segments_stay_reserved_across_a_reload(store):
    await registry_with(store, AccountConfig(app_id="a", key="k", balance=10))
    await store.accept([MessageRecord(id=1, app_id="a", phone=NUMBER, content="x", type="regular", chars=1,
                                      segments=3, data_coding=8, created_at=time.time())])
    store.segment_submitted(1, 1, "c", "m", time.time())
    store.charge("a", 1)
    assert (await reloaded(store)).get("a").available == 9 - 2


async def test_settings_follow_in_memory_and_on_disk(store):
    registry = await registry_with(store, AccountConfig(app_id="a", key="k"))
    await registry.set_receipt_url("a", "http://x/r")
    await registry.set_state("a", "suspended")
    account = (await reloaded(store)).get("a")
    assert (account.receipt_url, account.state) == ("http://x/r", "suspended")


async def test_signatures_are_added_once_and_reviews_stored(store):
    registry = await registry_with(store, AccountConfig(app_id="a", key="k"))
    sig = await registry.add_signature(new_signature(0, "a", "Brand"))
    assert sig.id > 0 and registry.find_signature(sig.id) == sig
    with pytest.raises(SmsError) as err:
        await registry.add_signature(new_signature(0, "a", "Brand"))
    assert err.value.code is ErrorCode.SIGNATURE_INVALID
    await registry.save_signature_review(approve_signature(sig))
    assert (await reloaded(store)).get("a").signatures["Brand"].status is ReviewStatus.APPROVED
    with pytest.raises(SmsError) as err:
        registry.find_signature(sig.id + 1)
    assert err.value.code is ErrorCode.NOT_FOUND


async def test_templates_added_together_keep_their_own_ids_and_reviews(store):
    registry = await registry_with(store, AccountConfig(app_id="a", key="k", templates=[TemplateSeed(7, "Hi {1}")]))
    texts = [f"Notice {i}: {{1}}" for i in range(5)]
    added = await asyncio.gather(*(registry.add_template(new_template(0, "a", t, MessageType.REGULAR,
                                                                      TemplateRegion.MAINLAND)) for t in texts))
    assert [registry.find_template(t.id).text for t in added] == texts
    assert min(t.id for t in added) > 7
    await registry.save_template_review(reject_template(added[0], "vague"))
    stored = (await reloaded(store)).get("a").templates
    assert (stored[added[0].id].status, stored[added[0].id].remark) == (ReviewStatus.REJECTED, "vague")
    assert {t.id: t.text for t in stored.values()} == {7: "Hi {1}"} | {t.id: t.text for t in added}


async def test_a_seeded_template_id_of_another_account_fails_the_seed(store):
    await registry_with(store, AccountConfig(app_id="a", key="k", templates=[TemplateSeed(7, "Hi {1}")]))
    with pytest.raises(SmsError) as err:
        await registry_with(store, AccountConfig(app_id="b", key="k", templates=[TemplateSeed(7, "Yo {1}")]))
    assert err.value.code is ErrorCode.TEMPLATE_INVALID


async def test_reseeding_keeps_the_stored_balance(store):
    registry = await registry_with(store, AccountConfig(app_id="a", key="k", balance=5))
    await registry.add_balance("a", 10)
    again = await registry_with(store, AccountConfig(app_id="a", key="new", balance=999))
    assert (again.get("a").key, again.get("a").available) == ("new", 15)


async def test_unsubscribe_and_resubscribe_reach_the_store(store):
    registry = await registry_with(store, AccountConfig(app_id="a", key="k"))
    assert registry.unsubscribe("a", NUMBER)
    assert not registry.unsubscribe("a", NUMBER)
    assert not registry.unsubscribe("nobody", NUMBER)
    assert (await reloaded(store)).get("a").unsubscribed == {NUMBER}
    assert registry.resubscribe("a", NUMBER)
    assert not registry.resubscribe("a", NUMBER)
    assert (await reloaded(store)).get("a").unsubscribed == set()
