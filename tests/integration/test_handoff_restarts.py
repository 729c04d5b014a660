"""Restarts during an active handoff: Rasa, the action server and the web server are each
stopped and started again; no message and no ticket is lost, and the conversation stays with
its specialist (the bot does not answer it)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from bot.handoff.staff import StaffDirectory
from bot.runner import Stack
from tests.integration.citizen import Citizen

pytestmark = pytest.mark.integration
PASSWORD = "restart test password"


async def call(http: aiohttp.ClientSession, method: str, url: str, token: str, **kw: Any) -> Any:
    async with http.request(
        method, url, headers={"Authorization": f"Bearer {token}"}, **kw
    ) as response:
        body = await response.json()
        assert response.status < 300, (url, response.status, body)
        return body


async def transcript_has(
    http: aiohttp.ClientSession, base: str, token: str, ticket: int, text: str
) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        detail = await call(http, "GET", f"{base}/api/handoffs/{ticket}", token)
        if any(text in line["text"] for line in detail["transcript"]):
            return detail
        await asyncio.sleep(0.3)
    raise AssertionError(f"{text!r} never reached the transcript")


def test_restarts_lose_nothing_and_keep_the_specialist(stack: Stack) -> None:
    StaffDirectory(stack.settings.database_url).create("rs-zhao", PASSWORD, "specialist")
    base = stack.settings.web_url

    async def scenario() -> None:
        citizen = Citizen(stack.settings.rasa_url)
        await citizen.connect()
        await citizen.say("转人工")
        await citizen.wait_for("排在第")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{base}/api/login", json={"username": "rs-zhao", "password": PASSWORD}
            ) as response:
                token = (await response.json())["token"]
            waiting = await call(http, "GET", f"{base}/api/handoffs?status=waiting", token)
            ticket = next(t["id"] for t in waiting if t["sender_id"] == citizen.session_id)
            await call(http, "POST", f"{base}/api/handoffs/{ticket}/claim", token)
            await citizen.sio.disconnect()

            # Rasa down: the specialist's message waits in the outbox, then arrives.
            await asyncio.to_thread(stack.stop_service, "rasa")
            await call(
                http,
                "POST",
                f"{base}/api/handoffs/{ticket}/messages",
                token,
                json={"text": "Rasa 重启期间写的消息"},
            )
            await asyncio.to_thread(stack.start_service, "rasa")
            await transcript_has(http, base, token, ticket, "Rasa 重启期间写的消息")

            citizen = Citizen(stack.settings.rasa_url, citizen.session_id)
            await citizen.connect()
            # Still paused for the specialist after the restart: recorded, not answered.
            await citizen.say("重启后我还在等")
            await transcript_has(http, base, token, ticket, "重启后我还在等")
            await asyncio.sleep(1.0)
            assert citizen.received == []

            # The action server and the web server restart too.
            await asyncio.to_thread(stack.stop_service, "actions")
            await asyncio.to_thread(stack.start_service, "actions")
            await asyncio.to_thread(stack.stop_service, "web")
            await asyncio.to_thread(stack.start_service, "web")
            detail = await call(http, "GET", f"{base}/api/handoffs/{ticket}", token)
            assert detail["status"] == "active" and detail["assignee"] == "rs-zhao"
            await call(
                http,
                "POST",
                f"{base}/api/handoffs/{ticket}/messages",
                token,
                json={"text": "重启之后的回复"},
            )
            await citizen.wait_for("重启之后的回复", timeout=10)
            texts = [
                line["text"]
                for line in (await transcript_has(http, base, token, ticket, "重启之后的回复"))[
                    "transcript"
                ]
            ]
            for expected in ("转人工", "Rasa 重启期间写的消息", "重启后我还在等", "重启之后的回复"):
                assert any(expected in t for t in texts), expected
            await call(http, "POST", f"{base}/api/handoffs/{ticket}/close", token)
            await citizen.wait_for("本次人工服务已结束")
        await citizen.sio.disconnect()

    asyncio.run(scenario())
