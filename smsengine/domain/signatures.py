"""Sender signatures (`【Name】`): name rules, review lifecycle, and whether a send may use one."""

from __future__ import annotations

import msgspec

from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.review import ReviewStatus, decide, ensure_editable
from smsengine.domain.templates import TemplateRegion
from smsengine.domain.text import refuse_nul

DEFAULT_MIN_NAME_LENGTH = 2
DEFAULT_MAX_NAME_LENGTH = 12
DEFAULT_SIGNATURE_CAP = 50
# Brackets would forge or break the `【Name】` frame; braces would read as placeholders.
FORBIDDEN_NAME_CHARACTERS = frozenset("【】[]〖〗{}")


class Signature(msgspec.Struct, frozen=True, kw_only=True):
    """A signature record; transitions return a new record, an approved one never changes."""

    id: int
    account: str
    name: str
    status: ReviewStatus = ReviewStatus.PENDING
    remark: str = ""  # the reviewer's reason on rejection


def validate_signature_name(
    name: str,
    *,
    min_length: int = DEFAULT_MIN_NAME_LENGTH,
    max_length: int = DEFAULT_MAX_NAME_LENGTH,
) -> str:
    """Return the name if it is acceptable, else raise SIGNATURE_INVALID.

    Names are taken as given, never trimmed: what is reviewed is what is sent.
    """
    if not min_length <= len(name) <= max_length:
        raise SmsError(
            ErrorCode.SIGNATURE_INVALID, f"{len(name)} characters, need {min_length}-{max_length}"
        )
    refuse_nul(name, ErrorCode.SIGNATURE_INVALID)  # not printable either, but said where it is
    if name != name.strip() or not name.isprintable():
        raise SmsError(ErrorCode.SIGNATURE_INVALID, "edge whitespace or control characters")
    bad = FORBIDDEN_NAME_CHARACTERS.intersection(name)
    if bad:
        raise SmsError(ErrorCode.SIGNATURE_INVALID, f"forbidden characters {''.join(sorted(bad))}")
    if not any(ch.isalpha() for ch in name):
        raise SmsError(ErrorCode.SIGNATURE_INVALID, "a name needs at least one letter")
    return name


def format_signature(name: str) -> str:
    return f"【{name}】"


def check_signature_use(signature: Signature | None, destination_region: TemplateRegion) -> None:
    """Raise SIGNATURE_NOT_APPROVED unless the send may go out with this signature.

    Mainland traffic must carry an approved signature; elsewhere it is optional, but one that
    is given must still be approved.
    """
    if signature is None:
        if destination_region is TemplateRegion.MAINLAND:
            raise SmsError(ErrorCode.SIGNATURE_NOT_APPROVED, "mainland messages need a signature")
        return
    if signature.status is not ReviewStatus.APPROVED:
        raise SmsError(
            ErrorCode.SIGNATURE_NOT_APPROVED, f"signature {signature.id} is {signature.status}"
        )


def check_signature_quota(existing_count: int, cap: int = DEFAULT_SIGNATURE_CAP) -> None:
    """Raise if an account that already has `existing_count` signatures may not add one."""
    if existing_count >= cap:
        raise SmsError(ErrorCode.SIGNATURE_LIMIT, f"{existing_count} of {cap}")


def new_signature(
    id: int,
    account: str,
    name: str,
    *,
    min_length: int = DEFAULT_MIN_NAME_LENGTH,
    max_length: int = DEFAULT_MAX_NAME_LENGTH,
) -> Signature:
    """A validated signature, submitted for review."""
    validate_signature_name(name, min_length=min_length, max_length=max_length)
    return Signature(id=id, account=account, name=name)


def approve_signature(signature: Signature) -> Signature:
    status = decide(signature.status, approve=True)
    return msgspec.structs.replace(signature, status=status, remark="")


def reject_signature(signature: Signature, remark: str = "") -> Signature:
    status = decide(signature.status, approve=False)
    return msgspec.structs.replace(signature, status=status, remark=remark)


def rename_signature(
    signature: Signature,
    name: str,
    *,
    min_length: int = DEFAULT_MIN_NAME_LENGTH,
    max_length: int = DEFAULT_MAX_NAME_LENGTH,
) -> Signature:
    """A pending or rejected signature with a new name, (re)submitted for review."""
    ensure_editable(signature.status)
    validate_signature_name(name, min_length=min_length, max_length=max_length)
    return msgspec.structs.replace(signature, name=name, status=ReviewStatus.PENDING, remark="")
