"""Malformed HTTP requests are logged one line each, rate-limited; our own errors keep tracebacks."""

from __future__ import annotations

import asyncio
import logging

from smsengine.api.request_logs import BadRequestLines
from tests.support.rig import fast_profile, start_rig, stop_rig


async def test_a_flood_of_malformed_requests_logs_a_few_single_lines(tmp_path, caplog):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    try:
        caplog.set_level(logging.DEBUG, logger="aiohttp.server")
        for _ in range(40):
            reader, writer = await asyncio.open_connection("127.0.0.1", rig.server.http_port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
            await writer.drain()
            assert b" 400 " in (await reader.read(100)).split(b"\r\n")[0]
            writer.close()
        records = [r for r in caplog.records if r.name == "aiohttp.server" and r.levelno >= logging.ERROR]
        assert 1 <= len(records) <= 5 * 3  # at most 5 a second, and the flood takes < 3 s
        assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
        assert any("BadHttpMessage" in r.getMessage() or "InvalidHeader" in r.getMessage() for r in records)
    finally:
        await stop_rig(rig)


def test_suppressed_lines_are_counted_into_the_next_one_and_other_errors_pass_untouched():
    now = [100.0]
    lines = BadRequestLines(per_second=2, clock=lambda: now[0])
    from aiohttp.http_exceptions import BadHttpMessage

    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
                                 ("127.0.0.1",), (type(exc), exc, None))

    assert [lines.filter(record(BadHttpMessage("bad"))) for _ in range(5)] == [True, True, False, False, False]
    now[0] += 1
    passed = record(BadHttpMessage("bad"))
    assert lines.filter(passed) and "(3 more suppressed)" in passed.getMessage() and passed.exc_info is None
    now[0] += 1
    from aiohttp.web_protocol import RequestPayloadError
    unreadable = record(RequestPayloadError("bad gzip"))  # a body that cannot be decoded: the client's fault
    assert lines.filter(unreadable) and unreadable.exc_info is None
    bug = record(RuntimeError("our bug"))
    assert lines.filter(bug) and bug.exc_info is not None  # a handler bug keeps its traceback
