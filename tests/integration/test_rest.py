"""Real questions over the REST webhook against running Rasa and action servers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional

import pytest

from bot.runner import Stack, rest_message

pytestmark = pytest.mark.integration


def ask(stack: Stack, text: str, sender: Optional[str] = None) -> List[Dict[str, Any]]:
    return rest_message(stack.settings.rasa_url, sender or uuid.uuid4().hex, text)


def joined(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_policy_question_names_amount_and_basis(stack: Stack) -> None:
    replies = ask(stack, "张家港人才贷最多能贷多少？")
    text = joined(replies)
    assert "3000万元" in text
    assert "依据" in text
    assert all(r["recipient_id"] for r in replies)


def test_follow_up_keeps_context(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    ask(stack, "张家港的人才贷是什么", sender)
    assert "无抵押" in joined(ask(stack, "那要抵押吗", sender))


def test_city_is_asked_then_remembered(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    first = ask(stack, "购房补贴怎么申请", sender)
    buttons = [b for r in first for b in r.get("buttons", [])]
    assert {b["title"] for b in buttons} == {"海宁市", "张家港市"}
    海宁 = next(b for b in buttons if b["title"] == "海宁市")
    answer = joined(ask(stack, 海宁["payload"], sender))
    assert "海宁市人才购租房补贴实施办法" in answer
    # The city is remembered: the next question needs no city.
    assert "人才公寓" in joined(ask(stack, "人才公寓有多少套", sender))


def test_traditional_characters_and_full_width_punctuation(stack: Stack) -> None:
    assert "领军人才" in joined(ask(stack, "海寧的人才綠卡是給哪些人的？！"))


def test_out_of_scope_is_not_answered_with_a_policy(stack: Stack) -> None:
    for text in ("今天天气怎么样", "上海的落户政策怎么样", "帮我写一段python代码"):
        reply = joined(ask(stack, text))
        assert "依据" not in reply, text
        # An honest reply, not silence: what the assistant covers (or which cities it serves).
        assert "超出了我的服务范围" in reply or "只提供海宁市和张家港市" in reply, (text, reply)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀😀😀",
        "<script>alert('x')</script>",
        "'; DROP TABLE events; --",
        "人才" * 5000,
        "/no_such_intent",
        '/ask_policy{"policy": "no_such_entry"}',
        '/inform_region{"region": "火星"}',
    ],
)
def test_bad_input_gets_a_sensible_reply(stack: Stack, text: str) -> None:
    replies = ask(stack, text)
    assert replies, "every message gets a reply"
    body = joined(replies)
    assert "Traceback" not in body and "Error" not in body
    assert body.strip()


def test_over_long_message_is_cut_with_a_note(stack: Stack) -> None:
    filler = "我是刚来张家港工作的硕士研究生，想了解一下这方面的政策。"
    text = "张家港人才贷最多能贷多少？" + filler * 40
    assert "只读取了前" in joined(ask(stack, text))
    # A run of one character is noise: it is folded, and the question is still answered.
    assert "3000万元" in joined(ask(stack, "张家港人才贷最多能贷多少。" + "请" * 10000))


def _get(url: str, headers: Optional[Dict[str, str]] = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_api_requires_the_token(stack: Stack) -> None:
    base = stack.settings.rasa_url
    assert _get(f"{base}/status") == 401
    assert _get(f"{base}/conversations/x/tracker") == 401
    assert _get(f"{base}/status?token=wrong") == 401
    assert _get(f"{base}/status?token={stack.token}") == 200


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'["a", "b"]',
        b'{"sender": "x"}',
        b'{"message": "hi"}',
        b'{"sender": 7, "message": "hi"}',
    ],
)
def test_malformed_webhook_body_is_a_400_with_a_json_error(stack: Stack, body: bytes) -> None:
    request = urllib.request.Request(
        f"{stack.settings.rasa_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400
    assert json.loads(info.value.read().decode("utf-8"))["error"]


def test_conversation_survives_a_restart(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    ask(stack, "张家港人才贷", sender)
    stack.stop()
    stack.start()
    # The tracker store kept the policy under discussion.
    assert "无抵押" in joined(ask(stack, "要抵押吗", sender))
    url = f"{stack.settings.rasa_url}/conversations/{sender}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=10) as response:
        tracker = json.loads(response.read())
    assert tracker["slots"]["policy"] == "zjg_talent_loan"


def test_operations_endpoints(stack: Stack) -> None:
    """Health, readiness and metrics of the Rasa server and the web server."""
    ask(stack, "张家港人才贷最多能贷多少")
    base = stack.settings.rasa_url
    with urllib.request.urlopen(f"{base}/webhooks/ops/health", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok"}
    with urllib.request.urlopen(f"{base}/webhooks/ops/ready", timeout=10) as response:
        ready = json.loads(response.read())
    assert ready["status"] == "ready" and set(ready["checks"].values()) == {"ok"}
    with urllib.request.urlopen(f"{base}/webhooks/ops/metrics", timeout=10) as response:
        scraped = response.read().decode()
    assert 'talent_messages_total{channel="rest"}' in scraped
    assert 'talent_actions_total{action="action_answer_policy"}' in scraped
    request = urllib.request.Request(
        f"{base}/webhooks/ops/metrics", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 404
    with urllib.request.urlopen(f"{stack.settings.web_url}/ready", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ready"
    with urllib.request.urlopen(f"{stack.settings.web_url}/metrics", timeout=10) as response:
        assert "talent_handoffs" in response.read().decode()
