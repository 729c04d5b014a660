"""Start of a conversation session: keep what the citizen told us that stays true."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.handoff.service import get_handoff_service

# The city stays; the policy under discussion and pending questions belong to the old session.
CARRIED_OVER_SLOTS = ("region",)


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        events: List[Dict[str, Any]] = [SessionStarted()]
        for slot in CARRIED_OVER_SLOTS:
            value = tracker.get_slot(slot)
            if value is not None:
                events.append(SlotSet(slot, value))
        events.append(ActionExecuted("action_listen"))
        if get_handoff_service().open_ticket_for(tracker.sender_id) is not None:
            # A new session un-pauses the tracker: the conversation would silently leave its
            # specialist. It stays paused while its ticket is open.
            events.append(ConversationPaused())
        return events
