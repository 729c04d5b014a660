"""Operations endpoints: who may scrape metrics, what they report, and readiness."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import metrics
from bot.handoff.tickets import HandoffService
from bot.web.app import create_app


def test_only_local_direct_or_token_scrapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    assert metrics.may_scrape("127.0.0.1", {})
    assert metrics.may_scrape("::1", {})
    assert not metrics.may_scrape("10.0.0.5", {})
    # Through the reverse proxy, the peer is loopback but the request is not local.
    assert not metrics.may_scrape("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"})
    monkeypatch.setenv("METRICS_TOKEN", "s3cret")
    assert metrics.may_scrape("10.0.0.5", {"Authorization": "Bearer s3cret"})
    assert not metrics.may_scrape("10.0.0.5", {"Authorization": "Bearer wrong"})


def test_handoff_gauges() -> None:
    text = metrics.handoff_exposition(
        {"waiting": 2, "active": 1, "closed": 7, "undelivered_messages": 3}
    ).decode()
    assert 'talent_handoffs{status="waiting"} 2.0' in text
    assert "talent_handoffs_opened 10.0" in text
    assert "talent_staff_messages_undelivered 3.0" in text


@pytest.fixture
def settings(web_settings: Any) -> Any:
    # Nothing listens on port 9: Rasa is "down".
    return dataclasses.replace(web_settings, rasa_port=9, rasa_host="127.0.0.1")


def test_web_metrics_and_readiness(settings: Any) -> None:
    HandoffService(settings.database_url).open_ticket("c1", "socketio", "user_request", "补贴")

    async def main() -> None:
        app = create_app(settings, rasa_token="t", run_workers=False)
        async with TestClient(TestServer(app)) as client:
            scraped = await client.get("/metrics")
            assert scraped.status == 200
            body = await scraped.text()
            assert 'talent_handoffs{status="waiting"} 1.0' in body
            assert "talent_handoffs_opened 1.0" in body
            # The process's own metrics are exported beside the tickets' (the default registry).
            assert "# TYPE talent_messages_total counter" in body
            proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
            assert proxied.status == 404
            ready = await client.get("/ready")
            assert ready.status == 503
            checks = (await ready.json())["checks"]
            assert checks == {"database": "ok", "tracker_store": "ok", "rasa": "unreachable"}
            assert (await client.get("/health")).status == 200

    asyncio.run(main())
