"""The typed records that travel through the engine, and the rows the store reads back."""

from __future__ import annotations

import enum

import msgspec

from smsengine.config import LimitsConfig
from smsengine.domain.accounts import AccountType
from smsengine.domain.auth import AuthScheme
from smsengine.domain.review import ReviewStatus
from smsengine.domain.templates import MessageType, TemplateRegion


class MessageStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"


FINAL_STATUSES = frozenset({MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.EXPIRED})


class MessageRecord(msgspec.Struct, gc=False):
    """One accepted message to one recipient; `parts` are the exact texts of its segments."""

    id: int
    app_id: str
    phone: str
    content: str
    type: str
    chars: int
    segments: int
    data_coding: int
    created_at: float
    scheduled_at: float | None = None
    context: str = ""
    template_id: int | None = None
    status: MessageStatus = MessageStatus.ACCEPTED
    # the send's vendor-specific TLVs in wire form (smpp.vendor_tlvs), added to every submit_sm;
    # one object shared by the request's messages
    tlvs: bytes | None = None
    callback_url: str = ""  # where this message's status report goes ("" = the account's receipt_url)


class MessageFinal(msgspec.Struct, gc=False):
    """A message reached a final state: it becomes a receipt for pull and push."""

    message_id: int
    app_id: str
    phone: str
    status: MessageStatus
    code: int
    remark: str
    submitted_at: float | None
    final_at: float
    context: str = ""
    carrier: str = ""
    callback_url: str = ""


class ReceiptView(msgspec.Struct):
    """A status report as the pull API and the callbacks show it."""

    cursor: int
    message_id: str
    phone: str
    status: str
    code: int
    remark: str
    submitted_at: float | None
    final_at: float
    context: str = ""


# -- rows the store reads back: what an account, its review items and its traffic look like on disk --
class AccountRow(msgspec.Struct):
    app_id: str
    key: str
    type: AccountType
    raw_content: bool
    balance: int
    state: str
    utc_offset_minutes: int
    receipt_url: str
    auth_scheme: AuthScheme = AuthScheme.SIG
    limits: LimitsConfig | None = None  # None: an account stored before limits were
    reply_url: str = ""


class SignatureRow(msgspec.Struct):
    id: int
    app_id: str
    name: str
    status: ReviewStatus
    remark: str = ""


class TemplateRow(msgspec.Struct):
    id: int
    app_id: str
    text: str
    type: MessageType
    region: TemplateRegion
    status: ReviewStatus
    remark: str = ""
    name: str = ""
    note: str = ""


class UnsubscribeRow(msgspec.Struct):
    app_id: str
    phone: str


class MessageView(msgspec.Struct):
    """A message as its sender looks it up: stored state, or `submitted` while in flight."""

    message_id: str
    app_id: str
    phone: str
    status: MessageStatus
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


class ReplyView(msgspec.Struct):
    """A reply (MO) as the pull API shows it; `cursor` orders an account's replies."""

    cursor: int
    phone: str
    text: str
    carrier: str
    received_at: float
    complete: bool = True  # False: a long reply whose missing parts never came (this is what did)
