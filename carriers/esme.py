"""A small asyncio ESME (SMPP client) on the sans-I/O session: drives the simulators in tests and tools.

Requests are pipelined: `send(pdu)` returns a future for its response without waiting, so a caller
can keep a window of submits in flight. deliver_sm (receipts and MO) and enquire_link from the
SMSC are answered automatically; deliver_sm land on the `delivered` queue.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from smsengine.smpp import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Pdu,
    PeerError,
    Response,
    Role,
    Session,
    Unbind,
    UnbindResp,
)

BindMode = Literal["transmitter", "receiver", "transceiver"]
_BINDS = {"transmitter": BindTransmitter, "receiver": BindReceiver, "transceiver": BindTransceiver}


class SmppError(Exception):
    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(CommandStatus(status).name if status in CommandStatus._value2member_map_ else hex(status))


class EsmeClient(asyncio.Protocol):
    """One connection to an SMSC. Use `await EsmeClient.connect(host, port)`, then `bind(...)`."""

    def __init__(self, deliver_status: int = 0) -> None:
        self.session = Session(Role.ESME)
        self.transport: asyncio.Transport | None = None
        self.delivered: asyncio.Queue[DeliverSm] = asyncio.Queue()
        self.deliver_status = deliver_status  # what to answer deliver_sm with (non-zero: refuse them)
        self.closed = asyncio.Event()
        self.errors: list[PeerError] = []
        self.enquire_links_answered = 0
        self._out: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    @classmethod
    async def connect(cls, host: str, port: int, **kwargs: int) -> EsmeClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(**kwargs), host, port)
        return client

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for _, entry in self.session.close():
            if not entry.context.done():
                entry.context.set_exception(ConnectionError("connection lost"))
        self.closed.set()

    def data_received(self, data: bytes) -> None:
        for event in self.session.receive_data(data):
            kind = type(event)
            if kind is Response:
                future = event.context  # type: ignore[union-attr]
                if future is not None and not future.done():
                    future.set_result(event.pdu)  # type: ignore[union-attr]
            elif kind is DeliverSm:
                self._write(self.session.send(DeliverSmResp(event.sequence_number, self.deliver_status)))  # type: ignore[union-attr]
                if not self.deliver_status:
                    self.delivered.put_nowait(event)  # type: ignore[arg-type]
            elif kind is EnquireLink:
                self.enquire_links_answered += 1
                self._write(self.session.send(EnquireLinkResp(event.sequence_number)))  # type: ignore[union-attr]
            elif kind is PeerError:
                self.errors.append(event)  # type: ignore[arg-type]
                if event.reply:  # type: ignore[union-attr]
                    self._write(event.reply)  # type: ignore[union-attr]
            elif kind is Unbind:
                self._write(self.session.send(UnbindResp(event.sequence_number)))  # type: ignore[union-attr]

    def _write(self, data: bytes) -> None:
        if self.transport is None:
            return
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        if self._out and self.transport is not None:
            self.transport.write(b"".join(self._out))
        self._out = []

    # ---- requests ----

    def send(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        """Write a request now; the future resolves to its response (any command_status)."""
        future: asyncio.Future[Pdu] = self._loop.create_future()
        if self.transport is None:
            future.set_exception(ConnectionError("not connected"))
            return future
        self._write(self.session.send(pdu, future, self._loop.time()))
        return future

    async def request(self, pdu: Pdu, timeout: float = 5.0) -> Pdu:
        return await asyncio.wait_for(self.send(pdu), timeout)

    async def bind(self, mode: BindMode, system_id: str, password: str, *, check: bool = True) -> Pdu:
        resp = await self.request(_BINDS[mode](system_id=system_id, password=password))
        if check and resp.command_status:
            raise SmppError(resp.command_status)
        return resp

    async def unbind(self) -> None:
        if self.transport is not None and self.session.is_bound:
            await self.request(Unbind())
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self._flush()
            self.transport.close()

    async def next_delivery(self, timeout: float = 5.0) -> DeliverSm:
        return await asyncio.wait_for(self.delivered.get(), timeout)
