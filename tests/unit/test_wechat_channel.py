"""The WeChat channel's handling of pushed messages, with Rasa simulated: what reaches Rasa
(once), what the passive reply says, what is pushed, what "1", "2"… select."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, List, Optional

import pytest
from rasa.core.channels.channel import UserMessage

from bot.wechat.api import WeChatAPIError
from bot.wechat.channel import (
    IMAGE_REPLY,
    STILL_WORKING,
    VOICE_UNHEARD,
    WeChatInput,
)
from bot.wechat.protocol import Inbound
from bot.wechat.render import MAX_BYTES, MORE_HINT
from bot.wechat.settings import WeChatSettings
from bot.wechat.store import WeChatStore


class PushRecorder:
    """Stands in for WeChatAPI: records pushes, or refuses them with ``errcode``."""

    def __init__(self, enabled: bool = True) -> None:
        self.push_enabled = enabled
        self.sent: List[tuple] = []
        self.errcode: Optional[int] = None

    async def send_text(self, openid: str, text: str) -> None:
        if self.errcode is not None:
            raise WeChatAPIError(self.errcode, "refused")
        self.sent.append((openid, text))


class FakeRasa:
    """on_new_message: answers through the message's output channel like Rasa does."""

    def __init__(self) -> None:
        self.received: List[UserMessage] = []
        self.delay = 0.0
        self.answer: Callable[[str], List[Dict[str, Any]]] = lambda text: [{"text": f"答：{text}"}]

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        for reply in self.answer(message.text):
            if reply.get("buttons"):
                await message.output_channel.send_text_with_buttons(
                    message.sender_id, reply["text"], reply["buttons"]
                )
            else:
                await message.output_channel.send_text_message(message.sender_id, reply["text"])


@pytest.fixture
def channel(db_url: str) -> WeChatInput:
    settings = WeChatSettings(token="t", appid="wx1", secret="s", passive_seconds=0.6)
    channel = WeChatInput(settings, WeChatStore(db_url))
    channel.api = PushRecorder()  # type: ignore[assignment]
    return channel


def inbound(content: str = "人才贷", msg_id: int = 1, kind: str = "text", **extra: Any) -> Inbound:
    return Inbound(
        kind=kind,
        openid="oUser000001",
        account="gh_city",
        create_time=1700000000 + msg_id,
        msg_id=msg_id if kind != "event" else 0,
        msg_type=kind,
        content=content,
        **extra,
    )


def ask(channel: WeChatInput, rasa: FakeRasa, message: Inbound) -> Optional[str]:
    async def run() -> Optional[str]:
        loop = asyncio.get_running_loop()
        return await channel.answer(message, rasa, loop.time() + channel.settings.passive_seconds)

    return asyncio.run(run())


def run_all(*coroutines: Awaitable[Any]) -> List[Any]:
    async def gather() -> List[Any]:
        return list(await asyncio.gather(*coroutines))

    return asyncio.run(gather())


def test_text_reaches_rasa_once_with_the_channel_and_sender(channel: WeChatInput) -> None:
    rasa = FakeRasa()
    assert ask(channel, rasa, inbound("海宁人才公寓")) == "答：海宁人才公寓"
    (message,) = rasa.received
    assert (message.sender_id, message.input_channel, message.message_id) == (
        "oUser000001",
        "wechat",
        "1",
    )


