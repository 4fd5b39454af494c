"""Micro benchmarks of the SMPP layer: PDU decode / encode, receipts, session framing; aiosmpplib for comparison."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import progress, write  # noqa: E402

from smsengine.smpp.codec import decode_pdu, encode_pdu, submit_sm_body, submit_sm_head, submit_sm_tail  # noqa: E402
from smsengine.smpp.constants import CommandId, EsmClass, MessageState, Tag  # noqa: E402
from smsengine.smpp.pdu import BindTransceiver, DeliverSm, SubmitSm, SubmitSmResp, response_to  # noqa: E402
from smsengine.smpp.receipt import parse_receipt  # noqa: E402
from smsengine.smpp.session import Role, Session  # noqa: E402

TARGETS = {"decode_submit_sm": 400_000, "encode_submit_sm": 500_000, "parse_receipt": 150_000}
ITEMS = 10_000
CHUNK = 64 * 1024
VARIANTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "receipt_variants.jsonl"


def submit_sms(n: int) -> list[SubmitSm]:
    """Typical engine traffic: a +86 verification code in UCS-2 from an alphanumeric sender."""
    return [
        SubmitSm(
            sequence_number=i + 1,
            source_addr_ton=5,
            source_addr="Acme",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=f"86138{i:08d}",
            registered_delivery=1,
            data_coding=8,
            short_message=f"【Acme】您的验证码是{i % 1000000:06d}，5分钟内有效。".encode("utf-16-be"),
        )
        for i in range(n)
    ]


def receipts(n: int) -> list[DeliverSm]:
    return [
        DeliverSm(
            sequence_number=i + 1,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=f"86138{i:08d}",
            destination_addr="Acme",
            esm_class=EsmClass.DELIVERY_RECEIPT,
            short_message=(
                f"id:{i:010d} sub:001 dlvrd:001 submit date:2611220101 done date:2611220102"
                f" stat:DELIVRD err:000 text:"
            ).encode("ascii"),
            tlvs={Tag.RECEIPTED_MESSAGE_ID: f"{i:010d}", Tag.MESSAGE_STATE: MessageState.DELIVERED},
        )
        for i in range(n)
    ]


def best_rate(run, items: int, rounds: int = 5) -> tuple[float, list[float]]:
    """Items per second of the fastest of `rounds` runs (the least disturbed by other processes)."""
    run()  # warm up
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        rates.append(items / (time.perf_counter() - start))
    return max(rates), rates


def case(results: dict, name: str, run, items: int, note: str = "") -> None:
    rate, rates = best_rate(run, items)
    results[name] = {"ops_per_s": round(rate), "runs": [round(r) for r in rates]}
    if name in TARGETS:
        results[name]["target"] = TARGETS[name]
    if note:
        results[name]["note"] = note
    target = f" (target {TARGETS[name]:,})" if name in TARGETS else ""
    progress(f"{name:34s} {rate:>12,.0f} ops/s{target}")


def bench_codec(results: dict) -> None:
    pdus = submit_sms(ITEMS)
    wires = [encode_pdu(p) for p in pdus]
    assert [decode_pdu(w) for w in wires] == pdus

    def decode_submit():
        for wire in wires:
            decode_pdu(wire)

    def encode_submit():
        for pdu in pdus:
            encode_pdu(pdu)

    case(results, "decode_submit_sm", decode_submit, ITEMS)
    case(results, "encode_submit_sm", encode_submit, ITEMS)

    resps = [SubmitSmResp(p.sequence_number, 0, {}, f"{i:016x}") for i, p in enumerate(pdus)]

    def encode_resp():
        for resp in resps:
            encode_pdu(resp)

    case(results, "encode_submit_sm_resp", encode_resp, ITEMS)

    head = submit_sm_head("", 5, 0, "Acme", 1, 1)
    tails = [submit_sm_tail(0, 1, 8, p.short_message, {}) for p in pdus]
    numbers = [p.destination_addr for p in pdus]
    assert [submit_sm_body(head, n, t) for n, t in zip(numbers, tails)] == [w[16:] for w in wires]

    def build_bodies():
        for number, tail in zip(numbers, tails):
            submit_sm_body(head, number, tail)

    case(results, "submit_sm_body", build_bodies, ITEMS, note="the engine's per-message submit_sm: head, number, tail")

    receipt_wires = [encode_pdu(r) for r in receipts(ITEMS)]
    texts = [decode_pdu(w).short_message.decode("ascii") for w in receipt_wires]

    def receipt_path():
        for wire in receipt_wires:
            parse_receipt(decode_pdu(wire).short_message.decode("ascii"))

    def parse_only():
        for text in texts:
            parse_receipt(text)

    variants = [json.loads(line)["text"] for line in VARIANTS.read_text().splitlines() if line.strip()]
    mixed = (variants * (ITEMS // len(variants) + 1))[:ITEMS]

    def parse_variants():
        for text in mixed:
            parse_receipt(text)

    case(results, "decode_deliver_sm_and_parse_receipt", receipt_path, ITEMS)
    case(results, "parse_receipt", parse_only, ITEMS, note="the standard layout (the one-regex path)")
    case(results, "parse_receipt_carrier_variants", parse_variants, ITEMS, note="tests/data/receipt_variants.jsonl")


def bench_framing(results: dict) -> None:
    """An SMSC session swallowing a stream of submit_sm cut into 64 KiB reads (PDUs straddle the cuts)."""
    stream = b"".join(encode_pdu(p) for p in submit_sms(ITEMS * 3))
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]

    def run():
        esme, smsc = Session(Role.ESME), Session(Role.SMSC)
        [bind] = smsc.receive_data(esme.send(BindTransceiver(system_id="bench")))
        esme.receive_data(smsc.send(response_to(bind)))
        count = 0
        for chunk in chunks:
            count += len(smsc.receive_data(chunk))
        assert count == ITEMS * 3

    case(results, "session_framing_submit_sm", run, ITEMS * 3, note=f"{CHUNK}-byte chunks, {len(stream)} bytes")


def bound_sessions() -> tuple[Session, Session]:
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    [bind] = smsc.receive_data(esme.send(BindTransceiver(system_id="bench")))
    esme.receive_data(smsc.send(response_to(bind)))
    return esme, smsc


def bench_session(results: dict) -> None:
    """The per-message session work on each side: what the engine's binds and the simulators do per PDU."""
    pdus = submit_sms(ITEMS)
    bodies = [encode_pdu(p)[16:] for p in pdus]
    submit_sm = int(CommandId.SUBMIT_SM)
    esme, smsc = bound_sessions()
    submits = [smsc.receive_data(esme.send_encoded(submit_sm, body, i))[0] for i, body in enumerate(bodies)]
    resp_stream = b"".join(smsc.send(response_to(p, message_id=f"{i:016x}")) for i, p in enumerate(submits))
    # the engine reads answers as they come: a few PDUs per read
    resp_chunks = [resp_stream[i : i + 1024] for i in range(0, len(resp_stream), 1024)]
    submit_stream = b"".join(encode_pdu(p) for p in pdus)
    submit_chunks = [submit_stream[i : i + 4096] for i in range(0, len(submit_stream), 4096)]
    receipt_wires = [encode_pdu(r) for r in receipts(ITEMS)]

    def esme_submit_and_match():
        esme, _ = bound_sessions()
        send = esme.send_encoded
        for i, body in enumerate(bodies):
            send(submit_sm, body, i, 0.0)
        matched = 0
        for chunk in resp_chunks:
            matched += len(esme.receive_data(chunk))
        assert matched == ITEMS and esme.outstanding_count == 0

    def smsc_receive_and_answer():
        _, smsc = bound_sessions()
        send = smsc.send
        for chunk in submit_chunks:
            for pdu in smsc.receive_data(chunk):
                send(SubmitSmResp(pdu.sequence_number, 0, {}, "0123456789abcdef"))
        assert smsc.unanswered_count == 0

    def esme_receipts():
        esme, _ = bound_sessions()
        for wire in receipt_wires:
            for pdu in esme.receive_data(wire):
                esme.acknowledge(pdu)

    case(results, "session_esme_send_encoded_and_match_resp", esme_submit_and_match, ITEMS,
         note="send_encoded, then the submit_sm_resp stream in 1 KiB reads")
    case(results, "session_smsc_receive_and_answer", smsc_receive_and_answer, ITEMS,
         note="submit_sm in 4 KiB reads, each answered with send(SubmitSmResp)")
    case(results, "session_esme_receipt_and_acknowledge", esme_receipts, ITEMS, note="one deliver_sm per read")


