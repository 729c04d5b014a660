"""Answer a policy question from the knowledge base."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    entity_values,
    first_entity,
    out_of_scope_probability,
    question_text,
    send,
    slot_changes,
    truncation_note,
)
from bot.applications.describe import asks_status, policy_clauses
from bot.kb.models import ASPECTS
from bot.kb.resolve import Kind, Question, Resolution
from bot.kb.service import get_policy_service


class ActionAnswerPolicy(Action):
    """Finds the entry (linked entity, else ranked retrieval), answers the aspect asked or an
    overview, asks the city or offers a choice when unsure, and keeps the context."""

    def name(self) -> str:
        return "action_answer_policy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        service = get_policy_service()
        cities = {r.name for r in service.kb.vocabulary.regions}
        region = first_entity(tracker, "region")
        region = region if region in cities else None
        known_region = tracker.get_slot("region")
        known_region = known_region if known_region in cities else None
        text = question_text(tracker)
        # "人才公寓怎么申请，我的补贴批了没": the policy clauses are answered, the lookup offered.
        asks_lookup = bool(text) and asks_status(text)
        if asks_lookup:
            text = policy_clauses(text) or text
        # Typed text is read by the resolver (openers and names carry no aspect); a button's
        # payload carries its aspect as an entity.
        aspect = None if text else first_entity(tracker, "aspect")
        pending = tuple(tracker.get_slot("pending_policies") or ())
        if aspect is None and pending:
            # Answering "which city?": the aspect asked before the question still applies.
            aspect = tracker.get_slot("pending_aspect")
        question = Question(
            text=text,
            linked=tuple(entity_values(tracker, "policy")),
            region=region,
            aspects=(aspect,) if aspect in ASPECTS else (),
            other_place=first_entity(tracker, "other_place"),
            known_region=known_region,
            current_policy=tracker.get_slot("policy"),
            pending=pending,
            doubt=out_of_scope_probability(tracker),
            previous_text=tracker.get_slot("last_question") or "",
        )
        note = truncation_note(tracker)
        if note:
            dispatcher.utter_message(text=note)
        resolution, replies = service.answer(question)
        send(dispatcher, replies)
        if asks_lookup:
            dispatcher.utter_message(response="utter_offer_status_check")

        slots: Dict[str, Any] = {}
        if text and service.has_topic(text) and _stands_alone(resolution):
            slots["last_question"] = text
        if resolution.kind is Kind.ANSWER and resolution.entry is not None:
            slots["policy"] = resolution.entry.id
            # The city of the answer is the one talked about now, also when the named city
            # had no such entry: the next follow-up continues this answer.
            slots["region"] = resolution.entry.region
            slots.update(pending_policies=None, pending_aspect=None)
        elif resolution.kind is Kind.LIST:
            cities = {e.region for e in resolution.candidates}
            if len(cities) == 1:
                slots["region"] = cities.pop()
            slots.update(policy=None, pending_policies=None, pending_aspect=None)
        elif resolution.kind is Kind.ASK_REGION:
            slots["pending_policies"] = [e.id for e in resolution.candidates]
            # The aspect of the question must survive the city question.
            slots["pending_aspect"] = resolution.aspect
        elif resolution.kind is Kind.NONE:
            slots.update(pending_policies=None, pending_aspect=None)
        return slot_changes(tracker, slots)


def _stands_alone(resolution: Resolution) -> bool:
    """Whether the question can be asked again for another city as it is: not a follow-up
    ("那要抵押吗") and not about a city the assistant does not cover."""
    if resolution.kind is Kind.ANSWER:
        return not resolution.follow_up
    return resolution.kind in (Kind.LIST, Kind.NONE, Kind.ASK_REGION, Kind.CHOOSE)
