"""SMPP 3.4 PDU codec: bytes <-> typed PDUs, with typed errors carrying the command_status to answer with.

Every PDU has a field layout (`LAYOUTS`) that drives a general decoder and encoder. The PDUs on the
hot path (submit_sm, deliver_sm and their responses) also have a hand-unrolled fast path; whenever
the fast path meets anything unusual it hands over to the general decoder, which is the reference
and produces the precise error. Tests check the two agree.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from smsengine.smpp.constants import (
    DEFAULT_MAX_PDU_SIZE,
    HEADER_SIZE,
    MAX_SHORT_MESSAGE,
    TLV_KINDS,
    CommandId,
    CommandStatus,
    TlvKind,
    status_name,
    tag_name,
)
from smsengine.smpp.pdu import (
    PDU_CLASSES,
    DistributionList,
    NetworkErrorCode,
    Pdu,
    SmeDestination,
    UnsuccessSme,
)

_HEADER = struct.Struct(">IIII")
_U32 = struct.Struct(">I")
_TLV_HEAD = struct.Struct(">HH")
_NETWORK_ERROR = struct.Struct(">BH")


class PduError(Exception):
    """A PDU that cannot be decoded. `status` is the command_status to answer with."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.command_id = command_id
        self.sequence_number = sequence_number
        super().__init__(f"{status_name(status)}: {detail}")


class FramingError(PduError):
    """command_length is garbage: the byte stream cannot be re-synchronised, the connection must close."""


class UnknownCommandError(PduError):
    """A well-framed PDU with a command_id SMPP 3.4 does not define (answer: generic_nack ESME_RINVCMDID)."""


class MalformedPduError(PduError):
    """A well-framed PDU of a known command whose body does not parse."""


class PduEncodeError(ValueError):
    """A PDU object that cannot be put on the wire (field too long, NUL in a c-string, value out of range)."""


# ---- layouts ---------------------------------------------------------------------------------

CSTRING, U8, U32, SHORT_MESSAGE, DESTINATIONS, UNSUCCESS_SMES = range(6)

# (kind, field name, max size including the NUL for c-strings, status when it is too long)
Field = tuple[int, str, int, int]
_S = CommandStatus


def _c(name: str, size: int, status: int = _S.ESME_RINVPARLEN) -> Field:
    return (CSTRING, name, size, status)


def _u8(name: str) -> Field:
    return (U8, name, 1, _S.ESME_RINVCMDLEN)


_SM: Field = (SHORT_MESSAGE, "short_message", MAX_SHORT_MESSAGE, _S.ESME_RINVMSGLEN)
_BIND = (
    _c("system_id", 16, _S.ESME_RINVSYSID),
    _c("password", 9, _S.ESME_RINVPASWD),
    _c("system_type", 13, _S.ESME_RINVSYSTYP),
    _u8("interface_version"),
    _u8("addr_ton"),
    _u8("addr_npi"),
    _c("address_range", 41),
)
_BIND_RESP = (_c("system_id", 16, _S.ESME_RINVSYSID),)
_MESSAGE_ID = _c("message_id", 65, _S.ESME_RINVMSGID)
_SERVICE_TYPE = _c("service_type", 6, _S.ESME_RINVSERTYP)
_SOURCE_21 = (_u8("source_addr_ton"), _u8("source_addr_npi"), _c("source_addr", 21, _S.ESME_RINVSRCADR))
_DEST_21 = (_u8("dest_addr_ton"), _u8("dest_addr_npi"), _c("destination_addr", 21, _S.ESME_RINVDSTADR))
_SCHEDULE = _c("schedule_delivery_time", 17, _S.ESME_RINVSCHED)
_VALIDITY = _c("validity_period", 17, _S.ESME_RINVEXPIRY)
_MESSAGE_TAIL = (
    _u8("esm_class"),
    _u8("protocol_id"),
    _u8("priority_flag"),
    _SCHEDULE,
    _VALIDITY,
    _u8("registered_delivery"),
    _u8("replace_if_present_flag"),
    _u8("data_coding"),
    _u8("sm_default_msg_id"),
    _SM,
)
_SHORT_MESSAGE = (_SERVICE_TYPE, *_SOURCE_21, *_DEST_21, *_MESSAGE_TAIL)
_C = CommandId

