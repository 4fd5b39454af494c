"""The send request and its per-recipient results: the intake's contract, served as is by the
HTTP API (msgspec decodes straight into it); and the bounds on every free-form input field."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from smsengine.smpp.vendor_tlvs import VendorTlvs, repeated_tag

# Every free-form field is bounded where it is decoded: a longer value is refused with 1004
# (naming the field) before anything is stored or held. Message text is bounded again, more
# tightly, by `max_chars` at segmentation (1017). Documented in README "Limits".
MAX_CONTEXT = 512
MAX_CONTENT = 2000
MAX_NAME = 64
MAX_PARAM = 64
MAX_PHONE = 32
MAX_URL = 2048
MAX_REMARK = 500
# A NUL character in a stored text would be cut there by the store's per-row json_each batches
# (->> ends a text at it) or by the CSV export's printf, so `context`, every URL and an account's
# credentials (one rule for all of them; none holds a NUL) refuse it where they are decoded, with
# 1004 naming the field. Message text refuses it at segmentation (1059), as the composed text is
# only known there; any other character is kept as given.
NO_NUL = "^[^\\x00]*$"
Context = Annotated[str, msgspec.Meta(max_length=MAX_CONTEXT, pattern=NO_NUL)]
Content = Annotated[str, msgspec.Meta(max_length=MAX_CONTENT)]
Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]
# an account's app id and key: never empty (an empty pair would authenticate empty credentials),
# never with a NUL (see NO_NUL)
Credential = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME, pattern=NO_NUL)]
Param = Annotated[str, msgspec.Meta(max_length=MAX_PARAM)]
Phone = Annotated[str, msgspec.Meta(max_length=MAX_PHONE)]
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL, pattern=NO_NUL)]
Remark = Annotated[str, msgspec.Meta(max_length=MAX_REMARK)]


class SendRequest(msgspec.Struct, forbid_unknown_fields=True):
    # how many is checked by intake (1046), each one's length here
    phone_numbers: list[Phone]
    # the legacy scheme's credentials: required by intake (1004) unless the request carries an
    # `Authorization: SMSENGINE-HMAC-SHA256` header, which names the app (then app_id, if given,
    # must be the same) and makes random, time and sig unused
    app_id: Name = ""
    random: int | None = None
    time: int | None = None
    # optional in the schema so that a missing sig is SIG_MISSING (1003), not REQUEST_MALFORMED
    sig: Name = ""
    type: Literal["regular", "marketing"] = "regular"
    template_id: int | None = None
    params: Annotated[list[Param | int], msgspec.Meta(max_length=MAX_NAME)] = []
    content: Content | None = None
    sign: Name | None = None
    # echoed back in receipts (the caller's own correlation data)
    context: Context = ""
    # unix seconds; in the future means "send then"
    schedule_at: float | None = None
    callback_url: Annotated[Url, msgspec.Meta(description=(
        "where this send's status reports are POSTed (signed, batched, like the account's receipt_url, which "
        "is used when this is empty)"))] = ""
    tlvs: Annotated[VendorTlvs, msgspec.Meta(description=(
        "vendor-specific TLVs (e.g. India's DLT entity id 0x1400, template id 0x1401) added to every submit_sm "
        "of each message, as given; at most 8, distinct tags; a carrier's configured TLV of the same tag is "
        "replaced"))] = []

    def __post_init__(self) -> None:
        if self.tlvs:
            repeated = repeated_tag(self.tlvs)
            if repeated is not None:
                tag = self.tlvs[repeated].tag
                raise ValueError(f"tag {tag} ({tag:#06x}) given twice - at `$.tlvs[{repeated}].tag`")


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
