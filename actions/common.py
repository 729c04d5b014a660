"""Helpers shared by the actions: reading NLU output and sending replies."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.kb.answer import Reply
from bot.kb.service import get_policy_service
from bot.text.normalize import NORMALIZATION_KEY, is_payload, normalize_text


def entity_values(tracker: Tracker, entity: str) -> List[str]:
    """Values of one entity type in the latest message, in order, without repeats."""
    values: List[str] = []
    for item in (tracker.latest_message or {}).get("entities") or []:
        value = item.get("value")
        if item.get("entity") == entity and isinstance(value, str) and value not in values:
            values.append(value)
    return values


def first_entity(tracker: Tracker, entity: str) -> Optional[str]:
    values = entity_values(tracker, entity)
    return values[0] if values else None


def latest_text(tracker: Tracker) -> str:
    text = (tracker.latest_message or {}).get("text")
    return text if isinstance(text, str) else ""


def out_of_scope_probability(tracker: Tracker) -> float:
    """How likely the NLU found the latest message to be out of scope (its intent ranking)."""
    for ranked in (tracker.latest_message or {}).get("intent_ranking") or []:
        if isinstance(ranked, dict) and ranked.get("name") == "out_of_scope":
            confidence = ranked.get("confidence")
            return float(confidence) if isinstance(confidence, (int, float)) else 0.0
    return 0.0


def question_text(tracker: Tracker) -> str:
    """The latest message as the NLU's normaliser left it ("" for a button's payload). Rasa
    passes the normalised text on; a message that did not go through the normaliser (one
    injected through Rasa's API) is normalised here."""
    text = latest_text(tracker)
    if is_payload(text):
        return ""
    if NORMALIZATION_KEY in (tracker.latest_message or {}):
        return text
    return normalize_text(text, spellings=get_policy_service().spellings)


def truncation_note(tracker: Tracker) -> Optional[str]:
    """A note for the user when their message was too long and was cut."""
    info: Dict[str, Any] = (tracker.latest_message or {}).get(NORMALIZATION_KEY) or {}
    if info.get("truncated"):
        return (
            f"您的消息较长（约 {info.get('original_length')} 字），"
            f"我只读取了前 {len(latest_text(tracker))} 字。若问题未得到解答，请分几次简要提问。"
        )
    return None


def slot_changes(tracker: Tracker, values: Dict[str, Any]) -> List[Dict[str, Any]]:
    """``SlotSet`` events for the slots whose value differs from the tracker's: setting a slot
    to the value it has would only lengthen the conversation's record (stored, and sent to this
    server, at every later turn)."""
    return [
        SlotSet(name, value) for name, value in values.items() if tracker.get_slot(name) != value
    ]


def send(dispatcher: CollectingDispatcher, replies: Iterable[Reply]) -> None:
    for reply in replies:
        if reply.buttons:
            dispatcher.utter_message(text=reply.text, buttons=reply.buttons)
        else:
            dispatcher.utter_message(text=reply.text)
