"""Kept-alive HTTP connections from the Rasa server to its endpoints (the action server).

Rasa 3.6 opens a new ``aiohttp`` session, and with it a new TCP connection, for every call to
an endpoint: every custom action paid for a connect, an accept on the action server and a
close, and encoded the tracker with the standard library's ``json``. Here each endpoint keeps
one session per event loop, whose connections are reused, and encodes with ``orjson`` (a
fifth of ``json``'s time, a third of ``ujson``'s on the trackers sent); a value ``orjson``
refuses (a key that is not a string, an integer beyond 64 bits, a string with a lone
surrogate) falls back to ``json``. NaN and infinities, which JSON does not have, are sent as
``null``. Measured in ``docs/measurements.md``.

Idle connections are closed by this side after ``KEEPALIVE_SECONDS``, before the action
server (Sanic, 5 s) would close them: a request is never sent on a connection that the
server is closing at that moment. A deployment behind a proxy with an idle timeout shorter
than that sets ``ACTION_KEEPALIVE_SECONDS`` lower (0 turns reuse off).

The calls themselves, JSON POSTs over plain HTTP, skip aiohttp's client: ``bot.action_http``
sends each in one write on a kept-alive connection of its own, with the same answers and
errors; other calls (HTTPS, compression, unusual arguments) go through the session above.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from typing import Any, Dict, Optional, Tuple

import aiohttp
import orjson

from bot import action_http

KEEPALIVE_SECONDS = 2.0

_open: weakref.WeakSet[aiohttp.ClientSession] = weakref.WeakSet()
# Per event loop: (host, port) -> its connections for ``action_http``.
_lean: weakref.WeakKeyDictionary[Any, Dict[Tuple[str, int], action_http.LeanClient]] = (
    weakref.WeakKeyDictionary()
)
_targets: Dict[str, Optional[action_http.Target]] = {}
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_settings = {"keepalive": KEEPALIVE_SECONDS}


def dumps_bytes(value: Any) -> bytes:
    """``dumps`` as UTF-8 bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value).encode()


def dumps(value: Any) -> str:
    """JSON text of ``value``: ``orjson``'s, or the standard library's for what it refuses."""
    return dumps_bytes(value).decode()


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
    """Closes the kept sessions and connections (when the server stops, on its event loop)."""
    for open_session in list(_open):
        if not open_session.closed:
            await open_session.close()
    for clients in list(_lean.values()):
        for client in clients.values():
            client.close()


def _target(url: str) -> Optional[action_http.Target]:
    if url not in _targets:
        if len(_targets) > 64:
            _targets.clear()
        _targets[url] = action_http.parse_target(url)
    return _targets[url]


def _lean_call(
    config: Any,
    method: str,
    subpath: Optional[str],
    content_type: Optional[str],
    compress: bool,
    kwargs: Dict[str, Any],
) -> Optional[Tuple[action_http.LeanClient, bytes]]:
    """The connections and bytes of a call ``action_http`` takes, or None (aiohttp's)."""
    from rasa.utils.endpoints import concat_url

    keepalive = _settings["keepalive"]
    if (
        keepalive == 0
        or method.lower() != "post"
        or content_type != "application/json"
        or compress
        or config.cafile
        or "json" not in kwargs
        or not set(kwargs) <= action_http.ARGUMENTS
        or not isinstance(kwargs.get("timeout"), (int, float, type(None)))
    ):
        return None
    target = _target(concat_url(config.url, subpath))
    if target is None:
        return None
    # The headers and parameters EndpointConfig.request would send.
    headers: Dict[str, Any] = {"Content-Type": content_type}
    headers.update(kwargs.get("headers") or {})
    headers.update(config.headers or {})
    auth = action_http.basic_auth_header(config.basic_auth)
    if config.basic_auth:
        if auth is None:
            return None
        headers[auth[0]] = auth[1]
    if any(str(name).lower() in _RESERVED_HEADERS for name in headers):
        return None
    lines = action_http.header_lines(headers)
    params = config.combine_parameters(
        {"params": kwargs["params"]} if kwargs.get("params") else None
    )
    if lines is None or not all(isinstance(v, (str, int, float)) for v in params.values()):
        return None
    loop = asyncio.get_running_loop()
    clients = _lean.setdefault(loop, {})
    client = clients.get((target.host, target.port))
    if client is None or client.keepalive != keepalive:
        if client is not None:
            client.close()  # its idle connections, kept under the old setting
        client = clients[(target.host, target.port)] = action_http.LeanClient(
            target.host, target.port, keepalive
        )
    body = dumps_bytes(kwargs["json"])
    return client, action_http.build_request(target, lines, body, params)


def _lean_request(original: Any) -> Any:
    async def request(
        self: Any,
        method: str = "post",
        subpath: Optional[str] = None,
        content_type: Optional[str] = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Optional[Any]:
        from rasa.utils.endpoints import ClientResponseError

        call = _lean_call(self, method, subpath, content_type, compress, kwargs)
        if call is None:
            return await original(self, method, subpath, content_type, compress, **kwargs)
        client, data = call
        response = await client.send(data, kwargs.get("timeout"))
        if response.status >= 400:
            raise ClientResponseError(response.status, response.reason, response.body)
        return action_http.decode(response)

    request.__wrapped__ = original  # type: ignore[attr-defined]
    request.lean = True  # type: ignore[attr-defined]
    return request


def apply() -> None:
    """Routes Rasa's endpoint sessions through ``session`` (reads the environment once)."""
    from rasa.utils.endpoints import EndpointConfig

    _settings["keepalive"] = keepalive_seconds()
    if EndpointConfig.session is not session:
        EndpointConfig.session = session  # type: ignore[method-assign]
    if not getattr(EndpointConfig.request, "lean", False):
        EndpointConfig.request = _lean_request(EndpointConfig.request)  # type: ignore[method-assign]
    from rasa.core import run

    if not getattr(run.close_resources, "closes_sessions", False):
        close_resources = run.close_resources

        async def close_resources_and_sessions(app: Any, loop: Any) -> None:
            await close_resources(app, loop)
            await close_sessions()

        close_resources_and_sessions.closes_sessions = True  # type: ignore[attr-defined]
        run.close_resources = close_resources_and_sessions