LAYOUTS: dict[int, tuple[Field, ...]] = {
    _C.GENERIC_NACK: (),
    _C.BIND_TRANSMITTER: _BIND,
    _C.BIND_RECEIVER: _BIND,
    _C.BIND_TRANSCEIVER: _BIND,
    _C.BIND_TRANSMITTER_RESP: _BIND_RESP,
    _C.BIND_RECEIVER_RESP: _BIND_RESP,
    _C.BIND_TRANSCEIVER_RESP: _BIND_RESP,
    _C.OUTBIND: _BIND[:2],
    _C.UNBIND: (),
    _C.UNBIND_RESP: (),
    _C.ENQUIRE_LINK: (),
    _C.ENQUIRE_LINK_RESP: (),
    _C.SUBMIT_SM: _SHORT_MESSAGE,
    _C.DELIVER_SM: _SHORT_MESSAGE,
    _C.SUBMIT_SM_RESP: (_MESSAGE_ID,),
    _C.DELIVER_SM_RESP: (_MESSAGE_ID,),
    _C.DATA_SM_RESP: (_MESSAGE_ID,),
    _C.SUBMIT_MULTI: (
        _SERVICE_TYPE,
        *_SOURCE_21,
        (DESTINATIONS, "destinations", 254, _S.ESME_RINVNUMDESTS),
        *_MESSAGE_TAIL,
    ),
    _C.SUBMIT_MULTI_RESP: (_MESSAGE_ID, (UNSUCCESS_SMES, "unsuccess_smes", 254, _S.ESME_RINVNUMDESTS)),
    _C.DATA_SM: (
        _SERVICE_TYPE,
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _c("source_addr", 65, _S.ESME_RINVSRCADR),
        _u8("dest_addr_ton"),
        _u8("dest_addr_npi"),
        _c("destination_addr", 65, _S.ESME_RINVDSTADR),
        _u8("esm_class"),
        _u8("registered_delivery"),
        _u8("data_coding"),
    ),
    _C.QUERY_SM: (_MESSAGE_ID, *_SOURCE_21),
    _C.QUERY_SM_RESP: (_MESSAGE_ID, _c("final_date", 17), _u8("message_state"), _u8("error_code")),
    _C.CANCEL_SM: (_SERVICE_TYPE, _MESSAGE_ID, *_SOURCE_21, *_DEST_21),
    _C.CANCEL_SM_RESP: (),
    _C.REPLACE_SM: (
        _MESSAGE_ID,
        *_SOURCE_21,
        _SCHEDULE,
        _VALIDITY,
        _u8("registered_delivery"),
        _u8("sm_default_msg_id"),
        _SM,
    ),
    _C.REPLACE_SM_RESP: (),
    _C.ALERT_NOTIFICATION: (
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _c("source_addr", 65, _S.ESME_RINVSRCADR),
        _u8("esme_addr_ton"),
        _u8("esme_addr_npi"),
        _c("esme_addr", 65),
    ),
}

_HEADER_FIELDS = ("sequence_number", "command_status", "tlvs")
for _cid, _layout in LAYOUTS.items():
    _fields = PDU_CLASSES[_cid].__struct_fields__
    assert _fields == _HEADER_FIELDS + tuple(f[1] for f in _layout), f"layout of {_cid:#x} != {_fields}"

# ---- TLVs ------------------------------------------------------------------------------------

# The decode loop dispatches on plain ints: Enum member access costs more than the decoding itself.
_OCTETS, _INTEGER, _CSTRING, _NETWORK = range(4)
_TLV_CODES: dict[int, tuple[int, int]] = {
    tag: (
        {TlvKind.OCTETS: _OCTETS, TlvKind.CSTRING: _CSTRING, TlvKind.NETWORK_ERROR: _NETWORK}.get(kind, _INTEGER),
        size,
    )
    for tag, (kind, size) in TLV_KINDS.items()
}


