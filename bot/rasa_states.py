"""Dialogue states for the policies, extended as a conversation grows instead of rebuilt.

Every prediction makes RulePolicy build the states of the whole session twice and
MemoizationPolicy once (``Domain.states_for_tracker_history``), each time replaying every
event on a fresh tracker: six replays per turn, a fifth of a turn's time outside the NLU.
``HistoryStates`` keeps, per tracker object and set of arguments, where the last replay
ended, and replays only the events added since. Anything that can change the states of
earlier events (a restart, a new session, a reverted action or utterance, a loop's
activation or execution, a bounded event history, a tracker whose events were replaced)
falls back to Rasa's full replay, so the result is always the one Rasa computes.

The states are handed out as copies: policies edit the user sub-states in place.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

State = Dict[str, Any]

# Trackers whose states are kept: the conversations whose turns are being processed.
MAX_TRACKERS = 256


class _Replay:
    """Rasa's loop over the prior trackers, stopped after the last event seen so far."""

    __slots__ = (
        "events", "final", "final_seen", "hidden", "last_event", "last_ml", "loops", "seen",
        "states", "tracker",
    )  # fmt: skip

    def __init__(self, tracker: Any) -> None:
        self.events = tracker.events
        self.seen = 0
        self.last_event: Any = None
        self.tracker = tracker.init_copy()
        self.states: List[State] = []
        self.last_ml: Optional[Dict[str, Any]] = None
        self.hidden = False
        # The loops that ActiveLoop events name: their executions are applied differently.
        self.loops = _loop_names(tracker.events)
        # The states last handed out, with the number of events they were built from: asked
        # again before anything happened (RulePolicy asks twice per prediction), they are
        # handed out again instead of built again.
        self.final: Optional[List[State]] = None
        self.final_seen = -1


class _Args:
    __slots__ = ("ignore_rule_only_turns", "omit_unset_slots", "rule_only_data")

    def __init__(
        self,
        omit_unset_slots: bool,
        ignore_rule_only_turns: bool,
        rule_only_data: Optional[Dict[str, Any]],
    ) -> None:
        self.omit_unset_slots = omit_unset_slots
        self.ignore_rule_only_turns = ignore_rule_only_turns
        self.rule_only_data = rule_only_data


def _step(
    domain: Any,
    tracker: Any,
    hide_rule_turn: bool,
    replay: _Replay,
    args: _Args,
    states: List[State],
) -> None:
    """One turn of ``Domain.states_for_tracker_history``'s loop (same statements)."""
    from rasa.shared.core.constants import PREVIOUS_ACTION

    if args.ignore_rule_only_turns:
        if not replay.hidden:
            replay.last_ml = domain._get_prev_action_sub_state(tracker)
        # A followup action or a loop's happy path keeps the turn's hidden flag.
        if not tracker.followup_action and tracker.latest_action_name != tracker.active_loop_name:
            replay.hidden = hide_rule_turn
        if replay.hidden:
            return
    state = domain.get_active_state(tracker, omit_unset_slots=args.omit_unset_slots)
    if args.ignore_rule_only_turns:
        domain._remove_rule_only_features(state, args.rule_only_data)
        if states:
            domain._substitute_rule_only_user_input(state, states[-1])
        if replay.last_ml:
            state[PREVIOUS_ACTION] = replay.last_ml
    states.append(domain._clean_state(state))


def copy_states(states: List[State]) -> List[State]:
    """Copies of the states and of their user sub-states, the only parts policies edit
    (``TrackerFeaturizer._choose_last_user_input`` deletes the intent or the text). Which
    user sub-states are shared is kept: Rasa shares one between turns, and an edit of the
    last one shows in the others."""
    from rasa.shared.core.constants import USER

    copies: Dict[int, Dict[str, Any]] = {}
    result: List[State] = []
    for state in states:
        copied = dict(state)
        user = state.get(USER)
        if user is not None:
            twin = copies.get(id(user))
            if twin is None:
                twin = copies[id(user)] = dict(user)
            copied[USER] = twin
        result.append(copied)
    return result


