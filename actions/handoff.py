"""Handing a conversation to a specialist, cancelling it, and rating the service.

While a ticket is open the conversation is paused: Rasa records what the citizen writes
(the console shows it) and answers nothing, except "取消人工" (see bot/rasa_patches.py).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ActiveLoop,
    ConversationPaused,
    ConversationResumed,
    Restarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import first_entity, latest_text
from bot.applications.privacy import mask_application_no
from bot.handoff.service import get_handoff_service
from bot.handoff.summary import describe_opening, summarize
from bot.kb.service import get_policy_service

CANCEL_BUTTON = {"title": "取消人工", "payload": "/cancel"}


def recent_user_texts(tracker: Tracker, count: int = 4) -> List[str]:
    texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    return texts[-count:]


def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str
) -> List[Dict[str, Any]]:
    """Opens (or finds) the conversation's ticket, tells the citizen what happens next and
    pauses the conversation."""
    service = get_handoff_service()
    policy_id = tracker.get_slot("policy")
    entry = get_policy_service().kb.get(policy_id) if policy_id else None
    context: Dict[str, Any] = {
        "region": tracker.get_slot("region"),
        "policy": entry.title if entry is not None else None,
        "application_no": mask_application_no(tracker.get_slot("application_no"))
        if tracker.get_slot("application_no")
        else None,
    }
    opened = service.open_ticket(
        tracker.sender_id,
        tracker.get_latest_input_channel() or "unknown",
        reason,
        summarize(reason, recent_user_texts(tracker), entry.title if entry else None),
        {k: v for k, v in context.items() if v},
    )
    if opened.out_of_hours:
        dispatcher.utter_message(
            response="utter_handoff_out_of_hours",
            hours=service.hours.describe(),
            opening=describe_opening(opened.next_opening),
            buttons=[CANCEL_BUTTON],
        )
    elif opened.status == "active":
        dispatcher.utter_message(response="utter_handoff_in_progress", buttons=[CANCEL_BUTTON])
    else:
        dispatcher.utter_message(
            response="utter_handoff_queued", position=opened.position, buttons=[CANCEL_BUTTON]
        )
    events: List[Dict[str, Any]] = []
    if tracker.active_loop.get("name"):
        # A person takes over: the form in progress (status check) ends.
        events += [ActiveLoop(None), SlotSet("requested_slot", None)]
    return events + paused_and_listening()


def paused_and_listening() -> List[Dict[str, Any]]:
    """Pauses the conversation as if the bot were listening: a paused tracker runs no more
    actions, and without a final ``action_listen`` the next message ("取消人工", /restart)
    would find no rule for it."""
    return [ConversationPaused(), ActionExecuted("action_listen")]


def _reason(tracker: Tracker) -> str:
    return "complaint" if "投诉" in latest_text(tracker) else "user_request"


class ActionHandoff(Action):
    """ "转人工": a ticket in the specialists' queue."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        return hand_over(dispatcher, tracker, _reason(tracker))


class ActionCancel(Action):
    """ "不用了 / 取消人工": closes the open ticket and gives the conversation back to the bot;
    with nothing to cancel, asks what else it can do."""

    def name(self) -> str:
        return "action_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        cancelled = get_handoff_service().cancel_by_user(tracker.sender_id)
        if cancelled is None:
            dispatcher.utter_message(response="utter_anything_else")
            return []
        dispatcher.utter_message(response="utter_handoff_cancelled")
        return [ConversationResumed()]


class ActionRateService(Action):
    """The 1–5 rating the closing message asks for."""

    def name(self) -> str:
        return "action_rate_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        rating = _rating(first_entity(tracker, "rating")) or rating_from_text(latest_text(tracker))
        if rating is not None and get_handoff_service().rate(tracker.sender_id, rating):
            dispatcher.utter_message(response="utter_rating_thanks")
        else:
            dispatcher.utter_message(response="utter_anything_else")
        return []


_RATING_WORDS = (
    ("很不满意", 1),
    ("非常不满意", 1),
    ("很差", 1),
    ("不太满意", 2),
    ("不满意", 2),
    ("一般", 3),
    ("非常满意", 5),
    ("很满意", 5),
    ("比较满意", 4),
    ("满意", 4),
)
_CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}


def rating_from_text(text: str) -> Optional[int]:
    """ "5分", "五星", "很满意" -> 5; None when the text gives no rating."""
    for words, value in _RATING_WORDS:
        if words in text:
            return value
    for ch in text:
        if ch in "12345":
            return int(ch)
        if ch in _CHINESE_DIGITS:
            return _CHINESE_DIGITS[ch]
    return None


def _rating(value: Optional[str]) -> Optional[int]:
    try:
        rating = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return rating if 1 <= rating <= 5 else None


class ActionRestart(Action):
    """Overrides Rasa's restart, which would un-pause the conversation and take it away from
    its specialist: with an open ticket, the conversation stays where it is."""

    def name(self) -> str:
        return "action_restart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        if get_handoff_service().open_ticket_for(tracker.sender_id) is not None:
            dispatcher.utter_message(
                response="utter_handoff_restart_refused", buttons=[CANCEL_BUTTON]
            )
            return paused_and_listening()
        return [Restarted()]