def _decode_tlvs(data: bytes, p: int, end: int) -> dict[int, Any]:
    tlvs: dict[int, Any] = {}
    while p < end:
        if end - p < 4:
            raise MalformedPduError(_S.ESME_RINVOPTPARSTREAM, f"{end - p} stray bytes after the last TLV")
        tag, length = _TLV_HEAD.unpack_from(data, p)
        p += 4
        q = p + length
        if q > end:
            raise MalformedPduError(_S.ESME_RINVPARLEN, f"TLV {tag_name(tag)} length {length} runs past the PDU")
        decoding = _TLV_CODES.get(tag)
        if decoding is None:
            value: Any = data[p:q]
        else:
            code, size = decoding
            if code == _INTEGER:
                if length != size:
                    raise MalformedPduError(_S.ESME_RINVPARLEN, f"TLV {tag_name(tag)} has length {length}")
                value = data[p] if size == 1 else int.from_bytes(data[p:q], "big")
            elif code == _CSTRING:
                if length > size:
                    raise MalformedPduError(_S.ESME_RINVPARLEN, f"TLV {tag_name(tag)} longer than {size}")
                # Some carriers omit the terminating NUL; the value up to the first NUL is what they meant.
                nul = data.find(0, p, q)
                value = data[p : q if nul < 0 else nul].decode("latin-1")
            elif code == _OCTETS:
                if size and length != size:
                    raise MalformedPduError(_S.ESME_RINVPARLEN, f"TLV {tag_name(tag)} has length {length}")
                value = data[p:q]
            else:
                if length != 3:
                    raise MalformedPduError(_S.ESME_RINVPARLEN, f"TLV network_error_code has length {length}")
                value = NetworkErrorCode(*_NETWORK_ERROR.unpack_from(data, p))
        tlvs[tag] = value
        p = q
    return tlvs


def encode_tlvs(tlvs: dict[int, Any]) -> bytes:
    """bytes values go out verbatim (unknown tags, octet tags, or a deliberate raw override)."""
    parts = []
    for tag, value in tlvs.items():
        code, size = _TLV_CODES.get(tag, (_OCTETS, 0))
        if type(value) is bytes:
            raw = value
        elif code == _INTEGER and isinstance(value, int) and 0 <= value < 1 << (8 * size):
            raw = value.to_bytes(size, "big")
        elif code == _CSTRING and isinstance(value, str):
            raw = value.encode("latin-1") + b"\0"
            if len(raw) > size or b"\0" in raw[:-1]:
                raise PduEncodeError(f"TLV {tag_name(tag)} value longer than {size - 1} octets or contains NUL")
        elif code == _NETWORK and isinstance(value, tuple):
            raw = _NETWORK_ERROR.pack(*value)
        else:
            raise PduEncodeError(f"TLV {tag_name(tag)}: cannot encode {type(value).__name__} {value!r}")
        parts.append(_TLV_HEAD.pack(tag, len(raw)))
        parts.append(raw)
    return b"".join(parts)


# ---- the general decoder / encoder -------------------------------------------------------------


def _truncated(name: str) -> MalformedPduError:
    return MalformedPduError(_S.ESME_RINVCMDLEN, f"PDU ends inside {name}")


def _read_cstring(data: bytes, p: int, end: int, field: Field, lenient: bool = False) -> tuple[str, int]:
    _, name, size, status = field
    nul = data.find(0, p, end)
    if nul < 0:
        if end - p >= size and not lenient:
            raise MalformedPduError(status, f"{name} longer than {size - 1} octets")
        raise _truncated(name)
    if nul - p >= size and not lenient:
        raise MalformedPduError(status, f"{name} longer than {size - 1} octets")
    return data[p:nul].decode("latin-1"), nul + 1


def _read_u8(data: bytes, p: int, end: int, name: str) -> int:
    if p >= end:
        raise _truncated(name)
    return data[p]


_ADDRESS_21 = _c("address", 21, _S.ESME_RINVDSTADR)
_DL_NAME = _c("dl_name", 21, _S.ESME_RINVDLNAME)


def _read_destinations(data: bytes, p: int, end: int) -> tuple[list, int]:
    count = _read_u8(data, p, end, "number_of_dests")
    p += 1
    destinations: list = []
    for _ in range(count):
        flag = _read_u8(data, p, end, "dest_flag")
        p += 1
        if flag == 1:
            ton = _read_u8(data, p, end, "dest_addr_ton")
            npi = _read_u8(data, p + 1, end, "dest_addr_npi")
            address, p = _read_cstring(data, p + 2, end, _ADDRESS_21)
            destinations.append(SmeDestination(ton, npi, address))
        elif flag == 2:
            name, p = _read_cstring(data, p, end, _DL_NAME)
            destinations.append(DistributionList(name))
        else:
            raise MalformedPduError(_S.ESME_RINVDESTFLAG, f"dest_flag {flag}")
    return destinations, p


