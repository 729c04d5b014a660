"""The console API and pages on an in-process web server (aiohttp's test client): login and
lockout, roles, CSRF, bad bodies (4xx, never 5xx), the handoff flow, outbox delivery to a
fake Rasa HTTP API, escaping."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.handoff.outbox import Outbox
from bot.handoff.rasa_client import RasaClient
from bot.handoff.staff import StaffDirectory
from bot.handoff.tickets import HandoffService
from bot.web.app import create_app
from bot.web.auth import CHAT_SECRET_HEADER, CSRF_HEADER, SESSION_COOKIE, widget_secret

PASSWORD = "a good long password"
Scenario = Callable[[TestClient], Awaitable[None]]


@pytest.fixture
def settings(web_settings: Any) -> Any:
    return web_settings


@pytest.fixture
def staff(settings: Any) -> StaffDirectory:
    directory = StaffDirectory(settings.database_url)
    directory.create("zhang", PASSWORD, "specialist", "张专员")
    directory.create("li", PASSWORD, "specialist", "李专员")
    directory.create("boss", PASSWORD, "admin", "王科长")
    return directory


def run(settings: Any, scenario: Scenario, **kwargs: Any) -> None:
    async def main() -> None:
        app = create_app(settings, rasa_token="t", run_workers=False, **kwargs)
        async with TestClient(TestServer(app)) as client:
            await scenario(client)

    asyncio.run(main())


async def login(client: TestClient, username: str) -> str:
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return (await response.json())["token"]


def auth(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def chat_secret(settings: Any, session: str) -> Dict[str, str]:
    """The header of a widget session, as if the server had issued ``session`` to the test."""
    return {CHAT_SECRET_HEADER: widget_secret(settings.widget_secret(), session)}


def open_ticket(settings: Any, sender: str = "citizen-1", summary: str = "人才贷") -> int:
    return (
        HandoffService(settings.database_url)
        .open_ticket(sender, "socketio", "user_request", summary)
        .ticket_id
    )


def test_login_gives_the_spec_fields_and_wrong_passwords_lock(settings: Any, staff: Any) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.post("/api/login", json={"username": "zhang", "password": PASSWORD})
        body = await response.json()
        assert response.status == 200 and set(body) == {"token", "username", "role"}
        assert body["role"] == "specialist"
        cookie = response.headers["Set-Cookie"]
        assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        wrong = {"username": "li", "password": "not the password"}
        for _ in range(5):
            assert (await client.post("/api/login", json=wrong)).status == 401
        locked = await client.post("/api/login", json={"username": "li", "password": PASSWORD})
        assert locked.status == 401 and "锁定" in (await locked.json())["error"]
        unknown = await client.post("/api/login", json={"username": "nobody", "password": "x"})
        assert unknown.status == 401 and (await unknown.json())["error"] == "用户名或密码错误"

    run(settings, scenario)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/api/handoffs", None),
        ("GET", "/api/handoffs/1", None),
        ("POST", "/api/handoffs/1/claim", {}),
        ("POST", "/api/handoffs/1/messages", {"text": "x"}),
        ("POST", "/api/handoffs/1/close", {}),
        ("GET", "/api/staff", None),
        ("GET", "/api/stream", None),
    ],
)
def test_every_endpoint_but_login_needs_a_token(
    settings: Any, staff: Any, method: str, path: str, body: Any
) -> None:
    async def scenario(client: TestClient) -> None:
        for headers in ({}, auth("wrong-token"), {"Authorization": "Basic abc"}):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status == 401, (path, headers)
            assert "error" in await response.json()

    run(settings, scenario)


def test_roles(settings: Any, staff: Any) -> None:
    async def scenario(client: TestClient) -> None:
        specialist = await login(client, "zhang")
        admin = await login(client, "boss")
        assert (await client.get("/api/staff", headers=auth(specialist))).status == 403
        new = {"username": "wang", "password": PASSWORD, "role": "specialist"}
        assert (await client.post("/api/staff", json=new, headers=auth(specialist))).status == 403
        created = await client.post("/api/staff", json=new, headers=auth(admin))
        assert created.status == 201
        listed = await (await client.get("/api/staff", headers=auth(admin))).json()
        assert [s["username"] for s in listed] == ["boss", "li", "wang", "zhang"]
        assert all("password" not in json.dumps(s) for s in listed)
        wang = next(s for s in listed if s["username"] == "wang")
        off = await client.patch(
            f"/api/staff/{wang['id']}", json={"active": False}, headers=auth(admin)
        )
        assert off.status == 200 and (await off.json())["active"] is False
        login_off = await client.post("/api/login", json={"username": "wang", "password": PASSWORD})
        assert login_off.status == 401
        me = next(s for s in listed if s["username"] == "boss")
        self_off = await client.patch(
            f"/api/staff/{me['id']}", json={"active": False}, headers=auth(admin)
        )
        assert self_off.status == 400

    run(settings, scenario)


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"text": 5}', "application/json"),
        (b'{"text": null}', "application/json"),
        (b'{"text": "   "}', "application/json"),
        (b'{"text": "' + "长".encode() * 2001 + b'"}', "application/json"),
        (b"text=hello", "application/x-www-form-urlencoded"),
        (b'{"text": "' + b"x" * 70_000 + b'"}', "application/json"),
        (b"\xff\xfe\x00", "application/json"),
    ],
)
def test_bad_bodies_are_4xx_never_5xx(
    settings: Any, staff: Any, body: bytes, content_type: str
) -> None:
    ticket = open_ticket(settings)

    async def scenario(client: TestClient) -> None:
        token = await login(client, "zhang")
        await client.post(f"/api/handoffs/{ticket}/claim", headers=auth(token))
        response = await client.post(
            f"/api/handoffs/{ticket}/messages",
            data=body,
            headers={**auth(token), "Content-Type": content_type},
        )
        assert 400 <= response.status < 500, response.status
        assert "error" in await response.json()

    run(settings, scenario)


def test_bad_paths_and_queries(settings: Any, staff: Any) -> None:
    async def scenario(client: TestClient) -> None:
        token = await login(client, "zhang")
        for path in (
            "/api/handoffs/999999",
            "/api/handoffs/abc",
            "/api/handoffs/1;DROP",
            "/api/nothing",
            "/api/handoffs/99999999999999999999",
        ):
            response = await client.get(path, headers=auth(token))
            assert response.status == 404, path
        bad_status = await client.get("/api/handoffs?status=nope", headers=auth(token))
        assert bad_status.status == 400
        search = await client.get(
            "/api/handoffs?status=closed&q=%25'%20OR%201=1", headers=auth(token)
        )
        assert search.status == 200 and await search.json() == []
        wrong_method = await client.delete("/api/handoffs", headers=auth(token))
        assert wrong_method.status == 405

    run(settings, scenario)


def test_cookie_session_needs_the_csrf_token_for_changes(settings: Any, staff: Any) -> None:
    ticket = open_ticket(settings)

    async def scenario(client: TestClient) -> None:
        await login(client, "zhang")  # the client keeps the session cookie
        me = await client.get("/api/me")
        assert me.status == 200
        csrf = (await me.json())["csrf"]
        refused = await client.post(f"/api/handoffs/{ticket}/claim")
        assert refused.status == 403
        forged = await client.post(f"/api/handoffs/{ticket}/claim", headers={CSRF_HEADER: "x" * 64})
        assert forged.status == 403
        ok = await client.post(f"/api/handoffs/{ticket}/claim", headers={CSRF_HEADER: csrf})
        assert ok.status == 200

    run(settings, scenario)


def test_handoff_flow_through_the_api(settings: Any, staff: Any) -> None:
    ticket = open_ticket(settings, summary="<script>alert(1)</script> 人才贷")

    async def scenario(client: TestClient) -> None:
        zhang, li = await login(client, "zhang"), await login(client, "li")
        waiting = await (
            await client.get("/api/handoffs?status=waiting", headers=auth(zhang))
        ).json()
        assert [t["id"] for t in waiting] == [ticket]
        assert set(waiting[0]) >= {
            "id",
            "sender_id",
            "channel",
            "status",
            "created_at",
            "summary",
            "assignee",
        }
        early = await client.post(
            f"/api/handoffs/{ticket}/messages", json={"text": "您好"}, headers=auth(zhang)
        )
        assert early.status == 409  # not claimed yet
        claimed = await client.post(f"/api/handoffs/{ticket}/claim", headers=auth(zhang))
        assert (await claimed.json())["status"] == "active"
        taken = await client.post(f"/api/handoffs/{ticket}/claim", headers=auth(li))
        assert taken.status == 409 and "张专员" in (await taken.json())["error"]
        sent = await client.post(
            f"/api/handoffs/{ticket}/messages",
            json={"text": "您好，我是张专员"},
            headers=auth(zhang),
        )
        assert sent.status == 202
        note = await client.post(
            f"/api/handoffs/{ticket}/notes", json={"text": "已核实"}, headers=auth(zhang)
        )
        assert note.status == 201
        detail = await (await client.get(f"/api/handoffs/{ticket}", headers=auth(zhang))).json()
        assert detail["status"] == "active" and detail["assignee"] == "zhang"
        assert detail["transcript"] == [] and detail["notes"][0]["text"] == "已核实"
        closed = await client.post(f"/api/handoffs/{ticket}/close", headers=auth(zhang))
        assert (await closed.json())["status"] == "closed"
        done = await (await client.get("/api/handoffs?status=closed", headers=auth(li))).json()
        assert [t["id"] for t in done] == [ticket]

    run(settings, scenario)
    pending = HandoffService(settings.database_url).pending_messages()
    assert (pending[0]["kind"], pending[0]["text"]) == ("message", "您好，我是张专员")
    assert pending[1]["kind"] == "close"


def test_pages_escape_and_send_security_headers(settings: Any, staff: Any) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.get("/console", allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == "/console/login"
        page = await client.get("/console/login")
        assert page.status == 200
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Frame-Options"] == "DENY"
        await login(client, "zhang")
        console = await client.get("/console")
        html = await console.text()
        assert console.status == 200 and "张专员" in html and 'name="csrf-token"' in html
        assert (await client.get("/console/staff")).status == 403
        assert (await client.get("/static/console.js")).status == 200

    StaffDirectory(settings.database_url).update(
        StaffDirectory(settings.database_url).list()[2].id,  # zhang
        StaffDirectory(settings.database_url).list()[0],  # boss
        display_name="<b>张专员</b>",
    )

    async def escaped(client: TestClient) -> None:
        await login(client, "zhang")
        html = await (await client.get("/console")).text()
        assert "<b>张专员</b>" not in html and "&lt;b&gt;张专员&lt;/b&gt;" in html

    run(settings, scenario)
    run(settings, escaped)


def test_outbox_delivers_in_order_and_retries_while_rasa_is_down(settings: Any, staff: Any) -> None:
    received: List[Dict[str, Any]] = []
    up = {"value": False}

    async def rasa_events(request: web.Request) -> web.Response:
        if not up["value"]:
            return web.json_response({"message": "restarting"}, status=503)
        assert request.query["token"] == "secret-token"
        assert request.query["output_channel"] == "latest"
        assert request.query["execute_side_effects"] == "true"
        received.append({"sender": request.match_info["sender"], "events": await request.json()})
        return web.json_response({})

    service = HandoffService(settings.database_url)
    ticket = open_ticket(settings, sender="wx/用户 1")
    zhang = StaffDirectory(settings.database_url)
    from bot.db import session_scope
    from bot.handoff.models import Staff

    with session_scope(settings.database_url) as session:
        member = session.query(Staff).filter_by(username="zhang").one()
    service.claim(ticket, member)
    service.queue_message(ticket, member, "第一条")
    service.queue_message(ticket, member, "第二条")
    service.close(ticket, member)

    async def main() -> None:
        fake = web.Application()
        fake.router.add_post("/conversations/{sender}/tracker/events", rasa_events)
        async with TestServer(fake) as server:
            client = RasaClient(str(server.make_url("")), "secret-token")
            outbox = Outbox(service, client)
            assert await outbox.deliver_pending() == (0, 3)
            assert service.pending_messages()[0]["attempts"] == 1
            up["value"] = True
            assert await outbox.deliver_pending() == (3, 0)
            await client.close()

    asyncio.run(main())
    assert [r["sender"] for r in received] == ["wx/用户 1"] * 3
    texts = [r["events"][0]["text"] for r in received]
    assert texts[:2] == ["第一条", "第二条"]
    assert received[0]["events"][0]["metadata"] == {"staff": "zhang", "staff_name": "张专员"}
    assert [e["event"] for e in received[2]["events"]] == ["bot", "resume"]
    assert (
        received[2]["events"][0]["data"]["buttons"][0]["payload"] == '/rate_service{"rating": "5"}'
    )
    assert zhang is not None


def write_tracker_events(path: Path, sender: str, events: List[Dict[str, Any]]) -> None:
    """A tracker store as Rasa's SQLTrackerStore writes it (table events)."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255),"
            " type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255),"
            " action_name VARCHAR(255), data TEXT)"
        )
        for event in events:
            db.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
                (sender, event["event"], event["timestamp"], json.dumps(event)),
            )


