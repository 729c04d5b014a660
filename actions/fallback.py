"""Replies when the assistant did not understand, or the question is out of its scope."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import truncation_note


class _UtterWithNote(Action):
    """Sends a domain response, preceded by a note when the message was cut."""

    response = ""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        note = truncation_note(tracker)
        if note:
            dispatcher.utter_message(text=note)
        dispatcher.utter_message(response=self.response)
        return []


class ActionOutOfScope(_UtterWithNote):
    response = "utter_out_of_scope"

    def name(self) -> Text:
        return "action_out_of_scope"


class ActionFallback(_UtterWithNote):
    response = "utter_default"

    def name(self) -> Text:
        return "action_fallback"