def _read_unsuccess(data: bytes, p: int, end: int) -> tuple[list, int]:
    count = _read_u8(data, p, end, "no_unsuccess")
    p += 1
    smes: list = []
    for _ in range(count):
        ton = _read_u8(data, p, end, "dest_addr_ton")
        npi = _read_u8(data, p + 1, end, "dest_addr_npi")
        address, p = _read_cstring(data, p + 2, end, _ADDRESS_21)
        if end - p < 4:
            raise _truncated("error_status_code")
        smes.append(UnsuccessSme(ton, npi, address, _U32.unpack_from(data, p)[0]))
        p += 4
    return smes, p


def _decode_general(cls: type[Pdu], data: bytes, p: int, end: int, seq: int, status: int,
                    lenient: bool = False) -> Pdu:
    layout = LAYOUTS[cls.command_id]
    if p == end and cls.is_response:
        # SMPP 3.4: a response carrying an error status has no body.
        return cls(seq, status, {})
    values: list[Any] = []
    for field in layout:
        kind = field[0]
        if kind == CSTRING:
            value, p = _read_cstring(data, p, end, field, lenient)
        elif kind == U8:
            value = _read_u8(data, p, end, field[1])
            p += 1
        elif kind == SHORT_MESSAGE:
            length = _read_u8(data, p, end, "sm_length")
            if length > MAX_SHORT_MESSAGE:
                raise MalformedPduError(_S.ESME_RINVMSGLEN, f"sm_length {length}")
            p += 1
            if p + length > end:
                raise _truncated("short_message")
            value = data[p : p + length]
            p += length
        elif kind == DESTINATIONS:
            value, p = _read_destinations(data, p, end)
        else:
            value, p = _read_unsuccess(data, p, end)
        values.append(value)
    tlvs = _decode_tlvs(data, p, end) if p < end else {}
    return cls(seq, status, tlvs, *values)


def _cstring_bytes(value: str, field: Field) -> bytes:
    raw = value.encode("latin-1")
    if len(raw) >= field[2] or b"\0" in raw:
        raise PduEncodeError(f"{field[1]} {value!r}: longer than {field[2] - 1} octets or contains NUL")
    return raw


def _has_empty_body(pdu: Pdu, layout: tuple[Field, ...]) -> bool:
    return not pdu.tlvs and not any(getattr(pdu, field[1]) for field in layout)


def _encode_general(pdu: Pdu) -> bytes:
    layout = LAYOUTS[pdu.command_id]
    if pdu.command_status and pdu.is_response and _has_empty_body(pdu, layout):
        return _HEADER.pack(HEADER_SIZE, pdu.command_id, pdu.command_status, pdu.sequence_number)
    parts: list[bytes] = []
    append = parts.append
    for field in layout:
        kind, name = field[0], field[1]
        value = getattr(pdu, name)
        if kind == CSTRING:
            append(_cstring_bytes(value, field))
            append(b"\0")
        elif kind == U8:
            append(bytes((value,)))
        elif kind == SHORT_MESSAGE:
            if len(value) > MAX_SHORT_MESSAGE:
                raise PduEncodeError(f"short_message of {len(value)} octets: use the message_payload TLV")
            append(bytes((len(value),)))
            append(value)
        elif kind == DESTINATIONS:
            append(bytes((len(value),)))
            for dest in value:
                if type(dest) is SmeDestination:
                    append(bytes((1, dest.ton, dest.npi)) + _cstring_bytes(dest.address, _ADDRESS_21) + b"\0")
                else:
                    append(b"\x02" + _cstring_bytes(dest.name, _DL_NAME) + b"\0")
        else:
            append(bytes((len(value),)))
            for sme in value:
                append(bytes((sme.ton, sme.npi)) + _cstring_bytes(sme.address, _ADDRESS_21) + b"\0")
                append(_U32.pack(sme.error_status_code))
    if pdu.tlvs:
        append(encode_tlvs(pdu.tlvs))
    body = b"".join(parts)
    return _HEADER.pack(HEADER_SIZE + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number) + body


