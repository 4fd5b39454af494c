"""Test harness for the simulator tests: profiles with tiny time scales, a started carrier, a bound client."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from carriers.config import CarrierProfile, Delays
from carriers.esme import EsmeClient
from carriers.plugins import load_behaviour
from carriers.server import CarrierServer
from smsengine.smpp.codec import decode_pdu, encode_pdu
from smsengine.smpp.pdu import Pdu

SYSTEM_ID = "smsengine"
PASSWORD = "secret"


def make_profile(**overrides: Any) -> CarrierProfile:
    """A fast, fault-free carrier on ephemeral ports; receipts after ~1 ms; refused binds answered at once."""
    base = CarrierProfile(
        name="test",
        port=0,
        admin_port=None,
        time_scale=0.001,
        bind_failure_delay_s=0.0,
        delays=Delays(regular=(1.0, 1.0), marketing=(60.0, 60.0), powered_off=(10.0, 10.0), poor_reception=(30.0, 30.0)),
    )
    return msgspec.structs.replace(base, **overrides)


@contextlib.asynccontextmanager
async def running(profile: CarrierProfile) -> AsyncIterator[CarrierServer]:
    """One carrier's SMPP server (no admin HTTP: `SimulatorGroup` wires that)."""
    server = await CarrierServer(profile, load_behaviour(profile)).start()
    try:
        yield server
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def bound(server: CarrierServer, mode: str = "transceiver") -> AsyncIterator[EsmeClient]:
    client = await EsmeClient.connect("127.0.0.1", server.port)
    try:
        await client.bind(mode, SYSTEM_ID, PASSWORD)  # type: ignore[arg-type]
        yield client
    finally:
        client.close()


class RawPeer:
    """A socket that writes PDUs (or raw bytes) exactly as given, several in one write, with no session
    of its own to refuse them; reads answers one PDU at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, source: str = "127.0.0.1") -> RawPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        return cls(reader, writer)

    def write(self, *items: Pdu | bytes) -> None:
        self.writer.write(b"".join(item if isinstance(item, bytes) else encode_pdu(item) for item in items))

    async def read_pdu(self, timeout: float = 5.0) -> Pdu | None:
        """The next PDU from the simulator; None when it closed the connection."""
        try:
            header = await asyncio.wait_for(self.reader.readexactly(16), timeout)
            body = await asyncio.wait_for(self.reader.readexactly(struct.unpack(">I", header[:4])[0] - 16), timeout)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        return decode_pdu(header + body)

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the simulator closed the connection (EOF or reset); fails on data or timeout."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), timeout)
        except ConnectionResetError:
            return True
        assert data == b"", f"expected the connection to close, got {data!r}"
        return True

    def close(self) -> None:
        self.writer.close()
