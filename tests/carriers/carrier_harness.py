"""Test harness for the simulator tests: profiles with tiny time scales, a started carrier, a bound client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from carriers.config import CarrierProfile, Delays
from carriers.esme import EsmeClient
from carriers.plugins import load_behaviour
from carriers.server import CarrierServer

SYSTEM_ID = "smsengine"
PASSWORD = "secret"


def make_profile(**overrides: Any) -> CarrierProfile:
    """A fast, fault-free carrier on ephemeral ports; receipts after ~1 ms."""
    base = CarrierProfile(
        name="test",
        port=0,
        admin_port=None,
        time_scale=0.001,
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