# ---- fast paths ------------------------------------------------------------------------------
# The fast decoders give up by raising one of `_FALLBACK_DECODE` (bytes.index finding no NUL within
# a field's max size, reading past the data, a TLV the fast path will not judge; KeyError: a
# command_id SMPP 3.4 does not define): the precise path then reads the PDU again and says exactly
# what is wrong. The fast encoders give up with `_FALLBACK_ENCODE` (a value that is too long, not
# latin-1, out of a byte's range; KeyError: not a PDU class of ours). Anything else (TypeError,
# AttributeError, ...) is a bug and propagates. The hand-over stays one `try` around a plain
# subscript: a dict.get and a None test cost 2-4% more instructions on a submit_sm_resp.


class _Slow(Exception):
    """A fast path met something unusual: take the general path."""


_FALLBACK_DECODE = (_Slow, ValueError, IndexError, struct.error, PduError, KeyError)
_FALLBACK_ENCODE = (_Slow, UnicodeEncodeError, OverflowError, KeyError)
# What the general encoder raises for a value SMPP cannot carry (bytes((256,)), a c-string that is
# not latin-1, a sequence number past 32 bits): reported as PduEncodeError.
_UNENCODABLE = (ValueError, OverflowError, struct.error)


_NUL = b"\0"


# submit_sm and deliver_sm up to the short_message, in one regex match (C) instead of a dozen
# index/slice/decode steps: 20% less time per submit_sm and 15% per deliver_sm (interleaved A/B of
# decode_frame against the stepwise decoder), and these two are the simulator's and the engine's
# most decoded PDUs. Field limits are SMPP's (service_type 6, addresses 21, times 17 octets with
# the NUL); anything else (a longer field, a missing NUL, a body cut short) does not match, and the
# precise path reads the PDU again and says what is wrong.
_ANY = rb"[\0-\xff]"
_SHORT_MESSAGE_HEAD = re.compile(
    rb"([^\0]{0,5})\0(%s{2})([^\0]{0,20})\0(%s{2})([^\0]{0,20})\0(%s{3})([^\0]{0,16})\0([^\0]{0,16})\0(%s{5})"
    % (_ANY, _ANY, _ANY, _ANY)
)


def _decode_short_message_fast(cls: type[Pdu], data: bytes, p: int, end: int, seq: int, status: int) -> Pdu:
    match = _SHORT_MESSAGE_HEAD.match(data, p, end)
    if match is None:
        raise _Slow
    service_type, source, source_addr, dest, destination_addr, esm, schedule, validity, tail = match.groups()
    registered, replace, data_coding, default_msg_id, sm_length = tail
    p = match.end()
    q = p + sm_length
    if q > end or sm_length > MAX_SHORT_MESSAGE:
        raise _Slow
    # service_type, schedule and validity are usually empty: skipping their decode is a measurable win.
    return cls(
        seq,
        status,
        _decode_tlvs(data, q, end) if q < end else {},
        service_type.decode("latin-1") if service_type else "",
        source[0],
        source[1],
        source_addr.decode("latin-1"),
        dest[0],
        dest[1],
        destination_addr.decode("latin-1"),
        esm[0],
        esm[1],
        esm[2],
        schedule.decode("latin-1") if schedule else "",
        validity.decode("latin-1") if validity else "",
        registered,
        replace,
        data_coding,
        default_msg_id,
        data[p:q],
    )


def _decode_message_id_fast(cls: type[Pdu], data: bytes, p: int, end: int, seq: int, status: int) -> Pdu:
    i = data.index(_NUL, p, p + 65)
    if i >= end:
        raise _Slow
    return cls(seq, status, _decode_tlvs(data, i + 1, end) if i + 1 < end else {}, data[p:i].decode("latin-1"))


