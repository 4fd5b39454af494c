"""Dispatch under realistic and hostile carriers: fates, throttling, dropped binds, early receipts."""

from collections import Counter

from carriers.config import FateShares, Latency
from smsengine.smpp.constants import CommandStatus
from tests.support.rig import db_rows, fast_profile, start_rig, stop_rig, wait_engine_final


def numbers(n: int, start: int = 0) -> list[str]:
    return [f"+86138{start + i:08d}" for i in range(n)]


async def send_all(rig, phones: list[str], **fields) -> list[str]:
    ids = []
    for i in range(0, len(phones), 200):
        status, body = await rig.client.send(phones[i : i + 200], **fields)
        assert status == 200, body
        assert all(r["code"] == 0 for r in body["results"]), body["results"][:3]
        ids += [r["message_id"] for r in body["results"]]
    return ids


async def store_outcomes(rig) -> Counter:
    await rig.engine.store.flush()
    rows = db_rows(rig.engine, "SELECT status, code FROM messages")
    return Counter((status, code) for status, code in rows)


async def test_thousand_messages_match_the_simulator_counters_exactly(tmp_path):
    profile = fast_profile(
        "realistic", seed=7,
        fates=FateShares(empty=0.1, blocked=0.1, out_of_service=0.05, inbox_full=0.05, invalid_destination=0.05),
    )
    rig = await start_rig(tmp_path, [profile])
    try:
        ids = await send_all(rig, numbers(1000))
        assert len(set(ids)) == 1000
        await wait_engine_final(rig.engine, 1000)
        outcomes = await store_outcomes(rig)
        counters = rig.simulators["realistic"].counters
        assert sum(outcomes.values()) == 1000
        assert not any(status in ("accepted", "submitted") for status, _ in outcomes)
        # every accepted submit got exactly one receipt, and each receipt decided one message
        assert counters.accepted == sum(counters.receipts.values())
        assert outcomes[("delivered", 0)] == counters.receipts["DELIVRD"]
        assert outcomes[("failed", 60002)] == counters.receipts["UNDELIV"]
        rejected_at_submit = counters.rejected[CommandStatus.ESME_RINVDSTADR]
        assert outcomes[("failed", 60001)] == rejected_at_submit > 0
        assert counters.accepted + rejected_at_submit == 1000  # nothing sent twice, nothing lost
        # billing: one charge per segment the carrier accepted, none for refused ones
        [(balance,)] = db_rows(rig.engine, "SELECT balance FROM accounts WHERE app_id='demo'")
        assert balance == 10_000_000 - counters.accepted
        remarks = db_rows(rig.engine, "SELECT DISTINCT remark FROM messages WHERE code=60002")
        assert any("unknown or empty number" in r[0] for r in remarks)
    finally:
        await stop_rig(rig)


async def test_throttling_pauses_and_resends_without_duplicates(tmp_path):
    profile = fast_profile("tight", throughput_per_s=3000.0, throughput_burst=20.0)
    rig = await start_rig(tmp_path, [profile])
    try:
        await send_all(rig, numbers(600))
        await wait_engine_final(rig.engine, 600)
        counters = rig.simulators["tight"].counters
        assert counters.throttled > 0  # the cap was really hit
        assert counters.accepted == 600  # and every throttled PDU went out again exactly once
        assert (await store_outcomes(rig)) == Counter({("delivered", 0): 600})
        assert rig.engine.pools["tight"].stats.throttled == counters.throttled
    finally:
        await stop_rig(rig)


async def test_dropped_binds_mid_run_lose_nothing(tmp_path):
    profile = fast_profile("flaky", drop_per_pdu=0.004, seed=3)
    rig = await start_rig(tmp_path, [profile], carrier_changes={"flaky": {"binds": 2}})
    try:
        await send_all(rig, numbers(800))
        await wait_engine_final(rig.engine, 800, timeout=60)
        counters = rig.simulators["flaky"].counters
        assert counters.drops > 0
        assert (await store_outcomes(rig)) == Counter({("delivered", 0): 800})
        # one carrier message id per segment: nothing that got a submit_sm_resp was sent again
        rows = db_rows(rig.engine, "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM segments")
        assert rows[0] == (800, 800)
        # the carrier may hold a few copies whose responses died with a connection, no more
        window = rig.engine.config.carriers[0].window
        assert 800 <= counters.accepted <= 800 + counters.drops * window
    finally:
        await stop_rig(rig)


