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

RulePolicy matches the conversation's states against its rules from the latest state back to
the first state of the session, calling its check for every rule at every state, although a
rule can only fail on its own few states, and most rules fail on the last state for want of its
previous action or intent. ``_get_possible_keys`` checks the last state only against the rules
indexed under its previous action and intent (or requiring neither), and stops as soon as every
rule still in the running is shorter than the states already checked (all further checks pass
by definition): the same rules, about a tenth of the checks.

Tracker copies: Rasa copies the tracker before every action it runs (two per turn), by
replaying every event of the session on a new tracker. The tracker's state is by Rasa's own
rule what replaying its events gives, so ``copy_tracker`` copies that state instead: the same
events, copies of the slots and of the loop and action records. Trackers this does not
cover (a bounded event history, extra attributes, a subclass) are replayed as before.

Graph runs: every message is parsed, and every action predicted, by running part of the
model's graph through dask's synchronous scheduler, which builds and orders a task graph on
each call and formats the inputs into a debug message even when debug logging is off (~10 %
of a turn). ``run_graph`` runs the same nodes with the same inputs in dependency order, in
this thread, as that scheduler does.

Applied events: Rasa works out a tracker's applied events (those not undone by a revert,
restart or loop) by going over the whole session, two or three times a turn. ``applied_events``
keeps the last result per tracker and, when only ordinary events were added since (no restart,
session start, revert, loop activation or execution of an active loop), appends them; else it
asks Rasa's method again. The list handed out is a new one each time.

Debug-log copies: Rasa passes deep copies of the tracker's events, the policies' states and
the parse results to ``structlogger.debug`` (so that a log processor cannot change the live
objects), and makes them even when debug logging is off and the call does nothing (~0.3 ms of
a turn). In the modules where every ``copy.deepcopy`` is such an argument (checked in their
source when the patch is applied), the copy is made only while structlog passes debug events
on; RulePolicy's text rendering of the states, only ever logged, likewise.
"""

from __future__ import annotations

import ast
import collections
import copy
import dataclasses
import functools
import inspect
import logging
import sqlite3
import weakref
from typing import Any, Dict, List, Optional, Tuple

from bot.db.sqlite import set_pragmas
from bot.rasa_states import undoes_earlier
from bot.schema_check import all_of, compile_schema


class ResponseValidator:
    """Rasa's action response schema, validated with the same result in a fraction of the time.

    Each event is checked against the ``oneOf`` alternative that its ``event`` name selects
    (every alternative requires its own name with ``const``, so the others fail on it anyway)
    instead of all 23, each failure building an exception. Events without a known name, and
    every invalid response, go through the full schema, which gives the error as
    ``jsonschema.validate`` would. Before that, the schemas that ``bot.schema_check`` can
    compile accept the usual response in microseconds; what they refuse goes to ``jsonschema``.
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
        self.quick_outer = compile_schema(outer)
        item = events["items"]
        base = {k: v for k, v in item.items() if k != "oneOf"}
        names = [alt.get("properties", {}).get("event", {}).get("const") for alt in item["oneOf"]]
        chosen = [
            (name, alt)
            for name, alt in zip(names, item["oneOf"])
            if isinstance(name, str) and names.count(name) == 1
        ]
        self.by_event: Dict[str, Any] = {
            name: cls({**base, "allOf": [alt]}) for name, alt in chosen
        }
        self.quick_by_event: Dict[str, Any] = {
            name: all_of(compile_schema(base), compile_schema(alt)) for name, alt in chosen
        }

    def is_valid(self, result: Any) -> bool:
        if not (self.quick_outer is not None and self.quick_outer(result)):
            if not self.outer.is_valid(result):
                return False
        events = result.get("events") if isinstance(result, dict) else None
        for item in events if isinstance(events, list) else []:
            name = item.get("event") if isinstance(item, dict) else None
            validator = self.by_event.get(name) if isinstance(name, str) else None
            if validator is None:
                return bool(self.full.is_valid(result))
            quick = self.quick_by_event.get(name)
            if quick is not None and quick(item):
                continue
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


