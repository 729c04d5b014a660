"""Rasa's calls to the action server without aiohttp's client (bot/action_http.py) send and
answer what aiohttp did, and fail as it failed."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import aiohttp
import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot import action_client, action_http

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture(autouse=True)
def patched(action_client_restored: None) -> None:
    """``apply`` for each test, undone after it (conftest.py)."""
    action_client.apply()


async def _serve(handler: Handler, **kwargs: Any) -> Tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/webhook", handler)
    runner = web.AppRunner(app, **kwargs)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"


async def _both(config: EndpointConfig, **kwargs: Any) -> List[Any]:
    """The answer (or the exception) of the lean call and of aiohttp's, in that order."""
    lean = EndpointConfig.request
    results = []
    for call in (lean, lean.__wrapped__):
        try:
            results.append(await call(config, **kwargs))
        except Exception as exc:  # compared below
            results.append(exc)
    return results


def _client(url: str) -> action_http.LeanClient:
    target = action_http.parse_target(url)
    assert target is not None
    loop = asyncio.get_running_loop()
    return action_client._lean[loop][(target.host, target.port)]


ANSWERS: List[Tuple[str, Handler]] = [
    (
        "json",
        lambda r: _json({"events": [{"event": "slot", "name": "region", "value": "海宁市"}]}),
    ),
    ("empty json", lambda r: _raw(b"", "application/json")),
    ("whitespace json", lambda r: _raw(b"  \n", "application/json")),
    ("text", lambda r: _raw(b"hello", "text/plain")),
    ("vendor json", lambda r: _raw(b'{"a": [1, 2.5]}', "application/vnd.rasa+json")),
    ("charset", lambda r: _raw('{"a": "人才"}'.encode("gbk"), "application/json; charset=gbk")),
    ("big integer", lambda r: _raw(b'{"n": 1000000000000000000000000000000}')),
    ("escaped surrogate", lambda r: _raw(b'{"s": "\\ud800"}')),
    ("rejected", lambda r: _json({"action_name": "x", "error": "不行"}, status=400)),
    ("failed", lambda r: _raw(b"Internal Server Error", "text/plain", status=500)),
    ("not found", lambda r: _raw(b"", "text/plain", status=404)),
    ("chunked", lambda r: _chunked(r)),
]


async def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)


async def _raw(body: bytes, content_type: str = "application/json", status: int = 200) -> Any:
    return web.Response(body=body, status=status, headers={"Content-Type": content_type})


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for part in ('{"events": [', '{"event": "bot", "text": "您好"}', "]}"):
        await response.write(part.encode())
    await response.write_eof()
    return response


@pytest.mark.parametrize("name,handler", ANSWERS, ids=[name for name, _ in ANSWERS])
def test_answers_are_what_aiohttp_gave(name: str, handler: Handler) -> None:
    async def main() -> List[Any]:
        runner, url = await _serve(handler)
        try:
            return await _both(EndpointConfig(url), json={"next_action": "x"}, method="post")
        finally:
            await runner.cleanup()

    lean, reference = asyncio.run(main())
    if isinstance(reference, Exception):
        assert type(lean) is type(reference)
        assert isinstance(lean, ClientResponseError)
        assert (lean.status, lean.message, lean.text) == (
            reference.status,
            reference.message,
            reference.text,
        )
    else:
        assert lean == reference


def test_nan_in_an_answer_reads_as_with_aiohttp() -> None:
    async def main() -> List[Any]:
        runner, url = await _serve(lambda r: _raw(b'{"x": NaN}'))
        try:
            return await _both(EndpointConfig(url), json={})
        finally:
            await runner.cleanup()

    lean, reference = asyncio.run(main())
    assert math.isnan(lean["x"]) and math.isnan(reference["x"])


