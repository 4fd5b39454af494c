"""Account kinds and bounds: the account-level facts that rules elsewhere in the domain depend on."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec


class AccountType(enum.StrEnum):
    """Individual accounts are restricted (short parameters, no marketing); organisations are not."""

    INDIVIDUAL = "individual"
    ORGANISATION = "organisation"


# Balances count segments. The bound is far above any real account, and keeps a balance and any
# top-up inside the signed 64-bit integers every store keeps them in (SQLite refuses a larger
# int outright, and silently turns an overflowing sum into a float).
BALANCE_MAX = 10**15
Balance = Annotated[int, msgspec.Meta(ge=0, le=BALANCE_MAX)]
BalanceChange = Annotated[int, msgspec.Meta(ge=-BALANCE_MAX, le=BALANCE_MAX)]
# an account's local day (daily limits, alarms): from UTC-12:00 to UTC+14:00, as on Earth
UtcOffsetMinutes = Annotated[int, msgspec.Meta(ge=-12 * 60, le=14 * 60)]
