"""Access to every route of the web server, enumerated from the router (bot/web/access.py):
only an explicit allow-list is open; every other route refuses a request without a valid
token (401, or the login page for console pages), every mutating one a cookie session
without the CSRF token (403), every admin route a specialist (403), and a route added
without any declaration is closed. Unknown routes are 4xx with a JSON error under /api/.
And no request runs a database query on the event loop's thread."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot.handoff.staff import StaffDirectory
from bot.handoff.tickets import HandoffService
from bot.runner import free_port
from bot.web.access import PUBLIC, SIGNED_IN, WIDGET, rule_of, signed_in
from bot.web.app import create_app
from bot.web.auth import CHAT_SECRET_HEADER, CSRF_HEADER, SESSION_COOKIE
from tests.unit.test_web_api import PASSWORD, auth, login, open_ticket, write_tracker_events

# The routes open without a staff login, and why. A new public route must be added here.
ALLOW_LIST: Dict[Tuple[str, str], str] = {
    ("POST", "/api/login"): PUBLIC,
    ("GET", "/console/login"): PUBLIC,
    ("GET", "/"): PUBLIC,  # the demo page
    ("GET", "/chat"): PUBLIC,  # the widget's page
    ("*", "/socket.io/"): PUBLIC,  # the widget's conversation, relayed to Rasa
    ("POST", "/api/chat/session"): PUBLIC,  # starts a widget session
    ("GET", "/api/chat/history"): WIDGET,  # the session's secret
    ("GET", "/api/chat/state"): WIDGET,
    ("POST", "/api/chat/feedback"): WIDGET,
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # its own check: loopback or METRICS_TOKEN
    ("GET", "/static/"): PUBLIC,  # scripts, styles, the widget's bundle
}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
BODIES: Dict[str, Any] = {
    "/api/login": {"username": "boss", "password": PASSWORD},
    "/api/handoffs/{id}/messages": {"text": "您好"},
    "/api/handoffs/{id}/notes": {"text": "备注"},
    "/api/staff": {"username": "newbie", "password": PASSWORD, "role": "specialist"},
    "/api/staff/{id}": {"display_name": "改名"},
}


@pytest.fixture
def settings(web_settings: Any) -> Any:
    # Rasa's address is a free port: the outbox must not reach anybody's real Rasa.
    return dataclasses.replace(web_settings, rasa_port=free_port())


@pytest.fixture
def staff(settings: Any) -> StaffDirectory:
    directory = StaffDirectory(settings.database_url)
    directory.create("zhang", PASSWORD, "specialist", "张专员")
    directory.create("boss", PASSWORD, "admin", "王科长")
    return directory


def key(route: web.AbstractRoute) -> Tuple[str, str]:
    method = "GET" if route.method == "HEAD" else route.method
    info = route.resource.get_info() if route.resource else {}
    path = info.get("path") or info.get("formatter") or info.get("prefix", "") + "/"
    return method, path


def concrete(route: web.AbstractRoute, ticket: int) -> str:
    return key(route)[1].replace("{id}", str(ticket))


def routes_of(app: web.Application) -> List[web.AbstractRoute]:
    return [r for r in app.router.routes() if key(r) not in ALLOW_LIST]


def run(settings: Any, scenario: Any, app: Optional[web.Application] = None) -> None:
    async def main() -> None:
        application = app or create_app(settings, rasa_token="t", run_workers=False)
        async with TestClient(TestServer(application)) as client:
            await scenario(client, application)

    asyncio.run(main())


def untouched(settings: Any, ticket: int) -> None:
    """What a refused request would have changed is as it was."""
    service = HandoffService(settings.database_url)
    detail = service.get(ticket)
    assert detail["status"] == "waiting" and detail["notes"] == []
    assert service.pending_messages() == []
    assert [s.username for s in StaffDirectory(settings.database_url).list()] == ["boss", "zhang"]


def test_the_allow_list_is_explicit(settings: Any) -> None:
    app = create_app(settings, rasa_token="t", run_workers=False)
    open_routes = {
        key(r): rule_of(r).who for r in app.router.routes() if rule_of(r).who != SIGNED_IN
    }
    assert open_routes == ALLOW_LIST
    assert len(routes_of(app)) >= 20  # the console's pages and API


def test_every_other_route_refuses_a_request_without_a_valid_token(
    settings: Any, staff: Any
) -> None:
    ticket = open_ticket(settings)
    seen: Set[Tuple[str, str]] = set()

    async def scenario(client: TestClient, app: web.Application) -> None:
        for route in routes_of(app):
            path = concrete(route, ticket)
            body = BODIES.get(key(route)[1])
            for headers in (
                {},
                auth("wrong-token"),
                {"Authorization": "Basic Ym9zczpwdw=="},
                {"Cookie": f"{SESSION_COOKIE}=wrong-token"},
                auth("x" * 5000),
            ):
                response = await client.request(
                    route.method, path, json=body, headers=headers, allow_redirects=False
                )
                where = (route.method, path, headers)
                if path.startswith("/api/"):
                    assert response.status == 401, where
                    if route.method != "HEAD":
                        assert "error" in await response.json(), where
                else:  # a console page: to the login page
                    assert response.status == 302, where
                    assert response.headers["Location"] == "/console/login", where
            seen.add(key(route))

    run(settings, scenario)
    assert ("POST", "/api/handoffs/{id}/close") in seen and ("GET", "/console") in seen
    untouched(settings, ticket)


def test_every_mutating_route_refuses_a_cookie_session_without_the_csrf_token(
    settings: Any, staff: Any
) -> None:
    ticket = open_ticket(settings)
    mutating: List[str] = []

    async def scenario(client: TestClient, app: web.Application) -> None:
        await login(client, "boss")  # the client keeps the session cookie
        for route in routes_of(app):
            if route.method not in MUTATING:
                continue
            path, body = concrete(route, ticket), BODIES.get(key(route)[1])
            for headers in ({}, {CSRF_HEADER: "0" * 64}, {CSRF_HEADER: ""}):
                response = await client.request(route.method, path, json=body, headers=headers)
                assert response.status == 403, (route.method, path, headers)
                assert "CSRF" in (await response.json())["error"]
            mutating.append(f"{route.method} {key(route)[1]}")
        assert (await client.get("/api/me")).status == 200  # logout was refused too

    run(settings, scenario)
    assert "POST /api/logout" in mutating and "PATCH /api/staff/{id}" in mutating
    untouched(settings, ticket)


def test_admin_routes_refuse_a_specialist(settings: Any, staff: Any) -> None:
    ticket = open_ticket(settings)
    admin_only: List[str] = []

    async def scenario(client: TestClient, app: web.Application) -> None:
        token = await login(client, "zhang")
        for route in routes_of(app):
            if not rule_of(route).roles:
                continue
            path, body = concrete(route, ticket), BODIES.get(key(route)[1])
            response = await client.request(route.method, path, json=body, headers=auth(token))
            assert response.status == 403, (route.method, path)
            if path.startswith("/api/") and route.method != "HEAD":
                assert (await response.json())["error"] == "没有此操作的权限"
            admin_only.append(f"{route.method} {key(route)[1]}")

    run(settings, scenario)
    assert {"GET /api/staff", "POST /api/staff", "GET /console/feedback"} <= set(admin_only)
    untouched(settings, ticket)


def test_a_route_that_declares_nothing_is_closed(settings: Any, staff: Any) -> None:
    calls: List[str] = []

    async def forgotten(request: web.Request) -> web.Response:
        calls.append(request.method)
        return web.json_response({"done": True})

    @signed_in("admin")
    async def admins(request: web.Request) -> web.Response:
        calls.append("admins")
        return web.json_response({"done": True})

    app = create_app(settings, rasa_token="t", run_workers=False)
    app.router.add_post("/api/forgotten", forgotten)
    app.router.add_get("/api/admins-only", admins)

    async def scenario(client: TestClient, app: web.Application) -> None:
        assert (await client.post("/api/forgotten", json={})).status == 401
        specialist = await login(client, "zhang")  # also the session cookie from here on
        assert (await client.post("/api/forgotten", json={})).status == 403  # no CSRF token
        assert (await client.get("/api/admins-only", headers=auth(specialist))).status == 403
        assert calls == []
        assert (await client.post("/api/forgotten", headers=auth(specialist))).status == 200
        admin = await login(client, "boss")
        assert (await client.get("/api/admins-only", headers=auth(admin))).status == 200
        assert calls == ["POST", "admins"]

    run(settings, scenario, app)


def test_unknown_routes_and_methods_are_4xx_with_a_json_error(settings: Any, staff: Any) -> None:
    async def scenario(client: TestClient, app: web.Application) -> None:
        token = await login(client, "zhang")
        for headers in ({}, auth(token)):
            for method, path, status in (
                ("GET", "/api/nothing", 404),
                ("POST", "/api/handoffs/1/delete", 404),
                ("DELETE", "/api/handoffs", 405),
                ("PUT", "/api/login", 405),
                ("GET", "/api/handoffs/abc", 404),
            ):
                response = await client.request(method, path, headers=headers)
                assert response.status == status, (method, path, headers)
                assert "error" in await response.json()
        assert (await client.get("/console/nothing")).status == 404
        assert (await client.get("/static/nothing.js")).status == 404

    run(settings, scenario)


# -- no database query on the event loop -----------------------------------------------------


@pytest.fixture
def queries() -> Iterator[List[Tuple[int, str]]]:
    """(thread id, statement) of every SQL statement any engine of the process runs."""
    recorded: List[Tuple[int, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        recorded.append((threading.get_ident(), statement))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield recorded
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_no_request_runs_a_database_query_on_the_event_loop(
    settings: Any, staff: Any, queries: List[Tuple[int, str]]
) -> None:
    """Every route, called as it is meant to be (admin, bearer and cookie), with the
    outbox and the live-queue watcher running: every query runs in a worker thread."""
    ticket = open_ticket(settings)
    write_tracker_events(
        settings.tracker_db, "citizen-1", [{"event": "user", "timestamp": 1.0, "text": "你好"}]
    )
    loop_thread: Dict[str, int] = {}
    app = create_app(settings, rasa_token="t", run_workers=True)
    order = {"GET": 0, "POST": 1, "PATCH": 1, "*": 2}  # reads first; logout last of all

    async def scenario(client: TestClient, app: web.Application) -> None:
        loop_thread["id"] = threading.get_ident()
        queries.clear()
        admin = await login(client, "boss")  # the cookie, too
        csrf = (await (await client.get("/api/me")).json())["csrf"]
        chat = await (await client.post("/api/chat/session")).json()
        widget = {CHAT_SECRET_HEADER: chat["secret"]}
        calls = sorted(
            (r for r in app.router.routes() if r.method != "HEAD"),
            key=lambda r: (key(r)[1] == "/api/logout", order.get(r.method, 1)),
        )
        for route in calls:
            method, path = route.method, concrete(route, ticket)
            body = BODIES.get(key(route)[1])
            if key(route) == ("*", "/socket.io/") or path == "/static/":
                continue  # no database behind them
            if path.startswith("/api/chat/"):
                if method == "GET":
                    path += f"?session_id={chat['session_id']}"
                body = {"session_id": chat["session_id"], "answer": "回答", "helpful": True}
                headers = widget
            else:
                headers = {**auth(admin), CSRF_HEADER: csrf} if method in MUTATING else {}
            if path == "/api/stream":
                async with client.get(path, headers=headers) as response:
                    assert response.status == 200
                    await response.content.readuntil(b"\n\n")  # the first update
                continue
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status < 400 or path == "/ready", (method, path, response.status)
        await asyncio.sleep(1.2)  # the watcher and the outbox run a few rounds

    run(settings, scenario, app)
    on_loop = [statement for thread, statement in queries if thread == loop_thread["id"]]
    assert on_loop == []
    statements = " ".join(statement for _, statement in queries)
    # The listener saw the requests' queries (in threads): tokens, tickets, the tracker store.
    for table in ("staff_tokens", "handoff_tickets", "staff_messages", "events", "answer_feedback"):
        assert table in statements, table
