"""The custom actions, run with rasa_sdk's CollectingDispatcher and trackers built from dicts."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import entity_values, first_entity, truncation_note
from actions.fallback import ActionFallback, ActionOutOfScope
from actions.policy_qa import ActionAnswerPolicy
from actions.session import CARRIED_OVER_SLOTS, ActionSessionStart
from bot.kb.answer import MAX_REPLY_CHARS
from bot.text.normalize import MAX_MESSAGE_CHARS, normalize_text

CheckButtons = Callable[..., None]  # the `check_buttons` fixture of conftest.py
Messages = List[Dict[str, Any]]
Events = List[Dict[str, Any]]

EMPTY_SLOTS: Dict[str, Any] = {
    "region": None,
    "policy": None,
    "pending_policies": None,
    "pending_aspect": None,
    "last_question": None,
}


def entity(name: str, value: str, text: str, surface: Optional[str] = None) -> Dict[str, Any]:
    """An entity as KBEntityLinker emits it; without a surface form, as a button payload
    carries it (no position)."""
    if surface is None:
        return {"entity": name, "value": value}
    start = text.index(surface)
    return {
        "entity": name,
        "value": value,
        "start": start,
        "end": start + len(surface),
        "confidence_entity": 1.0,
        "extractor": "KBEntityLinker",
    }


def tracker(
    text: str,
    *,
    intent: str = "ask_policy",
    entities: Tuple[Tuple[str, str, Optional[str]], ...] = (),
    slots: Optional[Dict[str, Any]] = None,
    normalization: Optional[Dict[str, Any]] = None,
) -> Tracker:
    """A tracker whose latest message went through the NLU pipeline: `text` is normalised
    and entities are (name, value, surface form or None for a payload)."""
    if not text.startswith("/"):
        text = normalize_text(text)
    latest: Dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.97},
        "intent_ranking": [{"name": intent, "confidence": 0.97}],
        "entities": [entity(name, value, text, surface) for name, value, surface in entities],
    }
    if normalization is not None:
        latest["text_normalization"] = normalization
    return Tracker.from_dict(
        {
            "sender_id": "unit-test",
            "slots": {**EMPTY_SLOTS, **(slots or {})},
            "latest_message": latest,
            "events": [],
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


def slot_events(events: Events) -> Dict[str, Any]:
    assert all(event["event"] == "slot" for event in events), events
    return {event["name"]: event["value"] for event in events}


def texts(messages: Messages) -> str:
    return "\n".join(m["text"] for m in messages if m.get("text"))


def answer(domain: Dict[str, Any], text: str, **kwargs: Any) -> Tuple[Messages, Dict[str, Any]]:
    messages, events = run(ActionAnswerPolicy(), tracker(text, **kwargs), domain)
    assert messages, "the action must always reply"
    return messages, slot_events(events)


ANSWERED_CLEAR = {"pending_policies": None, "pending_aspect": None}


# --- reading the NLU output ------------------------------------------------------------


def test_the_doubt_is_the_nlu_out_of_scope_probability() -> None:
    from actions.common import out_of_scope_probability

    def ranked(ranking: Any) -> Tracker:
        latest = {"text": "x", "intent_ranking": ranking}
        return Tracker.from_dict({"sender_id": "t", "latest_message": latest, "events": []})

    both = [{"name": "ask_policy", "confidence": 0.6}, {"name": "out_of_scope", "confidence": 0.3}]
    assert out_of_scope_probability(ranked(both)) == 0.3
    assert out_of_scope_probability(ranked(both[:1])) == 0.0
    assert out_of_scope_probability(ranked(None)) == 0.0
    assert out_of_scope_probability(ranked([{"name": "out_of_scope", "confidence": "x"}])) == 0.0


def test_the_question_is_the_text_the_nlu_normalised() -> None:
    from actions.common import question_text

    def latest(text: str, **extra: Any) -> Tracker:
        return Tracker.from_dict(
            {"sender_id": "t", "slots": {}, "latest_message": {"text": text, **extra}, "events": []}
        )

    marked = {"text_normalization": {"truncated": False, "original_length": 7}}
    # Through the NLU: taken as it is.
    assert question_text(latest("张家港人才贷怎么申请", **marked)) == "张家港人才贷怎么申请"
    # Not through the normaliser (injected through Rasa's API): normalised here.
    assert question_text(latest("張家港人才貸怎麼申請？？")) == "张家港人才贷怎么申请?"
    assert question_text(latest('/ask_policy{"policy": "zjg_talent_loan"}', **marked)) == ""
    assert question_text(Tracker.from_dict({"sender_id": "t", "events": []})) == ""


def test_entity_helpers_read_the_latest_message() -> None:
    tr = tracker(
        "子女入学",
        entities=(
            ("policy", "hn_children_school", "子女入学"),
            ("policy", "zjg_children_schooling", "子女入学"),
            ("policy", "hn_children_school", "子女入学"),
        ),
    )
    assert entity_values(tr, "policy") == ["hn_children_school", "zjg_children_schooling"]
    assert first_entity(tr, "policy") == "hn_children_school"
    assert first_entity(tr, "region") is None


# --- action_answer_policy --------------------------------------------------------------


def test_answer_with_aspect_sets_policy_and_region(
    domain: Dict[str, Any], check_buttons: CheckButtons
) -> None:
    messages, slots = answer(
        domain,
        "张家港人才贷怎么申请",
        entities=(
            ("region", "张家港市", "张家港"),
            ("policy", "zjg_talent_loan", "人才贷"),
            ("aspect", "process", "怎么申请"),
        ),
    )
    assert messages[0]["text"].startswith("张家港“人才贷”的办理流程：")
    assert "最快3天放款" in texts(messages)
    # The pending slots are empty already: only what changes is set.
    assert slots == {
        "policy": "zjg_talent_loan",
        "region": "张家港市",
        "last_question": "张家港人才贷怎么申请",
    }
    assert messages[-1]["buttons"]
    check_buttons(messages[-1]["buttons"])
    assert all(len(m["text"]) <= MAX_REPLY_CHARS for m in messages)


def test_overview_by_retrieval_without_entities(domain: Dict[str, Any]) -> None:
    messages, slots = answer(domain, "海宁人才公寓怎么样", entities=(("region", "海宁市", "海宁"),))
    assert messages[0]["text"].startswith("【海宁人才公寓】")
    assert slots["policy"] == "hn_talent_apartment"
    assert slots["region"] == "海宁市"


def test_ask_region_then_inform_region_answers_the_pending_aspect(
    domain: Dict[str, Any], check_buttons: CheckButtons
) -> None:
    messages, slots = answer(
        domain,
        "购房补贴申请条件是什么",
        entities=(
            ("policy", "hn_housing_subsidy", "购房补贴"),
            ("policy", "zjg_housing_purchase_subsidy", "购房补贴"),
            ("aspect", "conditions", "申请条件"),
        ),
    )
    assert len(messages) == 1
    assert "哪个城市" in messages[0]["text"]
    check_buttons(messages[0]["buttons"])
    assert {b["title"] for b in messages[0]["buttons"]} == {"海宁市", "张家港市"}
    assert "policy" not in slots and "region" not in slots
    assert set(slots["pending_policies"]) == {"hn_housing_subsidy", "zjg_housing_purchase_subsidy"}
    assert slots["pending_aspect"] == "conditions"

    # The citizen clicks the "海宁市" button.
    button = next(b for b in messages[0]["buttons"] if b["title"] == "海宁市")
    messages, slots_after = answer(
        domain,
        button["payload"],
        intent="inform_region",
        entities=(("region", "海宁市", None),),
        slots={"pending_policies": slots["pending_policies"], "pending_aspect": "conditions"},
    )
    assert messages[0]["text"].startswith("海宁市人才购租房补贴的申请条件：")
    assert slots_after == {"policy": "hn_housing_subsidy", "region": "海宁市", **ANSWERED_CLEAR}


def test_typed_city_answers_the_pending_question(domain: Dict[str, Any]) -> None:
    pending = {"pending_policies": ["zjg_children_schooling", "hn_children_school"]}
    messages, slots = answer(
        domain,
        "张家港的",
        intent="inform_region",
        entities=(("region", "张家港市", "张家港的"),),
        slots=pending,
    )
    assert "张家港市高层次人才子女入学" in messages[0]["text"]
    assert slots["policy"] == "zjg_children_schooling"
    assert slots["pending_policies"] is None


def test_follow_up_detail_uses_the_current_policy(domain: Dict[str, Any]) -> None:
    messages, slots = answer(
        domain, "那要抵押吗", slots={"policy": "zjg_talent_loan", "region": "张家港市"}
    )
    assert "无抵押" in texts(messages)
    assert slots == {}  # the same policy and city: nothing to set again


def test_same_topic_in_the_other_city(domain: Dict[str, Any]) -> None:
    messages, slots = answer(
        domain,
        "那张家港呢",
        intent="inform_region",
        entities=(("region", "张家港市", "张家港"),),
        slots={"policy": "hn_housing_subsidy", "region": "海宁市"},
    )
    assert "张家港市高层次人才购房补贴" in messages[0]["text"]
    assert slots["policy"] == "zjg_housing_purchase_subsidy"
    assert slots["region"] == "张家港市"


def test_button_payload_with_aspect(domain: Dict[str, Any]) -> None:
    payload = '/ask_policy{"policy": "zjg_talent_loan", "aspect": "amounts"}'
    messages, slots = answer(
        domain,
        payload,
        entities=(("policy", "zjg_talent_loan", None), ("aspect", "amounts", None)),
        slots={"policy": "zjg_panfeng", "region": "张家港市"},
    )
    assert messages[0]["text"].startswith("张家港“人才贷”的标准和金额：")
    assert "3000万元" in texts(messages)
    assert slots == {"policy": "zjg_talent_loan"}  # the city was known


def test_unknown_aspect_value_gives_the_overview(domain: Dict[str, Any]) -> None:
    messages, _ = answer(
        domain,
        '/ask_policy{"policy": "zjg_panfeng", "aspect": "price"}',
        entities=(("policy", "zjg_panfeng", None), ("aspect", "price", None)),
    )
    assert messages[0]["text"].startswith("【张家港“攀峰计划”】")


def test_unknown_policy_id_asks_for_the_topic(domain: Dict[str, Any]) -> None:
    messages, slots = answer(
        domain,
        '/ask_policy{"policy": "no_such_entry"}',
        entities=(("policy", "no_such_entry", None),),
    )
    assert "哪一项政策" in messages[0]["text"]
    assert slots == {}


def test_policy_of_the_other_city_named_without_a_city(domain: Dict[str, Any]) -> None:
    messages, slots = answer(
        domain,
        "人才贷",
        entities=(("policy", "zjg_talent_loan", "人才贷"),),
        slots={"region": "海宁市"},
    )
    # Haining was only remembered: the message names Zhangjiagang's programme, which is
    # answered without a "not in Haining" line, and the conversation moves on with it.
    assert "暂未收录" not in messages[0]["text"]
    assert "3000万" in messages[0]["text"]
    assert slots["policy"] == "zjg_talent_loan"
    assert slots["region"] == "张家港市"


def test_invalid_remembered_city_is_ignored(domain: Dict[str, Any]) -> None:
    messages, slots = answer(
        domain,
        "购房补贴",
        entities=(
            ("policy", "hn_housing_subsidy", "购房补贴"),
            ("policy", "zjg_housing_purchase_subsidy", "购房补贴"),
        ),
        slots={"region": "苏州市"},
    )
    assert "哪个城市" in messages[0]["text"]
    assert "pending_policies" in slots


def test_out_of_area(domain: Dict[str, Any], check_buttons: CheckButtons) -> None:
    messages, slots = answer(
        domain,
        "上海有什么人才政策",
        entities=(("other_place", "上海", "上海"),),
        slots={"policy": "zjg_talent_loan", "region": "张家港市"},
    )
    assert "只提供海宁市和张家港市" in messages[0]["text"]
    check_buttons(messages[0]["buttons"])
    assert slots == {}


def test_nothing_found_clears_pending_questions(
    domain: Dict[str, Any], check_buttons: CheckButtons
) -> None:
    messages, slots = answer(
        domain,
        "红烧肉怎么做",
        slots={"pending_policies": ["hn_housing_subsidy"], "pending_aspect": "amounts"},
    )
    assert "没有找到" in messages[0]["text"]
    check_buttons(messages[0]["buttons"])
    # Kept, so that "我说的是张家港" can ask it again for another city.
    assert slots == {**ANSWERED_CLEAR, "last_question": "红烧肉怎么做"}


def test_aspect_without_topic_asks_for_one(
    domain: Dict[str, Any], check_buttons: CheckButtons
) -> None:
    messages, slots = answer(
        domain, "需要什么材料", entities=(("aspect", "materials", "需要什么材料"),)
    )
    assert "哪一项政策" in messages[0]["text"]
    check_buttons(messages[0]["buttons"])
    assert slots == {}


def test_truncation_note_comes_first(domain: Dict[str, Any]) -> None:
    text = ("张家港人才贷怎么申请" * 60)[:MAX_MESSAGE_CHARS]
    messages, slots = answer(
        domain,
        text,
        entities=(("policy", "zjg_talent_loan", "人才贷"), ("region", "张家港市", "张家港")),
        normalization={"truncated": True, "original_length": 812},
    )
    note = messages[0]["text"]
    assert "约 812 字" in note and f"前 {MAX_MESSAGE_CHARS} 字" in note
    assert "张家港“人才贷”" in messages[1]["text"]
    assert slots["policy"] == "zjg_talent_loan"


@pytest.mark.parametrize("normalization", [None, {"truncated": False, "original_length": 12}])
def test_no_truncation_note_otherwise(
    domain: Dict[str, Any], normalization: Optional[Dict[str, Any]]
) -> None:
    tr = tracker("人才贷", normalization=normalization)
    assert truncation_note(tr) is None
    messages, _ = run(ActionAnswerPolicy(), tr, domain)
    assert "您的消息较长" not in texts(messages)


# --- out of scope and fallback ---------------------------------------------------------


def responses(messages: Messages) -> List[Optional[str]]:
    return [m.get("response") for m in messages]


def test_out_of_scope(domain: Dict[str, Any]) -> None:
    messages, events = run(
        ActionOutOfScope(), tracker("帮我写一首诗", intent="out_of_scope"), domain
    )
    assert responses(messages) == ["utter_out_of_scope"]
    assert events == []


def test_out_of_scope_with_truncation_note(domain: Dict[str, Any]) -> None:
    tr = tracker(
        "长" * MAX_MESSAGE_CHARS,
        intent="out_of_scope",
        normalization={"truncated": True, "original_length": 2000},
    )
    messages, _ = run(ActionOutOfScope(), tr, domain)
    assert "约 2000 字" in messages[0]["text"]
    assert responses(messages) == [None, "utter_out_of_scope"]


@pytest.mark.parametrize("text", ["", "👍", "👍👍👍", "？？？", "xxxxxxxxxxxxxxxxxxxx", "哈" * 30])
def test_fallback_without_words_asks_for_text(domain: Dict[str, Any], text: str) -> None:
    messages, events = run(ActionFallback(), tracker(text, intent="nlu_fallback"), domain)
    assert responses(messages) == ["utter_ask_text"]
    assert events == []


@pytest.mark.parametrize("text", ["人才贷到底怎么回事呢", "/unknown_intent", "asdf qwer"])
def test_fallback_with_words_says_it_did_not_understand(domain: Dict[str, Any], text: str) -> None:
    messages, events = run(ActionFallback(), tracker(text, intent="nlu_fallback"), domain)
    assert responses(messages) == ["utter_default"]
    assert events == []


def test_fallback_with_truncation_note(domain: Dict[str, Any]) -> None:
    tr = tracker(
        ("人才贷怎么申请" * 80)[:MAX_MESSAGE_CHARS],
        intent="nlu_fallback",
        normalization={"truncated": True, "original_length": 900},
    )
    messages, _ = run(ActionFallback(), tr, domain)
    assert "约 900 字" in messages[0]["text"]
    assert responses(messages)[-1] == "utter_default"


# --- session start ---------------------------------------------------------------------


def test_session_start_carries_over_the_city_only(domain: Dict[str, Any], db_url: str) -> None:
    tr = tracker(
        "",
        slots={
            "region": "张家港市",
            "policy": "zjg_talent_loan",
            "pending_policies": ["hn_housing_subsidy"],
            "pending_aspect": "amounts",
        },
    )
    messages, events = run(ActionSessionStart(), tr, domain)
    assert messages == []
    assert [e["event"] for e in events] == ["session_started", "slot", "action"]
    assert (events[1]["name"], events[1]["value"]) == ("region", "张家港市")
    assert events[2]["name"] == "action_listen"
    assert CARRIED_OVER_SLOTS == ("region",)


def test_session_start_without_a_city(domain: Dict[str, Any], db_url: str) -> None:
    _, events = run(ActionSessionStart(), tracker("", slots={"policy": "zjg_talent_loan"}), domain)
    assert [e["event"] for e in events] == ["session_started", "action"]


# --- consistency with the domain -------------------------------------------------------


def test_actions_and_responses_exist_in_the_domain(domain: Dict[str, Any]) -> None:
    for action in (
        ActionAnswerPolicy(),
        ActionOutOfScope(),
        ActionFallback(),
        ActionSessionStart(),
    ):
        assert action.name() in domain["actions"]
    for response in ("utter_out_of_scope", "utter_default", "utter_ask_text"):
        assert response in domain["responses"]


def test_slots_set_by_the_actions_exist_in_the_domain(domain: Dict[str, Any]) -> None:
    # The status-lookup slots are covered by test_application_actions.py.
    assert set(domain["slots"]) - set(EMPTY_SLOTS) == {
        "application_no",
        "phone_last4",
        "application_verified",
    }
    assert set(domain["slots"]["region"]["values"]) == {"海宁市", "张家港市"}
