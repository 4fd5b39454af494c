"""The GSM 03.38 7-bit default alphabet: membership, septet counting, unpacked encode/decode."""

from __future__ import annotations

import re

# Index = septet value. 0x1B is the escape to the extension table, never a character itself.
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(BASIC) == 128

ESCAPE = 0x1B
# Extension characters take two septets: ESC + code. They must never be split across parts.
EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
EXTENSION_CHARS = frozenset(EXTENSION)

_DECODE_BASIC = {i: c for i, c in enumerate(BASIC) if i != ESCAPE}
_DECODE_EXTENSION = {code: char for char, code in EXTENSION.items()}

_alphabet = "".join(c for i, c in enumerate(BASIC) if i != ESCAPE) + "".join(EXTENSION)
# One C-level scan answers "is this text GSM-7?"; a second counts the two-septet characters.
_NOT_GSM = re.compile("[^" + re.escape(_alphabet) + "]")
_EXTENSION_RE = re.compile("[" + re.escape("".join(EXTENSION)) + "]")


_ENCODE_TABLE: dict[int, str] = {}
for _septet, _char in enumerate(BASIC):
    if _septet != ESCAPE:
        _ENCODE_TABLE[ord(_char)] = chr(_septet)
for _char, _code in EXTENSION.items():
    _ENCODE_TABLE[ord(_char)] = chr(ESCAPE) + chr(_code)

# ASCII characters whose septet differs from their ASCII code, or that GSM-7 lacks. Plain ASCII
# text without them (most traffic) encodes as itself, at C speed.
_ASCII_SPECIAL = re.compile(r"[@$_^{}\\\[~\]|`\x00-\x09\x0b-\x0c\x0e-\x1f\x7f]")
_ASCII_MISSING = re.compile(r"[`\x00-\x09\x0b\x0e-\x1f\x7f]")
_ASCII_REMAP = bytes.maketrans(b"@$_", bytes((0x00, 0x02, 0x11)))
# applied after _ASCII_REMAP, so the escape codes they produce (0x40 for '|') stay as they are
_ASCII_EXTENSION = tuple(
    (char.encode("ascii"), bytes((ESCAPE, code))) for char, code in EXTENSION.items() if char.isascii()
)


def try_encode(text: str) -> bytes | None:
    """Unpacked septets, or None when the text is not GSM-7. len(result) is the septet count."""
    if text.isascii():
        if _ASCII_SPECIAL.search(text) is None:
            return text.encode("ascii")
        if _ASCII_MISSING.search(text) is not None:
            return None
        data = text.encode("ascii").translate(_ASCII_REMAP)
        for char, escaped in _ASCII_EXTENSION:
            if char in data:
                data = data.replace(char, escaped)
        return data
    if _NOT_GSM.search(text) is not None:
        return None
    return text.translate(_ENCODE_TABLE).encode("latin-1")


def is_gsm7(text: str) -> bool:
    return _NOT_GSM.search(text) is None


def extension_count(text: str) -> int:
    return len(_EXTENSION_RE.findall(text))


def septet_length(text: str) -> int:
    """Septets the text occupies; assumes is_gsm7(text)."""
    return len(text) + extension_count(text)


def encode(text: str) -> bytes:
    """Unpacked septets, one per byte, as SMPP carriers expect for data_coding 0."""
    data = try_encode(text)
    if data is None:
        raise ValueError("text is not in the GSM 03.38 default alphabet")
    return data


def decode(data: bytes) -> str:
    """Inverse of encode; an escape before an unknown code decodes as the basic character (03.38)."""
    out: list[str] = []
    escaped = False
    for septet in data:
        septet &= 0x7F
        if escaped:
            escaped = False
            char = _DECODE_EXTENSION.get(septet)
            out.append(char if char is not None else _DECODE_BASIC.get(septet, " "))
        elif septet == ESCAPE:
            escaped = True
        else:
            out.append(_DECODE_BASIC[septet])
    return "".join(out)
