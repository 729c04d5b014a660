"""Replies when the assistant did not understand, or the question is out of its scope."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import latest_text, truncation_note
from bot.text.normalize import has_content, is_payload


def _utter_with_note(dispatcher: CollectingDispatcher, tracker: Tracker, response: str) -> None:
    """Sends a domain response, preceded by a note when the message was cut."""
    note = truncation_note(tracker)
    if note:
        dispatcher.utter_message(text=note)
    dispatcher.utter_message(response=response)


class ActionOutOfScope(Action):
    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        _utter_with_note(dispatcher, tracker, "utter_out_of_scope")
        return []


class ActionFallback(Action):
    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        text = latest_text(tracker)
        if not is_payload(text) and not has_content(text):
            # Empty, emoji-only or "xxxx…": ask for words rather than "I did not understand".
            dispatcher.utter_message(response="utter_ask_text")
            return []
        _utter_with_note(dispatcher, tracker, "utter_default")
        return []
