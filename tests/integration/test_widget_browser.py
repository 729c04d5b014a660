"""The web widget in real Chromium against the running servers: the demo page and its launcher
by keyboard, a question and its answer, a button, markup shown as text, history (with its
buttons) after a reload, a specialist joining and leaving (also across a dropped socket),
images, feedback seen by an admin, the answer-time benchmark, and axe-core's accessibility
checks. Screenshots are kept as test artifacts (var/test-results/screenshots), never in the
repository."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any, Dict, List, Tuple

import aiohttp
import pytest
from playwright.async_api import Frame, Page, WebSocketRoute, expect

from bot.config import ROOT
from bot.evaluation.bench_widget import measure_widget_answers
from bot.handoff.rasa_client import RasaClient
from bot.handoff.staff import StaffDirectory
from bot.runner import Stack
from tests.integration.test_console_browser import browser
from tests.integration.test_console_handoff import api

pytestmark = pytest.mark.integration
PASSWORD = "widget browser password"
AXE = ROOT / "web" / "widget" / "node_modules" / "axe-core" / "axe.min.js"
MARKUP = "<img src=x onerror=\"document.title='pwned'\">"
BOT_BACK = "人工服务已结束，智能助手继续为您服务"


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> None:
    directory = StaffDirectory(stack.settings.database_url)
    directory.create("wb-wang", PASSWORD, "specialist", "王小明")
    directory.create("wb-admin", PASSWORD, "admin", "赵科长")


def shots(stack: Stack) -> Path:
    # Kept as test artifacts, never in the repository.
    path = stack.settings.root / "var" / "test-results" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def serious_accessibility_problems(target: Page | Frame) -> List[Dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page (or frame) as it is.
    Injected through the DevTools protocol, which the pages' CSP does not block."""
    assert AXE.is_file(), f"{AXE} is missing: run make widget (npm install in web/widget)"
    # Colours are judged once the page has settled: a button still fading in (a CSS transition,
    # slower on a loaded machine) has the contrast of half its colour. Endless animations (a
    # typing indicator) are not waited for.
    await target.evaluate(
        """() => Promise.all(document.getAnimations()
            .filter((a) => a.effect && a.effect.getComputedTiming().iterations !== Infinity)
            .map((a) => a.finished.catch(() => null)))"""
    )
    await target.evaluate(AXE.read_text(encoding="utf-8"))
    return await target.evaluate(
        """async () => (await axe.run(document)).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target) }))"""
    )


async def log_in(http: aiohttp.ClientSession, web_url: str, username: str) -> str:
    body = {"username": username, "password": PASSWORD}
    return (await api(http, "POST", f"{web_url}/api/login", json=body))["token"]


