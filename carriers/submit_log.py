"""The submit log: an append-only JSON-lines record of every submit the simulator accepted, written in batches.

What a crash-test campaign reconciles the engine's store against: the carrier's own word on which
segments it accepted, under which message id. One line per accepted submit_sm (and per accepted
destination of a submit_multi, which share their message id):

    {"t": 1767225600.123, "carrier": "ideal", "system_id": "smsengine", "message_id": "1a2b...",
     "destination": "8613800138000", "seq": 1, "total": 2, "ref": 77, "text_sha1": "..."}

`t` is unix time at accept; `seq`/`total`/`ref` come from the UDH or SAR TLVs of a concatenated
part (1/1/null otherwise); `text_sha1` is the sha1 of the content as the carrier received it: the
short_message without its UDH, or the message_payload TLV.

Lines are kept in memory and written with one write() at most every `flush_s` (0.2 s) and on close,
so the hot path only appends a tuple. A simulator killed with SIGKILL loses at most the last
`flush_s` of lines; a clean stop loses none. The file is opened for appending: restarts add to it
(ids are unique across starts, see message_ids.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import msgspec
import structlog

_log = structlog.get_logger("carriers")
FLUSH_S = 0.2


class SubmitLine(msgspec.Struct, gc=False):
    t: float
    carrier: str
    system_id: str
    message_id: str
    destination: str
    seq: int
    total: int
    ref: int | None
    text_sha1: str


# (unix time, system_id, message_id, destination, (ref, total, seq) or None, content): what accept() appends
Accepted = tuple[float, str, str, str, tuple[int, int, int] | None, bytes]


def submit_lines(carrier: str, accepted: list[Accepted]) -> list[SubmitLine]:
    """The log lines for accepted submits, in order."""
    sha1 = hashlib.sha1
    lines = []
    for t, system_id, message_id, destination, part, body in accepted:
        ref, total, seq = part if part is not None else (None, 1, 1)
        lines.append(SubmitLine(t, carrier, system_id, message_id, destination, seq, total, ref, sha1(body).hexdigest()))
    return lines


def read_submit_log(path: str | Path) -> list[SubmitLine]:
    """Every line of a submit log (for reconciling tools and tests)."""
    return msgspec.json.Decoder(SubmitLine).decode_lines(Path(path).read_bytes())


class SubmitLog:
    """The file and the batch waiting for it. `add` on the hot path; a loop timer flushes."""

    __slots__ = ("carrier", "path", "flush_s", "lines_written", "batches_written", "_fd", "_pending", "_loop", "_encoder")

    def __init__(self, carrier: str, path: str | Path, loop: asyncio.AbstractEventLoop, flush_s: float = FLUSH_S) -> None:
        self.carrier = carrier
        self.path = Path(path)
        self.flush_s = flush_s
        self.lines_written = 0
        self.batches_written = 0
        self._loop = loop
        self._pending: list[Accepted] = []
        self._encoder = msgspec.json.Encoder()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def add(self, entry: Accepted) -> None:
        if not self._pending:
            self._loop.call_later(self.flush_s, self.flush)
        self._pending.append(entry)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending or self._fd < 0:
            return
        data = self._encoder.encode_lines(submit_lines(self.carrier, pending))
        view = memoryview(data)
        try:
            while view:  # one write per batch: a regular file takes it whole unless the disk is full
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            _log.warning("carrier.submit_log_failed", carrier=self.carrier, path=str(self.path), lost=len(pending),
                         error=str(exc))
            return
        self.lines_written += len(pending)
        self.batches_written += 1

    def close(self) -> None:
        """Write what is pending and close the file; later flushes (an armed timer) do nothing."""
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