def test_widget_history_and_handoff_state(settings: Any, staff: Any) -> None:
    session = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    write_tracker_events(
        settings.tracker_db,
        session,
        [
            {"event": "user", "timestamp": 1.0, "text": "<b>转人工</b>"},
            {"event": "action", "timestamp": 1.1, "name": "action_handoff"},
            {
                "event": "bot",
                "timestamp": 1.2,
                "text": "已为您转接",
                "data": {"buttons": [{"title": "取消人工", "payload": "/cancel"}]},
            },
            {
                "event": "bot",
                "timestamp": 2.0,
                "text": "您好",
                "metadata": {"staff": "zhang", "staff_name": "张专员"},
            },
        ],
    )
    ticket = open_ticket(settings, sender=session)

    mine = chat_secret(settings, session)

    async def scenario(client: TestClient) -> None:
        response = await client.get(f"/api/chat/history?session_id={session}", headers=mine)
        history = await response.json()
        assert [m["role"] for m in history["messages"]] == ["user", "bot", "staff"]
        assert history["messages"][0]["text"] == "<b>转人工</b>"
        # Buttons come back as buttons (not as ［…］ text); staff only by their masked name.
        assert history["messages"][1]["text"] == "已为您转接"
        assert history["messages"][1]["buttons"] == [{"title": "取消人工", "payload": "/cancel"}]
        assert history["messages"][2]["specialist"] == "张**"
        assert "zhang" not in json.dumps(history) and "张专员" not in json.dumps(history)
        state_url = f"/api/chat/state?session_id={session}"
        state = await (await client.get(state_url, headers=mine)).json()
        assert state == {"handoff": "waiting", "specialist": None}
        token = await login(client, "zhang")
        await client.post(f"/api/handoffs/{ticket}/claim", headers=auth(token))
        state = await (await client.get(state_url, headers=mine)).json()
        assert state == {"handoff": "active", "specialist": "张**"}
        other = "f" * 32
        response = await client.get(
            f"/api/chat/state?session_id={other}", headers=chat_secret(settings, other)
        )
        assert await response.json() == {"handoff": "none", "specialist": None}
        assert (await client.get("/api/chat/history")).status == 400  # no session at all
        for bad in ("short", "x" * 65, "a' OR 1=1 --aaaaaaaaaaa", "%00" * 20):
            response = await client.get(f"/api/chat/history?session_id={bad}", headers=mine)
            assert response.status == 404, bad
            assert set(await response.json()) == {"error"}

    run(settings, scenario)


