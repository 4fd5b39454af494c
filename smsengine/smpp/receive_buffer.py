"""The bytes of an SMPP stream that arrived ahead of the rest of their PDU: the session's receive buffer."""

from __future__ import annotations


class ReceiveBuffer:
    """An incomplete PDU's bytes, held until as many bytes as it needs have arrived.

    The session frames whole PDUs straight out of each read; only an incomplete tail comes here.
    The tail is kept as a list of chunks and joined once, when `needed` bytes are there: a 64 KiB
    message_payload trickling in over many reads is copied once, not once per read. `pending` is
    a plain attribute (not `__len__`) because the session tests it on every read."""

    __slots__ = ("pending", "_chunks", "_needed")

    def __init__(self) -> None:
        self.pending = 0  # bytes held
        self._chunks: list[bytes] = []
        self._needed = 0

    def feed(self, data: bytes) -> bytes | None:
        """The held bytes followed by `data` once `needed` bytes are there (the buffer is then empty);
        None while they are not (`data` is held too)."""
        self._chunks.append(data)
        self.pending += len(data)
        if self.pending < self._needed:
            return None
        joined = b"".join(self._chunks)
        self._chunks = []
        self.pending = 0
        return joined

    def keep(self, data: bytes, start: int, needed: int) -> None:
        """Hold data[start:], the start of a PDU: worth framing again once `needed` bytes are held."""
        self._chunks = [data[start:]]
        self.pending = len(data) - start
        self._needed = needed

    def clear(self) -> None:
        self._chunks = []
        self.pending = 0
        self._needed = 0
