"""The web widget's socket.io channel: specialists' messages carry who wrote them (masked),
the closing message says so, images keep their alternative text; the bot's own messages go
out exactly as Rasa's channel sends them."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Tuple

from rasa.core.channels.socketio import SocketIOOutput
from rasa.shared.core.events import BotUttered

from bot.handoff.outbox import events_for
from bot.widget_channel import WidgetOutput, WidgetSocketIO, widget_fields


class FakeSio:
    def __init__(self) -> None:
        self.emitted: List[Tuple[str, Dict[str, Any], str]] = []

    async def emit(self, event: str, data: Dict[str, Any], room: str) -> None:
        self.emitted.append((event, data, room))


def send(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What the widget receives when Rasa sends these bot events (as after the outbox's POST)."""
    sio = FakeSio()
    output = WidgetOutput(sio, "bot_uttered")

    async def main() -> None:
        for event in events:
            if event["event"] != "bot":
                continue
            uttered = BotUttered(event.get("text"), event.get("data"), event.get("metadata"))
            await output.send_response("session-1", uttered.message())

    asyncio.run(main())
    assert all(e == "bot_uttered" and room == "session-1" for e, _, room in sio.emitted)
    return [data for _, data, _ in sio.emitted]


def message(kind: str, text: str) -> Dict[str, Any]:
    return {"kind": kind, "text": text, "staff": "zhang", "staff_name": "张专员"}


def test_staff_messages_are_marked_with_the_masked_name() -> None:
    received = send(events_for(message("message", "您好。\n\n请问您想了解什么？")))
    assert [r["text"] for r in received] == ["您好。", "请问您想了解什么？"]
    for part in received:
        # Neither the account nor the full name reaches the citizen.
        assert part == {"text": part["text"], "role": "staff", "specialist": "张**"}


def test_the_closing_message_says_the_bot_is_back() -> None:
    received = send(events_for(message("close", "本次人工服务已结束。")))
    assert len(received) == 1
    assert received[0]["handoff"] == "closed" and received[0]["role"] == "staff"
    assert received[0]["quick_replies"][0]["title"] == "5 分"


def test_bot_messages_are_unchanged_and_images_keep_their_alt() -> None:
    received = send(
        [
            {
                "event": "bot",
                "text": "答复",
                "data": {"buttons": [{"title": "申请条件", "payload": "/x"}]},
            },
            {
                "event": "bot",
                "text": None,
                "data": {"image": "https://example.org/a.png"},
                "metadata": {"alt": " 办理地点地图 "},
            },
        ]
    )
    assert received[0] == {
        "text": "答复",
        "quick_replies": [{"content_type": "text", "title": "申请条件", "payload": "/x"}],
    }
    assert received[1] == {
        "attachment": {"type": "image", "payload": {"src": "https://example.org/a.png"}},
        "alt": "办理地点地图",
    }
    assert widget_fields({"text": "x", "timestamp": 1.0}) == {}


def test_the_channel_keeps_rasas_name_and_uses_the_widget_output() -> None:
    channel = WidgetSocketIO.from_credentials({"session_persistence": True})
    assert channel.name() == "socketio" and channel.session_persistence
    received: List[Any] = []

    async def on_new_message(user_message: Any) -> None:
        received.append(user_message.output_channel)

    channel.blueprint(on_new_message)
    assert isinstance(channel.get_output_channel(), WidgetOutput)
    # The socket's own handler builds Rasa's output; the channel swaps in its own.
    handler = channel.sio.handlers["/"]["user_uttered"]
    asyncio.run(handler("sid-1", {"message": "你好", "session_id": "s" * 32}))
    assert type(received[0]) is WidgetOutput and isinstance(received[0], SocketIOOutput)
