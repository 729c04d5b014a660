"""The performance fixes applied to Rasa keep Rasa's behaviour."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any, Dict, List

import dask
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from sqlalchemy import create_engine

from bot import rasa_patches
from tests.unit.conftest import ROOT


@pytest.fixture(scope="module", autouse=True)
def patched() -> None:
    rasa_patches.apply()


def test_valid_action_response_is_accepted() -> None:
    action = RemoteAction("action_answer_policy", None)
    response = {
        "events": [{"event": "slot", "name": "policy", "value": "zjg_talent_loan"}],
        "responses": [{"text": "您好"}],
    }
    assert action._validate_action_result(response) is True


@pytest.mark.parametrize(
    "response",
    [
        {"events": "not a list"},
        {"events": [{"event": "no_such_event"}]},
        {"responses": "text"},
    ],
)
def test_invalid_action_response_is_rejected(response: dict) -> None:
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        RemoteAction("action_answer_policy", None)._validate_action_result(response)


def test_event_classes_resolve_as_before() -> None:
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("action") is ActionExecuted
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("nope", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("nope")


def test_sqlite_connections_use_write_ahead_logging(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        # synchronous=NORMAL is 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    engine.dispose()
    assert sqlite3.connect(tmp_path / "tracker.db").execute("PRAGMA journal_mode").fetchone() == (
        "wal",
    )


# --------------------------------------------------------------------------- graph runs


class _Adder(GraphComponent):
    calls: List[str] = []

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> _Adder:
        return cls(execution_context.node_name or "")

    def __init__(self, name: str) -> None:
        self.name = name

    def add(self, a: Any, b: Any = 0) -> Any:
        _Adder.calls.append(self.name)
        return a + b


def _node(needs: Dict[str, str]) -> SchemaNode:
    return SchemaNode(needs=needs, uses=_Adder, constructor_name="create", fn="add", config={})


def _runner(tmp_path: Path) -> DaskGraphRunner:
    # A diamond with an unused branch: "top" needs "left" and "right", which both need "x".
    schema = GraphSchema(
        {
            "x": _node({"a": "__number__", "b": "__number__"}),
            "left": _node({"a": "x", "b": "x"}),
            "right": _node({"a": "x", "b": "__number__"}),
            "top": _node({"a": "left", "b": "right"}),
            "unused": _node({"a": "__number__"}),
        }
    )
    return DaskGraphRunner(
        schema, LocalModelStorage(tmp_path), ExecutionContext(graph_schema=schema)
    )


def _dask_run(runner: DaskGraphRunner, inputs: Dict[str, Any], targets: List[str]) -> Any:
    """What ``DaskGraphRunner.run`` did before the patch."""
    graph = runner._build_dask_graph(runner._graph_schema.minimal_graph_schema(targets))
    runner._add_inputs_to_graph(inputs, graph)
    return dict(dask.get(graph, targets))


@pytest.mark.parametrize("targets", [["top"], ["left", "right"], ["x"], ["top", "unused"]])
def test_graph_runs_give_what_dask_gave(tmp_path: Path, targets: List[str]) -> None:
    runner = _runner(tmp_path)
    _Adder.calls.clear()
    expected = _dask_run(runner, {"__number__": 3}, targets)
    dask_calls = sorted(_Adder.calls)
    _Adder.calls.clear()
    assert runner.run(inputs={"__number__": 3}, targets=targets) == expected
    # Each needed node ran once, and no other.
    assert sorted(_Adder.calls) == dask_calls
    assert len(_Adder.calls) == len(set(_Adder.calls))


def test_graph_runs_refuse_an_input_named_like_a_node(tmp_path: Path) -> None:
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        _runner(tmp_path).run(inputs={"__number__": "x"}, targets=["top"])


def test_graph_runs_leave_a_missing_input_to_the_node(tmp_path: Path) -> None:
    # As with dask, the node receives the name it could not resolve and reports it.
    with pytest.raises(GraphRunError, match="Missing input"):
        _runner(tmp_path).run(inputs={}, targets=["x"])


# --------------------------------------------------------------------------- responses


def _reference_error(response: Any) -> Any:
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    return best_match(validator_for(schema)(schema).iter_errors(response))


RESPONSES = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "policy", "value": "x", "timestamp": None}]},
    {"events": [{"event": "slot", "value": "x"}]},  # "name" missing
    {"events": [{"event": "bot", "text": "您好", "data": {"buttons": []}}]},
    {"events": [{"event": "bot", "text": 3}]},
    {"events": [{"event": "action", "name": "action_listen", "policy": None}]},
    {"events": [{"event": "session_started"}, {"event": "user", "text": "你好"}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"value": 1}]}}]},
    {"events": [{"event": "followup", "name": "utter_greet"}, {"event": "pause"}]},
    {"events": [{"event": "slot", "name": "a", "value": 1}, {"event": "nope"}]},
    {"events": [{"name": "no event key"}]},
    {"events": [{"event": 5}]},
    {"events": ["slot"]},
    {"events": [{"event": "reset_slots"}], "responses": [{"text": "好"}, "bad"]},
    {"events": {"event": "slot"}},
    {"events": [{"event": "slot", "name": "a", "value": 1, "timestamp": "now"}]},
    {"events": [{"event": "active_loop", "name": None}, {"event": "restart"}]},
    {"events": [{"event": "slot", "name": "a", "value": 1, "metadata": []}]},
    "not an object",
]


@pytest.mark.parametrize("response", RESPONSES)
def test_responses_are_judged_as_jsonschema_judges_them(response: Any) -> None:
    validator = rasa_patches._response_validator()
    expected = _reference_error(response)
    assert validator.is_valid(response) is (expected is None)
    if expected is not None:
        assert validator.error(response).message == expected.message
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            RemoteAction("action_answer_policy", None)._validate_action_result(response)
    else:
        assert RemoteAction("action_answer_policy", None)._validate_action_result(response)


# --------------------------------------------------------------------------- rule matching


def _random_state(rng: random.Random, first: bool = False, odds: float = 1.0) -> Dict[str, Any]:
    """A dialogue state; rules (``odds`` < 1) name fewer features, so that some match."""
    state: Dict[str, Any] = {}
    if not first or rng.random() < 0.5:
        if rng.random() < 0.1:
            state["prev_action"] = {"action_text": "好的"}
        else:
            name = rng.choice(["action_listen", "utter_a", "act_b", "should_not_be_set"])
            state["prev_action"] = {"action_name": name}
    if rng.random() < 0.8 * odds:
        if rng.random() < 0.1:
            state["user"] = {"text": "你好"}
        else:
            state["user"] = {"intent": rng.choice(["greet", "ask", "thank", "should_not_be_set"])}
    if rng.random() < 0.4 * odds:
        state["slots"] = {"region": rng.choice([(1.0,), (0.0,), "should_not_be_set"])}
    if rng.random() < 0.2 * odds:
        state["active_loop"] = {"name": rng.choice(["form", "should_not_be_set"])}
    return state


def test_rule_matching_stops_early_with_the_same_rules() -> None:
    from rasa.core.policies.rule_policy import RulePolicy

    rng = random.Random(7)
    policy = RulePolicy.__new__(RulePolicy)  # the matching reads no configuration
    original = rasa_patches._get_possible_keys.__wrapped__
    assert RulePolicy._get_possible_keys is rasa_patches._get_possible_keys
    matched = 0
    for _ in range(1000):
        lookup = {}
        for _ in range(rng.randint(0, 12)):
            length = rng.randint(1, 4)
            rule = [_random_state(rng, first=j == 0, odds=0.4) for j in range(length)]
            lookup[json.dumps(rule, sort_keys=True)] = rng.choice(["utter_a", "act_b"])
        states = [_random_state(rng, first=j == 0) for j in range(rng.randint(1, 25))]
        keys = policy._get_possible_keys(lookup, states)
        assert keys == original(policy, lookup, states)
        matched += bool(keys)
    assert matched > 150  # the comparison covers rules that match, not only empty results


# --------------------------------------------------------------------------- tracker copies


def _random_events(rng: random.Random, n: int) -> List[Event]:
    from rasa.shared.core import events as ev

    intents = ["greet", "ask_policy", "check_status", "thank"]
    makers = [
        lambda: ev.UserUttered(
            rng.choice(["你好", "人才贷", None]),
            {"name": rng.choice(intents), "confidence": 0.9},
            [{"entity": "region", "value": "海宁市"}] if rng.random() < 0.3 else [],
        ),
        lambda: ev.ActionExecuted(rng.choice(["action_listen", "utter_greet", "status_form"])),
        lambda: ev.BotUttered(rng.choice(["您好", "请问"]), {"buttons": []}),
        lambda: ev.SlotSet(
            rng.choice(["region", "policy", "requested_slot", "not_a_slot"]),
            rng.choice(["海宁市", None, ["a", "b"], {"k": 1}]),
        ),
        lambda: ev.AllSlotsReset(),
        lambda: ev.Restarted(),
        lambda: ev.SessionStarted(),
        lambda: ev.ActiveLoop(rng.choice(["status_form", None])),
        lambda: ev.LoopInterrupted(rng.random() < 0.5),
        lambda: ev.ActionExecutionRejected("status_form"),
        lambda: ev.FollowupAction("utter_greet"),
        lambda: ev.ConversationPaused(),
        lambda: ev.ConversationResumed(),
        lambda: ev.UserUtteranceReverted(),
        lambda: ev.ActionReverted(),
        lambda: ev.EntitiesAdded([{"entity": "aspect", "value": "条件"}]),
        lambda: ev.DefinePrevUserUtteredFeaturization(rng.random() < 0.5),
    ]
    weights = [6, 6, 4, 5] + [1] * (len(makers) - 4)
    found = []
    for i in range(n):
        event = rng.choices(makers, weights)[0]()
        event.timestamp = 1_700_000_000.0 + i
        found.append(event)
    return found


def _tracker_state(tracker: Any) -> Dict[str, Any]:
    """Everything a tracker holds, comparable between two trackers."""
    state = dict(vars(tracker))
    state["events"] = [id(e) for e in tracker.events]
    state["slots"] = {name: dict(vars(slot)) for name, slot in tracker.slots.items()}
    for name in ("latest_message", "latest_bot_utterance"):
        message = state[name]
        in_events = any(message is e for e in tracker.events)
        # An empty one is new in each tracker, with the time it was made.
        empty = {k: v for k, v in message.as_dict().items() if k != "timestamp"}
        state[name] = (type(message), in_events, id(message) if in_events else empty)
    state["current"] = tracker.current_state()
    return state


def test_tracker_copies_are_what_a_replay_gives() -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    replay = rasa_patches.copy_tracker.__wrapped__
    assert DialogueStateTracker.copy is rasa_patches.copy_tracker
    rng = random.Random(11)
    for _ in range(400):
        tracker = DialogueStateTracker("citizen", domain.slots)
        for event in _random_events(rng, rng.randint(0, 40)):
            tracker.update(event)
        tracker.model_id, tracker.sender_source = "model", "rest"
        copied = tracker.copy()
        assert _tracker_state(copied) == _tracker_state(replay(tracker))
        # The copy's own state is its own.
        for slot in copied.slots.values():
            assert all(slot is not original for original in tracker.slots.values())
        assert copied.latest_action is not tracker.latest_action
        assert copied.active_loop is None or copied.active_loop is not tracker.active_loop


def test_trackers_a_copy_does_not_cover_are_replayed() -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    bounded = DialogueStateTracker("citizen", domain.slots, max_event_history=3)
    for event in _random_events(random.Random(3), 10):
        bounded.update(event)
    # A bounded history forgets how its slots were set: the replay does too.
    assert _tracker_state(bounded.copy()) == _tracker_state(
        rasa_patches.copy_tracker.__wrapped__(bounded)
    )


@pytest.fixture()
def structlog_level() -> Any:
    """Configures structlog as Rasa does at a level; the configuration is restored after."""
    import structlog
    from rasa.utils.log_utils import configure_structlog

    saved = structlog.get_config()
    yield configure_structlog
    structlog.configure(**saved)


def test_debug_log_copies_are_patched_in_the_pinned_rasa() -> None:
    import rasa.core.policies.memoization
    import rasa.core.policies.rule_policy
    import rasa.core.processor

    for module in (
        rasa.core.processor,
        rasa.core.policies.memoization,
        rasa.core.policies.rule_policy,
    ):
        assert isinstance(module.copy, rasa_patches.LogCopies), module.__name__


def test_a_module_copying_for_other_reasons_is_not_patched() -> None:
    logged = "structlogger.debug('x', states=copy.deepcopy(states))\n"
    assert rasa_patches.only_logged_copies(logged)
    assert rasa_patches.only_logged_copies(
        "structlogger.debug('x', events=[copy.deepcopy(e) for e in events])\n"
    )
    assert not rasa_patches.only_logged_copies(logged + "kept = copy.deepcopy(states)\n")
    assert not rasa_patches.only_logged_copies(logged + "kept = copy.copy(states)\n")
    assert not rasa_patches.only_logged_copies("logger.debug('x', copy.deepcopy(states))\n")
    assert not rasa_patches.only_logged_copies("f(deep=copy.deepcopy)\n")


def test_log_copies_are_made_only_while_debug_is_logged(structlog_level: Any) -> None:
    import logging

    from rasa.core.policies.rule_policy import RulePolicy

    value = {"events": [{"event": "user", "text": "人才贷"}]}
    states = [{"user": {"intent": "ask_policy"}, "prev_action": {"action_name": "action_listen"}}]
    copies = rasa_patches.LogCopies()
    structlog_level(logging.INFO)
    assert not rasa_patches.debug_logged()
    assert copies.deepcopy(value) is value
    assert RulePolicy.format_tracker_states(states) == ""
    structlog_level(logging.DEBUG)
    assert rasa_patches.debug_logged()
    copied = copies.deepcopy(value)
    assert copied == value and copied is not value and copied["events"] is not value["events"]
    assert "user intent: ask_policy" in RulePolicy.format_tracker_states(states)
    assert copies.copy is __import__("copy").copy  # the rest of the module is the module


def test_applied_events_are_what_rasa_computes() -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    original = rasa_patches.applied_events.__wrapped__
    assert DialogueStateTracker.applied_events is rasa_patches.applied_events
    rng = random.Random(5)
    extended = 0
    for _ in range(300):
        tracker = DialogueStateTracker("citizen", domain.slots)
        for event in _random_events(rng, rng.randint(0, 50)):
            tracker.update(event)
            if rng.random() < 0.5:  # asked after some events, as a conversation goes
                before = rasa_patches._APPLIED.get(id(tracker))
                got = tracker.applied_events()
                assert [id(e) for e in got] == [id(e) for e in original(tracker)]
                extended += (
                    before is not None and rasa_patches._APPLIED[id(tracker)][4] is not (before[4])
                )
                got.append("not an event")  # the caller's list is its own
        assert [id(e) for e in tracker.applied_events()] == [id(e) for e in original(tracker)]
    assert extended > 500  # most answers came from extending the last one


def test_applied_events_of_a_replaced_history_are_computed_again() -> None:
    from collections import deque

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = DialogueStateTracker("citizen", domain.slots)
    events = _random_events(random.Random(8), 30)
    for event in events:
        tracker.update(event)
    tracker.applied_events()
    tracker.events = deque(events[:10])
    expected = rasa_patches.applied_events.__wrapped__(tracker)
    assert [id(e) for e in tracker.applied_events()] == [id(e) for e in expected]
