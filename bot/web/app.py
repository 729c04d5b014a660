"""The web server (port 8000): the staff console, its API, and the delivery of staff messages.

``python -m bot.web`` runs it; ``make run`` starts it with Rasa and the action server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional

import jinja2
import yaml
from aiohttp import web

from bot import metrics
from bot.config import ROOT, Settings, load_settings
from bot.db.models import beijing_now
from bot.handoff.feedback import FeedbackBox
from bot.handoff.outbox import Outbox
from bot.handoff.rasa_client import RasaClient
from bot.handoff.staff import StaffDirectory
from bot.handoff.tickets import HandoffService
from bot.handoff.transcript import TrackerEvents
from bot.web import api, chat_api, socket_proxy
from bot.web.access import TOKEN, access_control, current_staff, public, signed_in
from bot.web.auth import SESSION_COOKIE, csrf_token, staff_of
from bot.web.keys import (
    CANNED,
    CHANGES,
    CLOCK,
    EVENTS,
    FEEDBACK,
    OUTBOX,
    RASA,
    SECRET,
    SECURE_COOKIES,
    SETTINGS,
    STAFF,
    TEMPLATES,
    TICKETS,
    WIDGET_KEY,
)
from bot.web.live import Changes

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CANNED_REPLIES = ROOT / "config" / "canned_replies.yml"
MAX_BODY = 64 * 1024

# Pages load only their own scripts and styles; nothing inline, nothing from elsewhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

# The chat page is framed by cities' websites and its UI library sets inline styles.
CHAT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; connect-src 'self' ws: wss:; frame-ancestors *; "
    "base-uri 'none'; form-action 'self'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def load_canned_replies(path: Optional[Path] = None) -> List[Dict[str, str]]:
    """快捷回复 from ``CANNED_REPLIES`` or config/canned_replies.yml: a list of title and text."""
    path = path or Path(os.environ.get("CANNED_REPLIES") or CANNED_REPLIES)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else []
    replies = []
    for i, item in enumerate(data or []):
        if not (isinstance(item, dict) and isinstance(item.get("title"), str)):
            raise SystemExit(f"{path} 第 {i + 1} 项须有 title 和 text")
        if not isinstance(item.get("text"), str) or not item["text"].strip():
            raise SystemExit(f"{path} 第 {i + 1} 项须有 title 和 text")
        replies.append({"title": item["title"].strip(), "text": item["text"].strip()})
    return replies


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON under /api/ and says what is wrong; nothing unexpected leaks."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.content_type != "application/json":
            message = {404: "接口不存在", 405: "不支持此请求方法", 413: "请求体过大"}.get(
                exc.status, exc.reason
            )
            return web.json_response(
                {"error": message}, status=exc.status, dumps=_dumps, headers=_keep(exc)
            )
        raise
    except Exception:
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "服务器内部错误，请稍后再试"}, status=500, dumps=_dumps)


def _keep(exc: web.HTTPException) -> Dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k.lower() == "allow"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path != "/chat":  # the widget's frame; every other page refuses framing
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# -- pages -------------------------------------------------------------------------------


def render(request: web.Request, name: str, **context: Any) -> web.Response:
    html = request.app[TEMPLATES].get_template(name).render(**context)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


@public
async def index(request: web.Request) -> web.StreamResponse:
    """A plain city talent-service page with the widget (the demo of the embedding)."""
    return render(request, "demo.html")


@public
async def chat_page(request: web.Request) -> web.StreamResponse:
    """The widget's chat: full page on phones and in WeChat's browser, or in the launcher's
    frame (which is why this page alone may be framed)."""
    response = render(request, "chat.html")
    response.headers["Content-Security-Policy"] = CHAT_CSP
    return response


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    if await staff_of(request, request.cookies.get(SESSION_COOKIE)) is not None:
        raise web.HTTPFound("/console")
    return render(request, "login.html")


def _signed_in_page(request: web.Request, template: str) -> web.Response:
    """A console page for the staff member the middleware let in, with the CSRF token."""
    csrf = csrf_token(request.app[SECRET], request[TOKEN])
    return render(request, template, staff=current_staff(request), csrf=csrf)


@signed_in()
async def console_page(request: web.Request) -> web.StreamResponse:
    return _signed_in_page(request, "console.html")


@signed_in("admin")
async def staff_page(request: web.Request) -> web.StreamResponse:
    return _signed_in_page(request, "staff.html")


@signed_in("admin")
async def feedback_page(request: web.Request) -> web.StreamResponse:
    """Admins: what citizens thought of the widget's answers (``GET /api/feedback``)."""
    return _signed_in_page(request, "feedback.html")


