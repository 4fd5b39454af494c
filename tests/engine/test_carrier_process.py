"""The carrier process (dispatch.carrier_process): the binds in a child process of the engine's,
driven over a socketpair; what the dispatcher hears, and what the engine guarantees, stay as with
the binds on the engine's loop (tests/engine/test_pool.py, whose scriptable SMSC this uses)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
import pytest

from smsengine.config import ConfigError, DispatchConfig, load
from smsengine.engine.jobs import Job
from smsengine.engine import remote_link
from smsengine.engine.carrier_process import Ended, RemoteJob
from smsengine.engine.link_frames import Start
from smsengine.engine.remote_link import ProcessLinks, RemoteLink
from smsengine.engine.services import carrier_process_wanted
from smsengine.runtime import usable_cores
from smsengine.smpp.concatenation import ReferenceRotor
from smsengine.smpp.constants import CommandStatus, EsmClass
from smsengine.smpp.receipt import format_receipt
from smsengine.smpp.vendor_tlvs import VendorTlv
from tests.engine.test_pool import VENDOR_THROTTLE, VENDOR_TRANSIENT, LookingUp, RecordingEvents, Smsc, carrier_config, count, dest, job_for
from tests.support.polling import eventually
from tests.support.rig import db_rows, fast_profile, start_rig, stop_rig, wait_engine_final

WHEN = datetime(2024, 5, 1, 12, 0)


class Running:
    def __init__(self, smsc: Smsc, process: ProcessLinks, events: RecordingEvents, commits: list) -> None:
        self.smsc, self.process, self.events, self.commits = smsc, process, events, commits
        self.link: RemoteLink = process.links[0]

    def commit(self) -> None:
        """What the store's commit does: run every when_durable callback waiting so far."""
        waiting, self.commits[:] = list(self.commits), []
        for callback in waiting:
            callback()


@contextlib.asynccontextmanager
async def running(**changes: Any) -> AsyncIterator[Running]:
    smsc = await Smsc().start()
    events = RecordingEvents()
    commits: list = []  # the store's when_durable seam: the test commits by hand
    process = ProcessLinks([carrier_config(smsc.port, **changes)], events, ReferenceRotor(), commits.append)  # type: ignore[arg-type]
    process.start()
    try:
        await eventually(lambda: process.links[0].up, 10.0)
        yield Running(smsc, process, events, commits)
        assert smsc.errors == []
    finally:
        await process.stop()
        await smsc.close()


async def held_submits(r, n: int) -> list[Job]:
    """`n` one-part jobs submitted while the SMSC holds its answers: the window of 8 fills (wait
    until the SMSC has them), the rest queue in the process."""
    r.smsc.hold = True
    jobs = [job_for(r.link, i) for i in range(n)]
    r.link.submit_many(jobs)
    await eventually(lambda: len(r.smsc.submits) == min(n, 8))
    return jobs


def child_pid(process: ProcessLinks) -> int:
    assert process._process is not None
    return process._process.pid


async def test_jobs_go_out_and_come_back_as_submitted_with_normalised_keys():
    async with running() as r:
        jobs = [job_for(r.link, n) for n in range(3)]
        r.link.submit_many(jobs)
        await eventually(count(r.events, "submitted", 3))
        assert r.smsc.destinations == [dest(0), dest(1), dest(2)]
        # ids come back as the SMSC wrote them, keys normalised per the carrier's id format
        assert [(e[1], e[2], e[3]) for e in r.events.of("submitted")] == [
            (jobs[0], "000000A0", "a0"), (jobs[1], "000000A1", "a1"), (jobs[2], "000000A2", "a2")]
        assert r.process.jobs == {}  # nothing held for them any more


async def test_deliver_sm_is_answered_only_once_the_engine_says_it_is_durable():
    async with running() as r:
        for mid in ("160", "161", "162"):
            r.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                           short_message=format_receipt(mid, "DELIVRD", WHEN, WHEN).encode())
        await eventually(count(r.events, "receipt", 3))
        assert [e[1:3] for e in r.events.of("receipt")] == [("a0", "DELIVRD"), ("a1", "DELIVRD"), ("a2", "DELIVRD")]
        await asyncio.sleep(0.2)
        assert r.smsc.acks == [] and r.commits  # held: nothing committed yet
        r.commit()
        await eventually(lambda: len(r.smsc.acks) == 3)
        assert r.smsc.acks == [0, 0, 0]


