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
    CANCELLED = "cancelled"  # a scheduled message its sender called off before it was due


FINAL_STATUSES = frozenset({MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.EXPIRED,
                            MessageStatus.CANCELLED})


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
    task_id: int | None = None  # the bulk task it came from


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
    task_id: int | None = None


class ReceiptView(msgspec.Struct, gc=False):
    """A status report as the pull API and the callbacks show it (fields in this order: the
    callbacks build one per final positionally). Scalars only, so the collector skips it."""

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


class TaskRecord(msgspec.Struct):
    """A bulk task as stored (store/schema.py `tasks`); its public status is derived from `state`."""

    id: int
    app_id: str
    name: str
    type: str
    sign: str
    template_id: int
    template_text: str
    context: str
    callback_url: str
    created_at: float
    schedule_at: float | None
    state: str
    recipients: int
    rows_merged: int = 0
    screen: bool = False
    imported_line: int = 0
    started_at: float | None = None
    completed_at: float | None = None
    cancelled_at: float | None = None


class MessageRow(msgspec.Struct):
    """A message in a list (records, a task's detail) and in CSV exports: what was sent, to whom,
    when, and how it ended. `status` is accepted, submitted, or final; `phone` may be masked."""

    message_id: str
    phone: str
    content: str
    chars: int
    segments: int
    created_at: float
    submitted_at: float | None
    final_at: float | None
    status: str
    code: int
    remark: str
    carrier: str
    template_id: int | None
    task_id: int | None


class MessageFilter(msgspec.Struct, kw_only=True):
    """What a records query selects; every field is optional (None: any)."""

    app_id: str | None = None
    task_id: int | None = None
    phone: str | None = None  # E.164
    statuses: tuple[str, ...] = ()  # stored statuses: accepted (not final), delivered, failed, expired, cancelled
    template_id: int | None = None
    carrier: str | None = None
    content_prefixes: tuple[str, ...] = ()  # a signature, as composed at the start of the text (any of these)
    first_id: int | None = None  # from a time range: ids grow with creation time
    last_id: int | None = None


class DayStats(msgspec.Struct):
    """One account's day, as the store counts it (api turns it into the stats view)."""

    requests: int = 0  # distinct accept times: API sends and task chunks that accepted something
    messages: int = 0
    segments_charged: int = 0
    by_status: dict[str, int] = {}
    reasons: dict[int, list] = {}  # failure code -> [a remark, messages]
    carriers: dict[str, dict[str, int]] = {}  # carrier -> status -> messages
    prefixes: dict[str, int] = {}  # the first 5 characters of the E.164 number -> messages
