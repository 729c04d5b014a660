"""The status lookup over the REST webhook, against running Rasa and action servers, after
importing the sample export with the command line, as a city's IT team would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from bot.runner import Stack, rest_message

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def imported(stack: Stack) -> Stack:
    env = {**os.environ, "DATABASE_URL": stack.settings.database_url}
    argv = [sys.executable, "-m", "bot", "import-applications", "samples/applications.csv"]
    argv += ["--events", "samples/application_events.csv"]
    outputs = []
    for _ in range(2):
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "新增 30" in outputs[0]
    # Importing the same file again changes nothing.
    assert "新增 0，更新 0，未变 30" in outputs[1]
    return stack


def say(stack: Stack, sender: str, text: str) -> List[Dict[str, Any]]:
    return rest_message(stack.settings.rasa_url, sender, text)


def joined(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def buttons(replies: List[Dict[str, Any]]) -> Dict[str, str]:
    return {b["title"]: b["payload"] for r in replies for b in r.get("buttons", [])}


def test_ask_number_then_digits_then_followups(imported: Stack) -> None:
    sender = uuid.uuid4().hex
    first = joined(say(imported, sender, "我的租房补贴批下来没有？"))
    assert "申请编号" in first
    assert "手机号的后四位" in joined(say(imported, sender, "HN-2024-00103"))
    status = say(imported, sender, "0003")
    text = joined(status)
    assert "【待补件】" in text and "近6个月社保缴纳证明" in text and "王*示" in text
    assert "要补什么材料" in buttons(status)
    # Follow-ups come from the same record, without asking again.
    assert "还需要补交 2 项材料" in joined(say(imported, sender, "我还要补什么材料"))
    assert "经办部门" in joined(say(imported, sender, "找谁办"))
    # Short questions that read as policy questions are about the application after a check.
    assert "办结时间" in joined(say(imported, sender, "要多久"))
    # A real policy question is still answered from the knowledge base.
    assert "3000万元" in joined(say(imported, sender, "张家港人才贷最多能贷多少"))
    contact = say(imported, sender, buttons(status)["找谁办"])
    assert "海宁市人力资源和社会保障局" in joined(contact)


def test_followup_before_a_check_asks_for_the_number(imported: Stack) -> None:
    sender = uuid.uuid4().hex
    text = joined(say(imported, sender, "我的申请什么时候能办好"))
    assert "申请编号" in text
    assert "手机号的后四位" in joined(say(imported, sender, "HN-2024-00102"))
    assert "【公示中】" in joined(say(imported, sender, "0002"))


def test_both_values_in_one_message(imported: Stack) -> None:
    text = joined(say(imported, uuid.uuid4().hex, "帮我查一下ZJG-2024-00202的进度，尾号0017"))
    # The pair exists in the sample export: the status, with the number masked.
    assert "ZJG********202" in text and "没有查到" not in text


def test_wrong_format_is_reasked_with_an_example(imported: Stack) -> None:
    sender = uuid.uuid4().hex
    say(imported, sender, "查询申请进度")
    assert "例如 HN-2024-00101" in joined(say(imported, sender, "12"))


def test_cancel_and_unknown_number(imported: Stack) -> None:
    sender = uuid.uuid4().hex
    say(imported, sender, "查一下我的申请进度")
    assert "已取消查询" in joined(say(imported, sender, "不查了"))
    sender = uuid.uuid4().hex
    say(imported, sender, "查一下我的申请进度")
    reply = say(imported, sender, "我不知道编号")
    assert "受理回执" in joined(reply) and "转人工服务" in buttons(reply)


def first_reply_to(imported: Stack, sender: str, number: str, digits: str) -> str:
    say(imported, sender, "查询办理进度")
    say(imported, sender, number)
    return joined(say(imported, sender, digits))


def test_wrong_pair_equals_unknown_then_lockout(imported: Stack) -> None:
    wrong = first_reply_to(imported, uuid.uuid4().hex, "HN-2024-00103", "9999")
    unknown = first_reply_to(imported, uuid.uuid4().hex, "HN-2031-00009", "0003")
    assert wrong == unknown and "没有查到" in wrong
    sender = uuid.uuid4().hex
    for digits in ("1111", "2222"):
        assert "没有查到" in first_reply_to(imported, sender, "HN-2024-00104", digits)
    locked = first_reply_to(imported, sender, "HN-2024-00104", "3333")
    # Locked, and handed to a specialist, who can verify the applicant in other ways.
    assert "查询次数已达上限" in locked and "排在第" in locked
    assert say(imported, sender, "HN-2024-00104 尾号0004") == []  # paused for the specialist
    assert "已取消人工服务" in joined(say(imported, sender, "取消人工"))
    # Even the right pair is refused now, and the form does not ask again.
    again = joined(say(imported, sender, "HN-2024-00104 尾号0004"))
    assert "查询次数已达上限" in again and "已通过" not in again
    say(imported, sender, "取消人工")


def test_sql_looking_and_huge_input_is_harmless(imported: Stack) -> None:
    sender = uuid.uuid4().hex
    say(imported, sender, "查申请进度")
    for text in ("' OR 1=1 --", "HN-2024-00103'; DROP TABLE applications;--", "9" * 5000):
        replies = say(imported, sender, text)
        assert replies, text
    assert "【待补件】" in first_reply_to(imported, uuid.uuid4().hex, "HN-2024-00103", "0003")


def test_no_reply_or_log_holds_personal_data(imported: Stack) -> None:
    sender = uuid.uuid4().hex
    replies = say(imported, sender, "HN-2024-00101 13800000001")
    text = joined(replies)
    assert "13800000001" not in text and "张示例" not in text
    assert "张*例" in text
    log_dir: Optional[Path] = imported.log_dir
    assert log_dir is not None
    logs = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in log_dir.glob("*.log"))
    for secret in ("13800000001", "HN-2024-00101", "HN-2024-00103", "ZJG-2024-00202"):
        assert secret not in logs, secret
    assert not re.search(r"尾号\s*\d{4}", logs)
    # No turn of any test ran into Rasa's limit of actions per message (a rules dead end).
    assert "Circuit breaker tripped" not in logs
    # The digits typed alone in the tests above ("0003", "9999"), even in debug-level states.
    assert not re.search(r"(?<![\d.:])(0003|9999|1111|3333)(?![\d])", logs)


def test_a_policy_question_beside_a_status_request_is_answered_too(imported: Stack) -> None:
    url = imported.settings.rasa_url
    first = joined(
        rest_message(url, uuid.uuid4().hex, "张家港人才贷最多贷多少，还有我的申请批下来没有")
    )
    # The policy answered, and the lookup offered or begun (whichever the NLU made first).
    assert "3000万" in first
    assert "查询申请进度" in first or "申请编号" in first
    sender = uuid.uuid4().hex
    asked = joined(say(imported, sender, "我的购房补贴批下来没有？另外海宁人才绿卡发给谁"))
    assert "领军人才" in asked  # the policy question answered at once
    after = joined(say(imported, sender, "HN-2024-00103 0003"))
    assert "HN-" in after  # then the status (masked number)
