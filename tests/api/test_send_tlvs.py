"""Vendor-specific TLVs on a send (`tlvs`), over real sockets and a real store: what the simulated
carrier receives on every part, a carrier's configured defaults, refusals, and a restart."""

from __future__ import annotations

import time

import aiohttp
import pytest

from carriers.group import SimulatorGroup
from smsengine.config import DispatchConfig
from smsengine.smpp.constants import Tag
from smsengine.smpp.vendor_tlvs import VendorTlv
from tests.support.polling import eventually
from tests.support.recording import RecordingBehaviour, vendor_tlvs
from tests.support.rig import Client, db_rows, engine_config, fast_profile, start_rig, start_server, stop_rig

RECORDING = "tests.support.recording:RecordingBehaviour"
LONG = "长" * 150  # with the signature: 161 UCS-2 characters, 3 parts
DLT_ENTITY, DLT_TEMPLATE = 0x1400, 0x1401
ENTITY_ID = b"1201159543060917386"
# octets a text form would mangle: NUL, high bit, what looks like a terminator
TEMPLATE_ID = bytes((0x00, 0xFF, 0x0A, 0x31, 0x00))
GIVEN = [{"tag": DLT_ENTITY, "value_hex": ENTITY_ID.hex()}, {"tag": DLT_TEMPLATE, "value_hex": TEMPLATE_ID.hex().upper()}]
EXPECTED = [(DLT_ENTITY, ENTITY_ID), (DLT_TEMPLATE, TEMPLATE_ID)]


def recorder(rig) -> RecordingBehaviour:
    behaviour = rig.simulators["ideal"].behaviour
    assert isinstance(behaviour, RecordingBehaviour)
    return behaviour


def received(behaviour: RecordingBehaviour, number: str) -> list:
    return [pdu for pdu in behaviour.submits if pdu.destination_addr == number.lstrip("+")]


async def send_ok(rig, numbers: list[str], **fields) -> list[str]:
    status, body = await rig.client.send(numbers, **fields)
    assert status == 200, body
    assert all(r["code"] == 0 for r in body["results"]), body
    return [r["message_id"] for r in body["results"]]


@pytest.mark.parametrize("concat", ["udh", "sar"])
async def test_tlvs_reach_the_carrier_byte_exact_on_every_part(tmp_path, concat):
    rig = await start_rig(tmp_path, [fast_profile("ideal", behaviour=RECORDING)],
                          carrier_changes={"ideal": {"concat": concat}})
    try:
        numbers = ["+8613800000001", "+8613800000002"]
        ids = await send_ok(rig, numbers, content=LONG, tlvs=GIVEN)
        plain = await send_ok(rig, ["+8613800000003"], content=LONG)
        views = await rig.client.wait_final(ids + plain)
        assert {v["status"] for v in views.values()} == {"delivered"}
        assert {v["segments"] for v in views.values()} == {3}
        behaviour = recorder(rig)
        for number in numbers:
            parts = received(behaviour, number)
            assert len(parts) == 3
            assert [vendor_tlvs(p) for p in parts] == [EXPECTED] * 3
            if concat == "sar":  # the engine's own TLVs are still there, untouched
                assert [p.tlvs[Tag.SAR_SEGMENT_SEQNUM] for p in parts] == [1, 2, 3]
        assert [vendor_tlvs(p) for p in received(behaviour, "+8613800000003")] == [[]] * 3
        # stored with the message, as the hex of their wire form (tag, length, value)
        block = b"".join(tag.to_bytes(2, "big") + len(v).to_bytes(2, "big") + v for tag, v in EXPECTED)
        stored = dict(db_rows(rig.engine, "SELECT id, tlvs FROM messages"))
        assert stored == {int(ids[0]): block.hex(), int(ids[1]): block.hex(), int(plain[0]): None}
    finally:
        await stop_rig(rig)


async def test_a_carriers_default_tlvs_are_added_and_a_sends_own_tag_wins(tmp_path):
    defaults = [VendorTlv(DLT_ENTITY, "aa01"), VendorTlv(0x1500, "bb")]
    rig = await start_rig(tmp_path, [fast_profile("ideal", behaviour=RECORDING)],
                          carrier_changes={"ideal": {"tlvs": defaults}})
    try:
        plain = await send_ok(rig, ["+8613800000011"])
        own = await send_ok(rig, ["+8613800000012"], tlvs=GIVEN)
        long = await send_ok(rig, ["+8613800000013"], content=LONG, tlvs=GIVEN[1:])
        await rig.client.wait_final(plain + own + long)
        behaviour = recorder(rig)
        [p] = received(behaviour, "+8613800000011")
        assert vendor_tlvs(p) == [(DLT_ENTITY, b"\xaa\x01"), (0x1500, b"\xbb")]
        [p] = received(behaviour, "+8613800000012")
        assert vendor_tlvs(p) == [(0x1500, b"\xbb"), *EXPECTED]  # the carrier's 0x1400 replaced
        parts = received(behaviour, "+8613800000013")
        assert [vendor_tlvs(p) for p in parts] == [[(DLT_ENTITY, b"\xaa\x01"), (0x1500, b"\xbb"),
                                                    (DLT_TEMPLATE, TEMPLATE_ID)]] * 3
    finally:
        await stop_rig(rig)