# The attributes of a ``DialogueStateTracker`` (Rasa 3.6), all set by ``copy_tracker``.
_TRACKER_ATTRIBUTES = frozenset(
    {
        "_max_event_history", "events", "sender_id", "slots", "sender_source", "is_rule_tracker",
        "_paused", "followup_action", "latest_action", "latest_message", "latest_bot_utterance",
        "active_loop", "model_id", "assistant_id",
    }
)  # fmt: skip


def _latest(events: Any, current: Any) -> Any:
    """What a replay leaves as the latest user or bot message: the event itself if it is one
    of the tracker's events, else a copy of the empty one that ``_reset`` made (to which
    ``EntitiesAdded`` may have added entities, as the replay would again)."""
    for event in reversed(events):
        if event is current:
            return current
    return copy.deepcopy(current)


def copy_tracker(self: Any) -> Any:
    """``DialogueStateTracker.copy`` (a replay of every event on a new tracker) without the
    replay: the state that the replay would rebuild, copied."""
    from rasa.shared.constants import DEFAULT_SENDER_ID
    from rasa.shared.core.trackers import AnySlotDict, DialogueStateTracker, TrackerActiveLoop

    state = vars(self)
    if (
        type(self) is not DialogueStateTracker
        or state.keys() != _TRACKER_ATTRIBUTES
        or self._max_event_history is not None
        or isinstance(self.slots, AnySlotDict)
        or not (self.active_loop is None or type(self.active_loop) is TrackerActiveLoop)
        or not all(event.timestamp <= float("inf") for event in self.events)
    ):
        return copy_tracker.__wrapped__(self)  # type: ignore[attr-defined]
    new = DialogueStateTracker.__new__(DialogueStateTracker)
    new._max_event_history = None
    new.events = collections.deque(self.events)
    new.sender_id = self.sender_id or DEFAULT_SENDER_ID
    new.slots = {slot.name: copy.copy(slot) for slot in self.slots.values()}
    # As ``init_copy`` leaves them: the replay does not carry these over.
    new.sender_source = None
    new.model_id = None
    new.assistant_id = None
    new.is_rule_tracker = self.is_rule_tracker
    new._paused = self._paused
    new.followup_action = self.followup_action
    new.latest_action = dict(self.latest_action) if self.latest_action is not None else {}
    new.latest_message = _latest(self.events, self.latest_message)
    new.latest_bot_utterance = _latest(self.events, self.latest_bot_utterance)
    loop = self.active_loop
    # The replay records the message that started the loop as a new dict of its parse data.
    new.active_loop = (
        None
        if loop is None
        else dataclasses.replace(loop, trigger_message=copy.copy(loop.trigger_message))
    )
    return new


@functools.lru_cache(maxsize=4096)
def _rule_length(rule_key: str) -> int:
    from rasa.core.policies.rule_policy import RulePolicy

    return len(RulePolicy._rule_key_to_state(rule_key))


def _required(value: Any) -> Optional[str]:
    """The value a rule requires of a feature, as an index key; None when it requires none."""
    from rasa.shared.core.constants import SHOULD_NOT_BE_SET

    return value if isinstance(value, str) and value and value != SHOULD_NOT_BE_SET else None


