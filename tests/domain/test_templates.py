"""Tests for template parsing, validation, rendering, use checks and lifecycle (SPEC §3)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.domain.accounts import AccountType
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.review import ReviewStatus
from smsengine.domain.templates import (
    MessageType,
    Template,
    TemplateRegion,
    TemplateStatus,
    approve_template,
    check_template_quota,
    check_template_use,
    edit_template,
    has_unsubscribe_instruction,
    looks_like_url,
    new_template,
    parse_template,
    region_for_number,
    reject_template,
    render,
    validate_template,
)

IND = AccountType.INDIVIDUAL
ORG = AccountType.ORGANISATION
REGULAR = MessageType.REGULAR
MARKETING = MessageType.MARKETING
MAINLAND = TemplateRegion.MAINLAND
INTL = TemplateRegion.INTERNATIONAL
VERIFY = "Your verification code is {1}, valid for {2} minutes."
PROPS = settings(max_examples=300, deadline=None)


def code_of(call, *args, **kwargs) -> ErrorCode:
    with pytest.raises(SmsError) as info:
        call(*args, **kwargs)
    return info.value.code


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "slots"),
    [
        (VERIFY, 2, (0, 1)),
        ("验证码{1}，{2}分钟内有效", 2, (0, 1)),
        ("No placeholders at all", 0, ()),
        ("{1} is your code", 1, (0,)),
        ("Code {1}. 验证码 {1}", 1, (0, 0)),  # reuse of a number is allowed
        ("{2} then {1}", 2, (1, 0)),  # any order, as long as 1..n are all present
        ("x{10}{9}{8}{7}{6}{5}{4}{3}{2}{1}", 10, (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)),
    ],
)
def test_parse_accepts(text: str, count: int, slots: tuple[int, ...]) -> None:
    compiled = parse_template(text)
    assert compiled.param_count == count
    assert compiled.slots == slots
    assert len(compiled.chunks) == len(slots) + 1
    assert compiled.text == text


@pytest.mark.parametrize(
    "text",
    [
        "{1}{2}",  # only placeholders
        "{1}",
        "{1}: {2}!",  # placeholders and punctuation are still no text
        "   ",
        "",
        "Code {0}",  # numbering starts at 1
        "Code {a}",
        "Code {1",  # unbalanced
        "Code 1}",
        "Code {{1}}",
        "Code { 1 }",
        "Code {01}",  # leading zero
        "Code {-1}",
        "Code {}",
        "Code {2}",  # 1 missing
        "Code {1} and {3}",  # 2 missing
        "Code {1000}",  # beyond the supported numbers
        "Code {" + "9" * 5000 + "}",  # must not reach int() digit limits
    ],
)
def test_parse_rejects(text: str) -> None:
    assert code_of(parse_template, text) is ErrorCode.TEMPLATE_INVALID


_LITERAL = st.text(
    alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=15
)


@st.composite
def valid_templates(draw: st.DrawFn) -> tuple[str, int]:
    """A valid template text and its parameter count, with reuse and reordering."""
    count = draw(st.integers(0, 6))
    numbers = list(range(1, count + 1))
    if count:
        numbers += draw(st.lists(st.integers(1, count), max_size=3))
    numbers = draw(st.permutations(numbers))
    chunks = draw(st.lists(_LITERAL, min_size=len(numbers) + 1, max_size=len(numbers) + 1))
    anchor = draw(st.integers(0, len(chunks) - 1))
    chunks[anchor] += draw(st.sampled_from(["a", "码", "Zé", "Ω"]))
    text = chunks[0] + "".join(f"{{{n}}}{chunk}" for n, chunk in zip(numbers, chunks[1:]))
    return text, count


@PROPS
@given(valid_templates())
def test_valid_templates_parse_with_their_placeholder_count(case: tuple[str, int]) -> None:
    text, count = case
    compiled = parse_template(text)
    assert compiled.param_count == count
    assert {s + 1 for s in compiled.slots} == set(range(1, count + 1))
    assert compiled.text == text


@PROPS
@given(st.one_of(st.text(), st.text(alphabet="{}0123a9 ,", max_size=20)))
def test_parsing_arbitrary_text_raises_only_template_invalid(text: str) -> None:
    try:
        compiled = parse_template(text)
    except SmsError as error:
        assert error.code is ErrorCode.TEMPLATE_INVALID
    else:
        # whatever was accepted has no stray braces and reproduces itself with its own markers
        assert render(compiled, [f"{{{i}}}" for i in range(1, compiled.param_count + 1)],
                      account_type=ORG) == text


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Sale {1}% off! reply TD to unsubscribe",
        "Sale {1}% off! Reply 'STOP' to opt-out",
        "Sale {1}% off! STOP to opt out",
        "Sale {1}% off! Text STOP to unsubscribe",
        "Sale {1}% off! To unsubscribe, reply TD",
        "Sale {1}% off! Opt out: text STOP",
        "大促{1}折，回T退订",
        "大促{1}折，回复TD退订",
        "大促{1}折，退订回T",
        "大促{1}折，拒收请回复R",
        "大促{1}折，退订请回复 QX",
        "大促{1}折，回复0000退订",
        "SALE {1}% OFF! REPLY td TO UNSUBSCRIBE",  # case-insensitive
    ],
)
def test_marketing_with_unsubscribe_instruction_is_valid(text: str) -> None:
    assert validate_template(text, MARKETING, INTL).param_count == 1


@pytest.mark.parametrize(
    "text",
    [
        "Sale {1}% off today only!",
        "大促{1}折，快来抢购",
        "Sale {1}! Submit it to unsubscribe",  # "it" is not the keyword "T"
        "大促{1}，退订回Tom",
        "大促，回{1}退订",  # the keyword may not be a parameter
        "Unsubscribe anytime {1}",
    ],
)
def test_marketing_without_unsubscribe_instruction_is_invalid(text: str) -> None:
    assert not has_unsubscribe_instruction(text)
    assert code_of(validate_template, text, MARKETING, INTL) is ErrorCode.TEMPLATE_INVALID
    # the same text is a fine regular template: the instruction is a marketing rule only
    if "{1}" in text:
        validate_template(text, REGULAR, INTL)


def test_template_length_is_capped_and_configurable() -> None:
    text = "Code {1} " + "x" * 491
    assert len(text) == 500
    validate_template(text, REGULAR, INTL)
    assert code_of(validate_template, text + "x", REGULAR, INTL) is ErrorCode.TEMPLATE_INVALID
    assert code_of(validate_template, text, REGULAR, INTL, max_length=100) is ErrorCode.TEMPLATE_INVALID
    validate_template(text + "x" * 100, REGULAR, INTL, max_length=600)


@pytest.mark.parametrize("text, at", [("\x00", 1), ("Code {1}\x00", 9), ("验证码{1}\x00，5分钟内有效", 7)])
def test_a_nul_anywhere_is_invalid_and_said_where(text: str, at: int) -> None:
    """Every message rendered from it would be refused (1059), so the template is, when it is made."""
    with pytest.raises(SmsError) as err:
        validate_template(text, REGULAR, INTL)
    assert err.value.code is ErrorCode.TEMPLATE_INVALID
    assert err.value.detail == f"a NUL character (U+0000) at character {at}, which no message may hold"


def test_signature_brackets_are_refused_in_mainland_templates_only() -> None:
    text = "【Bank】Your code is {1}"
    assert code_of(validate_template, text, REGULAR, MAINLAND) is ErrorCode.TEMPLATE_INVALID
    assert validate_template(text, REGULAR, INTL).param_count == 1


# --- rendering -----------------------------------------------------------------------------


def test_render_verification_code() -> None:
    compiled = parse_template(VERIFY)
    out = render(compiled, ["1234", "5"], account_type=IND)
    assert out == "Your verification code is 1234, valid for 5 minutes."


def test_render_reused_and_reordered_placeholders() -> None:
    compiled = parse_template("{2}: code {1} / 验证码 {1}")
    assert render(compiled, ["42", "Acme"], account_type=IND) == "Acme: code 42 / 验证码 42"


def test_render_accepts_ints_and_braces_in_values() -> None:
    compiled = parse_template(VERIFY)
    assert render(compiled, [1234, "{0}"], account_type=IND) == (
        "Your verification code is 1234, valid for {0} minutes."
    )


@pytest.mark.parametrize("bad", [True, 3.5, None, b"12", ["1"]])
def test_render_rejects_non_string_params(bad: object) -> None:
    compiled = parse_template(VERIFY)
    assert code_of(render, compiled, ["1", bad], account_type=ORG) is ErrorCode.REQUEST_MALFORMED


@pytest.mark.parametrize("params", [[], ["1234"], ["1234", "5", "6"]])
def test_wrong_param_count_is_template_mismatch(params: list[str]) -> None:
    compiled = parse_template(VERIFY)
    assert code_of(render, compiled, params, account_type=ORG) is ErrorCode.TEMPLATE_MISMATCH


def test_param_length_limit_applies_to_individuals_only() -> None:
    compiled = parse_template("Hello {1}, welcome")
    twelve, thirteen = "x" * 12, "x" * 13
    assert render(compiled, [twelve], account_type=IND) == f"Hello {twelve}, welcome"
    assert code_of(render, compiled, [thirteen], account_type=IND) is ErrorCode.PARAM_TOO_LONG
    assert render(compiled, [thirteen], account_type=ORG) == f"Hello {thirteen}, welcome"
    assert render(compiled, ["张" * 12], account_type=IND).count("张") == 12  # characters, not bytes
    assert code_of(render, compiled, ["x" * 6], account_type=IND, max_param_len=5) is (
        ErrorCode.PARAM_TOO_LONG
    )


URLS = [
    "http://x.cn",
    "HTTPS://a",
    "ftp://files",
    "www.example.cn",
    "WWW.x.y",
    "ｗｗｗ．abc．com",  # full-width
    "example.com",
    "Example.COM",
    "a.b.io",
    "go.example.org",
    "bit.ly/abc",
    "t.cn/xyz",
    "foo.bar/x",  # any TLD when a path follows
    "foo.bar:8080",
    "1.2.3.4/x",
    "10.0.0.1:80",
    "example。com",  # ideographic full stop
    "请访问example.com",
    "点击x.cn领取",
]
NOT_URLS = [
    "1234",
    "A1B2C3",
    "3.5",
    "99.99",
    "3.5kg",
    "1,234.50",
    "v1.2.3",
    "1.2.3.4",  # a bare dotted quad may be a version number
    "12:30",
    "Mr.Li",
    "Dr.No",
    "e.g.",
    "U.S.A.",
    "a.m./p.m.",
    "john@example.com",  # an e-mail address is not a link
    "Zhang San",
    "张三",
    "",
]


@pytest.mark.parametrize("value", URLS)
def test_url_params_are_refused(value: str) -> None:
    assert looks_like_url(value)
    compiled = parse_template("Hello {1}")
    assert code_of(render, compiled, [value], account_type=ORG) is ErrorCode.PARAM_HAS_URL


@pytest.mark.parametrize("value", NOT_URLS)
def test_non_url_params_are_accepted(value: str) -> None:
    assert not looks_like_url(value)
    assert render(parse_template("Hello {1}"), [value], account_type=ORG) == f"Hello {value}"


def test_url_is_reported_before_length() -> None:
    compiled = parse_template("Hello {1}")
    assert code_of(render, compiled, ["https://example.com/long"], account_type=IND) is (
        ErrorCode.PARAM_HAS_URL
    )


# No dots or colons: these parameters are never URLs, whatever the draw.
_SAFE_PARAM = st.text(alphabet=st.sampled_from("abcXYZ0123456789 张三李_-+%#!?，{}"), max_size=20)


@PROPS
@given(valid_templates(), st.data())
def test_render_equals_manual_substitution(case: tuple[str, int], data: st.DataObject) -> None:
    text, count = case
    params = data.draw(st.lists(_SAFE_PARAM, min_size=count, max_size=count))
    expected = re.sub(r"\{(\d+)\}", lambda m: params[int(m.group(1)) - 1], text)
    assert render(parse_template(text), params, account_type=ORG) == expected


@PROPS
@given(valid_templates(), st.data())
def test_individual_param_limit_property(case: tuple[str, int], data: st.DataObject) -> None:
    text, count = case
    params = data.draw(st.lists(_SAFE_PARAM, min_size=count, max_size=count))
    compiled = parse_template(text)
    if all(len(p) <= 12 for p in params):
        assert render(compiled, params, account_type=IND) == render(compiled, params, account_type=ORG)
    else:
        assert code_of(render, compiled, params, account_type=IND) is ErrorCode.PARAM_TOO_LONG


@PROPS
@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_decimals_and_codes_are_never_urls(whole: int, fraction: int) -> None:
    assert not looks_like_url(f"{whole}.{fraction}")
    assert not looks_like_url(str(whole))
    assert not looks_like_url(f"{whole}.{fraction}元")


@PROPS
@given(st.text(max_size=10), st.text(max_size=10))
def test_anything_with_a_scheme_is_a_url(before: str, after: str) -> None:
    assert looks_like_url(f"{before}://{after}")
    assert looks_like_url(f"{before} www.{after}")


# --- use checks ----------------------------------------------------------------------------


def _template(
    message_type: MessageType = REGULAR,
    region: TemplateRegion = MAINLAND,
    status: ReviewStatus = ReviewStatus.APPROVED,
) -> Template:
    text = "验证码{1}" if message_type is REGULAR else "大促{1}折，回T退订"
    template = new_template(7, "app-1", text, message_type, region)
    if status is ReviewStatus.APPROVED:
        return approve_template(template)
    if status is ReviewStatus.REJECTED:
        return reject_template(template, "unclear purpose")
    return template


@pytest.mark.parametrize(
    ("template", "request_type", "region", "account", "expected"),
    [
        (_template(), REGULAR, MAINLAND, IND, None),
        (_template(region=INTL), REGULAR, INTL, IND, None),
        (_template(MARKETING), MARKETING, MAINLAND, ORG, None),
        (_template(status=ReviewStatus.PENDING), REGULAR, MAINLAND, ORG, ErrorCode.TEMPLATE_MISMATCH),
        (_template(status=ReviewStatus.REJECTED), REGULAR, MAINLAND, ORG, ErrorCode.TEMPLATE_MISMATCH),
        (_template(), MARKETING, MAINLAND, ORG, ErrorCode.TEMPLATE_MISMATCH),  # type mismatch
        (_template(MARKETING), REGULAR, MAINLAND, ORG, ErrorCode.TEMPLATE_MISMATCH),
        (_template(), REGULAR, INTL, ORG, ErrorCode.TEMPLATE_MISMATCH),  # mainland template abroad
        (_template(region=INTL), REGULAR, MAINLAND, ORG, ErrorCode.TEMPLATE_MISMATCH),
        (_template(MARKETING), MARKETING, MAINLAND, IND, ErrorCode.INDIVIDUAL_NO_MARKETING),
        (_template(), MARKETING, MAINLAND, IND, ErrorCode.INDIVIDUAL_NO_MARKETING),
        (_template(MARKETING), REGULAR, MAINLAND, IND, ErrorCode.INDIVIDUAL_NO_MARKETING),
        (
            _template(MARKETING, status=ReviewStatus.PENDING),
            MARKETING,
            MAINLAND,
            IND,
            ErrorCode.INDIVIDUAL_NO_MARKETING,  # the account-level ban is reported first
        ),
    ],
)
def test_check_template_use(
    template: Template,
    request_type: MessageType,
    region: TemplateRegion,
    account: AccountType,
    expected: ErrorCode | None,
) -> None:
    if expected is None:
        assert check_template_use(template, request_type, region, account) is None
    else:
        assert code_of(check_template_use, template, request_type, region, account) is expected


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("+8613800138000", MAINLAND),
        ("+85291234567", INTL),  # Hong Kong
        ("+886912345678", INTL),  # Taiwan
        ("+14155550100", INTL),
    ],
)
def test_region_for_number(number: str, region: TemplateRegion) -> None:
    assert region_for_number(number) is region


# --- lifecycle and quota -------------------------------------------------------------------


def test_new_template_is_pending_and_compiled() -> None:
    template = new_template(1, "app-1", VERIFY, REGULAR, INTL)
    assert template.status is TemplateStatus.PENDING
    assert template.compiled == parse_template(VERIFY)
    assert template.type is REGULAR and template.region is INTL
    assert code_of(new_template, 2, "app-1", "{1}{2}", REGULAR, INTL) is ErrorCode.TEMPLATE_INVALID
    assert code_of(new_template, 2, "app-1", "Sale {1}", MARKETING, INTL) is ErrorCode.TEMPLATE_INVALID


def test_transitions() -> None:
    pending = new_template(1, "app-1", VERIFY, REGULAR, INTL)
    approved = approve_template(pending)
    assert approved.status is TemplateStatus.APPROVED
    assert pending.status is TemplateStatus.PENDING  # records are values, not mutated
    rejected = reject_template(pending, "wording")
    assert (rejected.status, rejected.remark) == (TemplateStatus.REJECTED, "wording")
    # no decision on a decided template
    assert code_of(approve_template, approved) is ErrorCode.TEMPLATE_IMMUTABLE
    assert code_of(reject_template, approved) is ErrorCode.TEMPLATE_IMMUTABLE
    assert code_of(approve_template, rejected) is ErrorCode.NOT_FOUND


def test_approved_template_is_immutable_others_resubmit() -> None:
    pending = new_template(1, "app-1", VERIFY, REGULAR, INTL)
    approved = approve_template(pending)
    assert code_of(edit_template, approved, "Code {1}") is ErrorCode.TEMPLATE_IMMUTABLE
    with pytest.raises(AttributeError):
        approved.text = "Code {1}"  # type: ignore[misc]

    rejected = reject_template(pending, "wording")
    edited = edit_template(rejected, "Code {1}")
    assert (edited.status, edited.remark, edited.text) == (TemplateStatus.PENDING, "", "Code {1}")
    assert edited.compiled.param_count == 1
    assert approve_template(edited).status is TemplateStatus.APPROVED
    assert code_of(edit_template, pending, "{1}") is ErrorCode.TEMPLATE_INVALID


@PROPS
@given(st.integers(0, 1000), st.integers(1, 1000))
def test_template_quota(existing: int, cap: int) -> None:
    if existing < cap:
        assert check_template_quota(existing, cap) is None
    else:
        assert code_of(check_template_quota, existing, cap) is ErrorCode.TEMPLATE_LIMIT


def test_template_quota_default_is_200() -> None:
    check_template_quota(199)
    assert code_of(check_template_quota, 200) is ErrorCode.TEMPLATE_LIMIT
