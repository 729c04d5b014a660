"""Rasa's calls to the action server: one JSON POST per custom action on a kept-alive
connection, sent in one write and read with ``httptools`` (the parser Sanic uses).

Rasa makes the call through aiohttp's client, whose general machinery (request and response
objects, tracing hooks, a cookie jar, a separate task that writes the body) cost about half a
millisecond per call beyond the request itself, a sixth of what a turn adds to the NLU
(docs/measurements.md). ``lean_request`` takes the calls that are exactly that: a POST of
JSON over plain HTTP, with at most headers, query parameters and basic authentication.
Anything else (HTTPS, a CA file, compression, other arguments) goes through aiohttp as before.

It answers as ``EndpointConfig.request`` does: the decoded JSON, or None for an empty body or
one that is not JSON; ``rasa.utils.endpoints.ClientResponseError`` for a status of 400 or more.
Failures raise aiohttp's exceptions, which Rasa's ``RemoteAction`` turns into its own errors:
``ClientConnectionError`` when the server cannot be reached, ``ServerDisconnectedError`` when
it closes the connection before answering, ``ClientPayloadError`` for an answer that is not
HTTP, ``asyncio.TimeoutError`` after the timeout. A request is never sent twice: an action may
have run even if its answer was lost.

Connections are kept per event loop and endpoint, at most ``MAX_IDLE`` idle, each reused only
within ``keepalive`` seconds of its last answer (the action server closes idle connections
after 5 s; a request must never go out on a connection the server is closing). At most
``MAX_CONNECTIONS`` requests are in flight at once, as with aiohttp's default connector.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import urllib.parse
from collections import deque
from typing import Any, Deque, Dict, List, NamedTuple, Optional, Tuple

import aiohttp
import httptools

MAX_IDLE = 32
MAX_CONNECTIONS = 100
# What aiohttp accepts as JSON (``ClientResponse.json``): application/json, application/x+json.
JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+?\+)?json")
# Header names and values that may go into a request as they are.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")
# Arguments of ``EndpointConfig.request`` this client takes; any other goes to aiohttp.
ARGUMENTS = frozenset({"json", "timeout", "params", "headers"})
USER_AGENT = f"rasa-action-client (aiohttp/{aiohttp.__version__} compatible)"


class Response(NamedTuple):
    status: int
    reason: str
    content_type: str
    charset: Optional[str]
    body: bytes


class Target(NamedTuple):
    """Where a URL points: host and port to connect to, the request line's target, and the
    Host header."""

    host: str
    port: int
    path: str
    host_header: str


def parse_target(url: str) -> Optional[Target]:
    """The target of a plain-HTTP URL; None for anything this client leaves to aiohttp
    (another scheme, credentials in the URL, a fragment, characters that need quoting)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme != "http" or not host or parts.username or parts.password or parts.fragment:
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if not all(0x21 <= ord(ch) <= 0x7E for ch in path):
        return None  # spaces or non-ASCII: aiohttp quotes them its own way
    shown = f"[{host}]" if ":" in host else host
    return Target(host, port, path, shown if port == 80 else f"{shown}:{port}")


def header_lines(headers: Dict[str, Any]) -> Optional[str]:
    """The headers as request lines; None if a name or value could not be sent as it is."""
    lines = []
    for name, value in headers.items():
        value = str(value)
        if not _TOKEN.match(str(name)) or not _VALUE.match(value):
            return None
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


