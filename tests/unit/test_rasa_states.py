"""The states kept between predictions (bot/rasa_states.py) are the states Rasa builds."""

from __future__ import annotations

import random
from typing import Any, Callable, Dict, List, Optional

import pytest
from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_states
from bot.config import ROOT

FORM = "application_status_form"
RULE_ONLY = {"rule_only_slots": ["application_verified"], "rule_only_loops": [FORM]}
OPTIONS: List[Dict[str, Any]] = [
    {},
    {"omit_unset_slots": True},
    {"ignore_rule_only_turns": True, "rule_only_data": RULE_ONLY},
    {"ignore_rule_only_turns": True, "rule_only_data": None},
    {"rule_only_data": RULE_ONLY},
]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture()
def history(monkeypatch: pytest.MonkeyPatch) -> rasa_states.HistoryStates:
    # Rasa's own method, also when another test module applied the patches to this process.
    method = Domain.states_for_tracker_history
    monkeypatch.setattr(rasa_states, "ORIGINAL", getattr(method, "__wrapped__", method), False)
    return rasa_states.HistoryStates()


def _user(rng: random.Random) -> UserUttered:
    intent = rng.choice(["ask_policy", "greet", "check_application", "affirm", "cancel"])
    entities = rng.choice(
        [[], [{"entity": "region", "value": "海宁市"}], [{"entity": "aspect", "value": "材料"}]]
    )
    return UserUttered(
        rng.choice(["海宁人才贷", "你好", "查进度", "好的", "取消"]),
        intent={"name": intent, "confidence": 0.9},
        entities=entities,
    )


def _plain(rng: random.Random) -> List[Event]:
    """One turn as Rasa logs it: listen, the message, slots, an action and its reply."""
    events: List[Event] = [ActionExecuted("action_listen"), _user(rng)]
    if rng.random() < 0.5:
        events.append(SlotSet("application_verified", rng.choice([True, False, None])))
    action = rng.choice(["action_answer_policy", "utter_greet", "action_check_application"])
    events.append(ActionExecuted(action, hide_rule_turn=rng.random() < 0.3))
    events.append(BotUttered("好的"))
    if rng.random() < 0.2:
        events.append(FollowupAction("action_handoff"))
    return events


def _form(rng: random.Random) -> List[Event]:
    """A form's activation, a step and its end: loop executions undo one another in Rasa."""
    return [
        ActionExecuted("action_listen"),
        _user(rng),
        ActionExecuted(FORM),
        ActiveLoop(FORM),
        SlotSet("requested_slot", "application_no"),
        ActionExecuted("action_listen"),
        _user(rng),
        ActionExecuted(FORM),
        SlotSet("requested_slot", None),
        ActiveLoop(None),
        ActionExecuted("action_check_application", hide_rule_turn=True),
    ]


ODD: List[Callable[[random.Random], List[Event]]] = [
    lambda rng: [ActionExecuted("action_session_start"), SessionStarted()],
    lambda rng: [Restarted()],
    lambda rng: [UserUtteranceReverted()],
    lambda rng: [ActionReverted()],
]


def _conversation(seed: int) -> List[Event]:
    rng = random.Random(seed)
    events: List[Event] = [ActionExecuted("action_session_start"), SessionStarted()]
    for _ in range(rng.randint(3, 12)):
        roll = rng.random()
        if roll < 0.7:
            events += _plain(rng)
        elif roll < 0.85:
            events += _form(rng)
        else:
            events += rng.choice(ODD)(rng)
    return events


def _edit(states: List[Dict[str, Any]], use_text: bool) -> None:
    """What Rasa's featurizers do to the states they get."""
    if states:
        MaxHistoryTrackerFeaturizer()._choose_last_user_input([states], use_text)


@pytest.mark.parametrize("seed", range(40))
def test_states_match_rasa_after_every_event(
    domain: Domain, history: rasa_states.HistoryStates, seed: int
) -> None:
    tracker = DialogueStateTracker("citizen", domain.slots)
    for event in _conversation(seed):
        tracker.update(event)
        for options in OPTIONS:
            for use_text in (True, False):
                kept = history(domain, tracker, **options)
                rasa = rasa_states.ORIGINAL(domain, tracker, **options)
                assert kept == rasa
                # Edited as Rasa edits them, they stay equal; and the edit does not show
                # in the next call's result (compared above).
                _edit(kept, use_text)
                _edit(rasa, use_text)
                assert kept == rasa