async def test_a_parked_receipt_is_answered_once_its_submit_sm_resp_is_reported_and_durable():
    async with running() as r:
        r.events.parks.add("a0")  # the receipt for id 160 (key a0) comes before its submit_sm_resp
        r.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                       short_message=format_receipt("160", "DELIVRD", WHEN, WHEN).encode())
        await eventually(count(r.events, "receipt", 1))
        r.commit()  # the frame is durable, but the receipt in it was parked: still no answer
        await asyncio.sleep(0.3)
        assert r.smsc.acks == []
        r.link.submit_many([job_for(r.link, 1)])  # the SMSC answers it with id 160
        await eventually(count(r.events, "submitted", 1))
        await asyncio.sleep(0.2)
        assert r.smsc.acks == []  # the resp is reported, not yet durable
        await eventually(lambda: bool(r.commits))
        r.commit()
        await eventually(lambda: r.smsc.acks == [0])


async def test_jobs_of_messages_that_ended_are_taken_off_the_process_queue():
    async with running() as r:
        jobs = await held_submits(r, 20)
        for job in jobs[8:]:
            job.inflight.final = True  # their deadline passed: the engine names each as it ends
            r.process.ended(job.inflight.record.id)
        r.link.submit_many([job_for(r.link, 20)])  # a message that did not end, behind them
        await asyncio.sleep(0.2)  # the process has heard it before a window slot frees
        r.smsc.hold = False
        r.smsc.release()
        await eventually(count(r.events, "submitted", 9))
        await eventually(lambda: r.process.jobs == {})  # the twelve were reported dropped
        assert r.smsc.destinations == [dest(n) for n in [*range(8), 20]]  # and never went out


async def test_parts_of_a_message_that_failed_are_not_sent_from_the_process_queue():
    async with running() as r:
        r.smsc.hold = True
        jobs = [job_for(r.link, n) for n in range(8)]  # fill the window
        waiting = job_for(r.link, 8, text="x" * 200)  # three parts, queued behind
        assert waiting.inflight.parts == 3
        parts = [Job(waiting.inflight, seq) for seq in (1, 2, 3)]
        r.link.submit_many([*jobs, *parts])
        await eventually(lambda: len(r.smsc.submits) == 8)
        r.process.ended(waiting.inflight.record.id)  # e.g. another of its parts was refused
        await asyncio.sleep(0.2)
        r.smsc.hold = False
        r.smsc.release()
        await eventually(count(r.events, "submitted", 8))
        await eventually(lambda: r.process.jobs == {})  # its three queued parts were dropped
        assert dest(8) not in r.smsc.destinations


async def test_a_dead_carrier_process_strands_what_it_held_and_is_started_again():
    async with running() as r:
        jobs = await held_submits(r, 12)
        os.kill(child_pid(r.process), signal.SIGKILL)
        await eventually(count(r.events, "stranded", 1))
        stranded = [job for _, jobs_ in r.events.of("stranded") for job in jobs_]
        assert sorted(j.inflight.record.id for j in stranded) == sorted(j.inflight.record.id for j in jobs)
        assert not r.link.up and r.process.jobs == {}
        await eventually(lambda: r.link.up, 15.0)  # a new process, new binds
        assert r.process.restarts == 1
        r.smsc.hold = False
        r.link.submit_many([job_for(r.link, 99)])
        await eventually(lambda: dest(99) in [a[0] for a in r.smsc.answers])
        await eventually(count(r.events, "submitted", 1))


async def test_gauges_and_binds_come_from_the_process():
    async with running(binds=2) as r:
        await eventually(lambda: r.link.binds_up() == 2)
        state = r.link.state(0.0)
        assert [(b.index, b.mode, b.bound) for b in state.binds] == [(0, "transceiver", True), (1, "transceiver", True)]
        r.smsc.hold = True
        r.link.submit_many([job_for(r.link, n) for n in range(20)])
        await eventually(lambda: r.link.window_used() == 16 and r.link.queued() == 4)


