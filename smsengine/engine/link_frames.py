"""What the engine and its carrier process say to each other over their socket: `Orders` one way,
`Outcomes` the other, each a msgpack frame behind a 4-byte length, one frame per loop turn.

Items are tuples, not structs: a frame carries thousands of them, and msgspec decodes a typed
tuple without building an object per field. Job ids are the engine's (one counter for every
carrier); carriers are named by their index in the carrier list both sides were given."""

from __future__ import annotations

import struct
from collections.abc import Callable

import msgspec

from smsengine.config import CarrierConfig
from smsengine.engine.stats import CarrierState

# a frame longer than this is a bug or a corrupted stream: the reader gives up on the connection
MAX_FRAME = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class Orders(msgspec.Struct, array_like=True, gc=False):
    """Engine → carrier process."""

    # (carrier, job id, message id, destination "+digits", submit_sm body after the destination,
    # marketing)
    submits: list[tuple[int, int, int, str, bytes, bool]] = []
    retries: list[tuple[int, int, int, str, bytes, bool]] = []  # the same, queued at the front
    # messages that ended (failed, expired) with parts perhaps still queued: those are not sent
    ended: list[int] = []
    # every Outcomes frame up to this number is durable (its deliver_sm may be answered), except
    # receipts with these keys, parked in the engine until their submit_sm_resp is handled
    durable: int = 0
    parked: list[tuple[int, str]] = []  # (carrier, key)
    queries: list[tuple[int, int, str]] = []  # (request id, carrier, message id): query_sm
    returns: list[int] = []  # carriers that went down: their queued jobs come back stranded
    command: str = ""  # "", "drain", "stop", "abort"


class Outcomes(msgspec.Struct, array_like=True, gc=False):
    """Carrier process → engine. Every list keeps the order the events happened in; a frame's
    submitted are acted on before its receipts (a receipt never precedes its own submit)."""

    frame: int = 0
    submitted: list[tuple[int, str, str]] = []  # (job id, message id, correlation key)
    refused: list[tuple[int, int, bool]] = []  # (job id, command_status, transient)
    unanswered: list[tuple[int, str]] = []  # (job id, reason)
    stranded: list[int] = []  # job ids whose bind dropped before an answer
    throttled: list[tuple[int, float]] = []  # (job id, seconds throttled): past the budget
    dropped: list[int] = []  # job ids taken off a queue unsent: their message had ended
    receipts: list[tuple[int, str, str, str, str]] = []  # (carrier, key, destination tail, stat, err)
    replies: list[tuple[int, str, str, bool]] = []  # (carrier, phone, text, complete)
    answers: list[tuple[int, str, str]] = []  # (request id, stat, err); stat "" when unknown
    states: list[CarrierState] = []  # carriers whose gauges changed (all of them now and then)
    drained: bool = False  # answer to "drain": queues empty and windows answered (or gave up)


class Start(msgspec.Struct, array_like=True):
    """The first frame the engine sends: what the carrier process runs."""

    carriers: list[CarrierConfig]
    log_level: str = "info"


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


class FrameReader:
    """Cuts a byte stream into frames and hands each to `deliver`."""

    __slots__ = ("deliver", "_buffer")

    def __init__(self, deliver: Callable[[memoryview | bytes], None]) -> None:
        self.deliver = deliver
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        end = len(buffer)
        while end - start >= 4:
            (size,) = _LENGTH.unpack_from(buffer, start)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes")
            if end - start - 4 < size:
                break
            self.deliver(bytes(buffer[start + 4:start + 4 + size]))
            start += 4 + size
        if start:
            del buffer[:start]
