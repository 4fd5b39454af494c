"""`send`: one signed send request, its answer as JSON, then the receipts awaited."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from typing import Annotated

import aiohttp
import typer

from smsengine.cli.connection import CALL_TIMEOUT, Target, engine_errors, target_of
from smsengine.cli.options import AppId, Key, MessageType, Url
from smsengine.domain.auth import request_sig

FINAL = ("delivered", "failed", "expired")


def send(
    to: Annotated[str, typer.Option("--to", help="comma-separated numbers")],
    template: Annotated[int, typer.Option("--template")] = 1,
    params: Annotated[str, typer.Option("--params", help="comma-separated template parameters")] = "1234,5",
    content: Annotated[str | None, typer.Option("--content", help="raw content instead of a template")] = None,
    sign: Annotated[str, typer.Option("--sign")] = "smsengine",
    kind: Annotated[MessageType, typer.Option("--type")] = MessageType.REGULAR,
    wait: Annotated[float, typer.Option("--wait", help="seconds to wait for the final state (0: don't)")] = 10.0,
    url: Url = None, app_id: AppId = None, key: Key = None,
) -> int:
    """Send a message through a running engine and wait for its receipt."""
    target = target_of(url, app_id, key, None, os.environ)
    numbers = [n.strip() for n in to.split(",") if n.strip()]
    now = int(time.time())
    rnd = random.randint(1, 2**31)
    body: dict = {
        "app_id": target.app_id,
        "random": rnd,
        "time": now,
        "sig": request_sig(target.key, rnd, now, numbers),
        "phone_numbers": numbers,
        "type": str(kind),
    }
    if content is not None:
        body["content"] = content
    else:
        body["template_id"] = template
        body["params"] = params.split(",") if params else []
    if sign:
        body["sign"] = sign
    return asyncio.run(_send(target, body, wait))


async def _send(target: Target, body: dict, wait: float) -> int:
    with engine_errors(target.url, CALL_TIMEOUT):
        return await _post_and_wait(target, body, wait)


async def _post_and_wait(target: Target, body: dict, wait: float) -> int:
    async with aiohttp.ClientSession(target.url, timeout=CALL_TIMEOUT) as http:
        async with http.post("/v1/sms/send", json=body) as resp:
            answer = await resp.json()
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        ids = [r["message_id"] for r in answer.get("results", []) if r.get("message_id")]
        if not wait or not ids:
            return 0 if resp.status == 200 else 1
        deadline = time.monotonic() + wait
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            for mid in sorted(pending):
                async with http.get(f"/v1/messages/{mid}", headers=target.headers) as r:
                    view = await r.json()
                if view.get("status") in FINAL:
                    pending.discard(mid)
                    print(json.dumps(view, ensure_ascii=False, indent=2))
        return 0 if not pending else 1
