"""The engine's HTTP API as the command line sees it: where the engine is, who is asking, and
its answers decoded into typed views or turned into one-line errors."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import IO, Any, TypeVar

import aiohttp
import msgspec
from yarl import URL

ENV_URL = "SMSENGINE_URL"
ENV_APP_ID = "SMSENGINE_APP_ID"
ENV_KEY = "SMSENGINE_APP_KEY"
ENV_ADMIN_TOKEN = "SMSENGINE_ADMIN_TOKEN"
# the engine's own port override (config.py: SMSENGINE_HTTP__PORT sets http.port), so a shell that
# started `serve` on another port reaches it without saying so twice
ENV_ENGINE_PORT = "SMSENGINE_HTTP__PORT"
DEMO_APP_ID = "demo"
DEMO_KEY = "demo-secret"

# a call is answered within this, or the engine counts as unreachable; an upload is stored whole
# before its answer (100,000 rows: seconds), an export only has to keep sending
CALL_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=300, connect=5)
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5, sock_read=60)
STREAM_CHUNK = 64 * 1024

T = TypeVar("T")
R = TypeVar("R")


class CommandError(Exception):
    """A failure the command line reports in one line on stderr, with exit status 1."""


class EngineUnreachable(CommandError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")


class ApiError(CommandError):
    """The engine refused the call with a catalogue code (smsengine/domain/errors.py)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"error {code}: {message}")
        self.status = status
        self.code = code


class UnexpectedAnswer(CommandError):
    """Not what the API answers: another server at that address, or an engine of another version."""

    def __init__(self, url: str, status: int, what: str) -> None:
        super().__init__(f"unexpected answer from {url}: HTTP {status}, {what}")
        self.status = status


class NoSuchEndpoint(CommandError):
    def __init__(self, path: str) -> None:
        super().__init__(f"this engine has no {path}")


class ErrorBody(msgspec.Struct):
    """An error answer; the code as a plain int, so a code newer than this client still reads."""

    code: int
    message: str = ""


class Target(msgspec.Struct, frozen=True):
    """The engine and the credentials of one command. An operator token makes the calls the
    operator's: lists then cover every account unless an app id was named."""

    url: str
    app_id: str = DEMO_APP_ID
    key: str = DEMO_KEY
    admin_token: str = ""
    app_id_named: bool = False  # by --app-id or SMSENGINE_APP_ID, not the demo default

    @property
    def headers(self) -> dict[str, str]:
        headers = {"X-App-Id": self.app_id, "X-App-Key": self.key}
        if self.admin_token:
            headers["X-Admin-Token"] = self.admin_token
        return headers

    @property
    def scope(self) -> dict[str, str]:
        """The query an operator's list needs to stay within one account."""
        return {"app_id": self.app_id} if self.admin_token and self.app_id_named else {}


def default_url(environ: Mapping[str, str]) -> str:
    port = environ.get(ENV_ENGINE_PORT, "").strip()
    return f"http://127.0.0.1:{port if port.isdigit() else 8080}"


def target_of(url: str | None, app_id: str | None, key: str | None, admin_token: str | None,
              environ: Mapping[str, str]) -> Target:
    """From the flags (typer has already read SMSENGINE_URL and the others into them)."""
    url = url or default_url(environ)
    try:
        parsed = URL(url)
    except ValueError:
        parsed = None
    # the API's paths are absolute: an engine is an origin, not a prefix behind it
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or parsed.path not in ("", "/"):
        raise CommandError(f"--url: not an engine address like http://127.0.0.1:8080: {url!r}")
    return Target(url=str(parsed.origin()), app_id=app_id or DEMO_APP_ID, key=key or DEMO_KEY,
                  admin_token=admin_token or "", app_id_named=bool(app_id))


def _reason(error: OSError) -> str:
    """"Connection refused" rather than asyncio's "Connect call failed ('127.0.0.1', 1)"; a name
    that does not resolve as the resolver says it."""
    if isinstance(error, socket.gaierror) or not error.errno or error.errno < 0:
        return error.strerror or str(error)
    return os.strerror(error.errno)