def _encode_short_message_fast(pdu: Any) -> bytes:
    service_type = pdu.service_type.encode("latin-1")
    source_addr = pdu.source_addr.encode("latin-1")
    destination_addr = pdu.destination_addr.encode("latin-1")
    schedule = pdu.schedule_delivery_time.encode("latin-1")
    validity = pdu.validity_period.encode("latin-1")
    short_message = pdu.short_message
    if (
        len(service_type) > 5
        or len(source_addr) > 20
        or len(destination_addr) > 20
        or len(schedule) > 16
        or len(validity) > 16
        or len(short_message) > MAX_SHORT_MESSAGE
        or 0 in source_addr
        or 0 in destination_addr
        or 0 in service_type
        or 0 in schedule
        or 0 in validity
    ):
        raise _Slow
    body = b"%b\0%c%c%b\0%c%c%b\0%c%c%c%b\0%b\0%c%c%c%c%c%b" % (
        service_type,
        pdu.source_addr_ton,
        pdu.source_addr_npi,
        source_addr,
        pdu.dest_addr_ton,
        pdu.dest_addr_npi,
        destination_addr,
        pdu.esm_class,
        pdu.protocol_id,
        pdu.priority_flag,
        schedule,
        validity,
        pdu.registered_delivery,
        pdu.replace_if_present_flag,
        pdu.data_coding,
        pdu.sm_default_msg_id,
        len(short_message),
        short_message,
    )
    if pdu.tlvs:
        body += encode_tlvs(pdu.tlvs)
    return _HEADER.pack(HEADER_SIZE + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number) + body


def submit_sm_head(service_type: str, source_addr_ton: int, source_addr_npi: int, source_addr: str,
                   dest_addr_ton: int, dest_addr_npi: int) -> bytes:
    """The submit_sm body up to destination_addr, for senders that encode it once per bind."""
    service = service_type.encode("latin-1")
    source = source_addr.encode("latin-1")
    if len(service) > 5 or len(source) > 20 or 0 in service or 0 in source:
        raise PduEncodeError("service_type or source_addr too long or contains NUL")
    return b"%b\0%c%c%b\0%c%c" % (service, source_addr_ton, source_addr_npi, source, dest_addr_ton, dest_addr_npi)


def submit_sm_tail(esm_class: int, registered_delivery: int, data_coding: int, short_message: bytes,
                   tlvs: dict[int, Any], encoded_tlvs: bytes = b"") -> bytes:
    """The submit_sm body after destination_addr (no schedule or validity, default priority), so
    one text going to many numbers is encoded once; `submit_sm_body` puts the parts together.
    `encoded_tlvs` (TLVs already in wire form: a message's vendor-specific ones) follow `tlvs` as they are."""
    if len(short_message) > MAX_SHORT_MESSAGE:
        raise PduEncodeError(f"short_message longer than {MAX_SHORT_MESSAGE} octets")
    tail = b"%c\0\0\0\0%c\0%c\0%c%b" % (esm_class, registered_delivery, data_coding, len(short_message),
                                          short_message)
    if tlvs:
        tail += encode_tlvs(tlvs)
    return tail + encoded_tlvs if encoded_tlvs else tail


def submit_sm_body(head: bytes, destination: str, tail: bytes) -> bytes:
    """A whole submit_sm body from `submit_sm_head(...)`, the destination_addr and `submit_sm_tail(...)`:
    the engine's per-message path, so only the destination is encoded per message.

    `destination` is ASCII (a number's digits), at most 20 characters, without NUL. Checked on the
    UTF-8 bytes, the cheapest encoding: they are as long as the text only when it is ASCII."""
    try:
        raw = destination.encode()
    except UnicodeEncodeError:
        raw = b"\0"
    if len(raw) > 20 or len(raw) != len(destination) or 0 in raw:
        raise PduEncodeError(f"destination_addr {destination!r}: not ASCII, longer than 20 or contains NUL")
    return b"".join((head, raw, b"\0", tail))


def _encode_message_id_fast(pdu: Any) -> bytes:
    message_id = pdu.message_id.encode("latin-1")
    if len(message_id) > 64 or 0 in message_id or pdu.tlvs:
        raise _Slow
    if not message_id and pdu.command_status:
        return _HEADER.pack(HEADER_SIZE, pdu.command_id, pdu.command_status, pdu.sequence_number)
    return (
        _HEADER.pack(HEADER_SIZE + 1 + len(message_id), pdu.command_id, pdu.command_status, pdu.sequence_number)
        + message_id
        + b"\0"
    )


_FAST_DECODERS = {
    _C.SUBMIT_SM: _decode_short_message_fast,
    _C.DELIVER_SM: _decode_short_message_fast,
    _C.SUBMIT_SM_RESP: _decode_message_id_fast,
    _C.DELIVER_SM_RESP: _decode_message_id_fast,
    _C.DATA_SM_RESP: _decode_message_id_fast,
}
# command_id -> (decoder, class): the strict general decoder for the commands without a fast path
# (a PduError from it sends the PDU to _decode_precisely, lenient and with ids on the error).
_DECODERS = {cid: (_FAST_DECODERS.get(cid, _decode_general), cls) for cid, cls in PDU_CLASSES.items()}

