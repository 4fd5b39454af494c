"""Several simulated carriers in one process: what `python -m carriers` and the engine's embedded mode run."""

from __future__ import annotations

from pathlib import Path

from carriers.config import DEFAULT_CARRIERS_CONFIG, CarrierProfile, load_carriers_config, with_ports
from carriers.server import CarrierServer


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

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_CARRIERS_CONFIG, *, ephemeral: bool = False) -> SimulatorGroup:
        return cls(load_carriers_config(path), ephemeral=ephemeral)

    @property
    def ports(self) -> dict[str, int]:
        return {name: server.port for name, server in self.servers.items()}

    @property
    def admin_ports(self) -> dict[str, int | None]:
        return {name: server.admin_port for name, server in self.servers.items()}

    def __getitem__(self, name: str) -> CarrierServer:
        return self.servers[name]

    async def start(self) -> SimulatorGroup:
        try:
            for profile in self.profiles:
                self.servers[profile.name] = await CarrierServer(profile).start()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        for name in reversed(list(self.servers)):
            await self.servers.pop(name).close()

    async def __aenter__(self) -> SimulatorGroup:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
