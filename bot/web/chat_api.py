"""What the web widget asks the web server (the conversation itself goes over Rasa's socket.io):
the history of its session after a reload, and whether a specialist is serving it.

The widget's session id (random, kept by the browser) is the credential: it is what Rasa's
socket.io channel uses as the conversation id, so knowing it already means holding the chat.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from bot.handoff.transcript import specialist_name
from bot.web.access import public
from bot.web.api import json_ok, read_json
from bot.web.auth import json_error
from bot.web.keys import EVENTS, FEEDBACK, TICKETS

routes = web.RouteTableDef()
# What the widget generates (uuid4 hex) and what Rasa accepts as a sender id.
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
HISTORY_LIMIT = 100


def _session_id(request: web.Request) -> str:
    value = request.query.get("session_id", "")
    if not SESSION_ID.match(value):
        raise json_error(400, "session_id 无效")
    return value


@routes.get("/api/chat/history")
@public
async def history(request: web.Request) -> web.Response:
    """The latest messages of the session, oldest first, as the widget shows them:
    ``{"role": "user"|"bot"|"staff", "text", "time"}``, with ``buttons`` (title, payload),
    ``image`` and ``alt``, ``specialist`` (王**) and ``handoff: "closed"`` where they apply."""
    session_id = _session_id(request)
    lines = await asyncio.to_thread(request.app[EVENTS].widget_history, session_id, HISTORY_LIMIT)
    return json_ok({"messages": lines})


@routes.get("/api/chat/state")
@public
async def state(request: web.Request) -> web.Response:
    """``{"handoff": "none"|"waiting"|"active", "specialist": "王**"|null}``."""
    session_id = _session_id(request)
    ticket = await asyncio.to_thread(request.app[TICKETS].open_ticket_for, session_id)
    if ticket is None:
        return json_ok({"handoff": "none", "specialist": None})
    name = ticket.get("assignee_name") if ticket["status"] == "active" else None
    return json_ok({"handoff": ticket["status"], "specialist": specialist_name(name)})


@routes.post("/api/chat/feedback")
@public
async def feedback(request: web.Request) -> web.Response:
    """``{"session_id", "answer": the bot's text, "helpful": true|false}`` from the widget."""
    body = await read_json(request)
    session_id, answer, helpful = body.get("session_id"), body.get("answer"), body.get("helpful")
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise json_error(400, "session_id 无效")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > 4000:
        raise json_error(400, "answer 须为非空文本")
    if not isinstance(helpful, bool):
        raise json_error(400, "helpful 须为 true 或 false")
    await asyncio.to_thread(request.app[FEEDBACK].record, session_id, answer, helpful)
    return json_ok({"ok": True})
