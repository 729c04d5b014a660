"""Who may call each route: declared beside the handler, enforced for every route of the
application by one middleware (``access_control``). A route that declares nothing needs a
signed-in staff member, so a new route that forgets its declaration is closed, not open.

- ``@public``: anyone (login, the demo and chat pages, health and readiness, the socket.io
  relay, metrics with their own check, starting a widget session). Static assets under
  ``/static/`` are public too.
- ``@widget``: the browser that owns the widget session named by ``session_id`` (query, or the
  JSON body of a POST), proven by the session's secret (``X-Chat-Secret``); 404 otherwise.
- ``@signed_in()`` / ``@signed_in("admin")``: a staff member with a valid token (bearer, or the
  session cookie plus the CSRF token on changes), with one of the roles if any are named
  (admins have every right). 401 without a valid token, 403 without the CSRF token or the role;
  console pages redirect to the login page instead of answering 401.

A path or method the router does not know gets its 404 or 405 (JSON under ``/api/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, FrozenSet, Optional, TypeVar

from aiohttp import web

from bot.handoff.models import Staff
from bot.web.auth import (
    SAFE_METHODS,
    credentials,
    csrf_ok,
    json_error,
    staff_of,
    widget_session_ok,
)

PUBLIC, WIDGET, SIGNED_IN = "public", "widget", "signed_in"
# What the middleware leaves in the request for the handler.
STAFF_MEMBER, TOKEN, CHAT_SESSION = "staff", "token", "chat_session"
LOGIN_PAGE = "/console/login"

_ATTR = "__access_rule__"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    who: str  # PUBLIC, WIDGET or SIGNED_IN
    roles: FrozenSet[str] = frozenset()  # SIGNED_IN: the roles that may (beside admin); empty: any

    def allows(self, role: str) -> bool:
        return not self.roles or role == "admin" or role in self.roles


DEFAULT = Rule(SIGNED_IN)


def _declare(rule: Rule) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        setattr(handler, _ATTR, rule)
        return handler

    return mark


public = _declare(Rule(PUBLIC))
widget = _declare(Rule(WIDGET))


def signed_in(*roles: str) -> Callable[[H], H]:
    return _declare(Rule(SIGNED_IN, frozenset(roles)))


def rule_of(route: web.AbstractRoute) -> Rule:
    """The route's declared rule; a route that declares none needs a staff member."""
    if isinstance(getattr(route, "resource", None), web.StaticResource):
        return Rule(PUBLIC)  # scripts, styles and the widget's bundle
    return getattr(route.handler, _ATTR, DEFAULT)


def current_staff(request: web.Request) -> Staff:
    """The staff member the middleware authenticated (routes declared ``signed_in``)."""
    return request[STAFF_MEMBER]


@web.middleware
async def access_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route or method: the router's 404 or 405
    rule = rule_of(request.match_info.route)
    if rule.who == WIDGET:
        request[CHAT_SESSION] = await _widget_session(request)
    elif rule.who != PUBLIC:
        await _check_staff(request, rule)
    return await handler(request)


async def _check_staff(request: web.Request, rule: Rule) -> None:
    page = not request.path.startswith("/api/")
    token, via_cookie = credentials(request)
    staff = await staff_of(request, token)
    if staff is None or token is None:
        if page and request.method in SAFE_METHODS:
            raise web.HTTPFound(LOGIN_PAGE)
        raise json_error(401, "未登录或登录已过期")
    if via_cookie and request.method not in SAFE_METHODS and not csrf_ok(request, token):
        raise json_error(403, "请求缺少有效的 CSRF 令牌，请刷新页面")
    if not rule.allows(staff.role):
        if page:
            raise web.HTTPForbidden(text="您的账号没有打开此页面的权限")
        raise json_error(403, "没有此操作的权限")
    request[STAFF_MEMBER] = staff
    request[TOKEN] = token


async def _widget_session(request: web.Request) -> str:
    session_id: Optional[Any] = request.query.get("session_id")
    json_body = request.method == "POST" and request.content_type == "application/json"
    if session_id is None and json_body:
        try:
            body = await request.json()  # kept by aiohttp: the handler reads it again
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            session_id = body.get("session_id")
    if not session_id or not isinstance(session_id, str):
        raise json_error(400, "缺少 session_id")
    if not widget_session_ok(request, session_id):
        # The same answer for every id we did not issue to this browser: nothing is told.
        raise json_error(404, "会话不存在或会话凭证无效，请重新开始对话")
    return session_id
