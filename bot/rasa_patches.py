"""Changes to Rasa 3.6 applied in the Rasa server process (``bot.rasa_server``): performance
fixes, and one behaviour of the human handoff.

Paused conversations: Rasa answers nothing in a paused conversation except ``/restart``. A
conversation handed to a specialist is paused, and the citizen must still be able to cancel
("取消人工"): the intent ``cancel`` (confidently recognised) reaches the dialogue too.

Event deserialisation: Rasa looks an event's class up by walking every subclass of ``Event``
for every event of every tracker it loads (~6 % of a turn). The classes are looked up in a
table instead, rebuilt when a name is not found, so that the result is the same.

SQLite tracker store (the embedded default): write-ahead logging with ``synchronous=NORMAL``.
Rasa commits after every turn; in SQLite's default rollback-journal mode each commit costs
several fsyncs. WAL keeps every committed turn across a crash or restart of the process
(only an operating-system crash or power cut may lose the last turns) and lets the tracker
be read while it is written.

Rasa validates every action server response with ``jsonschema.validate``, which first
re-checks the large events schema itself against the JSON-Schema meta-schema: about 50 ms of
CPU per custom action on this hardware, a quarter of a turn. The schema is a constant, so it
is checked once and a compiled validator is reused; the response is validated exactly as
before (same schema, same errors).
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any, Dict, Optional

from bot.db.sqlite import set_pragmas


@functools.lru_cache(maxsize=1)
def _response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        set_pragmas(dbapi_connection, foreign_keys=False)


_EVENT_CLASSES: Dict[str, Any] = {}


def _resolve_event_type(type_name: str, default: Optional[Any] = None) -> Optional[Any]:
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    cls = _EVENT_CLASSES.get(type_name)
    if cls is None:
        _EVENT_CLASSES.clear()
        for subclass in reversed(all_subclasses(Event)):
            # Reversed, so that the first subclass Rasa would have found wins.
            _EVENT_CLASSES[subclass.type_name] = subclass
        cls = _EVENT_CLASSES.get(type_name)
    if cls is not None:
        return cls
    if type_name == "topic":
        return None  # Rasa's backwards compatibility for old TopicSet events
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


# Intents that reach the dialogue while a conversation is paused for a specialist, besides
# Rasa's own /restart: the citizen must be able to say "取消人工" (actions/handoff.py).
PAUSED_INTENTS = frozenset({"cancel"})
# A message typed to the specialist must not cancel by accident: a confident classification,
# and words that say stop (the classifier took "我还在，网络刚才断了" for cancel at 0.83).
PAUSED_MIN_CONFIDENCE = 0.8
STOP_MARKERS = (
    "取消", "不用", "算了", "不等", "不要", "不需要", "不转", "别转", "退出", "撤销",
    "中止", "停止", "不查", "不办", "不想", "不弄", "别查", "结束",
)  # fmt: skip


def _says_stop(text: Optional[str]) -> bool:
    from bot.text.normalize import normalize_text

    if not text:
        return False
    if text.startswith("/"):  # a button's payload
        return True
    normalized = normalize_text(text)
    return any(marker in normalized for marker in STOP_MARKERS)


def _should_handle_message(tracker: Any) -> bool:
    if not tracker.is_paused():
        return True
    latest = tracker.latest_message
    if latest is None or _acted_since_user_message(tracker):
        # Only the message itself is handled: once an action has run, a conversation that
        # is still paused (a refused restart) stops here.
        return False
    intent = latest.intent or {}
    name = intent.get("name")
    if name == "restart":
        return True
    confidence = intent.get("confidence")
    return (
        name in PAUSED_INTENTS
        and (confidence is None or confidence >= PAUSED_MIN_CONFIDENCE)
        and _says_stop(getattr(latest, "text", None))
    )


def _acted_since_user_message(tracker: Any) -> bool:
    from rasa.shared.core.events import ActionExecuted, UserUttered

    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, ActionExecuted) and event.action_name != "action_extract_slots":
            return True
    return False


def apply() -> None:
    from rasa.shared.core.events import Event
    from sqlalchemy import event

    Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore[method-assign]
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)

    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        try:
            error = next(iter(_response_validator().iter_errors(result)), None)
            if error is not None:
                raise error
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your "
                "response from the Action endpoint is valid. For more information about "
                f"the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]

    from rasa.core.processor import MessageProcessor

    MessageProcessor._should_handle_message = staticmethod(_should_handle_message)  # type: ignore[method-assign]
