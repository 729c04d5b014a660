"""The whole handoff over real Rasa, action and web servers: a citizen on the web widget's
socket.io channel asks for a person, a specialist claims, answers and closes through the
console API, the citizen receives it all on the same socket, and the bot answers again."""

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
PASSWORD = "integration password"


@pytest.fixture(scope="module")
def specialist(stack: Stack) -> str:
    directory = StaffDirectory(stack.settings.database_url)
    directory.create("it-zhang", PASSWORD, "specialist", "张专员")
    return "it-zhang"


async def api(
    session: aiohttp.ClientSession, method: str, url: str, token: str = "", **kwargs: Any
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, headers=headers, **kwargs) as response:
        body = await response.json()
        assert response.status < 300, (url, response.status, body)
        return body


def test_specialist_answers_on_the_citizens_socket(stack: Stack, specialist: str) -> None:
    web_url = stack.settings.web_url

    async def scenario() -> None:
        citizen = Citizen(stack.settings.rasa_url)
        await citizen.connect()
        async with aiohttp.ClientSession() as http:
            login = await api(
                http,
                "POST",
                f"{web_url}/api/login",
                json={"username": specialist, "password": PASSWORD},
            )
            token = login["token"]
            await citizen.say("张家港人才贷最多能贷多少")
            await citizen.wait_for("3000万元")
            await citizen.say("我要找人工")
            await citizen.wait_for("排在第")
            waiting = await api(http, "GET", f"{web_url}/api/handoffs?status=waiting", token)
            ticket = next(t for t in waiting if t["sender_id"] == citizen.session_id)
            assert ticket["channel"] == "socketio"
            # What the citizen writes while waiting is recorded, not answered, and shown.
            count = len(citizen.received)
            await citizen.say("我想问一下人才贷的利率")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                detail = await api(http, "GET", f"{web_url}/api/handoffs/{ticket['id']}", token)
                if any(line["text"] == "我想问一下人才贷的利率" for line in detail["transcript"]):
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the waiting message did not reach the transcript")
            assert len(citizen.received) == count
            assert [line["role"] for line in detail["transcript"]][:2] == ["user", "bot"]
            await api(http, "POST", f"{web_url}/api/handoffs/{ticket['id']}/claim", token)
            sent_at = time.monotonic()
            await api(
                http,
                "POST",
                f"{web_url}/api/handoffs/{ticket['id']}/messages",
                token,
                json={"text": "您好，我是张专员，利率请以合作银行公布为准。"},
            )
            reply = await citizen.wait_for("我是张专员", timeout=5)
            assert reply["_at"] - sent_at < 1.0, reply["_at"] - sent_at
            await api(http, "POST", f"{web_url}/api/handoffs/{ticket['id']}/close", token)
            closing = await citizen.wait_for("本次人工服务已结束")
            assert closing["quick_replies"][0]["title"] == "5 分"
            await citizen.say(closing["quick_replies"][0]["payload"])
            await citizen.wait_for("感谢您的评价")
            await citizen.say("海宁人才公寓怎么申请")
            await citizen.wait_for("人才公寓")
            detail = await api(http, "GET", f"{web_url}/api/handoffs/{ticket['id']}", token)
            assert detail["status"] == "closed" and detail["rating"] == 5
            roles = {line["role"] for line in detail["transcript"]}
            assert roles == {"user", "bot", "staff"}
        await citizen.sio.disconnect()

    asyncio.run(scenario())


def test_socketio_through_the_web_server(stack: Stack) -> None:
    """A page served by the web server reaches Rasa's socket.io on its own origin, over the
    websocket and over long-polling (Rasa 3.6 refuses other origins)."""

    async def scenario() -> None:
        for transport in ("websocket", "polling"):
            citizen = Citizen(stack.settings.web_url, transports=[transport])
            await citizen.connect()
            await citizen.say("张家港人才贷最多能贷多少")
            await citizen.wait_for("3000万元")
            await citizen.sio.disconnect()

    asyncio.run(scenario())


def test_polling_handshake_from_a_page_of_the_web_server(stack: Stack) -> None:
    import urllib.request

    request = urllib.request.Request(
        f"{stack.settings.web_url}/socket.io/?EIO=4&transport=polling",
        headers={"Origin": stack.settings.web_url},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert '"sid"' in response.read().decode("utf-8")
