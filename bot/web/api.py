"""The console API (JSON, docs/contract.md), which the console itself uses. Who may call
each route is declared beside it (``bot.web.access``) and checked by the middleware."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Optional

from aiohttp import web

from bot.handoff.models import TICKET_STATUSES
from bot.handoff.staff import LoginLocked, StaffError, StaffView
from bot.handoff.tickets import TicketConflict, TicketNotFound
from bot.web.access import TOKEN, current_staff, public, signed_in
from bot.web.auth import SESSION_COOKIE, csrf_token, json_error
from bot.web.keys import (
    CANNED,
    CHANGES,
    CLOCK,
    EVENTS,
    FEEDBACK,
    OUTBOX,
    SECRET,
    SECURE_COOKIES,
    STAFF,
    TICKETS,
)
from bot.web.live import KEEPALIVE_SECONDS, Changes

routes = web.RouteTableDef()
MAX_FIELD = 4000


async def read_json(request: web.Request) -> Dict[str, Any]:
    """The body as a JSON object, or a 4xx that says what is wrong."""
    if request.content_type != "application/json":
        raise json_error(415, "请求体须为 JSON（Content-Type: application/json）")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise json_error(400, "请求体不是有效的 JSON") from exc
    if not isinstance(body, dict):
        raise json_error(400, "请求体须为 JSON 对象")
    return body


def text_field(body: Dict[str, Any], name: str, required: bool = True) -> Optional[str]:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise json_error(400, f"字段 {name} 须为文本")
    if len(value) > MAX_FIELD:
        raise json_error(400, f"字段 {name} 过长")
    return value


def json_ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _ticket_id(request: web.Request) -> int:
    return int(request.match_info["id"])


async def _sync(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Database work runs in a thread: the event loop keeps serving the live queue."""
    return await asyncio.to_thread(func, *args, **kwargs)


def _ticket_errors(exc: Exception) -> web.HTTPException:
    if isinstance(exc, TicketNotFound):
        return json_error(404, str(exc))
    if isinstance(exc, TicketConflict):
        return json_error(409, str(exc))
    return json_error(400, str(exc))


# -- login -------------------------------------------------------------------------------


