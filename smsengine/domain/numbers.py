"""Recipient numbers: strict E.164 normalisation, region, and deduplication."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable

import msgspec
import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

MAINLAND_PREFIX = "+86"

# Raw input is strict: an optional '+' then ASCII digits, nothing else (SPEC §2: spaces,
# dashes, letters are a malformed number). `[0-9]`, not `\d`: `\d` accepts Arabic-Indic digits.
_RAW = re.compile(r"\+?[0-9]{2,20}")
_SLOW_CACHE_SIZE = 1 << 16


class Region(enum.StrEnum):
    """Where a number is: mainland China (+86) or anywhere else; templates, signatures and
    segmentation all follow it."""

    MAINLAND = "mainland"
    INTERNATIONAL = "international"


# members as globals: on Python 3.11 reading Region.MAINLAND costs ~180 ns (EnumType's __getattr__
# hook), a global ~20; region_of runs once per recipient
_MAINLAND, _INTERNATIONAL = Region.MAINLAND, Region.INTERNATIONAL


def region_of(e164: str) -> Region:
    # Country codes are prefix-free, so '+86' can only be China (+852/+853 start '+85').
    return _MAINLAND if e164.startswith(MAINLAND_PREFIX) else _INTERNATIONAL


class _CountryPlan:
    """What the fast path needs to know about one country calling code, compiled from metadata.

    The fast path only ever *accepts*: it says "valid, and phonenumbers would format it to exactly
    '+' + cc + nsn" or it says nothing and the caller falls back to phonenumbers. So every rule of
    phonenumbers' parser that could rewrite the digits (national-prefix stripping, IDD stripping,
    country-code sniffing, leading zeros) sends the number to the slow path instead of being
    re-implemented here.
    """

    __slots__ = ("cc", "national_prefix", "idd", "regions")

    def __init__(self, cc: int) -> None:
        self.cc = str(cc)
        main = PhoneMetadata.metadata_for_region_or_calling_code(
            cc, phonenumbers.region_code_for_country_code(cc)
        )
        npfp = main.national_prefix_for_parsing if main is not None else None
        self.national_prefix = re.compile(npfp) if npfp else None
        idd = main.international_prefix if main is not None else None
        self.idd = re.compile(idd) if idd else None
        # (leading_digits or None, validity regex) per region, in phonenumbers' lookup order.
        self.regions: list[tuple[re.Pattern[str] | None, re.Pattern[str]]] = []
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]:
            md = PhoneMetadata.metadata_for_region(region, None)
            if md is None:
                continue
            leading = re.compile(md.leading_digits) if md.leading_digits else None
            self.regions.append((leading, _validity_regex(md)))

    def accepts(self, nsn: str) -> bool:
        """True when `nsn` is a valid national significant number that parsing keeps as is."""
        if nsn[0] == "0":
            return False  # leading zeros are stored out of band by phonenumbers: let it decide
        if self.national_prefix is not None and self.national_prefix.match(nsn):
            return False
        for leading, valid in self.regions:
            if leading is not None:
                if leading.match(nsn):
                    return valid.match(nsn) is not None
            elif valid.match(nsn) is not None:
                return True
        return False


def _desc_alternative(desc: object, general_lengths: tuple[int, ...]) -> str | None:
    """One number-type description as a regex alternative, anchored, with its lengths."""
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None
    lengths = tuple(getattr(desc, "possible_length", ()) or ())
    if lengths == (-1,):
        return None  # the type does not exist in this region
    lengths = lengths or general_lengths
    if lengths:
        length_guard = "(?=(?:" + "|".join(f"[0-9]{{{n}}}" for n in lengths) + r")\Z)"
    else:
        length_guard = ""
    return f"{length_guard}(?:{pattern})\\Z"


# Validity asks only whether some type matches, so the order is free: mobile first, as nearly
# every number an SMS goes to is one (mainland mobile numbers: 3.2 -> 1.9 us a match, the engine's
# intake matches each recipient once; CN's fixed-line pattern is the long one).
_TYPE_DESCS = (
    "mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
    "pager", "uan", "voicemail",
)


def _validity_regex(md: PhoneMetadata) -> re.Pattern[str]:
    """One regex equal to phonenumbers' `_number_type_helper(...) != UNKNOWN` for this region."""
    general = md.general_desc
    general_lengths = tuple(general.possible_length or ())
    general_alt = _desc_alternative(general, ())
    alternatives = (_desc_alternative(getattr(md, t, None), general_lengths) for t in _TYPE_DESCS)
    types = [a for a in alternatives if a]
    if general_alt is None or not types:
        return re.compile(r"(?!)")
    return re.compile(f"(?={general_alt})(?:" + "|".join(f"(?:{t})" for t in types) + ")")


