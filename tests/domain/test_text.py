"""Segmentation: hand-checked tables and hypothesis properties (SPEC §1)."""

import pytest
from hypothesis import given, settings, strategies as st

from smsengine.domain import gsm7
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.text import (
    CAPACITY,
    Encoding,
    Scheme,
    compose,
    segment,
    segments_for,
)

CJK = "短信验证码您的"


@pytest.mark.parametrize(
    "text, scheme, encoding, segments",
    [
        ("中" * 70, Scheme.DOMESTIC, Encoding.UCS2, 1),
        ("中" * 71, Scheme.DOMESTIC, Encoding.UCS2, 2),
        ("中" * 134, Scheme.DOMESTIC, Encoding.UCS2, 2),
        ("中" * 135, Scheme.DOMESTIC, Encoding.UCS2, 3),
        ("a" * 70, Scheme.DOMESTIC, Encoding.UCS2, 1),  # Latin counts 1 too on domestic platforms
        ("a" * 71, Scheme.DOMESTIC, Encoding.UCS2, 2),
        ("a" * 160, Scheme.GSM, Encoding.GSM7, 1),
        ("a" * 161, Scheme.GSM, Encoding.GSM7, 2),
        ("a" * 306, Scheme.GSM, Encoding.GSM7, 2),
        ("a" * 307, Scheme.GSM, Encoding.GSM7, 3),
        ("€" * 80, Scheme.GSM, Encoding.GSM7, 1),  # 160 septets
        ("€" * 81, Scheme.GSM, Encoding.GSM7, 2),
        ("é" * 70, Scheme.GSM, Encoding.GSM7, 1),  # é is in the GSM basic table
        ("ê" * 70, Scheme.GSM, Encoding.UCS2, 1),  # ê is not
        ("ê" * 71, Scheme.GSM, Encoding.UCS2, 2),
        ("`", Scheme.GSM, Encoding.UCS2, 1),  # backtick is ASCII but not GSM
    ],
)
def test_segment_counts(text, scheme, encoding, segments):
    seg = segment(text, scheme)
    assert seg.encoding is encoding
    assert seg.segments == segments
    assert segments_for(text, scheme) == segments
    assert seg.data_coding == int(encoding)


def test_extension_char_at_153_moves_to_part_two():
    text = "a" * 152 + "€" + "b" * 20
    seg = segment(text, Scheme.GSM)
    assert seg.encoding is Encoding.GSM7
    assert seg.parts[0] == "a" * 152
    assert seg.parts[1].startswith("€")
    assert seg.payloads[0] == b"a" * 152
    assert seg.payloads[1][:2] == b"\x1b\x65"


def test_extension_char_before_boundary_stays():
    text = "a" * 151 + "€" + "b" * 20  # € takes septets 152-153: fits part 1
    seg = segment(text, Scheme.GSM)
    assert seg.parts[0] == "a" * 151 + "€"


def test_surrogate_pair_never_split():
    text = "a" * 66 + "😀" + "b" * 10  # the emoji would straddle units 67-68
    seg = segment(text, Scheme.GSM)
    assert seg.encoding is Encoding.UCS2
    assert seg.parts[0] == "a" * 66
    assert seg.parts[1].startswith("😀")
    assert all(len(p) <= 134 for p in seg.payloads)


def test_emoji_counts_two_units_single_part():
    assert segment("😀" * 35, Scheme.GSM).segments == 1
    assert segment("😀" * 36, Scheme.GSM).segments == 2
    assert segment("😀" * 36, Scheme.DOMESTIC).segments == 2


def test_payload_bytes():
    seg = segment("Hi @ {x}", Scheme.GSM)
    assert seg.payloads == (b"Hi \x00 \x1b\x28x\x1b\x29",)
    seg = segment("你好", Scheme.DOMESTIC)
    assert seg.payloads == ("你好".encode("utf-16-be"),)


def test_figures_and_signature():
    text = compose("您的验证码是1234", "腾讯云", Scheme.DOMESTIC)
    assert text == "【腾讯云】您的验证码是1234"
    seg = segment(text, Scheme.DOMESTIC)
    assert seg.chars == 15
    assert seg.figures == "15 | 1"
    assert compose("Code 1234", "Acme", Scheme.GSM) == "[Acme] Code 1234"
    assert compose("Code 1234", None, Scheme.GSM) == "Code 1234"


def test_signature_counts_toward_length():
    body = "中" * 66
    assert segment(body, Scheme.DOMESTIC).segments == 1
    assert segment(compose(body, "abcd", Scheme.DOMESTIC), Scheme.DOMESTIC).segments == 2