def test_widget_history_restores_buttons_images_and_the_end_of_a_handoff(settings: Any) -> None:
    session = "b1b2c3d4e5f60718293a4b5c6d7e8f90"
    rating = [{"title": "5 分", "payload": '/rate_service{"rating": "5"}'}]
    write_tracker_events(
        settings.tracker_db,
        session,
        [
            {"event": "user", "timestamp": 1.0, "text": "张家港人才贷最多能贷多少"},
            {
                "event": "bot",
                "timestamp": 1.1,
                "text": "单笔最高可达3000万元。",
                "data": {"buttons": [{"title": "申请条件", "payload": "/ask_policy"}]},
            },
            # A pressed button is stored as its payload; the citizen saw its title.
            {"event": "user", "timestamp": 2.0, "text": "/ask_policy"},
            {
                "event": "bot",
                "timestamp": 2.1,
                "text": "",
                "data": {"image": "https://example.org/map.png"},
                "metadata": {"alt": "办理地点地图"},
            },
            {"event": "bot", "timestamp": 2.2, "text": None, "data": {"image": None}},
            {
                "event": "bot",
                "timestamp": 3.0,
                "text": "本次人工服务已结束，请为本次服务打分。",
                "data": {"buttons": rating},
                "metadata": {"staff": "zhang", "staff_name": "张专员", "handoff": "closed"},
            },
            {"event": "slot", "timestamp": 3.1, "name": "region", "value": "张家港市"},
        ],
    )

    async def scenario(client: TestClient) -> None:
        response = await client.get(
            f"/api/chat/history?session_id={session}", headers=chat_secret(settings, session)
        )
        lines = (await response.json())["messages"]
        assert [line["role"] for line in lines] == ["user", "bot", "user", "bot", "staff"]
        assert lines[1]["buttons"] == [{"title": "申请条件", "payload": "/ask_policy"}]
        assert lines[2]["text"] == "申请条件"
        assert lines[3] == {
            "role": "bot",
            "text": "",
            "time": lines[3]["time"],
            "image": "https://example.org/map.png",
            "alt": "办理地点地图",
        }
        closing = lines[4]
        assert closing["handoff"] == "closed" and closing["buttons"] == rating
        assert closing["specialist"] == "张**" and "staff" not in closing
        assert "handoff" not in lines[1]

    run(settings, scenario)


