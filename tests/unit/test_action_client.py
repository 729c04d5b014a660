"""Rasa's endpoint calls reuse connections and send the JSON Rasa sent (bot/action_client.py)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Dict, List

import pytest
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from bot import action_client


@pytest.fixture(autouse=True)
def restored(action_client_restored: None) -> None:
    """What ``apply`` changes is put back after each test (conftest.py)."""


@pytest.fixture()
def patched() -> None:
    action_client.apply()


async def _serve(seen: Dict[str, Any]) -> web.AppRunner:
    async def webhook(request: web.Request) -> web.Response:
        seen.setdefault("peers", []).append(request.transport.get_extra_info("peername"))
        seen.setdefault("bodies", []).append(await request.text())
        seen.setdefault("auth", []).append(request.headers.get("Authorization"))
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _url(runner: web.AppRunner) -> str:
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}/webhook"


@pytest.mark.usefixtures("patched")
def test_calls_reuse_one_connection_and_send_the_same_json() -> None:
    seen: Dict[str, Any] = {}
    payload = {"tracker": {"text": "人才公寓/申请", "n": 1.5, "ok": None, "list": [1, 2]}}

    async def main() -> List[Any]:
        runner = await _serve(seen)
        config = EndpointConfig(_url(runner), basic_auth={"username": "u", "password": "p"})
        try:
            return [await config.request(json=payload, method="post") for _ in range(3)]
        finally:
            await runner.cleanup()

    answers = asyncio.run(main())
    assert answers == [{"events": [], "responses": []}] * 3
    assert len(set(seen["peers"])) == 1  # one client port: one kept-alive connection
    assert [json.loads(body) for body in seen["bodies"]] == [payload] * 3
    assert all(auth and auth.startswith("Basic ") for auth in seen["auth"])


@pytest.mark.usefixtures("patched")
def test_each_event_loop_gets_its_own_session() -> None:
    config = EndpointConfig("http://127.0.0.1:9/webhook")

    async def grab() -> Any:
        async with config.session() as session:
            return session

    first, again = asyncio.run(grab()), asyncio.run(grab())
    assert first is not again


def test_reuse_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTION_KEEPALIVE_SECONDS", "0")
    action_client.apply()
    seen: Dict[str, Any] = {}

    async def main() -> None:
        runner = await _serve(seen)
        config = EndpointConfig(_url(runner))
        try:
            for _ in range(2):
                await config.request(json={"n": 1}, method="post")
        finally:
            await runner.cleanup()

    asyncio.run(main())
    assert len(set(seen["peers"])) == 2


def test_a_bad_keepalive_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTION_KEEPALIVE_SECONDS", "two")
    with pytest.raises(SystemExit, match="ACTION_KEEPALIVE_SECONDS"):
        action_client.keepalive_seconds()


@pytest.mark.parametrize(
    "value",
    [
        {"a": "人才/公寓", "b": [1, 2.5, None, True], "c": {"d": -0.1, "e": 1e-7}},
        {1: "x"},
        10**30,
        (1, 2),
        "\ud800",  # a lone surrogate: not UTF-8
        "emoji 😀 <script>",
    ],
)
def test_dumps_gives_what_json_gives(value: Any) -> None:
    assert json.loads(action_client.dumps(value)) == json.loads(json.dumps(value))


def test_dumps_sends_what_json_lacks_as_null() -> None:
    assert json.loads(action_client.dumps([float("nan"), float("inf"), 1.5])) == [None, None, 1.5]


def test_dumps_falls_back_to_json_for_what_orjson_refuses() -> None:
    class Text(str):
        pass

    with pytest.raises(TypeError):
        action_client.dumps({"x": object()})
    assert json.loads(action_client.dumps({"x": Text("字")})) == {"x": "字"}


@pytest.mark.usefixtures("patched")
def test_the_sessions_are_closed_when_the_server_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core import run

    closed: List[str] = []

    async def rasa_close(app: Any, loop: Any) -> None:
        closed.append("rasa")

    monkeypatch.setattr(run, "close_resources", rasa_close)
    action_client.apply()
    action_client.apply()  # twice is once

    async def main() -> Any:
        async with EndpointConfig("http://127.0.0.1:9/webhook").session() as session:
            pass
        await run.close_resources(None, None)
        return session

    session = asyncio.run(main())
    assert closed == ["rasa"]
    assert session.closed


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "config/scaled/endpoints.yml"])
def test_the_domain_goes_only_to_the_actions_that_read_it(
    endpoints: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import read_endpoint_config

    from bot.config import ROOT

    for name in re.findall(r"\$\{(\w+)\}", (ROOT / endpoints).read_text(encoding="utf-8")):
        monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "x")
    monkeypatch.setenv("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook")
    config = read_endpoint_config(str(ROOT / endpoints), "action_endpoint")
    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = DialogueStateTracker("citizen", domain.slots)
    answer = RemoteAction("action_answer_policy", config)._action_call_format(tracker, domain)
    validate = RemoteAction("validate_application_status_form", config)
    assert "domain" not in answer
    # The form's validation reads its required slots from the domain.
    assert validate._action_call_format(tracker, domain)["domain"]["forms"]