# ---- public API ------------------------------------------------------------------------------


def read_header(data: bytes, pos: int = 0) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number) of the PDU at `pos` (16 bytes needed)."""
    return _HEADER.unpack_from(data, pos)


def decode_frame(data: bytes, pos: int, end: int, lenient: bool = False) -> Pdu:
    """Decode the PDU in data[pos:end]; the caller has framed it (end - pos == its command_length >= 16).

    `lenient` accepts C-strings longer than SMPP allows (a 21-digit source_addr, a long
    service_type): real SMSCs send them, and refusing a receipt over it loses the receipt."""
    _, command_id, status, seq = _HEADER.unpack_from(data, pos)
    try:
        decoder, cls = _DECODERS[command_id]
        return decoder(cls, data, pos + HEADER_SIZE, end, seq, status)
    except _FALLBACK_DECODE:
        return _decode_precisely(data, pos, end, command_id, status, seq, lenient)


def _decode_precisely(data: bytes, pos: int, end: int, command_id: int, status: int, seq: int,
                      lenient: bool = False) -> Pdu:
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise UnknownCommandError(
            _S.ESME_RINVCMDID, f"command_id {command_id:#010x}", command_id=command_id, sequence_number=seq
        )
    try:
        return _decode_general(cls, data, pos + HEADER_SIZE, end, seq, status, lenient)
    except PduError as exc:
        exc.command_id, exc.sequence_number = command_id, seq
        raise
    except Exception as exc:  # a bug in the general decoder must still surface as a typed error
        raise MalformedPduError(
            _S.ESME_RUNKNOWNERR, f"{type(exc).__name__}: {exc}", command_id=command_id, sequence_number=seq
        ) from exc


def decode_pdu(data: bytes, max_pdu_size: int = DEFAULT_MAX_PDU_SIZE) -> Pdu:
    """Decode exactly one whole PDU. Raises PduError (FramingError, UnknownCommandError, MalformedPduError)."""
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size >= HEADER_SIZE:
        length = _U32.unpack_from(data)[0]
        if length == size and length <= max_pdu_size:
            return decode_frame(data, 0, size)
        _, command_id, _, seq = _HEADER.unpack_from(data)
        raise FramingError(
            _S.ESME_RINVCMDLEN,
            f"command_length {length} for {size} bytes (limit {max_pdu_size})",
            command_id=command_id,
            sequence_number=seq,
        )
    raise FramingError(_S.ESME_RINVCMDLEN, f"{size} bytes is shorter than a PDU header")


def encode_pdu(pdu: Pdu) -> bytes:
    """The wire bytes of `pdu`. Raises PduEncodeError for values that do not fit SMPP 3.4; a field
    of the wrong type (a str where an int belongs) is a bug of the caller and raises as such."""
    try:
        return _ENCODERS[pdu.command_id](pdu)
    except _FALLBACK_ENCODE:
        return _encode_precisely(pdu)


def _encode_precisely(pdu: Pdu) -> bytes:
    if pdu.command_id not in LAYOUTS:
        raise PduEncodeError(f"{type(pdu).__name__}: command_id {pdu.command_id:#x} is not an SMPP 3.4 command")
    try:
        return _encode_general(pdu)
    except PduEncodeError:
        raise
    except _UNENCODABLE as exc:
        raise PduEncodeError(f"{type(pdu).__name__}: {type(exc).__name__}: {exc}") from exc


# command_id -> its encoder: a fast path for the hot commands, the general encoder for the rest.
_ENCODERS = {
    cid: {
        _C.SUBMIT_SM: _encode_short_message_fast,
        _C.DELIVER_SM: _encode_short_message_fast,
        _C.SUBMIT_SM_RESP: _encode_message_id_fast,
        _C.DELIVER_SM_RESP: _encode_message_id_fast,
        _C.DATA_SM_RESP: _encode_message_id_fast,
    }.get(cid, _encode_precisely)
    for cid in PDU_CLASSES
}
