"""The WeChat channel against real Rasa and action servers and a local fake of WeChat's
servers (bot.wechat.fake), which pushes messages as WeChat does (signatures, safe mode,
retries after 5 s) and records what the channel sends through the API."""

from __future__ import annotations

import time
import uuid
from typing import Any, Dict, List

import pytest
import requests

from bot import runner
from bot.evaluation.bench_wechat import measure_wechat
from bot.evaluation.slow_actions import SLOW_PREFIX
from bot.handoff.staff import StaffDirectory
from bot.runner import Stack
from bot.wechat.fake import FakeWeChat

pytestmark = pytest.mark.integration
PASSWORD = "integration password"


def webhook(stack: Stack) -> str:
    return f"{stack.settings.rasa_url}/webhooks/wechat/webhook"


def openid(prefix: str = "o") -> str:
    return prefix + uuid.uuid4().hex[:20]


def user_events(stack: Stack, sender: str) -> List[Dict[str, Any]]:
    return runner.user_events(stack.settings.rasa_url, stack.token, sender)


def test_handshake(stack: Stack, wechat: FakeWeChat) -> None:
    assert wechat.handshake(webhook(stack), "echo-2026") == (200, "echo-2026")
    status, _ = wechat.handshake(webhook(stack), "echo", signature="0" * 40)
    assert status == 403
    status, _ = wechat.handshake(webhook(stack), "echo", timestamp=int(time.time()) - 3600)
    assert status == 403


def test_plaintext_question_gets_a_passive_answer(stack: Stack, wechat: FakeWeChat) -> None:
    user = openid()
    delivery = wechat.deliver(webhook(stack), wechat.text(user, "张家港人才贷最多能贷多少？"))
    assert delivery.status == 200 and delivery.attempts == 1
    assert delivery.reply["ToUserName"] == user and delivery.reply["MsgType"] == "text"
    assert "3000万元" in delivery.text and "依据" in delivery.text
    assert len(delivery.text.encode("utf-8")) <= 2048


def test_safe_mode_round_trip(stack: Stack, wechat: FakeWeChat) -> None:
    delivery = wechat.deliver(
        webhook(stack), wechat.text(openid(), "海宁人才公寓怎么申请"), encrypt=True
    )
    # The fake checked the reply's MsgSignature and decrypted it.
    assert delivery.status == 200 and "人才公寓" in delivery.text
    forged = wechat.deliver(
        webhook(stack), wechat.text(openid(), "你好"), encrypt=True, msg_signature="0" * 40
    )
    assert forged.status == 403


def test_forged_or_replayed_messages_are_refused(stack: Stack, wechat: FakeWeChat) -> None:
    user = openid()
    forged = wechat.deliver(webhook(stack), wechat.text(user, "你好"), signature="f" * 40)
    old = wechat.deliver(
        webhook(stack), wechat.text(user, "你好"), timestamp=int(time.time()) - 600
    )
    assert (forged.status, old.status) == (403, 403)
    assert user_events(stack, user) == []  # nothing reached Rasa


def test_three_deliveries_reach_rasa_once(stack: Stack, wechat: FakeWeChat) -> None:
    user = openid()
    message = wechat.text(user, "海宁的人才绿卡是给哪些人的")
    deliveries = wechat.deliver_all(webhook(stack), message, copies=3)
    texts = {d.text for d in deliveries}
    assert len(texts) == 1 and "领军人才" in texts.pop()
    # A late retry, after the first answer, gets the same answer without a second run.
    again = wechat.deliver(webhook(stack), message)
    assert "领军人才" in again.text
    assert [e["text"] for e in user_events(stack, user)] == ["海宁的人才绿卡是给哪些人的"]


def test_slow_answer_comes_through_the_api(stack: Stack, wechat: FakeWeChat) -> None:
    user = openid(SLOW_PREFIX)
    delivery = wechat.deliver(webhook(stack), wechat.text(user, "张家港人才贷最多能贷多少？"))
    assert delivery.status == 200 and delivery.body == "success"
    assert delivery.elapsed < 5 and delivery.attempts == 1
    (pushed,) = wechat.wait_for_messages(user, 1, timeout=15)
    assert "3000万元" in pushed["text"]["content"]


def test_expired_token_is_fetched_again_once(stack: Stack, wechat: FakeWeChat) -> None:
    user = openid(SLOW_PREFIX)
    wechat.deliver(webhook(stack), wechat.text(user, "海宁人才公寓怎么申请"))  # a token exists now
    wechat.wait_for_messages(user, 1, timeout=15)
    before = len(wechat.requests)
    wechat.expire_tokens()
    wechat.deliver(webhook(stack), wechat.text(user, "张家港人才贷最多能贷多少？"))
    pushed = wechat.wait_for_messages(user, 2, timeout=15)
    assert "3000万元" in pushed[1]["text"]["content"]
    calls = [(r.endpoint, r.errcode) for r in wechat.requests[before:]]
    assert calls == [("custom_send", 42001), ("stable_token", 0), ("custom_send", 0)]


