"""The status-lookup actions, with CollectingDispatcher and trackers built from dicts, on a
migrated SQLite database holding the sample export."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.application_status import (
    ActionApplicationFollowup,
    ActionCheckApplication,
    ValidateApplicationStatusForm,
)
from bot.text.normalize import normalize_text

Messages = List[Dict[str, Any]]
Events = List[Dict[str, Any]]

SENDER = "citizen-1"
FORGOTTEN = {"application_no": None, "phone_last4": None, "application_verified": None}


@pytest.fixture(autouse=True)
def _database(sample_db: str, always_open: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKUP_AUDIT_KEY", "unit-test-key")


def tracker(
    text: str,
    *,
    intent: str = "inform_application",
    slots: Optional[Dict[str, Any]] = None,
    requested: Optional[str] = None,
    active: bool = True,
    sender: str = SENDER,
    entities: Optional[List[Dict[str, Any]]] = None,
) -> Tracker:
    if not text.startswith("/"):
        text = normalize_text(text)
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": {
                "application_no": None,
                "phone_last4": None,
                "region": None,
                "requested_slot": requested,
                **(slots or {}),
            },
            "latest_message": {
                "text": text,
                "intent": {"name": intent, "confidence": 0.98},
                "entities": entities or [],
            },
            "events": [{"event": "user", "text": text, "input_channel": "rest", "parse_data": {}}],
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": "application_status_form"} if active else {},
            "latest_action_name": "action_listen",
        }
    )


def run(action: Action, tr: Tracker, domain: Dict[str, Any]) -> Tuple[Messages, Events]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tr, domain))
    return dispatcher.messages, events


def slots_of(events: Events) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def responses(messages: Messages) -> List[Optional[str]]:
    return [m.get("response") for m in messages]


def text_of(messages: Messages) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


Validate = Callable[..., Tuple[Messages, Dict[str, Any]]]


@pytest.fixture
def validate(domain: Dict[str, Any]) -> Validate:
    def _validate(text: str, **kwargs: Any) -> Tuple[Messages, Dict[str, Any]]:
        messages, events = run(ValidateApplicationStatusForm(), tracker(text, **kwargs), domain)
        return messages, slots_of(events)

    return _validate


# -- the form ----------------------------------------------------------------------------


def test_both_values_in_the_first_message(validate: Validate) -> None:
    _, slots = validate("帮我查下HN-2024-00103，尾号0003", intent="check_status")
    assert slots["application_no"] == "HN-2024-00103"
    assert slots["phone_last4"] == "0003"
    # Rasa's form action asks for what is missing: the validation does not override it.
    assert "requested_slot" not in slots


def test_number_then_digits(validate: Validate) -> None:
    _, slots = validate("我的购房补贴批下来没有？", intent="check_status")
    assert slots == {}
    _, slots = validate("hn-2024-00103", requested="application_no")
    assert slots == {"application_no": "HN-2024-00103", "phone_last4": None}
    _, slots = validate("0003", requested="phone_last4", slots={"application_no": "HN-2024-00103"})
    assert slots == {"phone_last4": "0003"}


def test_malformed_number_is_reasked_with_an_example(validate: Validate) -> None:
    messages, slots = validate("12", requested="application_no")
    assert responses(messages) == ["utter_application_no_invalid"]
    assert slots == {"application_no": None}


def test_malformed_digits_are_reasked(validate: Validate) -> None:
    messages, slots = validate(
        "12345", requested="phone_last4", slots={"application_no": "HN-2024-00103"}
    )
    assert responses(messages) == ["utter_phone_last4_invalid"]
    assert slots["phone_last4"] is None


def test_full_phone_number_is_reduced_to_its_digits(validate: Validate) -> None:
    messages, slots = validate(
        "13800000003", requested="phone_last4", slots={"application_no": "HN-2024-00103"}
    )
    assert responses(messages) == ["utter_phone_full_number"]
    assert slots["phone_last4"] == "0003"


def test_a_new_number_drops_the_old_digits(validate: Validate) -> None:
    _, slots = validate(
        "那ZJG-2024-00202呢",
        intent="check_status",
        slots={"application_no": "HN-2024-00103", "phone_last4": "0003"},
    )
    assert slots["application_no"] == "ZJG-2024-00202"
    assert slots["phone_last4"] is None


def test_a_locked_conversation_is_not_asked_anything(
    validate: Validate, domain: Dict[str, Any]
) -> None:
    for digits in ("1111", "2222", "3333"):
        check = tracker(
            "x", slots={"application_no": "HN-2024-00103", "phone_last4": digits}, active=False
        )
        run(ActionCheckApplication(), check, domain)
    _, slots = validate("查一下我的申请", intent="check_status")
    assert slots == {"requested_slot": None}


# -- the check ---------------------------------------------------------------------------


def check(domain: Dict[str, Any], number: str, digits: str, sender: str = SENDER):
    tr = tracker(
        "0003", slots={"application_no": number, "phone_last4": digits}, sender=sender, active=False
    )
    return run(ActionCheckApplication(), tr, domain)


def test_check_shows_the_status_and_offers_followups(domain: Dict[str, Any]) -> None:
    messages, events = check(domain, "HN-2024-00103", "0003")
    (message,) = messages
    assert "【待补件】" in message["text"] and "近6个月社保缴纳证明" in message["text"]
    titles = [b["title"] for b in message["buttons"]]
    assert titles == ["要补什么材料", "什么时候能办好", "找谁办", "转人工服务"]
    assert slots_of(events) == {"region": "海宁市", "application_verified": True}


def test_wrong_pair_and_unknown_number_get_the_same_reply(domain: Dict[str, Any]) -> None:
    wrong, wrong_events = check(domain, "HN-2024-00103", "9999", sender="a")
    unknown, unknown_events = check(domain, "HN-2031-00001", "0003", sender="b")
    assert wrong == unknown and wrong_events == unknown_events
    assert responses(wrong) == ["utter_application_not_found"]
    assert wrong[0]["attempts_left"] == 2
    assert slots_of(wrong_events) == FORGOTTEN


def test_third_failure_locks_and_offers_a_person(domain: Dict[str, Any]) -> None:
    check(domain, "HN-2024-00103", "1111")
    check(domain, "HN-2024-00103", "2222")
    messages, events = check(domain, "HN-2024-00103", "3333")
    # Locked, and handed to a specialist: the conversation is paused.
    assert responses(messages) == ["utter_lookup_locked", "utter_handoff_queued"]
    assert "年" in messages[0]["locked_until"] and messages[1]["position"] == 1
    assert [e["event"] for e in events[-2:]] == ["pause", "action"]
    messages, _ = check(domain, "HN-2024-00103", "0003")
    assert responses(messages) == ["utter_lookup_locked", "utter_handoff_queued"]
    # Nothing at all about the application came out.
    assert "待补件" not in str(messages)


def test_check_without_values_explains_a_lock_only(domain: Dict[str, Any]) -> None:
    messages, events = run(ActionCheckApplication(), tracker("x", active=False), domain)
    assert messages == [] and slots_of(events) == FORGOTTEN


# -- follow-ups --------------------------------------------------------------------------


def followup(domain: Dict[str, Any], text: str, slots: Dict[str, Any], **kwargs: Any):
    kwargs.setdefault("intent", "ask_application_followup")
    tr = tracker(text, slots=slots, active=False, **kwargs)
    return run(ActionApplicationFollowup(), tr, domain)


VERIFIED = {"application_no": "HN-2024-00103", "phone_last4": "0003"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("我还要补什么材料", "还需要补交 2 项材料"),
        ("什么时候能办好", "尚未给出预计办结时间"),
        ("找谁办", "经办部门：海宁市人力资源和社会保障局"),
    ],
)
def test_followups_use_the_checked_record(domain: Dict[str, Any], text: str, expected: str) -> None:
    messages, events = followup(domain, text, VERIFIED)
    assert expected in text_of(messages)
    assert events == []


def test_followup_from_a_button(domain: Dict[str, Any]) -> None:
    messages, _ = followup(
        domain,
        '/ask_application_followup{"followup_topic":"contact"}',
        VERIFIED,
        entities=[{"entity": "followup_topic", "value": "contact"}],
    )
    assert "经办部门" in text_of(messages)
    assert "找谁办" not in [b["title"] for b in messages[0]["buttons"]]


def test_followup_before_any_check_starts_the_form(domain: Dict[str, Any]) -> None:
    messages, events = followup(domain, "什么时候能办好", {})
    assert responses(messages) == ["utter_followup_needs_check"]
    assert events == [{"event": "followup", "timestamp": None, "name": "application_status_form"}]


def test_names_and_responses_exist_in_the_domain(domain: Dict[str, Any]) -> None:
    import re
    from pathlib import Path

    for action in (
        ValidateApplicationStatusForm(),
        ActionCheckApplication(),
        ActionApplicationFollowup(),
    ):
        assert action.name() in domain["actions"]
    assert domain["forms"]["application_status_form"]["required_slots"] == [
        "application_no",
        "phone_last4",
    ]
    source = (Path(__file__).resolve().parents[2] / "actions" / "application_status.py").read_text(
        encoding="utf-8"
    )
    used = set(re.findall(r'response="(utter_[a-z0-9_]+)"', source))
    assert used and used <= set(domain["responses"])
    assert {"utter_ask_application_no", "utter_ask_phone_last4"} <= set(domain["responses"])
    # Template variables of the responses are filled by the actions.
    assert "{attempts_left}" in domain["responses"]["utter_application_not_found"][0]["text"]
    assert "{locked_until}" in domain["responses"]["utter_lookup_locked"][0]["text"]


def test_short_policy_like_question_after_a_check_is_about_the_application(
    domain: Dict[str, Any],
) -> None:
    messages, events = followup(domain, "找谁办", VERIFIED, intent="ask_policy")
    assert "经办部门：海宁市人力资源和社会保障局" in text_of(messages) and events == []


@pytest.mark.parametrize(
    "text, entities",
    [
        (
            "张家港人才贷最多能贷多少",
            [
                {"entity": "policy", "value": "zjg_talent_loan"},
                {"entity": "region", "value": "张家港市"},
            ],
        ),
        ("人才公寓是什么", []),
    ],
)
def test_real_policy_question_after_a_check_goes_to_the_policy_answer(
    domain: Dict[str, Any], text: str, entities: List[Dict[str, Any]]
) -> None:
    messages, events = followup(domain, text, VERIFIED, intent="ask_policy", entities=entities)
    assert "依据" in text_of(messages) or "哪一项" in text_of(messages)
    assert "经办部门" not in text_of(messages)
    assert all(e["event"] == "slot" for e in events)
