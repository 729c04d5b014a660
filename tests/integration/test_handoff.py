"""The handoff over the REST webhook against running Rasa and action servers: the ticket,
the paused conversation, cancel, restart, and fallbacks that end with a person."""

from __future__ import annotations

import uuid
from typing import Any, Dict, List

import pytest

from bot.handoff.tickets import HandoffService
from bot.runner import Stack, rest_message

pytestmark = pytest.mark.integration


def say(stack: Stack, sender: str, text: str) -> List[Dict[str, Any]]:
    return rest_message(stack.settings.rasa_url, sender, text)


def joined(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def service(stack: Stack) -> HandoffService:
    return HandoffService(stack.settings.database_url)


def test_handoff_pauses_until_the_user_cancels(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    assert "3000万元" in joined(say(stack, sender, "张家港人才贷最多能贷多少"))
    queued = say(stack, sender, "转人工")
    assert "排在第" in joined(queued)
    assert {"title": "取消人工", "payload": "/cancel"} in queued[0]["buttons"]
    ticket = service(stack).open_ticket_for(sender)
    assert ticket is not None and ticket["status"] == "waiting"
    assert "张家港人才贷最多能贷多少" in ticket["summary"]
    assert ticket["channel"] == "rest"
    # Paused: recorded for the specialist, never answered by the bot.
    assert say(stack, sender, "人才公寓怎么申请") == []
    assert say(stack, sender, "转人工") == []
    # Restart does not take the conversation away from its specialist.
    assert "对话会保留到专员处理完毕" in joined(say(stack, sender, "/restart"))
    assert say(stack, sender, "你好") == []
    assert "已取消人工服务" in joined(say(stack, sender, "取消人工"))
    assert service(stack).open_ticket_for(sender) is None
    assert "人才公寓" in joined(say(stack, sender, "海宁人才公寓怎么申请"))


def test_two_fallbacks_in_a_row_go_to_a_person(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    assert "文字" in joined(say(stack, sender, "😀😀😀"))
    assert "排在第" in joined(say(stack, sender, "xxxxxxxxxxxxxxxxxxxx"))
    ticket = service(stack).open_ticket_for(sender)
    assert ticket is not None and ticket["reason"] == "fallback"
    say(stack, sender, "/cancel")
