"""HTTP request and response bodies (msgspec), the API's whole contract with its callers."""

from __future__ import annotations

from typing import Literal

import msgspec

from smsengine.config import AccountConfig
from smsengine.engine.records import ReceiptView


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


class ErrorResponse(msgspec.Struct):
    code: int
    message: str


class MessageView(msgspec.Struct):
    message_id: str
    app_id: str
    phone: str
    status: str
    code: int
    remark: str
    content: str
    type: str
    chars: int
    segments: int
    carrier: str
    context: str
    created_at: float
    scheduled_at: float | None
    submitted_at: float | None
    final_at: float | None


# a status report as pulled and pushed: the store's own record of it
ReceiptItem = ReceiptView


class ReceiptPage(msgspec.Struct):
    code: int
    message: str
    receipts: list[ReceiptItem]
    next_cursor: int


# An account created by the operator is described exactly as one in the config file: key, type,
# balance, limits, and optionally signatures and templates seeded as already reviewed.
AccountCreate = AccountConfig


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True):
    receipt_url: str | None = None
    state: Literal["active", "suspended"] | None = None
    add_balance: int | None = None


class AccountView(msgspec.Struct):
    app_id: str
    type: str
    raw_content: bool
    balance: int
    state: str
    utc_offset_minutes: int
    receipt_url: str


class SignatureCreate(msgspec.Struct, forbid_unknown_fields=True):
    app_id: str
    name: str


class SignatureView(msgspec.Struct):
    id: int
    app_id: str
    name: str
    status: str
    remark: str


class TemplateCreate(msgspec.Struct, forbid_unknown_fields=True):
    app_id: str
    text: str
    type: Literal["regular", "marketing"] = "regular"
    region: Literal["mainland", "international"] = "mainland"


class TemplateView(msgspec.Struct):
    id: int
    app_id: str
    text: str
    type: str
    region: str
    status: str
    remark: str


class ReviewDecision(msgspec.Struct, forbid_unknown_fields=True):
    remark: str = ""


class UnsubscribeChange(msgspec.Struct, forbid_unknown_fields=True):
    app_id: str
    phone: str