def test_feedback_page_is_for_admins(settings: Any, staff: Any) -> None:
    async def as_admin(client: TestClient) -> None:
        await login(client, "boss")
        console = await (await client.get("/console")).text()
        assert 'href="/console/feedback"' in console
        page = await client.get("/console/feedback")
        html = await page.text()
        assert page.status == 200 and "/static/feedback.js" in html
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        script = await (await client.get("/static/feedback.js")).text()
        assert "innerHTML" not in script  # answers go in as text only

    async def as_specialist(client: TestClient) -> None:
        anonymous = await client.get("/console/feedback", allow_redirects=False)
        assert anonymous.status == 302 and anonymous.headers["Location"] == "/console/login"
        await login(client, "zhang")
        assert 'href="/console/feedback"' not in await (await client.get("/console")).text()
        assert (await client.get("/console/feedback")).status == 403

    run(settings, as_admin)
    run(settings, as_specialist)


def test_widget_feedback_is_recorded_and_shown_to_admins(settings: Any, staff: Any) -> None:
    session = "0123456789abcdef0123456789abcdef"

    mine = chat_secret(settings, session)

    async def scenario(client: TestClient) -> None:
        answer = "张家港“人才贷”的标准和金额：单笔最高可达3000万元。"
        for helpful in (True, False):  # a second click changes the verdict
            response = await client.post(
                "/api/chat/feedback",
                json={"session_id": session, "answer": answer, "helpful": helpful},
                headers=mine,
            )
            assert response.status == 200
        other = "f" * 32
        await client.post(
            "/api/chat/feedback",
            json={"session_id": other, "answer": answer, "helpful": False},
            headers=chat_secret(settings, other),
        )
        for bad in (
            {"session_id": session, "answer": "", "helpful": True},
            {"session_id": session, "answer": answer, "helpful": "yes"},
            {"session_id": session, "answer": "长" * 4001, "helpful": True},
            {"answer": answer, "helpful": True},
            [],
        ):
            assert (await client.post("/api/chat/feedback", json=bad, headers=mine)).status == 400
        # Without the session's secret nothing is recorded.
        for headers in ({}, chat_secret(settings, other), {CHAT_SECRET_HEADER: "x" * 43}):
            refused = await client.post(
                "/api/chat/feedback",
                json={"session_id": session, "answer": "不算数的回答", "helpful": False},
                headers=headers,
            )
            assert refused.status == 404
        specialist, admin = await login(client, "zhang"), await login(client, "boss")
        assert (await client.get("/api/feedback", headers=auth(specialist))).status == 403
        summary = await (await client.get("/api/feedback", headers=auth(admin))).json()
        assert summary["helpful"] == 0 and summary["unhelpful"] == 2
        assert summary["most_unhelpful"] == [{"answer": answer, "count": 2}]

    run(settings, scenario)


