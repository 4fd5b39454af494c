"""Several simulated carriers in one process, each with its admin HTTP: the composition root of the simulators.

What `python -m carriers` and the engine's tests run. It picks each profile's behaviour, starts
the SMPP server, and wires the admin app (which reads the server through `admin.AdminView`).
"""

from __future__ import annotations

from pathlib import Path

import structlog
from aiohttp import web

from carriers.admin import start_admin
from carriers.config import DEFAULT_CARRIERS_CONFIG, CarrierProfile, load_carriers_config, with_ports
from carriers.plugins import load_behaviour
from carriers.server import CarrierServer

_log = structlog.get_logger("carriers")


class SimulatorGroup:
    """Start every profile (in order), stop them in reverse. `ephemeral=True` binds every SMPP and
    admin port to 0 (tests, embedding); read the real ones from `ports` / `admin_ports`."""

    def __init__(self, profiles: list[CarrierProfile], *, ephemeral: bool = False) -> None:
        if ephemeral:
            profiles = [
                with_ports(p, 0, None if p.admin_port is None else 0) for p in profiles
            ]
        self.profiles = profiles
        self.servers: dict[str, CarrierServer] = {}
        self._admins: dict[str, tuple[web.AppRunner, int]] = {}

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_CARRIERS_CONFIG, *, ephemeral: bool = False) -> SimulatorGroup:
        return cls(load_carriers_config(path), ephemeral=ephemeral)

    @property
    def ports(self) -> dict[str, int]:
        return {name: server.port for name, server in self.servers.items()}

    @property
    def admin_ports(self) -> dict[str, int | None]:
        """The bound admin HTTP port of every carrier; None for one without an admin server."""
        return {name: self._admins[name][1] if name in self._admins else None for name in self.servers}

    def __getitem__(self, name: str) -> CarrierServer:
        return self.servers[name]

    async def start(self) -> SimulatorGroup:
        try:
            for profile in self.profiles:
                server = await CarrierServer(profile, load_behaviour(profile)).start()
                self.servers[profile.name] = server
                if profile.admin_port is not None:
                    self._admins[profile.name] = admin = await start_admin(server, profile.host, profile.admin_port)
                    _log.info("carrier.admin_listening", carrier=profile.name, host=profile.host, port=admin[1])
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        for name in reversed(list(self.servers)):
            admin = self._admins.pop(name, None)
            if admin is not None:
                await admin[0].cleanup()
            await self.servers.pop(name).close()

    async def __aenter__(self) -> SimulatorGroup:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
