"""Who is calling the web server: a staff member, by a bearer token (API clients) or the
console's session cookie, which must come with a CSRF token on every request that changes
something. ``bot.web.access`` decides what a route needs; the checks themselves are here."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Optional, Tuple

from aiohttp import web

from bot.handoff.models import Staff
from bot.web.keys import SECRET, STAFF

SESSION_COOKIE = "talent_console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