class _Connection(asyncio.Protocol):
    """One connection, one request at a time; ``httptools`` calls the ``on_*`` methods."""

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: Optional[asyncio.Future] = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._start()

    def _start(self) -> None:
        self.reason = b""
        self.headers: Dict[bytes, bytes] = {}
        self.body: List[bytes] = []
        self.headers_done = False

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes no request asked for: the connection is out of step
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(aiohttp.ClientPayloadError(f"Invalid HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        framed = b"content-length" in self.headers or b"transfer-encoding" in self.headers
        if self.headers_done and not framed:
            self._finish(keep=False)  # a body that ends with the connection
        else:
            self._fail(aiohttp.ServerDisconnectedError())

    # httptools
    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self._finish(keep=self.parser.should_keep_alive())

    # requests
    def _finish(self, keep: bool) -> None:
        self.reusable = keep and not self.closed
        raw_type = self.headers.get(b"content-type", b"").decode("latin-1")
        content_type, _, params = raw_type.partition(";")
        charset = None
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        if self.headers.get(b"content-encoding", b"identity").lower() not in (b"identity", b""):
            # Never asked for (no Accept-Encoding is sent): an answer that cannot be read.
            self.reusable = False
            self._fail(aiohttp.ClientPayloadError("Unexpected content encoding"))
            return
        response = Response(
            self.parser.get_status_code(),
            self.reason.decode("latin-1"),
            content_type.strip().lower(),
            charset,
            b"".join(self.body),
        )
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(response)

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _timeout(self) -> None:
        self._fail(asyncio.TimeoutError())

    async def request(self, data: bytes, timeout: Optional[float]) -> Response:
        loop = asyncio.get_running_loop()
        self._start()
        self.reusable = False
        self.waiter = loop.create_future()
        timer = loop.call_later(timeout, self._timeout) if timeout else None
        try:
            assert self.transport is not None
            self.transport.write(data)
            return await self.waiter
        finally:
            if timer is not None:
                timer.cancel()
            self.waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class LeanClient:
    """Kept-alive connections to one host and port, for one event loop."""

    def __init__(self, host: str, port: int, keepalive: float) -> None:
        self.host, self.port, self.keepalive = host, port, keepalive
        self._idle: Deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.opened = 0  # connections made (for tests and measurements)

    async def _connect(self, timeout: Optional[float]) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used first
            if not connection.closed and now - connection.idle_since < self.keepalive:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, self.host, self.port), timeout
            )
        except OSError as exc:
            raise aiohttp.ClientConnectionError(
                f"Cannot connect to host {self.host}:{self.port}: {exc}"
            ) from exc
        self.opened += 1
        return connection

    async def send(self, data: bytes, timeout: Optional[float]) -> Response:
        """Sends one request (all its bytes) and returns the answer."""
        async with self._slots:
            started = time.monotonic()
            connection = await self._connect(timeout)
            if timeout:
                timeout = max(timeout - (time.monotonic() - started), 0.001)
            try:
                response = await connection.request(data, timeout)
            except BaseException:
                connection.close()  # cancelled or failed: its state is unknown
                raise
            if connection.reusable and self.keepalive > 0 and len(self._idle) < MAX_IDLE:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return response

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


def build_request(
    target: Target, headers: str, body: bytes, params: Optional[Dict[str, Any]] = None
) -> bytes:
    path = target.path
    if params:
        path += ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {target.host_header}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\n"
        f"{headers}"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def decode(response: Response) -> Optional[Any]:
    """The JSON of a successful answer as aiohttp's ``ClientResponse.json`` decodes it; None
    when it is empty or not JSON (as ``EndpointConfig.request`` returns)."""
    if not JSON_TYPE.match(response.content_type):
        return None
    body = response.body.strip()
    if not body:
        return None
    # The standard library's reading, as aiohttp's (orjson reads huge integers as floats).
    return json.loads(body.decode(response.charset or "utf-8"))


def basic_auth_header(credentials: Optional[Dict[str, Any]]) -> Optional[Tuple[str, str]]:
    if not credentials:
        return None
    username, password = credentials.get("username", ""), credentials.get("password", "")
    if ":" in str(username):
        return None  # aiohttp refuses it: let it say so
    try:
        raw = f"{username}:{password}".encode("latin-1")
    except UnicodeEncodeError:
        return None
    return "Authorization", "Basic " + base64.b64encode(raw).decode("ascii")