@public
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _ping_database(url: str) -> None:
    from bot.db.session import get_engine

    with get_engine(url).connect() as connection:
        connection.exec_driver_sql("SELECT 1")


@public
async def ready(request: web.Request) -> web.Response:
    """Readiness: the application database, the tracker store and Rasa answer (503 if not)."""
    settings = request.app[SETTINGS]
    checks: Dict[str, str] = {}
    probes = {
        "database": lambda: _ping_database(settings.database_url),
        "tracker_store": lambda: _ping_database(settings.tracker_store_url),
    }
    for name, probe in probes.items():
        try:
            await asyncio.wait_for(asyncio.to_thread(probe), 5)
            checks[name] = "ok"
        except Exception as exc:  # whatever fails, the server is not ready
            checks[name] = type(exc).__name__
    checks["rasa"] = "ok" if await request.app[RASA].reachable() else "unreachable"
    ok = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ready" if ok else "not ready", "checks": checks}, status=200 if ok else 503
    )


@public  # not for the public all the same: metrics.may_scrape is its own check
async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus metrics: this process's, and the handoff queue from the database."""
    if not metrics.may_scrape(request.remote, request.headers):
        raise web.HTTPNotFound()
    counts = await asyncio.to_thread(request.app[TICKETS].status_counts)
    body, content_type = metrics.exposition()
    queue = metrics.handoff_exposition(counts)
    return web.Response(body=body + queue, headers={"Content-Type": content_type})


# -- the application ---------------------------------------------------------------------


def create_app(
    settings: Settings,
    *,
    rasa_token: Optional[str] = None,
    clock: Callable[[], Any] = beijing_now,
    run_workers: bool = True,
) -> web.Application:
    # Who may call what is checked for every route by access_control (bot/web/access.py).
    app = web.Application(
        middlewares=[errors, security_headers, access_control], client_max_size=MAX_BODY
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[SECRET] = settings.web_secret()
    app[WIDGET_KEY] = settings.widget_secret()
    app[SECURE_COOKIES] = os.environ.get("WEB_SECURE_COOKIES", "").lower() in ("1", "true")
    app[STAFF] = StaffDirectory(settings.database_url, clock)
    app[TICKETS] = HandoffService(settings.database_url, clock)
    app[EVENTS] = TrackerEvents(settings.tracker_store_url)
    app[CANNED] = load_canned_replies()
    app[RASA] = RasaClient(settings.rasa_url, rasa_token or settings.rasa_token())
    app[OUTBOX] = Outbox(app[TICKETS], app[RASA])
    app[CHANGES] = Changes(app[TICKETS], app[EVENTS])
    app[FEEDBACK] = FeedbackBox(settings.database_url, clock)
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # everything a citizen or a colleague typed is escaped
    )
    app.add_routes(api.routes)
    app.add_routes(chat_api.routes)
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/chat", chat_page)
    app.router.add_route("*", socket_proxy.PATH, socket_proxy.relay)
    app.router.add_get("/console", console_page)
    app.router.add_get("/console/login", login_page)
    app.router.add_get("/console/staff", staff_page)
    app.router.add_get("/console/feedback", feedback_page)
    app.router.add_static("/static/", HERE / "static", append_version=True)
    if run_workers:
        app.cleanup_ctx.append(_workers)
    app.on_cleanup.append(_close_rasa_client)
    return app


async def _close_rasa_client(app: web.Application) -> None:
    await app[RASA].close()


async def _workers(app: web.Application) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(app[OUTBOX].run(), name="outbox"),
        asyncio.create_task(app[CHANGES].watch(), name="changes"),
    ]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.to_thread(app[EVENTS].dispose)  # closes connections: not on the loop


def main() -> None:
    from bot import log_privacy

    log_privacy.install()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-8s %(name)s - %(message)s"
    )
    # The schema is migrated by whoever deploys (``python -m bot db upgrade``, or the runner).
    settings = load_settings()
    app = create_app(settings)
    print(f"Web server on {settings.web_url}", flush=True)
    web.run_app(app, host=settings.web_host, port=settings.web_port, print=None, access_log=None)


if __name__ == "__main__":
    main()
