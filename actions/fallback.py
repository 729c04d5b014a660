"""Replies when the assistant did not understand, or the question is out of its scope."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    first_entity,
    latest_text,
    out_of_scope_probability,
    question_text,
    truncation_note,
)
from actions.handoff import hand_over
from actions.policy_qa import ActionAnswerPolicy
from bot.kb.service import get_policy_service
from bot.text.normalize import has_content, is_payload


def _utter_with_note(dispatcher: CollectingDispatcher, tracker: Tracker, response: str) -> None:
    """Sends a domain response, preceded by a note when the message was cut."""
    note = truncation_note(tracker)
    if note:
        dispatcher.utter_message(text=note)
    dispatcher.utter_message(response=response)


# A classifier this sure ("怎么减肥最快" after a loan answer, 0.98) is not overruled by one
# shared word with the policy just answered.
SURELY_OUT_OF_SCOPE = 0.9


class ActionOutOfScope(Action):
    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        sure = out_of_scope_probability(tracker) >= SURELY_OUT_OF_SCOPE
        policy = tracker.get_slot("policy")
        if not sure and get_policy_service().continues(policy, question_text(tracker)):
            # A follow-up the classifier took for out of scope: it continues the answer.
            return await ActionAnswerPolicy().run(dispatcher, tracker, domain)
        _utter_with_note(dispatcher, tracker, "utter_out_of_scope")
        return []


class ActionFallback(Action):
    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        text = latest_text(tracker)
        events = await self._answer(dispatcher, tracker, text, domain)
        if _intent(tracker) != "nlu_fallback" and not _paused(events):
            # Run as the dialogue's fallback (no rule for the situation, e.g. a form that
            # could not use the message), not the NLU's: like Rasa's default fallback, the
            # message is ignored for the dialogue, otherwise no rule applies afterwards
            # either and the fallback would repeat until Rasa's circuit breaker.
            events.append(UserUtteranceReverted())
        return events

    async def _answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        if _previous_turn_was_fallback(tracker):
            # Two in a row: the bot cannot help, a specialist takes over.
            return hand_over(dispatcher, tracker, "fallback")
        if not is_payload(text) and not has_content(text):
            # Empty, emoji-only or "xxxx…": ask for words rather than "I did not understand".
            dispatcher.utter_message(response="utter_ask_text")
            return []
        if tracker.get_slot("last_question") and first_entity(tracker, "region"):
            # "哦原来是海宁的，那海宁的呢": a city named after a policy question asks it again.
            return await ActionAnswerPolicy().run(dispatcher, tracker, domain)
        if get_policy_service().follows_up(tracker.get_slot("policy"), question_text(tracker)):
            # "那补贴的钱谁出" after 子女就学: a follow-up the classifier could not place.
            return await ActionAnswerPolicy().run(dispatcher, tracker, domain)
        _utter_with_note(dispatcher, tracker, "utter_default")
        return []


def _intent(tracker: Tracker) -> str:
    return str(((tracker.latest_message or {}).get("intent") or {}).get("name") or "")


def _paused(events: List[Dict[str, Any]]) -> bool:
    return any(e.get("event") == "pause" for e in events)


def _previous_turn_was_fallback(tracker: Tracker) -> bool:
    """True when the bot's answer to the user's previous message was this fallback."""
    users_seen = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            users_seen += 1
            if users_seen == 2:
                return False
        elif kind == "action" and users_seen == 1:
            name = event.get("name")
            if name not in ("action_listen", None):
                return name == "action_fallback"
        elif kind == "session_started":
            return False
    return False
