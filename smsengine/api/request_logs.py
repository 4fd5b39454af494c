"""aiohttp's log lines about malformed requests: one line each, at most a few a second."""

from __future__ import annotations

import logging
import time

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError


# what a client's bytes cause: a malformed head, or a body that cannot be read (bad encoding)
_CLIENT_FAULTS = (HttpProcessingError, RequestPayloadError)


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

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, _CLIENT_FAULTS):
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


_BAD_REQUESTS = BadRequestLines()


def quiet_bad_requests() -> BadRequestLines:
    """Install the one-line, rate-limited logging of malformed requests (idempotent)."""
    logger = logging.getLogger("aiohttp.server")
    if _BAD_REQUESTS not in logger.filters:
        logger.addFilter(_BAD_REQUESTS)
    return _BAD_REQUESTS
