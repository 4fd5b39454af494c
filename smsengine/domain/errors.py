"""The one error catalogue: every code the product returns, with its name and human message."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """Stable numeric codes. Never renumber; add new codes at the end of their range."""

    OK = 0
    # request authentication and shape
    SIG_INVALID = 1001
    SENSITIVE_CONTENT = 1002
    SIG_MISSING = 1003
    REQUEST_MALFORMED = 1004
    NO_PERMISSION = 1006
    INTERNAL = 1007
    NOT_FOUND = 1011
    SIGNATURE_NOT_APPROVED = 1012
    SOURCE_RATE_LIMITED = 1013
    TEMPLATE_MISMATCH = 1014
    UNSUBSCRIBED = 1015
    NUMBER_INVALID = 1016
    CONTENT_TOO_LONG = 1017
    APP_NOT_FOUND = 1019
    APP_DISABLED = 1020
    REQUEST_TIME_INVALID = 1021
    ACCOUNT_DAILY_LIMIT = 1022
    SAME_CONTENT_LIMIT = 1023
    HOURLY_LIMIT = 1024
    DAILY_LIMIT = 1025
    TEMPLATE_INVALID = 1027
    REQUEST_REPLAYED = 1028
    BALANCE_EXHAUSTED = 1031
    INDIVIDUAL_NO_MARKETING = 1032
    SUSPENDED_ARREARS = 1033
    MIXED_REGIONS = 1034
    PARAM_TOO_LONG = 1036
    PARAM_HAS_URL = 1037
    TEMPLATE_LIMIT = 1038
    SIGNATURE_LIMIT = 1039
    TEMPLATE_IMMUTABLE = 1040
    SIGNATURE_INVALID = 1041
    REGION_UNSUPPORTED = 1045
    TOO_MANY_NUMBERS = 1046
    INTERNATIONAL_DAILY_LIMIT = 1047
    CONTENT_EMPTY = 1048
    AUTH_SCHEME_REFUSED = 1049
    REQUEST_TIMEOUT = 1050
    TOO_MANY_CONNECTIONS = 1051
    ENGINE_BUSY = 1052
    LINK_LIMIT = 1053
    TOO_MANY_NUMBERS_TO_CHECK = 1054
    TASK_TOO_LARGE = 1055
    NOT_CANCELLABLE = 1056
    CANCELLED = 1057
    EMPTY_NUMBER = 1058
    CONTENT_INVALID_CHARACTER = 1059
    # carrier side: dispatch and delivery outcomes recorded on messages
    CARRIER_REJECTED = 60001
    CARRIER_UNDELIVERED = 60002
    CARRIER_EXPIRED = 60003
    NO_ROUTE = 60004
    NOT_SUBMITTED = 60005
    CARRIER_THROTTLED = 60006
    CARRIER_TIMEOUT = 60008


MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.OK: "OK",
    ErrorCode.SIG_INVALID: "signature verification failed (unknown app id, or wrong key or signature)",
    ErrorCode.SENSITIVE_CONTENT: "content contains sensitive words",
    ErrorCode.SIG_MISSING: "the request has no sig field",
    ErrorCode.REQUEST_MALFORMED: "malformed request: invalid JSON or wrong field types",
    ErrorCode.NO_PERMISSION: "the account has no permission for this operation",
    ErrorCode.INTERNAL: "internal error",
    ErrorCode.NOT_FOUND: "no such resource",
    ErrorCode.SIGNATURE_NOT_APPROVED: "signature missing, malformed or not approved",
    ErrorCode.SOURCE_RATE_LIMITED: "too many requests from this source",
    ErrorCode.TEMPLATE_MISMATCH: "template not approved, or the request does not match it",
    ErrorCode.UNSUBSCRIBED: "the number has unsubscribed from this account",
    ErrorCode.NUMBER_INVALID: "malformed phone number",
    ErrorCode.CONTENT_TOO_LONG: "message content too long",
    ErrorCode.APP_NOT_FOUND: "app id does not exist",
    ErrorCode.APP_DISABLED: "app is disabled",
    ErrorCode.REQUEST_TIME_INVALID: "request time too far from server time",
    ErrorCode.ACCOUNT_DAILY_LIMIT: "account daily sending limit reached",
    ErrorCode.SAME_CONTENT_LIMIT: "same content sent to this number within 30 seconds",
    ErrorCode.HOURLY_LIMIT: "hourly limit for this number reached",
    ErrorCode.DAILY_LIMIT: "daily limit for this number reached",
    ErrorCode.TEMPLATE_INVALID: "template text is invalid",
    ErrorCode.REQUEST_REPLAYED: "request already used: same app, random (or nonce) and time",
    ErrorCode.BALANCE_EXHAUSTED: "insufficient balance",
    ErrorCode.INDIVIDUAL_NO_MARKETING: "individual accounts may not send marketing messages",
    ErrorCode.SUSPENDED_ARREARS: "service suspended for arrears",
    ErrorCode.MIXED_REGIONS: "domestic and international numbers mixed in one request",
    ErrorCode.PARAM_TOO_LONG: "template parameter longer than 12 characters",
    ErrorCode.PARAM_HAS_URL: "template parameter contains a URL",
    ErrorCode.TEMPLATE_LIMIT: "too many templates for this account",
    ErrorCode.SIGNATURE_LIMIT: "too many signatures for this account",
    ErrorCode.TEMPLATE_IMMUTABLE: "an approved template or signature cannot be changed",
    ErrorCode.SIGNATURE_INVALID: "signature text is invalid",
    ErrorCode.REGION_UNSUPPORTED: "destination region not supported",
    ErrorCode.TOO_MANY_NUMBERS: "more than 200 numbers in one request",
    ErrorCode.INTERNATIONAL_DAILY_LIMIT: "account daily limit for international messages reached",
    ErrorCode.CONTENT_EMPTY: "message content is empty",
    ErrorCode.AUTH_SCHEME_REFUSED: "this account signs whole requests: Authorization: SMSENGINE-HMAC-SHA256",
    ErrorCode.REQUEST_TIMEOUT: "the request was not received in time",
    ErrorCode.TOO_MANY_CONNECTIONS: "too many open connections, retry later",
    ErrorCode.ENGINE_BUSY: "too many messages are waiting for carriers, retry later",
    ErrorCode.LINK_LIMIT: "too many short links for this account",
    ErrorCode.TOO_MANY_NUMBERS_TO_CHECK: "more than 100,000 numbers in one check",
    ErrorCode.TASK_TOO_LARGE: "the task's file or number list is too large",
    ErrorCode.NOT_CANCELLABLE: "only a task or message that has not started can be cancelled",
    ErrorCode.CANCELLED: "cancelled by the sender before it was sent",
    ErrorCode.EMPTY_NUMBER: "the number is empty (screened at its carrier before the task sent it)",
    ErrorCode.CONTENT_INVALID_CHARACTER: "content contains a NUL character (U+0000), which a message may not hold",
    ErrorCode.CARRIER_REJECTED: "rejected by the carrier",
    ErrorCode.CARRIER_UNDELIVERED: "the carrier could not deliver the message",
    ErrorCode.CARRIER_EXPIRED: "the message expired before delivery",
    ErrorCode.NO_ROUTE: "no carrier route for this destination",
    ErrorCode.NOT_SUBMITTED: "no carrier accepted the message within its validity period",
    ErrorCode.CARRIER_THROTTLED: "the carrier kept throttling the message past its retry budget",
    ErrorCode.CARRIER_TIMEOUT: "carrier timeout",
}

assert set(MESSAGES) == set(ErrorCode), "every code needs a message"


def message_for(code: ErrorCode) -> str:
    return MESSAGES[code]


class SmsError(Exception):
    """A rule violation with a catalogue code; `detail` adds context, never replaces the message."""

    __slots__ = ("code", "detail")

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        self.code = ErrorCode(code)
        self.detail = detail
        super().__init__(f"{int(self.code)} {self.code.name}: {self.message}")

    @property
    def message(self) -> str:
        base = MESSAGES[self.code]
        return f"{base} ({self.detail})" if self.detail else base