def png(width: int = 120, height: int = 80) -> str:
    """A small PNG as a data URL (a blue rectangle)."""
    rows = b"".join(b"\x00" + bytes([31, 111, 235]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    return "data:image/png;base64," + base64.b64encode(data + chunk(b"IEND", b"")).decode()


KEPT = (
    "[localStorage.getItem('talent-assistant-session'),"
    " localStorage.getItem('talent-assistant-secret')]"
)


async def widget_session(page: Page, other_than: str = "") -> Tuple[str, Dict[str, str]]:
    """The session the server issued to the page (once it has one, other than ``other_than``),
    and the header with its secret. Polled with evaluate: the chat's CSP forbids the string
    evaluation wait_for_function uses."""
    for _ in range(100):
        session, secret = await page.evaluate(KEPT)
        if session and secret and session != other_than:
            return session, {"X-Chat-Secret": secret}
        await asyncio.sleep(0.1)
    raise AssertionError("the page got no widget session")


async def chat_api(
    http: aiohttp.ClientSession, method: str, url: str, headers: Dict[str, str], **kwargs: Any
) -> Any:
    async with http.request(method, url, headers=headers, **kwargs) as response:
        body = await response.json()
        assert response.status < 300, (url, response.status, body)
        return body


async def ask(page: Page | Any, question: str) -> None:
    composer = page.locator(".Composer textarea")
    await composer.fill(question)
    await composer.press("Enter")


def test_widget_on_the_demo_page(stack: Stack) -> None:
    base = stack.settings.web_url
    errors: list = []

    async def scenario() -> None:
        async for instance in browser():
            page = await instance.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{base}/")
            assert await serious_accessibility_problems(page) == []
            # Keyboard: the launcher is the first stop, Enter opens, the composer has the focus.
            await page.keyboard.press("Tab")
            launcher = page.locator("button[aria-controls=talent-assistant-frame]")
            await expect(launcher).to_be_focused()
            await expect(launcher).to_have_attribute("aria-label", "打开人才服务助手在线咨询")
            await expect(launcher).to_have_attribute("aria-expanded", "false")
            await page.keyboard.press("Enter")
            frame = page.locator("iframe[title='人才服务助手']")
            chat = page.frame_locator("iframe[title='人才服务助手']")
            composer = chat.locator("textarea[aria-label='输入您的问题']")
            await expect(composer).to_be_focused(timeout=10000)
            await expect(launcher).to_have_attribute("aria-expanded", "true")
            await page.keyboard.type("张家港人才贷最多能贷多少")
            await page.keyboard.press("Enter")
            await expect(chat.locator(".msg.bot").last).to_contain_text("3000万元", timeout=5000)
            # A button of the answer, as a quick reply: shown as the citizen's message, answered.
            reply = chat.locator(".replies .QuickReply").first
            title = await reply.inner_text()
            answers = await chat.locator(".msg.bot").count()
            await reply.click()
            await expect(chat.locator(".msg.user").last).to_have_text(title)
            await expect(chat.locator(".msg.bot")).not_to_have_count(answers, timeout=5000)
            # What a user types is shown as text, never as markup.
            await ask(chat, f"<b>加粗</b>{MARKUP}")
            mine = chat.locator(".msg.user").last
            await expect(mine).to_contain_text(f"<b>加粗</b>{MARKUP}")
            assert await mine.locator("b, img").count() == 0
            assert await page.title() != "pwned"
            await page.wait_for_timeout(500)
            inner = page.frame(url=lambda url: "/chat" in url)
            assert inner is not None
            assert await serious_accessibility_problems(inner) == []
            await page.screenshot(path=str(shots(stack) / "desktop.png"))
            # Escape closes the window and gives the focus back to the launcher; Space reopens.
            await page.keyboard.press("Escape")
            await expect(frame).to_be_hidden()
            await expect(launcher).to_be_focused()
            await expect(launcher).to_have_attribute("aria-expanded", "false")
            await page.keyboard.press(" ")
            await expect(composer).to_be_focused(timeout=5000)

            # The full page at 360 px; history and its buttons after a reload, from the server.
            phone = await instance.new_page(viewport={"width": 360, "height": 740})
            phone.on("pageerror", lambda e: errors.append(str(e)))
            await phone.goto(f"{base}/chat")
            await expect(phone.locator(".msg").first).to_be_visible(timeout=10000)
            await ask(phone, "海宁人才公寓怎么申请")
            await expect(phone.locator(".msg.bot").last).to_contain_text("人才公寓", timeout=5000)
            await expect(phone.locator(".replies .QuickReply").first).to_be_visible()
            buttons = await phone.locator(".replies .QuickReply").all_inner_texts()
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"the page is {width} px wide at 360 px"
            await phone.wait_for_timeout(300)
            await phone.screenshot(path=str(shots(stack) / "phone-360.png"))
            await phone.reload()
            await expect(phone.locator(".msg.user")).to_contain_text(
                ["海宁人才公寓怎么申请"], timeout=10000
            )
            await expect(phone.locator(".replies .QuickReply")).to_have_text(buttons)
            assert await serious_accessibility_problems(phone) == []
            await phone.screenshot(path=str(shots(stack) / "phone-360-reloaded.png"))
            # The history is this browser's only: without the session's secret, nothing.
            session, secret = await widget_session(phone)
            async with aiohttp.ClientSession() as http:
                url = f"{base}/api/chat/history?session_id={session}"
                lines = (await chat_api(http, "GET", url, secret))["messages"]
                assert any(line["text"] == "海宁人才公寓怎么申请" for line in lines)
                for headers in ({}, {"X-Chat-Secret": "x" * 43}):
                    async with http.get(url, headers=headers) as response:
                        assert response.status == 404
                        assert "人才公寓" not in await response.text()
            assert errors == []

    asyncio.run(scenario())


def test_specialist_joins_and_leaves(stack: Stack, accounts: None) -> None:
    """转人工 in the widget; a specialist claims and writes (the banner and 人工客服 label show);
    the socket drops while the specialist writes and the citizen types (nothing is lost or
    doubled after the reconnect); the specialist closes (the bot is back, the rating)."""
    base = stack.settings.web_url
    errors: list = []

    # The socket's websocket goes through a relay the test can cut.
    link: Dict[str, Any] = {"down": False, "open": []}

    async def relay(ws: WebSocketRoute) -> None:
        if link["down"]:
            # Refused: an invalid engine.io packet fails the attempt and socket.io retries.
            # (Closing the mocked socket before it opens would leave the attempt hanging.)
            ws.send("refused")
            return
        link["open"].append((ws, ws.connect_to_server()))

    async def scenario() -> None:
        async for instance in browser():
            page = await instance.new_page(viewport={"width": 360, "height": 740})
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.route_web_socket("**/socket.io/**", relay)
            await page.goto(f"{base}/chat")
            session, secret = await widget_session(page)
            await ask(page, "转人工")
            banner = page.locator(".banner")
            await expect(banner).to_have_text("正在为您转接人工客服，请稍候", timeout=8000)
            await expect(page.locator(".replies .QuickReply")).to_have_text(["取消人工"])
            await page.screenshot(path=str(shots(stack) / "handoff-waiting-360.png"))

            async with aiohttp.ClientSession() as http:
                token = await log_in(http, base, "wb-wang")
                waiting = await api(http, "GET", f"{base}/api/handoffs?status=waiting", token)
                ticket = next(t["id"] for t in waiting if t["sender_id"] == session)
                await api(http, "POST", f"{base}/api/handoffs/{ticket}/claim", token)
                started = time.monotonic()
                text = f"您好，我是王专员。{MARKUP}请问有什么可以帮您？"
                await api(
                    http,
                    "POST",
                    f"{base}/api/handoffs/{ticket}/messages",
                    token,
                    json={"text": text},
                )
                # Labelled from the message itself, not from the (3 s) state poll.
                staff = page.locator(".msg.staff")
                await expect(staff.last).to_contain_text(text, timeout=5000)
                await expect(staff.last.locator(".who")).to_have_text("人工客服 王**")
                assert time.monotonic() - started < 2.5
                assert await staff.locator("img").count() == 0
                await expect(banner).to_have_text("人工客服 王** 为您服务")
                assert "王小明" not in await page.content()
                await expect(page.locator("[role=log]")).to_contain_text("人工客服 王** 为您服务")
                await page.wait_for_timeout(300)
                await page.screenshot(path=str(shots(stack) / "handoff-active-360.png"))
                assert await serious_accessibility_problems(page) == []

                # The socket drops: the specialist writes and the citizen types meanwhile.
                link["down"] = True
                for ws, server in link["open"]:
                    await ws.close()
                    await server.close()
                await api(
                    http,
                    "POST",
                    f"{base}/api/handoffs/{ticket}/messages",
                    token,
                    json={"text": "断线期间专员发来的消息"},
                )
                await ask(page, "我想问一下人才贷的利率")
                offline = page.locator(".msg.user", has_text="人才贷的利率")
                await expect(offline.locator(".pending")).to_have_text("网络恢复后发送")
                history_url = f"{base}/api/chat/history?session_id={session}"
                for _ in range(100):  # until the outbox has delivered it to Rasa
                    lines = (await chat_api(http, "GET", history_url, secret))["messages"]
                    if any(line["text"] == "断线期间专员发来的消息" for line in lines):
                        break
                    await asyncio.sleep(0.1)
                assert await staff.filter(has_text="断线期间").count() == 0
                await expect(banner).to_have_text("网络连接已断开，正在重新连接…", timeout=5000)
                await page.screenshot(path=str(shots(stack) / "reconnecting-360.png"))
                link["down"] = False
                await expect(staff.filter(has_text="断线期间专员发来的消息")).to_have_count(
                    1, timeout=15000
                )
                for _ in range(50):
                    lines = (await chat_api(http, "GET", history_url, secret))["messages"]
                    if any(line["text"] == "我想问一下人才贷的利率" for line in lines):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the message typed while offline was not sent")
                await page.wait_for_timeout(500)
                await expect(staff.filter(has_text="我是王专员")).to_have_count(1)
                await expect(offline).to_have_count(1)
                await expect(offline.locator(".pending")).to_have_count(0)
                await expect(page.locator(".msg.user", has_text="转人工")).to_have_count(1)
                await expect(banner).to_have_text("人工客服 王** 为您服务")

                # The specialist closes: the bot is back, visibly and for screen readers.
                await api(http, "POST", f"{base}/api/handoffs/{ticket}/close", token)
            await expect(page.locator(".SystemMessage")).to_have_text(BOT_BACK, timeout=5000)
            await expect(banner).to_have_count(0)
            await expect(page.locator("[role=log]")).to_contain_text(BOT_BACK)
            await expect(page.locator(".replies .QuickReply")).to_have_text(
                ["5 分", "4 分", "3 分", "2 分", "1 分"]
            )
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(shots(stack) / "handoff-closed-360.png"))
            await page.locator(".replies .QuickReply", has_text="5 分").click()
            await expect(page.locator(".msg.bot").last).to_contain_text("感谢", timeout=5000)
            await ask(page, "海宁人才公寓怎么申请")
            await expect(page.locator(".msg.bot").last).to_contain_text("人才公寓", timeout=5000)
            # After a reload: the specialist's messages are still labelled, the end still shown.
            await page.reload()
            await expect(page.locator(".SystemMessage")).to_have_text(BOT_BACK, timeout=10000)
            await expect(staff.first.locator(".who")).to_have_text("人工客服 王**")
            await expect(page.locator(".msg.user", has_text="5 分")).to_have_count(1)
            assert errors == []

    asyncio.run(scenario())


def test_images_in_answers_and_history(stack: Stack) -> None:
    base = stack.settings.web_url

    async def scenario() -> None:
        async for instance in browser():
            page = await instance.new_page(viewport={"width": 360, "height": 740})
            await page.goto(f"{base}/chat")
            await ask(page, "你好")
            await expect(page.locator(".msg.bot")).not_to_have_count(1, timeout=5000)
            session, _ = await widget_session(page)
            # A Rasa image message (as a response with `image:` would send it).
            rasa = RasaClient(stack.settings.rasa_url, stack.token)
            try:
                await rasa.append_events(
                    session,
                    [
                        {
                            "event": "bot",
                            "text": "办理地点示意图如下",
                            "data": {"image": png()},
                            "metadata": {"alt": "海宁人才服务中心位置示意图"},
                        }
                    ],
                )
            finally:
                await rasa.close()
            image = page.locator(".msg.bot img[alt='海宁人才服务中心位置示意图']")
            await expect(image).to_be_visible(timeout=5000)
            assert await image.evaluate("img => img.naturalWidth") == 120
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(shots(stack) / "image-360.png"))
            await page.reload()
            await expect(image).to_be_visible(timeout=10000)
            await expect(page.locator(".msg.bot", has_text="办理地点示意图如下")).to_have_count(1)
            assert await serious_accessibility_problems(page) == []

    asyncio.run(scenario())