async def test_messages_go_out_and_receipts_come_back_through_the_carrier_process(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")],
                          dispatch=DispatchConfig(recovery_hold_s=2.0, carrier_process=True))
    try:
        assert isinstance(rig.engine.carriers, ProcessLinks)
        numbers = [f"+86138{i:08d}" for i in range(200)]
        status, body = await rig.client.send(numbers)
        assert status == 200 and all(r["code"] == 0 for r in body["results"]), body
        await wait_engine_final(rig.engine, 200)
        assert rig.simulators["ideal"].counters.accepted == 200
        assert db_rows(rig.engine, "SELECT status, COUNT(*) FROM messages GROUP BY status") == [("delivered", 200)]
        assert rig.engine.carriers.jobs == {}
        await eventually(lambda: rig.engine.pools["ideal"].stats.receipts == 200)
        # every receipt was answered, once: its final state was committed first
        await eventually(lambda: rig.simulators["ideal"].counters.receipts_acked == 200)
        async with rig.http.get("/metrics") as resp:
            metrics = await resp.text()
        assert 'smsengine_carrier_binds{carrier="ideal"} 1.0' in metrics
        assert 'smsengine_carrier_receipts_total{carrier="ideal"} 200.0' in metrics
        assert "smsengine_carrier_process_restarts_total 0.0" in metrics
    finally:
        await stop_rig(rig)


def test_an_ended_message_is_remembered_while_a_job_of_it_is_queued():
    ended = Ended()
    ended.add([1, 2, 3])
    job = RemoteJob(7, 2, "+8613800000000", b"", False)
    assert job.final is False  # RemoteJob.ended is the process's own, not this one
    ended.prune({2, 5})  # only message 2 still has a queued job
    assert ended.ids == {2}


def test_auto_runs_the_carrier_process_only_with_more_than_two_cores():
    assert [carrier_process_wanted("auto", cores) for cores in (1, 2, 3, 8)] == [False, False, True, True]
    assert carrier_process_wanted(True, 2) and not carrier_process_wanted(False, 64)


def test_usable_cores_are_the_affinity_capped_by_a_cgroup_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path / "none") == affinity
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("max 100000\n")
    assert usable_cores(v2) == affinity
    (v2 / "cpu.max").write_text("50000 100000\n")  # half a CPU: one core
    assert usable_cores(v2) == 1
    (v2 / "cpu.max").write_text(f"{100000 * (affinity + 4)} 100000\n")  # a quota above the affinity
    assert usable_cores(v2) == affinity
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(v1) == affinity
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")  # one CPU
    assert usable_cores(v1) == 1


def test_the_setting_comes_from_the_config_file_and_the_environment(tmp_path):
    path = tmp_path / "engine.toml"
    path.write_text("[dispatch]\ncarrier_process = true\n")
    assert load(path, environ={}).dispatch.carrier_process is True
    assert load(path, environ={"SMSENGINE_DISPATCH__CARRIER_PROCESS": "false"}).dispatch.carrier_process is False
    path.write_text("")
    assert load(path, environ={}).dispatch.carrier_process == "auto"
    path.write_text('[dispatch]\ncarrier_process = "sometimes"\n')
    with pytest.raises(ConfigError):
        load(path, environ={})


def test_the_carrier_process_is_started_with_the_carriers_exactly_as_configured():
    config = carrier_config(2775, tlvs=[VendorTlv(tag=0x1400, value_hex="31323334")], bind_mode="transmitter_receiver",
                            receipt_ack="immediate", throttle_budget_s=12.5)
    start = Start([config, carrier_config(2776, name="y")], "warning")
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(start), type=Start) == start


class Buggy(RecordingEvents):
    """A dispatcher with a bug: handling one carrier answer raises."""

    def submitted(self, carrier, job, message_id, key):
        if job.inflight.record.phone.endswith("00000003"):
            raise RuntimeError("a bug of ours")
        super().submitted(carrier, job, message_id, key)


