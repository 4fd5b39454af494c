"""Command line: `python -m smsengine serve|send ...`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import time

from smsengine.config import ConfigError, load
from smsengine.domain.auth import request_sig


def _tune_runtime() -> None:
    """Measured in benchmarks/e2e_bench.py: the store's writer thread waits for the GIL at every
    hand-off, so a short switch interval keeps group commits short; and the hot path allocates
    many short-lived objects, so a larger gen-0 threshold (and frozen start-up objects) cuts the
    collector's share of CPU. Cycles are still collected."""
    sys.setswitchinterval(0.0002)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def _serve(args: argparse.Namespace) -> int:
    from smsengine import logs
    from smsengine.server import serve

    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    _tune_runtime()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    profile_to = os.environ.get("SMSENGINE_PROFILE")
    if profile_to:  # a cProfile of the whole run, written at shutdown (for benchmarks)
        import cProfile

        cProfile.runctx("asyncio.run(serve(config))", globals(), {"serve": serve, "config": config},
                        filename=profile_to)
        return 0
    try:
        asyncio.run(serve(config))
    except (OSError, RuntimeError) as exc:  # a port in use, simulators that would not start
        print(f"smsengine: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _send(args: argparse.Namespace) -> int:
    import aiohttp

    numbers = [n.strip() for n in args.to.split(",") if n.strip()]
    now = int(time.time())
    rnd = random.randint(1, 2**31)
    body: dict = {
        "app_id": args.app_id,
        "random": rnd,
        "time": now,
        "sig": request_sig(args.key, rnd, now, numbers),
        "phone_numbers": numbers,
        "type": args.type,
    }
    if args.content is not None:
        body["content"] = args.content
    else:
        body["template_id"] = args.template
        body["params"] = args.params.split(",") if args.params else []
    if args.sign:
        body["sign"] = args.sign
    headers = {"X-App-Id": args.app_id, "X-App-Key": args.key}
    async with aiohttp.ClientSession(args.url) as http:
        async with http.post("/v1/sms/send", json=body) as resp:
            answer = await resp.json()
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        ids = [r["message_id"] for r in answer.get("results", []) if r.get("message_id")]
        if not args.wait or not ids:
            return 0 if resp.status == 200 else 1
        deadline = time.monotonic() + args.wait
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            for mid in sorted(pending):
                async with http.get(f"/v1/messages/{mid}", headers=headers) as r:
                    view = await r.json()
                if view.get("status") in ("delivered", "failed", "expired"):
                    pending.discard(mid)
                    print(json.dumps(view, ensure_ascii=False, indent=2))
        return 0 if not pending else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smsengine")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the engine (HTTP API, store, carrier binds)")
    p.add_argument("--config", default=None, help="engine TOML (default: config/engine.toml)")
    p = sub.add_parser("send", help="send a message through a running engine and wait for its receipt")
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--app-id", default="demo")
    p.add_argument("--key", default="demo-secret")
    p.add_argument("--to", required=True, help="comma-separated numbers")
    p.add_argument("--template", type=int, default=1)
    p.add_argument("--params", default="1234,5", help="comma-separated template parameters")
    p.add_argument("--content", default=None, help="raw content instead of a template")
    p.add_argument("--sign", default="smsengine")
    p.add_argument("--type", default="regular", choices=["regular", "marketing"])
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the final state (0: don't)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return asyncio.run(_send(args))