def test_too_long_is_an_error_not_truncation():
    assert segment("a" * 500, Scheme.GSM).chars == 500
    with pytest.raises(SmsError) as err:
        segment("a" * 501, Scheme.GSM)
    assert err.value.code is ErrorCode.CONTENT_TOO_LONG
    with pytest.raises(SmsError) as err:
        segment("中" * 61, Scheme.DOMESTIC, max_chars=60)
    assert err.value.code is ErrorCode.CONTENT_TOO_LONG


def test_empty_is_an_error():
    with pytest.raises(SmsError) as err:
        segment("", Scheme.DOMESTIC)
    assert err.value.code is ErrorCode.CONTENT_EMPTY


@pytest.mark.parametrize("scheme", list(Scheme))
@pytest.mark.parametrize("text, at", [("\x00", 1), ("\x00code 1234", 1), ("code\x001234", 5), ("验证码1234\x00", 8)])
def test_a_nul_anywhere_is_1059_not_a_cut(text, at, scheme):
    """A NUL would be cut by the store (json_each's ->> in its per-row batches) or by the CSV
    export's printf, so none is accepted."""
    with pytest.raises(SmsError) as err:
        segment(text, scheme)
    assert err.value.code is ErrorCode.CONTENT_INVALID_CHARACTER == 1059
    assert err.value.detail == f"a NUL character (U+0000) at character {at}, which no message may hold"
    assert "NUL" in err.value.message


@pytest.mark.parametrize("scheme", list(Scheme))
def test_other_control_characters_are_kept(scheme):
    text = "code\t1234\r\nline \x01\x1b\x7f end"
    seg = segment(text, scheme)
    assert seg.encoding is Encoding.UCS2  # tab, SOH, ESC and DEL are not GSM-7 characters
    assert "".join(seg.parts) == text and seg.payload.decode("utf-16-be") == text


gsm_text = st.text(alphabet=st.sampled_from(gsm7._alphabet), min_size=1, max_size=500)
any_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(gsm7._alphabet),
        st.sampled_from(CJK),
        st.sampled_from("😀🎉𠀀"),
        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
    ),
    min_size=1,
    max_size=500,
)


def _units(part: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return gsm7.septet_length(part)
    return len(part.encode("utf-16-le")) // 2


@settings(max_examples=300, deadline=None)
@given(text=any_text, scheme=st.sampled_from(Scheme))
def test_parts_rejoin_and_fit(text, scheme):
    seg = segment(text, scheme)
    assert "".join(seg.parts) == text
    assert seg.segments == segments_for(text, scheme)
    single, multi = CAPACITY[seg.encoding]
    limit = single if seg.segments == 1 else multi
    for part in seg.parts:
        assert 0 < _units(part, seg.encoding) <= limit
    if seg.segments > 1:
        # greedy: every part but the last is full, or full but for one split-proof character
        for part in seg.parts[:-1]:
            assert _units(part, seg.encoding) >= multi - 1
    if seg.encoding is Encoding.GSM7:
        assert b"".join(seg.payloads) == gsm7.encode(text)
        assert gsm7.decode(b"".join(seg.payloads)) == text
    else:
        assert b"".join(seg.payloads).decode("utf-16-be") == text
        assert all(len(p) % 2 == 0 for p in seg.payloads)


@settings(max_examples=200, deadline=None)
@given(text=any_text, scheme=st.sampled_from(Scheme), data=st.data())
def test_a_nul_inserted_anywhere_is_refused_where_it_is(text, scheme, data):
    """Whatever else the text holds (any_text, which test_parts_rejoin_and_fit segments whole)."""
    at = data.draw(st.integers(0, len(text)))
    with pytest.raises(SmsError) as err:
        segment(text[:at] + "\x00" + text[at:], scheme, max_chars=len(text) + 1)
    assert err.value.code is ErrorCode.CONTENT_INVALID_CHARACTER
    assert err.value.detail == f"a NUL character (U+0000) at character {at + 1}, which no message may hold"  # any_text holds none of its own


@settings(max_examples=300, deadline=None)
@given(text=gsm_text)
def test_gsm_closed_formula(text):
    septets = gsm7.septet_length(text)
    seg = segment(text, Scheme.GSM)
    if gsm7.extension_count(text) == 0:
        expected = 1 if septets <= 160 else -(-septets // 153)
        assert seg.segments == expected
    else:
        # extension characters can only add parts, by at most one per straddle
        lower = 1 if septets <= 160 else -(-septets // 153)
        assert lower <= seg.segments <= max(lower, -(-septets // 152))
    for part in seg.parts:
        # an escape septet never ends a part: extension characters are never split
        assert not gsm7.encode(part).endswith(b"\x1b")


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(CJK + "abc ,.!"), min_size=1, max_size=500))
def test_domestic_closed_formula(text):
    n = len(text)
    expected = 1 if n <= 70 else -(-n // 67)
    assert segment(text, Scheme.DOMESTIC).segments == expected
