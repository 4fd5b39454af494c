"""SMPP 3.4, sans-I/O: PDU codec, session state machine, delivery receipts, concatenation, message-id keys.

The names below are the package's public surface; import them from `smsengine.smpp`. The
submodules import each other directly, never this package, so importing it has no cycles.
"""

from smsengine.smpp.codec import (
    FramingError,
    MalformedPduError,
    PduEncodeError,
    PduError,
    UnknownCommandError,
    decode_frame,
    decode_pdu,
    encode_pdu,
    submit_sm_body,
    submit_sm_head,
    submit_sm_tail,
)
from smsengine.smpp.concatenation import (
    ConcatMethod,
    PartNumber,
    ReferenceRotor,
    WirePart,
    parse_part,
    parse_udh,
    udh,
    wire_parts,
)
from smsengine.smpp.constants import (
    ESM_MESSAGE_TYPE_MASK,
    HEADER_SIZE,
    CommandId,
    CommandStatus,
    DataCoding,
    EsmClass,
    MessageState,
    Npi,
    RegisteredDelivery,
    Tag,
    Ton,
    is_delivery_receipt,
    status_description,
    status_name,
)
from smsengine.smpp.message_id import CarrierIdFormats, IdForm, MessageIdFormat, normalise_message_id
from smsengine.smpp.pdu import (
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    DistributionList,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    NetworkErrorCode,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SmeDestination,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnsuccessSme,
    response_to,
)
from smsengine.smpp.receipt import (
    STAT_FOR_STATE,
    Outcome,
    Receipt,
    format_receipt,
    message_state_outcome,
    parse_receipt,
    stat_outcome,
)
from smsengine.smpp.session import (
    Event,
    IllegalPduError,
    Outstanding,
    PeerError,
    Response,
    Role,
    Session,
    SessionError,
    State,
)
from smsengine.smpp.vendor_tlvs import (
    VENDOR_TAG_MAX,
    VENDOR_TAG_MIN,
    VendorTlv,
    VendorTlvs,
    encode_vendor_tlvs,
    repeated_tag,
    vendor_values,
    with_defaults,
)

__all__ = [
    # session
    "Session", "Role", "State", "Event", "Response", "PeerError", "Outstanding", "SessionError",
    "IllegalPduError",
    # codec
    "encode_pdu", "decode_pdu", "decode_frame", "submit_sm_head", "submit_sm_tail", "submit_sm_body",
    "PduError", "FramingError", "UnknownCommandError", "MalformedPduError", "PduEncodeError",
    # PDUs
    "Pdu", "GenericNack", "BindTransmitter", "BindTransmitterResp", "BindReceiver", "BindReceiverResp",
    "BindTransceiver", "BindTransceiverResp", "Outbind", "Unbind", "UnbindResp", "EnquireLink",
    "EnquireLinkResp", "SubmitSm", "SubmitSmResp", "DeliverSm", "DeliverSmResp", "SubmitMulti",
    "SubmitMultiResp", "SmeDestination", "DistributionList", "UnsuccessSme", "DataSm", "DataSmResp",
    "QuerySm", "QuerySmResp", "CancelSm", "CancelSmResp", "ReplaceSm", "ReplaceSmResp",
    "AlertNotification", "NetworkErrorCode", "response_to",
    # constants
    "HEADER_SIZE", "CommandId", "CommandStatus", "Tag", "EsmClass", "ESM_MESSAGE_TYPE_MASK", "DataCoding",
    "RegisteredDelivery", "MessageState", "Ton", "Npi", "status_name", "status_description",
    "is_delivery_receipt",
    # receipts
    "Receipt", "Outcome", "parse_receipt", "format_receipt", "stat_outcome", "message_state_outcome",
    "STAT_FOR_STATE",
    # concatenation
    "ConcatMethod", "WirePart", "PartNumber", "wire_parts", "parse_part", "udh", "parse_udh",
    "ReferenceRotor",
    # message ids
    "MessageIdFormat", "CarrierIdFormats", "IdForm", "normalise_message_id",
    # vendor-specific TLVs
    "VendorTlv", "VendorTlvs", "VENDOR_TAG_MIN", "VENDOR_TAG_MAX", "encode_vendor_tlvs", "repeated_tag",
    "vendor_values", "with_defaults",
]  # fmt: skip
