"""Tests for the review state machine shared by templates and signatures."""

from __future__ import annotations

import pytest

from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.review import ReviewStatus, decide, ensure_editable

P, A, R = ReviewStatus.PENDING, ReviewStatus.APPROVED, ReviewStatus.REJECTED


@pytest.mark.parametrize(
    ("status", "approve", "expected"),
    [
        (P, True, A),
        (P, False, R),
        (A, True, ErrorCode.TEMPLATE_IMMUTABLE),
        (A, False, ErrorCode.TEMPLATE_IMMUTABLE),
        (R, True, ErrorCode.NOT_FOUND),
        (R, False, ErrorCode.NOT_FOUND),
    ],
)
def test_decide(status: ReviewStatus, approve: bool, expected: ReviewStatus | ErrorCode) -> None:
    if isinstance(expected, ReviewStatus):
        assert decide(status, approve=approve) is expected
    else:
        with pytest.raises(SmsError) as info:
            decide(status, approve=approve)
        assert info.value.code is expected


def test_only_approved_is_frozen() -> None:
    assert ensure_editable(P) is None
    assert ensure_editable(R) is None
    with pytest.raises(SmsError) as info:
        ensure_editable(A)
    assert info.value.code is ErrorCode.TEMPLATE_IMMUTABLE
