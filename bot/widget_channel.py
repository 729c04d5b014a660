"""Rasa's socket.io channel for the web widget, telling the widget who wrote each message.

Rasa's own socket.io output drops a message's metadata, so the widget could not tell a
specialist's message (appended by the web server's outbox with ``{"staff", "staff_name"}``)
from the bot's. This channel adds to every part of such a message ``"role": "staff"`` and
the specialist's masked name (王**, never the account), ``"handoff": "closed"`` to the
closing message, and an image's alternative text (``metadata.alt``). Everything else is
Rasa's channel unchanged (``credentials.yml``: ``bot.widget_channel.WidgetSocketIO``); its
name stays ``socketio``, so tickets and ``output_channel=latest`` find it as before.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.handoff.transcript import ALT_MAX, specialist_name


def widget_fields(message: Dict[str, Any]) -> Dict[str, Any]:
    """What the widget needs to know of a message beyond its text and buttons."""
    if not message.get("staff"):
        return {}
    fields: Dict[str, Any] = {
        "role": "staff",
        "specialist": specialist_name(message.get("staff_name")),
    }
    if message.get("handoff") == "closed":
        fields["handoff"] = "closed"
    return fields


class WidgetOutput(SocketIOOutput):
    def __init__(self, sio: Any, bot_message_evt: str) -> None:
        super().__init__(sio, bot_message_evt)
        # Rasa sends one message's parts one after the other through one output object.
        self._fields: Dict[str, Any] = {}

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        self._fields = widget_fields(message)
        try:
            await super().send_response(recipient_id, message)
        finally:
            self._fields = {}

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await super()._send_message(socket_id, {**response, **self._fields})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        message: Dict[str, Any] = {"attachment": {"type": "image", "payload": {"src": image}}}
        alt = kwargs.get("alt")
        if isinstance(alt, str) and alt.strip():
            message["alt"] = alt.strip()[:ALT_MAX]
        await self._send_message(recipient_id, message)


class WidgetSocketIO(SocketIOInput):
    """``SocketIOInput`` whose answers, and the messages appended through Rasa's HTTP API
    (``output_channel=latest``), go out through ``WidgetOutput``."""

    def get_output_channel(self) -> Optional[OutputChannel]:
        if self.sio is None:
            return super().get_output_channel()
        return WidgetOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def with_widget_output(message: UserMessage) -> Any:
            if type(message.output_channel) is SocketIOOutput and self.sio is not None:
                message.output_channel = WidgetOutput(self.sio, self.bot_message_evt)
            return await on_new_message(message)

        return super().blueprint(with_widget_output)
