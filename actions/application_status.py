"""Application status: the form's slot extraction, the verified check and follow-ups."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import first_entity, latest_text, send
from actions.handoff import hand_over
from actions.policy_qa import ActionAnswerPolicy
from bot.applications.describe import followup_topic, format_date, policy_clauses
from bot.applications.extract import Extraction, extract
from bot.applications.lookup import LookupResult
from bot.applications.service import get_status_service
from bot.kb.resolve import Kind, Question
from bot.kb.service import get_policy_service
from bot.text.normalize import is_payload

FORM = "application_status_form"
HUMAN_BUTTON = {"title": "转人工服务", "payload": "/request_human"}


def _extraction(tracker: Tracker) -> Extraction:
    text = latest_text(tracker)
    if is_payload(text):
        return Extraction()
    return extract(text, expecting=tracker.get_slot("requested_slot"))


class ValidateApplicationStatusForm(FormValidationAction):
    """Reads the number and the digits from free text (custom slot mappings), and re-asks
    with an example when what was typed cannot be one."""

    def name(self) -> str:
        return f"validate_{FORM}"

    async def required_slots(
        self,
        domain_slots: List[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[str]:
        # A locked conversation is not asked for anything: the check action explains.
        if get_status_service().lookup.conversation_locked_until(tracker.sender_id):
            return []
        return domain_slots

    async def extract_application_no(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        found = _extraction(tracker)
        current = tracker.get_slot("application_no")
        if found.application_no and found.application_no != current:
            events: Dict[str, Any] = {"application_no": found.application_no}
            if not found.phone_last4:
                # Digits given for another number do not carry over to a new one.
                events["phone_last4"] = None
            return events
        asked = tracker.get_slot("requested_slot") == "application_no"
        if found.malformed_application_no and asked:
            dispatcher.utter_message(response="utter_application_no_invalid")
            return {"application_no": None}
        return {}

    async def extract_phone_last4(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        found = _extraction(tracker)
        if found.full_phone_given:
            dispatcher.utter_message(response="utter_phone_full_number")
        if found.phone_last4:
            return {"phone_last4": found.phone_last4}
        if found.malformed_last4:
            dispatcher.utter_message(response="utter_phone_last4_invalid")
            return {"phone_last4": None}
        return {}


class ActionCheckApplication(Action):
    """The verified lookup after the form: the status, or one reply for every failure."""

    def name(self) -> str:
        return "action_check_application"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        service = get_status_service()
        number = tracker.get_slot("application_no")
        digits = tracker.get_slot("phone_last4")
        if not number or not digits:
            locked = service.lookup.conversation_locked_until(tracker.sender_id)
            if locked is not None:
                return _locked(dispatcher, tracker, LookupResult("locked", locked_until=locked))
            return _forget()
        result = service.check(
            tracker.sender_id, number, digits, tracker.get_latest_input_channel()
        )
        if result.found and result.application is not None:
            for text in service.summary(result.application):
                dispatcher.utter_message(text=text, buttons=_followup_buttons(result))
            events = [
                SlotSet("region", result.application.region),
                SlotSet("application_verified", True),
            ]
            if _lookup_request(tracker, latest_only=True):
                # Number and digits came with the request: the form asked nothing before.
                events += _answer_asked_beside(dispatcher, tracker, result.application.region)
            return events
        if result.outcome == "locked":
            return _locked(dispatcher, tracker, result)
        elif result.outcome == "invalid":
            dispatcher.utter_message(response="utter_application_no_invalid")
        else:
            dispatcher.utter_message(
                response="utter_application_not_found",
                attempts_left=result.attempts_left,
            )
        return _forget()


class ActionApplicationFollowup(Action):
    """ "要补什么材料" / "什么时候能办好" / "找谁办" about the application checked before,
    read again from the database (it may have changed), without asking again."""

    def name(self) -> str:
        return "action_application_followup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        text = latest_text(tracker)
        topic = followup_topic(text, first_entity(tracker, "followup_topic"))
        if _is_policy_question(tracker, topic):
            # Answered here rather than through a FollowupAction, which would leave the
            # rules without a matching history for the next turn.
            return await ActionAnswerPolicy().run(dispatcher, tracker, domain)
        number = tracker.get_slot("application_no")
        digits = tracker.get_slot("phone_last4")
        if (not number or not digits) and tracker.get_slot("policy") and not is_payload(text):
            # No application was checked, a policy was being discussed: "要补什么材料" or
            # "还有别的医院吗" continues the policy, not a status lookup.
            return await ActionAnswerPolicy().run(dispatcher, tracker, domain)
        if not number or not digits:
            dispatcher.utter_message(response="utter_followup_needs_check")
            return [FollowupAction(FORM)]
        service = get_status_service()
        result = service.check(
            tracker.sender_id, number, digits, tracker.get_latest_input_channel()
        )
        if not result.found or result.application is None:
            # The record changed (or went) since the check: start over, saying nothing more.
            if result.outcome == "locked":
                return _locked(dispatcher, tracker, result)
            dispatcher.utter_message(response="utter_followup_needs_check")
            return [*_forget(), FollowupAction(FORM)]
        for text in service.followup(result.application, topic):
            dispatcher.utter_message(text=text, buttons=_followup_buttons(result, topic))
        return []


def _answer_asked_beside(
    dispatcher: CollectingDispatcher, tracker: Tracker, region: Optional[str]
) -> List[Dict[str, Any]]:
    """A policy question asked in the message that started the lookup ("我的购房补贴批下来
    没有，另外人才公寓怎么申请") is answered, not dropped: before the number is asked for, or
    after the status when the message also held the number (the form asked nothing)."""
    rest = policy_clauses(_lookup_request(tracker))
    service = get_policy_service()
    # Only a real policy question: "美国大选结果出来了吗" shares one word with an entry.
    if not rest or service.evidence(rest) is None:
        return []
    resolution, replies = service.answer(Question(text=rest, known_region=region))
    if resolution.kind not in (Kind.ANSWER, Kind.LIST):
        return []
    dispatcher.utter_message(text="关于您同时问到的政策：")
    send(dispatcher, replies)
    return [] if resolution.entry is None else [SlotSet("policy", resolution.entry.id)]


def _lookup_request(tracker: Tracker, latest_only: bool = False) -> str:
    """The normalised text of the message that asked for the lookup (with ``latest_only``:
    only if it is the latest message)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        parse = event.get("parse_data") or {}
        if (parse.get("intent") or {}).get("name") in ("check_status", "inform_application"):
            return str(parse.get("text") or event.get("text") or "")
        if latest_only:
            return ""
    return ""


class ActionAskApplicationNo(Action):
    """Rasa's ask action of the form's first slot: a policy question asked with the status
    request is answered first, then the number is asked for."""

    def name(self) -> str:
        return "action_ask_application_no"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        events: List[Dict[str, Any]] = []
        if _lookup_request(tracker, latest_only=True):
            events = _answer_asked_beside(dispatcher, tracker, tracker.get_slot("region"))
        dispatcher.utter_message(response="utter_ask_application_no")
        return events


def _forget() -> List[Dict[str, Any]]:
    """After a failed check nothing of the application is kept, nor the verification."""
    return [
        SlotSet("application_no", None),
        SlotSet("phone_last4", None),
        SlotSet("application_verified", None),
    ]


def _is_policy_question(tracker: Tracker, topic: str) -> bool:
    """An ask_policy message routed here after a check: about the application only when it
    names no policy or city and asks something an application answers (材料, 时间, 找谁)."""
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    if intent != "ask_policy":
        return False
    names_something = first_entity(tracker, "policy") or first_entity(tracker, "region")
    return bool(names_something) or topic == "status"


def _followup_buttons(result: LookupResult, shown: Optional[str] = None) -> List[Dict[str, str]]:
    app = result.application
    buttons: List[Dict[str, str]] = []
    options = [("materials", "要补什么材料"), ("timing", "什么时候能办好"), ("contact", "找谁办")]
    if app is not None and app.status == "已驳回":
        options = [("reason", "为什么没通过"), ("contact", "找谁办")]
    elif app is not None and app.status != "待补件":
        options = [o for o in options if o[0] != "materials"]
    for topic, title in options:
        if topic != shown:
            payload = f'/ask_application_followup{{"followup_topic":"{topic}"}}'
            buttons.append({"title": title, "payload": payload})
    buttons.append(HUMAN_BUTTON)
    return buttons


def _locked(
    dispatcher: CollectingDispatcher, tracker: Tracker, result: LookupResult
) -> List[Dict[str, Any]]:
    """Lookups are locked: say until when, and hand over to a specialist, who can verify
    the applicant in other ways."""
    until = result.locked_until
    when = f"{format_date(until)}" if until else "30 分钟后"
    dispatcher.utter_message(response="utter_lookup_locked", locked_until=when)
    return _forget() + hand_over(dispatcher, tracker, "lookup_locked")
