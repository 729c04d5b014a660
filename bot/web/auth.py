"""Who is calling the web server: a staff member (a bearer token, or the console's session
cookie, which must come with a CSRF token on every request that changes something), or the
browser that owns a widget session (the session's secret). ``bot.web.access`` decides which
of them a route needs; the checks themselves are here."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Optional, Tuple

from aiohttp import web

from bot.handoff.models import Staff
from bot.web.keys import SECRET, STAFF, WIDGET_KEY

SESSION_COOKIE = "talent_console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# What the server issues as a widget session id (hex), and what Rasa accepts as a sender id.
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CHAT_SECRET_HEADER = "X-Chat-Secret"
# Domain separation: a widget secret is never valid as any other keyed digest.
_WIDGET_LABEL = b"talent-assistant widget session\x00"


def csrf_token(secret: str, session_token: str) -> str:
    """Bound to the session: a page of another site can neither read nor forge it."""
    return hmac.new(secret.encode(), session_token.encode(), hashlib.sha256).hexdigest()


def bearer(request: web.Request) -> Optional[str]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def json_error(status: int, message: str) -> web.HTTPException:
    cls = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        413: web.HTTPRequestEntityTooLarge,
        415: web.HTTPUnsupportedMediaType,
        503: web.HTTPServiceUnavailable,
    }[status]
    if status == 413:
        return web.HTTPRequestEntityTooLarge(
            max_size=0, actual_size=0, text=_json(message), content_type="application/json"
        )
    return cls(text=_json(message), content_type="application/json")


def _json(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


# -- staff ---------------------------------------------------------------------------------


def credentials(request: web.Request) -> Tuple[Optional[str], bool]:
    """The staff token of the request and whether it came as the session cookie."""
    token = bearer(request)
    if token is not None:
        return token, False
    token = request.cookies.get(SESSION_COOKIE)
    return token, token is not None


async def staff_of(request: web.Request, token: Optional[str]) -> Optional[Staff]:
    """The active account of ``token``; the query runs in a thread, off the event loop."""
    if not token:
        return None
    return await asyncio.to_thread(request.app[STAFF].authenticate, token)


def csrf_ok(request: web.Request, token: str) -> bool:
    expected = csrf_token(request.app[SECRET], token)
    return hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), expected.encode())


# -- widget sessions -----------------------------------------------------------------------


def widget_secret(key: str, session_id: str) -> str:
    """The secret of a widget session: an HMAC of its id under the server's key, so it
    survives restarts without being stored, and nobody without the key can make one."""
    digest = hmac.new(key.encode(), _WIDGET_LABEL + session_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def new_widget_session(key: str) -> Tuple[str, str]:
    """A fresh session id (chosen by the server, never by the caller) and its secret."""
    session_id = secrets.token_hex(16)
    return session_id, widget_secret(key, session_id)


def widget_session_ok(request: web.Request, session_id: str) -> bool:
    """Whether the request carries the secret this server issued for ``session_id``.
    Sender ids of other channels (WeChat openids, REST senders) never have one."""
    given = request.headers.get(CHAT_SECRET_HEADER, "")
    if not SESSION_ID.match(session_id) or not given or len(given) > 128:
        return False
    expected = widget_secret(request.app[WIDGET_KEY], session_id)
    return hmac.compare_digest(given.encode(), expected.encode())
