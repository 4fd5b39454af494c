"""The GSM 03.38 alphabet, cross-checked against an independent implementation."""

from hypothesis import given, settings, strategies as st

from smsengine.domain import gsm7


def test_alphabet_matches_aiosmpplib():
    from aiosmpplib.codec import GSM7BitCodec  # an independent table

    codec = GSM7BitCodec()
    for char in gsm7._alphabet:
        theirs, _ = codec.encode(char)
        assert gsm7.encode(char) == theirs, char
    for septet, char in enumerate(gsm7.BASIC):
        if septet != gsm7.ESCAPE:
            assert codec.decode(bytes([septet]))[0] == char


def test_known_septets():
    assert gsm7.encode("@£$") == b"\x00\x01\x02"
    assert gsm7.encode("_") == b"\x11"
    assert gsm7.encode("€") == b"\x1b\x65"
    assert gsm7.encode("A z") == b"A z"
    assert gsm7.septet_length("[]") == 4
    assert gsm7.is_gsm7("Hello, world!")
    assert not gsm7.is_gsm7("Hello`")
    assert not gsm7.is_gsm7("你好")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(gsm7._alphabet), max_size=300))
def test_roundtrip(text):
    data = gsm7.encode(text)
    assert len(data) == gsm7.septet_length(text)
    assert all(b < 0x80 for b in data)
    assert gsm7.decode(data) == text
