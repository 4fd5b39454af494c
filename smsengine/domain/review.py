"""The review lifecycle shared by templates and signatures: pending, then approved or rejected."""

from __future__ import annotations

import enum

from smsengine.domain.errors import ErrorCode, SmsError


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def decide(status: ReviewStatus, *, approve: bool) -> ReviewStatus:
    """The status after a reviewer's decision; only a pending item is under review.

    A rejected item must be edited (which resubmits it as pending) before it can be decided
    again, so deciding it is NOT_FOUND: there is no pending review to decide.
    """
    if status is ReviewStatus.PENDING:
        return ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED
    if status is ReviewStatus.APPROVED:
        raise SmsError(ErrorCode.TEMPLATE_IMMUTABLE, "already approved")
    raise SmsError(ErrorCode.NOT_FOUND, "no pending review: edit and resubmit first")


def ensure_editable(status: ReviewStatus) -> None:
    """Approved items never change (senders rely on the reviewed text); edit means create anew."""
    if status is ReviewStatus.APPROVED:
        raise SmsError(ErrorCode.TEMPLATE_IMMUTABLE)