@contextmanager
def engine_errors(url: str, timeout: aiohttp.ClientTimeout) -> Iterator[None]:
    """aiohttp's exceptions as the command line reports them (like httpcore's map_exceptions)."""
    try:
        yield
    except aiohttp.ClientConnectorError as exc:
        raise EngineUnreachable(url, _reason(exc.os_error)) from None
    except TimeoutError:  # asyncio.TimeoutError is TimeoutError since 3.11
        limit = timeout.total if timeout.total is not None else timeout.sock_read
        raise EngineUnreachable(url, f"no answer within {limit:g} s") from None
    except aiohttp.ClientPayloadError:
        raise EngineUnreachable(url, "the answer broke off") from None
    except aiohttp.ClientError as exc:
        raise EngineUnreachable(url, str(exc) or type(exc).__name__) from None


def answer_of(url: str, status: int, content_type: str, body: bytes, answer: type[T]) -> T:
    """A 2xx body as `answer`; anything else as the error it reports."""
    if status >= 300:
        raise refusal(url, status, content_type, body)
    try:
        return msgspec.json.decode(body, type=answer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UnexpectedAnswer(url, status, str(exc)) from None


def refusal(url: str, status: int, content_type: str, body: bytes) -> CommandError:
    if content_type == "application/json":
        try:
            error = msgspec.json.decode(body, type=ErrorBody)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            return ApiError(status, error.code, error.message)
    return UnexpectedAnswer(url, status, content_type or "no body type")


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Unset filters are left out rather than sent empty."""
    return {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}


class EngineClient:
    """One session with the engine for one command."""

    def __init__(self, target: Target, http: aiohttp.ClientSession) -> None:
        self.target = target
        self.http = http

    @classmethod
    @asynccontextmanager
    async def open(cls, target: Target) -> AsyncIterator[EngineClient]:
        async with aiohttp.ClientSession(target.url, headers=target.headers) as http:
            yield cls(target, http)

    async def call(self, method: str, path: str, answer: type[T], *, params: Mapping[str, Any] | None = None,
                   body: bytes | None = None, content_type: str | None = None,
                   timeout: aiohttp.ClientTimeout = CALL_TIMEOUT) -> T:
        headers = {"Content-Type": content_type} if content_type else None
        with engine_errors(self.target.url, timeout):
            async with self.http.request(method, path, params=_query(params), data=body, headers=headers,
                                         timeout=timeout) as resp:
                raw = await resp.read()
        return answer_of(self.target.url, resp.status, resp.content_type, raw, answer)

    async def newest(self, path: str, answer: type[T], query: Mapping[str, Any], *, limit: int, page_size: int,
                     items: Callable[[T], list[R]], cursor: Callable[[T], int]) -> list[R]:
        """Up to `limit` items of a list the API pages newest first (?before= the last page's
        cursor, 0 when there is no more), in pages of at most `page_size`."""
        found: list[R] = []
        before = 0
        while len(found) < limit:
            size = min(page_size, limit - len(found))
            page = await self.call("GET", path, answer, params={**query, "limit": size, "before": before or None})
            found += items(page)
            before = cursor(page)
            if not before:
                break
        return found

    async def stream(self, path: str, params: Mapping[str, Any], sink: IO[bytes]) -> None:
        """The answer's body into `sink` as it arrives: memory stays flat whatever the size."""
        with engine_errors(self.target.url, STREAM_TIMEOUT):
            async with self.http.get(path, params=_query(params), timeout=STREAM_TIMEOUT) as resp:
                if resp.status != 200:
                    raise refusal(self.target.url, resp.status, resp.content_type, await resp.read())
                if resp.content_type != "text/csv":
                    raise UnexpectedAnswer(self.target.url, resp.status, f"{resp.content_type}, not text/csv")
                async for chunk in resp.content.iter_chunked(STREAM_CHUNK):
                    sink.write(chunk)
        sink.flush()
