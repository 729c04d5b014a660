"""The handoff actions with CollectingDispatcher and trackers from dicts, on a migrated
SQLite database; and the paused-conversation rule of bot/rasa_patches.py."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import ActionFallback
from actions.handoff import (
    ActionCancel,
    ActionHandoff,
    ActionRateService,
    ActionRestart,
    rating_from_text,
)
from actions.session import ActionSessionStart
from bot.db.models import beijing_now
from bot.handoff.service import get_handoff_service
from bot.rasa_patches import _should_handle_message

Messages = List[Dict[str, Any]]
Events = List[Dict[str, Any]]


@pytest.fixture(autouse=True)
def _database(db_url: str, always_open: None) -> None:
    pass


def tracker(
    text: str,
    *,
    sender: str = "citizen-7",
    intent: str = "request_human",
    history: Optional[List[Dict[str, Any]]] = None,
    slots: Optional[Dict[str, Any]] = None,
    entities: Optional[List[Dict[str, Any]]] = None,
) -> Tracker:
    events = [*(history or []), user(text)]
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": {"region": None, "policy": None, "application_no": None, **(slots or {})},
            "latest_message": {
                "text": text,
                "intent": {"name": intent, "confidence": 0.99},
                "entities": entities or [],
            },
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


def run(action: Action, tr: Tracker, domain: Dict[str, Any]) -> Tuple[Messages, Events]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tr, domain))
    return dispatcher.messages, events


def responses(messages: Messages) -> List[Optional[str]]:
    return [m.get("response") for m in messages]


def user(text: str) -> Dict[str, Any]:
    return {"event": "user", "text": text, "input_channel": "socketio", "parse_data": {}}


def action(name: str) -> Dict[str, Any]:
    return {"event": "action", "name": name}


def test_handoff_opens_a_ticket_and_pauses(domain: Dict[str, Any]) -> None:
    history = [
        user("海宁人才公寓怎么申请"),
        action("action_answer_policy"),
        action("action_listen"),
    ]
    messages, events = run(
        ActionHandoff(),
        tracker(
            "转人工", history=history, slots={"region": "海宁市", "policy": "hn_talent_apartment"}
        ),
        domain,
    )
    assert responses(messages) == ["utter_handoff_queued"]
    assert messages[0]["position"] == 1
    assert messages[0]["buttons"] == [{"title": "取消人工", "payload": "/cancel"}]
    assert [e["event"] for e in events] == ["pause", "action"]
    (ticket,) = get_handoff_service().list("waiting")
    assert ticket["channel"] == "socketio" and ticket["reason"] == "user_request"
    assert "海宁人才公寓怎么申请" in ticket["summary"]
    assert ticket["context"]["region"] == "海宁市" and "人才公寓" in ticket["context"]["policy"]


def test_handoff_during_a_form_ends_the_form(domain: Dict[str, Any]) -> None:
    tr = tracker("转人工")
    tr.active_loop = {"name": "application_status_form"}
    _, events = run(ActionHandoff(), tr, domain)
    assert [e["event"] for e in events] == ["active_loop", "slot", "pause", "action"]
    assert events[0]["name"] is None and events[1]["name"] == "requested_slot"


def test_complaint_and_masked_context(domain: Dict[str, Any]) -> None:
    run(
        ActionHandoff(),
        tracker("我要投诉，找人工", slots={"application_no": "HN-2024-00103"}),
        domain,
    )
    (ticket,) = get_handoff_service().list("waiting")
    assert ticket["reason"] == "complaint"
    assert ticket["context"]["application_no"] == "HN-*******103"


def test_out_of_hours_reply(domain: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Today (Beijing) is a holiday: closed now, whatever the hour.
    monkeypatch.setenv("HANDOFF_CLOSED_DATES", beijing_now().date().isoformat())
    get_handoff_service.cache_clear()
    messages, events = run(ActionHandoff(), tracker("人工"), domain)
    assert responses(messages) == ["utter_handoff_out_of_hours"]
    assert messages[0]["hours"] == "周一至周日 0:00–24:00"
    assert messages[0]["opening"].endswith("0:00")
    assert [e["event"] for e in events] == ["pause", "action"]


def test_cancel_closes_the_ticket_and_resumes(domain: Dict[str, Any]) -> None:
    run(ActionHandoff(), tracker("人工"), domain)
    messages, events = run(ActionCancel(), tracker("取消人工", intent="cancel"), domain)
    assert responses(messages) == ["utter_handoff_cancelled"]
    assert [e["event"] for e in events] == ["resume"]
    assert get_handoff_service().open_ticket_for("citizen-7") is None
    messages, events = run(ActionCancel(), tracker("算了", intent="cancel"), domain)
    assert responses(messages) == ["utter_anything_else"] and events == []


def test_second_fallback_in_a_row_hands_over(domain: Dict[str, Any]) -> None:
    history = [user("阿巴阿巴"), action("action_fallback")]
    messages, _ = run(ActionFallback(), tracker("呜啦啦", intent="nlu_fallback"), domain)
    assert responses(messages) == ["utter_default"]
    tr = tracker("呜啦啦", intent="nlu_fallback", history=history)
    messages, _ = run(ActionFallback(), tr, domain)
    assert responses(messages) == ["utter_handoff_queued"]
    assert get_handoff_service().list("waiting")[0]["reason"] == "fallback"
    # A fallback, then a real answer, then a fallback: not in a row.
    history += [action("action_listen"), user("人才贷"), action("action_answer_policy")]
    tr = tracker("呜啦啦", intent="nlu_fallback", history=history, sender="other")
    assert responses(run(ActionFallback(), tr, domain)[0]) == ["utter_default"]


def test_session_start_keeps_a_handed_over_conversation_paused(domain: Dict[str, Any]) -> None:
    _, events = run(ActionSessionStart(), tracker(""), domain)
    assert [e["event"] for e in events] == ["session_started", "action"]
    run(ActionHandoff(), tracker("人工"), domain)
    _, events = run(ActionSessionStart(), tracker(""), domain)
    assert [e["event"] for e in events] == ["session_started", "action", "pause"]


def test_restart_is_refused_while_a_ticket_is_open(domain: Dict[str, Any]) -> None:
    _, events = run(ActionRestart(), tracker("/restart", intent="restart"), domain)
    assert [e["event"] for e in events] == ["restart"]
    run(ActionHandoff(), tracker("人工"), domain)
    messages, events = run(ActionRestart(), tracker("/restart", intent="restart"), domain)
    assert responses(messages) == ["utter_handoff_restart_refused"]
    assert [e["event"] for e in events] == ["pause", "action"]


@pytest.mark.parametrize(
    "text, rating",
    [
        ("5分", 5),
        ("五星好评", 5),
        ("我打4分", 4),
        ("很满意", 5),
        ("一般", 3),
        ("不满意", 2),
        ("嗯", None),
    ],
)
def test_rating_from_text(text: str, rating: Optional[int]) -> None:
    assert rating_from_text(text) == rating


def test_rating_is_stored_on_the_closed_ticket(domain: Dict[str, Any], db_url: str) -> None:
    from tests.unit.test_handoff_tickets import make_staff

    service = get_handoff_service()
    run(ActionHandoff(), tracker("人工"), domain)
    staff = make_staff(db_url, "zhang")
    (ticket,) = service.list("waiting")
    service.claim(ticket["id"], staff)
    service.close(ticket["id"], staff)
    payload = tracker(
        '/rate_service{"rating":"5"}',
        intent="rate_service",
        entities=[{"entity": "rating", "value": "5"}],
    )
    messages, _ = run(ActionRateService(), payload, domain)
    assert responses(messages) == ["utter_rating_thanks"]
    assert service.get(ticket["id"])["rating"] == 5


def paused(
    intent: str,
    confidence: float = 0.99,
    is_paused: bool = True,
    acted: bool = False,
    text: str = "取消人工",
) -> Any:
    from rasa.shared.core.events import ActionExecuted, UserUttered

    events: List[Any] = [UserUttered("x"), ActionExecuted("action_extract_slots")]
    if acted:
        events.append(ActionExecuted("action_restart"))
    return SimpleNamespace(
        is_paused=lambda: is_paused,
        latest_message=SimpleNamespace(
            intent={"name": intent, "confidence": confidence}, text=text
        ),
        events=events,
    )


def test_paused_conversations_only_hear_cancel_and_restart() -> None:
    assert _should_handle_message(paused("ask_policy", is_paused=False))
    assert not _should_handle_message(paused("ask_policy"))
    assert not _should_handle_message(paused("request_human"))
    assert _should_handle_message(paused("cancel"))
    assert not _should_handle_message(paused("cancel", confidence=0.6))
    assert _should_handle_message(paused("cancel", text="不用等人工了"))
    assert _should_handle_message(paused("cancel", text="/cancel"))
    # Said to the specialist, not a cancel, however the classifier took it.
    assert not _should_handle_message(
        paused("cancel", confidence=0.83, text="我还在，网络刚才断了")
    )
    assert _should_handle_message(paused("restart"))
    # Once an action has answered it, a still-paused conversation stops (a refused restart).
    assert not _should_handle_message(paused("restart", acted=True))
    assert _should_handle_message(paused("restart", acted=True, is_paused=False))


def test_domain_knows_the_handoff_actions(domain: Dict[str, Any]) -> None:
    for act in (ActionHandoff(), ActionCancel(), ActionRateService(), ActionRestart()):
        assert act.name() in domain["actions"]
    for name in ("utter_handoff_queued", "utter_handoff_out_of_hours", "utter_handoff_cancelled"):
        assert name in domain["responses"]
    assert "{position}" in json.dumps(
        domain["responses"]["utter_handoff_queued"], ensure_ascii=False
    )


def test_dialogue_fallback_ignores_the_message_nlu_fallback_does_not(
    domain: Dict[str, Any],
) -> None:
    _, events = run(ActionFallback(), tracker("' or 1=1 -", intent="inform_application"), domain)
    assert [e["event"] for e in events] == ["rewind"]
    nlu = tracker("阿巴阿巴", intent="nlu_fallback", sender="x")
    _, events = run(ActionFallback(), nlu, domain)
    assert events == []