def bench_aiosmpplib(results: dict) -> None:
    try:
        import aiosmpplib as aio
    except ImportError:  # an optional comparison, not a product dependency of this benchmark
        progress("aiosmpplib not installed: comparison skipped")
        return
    pdus = submit_sms(ITEMS)
    wires = [encode_pdu(p) for p in pdus]
    texts = [p.short_message.decode("utf-16-be") for p in pdus]
    source = aio.PhoneNumber("Acme", aio.TON.ALPHANUMERIC, aio.NPI.UNKNOWN)
    destinations = [aio.PhoneNumber(p.destination_addr, aio.TON.INTERNATIONAL, aio.NPI.ISDN) for p in pdus]

    def decode():
        for wire in wires:
            aio.SubmitSm.from_pdu(wire, aio.SmppMessage.parse_header(wire), "gsm0338")

    def build_and_encode():
        for i, text in enumerate(texts):
            aio.SubmitSm(
                sequence_num=i + 1, short_message=text, source=source, destination=destinations[i], encoding="ucs2"
            ).pdu()

    def ours_build_and_encode():
        for p in pdus:
            encode_pdu(
                SubmitSm(
                    sequence_number=p.sequence_number,
                    source_addr_ton=5,
                    source_addr="Acme",
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=p.destination_addr,
                    registered_delivery=1,
                    data_coding=8,
                    short_message=p.short_message,
                )
            )

    note = "aiosmpplib takes str and encodes the text itself; ours is handed UCS-2 bytes"
    case(results, "aiosmpplib_decode_submit_sm", decode, ITEMS)
    case(results, "aiosmpplib_build_and_encode_submit_sm", build_and_encode, ITEMS, note=note)
    case(results, "build_and_encode_submit_sm", ours_build_and_encode, ITEMS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/smpp.json")
    args = parser.parse_args()
    results: dict = {}
    bench_codec(results)
    bench_framing(results)
    bench_session(results)
    bench_aiosmpplib(results)
    if args.no_write:
        return
    write(
        "smpp",
        {
            "processes": "single process",
            "items_per_run": ITEMS,
            "method": "best of 5 timed runs after one warm-up, on a shared machine",
            "results": results,
            "targets_met": {name: results[name]["ops_per_s"] >= target for name, target in TARGETS.items()},
        },
    )


if __name__ == "__main__":
    main()