def test_numbers_select_buttons(stack: Stack, wechat: FakeWeChat) -> None:
    user = openid()
    first = wechat.deliver(webhook(stack), wechat.text(user, "购房补贴怎么申请"))
    options = dict(
        reversed(line.split(". ", 1)) for line in first.text.splitlines() if ". " in line
    )
    assert set(options) == {"海宁市", "张家港市"}
    second = wechat.deliver(webhook(stack), wechat.text(user, options["张家港市"]))
    assert "张家港" in second.text and "依据" in second.text


def test_other_messages_and_events(stack: Stack, wechat: FakeWeChat) -> None:
    user = openid()
    hook = webhook(stack)
    welcome = wechat.deliver(hook, wechat.event(user, "subscribe"))
    assert "人才服务助手" in welcome.text and "1. 购房补贴" in welcome.text
    assert "看不懂图片" in wechat.deliver(hook, wechat.image(user)).text
    assert "3000万元" in wechat.deliver(hook, wechat.voice(user, "张家港人才贷最多能贷多少")).text
    assert "听清" in wechat.deliver(hook, wechat.voice(user, "")).text
    menu = wechat.deliver(hook, wechat.event(user, "CLICK", "STATUS_CHECK"))
    assert "编号" in menu.text
    location = wechat.deliver(hook, wechat.message(user, "location", Location_X=30.5))
    assert "文字" in location.text
    unsubscribe = wechat.deliver(hook, wechat.event(user, "unsubscribe"))
    assert (unsubscribe.status, unsubscribe.body) == (200, "success")


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<xml><ToUserName>",
        "<xml></xml>",
        "<xml><MsgType>text</MsgType></xml>",
        "<html><body>hello</body></html>",
        "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
        "<CreateTime>x</CreateTime><MsgType>text</MsgType></xml>",
        "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>hologram</MsgType><MsgId>5</MsgId></xml>",
    ],
)
def test_malformed_pushes_get_no_5xx(stack: Stack, wechat: FakeWeChat, body: str) -> None:
    delivery = wechat.deliver(webhook(stack), body, attempts=1)
    assert delivery.status is not None and delivery.status < 500, delivery.body


def test_staff_messages_arrive_through_the_api(stack: Stack, wechat: FakeWeChat) -> None:
    StaffDirectory(stack.settings.database_url).create("wx-li", PASSWORD, "specialist", "李专员")
    web_url = stack.settings.web_url
    user = openid()
    answer = wechat.deliver(webhook(stack), wechat.text(user, "我要转人工"))
    assert "排在第" in answer.text
    http = requests.Session()
    token = http.post(
        f"{web_url}/api/login", json={"username": "wx-li", "password": PASSWORD}, timeout=10
    ).json()["token"]
    http.headers["Authorization"] = f"Bearer {token}"
    waiting = http.get(f"{web_url}/api/handoffs?status=waiting", timeout=10).json()
    ticket = next(t for t in waiting if t["sender_id"] == user)
    assert ticket["channel"] == "wechat"
    assert http.post(f"{web_url}/api/handoffs/{ticket['id']}/claim", timeout=10).ok
    # A long staff message (about 3,000 bytes) arrives in parts within WeChat's limit.
    long_text = "您好，我是李专员。" + "关于人才贷的具体办理，请您准备好相关材料。" * 48
    sent = http.post(
        f"{web_url}/api/handoffs/{ticket['id']}/messages", json={"text": long_text}, timeout=10
    )
    assert sent.status_code == 202
    parts = [m["text"]["content"] for m in wechat.wait_for_messages(user, 2, timeout=15)]
    assert all(len(p.encode("utf-8")) <= 2048 for p in parts)
    assert "".join(parts).replace("\n", "") == long_text
    # What the citizen writes now reaches the specialist, not the bot.
    quiet = wechat.deliver(webhook(stack), wechat.text(user, "好的谢谢"))
    assert quiet.body == "success"
    closed = http.post(f"{web_url}/api/handoffs/{ticket['id']}/close", timeout=10)
    assert closed.ok
    farewell = wechat.wait_for_messages(user, 3, timeout=15)[-1]["text"]["content"]
    assert "1. 5 分" in farewell
    # The rating buttons are numbered; "1" rates 5.
    rated = wechat.deliver(webhook(stack), wechat.text(user, "1"))
    assert "感谢" in rated.text


def test_two_hundred_messages_are_all_answered_in_time(stack: Stack, wechat: FakeWeChat) -> None:
    """WeChat's 5-second rule under load: 200 messages from 40 users, 20 of them to actions
    slowed beyond 5 s on purpose; every delivery is answered in time, none processed twice
    (the same measurement as ``make bench``)."""
    result = measure_wechat(wechat, stack.settings.rasa_url, stack.token)
    assert result["answered_within_5s"] == 200, result
    assert result["slowed"] == 20 and result["pushed"] >= 20, result
    assert result["pushed_arrived"] == result["pushed"], result
    assert result["passive"] + result["pushed"] == 200, result
    assert result["processed_twice"] == 0 and result["never_processed"] == 0, result
