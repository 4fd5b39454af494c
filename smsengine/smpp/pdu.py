"""Typed SMPP 3.4 PDUs: one msgspec Struct per command, fields in wire order."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Union

import msgspec

from smsengine.smpp.constants import INTERFACE_VERSION, RESPONSE_BIT, CommandId


class NetworkErrorCode(NamedTuple):
    """The 3-octet network_error_code TLV: network type (1 GSM, 2 ANSI-136, 3 IS-95) and its code."""

    network_type: int
    error_code: int


TlvValue = Union[int, str, bytes, NetworkErrorCode]


# gc=False: PDUs never form reference cycles, and skipping GC tracking makes them cheaper to build.
class Pdu(msgspec.Struct, gc=False):
    """Header fields and optional parameters shared by every PDU.

    `tlvs` maps tag -> value: ints for integer tags, str for c-string tags, NetworkErrorCode for
    network_error_code, bytes for octet tags and for tags this codec does not know (kept verbatim).
    """

    command_id: ClassVar[int] = 0
    is_response: ClassVar[bool] = False
    sequence_number: int = 0
    command_status: int = 0
    tlvs: dict[int, TlvValue] = {}


class GenericNack(Pdu):
    command_id: ClassVar[int] = CommandId.GENERIC_NACK
    is_response: ClassVar[bool] = True


class _Bind(Pdu):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


class BindTransmitter(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER


class BindReceiver(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER


class BindTransceiver(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER


class _BindResp(Pdu):
    is_response: ClassVar[bool] = True
    system_id: str = ""


class BindTransmitterResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER_RESP


class BindReceiverResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER_RESP


class BindTransceiverResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER_RESP


class Outbind(Pdu):
    command_id: ClassVar[int] = CommandId.OUTBIND
    system_id: str = ""
    password: str = ""


class Unbind(Pdu):
    command_id: ClassVar[int] = CommandId.UNBIND


class UnbindResp(Pdu):
    command_id: ClassVar[int] = CommandId.UNBIND_RESP
    is_response: ClassVar[bool] = True


class EnquireLink(Pdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK


class EnquireLinkResp(Pdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK_RESP
    is_response: ClassVar[bool] = True


class _ShortMessage(Pdu):
    """The shared layout of submit_sm and deliver_sm. short_message stays bytes: data_coding says how to read it."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


class SubmitSm(_ShortMessage):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM


class DeliverSm(_ShortMessage):
    command_id: ClassVar[int] = CommandId.DELIVER_SM


class _MessageIdResp(Pdu):
    is_response: ClassVar[bool] = True
    message_id: str = ""


class SubmitSmResp(_MessageIdResp):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM_RESP


class DeliverSmResp(_MessageIdResp):
    command_id: ClassVar[int] = CommandId.DELIVER_SM_RESP


class DataSmResp(_MessageIdResp):
    command_id: ClassVar[int] = CommandId.DATA_SM_RESP


class SmeDestination(msgspec.Struct, frozen=True, gc=False):
    """A submit_multi destination that is an SME address (dest_flag 1)."""

    ton: int = 0
    npi: int = 0
    address: str = ""


class DistributionList(msgspec.Struct, frozen=True, gc=False):
    """A submit_multi destination that is a distribution list held by the SMSC (dest_flag 2)."""

    name: str = ""


class SubmitMulti(Pdu):
    command_id: ClassVar[int] = CommandId.SUBMIT_MULTI
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    destinations: list[Union[SmeDestination, DistributionList]] = []
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


class UnsuccessSme(msgspec.Struct, frozen=True, gc=False):
    """A destination of a submit_multi that the SMSC refused, with the status it gave."""

    ton: int = 0
    npi: int = 0
    address: str = ""
    error_status_code: int = 0


class SubmitMultiResp(Pdu):
    command_id: ClassVar[int] = CommandId.SUBMIT_MULTI_RESP
    is_response: ClassVar[bool] = True
    message_id: str = ""
    unsuccess_smes: list[UnsuccessSme] = []


class DataSm(Pdu):
    command_id: ClassVar[int] = CommandId.DATA_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0


class QuerySm(Pdu):
    command_id: ClassVar[int] = CommandId.QUERY_SM
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


class QuerySmResp(Pdu):
    command_id: ClassVar[int] = CommandId.QUERY_SM_RESP
    is_response: ClassVar[bool] = True
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


class CancelSm(Pdu):
    command_id: ClassVar[int] = CommandId.CANCEL_SM
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


class CancelSmResp(Pdu):
    command_id: ClassVar[int] = CommandId.CANCEL_SM_RESP
    is_response: ClassVar[bool] = True


class ReplaceSm(Pdu):
    command_id: ClassVar[int] = CommandId.REPLACE_SM
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


class ReplaceSmResp(Pdu):
    command_id: ClassVar[int] = CommandId.REPLACE_SM_RESP
    is_response: ClassVar[bool] = True


class AlertNotification(Pdu):
    command_id: ClassVar[int] = CommandId.ALERT_NOTIFICATION
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        GenericNack,
        BindTransmitter,
        BindTransmitterResp,
        BindReceiver,
        BindReceiverResp,
        BindTransceiver,
        BindTransceiverResp,
        Outbind,
        Unbind,
        UnbindResp,
        EnquireLink,
        EnquireLinkResp,
        SubmitSm,
        SubmitSmResp,
        DeliverSm,
        DeliverSmResp,
        SubmitMulti,
        SubmitMultiResp,
        DataSm,
        DataSmResp,
        QuerySm,
        QuerySmResp,
        CancelSm,
        CancelSmResp,
        ReplaceSm,
        ReplaceSmResp,
        AlertNotification,
    )
}

assert set(PDU_CLASSES) == set(CommandId), "every command id needs a PDU class"

# Requests without a response of their own: outbind is answered by a bind, alert_notification not at all.
UNANSWERED_REQUESTS = frozenset({CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION})


def response_class(request_command_id: int) -> type[Pdu] | None:
    """The class answering a request, or None for requests that have no *_resp."""
    if request_command_id in UNANSWERED_REQUESTS or request_command_id & RESPONSE_BIT:
        return None
    return PDU_CLASSES.get(request_command_id | RESPONSE_BIT)


def response_to(request: Pdu, command_status: int = 0, **fields: Any) -> Pdu:
    """The *_resp for `request`, carrying its sequence number; `fields` fill the response body."""
    cls = response_class(request.command_id)
    if cls is None or request.is_response:
        raise ValueError(f"{type(request).__name__} has no response PDU")
    return cls(sequence_number=request.sequence_number, command_status=command_status, **fields)