def test_admin_sees_feedback_from_the_widget(stack: Stack, accounts: None) -> None:
    base = stack.settings.web_url

    async def scenario() -> None:
        async for instance in browser():
            page = await instance.new_page(viewport={"width": 360, "height": 740})
            await page.goto(f"{base}/chat")
            await ask(page, "张家港人才贷最多能贷多少")
            answer = page.locator(".msg.bot", has_text="3000万元").last
            await expect(answer).to_be_visible(timeout=5000)
            unhelpful = page.locator(".feedback button", has_text="没帮助").last
            await unhelpful.click()
            await expect(unhelpful).to_have_attribute("aria-pressed", "true")
            await expect(page.locator(".feedback .thanks")).to_be_visible()
            session, secret = await widget_session(page)
            async with aiohttp.ClientSession() as http:
                # An answer with markup in it, to see that the page shows it as text.
                feedback = {"session_id": session, "answer": f"{MARKUP}示例回答", "helpful": False}
                await chat_api(http, "POST", f"{base}/api/chat/feedback", secret, json=feedback)

            admin = await instance.new_page(viewport={"width": 1280, "height": 900})
            await admin.goto(f"{base}/console/login")
            await admin.fill("#username", "wb-admin")
            await admin.fill("#password", PASSWORD)
            await admin.click("#login-button")
            await admin.wait_for_url(f"{base}/console")
            await admin.click("text=答案反馈")
            await admin.wait_for_url(f"{base}/console/feedback")
            await expect(admin.locator("#unhelpful")).not_to_have_text("–", timeout=5000)
            assert int(await admin.locator("#unhelpful").inner_text()) >= 2
            rows = admin.locator("#unhelpful-table tbody tr")
            await expect(rows.filter(has_text="3000万元")).to_have_count(1)
            await expect(rows.filter(has_text=f"{MARKUP}示例回答")).to_have_count(1)
            assert await admin.locator("#unhelpful-table img").count() == 0
            assert await admin.title() != "pwned"
            await admin.screenshot(path=str(shots(stack) / "console-feedback.png"))
            # Specialists neither see the link nor open the page.
            async with aiohttp.ClientSession() as http:
                token = await log_in(http, base, "wb-wang")
                async with http.get(
                    f"{base}/api/feedback", headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    assert response.status == 403

    asyncio.run(scenario())


def test_a_kept_session_without_its_secret_starts_anew(stack: Stack) -> None:
    """A session id kept by an older widget (no secret), or with a secret the server does not
    accept, is replaced by a new session from the server; the chat works as before, here in
    WeChat's in-app browser (its user agent)."""
    base = stack.settings.web_url
    wechat = (
        "Mozilla/5.0 (Linux; Android 13; V2203A) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/111.0.5563.116 Mobile Safari/537.36 XWEB/1160065 MicroMessenger/8.0.47.2560"
        " WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"
    )

    async def scenario() -> None:
        async for instance in browser():
            page = await instance.new_page(
                viewport={"width": 360, "height": 740}, user_agent=wechat
            )
            await page.goto(f"{base}/chat")
            first, _ = await widget_session(page)
            for kept in (
                "localStorage.removeItem('talent-assistant-secret')",
                "localStorage.setItem('talent-assistant-secret', 'x'.repeat(43))",
            ):
                await page.evaluate(kept)
                await page.reload()
                session, secret = await widget_session(page, other_than=first)
                assert session != first
                await ask(page, "张家港人才贷最多能贷多少")
                await expect(page.locator(".msg.bot").last).to_contain_text(
                    "3000万元", timeout=8000
                )
                async with aiohttp.ClientSession() as http:
                    url = f"{base}/api/chat/history?session_id={session}"
                    lines = (await chat_api(http, "GET", url, secret))["messages"]
                    assert [line["role"] for line in lines][:1] == ["user"]
                first = session

    asyncio.run(scenario())


def test_answer_time_benchmark_in_the_browser(stack: Stack) -> None:
    result = measure_widget_answers(stack.settings.web_url, rounds=3)
    assert result["rounds"] == 3 and "performance.now()" in result["measured"]
    figures = [result[k] for k in ("min_ms", "median_ms", "p95_ms", "max_ms")]
    assert 0 < figures[0] <= figures[1] <= figures[2] <= figures[3] < 15000, figures
    print(json.dumps(result, ensure_ascii=False))
