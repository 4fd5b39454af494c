"""Structured JSON logs (structlog) at the configured level."""

from __future__ import annotations

import logging
import time

import structlog


def configure(level: str = "info") -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )




class BadRequestLines(logging.Filter):
    """aiohttp logs every malformed HTTP request with a multi-line traceback (2,000 lines under a
    slowloris): make each one line, and at most `per_second` of them a second, the rest counted
    into the next line that is let through. Errors of our own handlers keep their traceback."""

    def __init__(self, per_second: int = 5, clock=time.monotonic) -> None:
        super().__init__()
        self.per_second = per_second
        self.clock = clock
        self._second = 0
        self._in_second = 0
        self.suppressed = 0
        # what a client's bytes cause: a malformed head, or a body that cannot be read (bad
        # encoding); imported here, not at the top, so the carrier process logs without aiohttp
        from aiohttp.http_exceptions import HttpProcessingError
        from aiohttp.web_protocol import RequestPayloadError

        self.client_faults = (HttpProcessingError, RequestPayloadError)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, self.client_faults):
            return True
        second = int(self.clock())
        if second != self._second:
            self._second, self._in_second = second, 0
        if self._in_second >= self.per_second:
            self.suppressed += 1
            return False
        self._in_second += 1
        detail = " ".join(str(exc).split())  # aiohttp's message spans lines (a caret display)
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {detail}"
        if self.suppressed:
            record.msg += f" ({self.suppressed} more suppressed)"
            self.suppressed = 0
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


_BAD_REQUESTS: list[BadRequestLines] = []


def quiet_bad_requests() -> BadRequestLines:
    """Install the one-line, rate-limited logging of malformed requests (idempotent)."""
    if not _BAD_REQUESTS:
        _BAD_REQUESTS.append(BadRequestLines())
    logger = logging.getLogger("aiohttp.server")
    if _BAD_REQUESTS[0] not in logger.filters:
        logger.addFilter(_BAD_REQUESTS[0])
    return _BAD_REQUESTS[0]