async def test_a_bug_handling_one_answer_is_counted_and_the_rest_of_the_frame_still_counts(monkeypatch):
    smsc = await Smsc().start()
    events = Buggy()
    process = ProcessLinks([carrier_config(smsc.port)], events, ReferenceRotor(), lambda callback: callback())
    process.start()
    try:
        link = process.links[0]
        await eventually(lambda: link.up, 10.0)
        smsc.hold = True
        link.submit_many([job_for(link, n) for n in range(8)])
        await eventually(lambda: len(smsc.submits) == 8)
        smsc.release()  # eight answers in one read: one frame
        await eventually(count(events, "submitted", 7))
        await asyncio.sleep(0.3)
        assert process.restarts == 0 and link.up  # the connection and the process carried on
        assert len(smsc.submits) == 8  # nothing was sent again
        assert link.stats.handler_errors == 1 and process.jobs == {}
    finally:
        await process.stop()
        await smsc.close()


async def test_a_dead_process_s_commits_release_nothing_of_the_next_one():
    async with running() as r:
        await asyncio.sleep(1.2)  # a few frames (gauges) wait for their commit
        assert r.commits
        os.kill(child_pid(r.process), signal.SIGKILL)
        await eventually(lambda: not r.link.up)
        r.commit()  # the store commits them while the next process starts
        await eventually(lambda: r.link.up, 15.0)
        # nothing of the new process is committed yet (the store runs every callback in the end)
        r.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                       short_message=format_receipt("160", "DELIVRD", WHEN, WHEN).encode())
        await eventually(count(r.events, "receipt", 1))
        r.link.submit_many([job_for(r.link, 5)])  # any order to the new process
        await eventually(count(r.events, "submitted", 1))
        await asyncio.sleep(0.3)
        assert r.smsc.acks == []  # its receipt is not answered on the dead one's commits
        r.commit()
        await eventually(lambda: r.smsc.acks == [0])


async def test_durability_is_confirmed_in_frame_order_even_when_commits_end_out_of_order():
    async with running() as r:
        r.events.parks.add("a0")  # the receipt for 160 is parked (its submit_sm_resp never comes)
        r.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                       short_message=format_receipt("160", "DELIVRD", WHEN, WHEN).encode())
        await eventually(count(r.events, "receipt", 1))
        await asyncio.sleep(0.05)
        parked_frame = list(r.commits)
        r.commits.clear()
        r.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                       short_message=format_receipt("161", "DELIVRD", WHEN, WHEN).encode())
        await eventually(count(r.events, "receipt", 2))
        await eventually(lambda: bool(r.commits))
        r.commit()  # the later frame's commit ends first (the earlier one waits out a failed commit)
        await asyncio.sleep(0.3)
        assert r.smsc.acks == []  # not "up to the later frame": the earlier one is not committed
        for callback in parked_frame:
            callback()
        await eventually(lambda: r.smsc.acks == [0])  # 161's answer; 160's stays parked
        await asyncio.sleep(0.3)
        assert r.smsc.acks == [0]


async def test_a_large_backlog_goes_to_the_process_in_bounded_frames(monkeypatch):
    monkeypatch.setattr(remote_link, "FRAME_ITEMS", 7)
    async with running(window=64) as r:
        jobs = [job_for(r.link, n) for n in range(50)]
        r.link.submit_many(jobs[:20], front=True)
        r.link.submit_many(jobs[20:])
        await eventually(count(r.events, "submitted", 50))
        sent = r.smsc.destinations
        assert sorted(sent) == [dest(n) for n in range(50)]  # every job once
        assert sorted(sent[:20]) == [dest(n) for n in range(20)]  # the retries first
        assert sent[20:] == [dest(n) for n in range(20, 50)]  # then the submits, in order


async def test_a_hung_process_is_killed_and_replaced():
    async with running() as r:
        os.kill(child_pid(r.process), signal.SIGSTOP)  # stopped: it holds its socket, says nothing
        await eventually(lambda: r.process.restarts == 1, 15.0)
        await eventually(lambda: r.link.up, 15.0)
        r.link.submit_many([job_for(r.link, 7)])
        await eventually(count(r.events, "submitted", 1))


