"""Masking of personal data: whatever is printed, logged or audited goes through these.

Names keep the first and last character (王*明), phones the first 3 and last 4 digits
(138****1234), application numbers the first and last 3 characters.
"""

from __future__ import annotations

import re
from typing import Optional

_NON_DIGIT = re.compile(r"\D")
# Longer input is user text, not a number; it is cut so that the masked form stays bounded.
_APPLICATION_NO_LIMIT = 32


def mask_name(name: Optional[str]) -> str:
    """王小明 -> 王*明, 王明 -> 王*, 欧阳小明 -> 欧**明."""
    text = (name or "").strip()
    if len(text) <= 1:
        return "*" * len(text)
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(phone: Optional[str]) -> str:
    """13800001234 (or 138-0000-1234) -> 138****1234; too short to keep anything -> stars."""
    digits = _NON_DIGIT.sub("", phone or "")
    if len(digits) < 8:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_application_no(application_no: Optional[str]) -> str:
    """HN-2024-0001 -> HN-******001; short values keep only their last 2 characters."""
    text = (application_no or "").strip()[:_APPLICATION_NO_LIMIT]
    if len(text) <= 6:
        return "*" * max(len(text) - 2, 0) + text[-2:] if len(text) > 2 else "*" * len(text)
    return text[:3] + "*" * (len(text) - 6) + text[-3:]
