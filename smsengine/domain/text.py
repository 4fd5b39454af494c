"""Message text: signature composition, encoding choice and exact segmentation (SPEC §1)."""

from __future__ import annotations

import enum

import msgspec

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


class Segmentation(msgspec.Struct, frozen=True, gc=False):
    """The exact split of one message: what billing, records and the SMPP layer all use.

    A msgspec Struct because it is built once per message on the hot path (4x cheaper than a
    slots class); gc=False is safe since it holds only str/bytes/enums."""

    text: str
    scheme: Scheme
    encoding: Encoding
    chars: int
    parts: tuple[str, ...]
    payloads: tuple[bytes, ...]

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



def compose(body: str, signature: str | None, scheme: Scheme) -> str:
    """Prefix the signature. Domestic traffic shows it as 【Name】; elsewhere it is optional and
    uses ASCII brackets so a GSM-7 body is not forced into UCS-2 by the signature alone."""
    if not signature:
        return body
    if scheme is Scheme.DOMESTIC:
        return f"【{signature}】{body}"
    return f"[{signature}] {body}"


def _split_fixed(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def _split_astral(text: str, capacity: int) -> tuple[str, ...]:
    """Greedy split where characters outside the BMP weigh 2 UTF-16 units and are never cut."""
    parts: list[str] = []
    start = 0
    used = 0
    for i, ch in enumerate(text):
        width = 2 if ch > "\uffff" else 1
        if used + width > capacity:
            parts.append(text[start:i])
            start = i
            used = 0
        used += width
    parts.append(text[start:])
    return tuple(parts)


def _ucs2(text: str, chars: int, scheme: Scheme) -> Segmentation:
    data = text.encode("utf-16-be")
    units = len(data) >> 1
    if units <= 70:
        return Segmentation(text, scheme, Encoding.UCS2, chars, (text,), (data,))
    if units == len(text):  # BMP only: parts cut at fixed offsets in both forms
        parts = _split_fixed(text, 67)
        payloads = tuple(data[i : i + 134] for i in range(0, len(data), 134))
    else:
        parts = _split_astral(text, 67)
        payloads = tuple(p.encode("utf-16-be") for p in parts)
    return Segmentation(text, scheme, Encoding.UCS2, chars, parts, payloads)


def _gsm7(text: str, data: bytes) -> Segmentation:
    septets = len(data)
    if septets <= 160:
        return Segmentation(text, Scheme.GSM, Encoding.GSM7, len(text), (text,), (data,))
    if septets == len(text):  # no extension characters
        parts = _split_fixed(text, 153)
        payloads = tuple(data[i : i + 153] for i in range(0, septets, 153))
    else:
        parts, payloads = _split_septets(text, data)
    return Segmentation(text, Scheme.GSM, Encoding.GSM7, len(text), parts, payloads)


def _split_septets(text: str, data: bytes) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """Cut encoded GSM-7 at 153 septets, one earlier where the cut would separate an escape from
    its code. 0x1B only ever appears as an escape, so the bytes alone say where characters are."""
    parts: list[str] = []
    payloads: list[bytes] = []
    pos = char_pos = 0
    end = len(data)
    while pos < end:
        cut = pos + 153
        if cut >= end:
            cut = end
        elif data[cut - 1] == 0x1B:
            cut -= 1
        chars = cut - pos - data.count(b"\x1b", pos, cut)
        payloads.append(data[pos:cut])
        parts.append(text[char_pos : char_pos + chars])
        pos = cut
        char_pos += chars
    return tuple(parts), tuple(payloads)


def refuse_nul(text: str, code: ErrorCode) -> None:
    """Raise SmsError(`code`) naming where a NUL is in a text that messages are made of: a
    composed message (1059, at segmentation), a template's text or a signature's name (refused
    when made, not at every send)."""
    nul = text.find("\x00")
    if nul >= 0:
        raise SmsError(code, f"a NUL character (U+0000) at character {nul + 1}, which no message may hold")


def segment(text: str, scheme: Scheme, *, max_chars: int = DEFAULT_MAX_CHARS) -> Segmentation:
    """Split `text` (signature already composed) into parts per the scheme's counting rule.

    Raises SmsError(CONTENT_TOO_LONG) above `max_chars` characters, CONTENT_EMPTY for no text,
    CONTENT_INVALID_CHARACTER for a NUL anywhere in it; the text is never truncated."""
    chars = len(text)
    if chars > max_chars:
        raise SmsError(ErrorCode.CONTENT_TOO_LONG, f"{chars} characters, at most {max_chars}")
    if chars == 0:
        raise SmsError(ErrorCode.CONTENT_EMPTY)
    # Every composed text (a send, a task's row, the console's preview) passes here, so this is
    # where a NUL is refused: one accepted would be sent whole and stored or exported cut (the
    # store's per-row json_each batches and the CSV export's printf end a text at a NUL). Other
    # control characters are kept as they come (on the wire they go as UCS-2, never GSM-7's ESC).
    refuse_nul(text, ErrorCode.CONTENT_INVALID_CHARACTER)
    if scheme is Scheme.GSM:
        data = gsm7.try_encode(text)
        if data is not None:
            return _gsm7(text, data)
    # Domestic counting is "every character counts 1"; a character outside the BMP still takes
    # two UCS-2 code units on the wire, so it counts 2 here too or the part would not fit 140 bytes.
    return _ucs2(text, chars, scheme)


def segments_for(text: str, scheme: Scheme) -> int:
    """Segment count alone: the closed formula where one exists, the greedy walk otherwise."""
    if scheme is Scheme.GSM:
        data = gsm7.try_encode(text)
        if data is not None:
            septets = len(data)
            if septets <= 160:
                return 1
            if septets != len(text):
                return len(_split_septets(text, data)[1])
            return -(-septets // 153)
    units = len(text.encode("utf-16-le")) >> 1
    if units <= 70:
        return 1
    if units != len(text):
        return len(_split_astral(text, 67))
    return -(-units // 67)
