"""The admin HTTP of a simulated carrier: number status, counters, Prometheus metrics."""

from __future__ import annotations

import aiohttp

from carriers.config import FateRule
from carriers.group import SimulatorGroup
from smsengine.smpp.pdu import SubmitSm
from tests.carriers.carrier_harness import bound, make_profile


async def test_status_counters_and_metrics() -> None:
    profile = make_profile(admin_port=0, rules=[FateRule(fate="empty", first="8613900000000", last="8613900000999")])
    async with SimulatorGroup([profile]) as group:
        async with bound(group["test"]) as client:
            await client.request(SubmitSm(source_addr="x", destination_addr="8613800138000", registered_delivery=1))
            await client.next_delivery()
        base = f"http://127.0.0.1:{group.admin_ports['test']}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/status/8613900000123") as resp:
                empty = await resp.json()
            async with http.get(f"{base}/status/8613800138000") as resp:
                ok = await resp.json()
            async with http.get(f"{base}/counters") as resp:
                counters = await resp.json()
            async with http.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
    assert empty == {"number": "8613900000123", "status": "empty", "fate": "empty"}
    assert ok["status"] == "ok"
    assert counters["carrier"] == "test"
    assert (counters["binds"], counters["submits"], counters["accepted"]) == (1, 1, 1)
    assert counters["receipts"] == {"DELIVRD": 1}
    assert 'carrier_submits_total{carrier="test"} 1.0' in metrics
    assert 'carrier_receipts_total{carrier="test",stat="DELIVRD"} 1.0' in metrics


async def test_two_carriers_in_one_process_keep_separate_metrics() -> None:
    profiles = [make_profile(name="a", admin_port=0), make_profile(name="b", admin_port=0)]
    async with SimulatorGroup(profiles, ephemeral=True) as group:
        assert set(group.ports) == {"a", "b"} and len(set(group.ports.values())) == 2
        async with bound(group["a"]) as client:
            await client.request(SubmitSm(source_addr="x", destination_addr="8613800138000"))
        async with aiohttp.ClientSession() as http:
            texts = {}
            for name, port in group.admin_ports.items():
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    texts[name] = await resp.text()
    assert 'carrier_submits_total{carrier="a"} 1.0' in texts["a"]
    assert 'carrier_submits_total{carrier="b"} 0.0' in texts["b"]
    assert 'carrier="b"' not in texts["a"]


async def test_a_carrier_without_admin_port_has_no_admin_server() -> None:
    async with SimulatorGroup([make_profile(name="quiet"), make_profile(name="loud", admin_port=0)]) as group:
        ports = group.admin_ports
    assert ports["quiet"] is None and ports["loud"] > 0
