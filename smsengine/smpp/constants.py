"""SMPP 3.4 numbers: command ids, command_status codes, TLV tags, esm_class / data_coding bits, message states."""

from __future__ import annotations

import enum

HEADER_SIZE = 16
RESPONSE_BIT = 0x80000000
MAX_SEQUENCE = 0x7FFFFFFF
DEFAULT_MAX_PDU_SIZE = 64 * 1024
INTERFACE_VERSION = 0x34
MAX_SHORT_MESSAGE = 254


class CommandId(enum.IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


def is_response(command_id: int) -> bool:
    return command_id & RESPONSE_BIT != 0


class CommandStatus(enum.IntEnum):
    """SMPP 3.4 §5.1.3 error codes, plus the SMPP 5.0 codes carriers send in practice.

    The SMPP 5.0 names of the TLV codes (ESME_RINVTLVLEN, ...) are aliases of the 3.4 names.
    """

    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF
    # SMPP 5.0 names for the same TLV errors
    ESME_RINVTLVSTREAM = 0x000000C0
    ESME_RTLVNOTALLWD = 0x000000C1
    ESME_RINVTLVLEN = 0x000000C2
    ESME_RMISSINGTLV = 0x000000C3
    ESME_RINVTLVVAL = 0x000000C4
    # SMPP 5.0 additions
    ESME_RSERTYPUNAUTH = 0x00000100
    ESME_RPROHIBITED = 0x00000101
    ESME_RSERTYPUNAVAIL = 0x00000102
    ESME_RSERTYPDENIED = 0x00000103
    ESME_RINVDCS = 0x00000104
    ESME_RINVSRCADDRSUBUNIT = 0x00000105
    ESME_RINVDSTADDRSUBUNIT = 0x00000106


STATUS_DESCRIPTIONS: dict[int, str] = {
    CommandStatus.ESME_ROK: "no error",
    CommandStatus.ESME_RINVMSGLEN: "message length is invalid",
    CommandStatus.ESME_RINVCMDLEN: "command length is invalid",
    CommandStatus.ESME_RINVCMDID: "invalid command id",
    CommandStatus.ESME_RINVBNDSTS: "incorrect bind status for given command",
    CommandStatus.ESME_RALYBND: "ESME already in bound state",
    CommandStatus.ESME_RINVPRTFLG: "invalid priority flag",
    CommandStatus.ESME_RINVREGDLVFLG: "invalid registered delivery flag",
    CommandStatus.ESME_RSYSERR: "system error",
    CommandStatus.ESME_RINVSRCADR: "invalid source address",
    CommandStatus.ESME_RINVDSTADR: "invalid destination address",
    CommandStatus.ESME_RINVMSGID: "message id is invalid",
    CommandStatus.ESME_RBINDFAIL: "bind failed",
    CommandStatus.ESME_RINVPASWD: "invalid password",
    CommandStatus.ESME_RINVSYSID: "invalid system id",
    CommandStatus.ESME_RCANCELFAIL: "cancel_sm failed",
    CommandStatus.ESME_RREPLACEFAIL: "replace_sm failed",
    CommandStatus.ESME_RMSGQFUL: "message queue full",
    CommandStatus.ESME_RINVSERTYP: "invalid service type",
    CommandStatus.ESME_RINVNUMDESTS: "invalid number of destinations",
    CommandStatus.ESME_RINVDLNAME: "invalid distribution list name",
    CommandStatus.ESME_RINVDESTFLAG: "destination flag is invalid (submit_multi)",
    CommandStatus.ESME_RINVSUBREP: "invalid submit with replace request",
    CommandStatus.ESME_RINVESMCLASS: "invalid esm_class field data",
    CommandStatus.ESME_RCNTSUBDL: "cannot submit to distribution list",
    CommandStatus.ESME_RSUBMITFAIL: "submit_sm or submit_multi failed",
    CommandStatus.ESME_RINVSRCTON: "invalid source address TON",
    CommandStatus.ESME_RINVSRCNPI: "invalid source address NPI",
    CommandStatus.ESME_RINVDSTTON: "invalid destination address TON",
    CommandStatus.ESME_RINVDSTNPI: "invalid destination address NPI",
    CommandStatus.ESME_RINVSYSTYP: "invalid system_type field",
    CommandStatus.ESME_RINVREPFLAG: "invalid replace_if_present flag",
    CommandStatus.ESME_RINVNUMMSGS: "invalid number of messages",
    CommandStatus.ESME_RTHROTTLED: "throttling error (ESME has exceeded allowed message limits)",
    CommandStatus.ESME_RINVSCHED: "invalid scheduled delivery time",
    CommandStatus.ESME_RINVEXPIRY: "invalid message validity period (expiry time)",
    CommandStatus.ESME_RINVDFTMSGID: "predefined message invalid or not found",
    CommandStatus.ESME_RX_T_APPN: "ESME receiver temporary app error code",
    CommandStatus.ESME_RX_P_APPN: "ESME receiver permanent app error code",
    CommandStatus.ESME_RX_R_APPN: "ESME receiver reject message error code",
    CommandStatus.ESME_RQUERYFAIL: "query_sm request failed",
    CommandStatus.ESME_RINVOPTPARSTREAM: "error in the optional part of the PDU body",
    CommandStatus.ESME_ROPTPARNOTALLWD: "optional parameter not allowed",
    CommandStatus.ESME_RINVPARLEN: "invalid parameter length",
    CommandStatus.ESME_RMISSINGOPTPARAM: "expected optional parameter missing",
    CommandStatus.ESME_RINVOPTPARAMVAL: "invalid optional parameter value",
    CommandStatus.ESME_RDELIVERYFAILURE: "delivery failure (data_sm_resp)",
    CommandStatus.ESME_RUNKNOWNERR: "unknown error",
    CommandStatus.ESME_RSERTYPUNAUTH: "ESME not authorised to use specified service type",
    CommandStatus.ESME_RPROHIBITED: "ESME prohibited from using specified operation",
    CommandStatus.ESME_RSERTYPUNAVAIL: "specified service type is unavailable",
    CommandStatus.ESME_RSERTYPDENIED: "specified service type is denied",
    CommandStatus.ESME_RINVDCS: "invalid data coding scheme",
    CommandStatus.ESME_RINVSRCADDRSUBUNIT: "source address sub unit is invalid",
    CommandStatus.ESME_RINVDSTADDRSUBUNIT: "destination address sub unit is invalid",
}

assert set(STATUS_DESCRIPTIONS) == set(CommandStatus), "every status needs a description"


def status_name(code: int) -> str:
    """`ESME_RTHROTTLED` for 0x58; vendor codes (0x400-0x4FF and others) as `0x00000401`."""
    try:
        return CommandStatus(code).name
    except ValueError:
        return f"0x{code:08X}"


def status_description(code: int) -> str:
    return STATUS_DESCRIPTIONS.get(code, "reserved or vendor-specific error")


class Tag(enum.IntEnum):
    """SMPP 3.4 §5.3.2 optional parameter tags."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


class TlvKind(enum.Enum):
    U8 = 1
    U16 = 2
    U32 = 4
    CSTRING = "cstring"
    OCTETS = "octets"
    NETWORK_ERROR = "network_error"


# Value type of every standard tag; (kind, exact length for octets or max length for c-strings incl. NUL).
TLV_KINDS: dict[int, tuple[TlvKind, int]] = {
    Tag.DEST_ADDR_SUBUNIT: (TlvKind.U8, 1),
    Tag.DEST_NETWORK_TYPE: (TlvKind.U8, 1),
    Tag.DEST_BEARER_TYPE: (TlvKind.U8, 1),
    Tag.DEST_TELEMATICS_ID: (TlvKind.U16, 2),
    Tag.SOURCE_ADDR_SUBUNIT: (TlvKind.U8, 1),
    Tag.SOURCE_NETWORK_TYPE: (TlvKind.U8, 1),
    Tag.SOURCE_BEARER_TYPE: (TlvKind.U8, 1),
    Tag.SOURCE_TELEMATICS_ID: (TlvKind.U8, 1),
    Tag.QOS_TIME_TO_LIVE: (TlvKind.U32, 4),
    Tag.PAYLOAD_TYPE: (TlvKind.U8, 1),
    Tag.ADDITIONAL_STATUS_INFO_TEXT: (TlvKind.CSTRING, 256),
    Tag.RECEIPTED_MESSAGE_ID: (TlvKind.CSTRING, 65),
    Tag.MS_MSG_WAIT_FACILITIES: (TlvKind.U8, 1),
    Tag.PRIVACY_INDICATOR: (TlvKind.U8, 1),
    Tag.SOURCE_SUBADDRESS: (TlvKind.OCTETS, 0),
    Tag.DEST_SUBADDRESS: (TlvKind.OCTETS, 0),
    Tag.USER_MESSAGE_REFERENCE: (TlvKind.U16, 2),
    Tag.USER_RESPONSE_CODE: (TlvKind.U8, 1),
    Tag.SOURCE_PORT: (TlvKind.U16, 2),
    Tag.DESTINATION_PORT: (TlvKind.U16, 2),
    Tag.SAR_MSG_REF_NUM: (TlvKind.U16, 2),
    Tag.LANGUAGE_INDICATOR: (TlvKind.U8, 1),
    Tag.SAR_TOTAL_SEGMENTS: (TlvKind.U8, 1),
    Tag.SAR_SEGMENT_SEQNUM: (TlvKind.U8, 1),
    Tag.SC_INTERFACE_VERSION: (TlvKind.U8, 1),
    Tag.CALLBACK_NUM_PRES_IND: (TlvKind.U8, 1),
    Tag.CALLBACK_NUM_ATAG: (TlvKind.OCTETS, 0),
    Tag.NUMBER_OF_MESSAGES: (TlvKind.U8, 1),
    Tag.CALLBACK_NUM: (TlvKind.OCTETS, 0),
    Tag.DPF_RESULT: (TlvKind.U8, 1),
    Tag.SET_DPF: (TlvKind.U8, 1),
    Tag.MS_AVAILABILITY_STATUS: (TlvKind.U8, 1),
    Tag.NETWORK_ERROR_CODE: (TlvKind.NETWORK_ERROR, 3),
    Tag.MESSAGE_PAYLOAD: (TlvKind.OCTETS, 0),
    Tag.DELIVERY_FAILURE_REASON: (TlvKind.U8, 1),
    Tag.MORE_MESSAGES_TO_SEND: (TlvKind.U8, 1),
    Tag.MESSAGE_STATE: (TlvKind.U8, 1),
    Tag.USSD_SERVICE_OP: (TlvKind.U8, 1),
    Tag.DISPLAY_TIME: (TlvKind.U8, 1),
    Tag.SMS_SIGNAL: (TlvKind.U16, 2),
    Tag.MS_VALIDITY: (TlvKind.U8, 1),
    Tag.ALERT_ON_MESSAGE_DELIVERY: (TlvKind.OCTETS, 0),
    Tag.ITS_REPLY_TYPE: (TlvKind.U8, 1),
    Tag.ITS_SESSION_INFO: (TlvKind.OCTETS, 2),
}

assert set(TLV_KINDS) == set(Tag), "every tag needs a value kind"


def tag_name(tag: int) -> str:
    """`receipted_message_id` for 0x001E; unknown (vendor) tags as `0x1400`."""
    try:
        return Tag(tag).name.lower()
    except ValueError:
        return f"0x{tag:04X}"


class EsmClass(enum.IntFlag):
    """esm_class bits (SMPP 3.4 §5.2.12): messaging mode, message type, GSM features."""

    DEFAULT = 0x00
    DATAGRAM_MODE = 0x01
    FORWARD_MODE = 0x02
    STORE_AND_FORWARD_MODE = 0x03
    DELIVERY_RECEIPT = 0x04
    DELIVERY_ACK = 0x08
    MANUAL_USER_ACK = 0x10
    CONVERSATION_ABORT = 0x18
    INTERMEDIATE_NOTIFICATION = 0x20
    UDHI = 0x40
    REPLY_PATH = 0x80


ESM_MESSAGE_TYPE_MASK = 0x3C
ESM_MODE_MASK = 0x03


def is_delivery_receipt(esm_class: int) -> bool:
    """A deliver_sm whose message-type bits say "SMSC delivery receipt" (not an MO message)."""
    return esm_class & ESM_MESSAGE_TYPE_MASK == EsmClass.DELIVERY_RECEIPT


class DataCoding(enum.IntEnum):
    SMSC_DEFAULT = 0x00
    IA5 = 0x01
    OCTET_UNSPECIFIED = 0x02
    LATIN_1 = 0x03
    OCTET_UNSPECIFIED_2 = 0x04
    JIS = 0x05
    CYRILLIC = 0x06
    LATIN_HEBREW = 0x07
    UCS2 = 0x08
    PICTOGRAM = 0x09
    ISO_2022_JP = 0x0A
    EXTENDED_KANJI = 0x0D
    KS_C_5601 = 0x0E


class RegisteredDelivery(enum.IntFlag):
    NONE = 0x00
    SMSC_RECEIPT_ALWAYS = 0x01
    SMSC_RECEIPT_ON_FAILURE = 0x02
    SME_ACK_DELIVERY = 0x04
    SME_ACK_MANUAL = 0x08
    INTERMEDIATE_NOTIFICATION = 0x10


class MessageState(enum.IntEnum):
    """message_state TLV / query_sm_resp values (SMPP 3.4 §5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class Ton(enum.IntEnum):
    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER_NUMBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi(enum.IntEnum):
    UNKNOWN = 0
    ISDN = 1
    DATA = 3
    TELEX = 4
    LAND_MOBILE = 6
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10
    INTERNET = 14
    WAP_CLIENT_ID = 18
