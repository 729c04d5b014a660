"""Fixtures that start the real Rasa server and action server once per test session, with a
fake of WeChat's servers (bot.wechat.fake) and a proxy that can make actions slow."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from bot.config import load_settings
from bot.evaluation.slow_actions import SlowActionProxy
from bot.runner import Stack, isolated
from bot.wechat.fake import FakeWeChat

WECHAT_TOKEN = "integration-wechat-token"
WECHAT_APPID = "wx5a1c0ffee0ddba11"
WECHAT_SECRET = "integration-wechat-secret"
WECHAT_AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


@pytest.fixture(scope="session")
def wechat() -> Iterator[FakeWeChat]:
    fake = FakeWeChat(WECHAT_APPID, WECHAT_SECRET, WECHAT_TOKEN, WECHAT_AES_KEY)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, wechat: FakeWeChat) -> Iterator[Stack]:
    """A running deployment on free ports with its own tracker database and token."""
    os.environ["RASA_AUTH_TOKEN"] = "integration-test-token"
    # The most verbose logs, so that the privacy tests see everything Rasa could ever log.
    os.environ["LOG_LEVEL"] = "DEBUG"
    # Specialists on duty round the clock: replies must not depend on the hour of the run.
    os.environ["HANDOFF_HOURS"] = "mon-sun 00:00-24:00"
    os.environ.pop("HANDOFF_CLOSED_DATES", None)
    os.environ.update(
        WECHAT_TOKEN=WECHAT_TOKEN,
        WECHAT_APPID=WECHAT_APPID,
        WECHAT_SECRET=WECHAT_SECRET,
        WECHAT_AES_KEY=WECHAT_AES_KEY,
        WECHAT_API_BASE=wechat.url,
    )
    settings = isolated(load_settings(), tmp_path_factory.mktemp("stack"))
    proxy = SlowActionProxy(f"http://127.0.0.1:{settings.action_port}/webhook")
    proxy.start()
    running = Stack(settings, log_dir=settings.tracker_db.parent / "logs", action_url=proxy.url)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        proxy.stop()
