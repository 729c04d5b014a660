"""The quick JSON Schema checks accept nothing that jsonschema refuses."""

from __future__ import annotations

import copy
import random
from typing import Any, List

import pytest
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

from bot.schema_check import all_of, compile_schema


def _jsonschema_accepts(schema: Any, value: Any) -> bool:
    return bool(validator_for(schema)(schema).is_valid(value))


@pytest.mark.parametrize(
    "schema, good, bad",
    [
        ({"type": "string"}, ["", "好"], [None, 1, [], {}]),
        ({"type": ["string", "null"]}, ["a", None], [1, True, {}]),
        ({"type": "number"}, [1, 1.5, -3], [True, "1", None]),
        ({"type": "integer"}, [1, -2], [True, 1.5, "1"]),
        ({"type": "boolean"}, [True, False], [0, None, "true"]),
        ({"type": "object"}, [{}, {"a": 1}], [[], "x"]),
        ({"type": "array"}, [[], [1]], [{}, "x"]),
        ({"const": "slot"}, ["slot"], ["bot", None, ["slot"]]),
        ({"required": ["event"]}, [{"event": 1}, "not an object"], [{}, {"name": "x"}]),
        ({"properties": {"a": {"type": "string"}}}, [{}, {"a": "x"}, {"b": 1}, 3], [{"a": 1}]),
        ({"items": {"type": "object"}}, [[], [{}], "x"], [[1], [{}, None]]),
        ({"patternProperties": {"^x": {"type": "string"}}}, [{"xa": "1", "b": 2}], [{"xa": 2}]),
        ({}, [None, 1, "x", [], {}], []),
    ],
)
def test_the_subset_means_what_json_schema_means(schema: Any, good: List, bad: List) -> None:
    check = compile_schema(schema)
    assert check is not None
    for value in good:
        assert check(value) and _jsonschema_accepts(schema, value), value
    for value in bad:
        assert not check(value) and not _jsonschema_accepts(schema, value), value


@pytest.mark.parametrize(
    "schema",
    [
        {"oneOf": [{"type": "string"}]},
        {"type": "string", "minLength": 1},
        {"const": 1},
        {"type": "decimal"},
        {"properties": {"a": {"enum": [1]}}},
        {"items": [{"type": "string"}]},
        "not a schema",
    ],
)
def test_anything_beyond_the_subset_is_left_to_jsonschema(schema: Any) -> None:
    assert compile_schema(schema) is None


def test_all_of_needs_every_part() -> None:
    string, short = compile_schema({"type": "string"}), compile_schema({"const": "a"})
    both = all_of(string, short)
    assert both is not None and both("a") and not both("b") and not both(1)
    assert all_of(string, None) is None


def test_floats_written_as_integers_are_left_to_jsonschema() -> None:
    # jsonschema takes 1.0 for an integer; the quick check refuses it and jsonschema decides.
    assert not compile_schema({"type": "integer"})(1.0)  # type: ignore[misc]
    assert _jsonschema_accepts({"type": "integer"}, 1.0)


# --------------------------------------------------------------------------- Rasa's schema

VALID_EVENTS = [
    {"event": "slot", "timestamp": None, "name": "region", "value": "海宁市"},
    {"event": "slot", "name": "pending_policies", "value": ["a", "b"], "metadata": {}},
    {
        "event": "bot",
        "timestamp": 1700000000.5,
        "text": "您好",
        "data": {"buttons": [{"title": "条件", "payload": "/ask_policy"}], "custom": None},
        "metadata": {"utter_action": "utter_greet"},
    },
    {"event": "action", "name": "action_listen", "policy": None, "confidence": 1.0},
    {"event": "followup", "name": "status_form"},
    {"event": "active_loop", "name": None},
    {"event": "session_started"},
    {"event": "pause"},
    {"event": "reset_slots"},
    {"event": "reminder", "intent": "x", "date_time": "2026-11-24T10:00:00", "entities": None},
]
ODD_VALUES = [None, 0, 1, 1.5, True, "", "x", [], [1], ["x"], {}, {"a": 1}, {"text": 1}]


def _mutate(rng: random.Random, value: Any) -> Any:
    """A random change somewhere inside ``value``: a key replaced, removed or added."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(sorted(value))
        roll = rng.random()
        if roll < 0.2:
            del value[key]
        elif roll < 0.6 and isinstance(value[key], (dict, list)):
            _mutate(rng, value[key])
        else:
            value[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        if isinstance(value[i], (dict, list)) and rng.random() < 0.5:
            _mutate(rng, value[i])
        else:
            value[i] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif isinstance(value, dict):
        value[rng.choice(["text", "name", "data", "extra", "value"])] = rng.choice(ODD_VALUES)
    return value


def test_rasa_response_schema_is_never_accepted_more_widely() -> None:
    schema = RemoteAction.action_response_format_spec()
    item = schema["properties"]["events"]["items"]
    base = {k: v for k, v in item.items() if k != "oneOf"}
    checks = {}
    for alternative in item["oneOf"]:
        name = alternative["properties"]["event"]["const"]
        check = all_of(compile_schema(base), compile_schema(alternative))
        if check is not None:
            checks[name] = (check, {**base, "allOf": [alternative]})
    # The events actions send most are checked quickly.
    assert {"slot", "bot", "action", "followup", "active_loop", "session_started"} <= set(checks)

    rng = random.Random(5)
    agreed = refused = 0
    for _ in range(3000):
        event = _mutate(rng, copy.deepcopy(rng.choice(VALID_EVENTS)))
        name = event.get("event") if isinstance(event.get("event"), str) else "slot"
        check, full = checks.get(name, checks["slot"])
        expected = _jsonschema_accepts(full, event)
        if check(event):
            assert expected, event  # never more permissive
        agreed += check(event) == expected
        refused += not expected
    assert refused > 1000  # the mutations do make invalid events
    assert agreed >= 2990  # and the quick check decides nearly all of them itself