async def test_carrier_counters_carry_on_across_a_restart():
    async with running() as r:
        for mid in ("160", "161"):
            r.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                           short_message=format_receipt(mid, "DELIVRD", WHEN, WHEN).encode())
        await eventually(lambda: r.link.stats.receipts == 2)
        os.kill(child_pid(r.process), signal.SIGKILL)
        await eventually(lambda: r.process.restarts == 1)
        await eventually(lambda: r.link.up, 15.0)
        r.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                       short_message=format_receipt("162", "DELIVRD", WHEN, WHEN).encode())
        await eventually(lambda: r.link.stats.receipts == 3)  # 2 before, 1 since: not back to 1


async def test_a_throttled_part_of_a_message_that_ended_is_dropped_not_held():
    async with running() as r:
        jobs = await held_submits(r, 3)
        for job in jobs:
            job.inflight.final = True
            r.process.ended(job.inflight.record.id)  # they ended while in the window
        for n in range(3):
            r.smsc.script[dest(n)] = [VENDOR_THROTTLE]
        r.smsc.hold = False
        r.smsc.release()  # ... and the carrier throttles them
        await eventually(lambda: r.process.jobs == {})
        assert r.events.log == [] and len(r.smsc.submits) == 3


async def test_jobs_routed_to_a_carrier_as_it_went_down_come_back_for_another():
    a, b = await Smsc().start(), await Smsc().start()
    events = RecordingEvents()
    process = ProcessLinks([carrier_config(a.port, name="a"), carrier_config(b.port, name="b")], events,
                           ReferenceRotor(), lambda callback: callback())
    process.start()
    loop = asyncio.get_running_loop()
    numbers = iter(range(1, 10**6))
    routing = True

    def route_one() -> None:  # one message a loop turn to the first carrier up, as the dispatcher picks
        if routing:
            link = la if la.up else lb
            link.submit_many([job_for(link, next(numbers))])
            loop.call_soon(route_one)

    try:
        await eventually(lambda: all(link.up for link in process.links), 10.0)
        la, lb = process.links
        loop.call_soon(route_one)
        await asyncio.sleep(0.2)
        await a.close()  # carrier a's SMSC goes away: its binds drop, reconnects are refused
        await eventually(lambda: not la.up)
        await asyncio.sleep(0.05)
        routing = False
        await asyncio.sleep(1.0)
        # nothing waits on the down carrier: what was routed to it came back (stranded) to be routed again
        assert [job for i, job in process.jobs.values() if i == 0] == []
        assert events.of("stranded")
    finally:
        routing = False
        await process.stop()
        await b.close()


async def test_a_reply_is_answered_once_the_engine_recorded_it_and_committed():
    smsc = await Smsc().start()
    events = LookingUp()
    commits: list = []
    process = ProcessLinks([carrier_config(smsc.port)], events, ReferenceRotor(), commits.append)  # type: ignore[arg-type]
    process.start()
    try:
        await eventually(lambda: process.links[0].up, 10.0)
        await asyncio.sleep(0.1)
        for callback in list(commits):  # whatever came before (gauges) is committed
            callback()
        commits.clear()
        smsc.deliver(source_addr="8613900000002", short_message=b"ok")
        await eventually(count(events, "reply", 1))
        await asyncio.sleep(0.3)
        for callback in list(commits):  # later frames commit; the reply's frame is not even waiting yet
            callback()
        commits.clear()
        assert smsc.acks == []
        events.recorded.set_result(None)  # its sender found, the reply handed to the store
        await eventually(lambda: bool(commits))
        await asyncio.sleep(0.1)
        assert smsc.acks == []  # recorded, not yet committed
        for callback in list(commits):
            callback()
        await eventually(lambda: smsc.acks == [0])
    finally:
        await process.stop()
        await smsc.close()


async def test_refusals_come_back_with_their_status_and_whether_they_are_transient():
    async with running() as r:
        r.smsc.script[dest(1)] = [VENDOR_TRANSIENT]
        r.smsc.script[dest(2)] = [int(CommandStatus.ESME_RINVDSTADR)]
        jobs = [job_for(r.link, 1), job_for(r.link, 2)]
        r.link.submit_many(jobs)
        await eventually(count(r.events, "refused", 2))
        assert sorted((e[1].inflight.record.phone, e[2], e[3]) for e in r.events.of("refused")) == [
            ("+8613800000001", VENDOR_TRANSIENT, True), ("+8613800000002", int(CommandStatus.ESME_RINVDSTADR), False)]
        assert r.process.jobs == {}