@routes.post("/api/login")
@public
async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    username = text_field(body, "username") or ""
    password = text_field(body, "password") or ""
    try:
        result = await _sync(request.app[STAFF].login, username, password)
    except LoginLocked as exc:
        minutes = max(1, int((exc.until - request.app[CLOCK]()).total_seconds() // 60) + 1)
        raise json_error(401, f"密码错误次数过多，账号已锁定，请 {minutes} 分钟后再试") from exc
    if result is None:
        raise json_error(401, "用户名或密码错误")
    token, staff = result
    response = json_ok({"token": token, "username": staff.username, "role": staff.role})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.app[SECURE_COOKIES],
        path="/",
        max_age=12 * 3600,
    )
    return response


@routes.post("/api/logout")
@signed_in()
async def logout(request: web.Request) -> web.Response:
    await _sync(request.app[STAFF].logout, request[TOKEN])
    response = json_ok({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/me")
@signed_in()
async def me(request: web.Request) -> web.Response:
    staff = current_staff(request)
    return json_ok(
        {
            "username": staff.username,
            "display_name": staff.display_name,
            "role": staff.role,
            "csrf": csrf_token(request.app[SECRET], request[TOKEN]),
        }
    )


# -- handoffs ----------------------------------------------------------------------------


@routes.get("/api/handoffs")
@signed_in()
async def list_handoffs(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status is not None and status not in TICKET_STATUSES:
        raise json_error(400, "status 须为 waiting、active 或 closed")
    query = (request.query.get("q") or "").strip()[:100] or None
    return json_ok(await _sync(request.app[TICKETS].list, status, query))


@routes.get(r"/api/handoffs/{id:\d{1,9}}")
@signed_in()
async def get_handoff(request: web.Request) -> web.Response:
    try:
        ticket = await _sync(request.app[TICKETS].get, _ticket_id(request))
    except TicketNotFound as exc:
        raise json_error(404, str(exc)) from exc
    ticket["transcript"] = await _sync(request.app[EVENTS].transcript, ticket["sender_id"])
    return json_ok(ticket)


@routes.post(r"/api/handoffs/{id:\d{1,9}}/claim")
@signed_in()
async def claim(request: web.Request) -> web.Response:
    staff = current_staff(request)
    try:
        ticket = await _sync(request.app[TICKETS].claim, _ticket_id(request), staff)
    except (TicketNotFound, TicketConflict) as exc:
        raise _ticket_errors(exc) from exc
    await request.app[CHANGES].poke()
    return json_ok(ticket)


@routes.post(r"/api/handoffs/{id:\d{1,9}}/messages")
@signed_in()
async def post_message(request: web.Request) -> web.Response:
    staff = current_staff(request)
    body = await read_json(request)
    text = text_field(body, "text") or ""
    try:
        message_id = await _sync(
            request.app[TICKETS].queue_message, _ticket_id(request), staff, text
        )
    except (TicketNotFound, TicketConflict, ValueError) as exc:
        raise _ticket_errors(exc) from exc
    request.app[OUTBOX].wakeup.set()
    await request.app[CHANGES].poke()
    # 202: written to the outbox; delivered to the citizen's channel right after.
    return json_ok({"id": message_id, "status": "queued"}, status=202)


@routes.post(r"/api/handoffs/{id:\d{1,9}}/notes")
@signed_in()
async def post_note(request: web.Request) -> web.Response:
    staff = current_staff(request)
    body = await read_json(request)
    try:
        note = await _sync(
            request.app[TICKETS].add_note, _ticket_id(request), staff, text_field(body, "text")
        )
    except (TicketNotFound, ValueError) as exc:
        raise _ticket_errors(exc) from exc
    return json_ok(note, status=201)


@routes.post(r"/api/handoffs/{id:\d{1,9}}/close")
@signed_in()
async def close(request: web.Request) -> web.Response:
    staff = current_staff(request)
    try:
        ticket = await _sync(request.app[TICKETS].close, _ticket_id(request), staff)
    except (TicketNotFound, TicketConflict) as exc:
        raise _ticket_errors(exc) from exc
    request.app[OUTBOX].wakeup.set()
    await request.app[CHANGES].poke()
    return json_ok(ticket)


@routes.get("/api/canned-replies")
@signed_in()
async def canned_replies(request: web.Request) -> web.Response:
    return json_ok(request.app[CANNED])


@routes.get("/api/feedback")
@signed_in("admin")
async def feedback_summary(request: web.Request) -> web.Response:
    """Admins: 有帮助 / 没帮助 totals and the answers most often found unhelpful."""
    return json_ok(await _sync(request.app[FEEDBACK].summary))


# -- staff accounts (admins) ------------------------------------------------------------


@routes.get("/api/staff")
@signed_in("admin")
async def list_staff(request: web.Request) -> web.Response:
    return json_ok([s.as_dict() for s in await _sync(request.app[STAFF].list)])


@routes.post("/api/staff")
@signed_in("admin")
async def create_staff(request: web.Request) -> web.Response:
    actor = current_staff(request)
    body = await read_json(request)
    try:
        created = await _sync(
            request.app[STAFF].create,
            text_field(body, "username"),
            text_field(body, "password"),
            text_field(body, "role"),
            text_field(body, "display_name", required=False),
            StaffView.of(actor),
        )
    except StaffError as exc:
        raise json_error(400, str(exc)) from exc
    return json_ok(created.as_dict(), status=201)


@routes.patch(r"/api/staff/{id:\d{1,9}}")
@signed_in("admin")
async def update_staff(request: web.Request) -> web.Response:
    actor = current_staff(request)
    body = await read_json(request)
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise json_error(400, "字段 active 须为 true 或 false")
    try:
        updated = await _sync(
            request.app[STAFF].update,
            _ticket_id(request),
            StaffView.of(actor),
            active=active,
            role=text_field(body, "role", required=False),
            password=text_field(body, "password", required=False),
            display_name=text_field(body, "display_name", required=False),
        )
    except StaffError as exc:
        raise json_error(400, str(exc)) from exc
    return json_ok(updated.as_dict())


# -- live updates ------------------------------------------------------------------------


@routes.get("/api/stream")
@signed_in()
async def stream(request: web.Request) -> web.StreamResponse:
    """``GET /api/stream``: an event ``update`` with the current version whenever it changes."""
    changes: Changes = request.app[CHANGES]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx must not hold the stream back
        }
    )
    await response.prepare(request)
    version = -1
    try:
        while True:
            current = await changes.wait(version, KEEPALIVE_SECONDS)
            if current != version:
                tickets = [t for t, v in changes.changed_tickets.items() if v > version]
                data = json.dumps({"version": current, "tickets": tickets})
                await response.write(f"event: update\ndata: {data}\n\n".encode())
                version = current
            else:
                await response.write(b": keep-alive\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response
