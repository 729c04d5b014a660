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
is checked once, and each event is checked against its own alternative of the schema's
``oneOf`` (``ResponseValidator``); the response is validated exactly as before (same schema,
same errors).

Graph runs: every message is parsed, and every action predicted, by running part of the
model's graph through dask's synchronous scheduler, which builds and orders a task graph on
each call and formats the inputs into a debug message even when debug logging is off (~10 %
of a turn). ``run_graph`` runs the same nodes with the same inputs in dependency order, in
this thread, as that scheduler does.
"""

from __future__ import annotations

import copy
import functools
import sqlite3
from typing import Any, Dict, List, Optional, Tuple

from bot.db.sqlite import set_pragmas


class ResponseValidator:
    """Rasa's action response schema, validated with the same result in a fraction of the time.

    Each event is checked against the ``oneOf`` alternative that its ``event`` name selects
    (every alternative requires its own name with ``const``, so the others fail on it anyway)
    instead of all 23, each failure building an exception. Events without a known name, and
    every invalid response, go through the full schema, which gives the error as
    ``jsonschema.validate`` would.
    """

    def __init__(self, schema: Dict[str, Any]) -> None:
        from jsonschema.validators import validator_for

        cls = validator_for(schema)
        cls.check_schema(schema)
        self.full = cls(schema)
        events = schema["properties"]["events"]
        outer = copy.deepcopy(schema)
        outer["properties"]["events"] = {k: v for k, v in events.items() if k != "items"}
        self.outer = cls(outer)
        item = events["items"]
        base = {k: v for k, v in item.items() if k != "oneOf"}
        names = [alt.get("properties", {}).get("event", {}).get("const") for alt in item["oneOf"]]
        self.by_event: Dict[str, Any] = {
            name: cls({**base, "allOf": [alt]})
            for name, alt in zip(names, item["oneOf"])
            if isinstance(name, str) and names.count(name) == 1
        }

    def is_valid(self, result: Any) -> bool:
        if not self.outer.is_valid(result):
            return False
        events = result.get("events") if isinstance(result, dict) else None
        for item in events if isinstance(events, list) else []:
            name = item.get("event") if isinstance(item, dict) else None
            validator = self.by_event.get(name) if isinstance(name, str) else None
            if validator is None:
                return bool(self.full.is_valid(result))
            if not validator.is_valid(item):
                return False
        return True

    def error(self, result: Any) -> Any:
        """The error ``jsonschema.validate`` raises for ``result`` (None when it is valid)."""
        from jsonschema.exceptions import best_match

        return best_match(self.full.iter_errors(result))


@functools.lru_cache(maxsize=1)
def _response_validator() -> ResponseValidator:
    from rasa.core.actions.action import RemoteAction

    return ResponseValidator(RemoteAction.action_response_format_spec())


def run_graph(
    runner: Any, inputs: Optional[Dict[str, Any]] = None, targets: Optional[List[str]] = None
) -> Dict[str, Any]:
    """``DaskGraphRunner.run`` without dask: each needed node once, after what it needs."""
    from rasa.engine.exceptions import GraphRunError

    run_targets = targets if targets else runner._graph_schema.target_names
    schema = runner._graph_schema.minimal_graph_schema(run_targets)
    # As in dask's graph: an input is the pair (name, value), like a node's output.
    results: Dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and value in schema.nodes:
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure that none of the "
                f"input names passed to the `run` method are the same as node names in the "
                f"graph schema."
            )
        results[name] = (name, value)

    def compute(name: str, path: Tuple[str, ...]) -> Any:
        if name in results:
            return results[name]
        if name not in schema.nodes:
            return name  # dask passes a value that names no task as it is
        if name in path:
            raise GraphRunError(f"Cycle in the graph at node '{name}'.")
        node = schema.nodes[name]
        args = [compute(needed, (*path, name)) for needed in node.needs.values()]
        results[name] = runner._instantiated_nodes[name](*args)
        return results[name]

    try:
        return dict(compute(target, ()) for target in run_targets)
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e


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

    from rasa.engine.runner.dask import DaskGraphRunner

    DaskGraphRunner.run = run_graph  # type: ignore[method-assign]
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)

    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        try:
            validator = _response_validator()
            if validator.is_valid(result):
                return True
            error = validator.error(result)
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

    from bot import rasa_states

    rasa_states.apply()
