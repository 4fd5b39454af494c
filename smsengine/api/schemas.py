"""HTTP request and response bodies (msgspec), the API's whole contract with its callers."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from smsengine.domain.accounts import Balance, BalanceChange, UtcOffsetMinutes
from smsengine.domain.errors import ErrorCode
from smsengine.domain.templates import TemplateId
from smsengine.engine import records, requests, screening
from smsengine.engine.requests import Content, Credential, Name, Phone, Remark, Url


# the send request and its results are the intake's own contract, served as is
SendRequest = requests.SendRequest
SendResult = requests.SendResult
SendResponse = requests.SendResponse


class ErrorResponse(msgspec.Struct):
    """A request-level error: a code from the catalogue and its message, with any detail in brackets."""

    code: ErrorCode
    message: str


class Acknowledgement(msgspec.Struct):
    """A change that has no view of its own to return: always code 0, "OK"."""

    code: int
    message: str


# a message, a status report and a reply as the API shows them: the store's own views of them
MessageView = records.MessageView
ReceiptItem = records.ReceiptView
ReplyItem = records.ReplyView


class ReceiptPage(msgspec.Struct):
    code: int
    message: str
    receipts: list[ReceiptItem]
    next_cursor: int


class ReplyPage(msgspec.Struct):
    code: int
    message: str
    replies: list[ReplyItem]
    next_cursor: int


# An account created by the operator is described as one in the config file is: key, type,
# balance, limits, and optionally signatures and templates seeded as already reviewed. These are
# the API's own structs (the config may change without changing the API); the handler converts.
class AccountLimits(msgspec.Struct, forbid_unknown_fields=True):
    same_content_max: int = 1
    same_content_window_s: float = 30.0
    daily_max: int = 10
    hourly_max: int | None = None
    international_daily_max: int = 1000
    alarm_threshold: int | None = None
    alarm_url: Url = ""
    allow_list: Annotated[list[Phone], msgspec.Meta(max_length=10_000)] = []
    max_signatures: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 50
    max_templates: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 200


Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
Window = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class LimitsPatch(msgspec.Struct, forbid_unknown_fields=True):
    """PATCH /v1/accounts/{app_id}/limits: the fields given replace the account's (an absent one
    stays; `hourly_max: null` removes the hourly limit). The frequency fields (all but the alarm's)
    are refused for individual accounts (1006)."""

    same_content_max: Count | msgspec.UnsetType = msgspec.UNSET
    same_content_window_s: Window | msgspec.UnsetType = msgspec.UNSET
    daily_max: Count | msgspec.UnsetType = msgspec.UNSET
    hourly_max: Count | None | msgspec.UnsetType = msgspec.UNSET
    international_daily_max: Count | msgspec.UnsetType = msgspec.UNSET
    alarm_threshold: Count | None | msgspec.UnsetType = msgspec.UNSET
    alarm_url: Url | msgspec.UnsetType = msgspec.UNSET
    # operator only: how many signatures and templates the account may hold
    max_signatures: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | msgspec.UnsetType = msgspec.UNSET
    max_templates: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | msgspec.UnsetType = msgspec.UNSET


class SeededSignature(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    status: Literal["pending", "approved", "rejected"] = "approved"


class SeededTemplate(msgspec.Struct, forbid_unknown_fields=True):
    id: TemplateId
    text: Content
    type: Literal["regular", "marketing"] = "regular"
    region: Literal["mainland", "international"] = "mainland"
    status: Literal["pending", "approved", "rejected"] = "approved"


class AccountCreate(msgspec.Struct, forbid_unknown_fields=True):
    app_id: Credential
    key: Credential
    type: Literal["individual", "organisation"] = "organisation"
    raw_content: bool = False
    balance: Balance = 0
    utc_offset_minutes: UtcOffsetMinutes = 480
    receipt_url: Url = ""
    reply_url: Url = ""  # replies (MO) pushed here as JSON arrays, like receipts ("" = pull only)
    # `hmac`: only whole-request signed calls (Authorization: SMSENGINE-HMAC-SHA256); `sig` also
    # takes the body's sig and X-App-Key
    auth_scheme: Literal["sig", "hmac"] = "sig"
    limits: AccountLimits = msgspec.field(default_factory=AccountLimits)
    signatures: list[SeededSignature] = []
    templates: list[SeededTemplate] = []


# Setting a URL says what it will push: by default a first URL pushes what becomes final from
# now on, and a changed URL continues where the old one stopped (nothing acknowledged is repeated,
# nothing unacknowledged skipped); `*_since` replays everything after that cursor (0: all kept).
Since = Annotated[int, msgspec.Meta(ge=0, le=2**62)]


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True):
    receipt_url: Url | None = None
    receipt_since: Since | None = None
    reply_url: Url | None = None
    reply_since: Since | None = None
    state: Literal["active", "suspended"] | None = None
    add_balance: BalanceChange | None = None
    auth_scheme: Literal["sig", "hmac"] | None = None  # operator only


class AccountView(msgspec.Struct):
    app_id: str
    type: str
    raw_content: bool
    balance: int
    state: str
    utc_offset_minutes: int
    receipt_url: str
    auth_scheme: str
    reply_url: str = ""
    # pushing continues after these cursors (status report cursor; reply id)
    receipt_cursor: int = 0
    reply_cursor: int = 0


class SignatureCreate(msgspec.Struct, forbid_unknown_fields=True):
    app_id: Name
    name: Name


class SignatureView(msgspec.Struct):
    id: int
    app_id: str
    name: str
    status: str
    remark: str


class TemplateCreate(msgspec.Struct, forbid_unknown_fields=True):
    app_id: Name
    text: Content
    type: Literal["regular", "marketing"] = "regular"
    region: Literal["mainland", "international"] = "mainland"
    name: Annotated[str, msgspec.Meta(max_length=64)] = ""  # what the account calls it
    note: Remark = ""  # the applicant's explanation for the reviewer


class TemplateEdit(msgspec.Struct, forbid_unknown_fields=True):
    text: Content
    name: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # None: as it was
    note: Remark | None = None


class SignatureEdit(msgspec.Struct, forbid_unknown_fields=True):
    name: Name


class TemplateView(msgspec.Struct):
    id: int
    app_id: str
    text: str
    type: str
    region: str
    status: str
    remark: str  # the reviewer's reason on rejection
    name: str = ""
    note: str = ""  # the applicant's explanation


class ReviewDecision(msgspec.Struct, forbid_unknown_fields=True):
    remark: Remark = ""


class UnsubscribeChange(msgspec.Struct, forbid_unknown_fields=True):
    app_id: Name
    phone: Phone


class UnsubscribeList(msgspec.Struct):
    code: int
    message: str
    phones: list[str]


class Health(msgspec.Struct):
    healthy: bool
    store_writable: bool
    carriers: dict[str, bool]
    time: float


# -- short links (SPEC §8a) -------------------------------------------------------------------------
class LinkCreate(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/links: an absolute http(s) URL, printable ASCII (percent-encode the rest)."""

    url: Url
    # the account: an account's own credentials name it already; the operator names it here (or in X-App-Id)
    app_id: Name | None = None


class LinkView(msgspec.Struct):
    code: str
    app_id: str
    url: str
    short_url: str  # the text a template carries: `{links.public_base_url}/s/{code}`
    created_at: float
    cursor: int  # its place in the account's list


class LinkPage(msgspec.Struct):
    code: int
    message: str
    links: list[LinkView]
    next_cursor: int


class HourClicks(msgspec.Struct):
    hour: int  # the UTC hour's start, unix seconds
    clicks: int


class LinkStats(msgspec.Struct):
    link: LinkView
    clicks: int  # every click since the link was created
    since: int  # the first hour `hours` covers (the last 7 days, UTC hours); hours without clicks are left out
    hours: list[HourClicks]


# -- empty-number screening (SPEC §8a) ------------------------------------------------------------
class NumbersCheck(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/numbers/check: the numbers to look up at their carriers."""

    # how many is checked by the screening (at most 100,000, else 1054), each one's length here
    phone_numbers: list[Phone]
    # the account: an account's own credentials name it already; the operator names it here (or in X-App-Id)
    app_id: Name | None = None


# the screening's answer, served as is: one status per number, and the counts
NumberCheck = screening.NumberCheck
ScreeningCounts = screening.ScreeningCounts
ScreeningResponse = screening.ScreeningResponse


# -- bulk tasks (README "Bulk tasks") -------------------------------------------------------------------
# A row of a JSON task: the number, then the template's parameters in order
TaskRow = Annotated[list[Annotated[str, msgspec.Meta(max_length=1000)]], msgspec.Meta(min_length=1, max_length=64)]


class TaskCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A task from JSON: `rows` ([number, param, ...] each), or `numbers` sharing `params`. A CSV
    upload gives the same fields as query parameters (raw text/csv body) or form fields
    (multipart/form-data, the file in `file`)."""

    template_id: TemplateId
    app_id: Name = ""  # the operator names the account; an account's own credentials imply it
    name: Name = ""
    type: Literal["regular", "marketing"] | None = None  # default: the template's
    sign: Name = ""
    # how many is counted against tasks.max_rows (more: 1055, 413), not here (the decoder's 1004)
    rows: list[TaskRow] = []
    numbers: list[Phone] = []
    params: Annotated[list[Annotated[str, msgspec.Meta(max_length=1000)]], msgspec.Meta(max_length=64)] = []
    # unix seconds, or ISO 8601 with an offset ("2026-12-01T09:00:00+08:00"); absent or past: now
    schedule_at: float | str | None = None
    context: requests.Context = ""
    callback_url: Url = ""
    # check each number at its carrier's lookup endpoint when the task starts and drop the empty
    # ones (reported as rows not sent, 1058; `screened_empty` counts them)
    screen: bool = False


class TaskCounts(msgspec.Struct):
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    pending: int = 0  # accepted or submitted, not final yet


class RowProblemView(msgspec.Struct):
    line: int
    value: str
    code: int
    reason: str


class TaskView(msgspec.Struct):
    id: int
    app_id: str
    name: str
    type: str
    sign: str
    template_id: int
    template_name: str
    template_text: str
    status: Literal["scheduled", "running", "completed", "cancelled"]
    recipients: int  # rows to send after merging equal ones
    rows_rejected: int  # rows not sent: unreadable, invalid number, refused by a rule
    rows_merged: int
    screen: bool
    screened_empty: int  # rows dropped because their number was empty (screen: true)
    created_at: float
    schedule_at: float | None
    started_at: float | None
    completed_at: float | None
    cancelled_at: float | None
    counts: TaskCounts
    segments_charged: int
    problems: list[RowProblemView] = []  # the first 1,000 rows not sent, by line (detail view only)


class TaskPage(msgspec.Struct):
    code: int
    message: str
    tasks: list[TaskView]
    next_before: int  # give as ?before= for the next (older) page; 0: none


MessageRow = records.MessageRow


class MessagePage(msgspec.Struct):
    """A page of records; `next` is the cursor of the next page (?after= for a task's messages,
    oldest first; ?before= for the records list, newest first); 0: no more."""

    code: int
    message: str
    messages: list[MessageRow]
    next: int


# -- statistics ----------------------------------------------------------------------------------------
class FailureReason(msgspec.Struct):
    code: int
    remark: str  # one of the remarks under this code, as an example
    messages: int


class CarrierDay(msgspec.Struct):
    carrier: str
    messages: int
    delivered: int
    failed: int
    expired: int


class CountryDay(msgspec.Struct):
    country: str  # ISO region of the number's country code ("" unknown)
    messages: int


class StatsView(msgspec.Struct):
    """One account's day in its own timezone: what was accepted that day and where it stands now."""

    code: int
    message: str
    app_id: str
    day: str
    utc_offset_minutes: int
    requests: int  # sends (API requests and task chunks) that accepted at least one message
    messages: int
    segments_charged: int
    delivered: int
    failed: int
    expired: int
    cancelled: int
    pending: int
    failure_reasons: list[FailureReason]
    carriers: list[CarrierDay]
    countries: list[CountryDay]
