"""The ways citizens really write, over the REST webhook against running servers: each case is
one the assistant used to answer wrongly (refused, wrong aspect, wrong city, a non-answer)."""

from __future__ import annotations

import uuid
from typing import Any, Dict, List

import pytest

from bot.runner import Stack, rest_message

pytestmark = pytest.mark.integration


def chat(stack: Stack, *turns: str) -> List[Dict[str, Any]]:
    """Sends the turns in one new conversation; the replies to the last one."""
    sender = uuid.uuid4().hex
    replies: List[Dict[str, Any]] = []
    for turn in turns:
        replies = rest_message(stack.settings.rasa_url, sender, turn)
    return replies


def text(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_a_topic_the_refusal_lists_is_not_refused(stack: Stack) -> None:
    reply = text(chat(stack, "孩子上学怎么解决"))
    assert "超出了我的服务范围" not in reply
    assert "海宁" in reply and "张家港" in reply  # which city?


def test_an_opener_carries_no_aspect(stack: Stack) -> None:
    reply = text(chat(stack, "我想咨询张家港人才贷要什么条件"))
    assert "申请条件" in reply and "纯信用" in reply
    assert "办理地点和联系方式：" not in reply


def test_the_city_named_wins_and_no_missing_line_follows(stack: Stack) -> None:
    replies = chat(stack, "张家港人才贷最多能贷多少", "海宁人才公寓怎么申请", "那要什么条件")
    assert "暂未收录" not in text(replies)
    assert "人才公寓" in text(replies)


def test_the_fact_asked_comes_from_whichever_field_holds_it(stack: Stack) -> None:
    reply = text(chat(stack, "海宁人才看病能去哪些好医院"))
    assert "长海医院" in reply or "附属第一医院" in reply


def test_background_does_not_lead_a_graduate_question(stack: Stack) -> None:
    reply = text(chat(stack, "我是硕士刚毕业，想去海宁工作，有什么补贴"))
    assert "3256" not in reply and "35.1%" not in reply
    assert "补贴" in reply


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("张家港 talent loan 最多贷多少", "3000万"),
        ("rencaidai 要抵押伐", "无抵押"),
        ("张家港人材贷最多贷多少😀😀", "3000万"),
        ("阿拉想问问张家港人才贷哪能申请", "绿色审批通道"),
    ],
)
def test_mixed_language_dialect_typos_and_emoji(stack: Stack, message: str, expected: str) -> None:
    assert expected in text(chat(stack, message))


def test_two_questions_in_one_message_are_both_answered(stack: Stack) -> None:
    reply = text(chat(stack, "张家港人才贷要不要抵押，多久能放款"))
    assert "无抵押" in reply and "最快3天" in reply


def test_list_and_comparison_questions_get_a_list(stack: Stack) -> None:
    listed = chat(stack, "有哪些补贴")
    assert "【海宁市】" in text(listed) and "【张家港市】" in text(listed)
    assert any(b["payload"].startswith("/ask_policy") for r in listed for b in r.get("buttons", []))
    compared = text(chat(stack, "我是博士，海宁和张家港哪个好"))
    assert "【海宁市】" in compared and "【张家港市】" in compared


def test_greeting_with_a_question_answers_the_question(stack: Stack) -> None:
    assert "3000万" in text(chat(stack, "你好，请问张家港人才贷最多能贷多少"))


def test_a_correction_of_the_city_asks_the_question_again(stack: Stack) -> None:
    reply = text(chat(stack, "海宁人才贷最多贷多少", "不对，我说的是张家港"))
    assert "3000万" in reply
