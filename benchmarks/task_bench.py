"""Bulk task benchmark: a 100,000-row CSV uploaded as one task, imported and dispatched, then
exported.

Three processes on two cores: this client, the engine (`python -m smsengine serve`) and the
simulator (`python -m carriers`, instant delivery). Measures: the upload until the task is
accepted (durable, HTTP 201), the first messages submitted while later rows still wait, every
message final, the engine's peak RSS, and the CSV export of the task's messages (rows/s).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import cpu_seconds, progress, rss_mb, stop, write  # noqa: E402
from e2e_bench import free_port, start_gateway, wait_up, write_configs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"X-App-Id": "bench", "X-App-Key": "bench-secret"}


def make_csv(rows: int) -> bytes:
    """A header, then one row per number with its own parameters (Chinese in every tenth row)."""
    out = io.StringIO()
    out.write("phone,code,minutes\r\n")
    for n in range(rows):
        code = f"{n % 1_000_000:06d}" if n % 10 else f"验证{n % 1000}"
        out.write(f"+86138{n:08d},{code},5\r\n")
    return out.getvalue().encode()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="smsengine-task-"))
    smpp_port, http_port = free_port(), free_port()
    carriers_cfg, engine_cfg = write_configs(tmp, smpp_port, http_port, 2, 512, "")
    sims, engine = start_gateway(carriers_cfg, engine_cfg, {**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{http_port}"
    data = make_csv(args.rows)
    progress(f"CSV: {args.rows:,} rows, {len(data):,} bytes")
    try:
        await wait_up(url)
        rss_idle = rss_mb(engine.pid)
        cpu0 = cpu_seconds(engine.pid)
        async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=600)) as http:
            t0 = time.monotonic()
            async with http.post("/v1/tasks", data=data, params={"template_id": "1", "sign": "smsengine",
                                                                 "name": "bench"},
                                 headers={**AUTH, "Content-Type": "text/csv"}) as resp:
                view = await resp.json()
                assert resp.status == 201, view
            accepted = time.monotonic() - t0
            progress(f"accepted in {accepted:.2f} s: task {view['id']}, {view['recipients']:,} recipients,"
                     f" {view['rows_rejected']} rows rejected")
            peak = rss_mb(engine.pid)
            first_final = None
            while True:
                async with http.get(f"/v1/tasks/{view['id']}", headers=AUTH) as resp:
                    view = await resp.json()
                now = time.monotonic() - t0
                peak = max(peak, rss_mb(engine.pid))
                finals = sum(v for k, v in view["counts"].items() if k != "pending")
                if finals and first_final is None:
                    first_final = now
                progress(f"  t={now:6.2f}s status {view['status']:<9} final {finals:>8,}  pending"
                         f" {view['counts']['pending']:>8,}  engine RSS {peak:,.0f} MiB")
                if view["status"] == "completed":
                    break
                if now > 600:
                    raise RuntimeError("task not completed in 600 s")
                await asyncio.sleep(0.5)
            all_final = time.monotonic() - t0
            engine_cpu = cpu_seconds(engine.pid) - cpu0
            t1 = time.monotonic()
            exported = 0
            async with http.get(f"/v1/tasks/{view['id']}/messages", params={"format": "csv"}, headers=AUTH) as resp:
                async for chunk in resp.content.iter_chunked(1 << 16):
                    exported += chunk.count(b"\n")
            export_s = time.monotonic() - t1
            peak = max(peak, rss_mb(engine.pid))
        rows_out = exported - 1  # the header
        progress(f"all final in {all_final:.2f} s; export {rows_out:,} rows in {export_s:.2f} s"
                 f" ({rows_out / export_s:,.0f} rows/s); engine peak RSS {peak:,.0f} MiB")
    finally:
        stop(engine, sims)
    write("task", {
        "command": "python " + " ".join(sys.argv),
        "processes": "client, engine and simulator as separate processes (2 cores shared)",
        "setup": {"rows": args.rows, "csv_bytes": len(data), "carrier": "simulator, instant delivery",
                  "upload": "text/csv body, one task"},
        "targets": {"seconds_to_accepted": 2.0, "export_rows_per_s": 100_000},
        "seconds_to_accepted": round(accepted, 3),
        "seconds_to_first_final": round(first_final or all_final, 2),
        "seconds_to_all_final": round(all_final, 2),
        "messages_per_s_to_all_final": round(view["recipients"] / all_final),
        "engine_cpu_seconds": round(engine_cpu, 1),
        "engine_rss_mb_idle": round(rss_idle, 1),
        "engine_rss_mb_peak": round(peak, 1),
        "export_rows": rows_out,
        "export_seconds": round(export_s, 3),
        "export_rows_per_s": round(rows_out / export_s),
        "task": {k: view[k] for k in ("recipients", "rows_rejected", "counts", "segments_charged")},
    })


if __name__ == "__main__":
    asyncio.run(main())
