"""Message ids: unique across simulator starts (a per-start nonce), while fates still replay from the seed."""

from __future__ import annotations

from carriers.config import FateShares, MessageIds
from carriers.message_ids import MessageIdMaker
from smsengine.smpp.pdu import SubmitSm
from smsengine.smpp.receipt import parse_receipt
from tests.carriers.carrier_harness import bound, make_profile, running


def test_a_fixed_nonce_repeats_the_ids_and_another_nonce_does_not() -> None:
    def ids(nonce: int) -> list[int]:
        maker = MessageIdMaker(3, nonce=nonce)
        return [maker.next_number() for _ in range(1000)]

    assert ids(5) == ids(5)
    assert not set(ids(5)) & set(ids(6))
    # consecutive nonces are not neighbouring ranges either: the nonce sits above the counter
    assert min(ids(6)) - max(ids(5)) > 2**31


def test_forms_keep_a_fixed_hex_width() -> None:
    for nonce in (0, 1, 0xEFFFFFFF, 0xFFFFFFFF, 12345678901):
        maker = MessageIdMaker(1, "hex", "decimal", nonce=nonce)
        number = maker.next_number()
        assert len(maker.resp(number)) == 16
        assert int(maker.receipt(number)) == number and 19 <= len(maker.receipt(number)) <= 20
    assert len({MessageIdMaker(1).nonce for _ in range(20)}) > 1  # drawn per start unless fixed


async def test_two_starts_with_one_seed_issue_disjoint_ids_and_the_same_fates() -> None:
    shares = FateShares(empty=0.3, out_of_service=0.2, blocked=0.1)
    numbers = [f"86137{i:08d}" for i in range(60)]

    async def one_start(**ids: object) -> dict[str, tuple[str, str, str]]:
        profile = make_profile(seed=21, fates=shares, message_ids=MessageIds(**ids))  # type: ignore[arg-type]
        async with running(profile) as server, bound(server) as client:
            futures = [
                client.send(SubmitSm(source_addr="x", destination_addr=n, registered_delivery=1)) for n in numbers
            ]
            by_id = {(await f).message_id: n for f, n in zip(futures, numbers)}
            result = {}
            for _ in numbers:
                receipt = parse_receipt((await client.next_delivery()).short_message.decode())
                result[by_id[receipt.id]] = (receipt.id, receipt.stat, receipt.err)
            return result

    first, second = await one_start(), await one_start()
    assert len(first) == len(second) == len(numbers)
    assert not {i for i, _, _ in first.values()} & {i for i, _, _ in second.values()}
    assert {n: v[1:] for n, v in first.items()} == {n: v[1:] for n, v in second.items()}
    assert {stat for _, stat, _ in first.values()} >= {"DELIVRD", "UNDELIV"}
    fixed, again = await one_start(nonce=42), await one_start(nonce=42)
    assert fixed == again
