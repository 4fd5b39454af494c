"""The submit log: every accepted submit exactly once, with its part numbers and content hash, written in batches."""

from __future__ import annotations

import hashlib
from pathlib import Path

from carriers.submit_log import read_submit_log
from smsengine.smpp.concatenation import udh
from smsengine.smpp.constants import Tag
from smsengine.smpp.pdu import SmeDestination, SubmitMulti, SubmitSm
from tests.carriers.carrier_harness import SYSTEM_ID, bound, make_profile, running
from tests.support.polling import eventually


def submit(destination: str, text: bytes, **fields: object) -> SubmitSm:
    return SubmitSm(source_addr="smsengine", destination_addr=destination, short_message=text, **fields)  # type: ignore[arg-type]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


async def test_every_accepted_submit_is_logged_once_with_its_part_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "submits.jsonl"
    path.write_text("")  # appended to, never truncated
    async with running(make_profile(submit_log=str(path))) as server, bound(server) as client:
        expected = {}  # message_id -> (destination, seq, total, ref, content)
        for destination, text in (("8613800138000", b"plain one"), ("8613800138001", b"plain two")):
            resp = await client.request(submit(destination, text))
            expected[resp.message_id] = (destination, 1, 1, None, text)
        for seq, half in ((1, b"first half "), (2, b"second half")):
            resp = await client.request(submit("8613800138002", udh(77, 2, seq) + half, esm_class=0x40))
            expected[resp.message_id] = ("8613800138002", seq, 2, 77, half)
        sar = {Tag.SAR_MSG_REF_NUM: 300, Tag.SAR_TOTAL_SEGMENTS: 3, Tag.SAR_SEGMENT_SEQNUM: 2}
        resp = await client.request(submit("8613800138003", b"sar middle", tlvs=sar))
        expected[resp.message_id] = ("8613800138003", 2, 3, 300, b"sar middle")
        payload = b"p" * 300
        resp = await client.request(submit("8613800138004", b"", tlvs={Tag.MESSAGE_PAYLOAD: payload}))
        expected[resp.message_id] = ("8613800138004", 1, 1, None, payload)
        refused = await client.request(submit("12", b"no such number"))
        multi = await client.request(
            SubmitMulti(
                source_addr="smsengine",
                destinations=[SmeDestination(1, 1, "8613800138005"), SmeDestination(1, 1, "12")],
                short_message=b"to many",
            )
        )
        expected[multi.message_id] = ("8613800138005", 1, 1, None, b"to many")
        # flushed while running, not only at stop
        await eventually(lambda: len(path.read_bytes().splitlines()) == len(expected), 5)
    assert refused.command_status != 0
    lines = read_submit_log(path)
    assert len(lines) == len(expected) == server.counters.accepted
    assert {line.message_id for line in lines} == set(expected)
    for line in lines:
        destination, seq, total, ref, content = expected[line.message_id]
        assert (line.destination, line.seq, line.total, line.ref) == (destination, seq, total, ref)
        assert line.text_sha1 == sha1(content)
        assert (line.system_id, line.carrier) == (SYSTEM_ID, "test")
        assert abs(line.t - lines[0].t) < 60 and line.t > 1.7e9  # unix time, not the loop clock


async def test_submits_are_written_in_batches_and_the_rest_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "submits.jsonl"
    count = 300
    async with running(make_profile(submit_log=str(path))) as server, bound(server) as client:
        futures = [client.send(submit(f"86138007{i:05d}", b"x%d" % i)) for i in range(count)]
        ids = [(await f).message_id for f in futures]
    log = server.submit_log
    assert log is not None and log.lines_written == count
    assert log.batches_written < count // 10  # never a write per submit
    assert [line.message_id for line in read_submit_log(path)] == ids


async def test_a_restart_appends_and_ids_stay_unique(tmp_path: Path) -> None:
    path = tmp_path / "submits.jsonl"
    for _ in range(2):
        async with running(make_profile(submit_log=str(path))) as server, bound(server) as client:
            for i in range(3):
                await client.request(submit(f"86138008{i:05d}", b"again"))
    ids = [line.message_id for line in read_submit_log(path)]
    assert len(ids) == 6 == len(set(ids))