REFUSED = [
    ([{"tag": int(Tag.MESSAGE_PAYLOAD), "value_hex": "00"}], "`$.tlvs[0].tag`"),  # a standard TLV
    ([{"tag": 0x13FF, "value_hex": "00"}], "`$.tlvs[0].tag`"),
    ([GIVEN[0], {"tag": 0x4000, "value_hex": "00"}], "`$.tlvs[1].tag`"),
    ([{"tag": "0x1400", "value_hex": "00"}], "`$.tlvs[0].tag`"),
    ([{"tag": DLT_ENTITY, "value_hex": "00" * 256}], "`$.tlvs[0].value_hex`"),  # 256 octets
    ([{"tag": DLT_ENTITY, "value_hex": "123"}], "`$.tlvs[0].value_hex`"),
    ([{"tag": DLT_ENTITY, "value_hex": "zz"}], "`$.tlvs[0].value_hex`"),
    ([{"tag": DLT_ENTITY}], "`$.tlvs[0]`"),
    ([{"tag": DLT_ENTITY, "value_hex": "00", "value": "x"}], "`$.tlvs[0]`"),
    ([{"tag": 0x1400 + i, "value_hex": "00"} for i in range(9)], "`$.tlvs`"),
    ([GIVEN[0], GIVEN[1], {"tag": DLT_ENTITY, "value_hex": "01"}], "`$.tlvs[2].tag`"),  # given twice
]


async def test_invalid_tlvs_are_refused_with_1004_naming_the_field_and_nothing_is_stored(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal", behaviour=RECORDING)])
    try:
        balance = db_rows(rig.engine, "SELECT balance FROM accounts WHERE app_id='demo'")
        for tlvs, field in REFUSED:
            status, body = await rig.client.send(["+8613800000021"], content=LONG, tlvs=tlvs)
            assert status == 400 and body["code"] == 1004, (tlvs, body)
            assert field in body["message"], (tlvs, body)
        # the same request with valid TLVs at the bounds goes through: only it is stored and charged
        widest = [{"tag": 0x3FFF, "value_hex": "00" * 255}] + [{"tag": 0x1400 + i, "value_hex": "01"} for i in range(7)]
        ok = await send_ok(rig, ["+8613800000021"], content=LONG, tlvs=widest)
        await rig.client.wait_final(ok)
        assert db_rows(rig.engine, "SELECT id FROM messages") == [(int(ok[0]),)]
        parts = recorder(rig).submits
        assert len(parts) == 3 and vendor_tlvs(parts[0])[0] == (0x3FFF, bytes(255))
        await rig.engine.store.flush()
        assert db_rows(rig.engine, "SELECT balance FROM accounts WHERE app_id='demo'") == [(balance[0][0] - 3,)]
    finally:
        await stop_rig(rig)


async def test_a_message_accepted_before_a_crash_carries_its_tlvs_when_sent_after_recovery(tmp_path):
    """Accepted and durable, not yet due when the engine dies without a goodbye: the restarted
    engine reads it back from the store and sends every part with the TLVs it was accepted with."""
    async with SimulatorGroup([fast_profile("ideal", behaviour=RECORDING)]) as sims:
        config = engine_config(tmp_path, sims.ports, carrier_changes={"ideal": {"concat": "sar"}},
                               dispatch=DispatchConfig(recovery_hold_s=0.5))
        server = await start_server(config, tmp_path)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                status, body = await Client(http).send(["+8613800000031"], content=LONG, tlvs=GIVEN,
                                                       schedule_at=time.time() + 2.0)
            assert status == 200 and body["results"][0]["code"] == 0, body
            engine = server.engine
            await engine.store.flush()
            await engine.carriers.abort()  # die: binds vanish, nothing drained or unbound
            await engine.dispatcher.stop()
            await engine.store.close()
        finally:
            await server.stop(drain_timeout=0.0)
        behaviour = sims["ideal"].behaviour
        assert isinstance(behaviour, RecordingBehaviour)
        assert behaviour.submits == []  # nothing went out before the crash

        server = await start_server(config, tmp_path)
        try:
            await eventually(lambda: len(behaviour.submits) >= 3, 10, lambda: f"{len(behaviour.submits)} parts")
            assert [vendor_tlvs(p) for p in behaviour.submits] == [EXPECTED] * 3
            assert sorted(p.tlvs[Tag.SAR_SEGMENT_SEQNUM] for p in behaviour.submits) == [1, 2, 3]
        finally:
            await server.stop(drain_timeout=1.0)
