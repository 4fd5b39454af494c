"""The typed records that travel through the engine and into the store."""

from __future__ import annotations

import enum

import msgspec


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