def test_rasa_client_reports_a_hanging_or_absent_rasa_as_unavailable() -> None:
    from bot.handoff.rasa_client import RasaUnavailable
    from bot.runner import free_port

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def main() -> None:
        fake = web.Application()
        fake.router.add_post("/conversations/{sender}/tracker/events", slow)
        async with TestServer(fake) as server:
            client = RasaClient(str(server.make_url("")), "t", timeout=0.2)
            with pytest.raises(RasaUnavailable):
                await client.append_events("s", [{"event": "bot", "text": "x"}])
            await client.close()
        nobody = RasaClient(f"http://127.0.0.1:{free_port()}", "t", timeout=1)
        with pytest.raises(RasaUnavailable):
            await nobody.append_events("s", [])
        await nobody.close()

    asyncio.run(main())


def test_demo_and_chat_pages(settings: Any) -> None:
    async def scenario(client: TestClient) -> None:
        demo = await client.get("/")
        html = await demo.text()
        assert demo.status == 200 and "/static/widget/loader.js" in html
        assert demo.headers["X-Frame-Options"] == "DENY"
        chat = await client.get("/chat")
        assert chat.status == 200 and "/static/widget/chat.js" in await chat.text()
        # Cities' websites frame the chat; every other page refuses framing.
        assert "X-Frame-Options" not in chat.headers
        assert "frame-ancestors *" in chat.headers["Content-Security-Policy"]
        assert "script-src 'self'" in chat.headers["Content-Security-Policy"]

    run(settings, scenario)
