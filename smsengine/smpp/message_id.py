"""Message-id normalisation: one canonical key for the id in submit_sm_resp and the id in the receipt.

Carriers disagree with themselves: hex in submit_sm_resp and decimal in the receipt text, leading
zeros on one side only, upper case here and lower case there. Each side of a carrier gets a
`MessageIdFormat` saying how that side writes ids; normalising both sides gives equal keys.
"""

from __future__ import annotations

import enum

import msgspec

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class IdForm(enum.Enum):
    AS_IS = "as_is"  # an opaque string (only the case / zero options apply)
    HEX = "hex"  # a hexadecimal number; key: lower-case hex without leading zeros
    DECIMAL = "decimal"  # a decimal number; key: decimal without leading zeros
    HEX_TO_DECIMAL = "hex_to_decimal"  # a hexadecimal number; key: its decimal form
    DECIMAL_TO_HEX = "decimal_to_hex"  # a decimal number; key: its lower-case hex form


class MessageIdFormat(msgspec.Struct, frozen=True):
    """How one side (submit_sm_resp or receipt) of one carrier writes message ids."""

    form: IdForm = IdForm.AS_IS
    strip_leading_zeros: bool = False
    case_fold: bool = False


class CarrierIdFormats(msgspec.Struct, frozen=True):
    """Both sides of a carrier; the default treats ids as opaque strings on both."""

    submit_resp: MessageIdFormat = MessageIdFormat()
    receipt: MessageIdFormat = MessageIdFormat()

    def resp_key(self, raw: str) -> str:
        return normalise_message_id(raw, self.submit_resp)

    def receipt_key(self, raw: str) -> str:
        return normalise_message_id(raw, self.receipt)


def _as_is(raw: str, fmt: MessageIdFormat) -> str:
    if fmt.strip_leading_zeros and raw:
        raw = raw.lstrip("0") or "0"
    return raw.lower() if fmt.case_fold else raw


def normalise_message_id(raw: str, fmt: MessageIdFormat) -> str:
    """The canonical key of `raw`. An id that does not fit its declared form falls back to AS_IS rules,
    so a carrier that changes its mind yields a key that simply does not match instead of an error."""
    raw = raw.strip()
    form = fmt.form
    # SMPP ids are at most 64 octets; the length cap also keeps int() off huge digit strings.
    if form is IdForm.AS_IS or not raw or len(raw) > 64:
        return _as_is(raw, fmt)
    if form in (IdForm.HEX, IdForm.HEX_TO_DECIMAL):
        if not _HEX_DIGITS.issuperset(raw):
            return _as_is(raw, fmt)
        number = int(raw, 16)
        return format(number, "x") if form is IdForm.HEX else str(number)
    if not (raw.isascii() and raw.isdigit()):
        return _as_is(raw, fmt)
    number = int(raw)
    return str(number) if form is IdForm.DECIMAL else format(number, "x")
