"""The web widget in real Chromium: the demo page with the launcher, a question and its answer,
a button, history after a reload, markup shown as text, the specialist's state."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from bot.runner import Stack
from tests.integration.test_console_browser import browser

pytestmark = pytest.mark.integration


def test_widget_on_the_demo_page(stack: Stack) -> None:
    base = stack.settings.web_url
    # Kept as test artifacts (var/test-results/screenshots), never in the repository.
    shots = stack.settings.root / "var" / "test-results" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)

    errors: list = []

    async def scenario() -> None:
        async for instance in browser():
            page = await instance.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{base}/")
            await page.click("button[aria-label^='打开']")
            chat = page.frame_locator("iframe[title='人才服务助手']")
            composer = chat.locator("textarea, input[type=text]").first
            await expect(composer).to_be_visible(timeout=10000)
            await composer.fill("张家港人才贷最多能贷多少")
            await composer.press("Enter")
            await expect(chat.locator(".msg.bot").last).to_contain_text("3000万元", timeout=5000)
            await chat.locator(".QuickReply").first.click()
            await composer.fill("<b>加粗</b>")
            await composer.press("Enter")
            await expect(chat.locator(".msg.user").last).to_contain_text("<b>加粗</b>")
            await page.screenshot(path=str(shots / "desktop.png"))
            # History after a reload, restored from the server.
            phone = await instance.new_page(viewport={"width": 360, "height": 740})
            await phone.goto(f"{base}/chat")
            await expect(phone.locator(".msg").first).to_be_visible(timeout=10000)
            await phone.locator("textarea, input[type=text]").first.fill("海宁人才公寓怎么申请")
            await phone.locator("textarea, input[type=text]").first.press("Enter")
            await expect(phone.locator(".msg.bot").last).to_contain_text("人才公寓", timeout=5000)
            await phone.reload()
            await expect(phone.locator(".msg.user")).to_contain_text(
                ["海宁人才公寓怎么申请"], timeout=10000
            )
            await phone.screenshot(path=str(shots / "phone-360.png"))
            assert errors == []

    asyncio.run(scenario())
