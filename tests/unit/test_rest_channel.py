"""The REST webhook's answers to bad bodies and to messages it could not process."""

from __future__ import annotations

import asyncio
import json
from typing import Any, List

import pytest

from bot.rest_channel import CheckedRestInput, handle, parse_body


def run(raw: bytes, on_new_message: Any) -> Any:
    return asyncio.run(handle(raw, on_new_message, "rest"))


async def answering(message: Any) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "JSON 对象"),
        (b"[]", "JSON 对象"),
        (b'"text"', "JSON 对象"),
        (b"{not json", "有效的 UTF-8 JSON"),
        (b"\xff\xfe", "有效的 UTF-8 JSON"),
        (b'{"message": "hi"}', "sender"),
        (b'{"sender": 1, "message": "hi"}', "sender"),
        (b'{"sender": "  ", "message": "hi"}', "sender"),
        (b'{"sender": "a"}', "message"),
        (b'{"sender": "a", "message": null}', "message"),
        (b'{"sender": "a", "message": "hi", "metadata": [1]}', "metadata"),
        (b'{"sender": "a", "message": "hi", "input_channel": 5}', "input_channel"),
        (json.dumps({"sender": "a" * 300, "message": "hi"}).encode(), "sender"),
    ],
)
def test_a_bad_body_is_a_400_naming_what_is_wrong(raw: bytes, why: str) -> None:
    received: List[Any] = []

    async def on_new_message(message: Any) -> None:
        received.append(message)

    answer = run(raw, on_new_message)
    assert answer.status == 400
    assert why in json.loads(answer.body)["error"]
    assert not received  # nothing reached the bot


def test_a_good_body_gets_the_bots_messages() -> None:
    answer = run(json.dumps({"sender": "s1", "message": "你好"}).encode(), answering)
    assert answer.status == 200
    assert json.loads(answer.body) == [{"recipient_id": "s1", "text": "收到：你好"}]
    # An empty message is a message: the bot asks for words.
    assert run(b'{"sender": "s1", "message": ""}', answering).status == 200


def test_the_channel_and_metadata_are_passed_on() -> None:
    seen: List[Any] = []

    async def on_new_message(message: Any) -> None:
        seen.append(message)

    body = {"sender": "s1", "message": "x", "metadata": {"a": 1}, "input_channel": "kiosk"}
    assert run(json.dumps(body).encode(), on_new_message).status == 200
    assert seen[0].input_channel == "kiosk" and seen[0].metadata == {"a": 1}
    run(b'{"sender": "s1", "message": "x"}', on_new_message)
    assert seen[1].input_channel == "rest"


@pytest.mark.parametrize("failure", [RuntimeError("boom"), asyncio.CancelledError()])
def test_a_message_that_was_not_processed_is_a_503_with_retry_after(failure: BaseException) -> None:
    async def on_new_message(message: Any) -> None:
        raise failure

    answer = run(b'{"sender": "s1", "message": "hi"}', on_new_message)
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "5"
    assert "重发" in json.loads(answer.body)["error"]


def test_the_channel_keeps_rasas_name_and_routes() -> None:
    channel = CheckedRestInput()
    assert channel.name() == "rest"
    blueprint = channel.blueprint(answering)
    uris = {route.uri for route in blueprint._future_routes}
    assert uris == {"/", "/webhook"}


def test_parse_body_accepts_the_contract() -> None:
    body, problem = parse_body('{"sender": "张三", "message": "人才贷"}'.encode())
    assert problem is None and body == {"sender": "张三", "message": "人才贷"}
