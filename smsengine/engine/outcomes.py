"""How carrier answers become message outcomes: submit statuses and receipt stats, with remarks."""

from __future__ import annotations

import enum

from smsengine.domain.errors import ErrorCode
from smsengine.engine.records import MessageStatus
from smsengine.smpp.constants import CommandStatus, status_name
from smsengine.smpp.receipt import Outcome, stat_outcome


class SubmitVerdict(enum.Enum):
    OK = "ok"
    THROTTLED = "throttled"  # pause the bind, resend this PDU first
    TRANSIENT = "transient"  # retry with backoff, then 60008
    PERMANENT = "permanent"  # fail the message at once


_TRANSIENT = frozenset(
    {
        CommandStatus.ESME_RMSGQFUL,
        CommandStatus.ESME_RSYSERR,
        CommandStatus.ESME_RSUBMITFAIL,
        CommandStatus.ESME_RX_T_APPN,
        CommandStatus.ESME_RUNKNOWNERR,
    }
)


def submit_verdict(status: int, throttle: frozenset[int] = frozenset(),
                   transient: frozenset[int] = frozenset()) -> SubmitVerdict:
    """What a submit_sm_resp status means; `throttle` and `transient` add a carrier's own codes."""
    if status == 0:
        return SubmitVerdict.OK
    if status == CommandStatus.ESME_RTHROTTLED or status in throttle:
        return SubmitVerdict.THROTTLED
    if status in _TRANSIENT or status in transient:
        return SubmitVerdict.TRANSIENT
    return SubmitVerdict.PERMANENT


def submit_remark(status: int) -> str:
    return f"submit_sm_resp {status_name(status)} ({status:#x})"


_OUTCOME: dict[Outcome, tuple[MessageStatus, ErrorCode]] = {
    Outcome.DELIVERED: (MessageStatus.DELIVERED, ErrorCode.OK),
    Outcome.EXPIRED: (MessageStatus.EXPIRED, ErrorCode.CARRIER_EXPIRED),
    Outcome.FAILED: (MessageStatus.FAILED, ErrorCode.CARRIER_UNDELIVERED),
}

# What the err field means: the codes the simulators shipped here write (carriers/fates.py),
# which follow common SMSC practice; other carriers' codes still appear verbatim in the remark.
ERR_REASONS: dict[str, str] = {
    "000": "no error",
    "001": "unknown or empty number",
    "011": "blocked by the carrier",
    "013": "out of service or no credit",
    "020": "inbox full",
    "027": "validity period expired (handset off)",
    "069": "content rejected: sensitive words",
}


def _classify(stat: str) -> tuple[MessageStatus, ErrorCode] | None:
    # a stat no table knows is not taken for a failure: the message waits for a receipt it
    # understands, or for its deadline (dispatcher.expire_overdue), which ends it `expired`
    outcome = stat_outcome(stat, Outcome.PENDING)
    if not outcome.is_final:
        return None
    if stat.upper().startswith("REJECT"):
        return MessageStatus.FAILED, ErrorCode.CARRIER_REJECTED
    return _OUTCOME.get(outcome, (MessageStatus.FAILED, ErrorCode.CARRIER_UNDELIVERED))


# Carriers use a handful of stats and err codes: classify and word each pair once (bounded).
_STAT_MEMO: dict[str, tuple[MessageStatus, ErrorCode] | None] = {}
_REMARK_MEMO: dict[tuple[str, str], str] = {}
_MEMO_LIMIT = 4096


def final_outcome(stat: str) -> tuple[MessageStatus, ErrorCode] | None:
    """(status, code) for a final receipt stat; None while the message is still on its way."""
    try:
        return _STAT_MEMO[stat]
    except KeyError:
        result = _classify(stat)
        if len(_STAT_MEMO) < _MEMO_LIMIT:
            _STAT_MEMO[stat] = result
        return result


def is_final_stat(stat: str) -> bool:
    return final_outcome(stat) is not None


def message_outcome(stat: str) -> tuple[MessageStatus, ErrorCode]:
    return final_outcome(stat) or (MessageStatus.FAILED, ErrorCode.CARRIER_UNDELIVERED)


def receipt_remark(stat: str, err: str) -> str:
    key = (stat, err)
    remark = _REMARK_MEMO.get(key)
    if remark is None:
        reason = ERR_REASONS.get(err)
        remark = f"{stat} err:{err}" + (f" ({reason})" if reason else "")
        if len(_REMARK_MEMO) < _MEMO_LIMIT:
            _REMARK_MEMO[key] = remark
    return remark


def combine(results: list[tuple[str, str]]) -> tuple[MessageStatus, ErrorCode, str]:
    """The message outcome from its segments' (stat, err): delivered only if every part was;
    otherwise the first failing part decides, an expiry only when no part failed outright."""
    worst: tuple[MessageStatus, ErrorCode, str] | None = None
    for stat, err in results:
        status, code = message_outcome(stat)
        if status is MessageStatus.DELIVERED:
            continue
        if worst is None or (worst[0] is MessageStatus.EXPIRED and status is MessageStatus.FAILED):
            worst = (status, code, receipt_remark(stat, err))
    if worst is None:
        stat, err = results[0]
        return MessageStatus.DELIVERED, ErrorCode.OK, receipt_remark(stat, err)
    return worst
