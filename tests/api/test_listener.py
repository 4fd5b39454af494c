"""The HTTP listener's bounds over real sockets, with tiny configured timeouts: late request
heads and bodies, idle kept-alive connections, and the cap on open connections."""

import asyncio
import json

import aiohttp
import pytest

from smsengine.config import HttpConfig
from tests.support.polling import eventually
from tests.support.rig import ADMIN, fast_profile, start_rig, stop_rig

GET_HEALTH = b"GET /healthz HTTP/1.1\r\nHost: engine\r\n\r\n"


def http_config(**changes) -> HttpConfig:
    return HttpConfig(port=0, admin_token=ADMIN, allow_private_callbacks=True, **changes)


@pytest.fixture
async def rig(tmp_path, request):
    rig = await start_rig(tmp_path, [fast_profile("ideal")], http=http_config(**request.param))
    yield rig
    await stop_rig(rig)


def limits(**changes):
    return pytest.mark.parametrize("rig", [changes], indirect=True, ids=[""])


async def connect(rig) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", rig.server.http_port)


async def until_closed(reader: asyncio.StreamReader, bound: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (fails if it does not)."""
    async with asyncio.timeout(bound):
        return await reader.read()


async def response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response on a kept-alive connection: status and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:"))
    return int(lines[0].split()[1]), await reader.readexactly(length)


def catalogue(raw: bytes) -> tuple[int, int]:
    """(HTTP status, catalogue code) of a whole raw response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["code"]


@limits(header_timeout_s=0.3)
async def test_a_connection_that_sends_half_a_request_head_is_closed(rig):
    reader, writer = await connect(rig)
    writer.write(b"POST /v1/sms/send HTTP/1.1\r\nHost: engine\r\nContent-Type: appl")
    assert catalogue(await until_closed(reader)) == (408, 1050)
    writer.close()
    assert rig.server.listener.head_timeouts == 1
    # others are served as usual
    async with rig.http.get("/healthz") as resp:
        assert resp.status == 200


@limits(header_timeout_s=0.3)
async def test_a_connection_that_sends_nothing_is_closed(rig):
    reader, writer = await connect(rig)
    assert catalogue(await until_closed(reader)) == (408, 1050)
    writer.close()


@limits(header_timeout_s=0.3, keepalive_timeout_s=30.0)
async def test_a_late_head_of_a_later_request_closes_the_kept_alive_connection(rig):
    reader, writer = await connect(rig)
    for _ in range(3):  # requests on time keep the connection, each head timed from its first byte
        await asyncio.sleep(0.2)
        writer.write(GET_HEALTH)
        assert (await response(reader))[0] == 200
    writer.write(GET_HEALTH[:20])
    # a response of ours went out on this connection: it is closed without a 408 behind it
    assert await until_closed(reader) == b""
    writer.close()
    assert rig.server.listener.head_timeouts == 1


@limits(header_timeout_s=30.0, keepalive_timeout_s=0.3)
async def test_an_idle_kept_alive_connection_is_closed(rig):
    reader, writer = await connect(rig)
    writer.write(GET_HEALTH)
    assert (await response(reader))[0] == 200
    assert await until_closed(reader) == b""
    writer.close()


@limits(body_timeout_s=0.3)
async def test_a_body_that_does_not_arrive_in_time_is_refused(rig):
    reader, writer = await connect(rig)
    writer.write(b"POST /v1/sms/send HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"app_id\":")
    status, body = await response(reader)
    assert status == 408 and json.loads(body)["code"] == 1050
    writer.close()
    assert rig.server.listener.body_timeouts == 1


@limits(header_timeout_s=0.3, body_timeout_s=30.0)
async def test_a_body_slower_than_the_head_deadline_is_still_within_its_own(rig):
    body = json.dumps(rig.client.body(["+8613800000001"])).encode()
    reader, writer = await connect(rig)
    writer.write(b"POST /v1/sms/send HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
    await asyncio.sleep(0.5)
    writer.write(body[10:20])
    await asyncio.sleep(0.5)  # past the head deadline, twice, while the handler waits for the body
    writer.write(body[20:])
    status, answer = await response(reader)
    assert status == 200 and json.loads(answer)["results"][0]["code"] == 0
    # and the kept-alive connection serves the next request
    writer.write(GET_HEALTH)
    assert (await response(reader))[0] == 200
    writer.close()
    assert rig.server.listener.head_timeouts == 0


@limits(max_connections=4, header_timeout_s=30.0)
async def test_connections_beyond_the_cap_are_refused_while_requests_still_succeed(rig):
    listener = rig.server.listener
    async with rig.http.get("/healthz") as resp:  # the rig's session keeps its connection open
        assert resp.status == 200
    idle = [await connect(rig) for _ in range(3)]
    await eventually(lambda: len(listener.open) == 4, 10, lambda: f"{len(listener.open)} open")

    reader, writer = await connect(rig)
    assert catalogue(await until_closed(reader)) == (503, 1051)
    writer.close()
    assert listener.refused == 1
    # the connection already open goes on being served, and the refusal is counted
    async with rig.http.get("/metrics") as resp:
        assert resp.status == 200
        assert "smsengine_http_connections_refused_total 1.0" in await resp.text()

    # once one closes, a new client gets in
    idle[0][1].close()
    await eventually(lambda: len(listener.open) == 3, 10, lambda: f"{len(listener.open)} open")
    async with aiohttp.ClientSession(f"http://127.0.0.1:{rig.server.http_port}") as other:
        async with other.get("/healthz") as resp:
            assert resp.status == 200
    for _, w in idle[1:]:
        w.close()


def test_the_listener_serves_on_uvloop(tmp_path):
    """The daemon runs on uvloop (cli.py), whose transports are not asyncio's classes."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        rig = await start_rig(tmp_path, [fast_profile("ideal")], http=http_config(header_timeout_s=0.3))
        try:
            async with asyncio.timeout(20):  # on a broken listener the client would wait for ever
                async with rig.http.get("/healthz") as resp:
                    assert resp.status == 200
                reader, writer = await connect(rig)
                writer.write(b"GET /healthz HTTP/1.1\r\n")
                assert catalogue(await until_closed(reader)) == (408, 1050)
                writer.close()
        finally:
            await stop_rig(rig)

    uvloop.run(scenario())
