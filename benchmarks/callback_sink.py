"""A customer's callback endpoint for the benchmarks, run as its own process: it takes status
reports the way an engine pushes them and records when each arrived.

Two shapes are understood, so the engine and a peer gateway can be measured by the same sink:
- smsengine: POST of a JSON array of reports, each with `message_id` (and `final_at`, the
  engine's own time of the receipt); with `--key`, the signature headers are verified and a
  wrong one is answered 401 (so verifying is part of what the customer pays for);
- Kannel's dlr-url: GET or POST with the report in the query string; `--id-param` names the
  parameter that identifies the message (default `id`).

`GET /stats` answers the counts and, for reports that carry `final_at`, percentiles of
receipt-at-engine → received-here; `GET /dump` answers every first arrival as [[id, unix time]].
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import time

import msgspec
from aiohttp import web

_decode = msgspec.json.Decoder()


class Sink:
    def __init__(self, key: str | None, id_param: str, delay: float) -> None:
        self.key = key.encode() if key else None
        self.id_param = id_param
        self.delay = delay
        self.first: dict[str, float] = {}  # message id -> first arrival
        self.reports = 0
        self.posts = 0
        self.bad_signatures = 0
        self.lags: list[float] = []  # seconds from the engine's final_at to arrival here

    def signed(self, request: web.Request, body: bytes) -> bool:
        if self.key is None:
            return True
        stamp = request.headers.get("X-Smsengine-Timestamp", "")
        given = request.headers.get("X-Smsengine-Signature", "")
        expected = "sha256=" + hmac.new(self.key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given, expected)

    async def report(self, request: web.Request) -> web.Response:
        now = time.time()
        self.posts += 1
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        if self.id_param in request.query:  # a peer's dlr-url: one report in the query string
            self._arrived(request.query[self.id_param], now)
            return web.Response(text="ok")
        body = await request.read()
        if not self.signed(request, body):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        for item in _decode.decode(body):
            self._arrived(str(item["message_id"]), now)
            final_at = item.get("final_at")
            if final_at:
                self.lags.append(now - final_at)
        return web.Response(text="ok")

    def _arrived(self, key: str, now: float) -> None:
        self.reports += 1
        self.first.setdefault(key, now)

    async def stats(self, _: web.Request) -> web.Response:
        lags = sorted(self.lags)

        def pct(p: float) -> float | None:
            return round(lags[min(len(lags) - 1, int(p / 100 * len(lags)))] * 1000, 2) if lags else None

        times = self.first.values()
        return web.json_response({
            "posts": self.posts, "reports": self.reports, "unique": len(self.first),
            "duplicates": self.reports - len(self.first), "bad_signatures": self.bad_signatures,
            "first_at": min(times, default=None), "last_at": max(times, default=None),
            "receipt_to_sink_ms": {f"p{p}": pct(p) for p in (50, 90, 99, 99.9)},
        })

    async def dump(self, _: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode(list(self.first.items())), content_type="application/json")

    async def reset(self, _: web.Request) -> web.Response:
        self.first.clear()
        self.lags.clear()
        self.reports = self.posts = self.bad_signatures = 0
        return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", help="verify smsengine's signature headers with this account key")
    parser.add_argument("--id-param", default="id", help="query parameter naming the message (peer dlr-urls)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to hold each answer (a slow customer)")
    args = parser.parse_args()
    sink = Sink(args.key, args.id_param, args.delay)
    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_get("/stats", sink.stats)
    app.router.add_get("/dump", sink.dump)
    app.router.add_post("/reset", sink.reset)
    app.router.add_route("*", "/{tail:.*}", sink.report)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