def test_requests_carry_what_aiohttp_sent() -> None:
    seen: List[Dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "type": request.headers.get("Content-Type"),
                "auth": request.headers.get("Authorization"),
                "custom": request.headers.get("X-City"),
                "body": json.loads(await request.read()),
            }
        )
        return web.json_response({})

    payload = {"tracker": {"events": [{"text": "人才公寓/申请 😀 <b>"}]}, "n": 1.5, "none": None}

    async def main() -> None:
        runner, url = await _serve(handler)
        config = EndpointConfig(
            url + "?x=1",
            params={"lang": "zh"},
            headers={"X-City": "haining"},
            basic_auth={"username": "rasa", "password": "密码".encode().hex()},
            token="s3cret",
        )
        try:
            await _both(config, json=payload, params={"extra": "人才"})
        finally:
            await runner.cleanup()

    asyncio.run(main())
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert seen[0]["body"] == payload and "token=s3cret" in seen[0]["path"]


def test_connections_are_kept_and_retired_after_the_keepalive() -> None:
    peers: List[Any] = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"ok": True})

    async def main() -> int:
        action_client._settings["keepalive"] = 0.3
        runner, url = await _serve(handler)
        config = EndpointConfig(url)
        try:
            for _ in range(3):
                assert await config.request(json={}) == {"ok": True}
            await asyncio.sleep(0.5)  # longer than the keepalive: a new connection
            assert await config.request(json={}) == {"ok": True}
            return _client(url).opened
        finally:
            await runner.cleanup()

    opened = asyncio.run(main())
    assert opened == 2
    assert len(set(peers[:3])) == 1 and peers[3] != peers[0]


def test_a_connection_the_server_closed_is_not_used_again() -> None:
    # The server answers as if the connection stayed open, then closes it, as a server does
    # when its idle timeout passes.
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
        b'{"ok":true}'
    )

    async def main() -> int:
        action_client._settings["keepalive"] = 30.0
        server, url = await _raw_server(lambda request: reply)
        config = EndpointConfig(url)
        try:
            assert await config.request(json={}) == {"ok": True}
            await asyncio.sleep(0.2)
            assert await config.request(json={}) == {"ok": True}
            return _client(url).opened
        finally:
            server.close()

    assert asyncio.run(main()) == 2


