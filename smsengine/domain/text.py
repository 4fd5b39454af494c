"""Message text: signature composition, encoding choice and exact segmentation (SPEC §1)."""

from __future__ import annotations

import enum

from smsengine.domain import gsm7
from smsengine.domain.errors import ErrorCode, SmsError

DEFAULT_MAX_CHARS = 500


class Scheme(enum.Enum):
    """How characters are counted: chosen by destination (+86 → domestic) or config."""

    DOMESTIC = "domestic"  # every character counts 1; 70 single / 67 per part; UCS-2 on the wire
    GSM = "gsm"  # GSM 03.38: GSM-7 160/153 if possible, else UCS-2 70/67


class Encoding(enum.IntEnum):
    """SMPP data_coding values of the encodings we emit."""

    GSM7 = 0x00
    UCS2 = 0x08


# (single-part capacity, per-part capacity when concatenated), in the encoding's units
CAPACITY = {
    Encoding.GSM7: (160, 153),
    Encoding.UCS2: (70, 67),
}


class Segmentation:
    """The exact split of one message: what billing, records and the SMPP layer all use."""

    __slots__ = ("text", "scheme", "encoding", "chars", "parts", "payloads")

    def __init__(
        self,
        text: str,
        scheme: Scheme,
        encoding: Encoding,
        chars: int,
        parts: tuple[str, ...],
        payloads: tuple[bytes, ...],
    ) -> None:
        self.text = text
        self.scheme = scheme
        self.encoding = encoding
        self.chars = chars
        self.parts = parts
        self.payloads = payloads

    @property
    def segments(self) -> int:
        return len(self.parts)

    @property
    def data_coding(self) -> int:
        return int(self.encoding)

    @property
    def figures(self) -> str:
        """The "characters | segments" figure shown in records."""
        return f"{self.chars} | {len(self.parts)}"

    @property
    def payload(self) -> bytes:
        """The whole message encoded, for a single message_payload TLV."""
        return b"".join(self.payloads)

    def __repr__(self) -> str:
        return f"Segmentation({self.encoding.name}, {self.figures})"


def compose(body: str, signature: str | None, scheme: Scheme) -> str:
    """Prefix the signature. Domestic traffic shows it as 【Name】; elsewhere it is optional and
    uses ASCII brackets so a GSM-7 body is not forced into UCS-2 by the signature alone."""
    if not signature:
        return body
    if scheme is Scheme.DOMESTIC:
        return f"【{signature}】{body}"
    return f"[{signature}] {body}"


def _has_astral(text: str) -> bool:
    return bool(text) and max(text) > "\uffff"


def _utf16_units(text: str) -> int:
    if _has_astral(text):
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def _split_fixed(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def _split_weighted(text: str, capacity: int, wide: frozenset[str] | None) -> tuple[str, ...]:
    """Greedy split where some characters weigh 2 units and are never cut in half.

    `wide` None means "astral characters weigh 2" (UTF-16 surrogate pairs)."""
    parts: list[str] = []
    start = 0
    used = 0
    for i, ch in enumerate(text):
        if wide is None:
            width = 2 if ch > "\uffff" else 1
        else:
            width = 2 if ch in wide else 1
        if used + width > capacity:
            parts.append(text[start:i])
            start = i
            used = 0
        used += width
    parts.append(text[start:])
    return tuple(parts)


def _ucs2(text: str, chars: int, scheme: Scheme) -> Segmentation:
    single, multi = CAPACITY[Encoding.UCS2]
    astral = _has_astral(text)
    units = len(text.encode("utf-16-le")) // 2 if astral else len(text)
    if units <= single:
        parts: tuple[str, ...] = (text,)
    elif astral:
        parts = _split_weighted(text, multi, None)
    else:
        parts = _split_fixed(text, multi)
    payloads = tuple(p.encode("utf-16-be") for p in parts)
    return Segmentation(text, scheme, Encoding.UCS2, chars, parts, payloads)


def _gsm7(text: str) -> Segmentation:
    single, multi = CAPACITY[Encoding.GSM7]
    extensions = gsm7.extension_count(text)
    septets = len(text) + extensions
    if septets <= single:
        parts: tuple[str, ...] = (text,)
    elif extensions:
        parts = _split_weighted(text, multi, gsm7.EXTENSION_CHARS)
    else:
        parts = _split_fixed(text, multi)
    payloads = tuple(gsm7.encode(p) for p in parts)
    return Segmentation(text, Scheme.GSM, Encoding.GSM7, len(text), parts, payloads)


def segment(text: str, scheme: Scheme, *, max_chars: int = DEFAULT_MAX_CHARS) -> Segmentation:
    """Split `text` (signature already composed) into parts per the scheme's counting rule.

    Raises SmsError(CONTENT_TOO_LONG) above `max_chars` characters, CONTENT_EMPTY for no text; the
    text is never truncated."""
    chars = len(text)
    if chars > max_chars:
        raise SmsError(ErrorCode.CONTENT_TOO_LONG, f"{chars} characters, at most {max_chars}")
    if chars == 0:
        raise SmsError(ErrorCode.CONTENT_EMPTY)
    if scheme is Scheme.GSM and gsm7.is_gsm7(text):
        return _gsm7(text)
    # Domestic counting is "every character counts 1"; a character outside the BMP still takes
    # two UCS-2 code units on the wire, so it counts 2 here too or the part would not fit 140 bytes.
    return _ucs2(text, chars, scheme)


def segments_for(text: str, scheme: Scheme) -> int:
    """Segment count alone, without building parts: the closed formula."""
    if scheme is Scheme.GSM and gsm7.is_gsm7(text):
        septets = gsm7.septet_length(text)
        if septets <= 160:
            return 1
        if gsm7.extension_count(text):
            return len(_split_weighted(text, 153, gsm7.EXTENSION_CHARS))
        return -(-septets // 153)
    units = _utf16_units(text)
    if units <= 70:
        return 1
    if units != len(text):
        return len(_split_weighted(text, 67, None))
    return -(-units // 67)
