"""The send request and its per-recipient results: the intake's contract, served as is by the
HTTP API (msgspec decodes straight into it)."""

from __future__ import annotations

from typing import Literal

import msgspec


class SendRequest(msgspec.Struct, forbid_unknown_fields=True):
    app_id: str
    random: int
    time: int
    phone_numbers: list[str]
    # optional in the schema so that a missing sig is SIG_MISSING (1003), not REQUEST_MALFORMED
    sig: str = ""
    type: Literal["regular", "marketing"] = "regular"
    template_id: int | None = None
    params: list[str | int] = []
    content: str | None = None
    sign: str | None = None
    # echoed back in receipts (the caller's own correlation data)
    context: str = ""
    # unix seconds; in the future means "send then"
    schedule_at: float | None = None


class SendResult(msgspec.Struct):
    phone: str
    code: int
    message: str
    message_id: str = ""
    chars: int = 0
    segments: int = 0
    fee: int = 0


class SendResponse(msgspec.Struct):
    code: int
    message: str
    results: list[SendResult] = []
    duplicates: int = 0
    duplicate_numbers: list[str] = []
