"""Delivery receipt text (`id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`): parse, format, classify."""

from __future__ import annotations

import enum
import re
from datetime import datetime

import msgspec

from smsengine.smpp.constants import MessageState


class Receipt(msgspec.Struct, frozen=True, gc=False):
    """The fields of a receipt as the carrier wrote them; a missing field is ""."""

    id: str = ""
    sub: str = ""
    dlvrd: str = ""
    submit_date: str = ""
    done_date: str = ""
    stat: str = ""
    err: str = ""
    text: str = ""

    @property
    def outcome(self) -> Outcome:
        return stat_outcome(self.stat)

    def submit_datetime(self) -> datetime | None:
        return parse_receipt_date(self.submit_date)

    def done_datetime(self) -> datetime | None:
        return parse_receipt_date(self.done_date)


class Outcome(enum.Enum):
    """What a receipt means for the message: final (delivered / failed / expired) or not yet."""

    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    PENDING = "pending"

    @property
    def is_final(self) -> bool:
        return self is not Outcome.PENDING


# Short (SMPP 3.4 appendix B) and long forms; long forms are what some carriers write instead.
_STAT_OUTCOMES: dict[str, Outcome] = {
    "DELIVRD": Outcome.DELIVERED,
    "DELIVERED": Outcome.DELIVERED,
    "EXPIRED": Outcome.EXPIRED,
    "DELETED": Outcome.FAILED,
    "UNDELIV": Outcome.FAILED,
    "UNDELIVERABLE": Outcome.FAILED,
    "UNDELIVERED": Outcome.FAILED,
    "REJECTD": Outcome.FAILED,
    "REJECTED": Outcome.FAILED,
    "UNKNOWN": Outcome.FAILED,
    "FAILED": Outcome.FAILED,
    "ENROUTE": Outcome.PENDING,
    "ACCEPTD": Outcome.PENDING,
    "ACCEPTED": Outcome.PENDING,
}

STAT_FOR_STATE: dict[MessageState, str] = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}

STATE_FOR_STAT: dict[str, MessageState] = {
    **{stat: state for state, stat in STAT_FOR_STATE.items()},
    "DELIVERED": MessageState.DELIVERED,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "UNDELIVERED": MessageState.UNDELIVERABLE,
    "REJECTED": MessageState.REJECTED,
    "ACCEPTED": MessageState.ACCEPTED,
}


def stat_outcome(stat: str, unknown: Outcome = Outcome.FAILED) -> Outcome:
    """The outcome a stat names; one no table knows gives `unknown`."""
    return _STAT_OUTCOMES.get(stat.upper(), unknown)


def message_state_outcome(state: int) -> Outcome:
    """The outcome of a message_state TLV value; values outside SMPP 3.4 count as failed."""
    stat = STAT_FOR_STATE.get(state)  # type: ignore[call-overload]
    return _STAT_OUTCOMES[stat] if stat is not None else Outcome.FAILED


_KEYS = {
    "id": "id",
    "sub": "sub",
    "dlvrd": "dlvrd",
    "submit_date": "submit_date",
    "done_date": "done_date",
    "submitdate": "submit_date",
    "donedate": "done_date",
    "stat": "stat",
    "err": "err",
}
_DATE_PREFIXES = {"submit", "done"}


def _text_start(lowered: str) -> int:
    """Where the `text:` key starts (at a word boundary), or -1."""
    at = lowered.find("text:")
    while at > 0 and not lowered[at - 1].isspace():
        at = lowered.find("text:", at + 1)
    return at


# The standard layout in any key case: one regex match is three times faster than the token scan.
_STANDARD = re.compile(
    r"id:(\S*) +sub:(\S*) +dlvrd:(\S*) +submit[ _]?date:(\S*) +done[ _]?date:(\S*)"
    r" +stat:(\S*) +err:(\S*)(?: +text:(.*))?",
    re.IGNORECASE | re.DOTALL,
)


def receipt_status(text: str) -> tuple[str, str, str] | None:
    """(id, stat, err) of a receipt in the standard layout, exactly as `parse_receipt` reads them,
    without building the Receipt: what a gateway acts on, per receipt on its hot path. None for any
    other layout (parse_receipt's scanner reads those)."""
    match = _STANDARD.fullmatch(text)
    if match is None:
        return None
    message_id, stat, err = match.group(1, 6, 7)
    return message_id, stat.upper(), err


def parse_receipt(text: str) -> Receipt:
    """Parse a receipt leniently: any key case, 10- or 12-digit dates, missing or extra fields.

    Everything after `text:` is the text, even if it looks like more fields; unknown vendor fields
    before it are skipped.
    """
    match = _STANDARD.fullmatch(text)
    if match is None:
        return scan_receipt(text)
    message_id, sub, dlvrd, submit_date, done_date, stat, err, body = match.groups()
    return Receipt(message_id, sub, dlvrd, submit_date, done_date, stat.upper(), err, body or "")


def scan_receipt(text: str) -> Receipt:
    """The general parser behind `parse_receipt`, for layouts the standard pattern does not fit."""
    at = _text_start(text.lower())
    if at >= 0:
        head, body = text[:at], text[at + 5 :]
    else:
        head, body = text, ""
    fields: dict[str, str] = {}
    prefix = ""
    waiting = ""  # a key written as "id: 123", whose value came as the next token
    for token in head.split():
        key, colon, value = token.partition(":")
        if not colon:
            lowered = token.lower()
            if lowered in _DATE_PREFIXES:
                prefix = lowered + "_"
            elif waiting:
                fields.setdefault(waiting, token)
                waiting = ""
            continue
        name = _KEYS.get(prefix + key.lower())
        prefix = ""
        if name is None:
            waiting = ""
            continue
        if value:
            fields.setdefault(name, value)
            waiting = ""
        else:
            waiting = name
    return Receipt(
        fields.get("id", ""),
        fields.get("sub", ""),
        fields.get("dlvrd", ""),
        fields.get("submit_date", ""),
        fields.get("done_date", ""),
        fields.get("stat", "").upper(),
        fields.get("err", ""),
        body,
    )


def parse_receipt_date(value: str) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss as 20YY (naive, in the carrier's clock); None when it is not a date."""
    if len(value) not in (10, 12) or not (value.isascii() and value.isdigit()):
        return None
    second = int(value[10:12]) if len(value) == 12 else 0
    try:
        return datetime(
            2000 + int(value[0:2]), int(value[2:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]), second
        )
    except ValueError:
        return None


def format_receipt_date(moment: datetime, *, seconds: bool = False) -> str:
    return moment.strftime("%y%m%d%H%M%S" if seconds else "%y%m%d%H%M")


def format_receipt(
    message_id: str,
    stat: str,
    submit_date: datetime,
    done_date: datetime,
    *,
    err: int | str = 0,
    text: str = "",
    submitted: int = 1,
    delivered: int | None = None,
    seconds: bool = False,
) -> str:
    """The SMPP 3.4 appendix B text; `text` is cut to its first 20 characters as the appendix says."""
    if delivered is None:
        delivered = submitted if stat_outcome(stat) is Outcome.DELIVERED else 0
    err_text = f"{err:03d}" if isinstance(err, int) else err
    return (
        f"id:{message_id} sub:{submitted:03d} dlvrd:{delivered:03d}"
        f" submit date:{format_receipt_date(submit_date, seconds=seconds)}"
        f" done date:{format_receipt_date(done_date, seconds=seconds)}"
        f" stat:{stat} err:{err_text} text:{text[:20]}"
    )
