"""Kept-alive HTTP connections from the Rasa server to its endpoints (the action server).

Rasa 3.6 opens a new ``aiohttp`` session, and with it a new TCP connection, for every call to
an endpoint: every custom action paid for a connect, an accept on the action server and a
close, and encoded the tracker with the standard library's ``json``. Here each endpoint keeps
one session per event loop, whose connections are reused, and encodes with ``ujson`` (the
action server already decodes with it, through Sanic); a value ``ujson`` cannot encode falls
back to ``json``. Measured in ``docs/measurements.md``.

Idle connections are closed by this side after ``KEEPALIVE_SECONDS``, before the action
server (Sanic, 5 s) would close them: a request is never sent on a connection that the
server is closing at that moment. A deployment behind a proxy with an idle timeout shorter
than that sets ``ACTION_KEEPALIVE_SECONDS`` lower (0 turns reuse off).
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from typing import Any, Optional, Tuple

import aiohttp
import ujson

KEEPALIVE_SECONDS = 2.0

_open: weakref.WeakSet[aiohttp.ClientSession] = weakref.WeakSet()
_settings = {"keepalive": KEEPALIVE_SECONDS}


def dumps(value: Any) -> str:
    """JSON text of ``value``: ``ujson``'s, or the standard library's for what it refuses."""
    try:
        return ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)
    except (TypeError, OverflowError, ValueError):
        return json.dumps(value)


def keepalive_seconds() -> float:
    """``ACTION_KEEPALIVE_SECONDS`` from the environment, else ``KEEPALIVE_SECONDS``."""
    raw = os.environ.get("ACTION_KEEPALIVE_SECONDS", "").strip()
    if not raw:
        return KEEPALIVE_SECONDS
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise SystemExit(f"ACTION_KEEPALIVE_SECONDS 应为秒数，而不是 {raw!r}") from None


class _Shared:
    """``async with`` hands the shared session out without closing it afterwards."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc: Any) -> None:
        return None


def _new_session(config: Any, keepalive: float) -> aiohttp.ClientSession:
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    auth = None
    if config.basic_auth:  # as Rasa's EndpointConfig.session
        auth = aiohttp.BasicAuth(config.basic_auth["username"], config.basic_auth["password"])
    session = aiohttp.ClientSession(
        headers=config.headers,
        auth=auth,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        json_serialize=dumps,
        connector=aiohttp.TCPConnector(keepalive_timeout=keepalive),
    )
    _open.add(session)
    return session


def session(config: Any) -> Any:
    """``EndpointConfig.session``: this endpoint's session for the running event loop."""
    keepalive = _settings["keepalive"]
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None or keepalive == 0:
        return _new_session(config, keepalive or 15.0)  # closed by the caller's `async with`
    kept: Optional[Tuple[Any, aiohttp.ClientSession]] = config.__dict__.get("_kept_session")
    if kept is None or kept[0]() is not loop or kept[1].closed:
        kept = (weakref.ref(loop), _new_session(config, keepalive))
        config.__dict__["_kept_session"] = kept
    return _Shared(kept[1])


async def close_sessions() -> None:
    """Closes the kept sessions (when the server stops, on its event loop)."""
    for open_session in list(_open):
        if not open_session.closed:
            await open_session.close()


def apply() -> None:
    """Routes Rasa's endpoint sessions through ``session`` (reads the environment once)."""
    from rasa.utils.endpoints import EndpointConfig

    _settings["keepalive"] = keepalive_seconds()
    if EndpointConfig.session is not session:
        EndpointConfig.session = session  # type: ignore[method-assign]
    from rasa.core import run

    if not getattr(run.close_resources, "closes_sessions", False):
        close_resources = run.close_resources

        async def close_resources_and_sessions(app: Any, loop: Any) -> None:
            await close_resources(app, loop)
            await close_sessions()

        close_resources_and_sessions.closes_sessions = True  # type: ignore[attr-defined]
        run.close_resources = close_resources_and_sessions
