"""Who is calling the web server: a bearer token (API clients) or the console's session
cookie, which must come with a CSRF token on every request that changes something."""

from __future__ import annotations

import hashlib
import hmac
from typing import Optional

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
    import json

    return json.dumps({"error": message}, ensure_ascii=False)


async def authenticate(request: web.Request, role: Optional[str] = None) -> Staff:
    """The staff member of the request; 401 without valid credentials, 403 without the role,
    403 for a cookie-authenticated change without the session's CSRF token."""
    directory = request.app[STAFF]
    token = bearer(request)
    via_cookie = False
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        via_cookie = token is not None
    staff = directory.authenticate(token) if token else None
    if staff is None:
        raise json_error(401, "未登录或登录已过期")
    if via_cookie and request.method not in SAFE_METHODS:
        expected = csrf_token(request.app[SECRET], token or "")
        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), expected):
            raise json_error(403, "请求缺少有效的 CSRF 令牌，请刷新页面")
    if role is not None and staff.role != role:
        raise json_error(403, "没有此操作的权限")
    request["token"] = token
    return staff