class HistoryStates:
    """``states_for_tracker_history`` with the replay kept between calls (see module doc)."""

    def __init__(self, max_trackers: int = MAX_TRACKERS) -> None:
        self._max = max_trackers
        self._replays: OrderedDict[Tuple[int, Hashable], Tuple[Any, Any, _Replay]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(
        self,
        domain: Any,
        tracker: Any,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: Optional[Dict[str, Any]] = None,
    ) -> List[State]:
        args = _Args(omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        frozen = _freeze(rule_only_data)
        if frozen is None or getattr(tracker.events, "maxlen", None) is not None:
            return _full(domain, tracker, args)
        options = (id(domain), bool(omit_unset_slots), bool(ignore_rule_only_turns), frozen)
        key = (id(tracker), options)
        with self._lock:
            entry = self._replays.pop(key, None)
        replay = None
        if entry is not None and entry[0]() is tracker and entry[1] is domain:
            replay = entry[2]
            if not _extend(domain, tracker, replay, args):
                replay = None
        if replay is None:
            replay = _start(domain, tracker, args)
            if replay is None:
                return _full(domain, tracker, args)
        if replay.final is not None and replay.final_seen == replay.seen:
            states = replay.final
        else:
            # The last state is taken from where the replay stands, on a scratch copy of the
            # loop's variables: the next call goes on from before it.
            scratch = _Replay.__new__(_Replay)
            scratch.last_ml, scratch.hidden = replay.last_ml, replay.hidden
            states = list(replay.states)
            _step(domain, replay.tracker, False, scratch, args, states)
            replay.final, replay.final_seen = states, replay.seen
        with self._lock:
            self._replays[key] = (weakref.ref(tracker), domain, replay)
            while len(self._replays) > self._max:
                self._replays.popitem(last=False)
        return copy_states(states)


def _freeze(rule_only_data: Optional[Dict[str, Any]]) -> Optional[Hashable]:
    """A hashable form of ``rule_only_data`` (names of slots and loops): () when there is
    none, None when it cannot be made one (Rasa's replay is used then)."""
    if rule_only_data is None:
        return ()
    try:
        frozen = tuple(sorted((str(k), tuple(v)) for k, v in rule_only_data.items()))
        hash(frozen)
    except (AttributeError, TypeError):
        return None
    return frozen


def _loop_names(events: Any) -> set:
    from rasa.shared.core.events import ActiveLoop

    return {e.name for e in events if isinstance(e, ActiveLoop) and e.name}


def _consume(domain: Any, replay: _Replay, args: _Args, events: List[Any]) -> None:
    from rasa.shared.core.events import ActionExecuted

    for event in events:
        if isinstance(event, ActionExecuted):
            _step(domain, replay.tracker, event.hide_rule_turn, replay, args, replay.states)
        replay.tracker.update(event)


def _start(domain: Any, tracker: Any, args: _Args) -> Optional[_Replay]:
    """A replay of ``tracker``'s applied events, as Rasa's loop does; None when they are
    not the tail of its events (something was reverted: only Rasa's replay is used)."""
    events = list(tracker.events)
    applied = tracker.applied_events()
    start = len(events) - len(applied)
    if start < 0 or any(a is not b for a, b in zip(applied, events[start:])):
        return None
    replay = _Replay(tracker)
    _consume(domain, replay, args, applied)
    replay.seen = len(events)
    replay.last_event = events[-1] if events else None
    return replay


def undoes_earlier(events: Any, loops: Any) -> bool:
    """True when one of ``events`` can change what the events before it count for: a restart,
    a new session, a revert, a loop's activation (a new loop name), or an execution of one of
    ``loops``."""
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        ActiveLoop,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
    )

    for event in events:
        if isinstance(event, (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted)):
            return True
        if isinstance(event, ActiveLoop) and event.name:
            return True  # the events it names a loop for may now count differently
        if isinstance(event, ActionExecuted) and event.action_name in loops:
            return True
    return False


def _extend(domain: Any, tracker: Any, replay: _Replay, args: _Args) -> bool:
    """Replays the events added since ``replay`` last saw ``tracker``; False when they could
    change the states already built, or the tracker's events are not the ones it saw."""
    events = tracker.events
    if events is not replay.events or len(events) < replay.seen:
        return False
    if replay.seen and events[replay.seen - 1] is not replay.last_event:
        return False
    new = list(events)[replay.seen :]
    if not new:
        return True
    if undoes_earlier(new, replay.loops):
        return False
    _consume(domain, replay, args, new)
    replay.seen = len(events)
    replay.last_event = new[-1]
    return True


def _full(domain: Any, tracker: Any, args: _Args) -> List[State]:
    return ORIGINAL(
        domain,
        tracker,
        omit_unset_slots=args.omit_unset_slots,
        ignore_rule_only_turns=args.ignore_rule_only_turns,
        rule_only_data=args.rule_only_data,
    )


ORIGINAL: Callable[..., List[State]]


def apply() -> None:
    """Routes ``Domain.states_for_tracker_history`` through a ``HistoryStates`` (once)."""
    global ORIGINAL
    from rasa.shared.core.domain import Domain

    current = Domain.states_for_tracker_history
    if getattr(current, "_history_states", None) is not None:
        return
    ORIGINAL = current
    history = HistoryStates()

    def states_for_tracker_history(
        self: Any,
        tracker: Any,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: Optional[Dict[str, Any]] = None,
    ) -> List[State]:
        return history(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)

    states_for_tracker_history._history_states = history  # type: ignore[attr-defined]
    states_for_tracker_history.__wrapped__ = current  # type: ignore[attr-defined]
    Domain.states_for_tracker_history = states_for_tracker_history  # type: ignore[method-assign]
