"""Finding an application number and the phone's last 4 digits in what a citizen typed.

Citizens write "编号HN-2024-00103，尾号0003", "hn-2024-00103 0003", or only "0003" when asked
for the digits. Dates, years and full mobile numbers are told apart from both, so that
"2024年4月提交的" is not read as anything and a full phone number never becomes an
application number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional

from bot.text.normalize import normalize_text

# docs/contract.md: 6 to 32 characters of ASCII letters, digits and "-", with at least one digit.
APPLICATION_NO_PATTERN = re.compile(r"^(?=[A-Z0-9-]*[0-9])[A-Z0-9-]{6,32}$")
APPLICATION_NO_EXAMPLE = "HN-2024-00101"

# Candidate tokens: runs of letters, digits and dash-like characters, not glued to more
# ASCII (so "abc" inside an English word is not cut out of it).
_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9][A-Za-z0-9\-_－—–]*[A-Za-z0-9](?![A-Za-z0-9])")
_DASHES = str.maketrans({"_": "-", "－": "-", "—": "-", "–": "-"})
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_DATE = re.compile(r"^\d{4}-\d{1,2}(-\d{1,2})?$|^\d{8}$")
# "尾号1234", "手机后四位是 1234", "后4位：1234", "末四位1234".
_LAST4_CUE = re.compile(
    r"(尾号|尾数|后四位|后4位|后四个数字?|后4个数字?|末四位|末4位|最后四位|最后4位)"
    r"[^0-9a-z]{0,6}?(\d{4})(?!\d)"
)
_STANDALONE_4 = re.compile(r"(?<![0-9a-z\-])(\d{4})(?![0-9a-z\-])")
_DIGITS = re.compile(r"\d")
# Followed by 年/月/号 etc. a 4-digit group is a year or a date, not phone digits.
_YEAR_SUFFIX = re.compile(r"\d{4}\s*(年|年度|届|级|元|块|万|号楼|平)")


@dataclass(frozen=True)
class Extraction:
    """What one message contains. Values are normalised (upper-case numbers)."""

    application_no: Optional[str] = None
    phone_last4: Optional[str] = None
    # The message held a whole mobile number; the reply asks the user not to send it.
    full_phone_given: bool = False
    # Something number-like that is not a valid application number (for a re-ask).
    malformed_application_no: bool = False
    # Digits that are not 4 (for a re-ask when the digits were asked for).
    malformed_last4: bool = False


def _candidates(text: str) -> List[str]:
    return [m.group(0).translate(_DASHES).upper() for m in _TOKEN.finditer(text)]


def is_application_no(value: str) -> bool:
    return bool(APPLICATION_NO_PATTERN.match(value)) and not _MOBILE.match(value)


def normalize_application_no(value: str) -> Optional[str]:
    """The stored form of a number a citizen typed, or None when it cannot be one."""
    candidate = normalize_text(value or "").strip().translate(_DASHES).upper()
    return candidate if is_application_no(candidate) and not _DATE.match(candidate) else None


def extract(text: str, expecting: Optional[str] = None) -> Extraction:
    """Reads ``text``; ``expecting`` is the slot just asked for ("application_no" or
    "phone_last4"), which lets a bare "1234" count as digits."""
    normalized = normalize_text(text or "")
    application_no: Optional[str] = None
    full_phone = False
    malformed_no = False
    for candidate in _candidates(normalized):
        if _MOBILE.match(candidate):
            full_phone = True
            continue
        if _DATE.match(candidate):
            continue
        if expecting == "phone_last4" and candidate.isdigit() and len(candidate) < 8:
            # Asked for 4 digits, got a few more: a typo, not a short numeric number.
            continue
        if application_no is None and is_application_no(candidate):
            application_no = candidate
        elif application_no is None and _DIGITS.search(candidate):
            # An attempt at a number (too short, too long...) when the number was asked
            # for; otherwise a short group of digits is more likely the phone's digits.
            malformed_no = malformed_no or len(candidate) > 4 or expecting == "application_no"

    last4: Optional[str] = None
    cue = _LAST4_CUE.search(normalized)
    if cue:
        last4 = cue.group(2)
    elif full_phone:
        mobile = next(c for c in _candidates(normalized) if _MOBILE.match(c))
        last4 = mobile[-4:]
    else:
        years = {m.start() for m in _YEAR_SUFFIX.finditer(normalized)}
        groups = [m for m in _STANDALONE_4.finditer(normalized) if m.start() not in years]
        groups = [m for m in groups if application_no is None or m.group(1) not in application_no]
        # A lone group counts when the digits were asked for, or beside a number.
        if len(groups) == 1 and (expecting == "phone_last4" or application_no is not None):
            last4 = groups[0].group(1)

    malformed_last4 = False
    if expecting == "phone_last4" and last4 is None and application_no is None:
        malformed_last4 = bool(_DIGITS.search(normalized))
    if expecting == "application_no" and application_no is not None:
        malformed_no = False
    if application_no is None and last4 is not None:
        # The digits were given (first): nothing wrong with them as a number.
        malformed_no = False
    return Extraction(
        application_no=application_no,
        phone_last4=last4,
        full_phone_given=full_phone,
        malformed_application_no=malformed_no and application_no is None,
        malformed_last4=malformed_last4,
    )