class _NonGeographic(_CountryPlan):
    """Non-geographic calling codes (+800, +882, ...) validate differently: always the slow path."""

    __slots__ = ()

    def __init__(self, cc: int) -> None:
        self.cc = str(cc)
        self.national_prefix = self.idd = None
        self.regions = []

    def accepts(self, nsn: str) -> bool:
        return False


_CALLING_CODES = {str(cc): cc for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
# Plans are compiled on first use (all of them take ~0.5 s, most are never needed).
_PLANS: dict[str, _CountryPlan] = {}


def _plan(cc: str) -> _CountryPlan | None:
    """The plan for a calling code given as digits, or None if no country has that code."""
    plan = _PLANS.get(cc)
    if plan is None:
        code = _CALLING_CODES.get(cc)
        if code is None:
            return None
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
        geographic = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY not in regions
        plan = _PLANS[cc] = _CountryPlan(code) if geographic else _NonGeographic(code)
    return plan


_REGION_CC: dict[str, str | None] = {}


def _region_plan(region: str) -> _CountryPlan | None:
    cc = _REGION_CC.get(region, "")
    if cc == "":
        code = phonenumbers.country_code_for_valid_region(region)
        cc = _REGION_CC[region] = str(code) if code else None
    return _plan(cc) if cc is not None else None


@functools.lru_cache(maxsize=_SLOW_CACHE_SIZE)
def _normalise_slow(raw: str, default_region: str) -> str | None:
    try:
        parsed = phonenumbers.parse(raw, None if raw[0] == "+" else default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_fast(raw: str, default_region: str = "CN") -> str | None:
    """The fast path alone: the E.164 form when it can vouch for `raw`, else None ("don't know")."""
    if not raw:
        return None
    if raw[0] == "+":
        for end in (2, 3, 4):
            cc = raw[1:end]
            if cc in _CALLING_CODES:
                plan = _PLANS.get(cc) or _plan(cc)
                nsn = raw[end:]
                if nsn and plan.accepts(nsn):
                    return raw
                return None
        return None
    plan = _region_plan(default_region)
    if plan is None or raw.startswith(plan.cc) or (plan.idd is not None and plan.idd.match(raw)):
        return None  # phonenumbers might read an IDD or a country code in there
    if plan.accepts(raw):
        return "+" + plan.cc + raw
    return None


def normalise(raw: str, default_region: str = "CN") -> str | None:
    """E.164 form of `raw` ('+8613800138000'), or None when it is not a valid number.

    Only '+digits' or 'digits' is accepted; bare digits are read in `default_region`.
    """
    if _RAW.fullmatch(raw) is None:
        return None
    return normalise_fast(raw, default_region) or _normalise_slow(raw, default_region)


class Recipients(msgspec.Struct, frozen=True):
    """Recipients of one request after normalisation and deduplication."""

    numbers: list[str]  # unique E.164, in order of first occurrence
    duplicates: list[str]  # raw entries dropped because their number was already present
    invalid: list[str]  # raw entries that are not valid numbers (error 1016 each)
    raw_of: dict[str, str]  # E.164 -> the raw entry it was first given as, to echo back


def dedupe(raws: Iterable[str], default_region: str = "CN") -> Recipients:
    numbers: list[str] = []
    duplicates: list[str] = []
    invalid: list[str] = []
    raw_of: dict[str, str] = {}
    for raw in raws:
        e164 = normalise(raw, default_region)
        if e164 is None:
            invalid.append(raw)
        elif e164 in raw_of:
            duplicates.append(raw)
        else:
            raw_of[e164] = raw
            numbers.append(e164)
    return Recipients(numbers=numbers, duplicates=duplicates, invalid=invalid, raw_of=raw_of)


def mask_number(phone: str) -> str:
    """A number for list views and logs: four digits before the last four hidden, as the seeds
    show them ("+8613800138000" → "+86138****8000"); short numbers keep only their last two."""
    if len(phone) < 9:
        return "*" * max(0, len(phone) - 2) + phone[-2:]
    return phone[:-8] + "****" + phone[-4:]


def country_of(e164: str) -> str:
    """The ISO region of a number's country code ("CN" for +86…), "" when none matches; for a
    code shared by several regions (+1), the main one."""
    digits = e164.lstrip("+")
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length])) if digits[:length].isdigit() else None
        if regions:
            return regions[0]
    return ""
