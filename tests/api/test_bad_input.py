"""Bytes no HTTP client library would send, written to the engine's socket as they are: a body that
cannot be read, and a request aiohttp cannot parse, are 400s in the catalogue's shape; credentials
that are not UTF-8 are a 401 — never a 500."""

import asyncio
import json

import pytest

from smsengine.domain.errors import ErrorCode
from tests.support.rig import ADMIN, fast_profile, start_rig, stop_rig


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def exchange(rig, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Write `request` as is; read the answer until the server closes (every one here closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.server.http_port)
    try:
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 10.0)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize("path", ["/v1/sms/send", "/v1/accounts"])
async def test_a_body_that_does_not_decode_is_1004_not_500(rig, path):
    """Content-Encoding: gzip over bytes that are not gzip: aiohttp raises RequestPayloadError from
    request.read(), which was a 500 before catalogue_errors mapped it."""
    status, headers, body = await exchange(
        rig, post(path, b'{"app_id": "x"}', "Content-Encoding: gzip", f"X-Admin-Token: {ADMIN}"))
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["code"] == ErrorCode.REQUEST_MALFORMED
    assert headers["connection"] == "close"


async def test_the_engine_still_answers_after_an_unreadable_body(rig):
    await exchange(rig, post("/v1/sms/send", b"abcd", "Content-Encoding: gzip"))
    async with rig.http.get("/healthz") as resp:
        assert resp.status == 200


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",  # no method, path, version
    b"GET /v1/receipts HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",  # a header without a colon
    b"GET /v1/accounts/\xff HTTP/1.1\r\nHost: x\r\n\r\n",  # a raw byte >= 0x80 in the path
    b"POST /v1/sms/send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # chunk size
    b"POST /v1/sms/send HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
])
async def test_a_request_aiohttp_cannot_parse_is_400_in_the_catalogue_shape(rig, request_bytes):
    """aiohttp's parser refuses these before any middleware runs; the listener's protocol
    (listener._CatalogueErrors) still answers them as JSON with 1004, and closes."""
    status, headers, body = await exchange(rig, request_bytes)
    assert status == 400 and headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["code"] == ErrorCode.REQUEST_MALFORMED and answer["message"].startswith("malformed request")
    # and the connection was closed: exchange() reads until the server closes


@pytest.mark.parametrize("credentials", [b"X-App-Id: demo\r\nX-App-Key: \xe9", b"X-Admin-Token: \xe9"])
async def test_credentials_that_are_not_utf8_are_401(rig, credentials):
    """Found by the chaos fuzz (its `garbled` identity): a 500 from .encode() on the surrogates."""
    request = b"GET /v1/receipts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + credentials + b"\r\n\r\n"
    status, headers, body = await exchange(rig, request)
    assert status == 401 and json.loads(body)["code"] == ErrorCode.SIG_INVALID
