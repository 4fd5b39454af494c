"""Content rules the platform applies before anything is charged: sensitive words in what is
sent (SPEC §8a: error 1002) and signature names too neutral to tell a sender by."""

from __future__ import annotations

import re
from collections.abc import Iterable

from smsengine.domain.errors import ErrorCode, SmsError

# Names that say nothing about who sends (the seeds: "test", "aabb", "verification code",
# "notification"...): a recipient could not tell one sender from another by them.
DEFAULT_NEUTRAL_NAMES = (
    "test", "testing", "aabb", "abc", "sms", "message", "notification", "notice", "verification code",
    "verify", "system", "service", "测试", "验证码", "通知", "短信", "系统", "消息", "提醒", "服务",
)


class SensitiveWords:
    """A fixed list of words, matched anywhere in a text, case-insensitively, in one regex pass
    (one search per request: the text is the same for all its numbers)."""

    __slots__ = ("_pattern",)

    def __init__(self, words: Iterable[str]) -> None:
        # longest first, so a word is reported whole where a shorter one is inside it; matched
        # with IGNORECASE as written (casefolding would turn "ß" into "ss" and miss it)
        words = sorted({w for w in words if w.strip()}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, words)), re.IGNORECASE) if words else None

    def find(self, text: str) -> str | None:
        """The first sensitive word in `text`, or None."""
        if self._pattern is None:
            return None
        match = self._pattern.search(text)
        return match.group(0) if match else None

    def check(self, text: str) -> None:
        """Raise SENSITIVE_CONTENT (1002) naming the word when `text` has one."""
        word = self.find(text)
        if word is not None:
            raise SmsError(ErrorCode.SENSITIVE_CONTENT, f"contains {word!r}")


def neutral_names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(" ".join(n.split()).casefold() for n in names)


def check_not_neutral(name: str, neutral: frozenset[str]) -> None:
    """Raise SIGNATURE_INVALID for a name on the neutral list (compared case- and
    space-insensitively) or, from four characters on, made of at most two distinct ASCII
    characters repeated ("aabb", "1111", "abab"; short brand names such as "HP" or "3M" pass)."""
    folded = " ".join(name.split()).casefold()
    letters = folded.replace(" ", "")
    if folded in neutral or (len(letters) >= 4 and len(set(letters)) <= 2 and letters.isascii()):
        raise SmsError(ErrorCode.SIGNATURE_INVALID, f"{name!r} is too neutral to identify a sender")
