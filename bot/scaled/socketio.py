"""The web widget's socket.io channel (``bot.widget_channel``) with python-socketio's Redis
manager: a message emitted on one Rasa replica (a staff message appended through the HTTP
API, say) reaches the user's socket on whichever replica holds it. Same name ("socketio")
and settings as the channel of the embedded default."""

from __future__ import annotations

import functools
import os
from typing import Any, Awaitable, Callable

import rasa.core.channels.socketio as rasa_socketio
import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

from bot.widget_channel import WidgetSocketIO


class RedisSocketIOInput(WidgetSocketIO):
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        url = os.environ.get("REDIS_SOCKETIO_URL")
        if not url:
            raise RuntimeError("REDIS_SOCKETIO_URL 未设置：扩展部署的 socket.io 需要 Redis")
        manager = socketio.AsyncRedisManager(url)
        # Rasa builds its AsyncServer inside blueprint(); it gets the manager this way.
        original = rasa_socketio.AsyncServer
        rasa_socketio.AsyncServer = functools.partial(original, client_manager=manager)
        try:
            return super().blueprint(on_new_message)
        finally:
            rasa_socketio.AsyncServer = original
