"""Rasa's REST channel (name ``rest``, same URL, same answer), with honest errors.

Rasa's own ``RestInput`` answers a body that is no JSON object (empty, an array) with 500, a body
without ``message`` with 200 ``[]``, and a message it could not process (a timeout, a failure)
with 200 ``[]`` too, as if the bot had nothing to say. An integration cannot tell those apart
from an answer. Here a bad body gets 400 with a JSON error naming what is wrong, and a message
that was not processed gets 503 with ``Retry-After``, so that the sender knows to try again.
The URL and a successful answer are Rasa's: integrations keep working.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

# Seconds a sender is asked to wait before sending an unprocessed message again.
RETRY_AFTER_SECONDS = 5
MAX_SENDER_CHARS = 256

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def error(status: int, message: str, **headers: str) -> HTTPResponse:
    return response.json({"error": message}, status=status, headers=headers or None)


def parse_body(raw: bytes) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """The webhook body, or why it is not one: a JSON object with a string ``sender`` and a
    string ``message`` (which may be empty: the bot asks for words), optional ``metadata`` (an
    object) and ``input_channel`` (a string)."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None, "请求体不是有效的 UTF-8 JSON"
    if not isinstance(body, dict):
        return None, '请求体须为 JSON 对象：{"sender": 字符串, "message": 字符串}'
    sender, message = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip():
        return None, "缺少字符串字段 sender"
    if len(sender) > MAX_SENDER_CHARS:
        return None, f"sender 过长（最多 {MAX_SENDER_CHARS} 个字符）"
    if not isinstance(message, str):
        return None, "缺少字符串字段 message"
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        return None, "metadata 须为 JSON 对象"
    if body.get("input_channel") is not None and not isinstance(body["input_channel"], str):
        return None, "input_channel 须为字符串"
    return body, None


async def handle(raw: bytes, on_new_message: OnNewMessage, channel: str) -> HTTPResponse:
    """One webhook call: 400 for a bad body, the bot's messages, or 503 when the message could
    not be processed."""
    body, problem = parse_body(raw)
    if body is None:
        return error(400, problem or "请求体有误")
    collector = CollectingOutputChannel()
    message = UserMessage(
        body["message"],
        collector,
        body["sender"],
        input_channel=body.get("input_channel") or channel,
        metadata=body.get("metadata"),
    )
    try:
        await on_new_message(message)
    except asyncio.CancelledError:
        logger.error("REST 消息处理超时（会话 %s）", message.sender_id)
        return error(
            503, "消息未能及时处理，请稍后重发", **{"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    except Exception:
        logger.exception("REST 消息处理失败（会话 %s）", message.sender_id)
        return error(503, "消息未能处理，请稍后重发", **{"Retry-After": str(RETRY_AFTER_SECONDS)})
    return response.json(collector.messages)


class CheckedRestInput(RestInput):
    """Rasa's REST channel with the checks above; streaming (``?stream=true``) is Rasa's."""

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> Any:
            if not bool_arg(request, "stream", default=False):
                return await handle(request.body, on_new_message, self.name())
            body, problem = parse_body(request.body)
            if body is None:
                return error(400, problem or "请求体有误")
            return response.stream(
                self.stream_response(
                    on_new_message,
                    body["message"],
                    body["sender"],
                    body.get("input_channel") or self.name(),
                    body.get("metadata"),
                ),
                content_type="text/event-stream",
            )

        return webhook