def _present(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _last_turn_needs(rule_key: str) -> Tuple[Optional[str], Optional[str]]:
    """The previous action and the intent that a rule's last state requires. A state without
    a previous action (a conversation start) is matched by Rasa's own rules: no requirement."""
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.constants import PREVIOUS_ACTION, USER
    from rasa.shared.nlu.constants import ACTION_NAME, INTENT

    rule_states = RulePolicy._rule_key_to_state(rule_key)
    last = rule_states[-1] if rule_states else {}
    previous = last.get(PREVIOUS_ACTION)
    if not previous:
        return None, None
    return _required(previous.get(ACTION_NAME)), _required(last.get(USER, {}).get(INTENT))


class _RuleIndex:
    """A lookup's rules by what their last state requires: a rule that requires a previous
    action or an intent other than the conversation's cannot match its last state."""

    def __init__(self, lookup: Dict[str, str]) -> None:
        self.lookup = lookup
        self.keys = frozenset(lookup)
        self.by_needs: Dict[Tuple[Optional[str], Optional[str]], List[str]] = {}
        for key in lookup:
            self.by_needs.setdefault(_last_turn_needs(key), []).append(key)

    def fits(self, lookup: Dict[str, str]) -> bool:
        return (
            lookup is self.lookup and len(lookup) == len(self.keys) and lookup.keys() == self.keys
        )

    def candidates(self, state: Dict[str, Any]) -> List[str]:
        from rasa.shared.core.constants import PREVIOUS_ACTION, USER
        from rasa.shared.nlu.constants import ACTION_NAME, INTENT

        action = _present((state.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME))
        intent = _present((state.get(USER) or {}).get(INTENT))
        found: List[str] = []
        for needs in {(action, intent), (action, None), (None, intent), (None, None)}:
            found += self.by_needs.get(needs, ())
        return found


_RULE_INDEXES: Dict[int, _RuleIndex] = {}


def _rule_index(lookup: Dict[str, str]) -> _RuleIndex:
    index = _RULE_INDEXES.get(id(lookup))
    if index is None or not index.fits(lookup):
        index = _RULE_INDEXES[id(lookup)] = _RuleIndex(lookup)
        while len(_RULE_INDEXES) > 16:  # a few lookups per loaded model
            _RULE_INDEXES.pop(next(iter(_RULE_INDEXES)))
    return index


def _get_possible_keys(self: Any, lookup: Dict[str, str], states: List[Any]) -> set:
    """``RulePolicy._get_possible_keys`` without the checks that cannot pass or cannot fail:
    the last state is only checked against the rules whose last state it can match, and the
    earlier states only as far back as the longest rule still in the running."""
    if not states:
        return set(lookup.keys())
    last = states[-1]
    possible_keys = {
        key
        for key in _rule_index(lookup).candidates(last)
        if self._is_rule_applicable(key, 0, last)
    }
    for i, state in enumerate(reversed(states[:-1]), start=1):
        if all(_rule_length(key) <= i for key in possible_keys):
            break
        possible_keys = {key for key in possible_keys if self._is_rule_applicable(key, i, state)}
    return possible_keys


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


# --------------------------------------------------------------------------- applied events

# id(tracker) -> (tracker ref, its events deque, events seen, last event seen, applied, loops)
_APPLIED: Dict[int, Tuple[Any, Any, int, Any, List[Any], frozenset]] = {}
_APPLIED_MAX = 512


def applied_events(self: Any) -> List[Any]:
    """``DialogueStateTracker.applied_events``, extended from its last result when it can be."""
    from rasa.shared.core.events import ActiveLoop

    events = self.events
    count = len(events)
    kept = _APPLIED.get(id(self))
    if (
        kept is not None
        and kept[0]() is self
        and kept[1] is events
        and 0 < kept[2] <= count
        and events[kept[2] - 1] is kept[3]
    ):
        _, _, seen, _, applied, loops = kept
        new = [events[i] for i in range(seen, count)] if count > seen else []
        if not undoes_earlier(new, loops):
            applied = applied + new
            if new:
                _APPLIED[id(self)] = (kept[0], events, count, events[-1], applied, loops)
            return list(applied)
    applied = applied_events.__wrapped__(self)  # type: ignore[attr-defined]
    if count and getattr(events, "maxlen", None) is None:
        loops = frozenset(e.name for e in events if isinstance(e, ActiveLoop) and e.name)
        if len(_APPLIED) >= _APPLIED_MAX:
            _APPLIED.clear()
        _APPLIED[id(self)] = (weakref.ref(self), events, count, events[-1], applied, loops)
    return list(applied)


# --------------------------------------------------------------------------- debug-log copies

# Rasa modules whose every ``copy.deepcopy`` is an argument of ``structlogger.debug``.
LOG_COPY_MODULES = (
    "rasa.core.processor",
    "rasa.core.policies.memoization",
    "rasa.core.policies.rule_policy",
)


def debug_logged() -> bool:
    """False when structlog is configured with a logger that drops debug events, as Rasa's
    ``configure_structlog`` does at any level above DEBUG; True otherwise (also unknown)."""
    import structlog

    wrapper = structlog.get_config().get("wrapper_class")
    return wrapper not in _quiet_wrappers()


@functools.lru_cache(maxsize=None)
def _quiet_wrappers() -> frozenset:
    import structlog

    levels = (logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
    return frozenset(structlog.make_filtering_bound_logger(level) for level in levels)


class LogCopies:
    """The ``copy`` module as a patched module sees it: ``deepcopy`` copies only while the
    copy can reach a log."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Optional[Dict[int, Any]] = None) -> Any:
        if debug_logged():
            return copy.deepcopy(value, memo)
        return value


def only_logged_copies(source: str) -> bool:
    """True when every ``copy.deepcopy(...)`` in ``source`` is (inside) an argument of a
    ``structlogger.debug(...)`` call, and ``copy`` is used for nothing else."""
    tree = ast.parse(source)
    logged: set = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "debug"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "structlogger"
        ):
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                logged.update(id(inner) for inner in ast.walk(argument))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "copy"
        ):
            if node.attr != "deepcopy" or id(node) not in logged:
                return False
    return True


def _format_states_if_logged(states: List[Dict[str, Any]]) -> str:
    from rasa.core.policies.policy import Policy

    return Policy.format_tracker_states(states) if debug_logged() else ""


def _skip_unlogged_copies() -> List[str]:
    """Installs ``LogCopies`` in the modules whose source allows it; returns their names."""
    import importlib

    patched = []
    for name in LOG_COPY_MODULES:
        module = importlib.import_module(name)
        if isinstance(getattr(module, "copy", None), LogCopies):
            patched.append(name)
            continue
        if getattr(module, "copy", None) is not copy:
            continue
        try:
            allowed = only_logged_copies(inspect.getsource(module))
        except (OSError, TypeError, SyntaxError):
            allowed = False
        if allowed:
            module.copy = LogCopies()  # type: ignore[attr-defined]
            patched.append(name)
    if "rasa.core.policies.rule_policy" in patched:
        from rasa.core.policies.rule_policy import RulePolicy

        RulePolicy.format_tracker_states = staticmethod(_format_states_if_logged)  # type: ignore[method-assign]
    return patched


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

    from rasa.core.policies.rule_policy import RulePolicy

    if RulePolicy._get_possible_keys is not _get_possible_keys:
        _get_possible_keys.__wrapped__ = RulePolicy._get_possible_keys  # type: ignore[attr-defined]
        RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]

    from rasa.shared.core.trackers import DialogueStateTracker

    if DialogueStateTracker.applied_events is not applied_events:
        applied_events.__wrapped__ = DialogueStateTracker.applied_events  # type: ignore[attr-defined]
        DialogueStateTracker.applied_events = applied_events  # type: ignore[method-assign]

    if DialogueStateTracker.copy is not copy_tracker:
        copy_tracker.__wrapped__ = DialogueStateTracker.copy  # type: ignore[attr-defined]
        DialogueStateTracker.copy = copy_tracker  # type: ignore[method-assign]

    _skip_unlogged_copies()

    from bot import rasa_states

    rasa_states.apply()
