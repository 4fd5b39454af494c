"""Account kinds: the account-level facts that rules elsewhere in the domain depend on."""

from __future__ import annotations

import enum


class AccountType(enum.StrEnum):
    """Individual accounts are restricted (short parameters, no marketing); organisations are not."""

    INDIVIDUAL = "individual"
    ORGANISATION = "organisation"
