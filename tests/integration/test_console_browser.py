"""The staff console in real Chromium (Debian's, driven by Playwright) against the running
servers: a specialist logs in, sees a new ticket and the citizen's messages live, claims,
replies with a canned reply, the citizen receives it on the widget's socket, the specialist
closes and the bot answers again; an admin creates an account; markup stays text."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from bot.evaluation.chromium import chromium
from bot.handoff.staff import StaffDirectory
from bot.runner import Stack
from tests.integration.citizen import Citizen

pytestmark = pytest.mark.integration
PASSWORD = "browser test password"
XSS = "<img src=x onerror=\"document.title='pwned'\">请问人才贷"


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> None:
    directory = StaffDirectory(stack.settings.database_url)
    directory.create("br-li", PASSWORD, "specialist", "李专员")
    directory.create("br-admin", PASSWORD, "admin", "王科长")


async def browser() -> AsyncIterator[Browser]:
    async with chromium() as instance:
        yield instance


async def log_in(page: Page, base: str, username: str) -> None:
    await page.goto(f"{base}/console/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url(f"{base}/console")


def test_specialist_console_end_to_end(stack: Stack, accounts: None) -> None:
    base = stack.settings.web_url

    async def scenario() -> None:
        async for instance in browser():
            page = await instance.new_page()
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            # A wrong password is refused with a message on the page.
            await page.goto(f"{base}/console/login")
            await page.fill("#username", "br-li")
            await page.fill("#password", "wrong password!")
            await page.click("#login-button")
            await expect(page.locator("#login-error")).to_contain_text("用户名或密码错误")
            await log_in(page, base, "br-li")

            citizen = Citizen(stack.settings.rasa_url)
            await citizen.connect()
            await citizen.say("转人工")
            await citizen.wait_for("排在第")
            await citizen.say(XSS)
            shown_at = time.monotonic()
            ticket = page.locator(".ticket", has_text="用户请求人工").first
            await expect(ticket).to_be_visible(timeout=2000)
            assert time.monotonic() - shown_at < 2.0
            await ticket.click()
            transcript = page.locator("#transcript")
            # The citizen's markup is shown as text, never run.
            await expect(transcript).to_contain_text("<img src=x", timeout=2000)
            assert await transcript.locator("img").count() == 0
            assert await page.title() != "pwned"

            await page.click("#claim")
            await expect(page.locator("#reply-area")).to_be_visible()
            await page.click(".chip >> text=问候")
            assert "人才服务专员" in await page.input_value("#reply")
            await page.fill("#reply", "您好，我是李专员，请问您想了解人才贷的哪方面？")
            sent_at = time.monotonic()
            await page.click("#send")
            received = await citizen.wait_for("我是李专员", timeout=5)
            assert received["_at"] - sent_at < 1.5
            await expect(transcript).to_contain_text("专员 br-li")

            # A new message of the citizen shows without reloading.
            await citizen.say("想问额度")
            await expect(transcript).to_contain_text("想问额度", timeout=2000)

            await page.fill("#note", "客户关心额度")
            await page.click("#note-form button")
            await expect(page.locator("#notes")).to_contain_text("客户关心额度")

            await page.click("#close")
            await citizen.wait_for("本次人工服务已结束")
            await citizen.say("海宁人才公寓怎么申请")
            await citizen.wait_for("人才公寓")
            await page.click("[data-tab=closed]")
            await expect(page.locator(".ticket").first).to_contain_text("结束于")
            await citizen.sio.disconnect()

    asyncio.run(scenario())


def test_admin_manages_accounts(stack: Stack, accounts: None) -> None:
    base = stack.settings.web_url

    async def scenario() -> None:
        async for instance in browser():
            page = await instance.new_page()
            await log_in(page, base, "br-admin")
            await page.click("text=账号管理")
            await page.wait_for_url(f"{base}/console/staff")
            await page.fill("#new-username", "br-new")
            await page.fill("#new-display", "<b>新专员</b>")
            await page.fill("#new-password", "another good password")
            await page.click("#create-form button")
            row = page.locator("#staff-table tr[data-username=br-new]")
            await expect(row).to_contain_text("<b>新专员</b>")
            await row.locator("text=停用").click()
            await expect(row).to_contain_text("停用")
            # A specialist cannot open the page.
            specialist = await instance.new_page()
            await log_in(specialist, base, "br-li")
            response = await specialist.goto(f"{base}/console/staff")
            assert response is not None and response.status == 403

    asyncio.run(scenario())