@pytest.mark.parametrize("seed", range(10))
def test_states_match_rasa_for_trackers_loaded_whole(
    domain: Domain, history: rasa_states.HistoryStates, seed: int
) -> None:
    tracker = DialogueStateTracker.from_events("citizen", _conversation(seed), domain.slots)
    for options in OPTIONS:
        assert history(domain, tracker, **options) == rasa_states.ORIGINAL(
            domain, tracker, **options
        )


def test_a_plain_conversation_is_replayed_once(
    domain: Domain, history: rasa_states.HistoryStates, monkeypatch: pytest.MonkeyPatch
) -> None:
    replayed: List[int] = []
    original_update = DialogueStateTracker.update

    def update(self: DialogueStateTracker, event: Event, domain: Optional[Domain] = None) -> None:
        if self.sender_id == "replay":
            replayed.append(1)
        original_update(self, event, domain)

    tracker = DialogueStateTracker("replay", domain.slots)
    events = [ActionExecuted("action_session_start"), SessionStarted()]
    rng = random.Random(7)
    for _ in range(10):
        events += _plain(rng)
    monkeypatch.setattr(DialogueStateTracker, "update", update)
    for event in events:
        original_update(tracker, event)
        history(domain, tracker)
    # Each event is applied once to a kept replay; the new session starts a new one, so
    # the first event is replayed once more and SessionStarted not at all.
    assert len(replayed) == len(events) - 1


def test_a_replaced_history_is_not_extended(
    domain: Domain, history: rasa_states.HistoryStates
) -> None:
    tracker = DialogueStateTracker("citizen", domain.slots)
    for event in _conversation(3):
        tracker.update(event)
    history(domain, tracker)
    # The last event swapped in place: the kept replay no longer fits.
    tracker.events.pop()
    tracker.events.append(ActionExecuted("utter_greet"))
    assert history(domain, tracker) == rasa_states.ORIGINAL(domain, tracker)


def test_bounded_histories_are_left_to_rasa(
    domain: Domain, history: rasa_states.HistoryStates
) -> None:
    tracker = DialogueStateTracker("citizen", domain.slots, max_event_history=5)
    for event in _conversation(5):
        tracker.update(event)
        assert history(domain, tracker) == rasa_states.ORIGINAL(domain, tracker)


def test_apply_routes_the_domain_through_the_kept_states(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = getattr(
        Domain.states_for_tracker_history, "__wrapped__", Domain.states_for_tracker_history
    )
    monkeypatch.setattr(Domain, "states_for_tracker_history", original)
    monkeypatch.setattr(rasa_states, "ORIGINAL", original, False)
    tracker = DialogueStateTracker.from_events("citizen", _conversation(1), domain.slots)
    before = domain.states_for_tracker_history(tracker)
    rasa_states.apply()
    rasa_states.apply()  # twice is once
    assert hasattr(Domain.states_for_tracker_history, "_history_states")
    assert Domain.states_for_tracker_history.__wrapped__ is original
    assert domain.states_for_tracker_history(tracker) == before


def test_a_loop_activated_late_is_replayed_whole(
    domain: Domain, history: rasa_states.HistoryStates
) -> None:
    # Rasa undoes repeated executions of a loop once an ActiveLoop names it, also for
    # the executions logged before: the states of earlier turns change.
    tracker = DialogueStateTracker("citizen", domain.slots)
    events = [
        ActionExecuted("action_listen"),
        UserUttered("查进度", intent={"name": "check_application", "confidence": 0.9}),
        ActionExecuted(FORM),
        ActionExecuted("action_listen"),
        UserUttered("好的", intent={"name": "affirm", "confidence": 0.9}),
        ActionExecuted(FORM),
        ActiveLoop(FORM),
    ]
    for event in events:
        tracker.update(event)
        assert history(domain, tracker) == rasa_states.ORIGINAL(domain, tracker)


def test_unhashable_rule_only_data_is_left_to_rasa(
    domain: Domain, history: rasa_states.HistoryStates
) -> None:
    tracker = DialogueStateTracker.from_events("citizen", _conversation(2), domain.slots)
    odd = {"rule_only_slots": [["application_verified"]], "rule_only_loops": [{"x": 1}]}
    assert history(domain, tracker, rule_only_data=odd) == rasa_states.ORIGINAL(
        domain, tracker, rule_only_data=odd
    )
