"""The Rasa server's behaviour when a dependency fails (bot.resilience)."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.exc import OperationalError

from bot import resilience


@pytest.fixture(scope="module", autouse=True)
def applied() -> None:
    resilience.apply()


def run_remote(name: str) -> List[Any]:
    domain = Domain.from_yaml("version: '3.1'\nactions:\n  - action_answer_policy\n")
    tracker = DialogueStateTracker("citizen", domain.slots)
    # Nothing listens on port 9: the action server is down.
    action = RemoteAction(name, EndpointConfig("http://127.0.0.1:9/webhook"))
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    return asyncio.run(action.run(CollectingOutputChannel(), nlg, tracker, domain))


def test_failed_action_apologises_and_offers_a_person() -> None:
    (event,) = run_remote("action_answer_policy")
    assert isinstance(event, BotUttered)
    assert "暂时无法处理" in event.text and "转人工" in event.text
    assert event.data["buttons"] == [{"title": "转人工", "payload": "/request_human"}]


def test_failed_session_start_starts_the_session_silently() -> None:
    events = run_remote("action_session_start")
    assert isinstance(events[0], SessionStarted)
    assert isinstance(events[-1], ActionExecuted)
    assert not any(isinstance(e, BotUttered) for e in events)


def test_database_errors_are_retried_then_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resilience, "PAUSES", (0.01,))
    monkeypatch.setattr(resilience, "RETRY_SECONDS", 0.05)
    calls: List[int] = []

    async def flaky(fail_times: int) -> str:
        calls.append(1)
        if len(calls) <= fail_times:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return "ok"

    wrapped = resilience._retry_async(flaky, "test")
    assert asyncio.run(wrapped(2)) == "ok" and len(calls) == 3
    calls.clear()
    with pytest.raises(OperationalError):
        asyncio.run(wrapped(100))
    assert len(calls) == 6  # 5 pauses of 0.01 s fill 0.05 s, then one last try

    async def broken() -> None:
        raise ValueError("not a connection problem")

    with pytest.raises(ValueError):
        asyncio.run(resilience._retry_async(broken, "test")())


def test_a_lock_left_by_a_dead_replica_is_taken_once_it_expires() -> None:
    import time

    from rasa.core.lock_store import InMemoryLockStore

    store = InMemoryLockStore()
    store.issue_ticket("citizen", 0.5)  # held by a replica killed while serving

    async def wait_for_it() -> float:
        started = time.monotonic()
        async with store.lock("citizen", lock_lifetime=0.5, wait_time_in_seconds=0.2):
            return time.monotonic() - started

    # Rasa's own lock waited until the request timed out: the waiter's ticket expired too.
    waited = asyncio.run(asyncio.wait_for(wait_for_it(), 5))
    assert 0.4 < waited < 2.0
    assert store.get_lock("citizen") is None  # nothing left behind