def test_concurrent_and_later_deliveries_are_processed_once(channel: WeChatInput) -> None:
    rasa = FakeRasa()
    rasa.delay = 0.2

    async def three() -> List[Optional[str]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 0.6
        return list(
            await asyncio.gather(
                *(channel.answer(inbound("你好", 7), rasa, deadline) for _ in range(3))
            )
        )

    assert asyncio.run(three()) == ["答：你好"] * 3
    # A retry after a restart (nothing in memory): the stored reply, not a second run.
    channel._inflight.clear()
    assert ask(channel, rasa, inbound("你好", 7)) == "答：你好"
    assert len(rasa.received) == 1


def test_another_process_waits_for_the_first_ones_reply(channel: WeChatInput, db_url: str) -> None:
    other = WeChatInput(channel.settings, WeChatStore(db_url))
    other.api = PushRecorder()  # type: ignore[assignment]
    rasa = FakeRasa()
    rasa.delay = 0.3

    async def both() -> List[Optional[str]]:
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(channel.answer(inbound("你好", 8), rasa, loop.time() + 0.6))
        await asyncio.sleep(0.05)
        second = other.answer(inbound("你好", 8), rasa, loop.time() + 0.6)
        return list(await asyncio.gather(first, second))

    assert asyncio.run(both()) == ["答：你好", "答：你好"]
    assert len(rasa.received) == 1


def test_slow_answer_is_pushed_and_its_retry_is_not_processed(channel: WeChatInput) -> None:
    rasa = FakeRasa()
    rasa.delay = 1.0

    async def scenario() -> Optional[str]:
        loop = asyncio.get_running_loop()
        first = await channel.answer(inbound("慢问题", 9), rasa, loop.time() + 0.6)
        retry = await channel.answer(inbound("慢问题", 9), rasa, loop.time() + 0.6)
        assert retry is None
        await asyncio.sleep(1.0)
        return first

    assert asyncio.run(scenario()) is None  # "success" now, the answer follows
    assert channel.api.sent == [("oUser000001", "答：慢问题")]
    assert len(rasa.received) == 1


def test_slow_answer_without_push_waits_for_the_next_message(channel: WeChatInput) -> None:
    channel.api.push_enabled = False
    rasa = FakeRasa()
    rasa.delay = 1.0

    async def scenario() -> List[Optional[str]]:
        loop = asyncio.get_running_loop()
        first = await channel.answer(inbound("慢问题", 10), rasa, loop.time() + 0.6)
        await asyncio.sleep(1.0)
        second = await channel.answer(inbound("好了吗", 11), rasa, loop.time() + 0.6)
        return [first, second]

    assert asyncio.run(scenario()) == [STILL_WORKING, "答：慢问题"]
    assert [m.text for m in rasa.received] == ["慢问题"]


def test_numbers_pick_the_last_answers_buttons(channel: WeChatInput) -> None:
    rasa = FakeRasa()
    buttons = [
        {"title": "海宁市", "payload": '/inform_region{"region": "海宁市"}'},
        {"title": "张家港市", "payload": '/inform_region{"region": "张家港市"}'},
    ]
    rasa.answer = lambda text: [{"text": "请问是哪个城市？", "buttons": buttons}]
    reply = ask(channel, rasa, inbound("购房补贴", 20))
    assert reply.endswith("1. 海宁市\n2. 张家港市")
    rasa.answer = lambda text: [{"text": "好的"}]
    ask(channel, rasa, inbound("2", 21))
    assert rasa.received[-1].text == '/inform_region{"region": "张家港市"}'
    # The options belonged to that answer only.
    ask(channel, rasa, inbound("1", 22))
    assert rasa.received[-1].text == "1"


def test_long_answer_rest_is_pushed_after_the_passive_part(channel: WeChatInput) -> None:
    rasa = FakeRasa()
    long_text = "\n".join(["人才政策详细说明，" * 20] * 6)  # about 3,200 bytes
    rasa.answer = lambda text: [{"text": long_text}]

    async def scenario() -> Optional[str]:
        loop = asyncio.get_running_loop()
        reply = await channel.answer(inbound("详细说明", 30), rasa, loop.time() + 0.6)
        await asyncio.sleep(1.3)
        return reply

    first = asyncio.run(scenario())
    pushed = [text for _, text in channel.api.sent]
    assert len(first.encode("utf-8")) <= MAX_BYTES and pushed
    assert all(len(p.encode("utf-8")) <= MAX_BYTES for p in pushed)
    assert (first + "".join(pushed)).replace("\n", "") == long_text.replace("\n", "")


def test_long_answer_without_push_continues_on_any_reply(channel: WeChatInput) -> None:
    channel.api.push_enabled = False
    rasa = FakeRasa()
    long_text = "\n".join(["人才政策详细说明，" * 20] * 6)
    rasa.answer = lambda text: [{"text": long_text}]
    first = ask(channel, rasa, inbound("详细说明", 31))
    assert first.endswith(MORE_HINT) and len(first.encode("utf-8")) <= MAX_BYTES
    second = ask(channel, rasa, inbound("继续", 32))
    assert len(rasa.received) == 1
    assert (first[: -len(MORE_HINT)] + second).replace("\n", "") == long_text.replace("\n", "")


def test_non_text_messages_and_events(channel: WeChatInput) -> None:
    rasa = FakeRasa()
    assert ask(channel, rasa, inbound("", 40, kind="image")) == IMAGE_REPLY
    assert ask(channel, rasa, inbound("", 41, kind="voice")) == VOICE_UNHEARD
    assert ask(channel, rasa, inbound("张家港人才贷", 42, kind="voice")) == "答：张家港人才贷"
    assert ask(channel, rasa, inbound("", 43, kind="event", event="unsubscribe")) is None
    ask(channel, rasa, inbound("", 44, kind="event", event="subscribe"))
    ask(channel, rasa, inbound("", 45, kind="event", event="click", event_key="STATUS_CHECK"))
    ask(channel, rasa, inbound("", 46, kind="event", event="click", event_key="NO_SUCH_KEY"))
    assert [m.text for m in rasa.received] == ["张家港人才贷", "/greet", "/check_status", "/help"]


def test_rasa_failure_gets_an_apology_not_an_error(channel: WeChatInput) -> None:
    async def broken(message: UserMessage) -> None:
        raise RuntimeError("action server down")

    reply = ask(channel, broken, inbound("你好", 50))  # type: ignore[arg-type]
    assert "暂时繁忙" in reply and "转人工" in reply


def test_refused_staff_message_is_shown_on_the_ticket(
    channel: WeChatInput, db_url: str, always_open: None
) -> None:
    from bot.handoff.tickets import HandoffService

    tickets = HandoffService(db_url)
    opened = tickets.open_ticket("oUser000001", "wechat", "user_request", "想咨询补贴")
    channel.api.errcode = 45015
    asyncio.run(channel.push("oUser000001", [{"text": "您好，我是专员"}], report=True))
    assert "48 小时" in tickets.get(opened.ticket_id)["delivery_error"]
    channel.api.errcode = None
    asyncio.run(channel.push("oUser000001", [{"text": "还在吗"}], report=True))
    assert tickets.get(opened.ticket_id)["delivery_error"] is None
    assert channel.api.sent == [("oUser000001", "还在吗")]