def test_an_answer_with_connection_close_is_read_and_the_connection_dropped() -> None:
    async def handler(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        response.force_close()
        return response

    async def main() -> int:
        runner, url = await _serve(handler)
        config = EndpointConfig(url)
        try:
            for _ in range(2):
                assert await config.request(json={}) == {"ok": True}
            return _client(url).opened
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == 2


async def _raw_server(answer: Callable[[bytes], Optional[bytes]]) -> Tuple[asyncio.Server, str]:
    """A TCP server that reads one request and writes ``answer(request)`` (None: closes)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        body = await reader.readexactly(length)
        reply = answer(head + body)
        if reply is not None:
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/webhook"


@pytest.mark.parametrize(
    "reply,error",
    [
        (None, aiohttp.ServerDisconnectedError),
        (b"hello there\r\n\r\n", aiohttp.ClientPayloadError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}", aiohttp.ServerDisconnectedError),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: 2\r\n\r\n{}",
            aiohttp.ClientPayloadError,
        ),
    ],
    ids=["closed without answer", "not http", "cut short", "compressed"],
)
def test_broken_answers_fail_as_aiohttp_errors(reply: Optional[bytes], error: type) -> None:
    async def main() -> None:
        server, url = await _raw_server(lambda request: reply)
        try:
            with pytest.raises(error):
                await EndpointConfig(url).request(json={"n": 1})
        finally:
            server.close()

    asyncio.run(main())


def test_an_answer_that_ends_with_the_connection_is_read() -> None:
    reply = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"events": []}'

    async def main() -> Any:
        server, url = await _raw_server(lambda request: reply)
        try:
            return await EndpointConfig(url).request(json={})
        finally:
            server.close()

    assert asyncio.run(main()) == {"events": []}


def test_an_unreachable_server_is_a_connection_error() -> None:
    async def main() -> None:
        server, url = await _raw_server(lambda request: None)
        server.close()
        await server.wait_closed()
        with pytest.raises(aiohttp.ClientConnectionError):
            await EndpointConfig(url).request(json={})

    asyncio.run(main())


async def _slow_if_asked(request: web.Request) -> web.Response:
    if request.query.get("slow"):
        await asyncio.sleep(1.0)
    return web.json_response({"ok": True})


def test_a_slow_answer_times_out_and_its_connection_is_dropped() -> None:
    async def main() -> int:
        runner, url = await _serve(_slow_if_asked)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await EndpointConfig(url + "?slow=1").request(json={}, timeout=0.2)
            assert await EndpointConfig(url).request(json={}, timeout=5) == {"ok": True}
            return _client(url).opened
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == 2


def test_a_cancelled_call_drops_its_connection() -> None:
    async def main() -> int:
        runner, url = await _serve(_slow_if_asked)
        try:
            call = asyncio.ensure_future(EndpointConfig(url + "?slow=1").request(json={}))
            await asyncio.sleep(0.2)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert await EndpointConfig(url).request(json={}) == {"ok": True}
            return _client(url).opened
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == 2


def test_concurrent_calls_each_get_a_connection() -> None:
    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(0.05)
        return web.json_response({"n": body["n"]})

    async def main() -> Tuple[List[Any], int, int]:
        runner, url = await _serve(handler)
        config = EndpointConfig(url)
        try:
            answers = await asyncio.gather(*(config.request(json={"n": n}) for n in range(20)))
            again = await asyncio.gather(*(config.request(json={"n": n}) for n in range(20)))
            client = _client(url)
            return answers + again, client.opened, len(client._idle)
        finally:
            await runner.cleanup()

    answers, opened, idle = asyncio.run(main())
    assert answers == [{"n": n} for n in range(20)] * 2
    assert opened == 20 and idle == 20  # the second round reused the first round's


@pytest.mark.parametrize(
    "url,kwargs",
    [
        ("https://127.0.0.1:1/webhook", {"json": {}}),
        ("http://127.0.0.1:1/webhook", {"json": {}, "compress": True}),
        ("http://127.0.0.1:1/webhook", {"json": {}, "method": "get"}),
        ("http://127.0.0.1:1/webhook", {"data": b"{}"}),
        ("http://127.0.0.1:1/webhook", {"json": {}, "headers": {"X-Bad": "a\r\nInjected: 1"}}),
        ("http://127.0.0.1:1/webhook", {"json": {}, "headers": {"Host": "elsewhere"}}),
        ("http://user:pw@127.0.0.1:1/webhook", {"json": {}}),
        ("http://127.0.0.1:1/人才", {"json": {}}),
        ("http://127.0.0.1:1/webhook", {"json": {}, "timeout": aiohttp.ClientTimeout(1)}),
    ],
)
def test_other_calls_go_through_aiohttp(
    url: str, kwargs: Dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: List[Any] = []

    async def original(self: Any, *args: Any, **kw: Any) -> str:
        calls.append((args, kw))
        return "aiohttp"

    monkeypatch.setattr(EndpointConfig, "request", action_client._lean_request(original))
    assert asyncio.run(EndpointConfig(url).request(**kwargs)) == "aiohttp"
    assert len(calls) == 1


def test_reuse_turned_off_goes_through_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTION_KEEPALIVE_SECONDS", "0")
    action_client.apply()
    calls: List[Any] = []

    async def original(self: Any, *args: Any, **kw: Any) -> str:
        calls.append(kw)
        return "aiohttp"

    monkeypatch.setattr(EndpointConfig, "request", action_client._lean_request(original))
    assert asyncio.run(EndpointConfig("http://127.0.0.1:1/webhook").request(json={})) == "aiohttp"


def test_targets_are_parsed_as_http_sends_them() -> None:
    target = action_http.parse_target("http://[::1]:5055/webhook?a=1")
    assert target == action_http.Target("::1", 5055, "/webhook?a=1", "[::1]:5055")
    assert action_http.parse_target("http://actions/webhook").host_header == "actions"
    assert action_http.parse_target("http://actions").path == "/"
    assert action_http.parse_target("http://actions:99999/") is None
    assert action_http.parse_target("ftp://actions/") is None


def test_the_connections_are_closed_when_the_server_stops() -> None:
    async def main() -> action_http.LeanClient:
        runner, url = await _serve(lambda r: _json({}))
        try:
            await EndpointConfig(url).request(json={})
            client = _client(url)
            assert len(client._idle) == 1
            await action_client.close_sessions()
            return client
        finally:
            await runner.cleanup()

    client = asyncio.run(main())
    assert not client._idle
