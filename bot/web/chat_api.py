"""What the web widget asks the web server (the conversation itself goes over Rasa's socket.io):
a session to start with, the history of its session after a reload, whether a specialist is
serving it, and feedback on answers.

A conversation id alone is no credential: sender ids of other channels (WeChat openids, REST
senders) are not secret. The server issues the widget a session id and its secret
(``POST /api/chat/session``); history, state and feedback answer only with that secret
(``X-Chat-Secret``), checked by the access middleware (``@widget``) before these handlers run.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.handoff.transcript import specialist_name
from bot.web.access import CHAT_SESSION, public, widget
from bot.web.api import json_ok, read_json
from bot.web.auth import json_error, new_widget_session
from bot.web.keys import EVENTS, FEEDBACK, TICKETS, WIDGET_KEY

routes = web.RouteTableDef()
HISTORY_LIMIT = 100


@routes.post("/api/chat/session")
@public
async def start_session(request: web.Request) -> web.Response:
    """201 ``{"session_id", "secret"}``: a new widget session, its id chosen by the server.
    The widget keeps both and sends the secret with every later request of the session."""
    session_id, secret = new_widget_session(request.app[WIDGET_KEY])
    return json_ok({"session_id": session_id, "secret": secret}, status=201)


@routes.get("/api/chat/history")
@widget
async def history(request: web.Request) -> web.Response:
    """The latest messages of the session, oldest first, as the widget shows them:
    ``{"role": "user"|"bot"|"staff", "text", "time"}``, with ``buttons`` (title, payload),
    ``image`` and ``alt``, ``specialist`` (王**) and ``handoff: "closed"`` where they apply."""
    session_id = request[CHAT_SESSION]
    lines = await asyncio.to_thread(request.app[EVENTS].widget_history, session_id, HISTORY_LIMIT)
    return json_ok({"messages": lines})


@routes.get("/api/chat/state")
@widget
async def state(request: web.Request) -> web.Response:
    """``{"handoff": "none"|"waiting"|"active", "specialist": "王**"|null}``."""
    ticket = await asyncio.to_thread(request.app[TICKETS].open_ticket_for, request[CHAT_SESSION])
    if ticket is None:
        return json_ok({"handoff": "none", "specialist": None})
    name = ticket.get("assignee_name") if ticket["status"] == "active" else None
    return json_ok({"handoff": ticket["status"], "specialist": specialist_name(name)})


@routes.post("/api/chat/feedback")
@widget
async def feedback(request: web.Request) -> web.Response:
    """``{"session_id", "answer": the bot's text, "helpful": true|false}`` from the widget."""
    body = await read_json(request)
    answer, helpful = body.get("answer"), body.get("helpful")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > 4000:
        raise json_error(400, "answer 须为非空文本")
    if not isinstance(helpful, bool):
        raise json_error(400, "helpful 须为 true 或 false")
    await asyncio.to_thread(request.app[FEEDBACK].record, request[CHAT_SESSION], answer, helpful)
    return json_ok({"ok": True})
