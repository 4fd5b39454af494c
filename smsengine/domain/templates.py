"""Message templates: placeholder parsing, validation, fast rendering, review lifecycle, use checks."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from typing import Annotated

import msgspec

from smsengine.domain.accounts import AccountType
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.numbers import Region
from smsengine.domain.review import ReviewStatus, decide, ensure_editable
from smsengine.domain.text import refuse_nul

DEFAULT_MAX_TEMPLATE_LENGTH = 500
DEFAULT_MAX_PARAM_LENGTH = 12
DEFAULT_TEMPLATE_CAP = 200

TemplateStatus = ReviewStatus
# template ids are stored as signed 64-bit integers
TemplateId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class MessageType(enum.StrEnum):
    REGULAR = "regular"  # notifications and verification codes
    MARKETING = "marketing"


# A template is for mainland (+86) destinations or for every other one: the one region rule
# lives in domain.numbers. (TemplateRegion is kept as the name templates have always used.)
TemplateRegion = Region


class CompiledTemplate(msgspec.Struct, frozen=True):
    """A template parsed once: literal chunks interleaved with 0-based parameter slots.

    `chunks` has one more element than `slots`; the text is
    chunks[0] + params[slots[0]] + chunks[1] + ... . `pattern` is the same layout as a
    str.format string, which renders in C; it is safe because a valid template's literal
    text contains no braces at all.
    """

    text: str
    chunks: tuple[str, ...]
    slots: tuple[int, ...]
    param_count: int
    pattern: str


class Template(msgspec.Struct, frozen=True, kw_only=True):
    """A template record; transitions return a new record, an approved one never changes."""

    id: int
    account: str
    text: str
    type: MessageType
    region: TemplateRegion
    compiled: CompiledTemplate
    status: ReviewStatus = ReviewStatus.PENDING
    remark: str = ""  # the reviewer's reason on rejection
    name: str = ""  # what the account calls it
    note: str = ""  # the applicant's explanation for the reviewer


# Every brace must belong to a placeholder: `{n}` with n a decimal number without a leading
# zero. No escaping exists, as on the real consoles, so a literal brace is simply invalid.
# Numbers stop at 999 so a hostile `{99999…}` never reaches int() limits or costs anything.
_BRACES = re.compile(r"\{([^{}]*)\}|[{}]")
_PLACEHOLDER_NUMBER = re.compile(r"[1-9][0-9]{0,2}")


def parse_template(text: str) -> CompiledTemplate:
    """Parse `{1}`, `{2}`, ... placeholders; the numbers used must be exactly 1..n.

    A number may appear more than once (the same value shown twice, e.g. a code in two
    languages) and in any order (translations reorder); the parameter count is n.
    Raises SmsError(TEMPLATE_INVALID) and nothing else.
    """
    chunks: list[str] = []
    slots: list[int] = []
    start = 0
    for match in _BRACES.finditer(text):
        inner = match.group(1)
        if inner is None:
            raise SmsError(ErrorCode.TEMPLATE_INVALID, f"unbalanced brace at {match.start()}")
        if _PLACEHOLDER_NUMBER.fullmatch(inner) is None:
            raise SmsError(ErrorCode.TEMPLATE_INVALID, f"bad placeholder {match.group(0)!r}")
        chunks.append(text[start : match.start()])
        slots.append(int(inner) - 1)
        start = match.end()
    chunks.append(text[start:])

    used = set(slots)
    param_count = len(used)
    # All slots are >= 0, so "count of distinct == max + 1" means exactly 0..n-1.
    if used and max(used) + 1 != param_count:
        missing = sorted(set(range(1, max(used) + 2)) - {s + 1 for s in used})
        raise SmsError(ErrorCode.TEMPLATE_INVALID, f"placeholders not consecutive, missing {missing}")
    if not any(ch.isalpha() for chunk in chunks for ch in chunk):
        raise SmsError(ErrorCode.TEMPLATE_INVALID, "template has no text besides placeholders")

    pattern = chunks[0] + "".join(f"{{{slot}}}{chunk}" for slot, chunk in zip(slots, chunks[1:]))
    return CompiledTemplate(text, tuple(chunks), tuple(slots), param_count, pattern)


# Unsubscribe instructions accepted in marketing templates (case-insensitive):
#   Chinese  回T退订, 回复TD退订, 回复R拒收, 退订回T, 退订请回复TD, 拒收请回复R
#   English  reply TD to unsubscribe, STOP to opt out, Text STOP to opt-out,
#            To unsubscribe, reply TD / Opt out: text STOP
# with the keyword one of T, TD, N, R, QX, 0000, STOP, UNSUBSCRIBE, optionally quoted.
_KEYWORD = r"[\"'“‘「]?(?:unsubscribe|stop|td|qx|0000|t|n|r)[\"'”’」]?(?![a-z0-9])"
_UNSUBSCRIBE = re.compile(
    "|".join(
        (
            rf"回复?\s*{_KEYWORD}\s*(?:即可)?\s*(?:退订|拒收|退出)",
            rf"(?:退订|拒收)\s*请?\s*回复?\s*{_KEYWORD}",
            rf"(?<![a-z0-9]){_KEYWORD}\s+to\s+(?:unsubscribe|opt[\s-]*out|stop)",
            rf"(?:unsubscribe|opt[\s-]*out)\s*[,:：，]?\s*(?:reply|text|send|txt)\s+(?:with\s+)?{_KEYWORD}",
        )
    ),
    re.IGNORECASE,
)


def has_unsubscribe_instruction(text: str) -> bool:
    return _UNSUBSCRIBE.search(text) is not None


def validate_template(
    text: str,
    message_type: MessageType,
    region: TemplateRegion,
    *,
    max_length: int = DEFAULT_MAX_TEMPLATE_LENGTH,
) -> CompiledTemplate:
    """Check a submitted template and return its compiled form, or raise TEMPLATE_INVALID."""
    if not text.strip():
        raise SmsError(ErrorCode.TEMPLATE_INVALID, "empty template")
    if len(text) > max_length:
        raise SmsError(ErrorCode.TEMPLATE_INVALID, f"{len(text)} characters, at most {max_length}")
    refuse_nul(text, ErrorCode.TEMPLATE_INVALID)
    compiled = parse_template(text)
    # The platform prepends 【signature】 to mainland traffic; brackets in the body would let
    # a template impersonate another sender.
    if region is TemplateRegion.MAINLAND and ("【" in text or "】" in text):
        raise SmsError(ErrorCode.TEMPLATE_INVALID, "【】 belong to the signature, not the template")
    if message_type is MessageType.MARKETING and not has_unsubscribe_instruction(text):
        raise SmsError(ErrorCode.TEMPLATE_INVALID, "marketing template without unsubscribe instruction")
    return compiled


# URL detection in parameters. Links belong in reviewed template text, so anything that a
# phone would turn into a link is refused: a scheme (`://`), `www.`, a host name followed by
# a path or port, a host name ending in a TLD commonly used for links, an IPv4 address with a
# path or port. Decimals (3.5), version numbers, codes and e-mail addresses are not links.
# Full-width and ideographic dots count as dots because spammers use them to dodge filters.
_DOT = "[.。．｡]"
# Possessive label repetition: no backtracking inside a label, so a long run of letters
# before a dot costs one pass, not one pass per letter.
_HOST = rf"(?<![a-z0-9@.。．｡-])(?:[a-z0-9][a-z0-9-]*+{_DOT})+"
_LINK_TLDS = (
    "com|net|org|edu|gov|info|biz|xyz|top|vip|club|shop|site|online|store|app|dev|tech|link"
    "|live|cloud|io|ai|co|cc|me|tv|ly|gl|cn|hk|tk|ml|ga|cf|ru"
)
_PORT = r":\d{1,5}(?!\d)"
_URL = re.compile(
    "|".join(
        (
            rf"(?<![a-z0-9])www{_DOT}",
            rf"{_HOST}(?:[a-z]{{2,24}}(?:{_PORT})?/|[a-z]{{2,24}}{_PORT}|(?:{_LINK_TLDS})(?![a-z0-9-]))",
            rf"(?<![0-9.])(?:\d{{1,3}}\.){{3}}\d{{1,3}}(?:{_PORT}|/)",
        )
    )
)


def looks_like_url(value: str) -> bool:
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)  # ｗｗｗ．→ www. and ：→ :
    # Hot path: codes and names have no dot or colon and skip the regex.
    if "." not in value and ":" not in value and "。" not in value:
        return False
    return "://" in value or _URL.search(value.lower()) is not None


def _as_param(value: object) -> str:
    # bool is an int subclass, but True is not a parameter anyone meant to send.
    if type(value) is int:
        return str(value)
    raise SmsError(ErrorCode.REQUEST_MALFORMED, f"parameter of type {type(value).__name__}")


def render(
    compiled: CompiledTemplate,
    params: Sequence[str | int],
    *,
    account_type: AccountType,
    max_param_len: int = DEFAULT_MAX_PARAM_LENGTH,
) -> str:
    """Substitute parameters; the count must match exactly, no parameter may carry a URL,
    and an individual account's parameters are at most `max_param_len` characters.
    """
    if len(params) != compiled.param_count:
        raise SmsError(
            ErrorCode.TEMPLATE_MISMATCH,
            f"template takes {compiled.param_count} parameters, got {len(params)}",
        )
    values = [p if type(p) is str else _as_param(p) for p in params]
    individual = account_type is AccountType.INDIVIDUAL
    for position, value in enumerate(values, 1):
        if looks_like_url(value):
            raise SmsError(ErrorCode.PARAM_HAS_URL, f"parameter {position}")
        if individual and len(value) > max_param_len:
            raise SmsError(ErrorCode.PARAM_TOO_LONG, f"parameter {position} has {len(value)} characters")
    return compiled.pattern.format(*values)


def region_for_number(e164: str) -> TemplateRegion:
    """The template region a normalised (E.164) destination belongs to."""
    return TemplateRegion.MAINLAND if e164.startswith("+86") else TemplateRegion.INTERNATIONAL


def check_template_use(
    template: Template,
    request_type: MessageType,
    destination_region: TemplateRegion,
    account_type: AccountType,
) -> None:
    """Raise unless this account may send this request with this template to this region.

    The account-level ban comes first: an individual asking for marketing learns why at
    once, whatever template it named. A region mismatch is TEMPLATE_MISMATCH (the request
    does not match the approved template); REGION_UNSUPPORTED is left for destinations the
    platform cannot reach at all.
    """
    if account_type is AccountType.INDIVIDUAL and MessageType.MARKETING in (request_type, template.type):
        raise SmsError(ErrorCode.INDIVIDUAL_NO_MARKETING)
    if template.status is not ReviewStatus.APPROVED:
        raise SmsError(ErrorCode.TEMPLATE_MISMATCH, f"template {template.id} is {template.status}")
    if template.type is not request_type:
        raise SmsError(
            ErrorCode.TEMPLATE_MISMATCH, f"template is {template.type}, request is {request_type}"
        )
    if template.region is not destination_region:
        raise SmsError(
            ErrorCode.TEMPLATE_MISMATCH, f"{template.region} template to a {destination_region} number"
        )


def check_template_quota(existing_count: int, cap: int = DEFAULT_TEMPLATE_CAP) -> None:
    """Raise if an account that already has `existing_count` templates may not add one."""
    if existing_count >= cap:
        raise SmsError(ErrorCode.TEMPLATE_LIMIT, f"{existing_count} of {cap}")


def new_template(
    id: int,
    account: str,
    text: str,
    message_type: MessageType,
    region: TemplateRegion,
    *,
    max_length: int = DEFAULT_MAX_TEMPLATE_LENGTH,
) -> Template:
    """A validated template, submitted for review."""
    compiled = validate_template(text, message_type, region, max_length=max_length)
    return Template(
        id=id, account=account, text=text, type=message_type, region=region, compiled=compiled
    )


def approve_template(template: Template) -> Template:
    status = decide(template.status, approve=True)
    return msgspec.structs.replace(template, status=status, remark="")


def reject_template(template: Template, remark: str = "") -> Template:
    status = decide(template.status, approve=False)
    return msgspec.structs.replace(template, status=status, remark=remark)


def edit_template(
    template: Template, text: str, *, max_length: int = DEFAULT_MAX_TEMPLATE_LENGTH
) -> Template:
    """A pending or rejected template with new text, (re)submitted for review."""
    ensure_editable(template.status)
    compiled = validate_template(text, template.type, template.region, max_length=max_length)
    return msgspec.structs.replace(
        template, text=text, compiled=compiled, status=ReviewStatus.PENDING, remark=""
    )
