"""The performance fixes applied to Rasa keep Rasa's behaviour."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from sqlalchemy import create_engine

from bot import rasa_patches


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
