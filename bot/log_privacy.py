"""Masking of personal data in every log record of a process.

Rasa and the SDK log events, slots and (at debug level) whole user messages. Installed as the
log-record factory, the mask applies to every logger and handler, including those configured
after installation: mobile numbers, application numbers and phone digits never reach a log.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Dict

from bot.applications.privacy import mask_application_no, mask_phone

_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# Slot or field values: 'application_no': 'HN-2024-00103', "phone_last4": "0003", ...
_FIELD = re.compile(
    r"""(?P<key>application_no|phone_last4|phone)(?P<sep>['"]?\s*[:=]\s*['"]?|, value: )"""
    r"""(?P<value>[^'",)}\]\s\\]+)"""
)
# What looks like an application number: letters, digits and dashes with at least 4 digits
# in a row, 6 to 32 characters (the export format).
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9-])(?=[A-Za-z0-9-]*\d{4})[A-Za-z0-9][A-Za-z0-9-]{5,31}(?![A-Za-z0-9-])"
)
_LAST4 = re.compile(r"(尾号|尾数|后四位|后4位|末四位|末4位)(\D{0,6}?)\d{4}")
# Tokens that match _NUMBER but are not personal: hex ids, dates, short counts and timings.
_NOT_PERSONAL = re.compile(
    r"^[0-9a-f]{16,}$|^[0-9a-f]{8}-[0-9a-f]{4}-|^\d{4}-\d{2}-\d{2}|^\d{6,7}$"
)


def _mask_field(match: re.Match) -> str:
    key, value = match.group("key"), match.group("value")
    if value in ("None", "null"):
        return match.group(0)
    if key == "application_no":
        masked = mask_application_no(value)
    elif key == "phone":
        masked = mask_phone(value)
    else:
        masked = "****"
    return f"{key}{match.group('sep')}{masked}"


def _mask_number(match: re.Match) -> str:
    token = match.group(0)
    if _NOT_PERSONAL.match(token.lower()):
        return token
    return mask_application_no(token)


def mask_text(text: str) -> str:
    text = _FIELD.sub(_mask_field, text)
    text = _MOBILE.sub(lambda m: mask_phone(m.group(0)), text)
    text = _LAST4.sub(lambda m: f"{m.group(1)}{m.group(2)}****", text)
    return _NUMBER.sub(_mask_number, text)


# Keys of Rasa's structured (debug) log events that carry what users typed, as listed by
# rasa.utils.log_utils._anonymizer: in them, any lone group of 4 digits may be phone digits.
USER_TEXT_KEYS = frozenset(
    {
        "text",
        "response_text",
        "user_text",
        "slot_values",
        "parse_data_text",
        "parse_data_entities",
        "prediction_events",
        "tracker_latest_message",
        "prefilled_slots",
        "message",
        "response",
        "slot_candidates",
        "rasa_event",
        "rasa_events",
        "user_message",
        "json_message",
        "tracker_states",
        "current_states",
        "old_states",
        "states",
        "successes",
        "current_entity",
        "next_entity",
        "entity",
        "token_text",
        "events",
        "slots",
    }
)
_LONE_4 = re.compile(r"(?<![0-9])\d{4}(?![0-9])")


def mask_user_text(text: str) -> str:
    """``mask_text`` plus every lone group of 4 digits (years included: better safe)."""
    return _LONE_4.sub("****", mask_text(text))


def _mask_event_dict(logger: Any, method: str, event_dict: Dict[str, Any]) -> Dict[str, Any]:
    """A structlog processor: what users typed is masked before any renderer sees it."""
    for key, value in list(event_dict.items()):
        if key == "event" or value is None or isinstance(value, (bool, int, float)):
            continue
        text = value if isinstance(value, str) else repr(value)
        masked = mask_user_text(text) if key in USER_TEXT_KEYS else mask_text(text)
        if masked != text:
            event_dict[key] = masked
    return event_dict


def _install_structlog() -> None:
    """Rasa builds its structlog pipeline from ``log_utils._anonymizer`` when it configures
    logging (after this runs): chaining ours to it puts masking first in every pipeline."""
    try:
        from rasa.utils import log_utils
    except ImportError:  # the action server does not have to import Rasa
        return
    original = log_utils._anonymizer

    def anonymizer(logger: Any, method: str, event_dict: Dict[str, Any]) -> Dict[str, Any]:
        return _mask_event_dict(logger, method, original(logger, method, event_dict))

    log_utils._anonymizer = anonymizer


_installed = False


def install(structured: bool = False) -> None:
    """Masks every record created from now on in this process (idempotent); with
    ``structured``, Rasa's structlog events too."""
    global _installed
    if _installed:
        return
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string stays the logging module's problem
            return record
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(factory)
    if structured:
        _install_structlog()
    _installed = True