async def test_receipt_that_beats_its_submit_response_is_not_lost(tmp_path):
    # responses take 40 ms, receipts are written at once: every receipt arrives first
    profile = fast_profile("racy", latency=Latency(kind="fixed", ms=40.0), time_scale=0.0)
    rig = await start_rig(tmp_path, [profile])
    try:
        await send_all(rig, numbers(50))
        await wait_engine_final(rig.engine, 50)
        assert rig.engine.dispatcher.correlator.matched_early > 0
        assert (await store_outcomes(rig)) == Counter({("delivered", 0): 50})
        assert rig.engine.dispatcher.correlator.parked() == 0
    finally:
        await stop_rig(rig)


async def test_repeated_transient_errors_fail_over_to_the_next_carrier(tmp_path):
    from smsengine.config import RouteConfig, RouteTarget

    broken = fast_profile("broken", system_error_rate=1.0)  # every submit: ESME_RSYSERR
    backup = fast_profile("backup")
    routes = [RouteConfig(prefix="+", targets=[RouteTarget("broken", 1), RouteTarget("backup", 0)])]
    rig = await start_rig(tmp_path, [broken, backup], routes=routes)
    try:
        await send_all(rig, numbers(20))
        await wait_engine_final(rig.engine, 20)
        assert (await store_outcomes(rig)) == Counter({("delivered", 0): 20})
        assert rig.simulators["backup"].counters.accepted == 20
        # each message tried the first carrier twice (a retry, then the failover)
        assert rig.simulators["broken"].counters.rejected[CommandStatus.ESME_RSYSERR] == 40
        assert rig.engine.dispatcher.stats.failovers == 20
    finally:
        await stop_rig(rig)


async def test_permanent_timeouts_end_in_60008(tmp_path):
    broken = fast_profile("broken", system_error_rate=1.0)
    rig = await start_rig(tmp_path, [broken], carrier_changes={"broken": {"max_retries": 2}})
    try:
        ids = await send_all(rig, numbers(5))
        views = await rig.client.wait_final(ids)
        assert {v["code"] for v in views.values()} == {60008}
        assert all("after 3 attempts" in v["remark"] for v in views.values())
        assert rig.simulators["broken"].counters.rejected[CommandStatus.ESME_RSYSERR] == 15
        await rig.engine.store.flush()
        [(balance,)] = db_rows(rig.engine, "SELECT balance FROM accounts WHERE app_id='demo'")
        assert balance == 10_000_000  # nothing was submitted, so nothing was charged
    finally:
        await stop_rig(rig)


async def test_vendor_status_codes_follow_the_carrier_config(tmp_path):
    """A vendor code is permanent unless the carrier's config names it transient."""
    from tests.support.vendor_status import VENDOR_TRY_LATER

    profile = fast_profile("vendor", behaviour="tests.support.vendor_status:VendorTryLater")
    rig = await start_rig(tmp_path, [profile])
    try:
        ids = await send_all(rig, numbers(5))
        views = await rig.client.wait_final(ids)
        assert {v["code"] for v in views.values()} == {60001}
        assert all(f"{VENDOR_TRY_LATER:#x}" in v["remark"] for v in views.values())
    finally:
        await stop_rig(rig)

    rig = await start_rig(tmp_path / "2", [profile],
                          carrier_changes={"vendor": {"transient_statuses": [VENDOR_TRY_LATER]}})
    try:
        ids = await send_all(rig, numbers(5))
        views = await rig.client.wait_final(ids)
        assert {v["status"] for v in views.values()} == {"delivered"}
        assert rig.engine.dispatcher.stats.retries == 5
    finally:
        await stop_rig(rig)
