"""`python -m carriers` as a separate process: ready line with ephemeral ports, serves, stops on SIGTERM
(flushing its --submit-log)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from carriers.esme import EsmeClient
from carriers.submit_log import read_submit_log
from smsengine.smpp.pdu import SubmitSm

ROOT = Path(__file__).resolve().parents[2]


async def test_standalone_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "carriers.toml"
    config.write_text('[[carriers]]\nname = "solo"\nport = 0\nadmin_port = 0\ntime_scale = 0.001\n')
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carriers", "--config", str(config), "--ready-line", "--log-level", "warning",
        "--submit-log", str(tmp_path / "{carrier}.jsonl"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )
    try:
        ready = json.loads(await asyncio.wait_for(process.stdout.readline(), 20))  # type: ignore[union-attr]
        client = await EsmeClient.connect("127.0.0.1", ready["ports"]["solo"])
        await client.bind("transceiver", "smsengine", "secret")
        resp = await client.request(SubmitSm(source_addr="x", destination_addr="8613800138000", registered_delivery=1))
        receipt = await client.next_delivery()
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    assert ready["admin_ports"]["solo"] > 0
    assert resp.command_status == 0
    assert resp.message_id.encode() in receipt.short_message
    assert code == 0
    (line,) = read_submit_log(tmp_path / "solo.jsonl")
    assert (line.carrier, line.message_id, line.destination) == ("solo", resp.message_id, "8613800138000")
