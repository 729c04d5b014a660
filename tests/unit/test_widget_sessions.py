"""Widget conversations answer only the browser that owns them (docs/contract.md, "Widget
conversation access"): the server issues a session id and its secret; history, state and
feedback refuse a missing, wrong or foreign secret, and sender ids of other channels (WeChat
openids, REST senders), with 404, a JSON error and no data. Secrets survive a restart of the
web server and cannot be made without the server's key."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Optional

import pytest
from aiohttp.test_utils import TestClient

from bot.web.auth import CHAT_SECRET_HEADER, SESSION_ID, widget_secret
from tests.unit.test_web_api import open_ticket, run, write_tracker_events

WECHAT_OPENID = "oQx7R5wZ_kq3LmNf0AbCdEfGhIjK"
REST_SENDER = "demo-rest-sender-0001"
SECRET_DATA = ("HN-2024-00103", "0003", "138****0003", "张家港人才贷")


@pytest.fixture
def settings(web_settings: Any) -> Any:
    return web_settings


def other_channels(settings: Any) -> None:
    """Conversations of WeChat and REST citizens with what must never leak."""
    for sender in (WECHAT_OPENID, REST_SENDER, "demo"):
        write_tracker_events(
            settings.tracker_db,
            sender,
            [
                {"event": "user", "timestamp": 1.0, "text": "HN-2024-00103 0003"},
                {
                    "event": "bot",
                    "timestamp": 1.1,
                    "text": "申请 HN-2024-00103（138****0003）：审核中。张家港人才贷",
                },
            ],
        )
    open_ticket(settings, sender=WECHAT_OPENID, summary="人才贷")


async def start(client: TestClient) -> Dict[str, str]:
    response = await client.post("/api/chat/session")
    assert response.status == 201
    body = await response.json()
    assert set(body) == {"session_id", "secret"}
    assert SESSION_ID.match(body["session_id"]) and len(body["secret"]) >= 43
    return body


def headers(secret: Optional[str]) -> Dict[str, str]:
    return {} if secret is None else {CHAT_SECRET_HEADER: secret}


async def refused(client: TestClient, session_id: str, secret: Optional[str]) -> None:
    """Every widget endpoint refuses the pair: 404, a JSON error, nothing of the conversation."""
    for method, path, body in (
        ("GET", f"/api/chat/history?session_id={session_id}", None),
        ("GET", f"/api/chat/state?session_id={session_id}", None),
        ("POST", "/api/chat/feedback", {"session_id": session_id, "answer": "x", "helpful": True}),
    ):
        response = await client.request(method, path, json=body, headers=headers(secret))
        text = await response.text()
        assert response.status == 404, (path, secret, text)
        assert response.content_type == "application/json"
        payload = json.loads(text)
        assert set(payload) == {"error"} and "会话" in payload["error"]
        assert not any(value in text for value in SECRET_DATA), text


def test_a_session_answers_only_with_its_secret(settings: Any) -> None:
    other_channels(settings)

    async def scenario(client: TestClient) -> None:
        mine, theirs = await start(client), await start(client)
        assert mine["session_id"] != theirs["session_id"] and mine["secret"] != theirs["secret"]
        session_id = mine["session_id"]
        ok = await client.get(
            f"/api/chat/history?session_id={session_id}", headers=headers(mine["secret"])
        )
        assert ok.status == 200 and await ok.json() == {"messages": []}
        state = await client.get(
            f"/api/chat/state?session_id={session_id}", headers=headers(mine["secret"])
        )
        assert await state.json() == {"handoff": "none", "specialist": None}
        await refused(client, session_id, None)  # missing
        await refused(client, session_id, "")  # empty
        await refused(client, session_id, mine["secret"][:-1] + "A")  # wrong
        await refused(client, session_id, theirs["secret"])  # another browser's
        await refused(client, session_id, mine["secret"] + "长")  # not even ASCII

    run(settings, scenario)


@pytest.mark.parametrize("sender", [WECHAT_OPENID, REST_SENDER, "demo", "wx/用户 1"])
def test_other_channels_conversations_are_never_shown(settings: Any, sender: str) -> None:
    other_channels(settings)

    async def scenario(client: TestClient) -> None:
        issued = await start(client)
        for secret in (None, issued["secret"], "x" * 43, widget_secret("guess", sender)):
            await refused(client, sender, secret)

    run(settings, scenario)


def test_secrets_survive_a_restart_and_need_the_servers_key(settings: Any) -> None:
    issued: Dict[str, str] = {}

    async def first(client: TestClient) -> None:
        issued.update(await start(client))

    async def after_restart(client: TestClient) -> None:
        response = await client.get(
            f"/api/chat/history?session_id={issued['session_id']}",
            headers=headers(issued["secret"]),
        )
        assert response.status == 200

    async def other_key(client: TestClient) -> None:
        await refused(client, issued["session_id"], issued["secret"])

    run(settings, first)
    run(settings, after_restart)  # a new web server: the key is read from var/secrets
    assert (settings.var_dir / "secrets" / "widget_secret").is_file()
    # Nothing about a session id alone gives its secret: another key, another secret.
    assert widget_secret("another key", issued["session_id"]) != issued["secret"]
    elsewhere = dataclasses.replace(settings, var_dir=settings.var_dir.parent / "other-var")
    run(elsewhere, other_key)
