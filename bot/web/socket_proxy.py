"""``/socket.io/`` on the web server, passed through to Rasa's socket.io channel.

Rasa 3.6 creates its socket.io server with ``cors_allowed_origins=[]``, i.e. without CORS
headers: from a page of another origin (the widget on :8000, Rasa on :5005) a browser may open
the websocket but not the long-polling requests socket.io falls back to behind proxies that
block websockets. The web server therefore relays both transports on its own origin, and a
city publishes one port. (A scaled-out deployment lets nginx do the same.)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Dict

import aiohttp
from aiohttp import web

from bot.web.access import public
from bot.web.keys import SETTINGS

PATH = "/socket.io/"
# Hop-by-hop headers, and what the upstream request sets itself.
_SKIP = {
    "host",
    "connection",
    "upgrade",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "origin",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
}
TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=5)


def _headers(request: web.Request) -> Dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in _SKIP}


def _upstream(request: web.Request, scheme: str = "http") -> str:
    base = request.app[SETTINGS].rasa_url
    if scheme == "ws":
        base = "ws" + base[len("http") :]
    return f"{base}{request.rel_url.path_qs}"


@public  # the widget's conversation: Rasa's channel, public by the contract
async def relay(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _relay_websocket(request)
    body = await request.read()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            async with session.request(
                request.method, _upstream(request), headers=_headers(request), data=body
            ) as upstream:
                payload = await upstream.read()
                headers = {
                    k: v
                    for k, v in upstream.headers.items()
                    if k.lower() not in _SKIP and k.lower() != "content-encoding"
                }
                return web.Response(body=payload, status=upstream.status, headers=headers)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise web.HTTPBadGateway(text="对话服务暂时不可用，请稍后再试") from exc


async def _relay_websocket(request: web.Request) -> web.StreamResponse:
    client = web.WebSocketResponse(autoping=True)
    await client.prepare(request)
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            async with session.ws_connect(
                _upstream(request, "ws"), headers=_headers(request), autoping=True
            ) as upstream:
                await _pump(client, upstream)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass  # the browser's socket.io client reconnects with the same session
    finally:
        await client.close()
    return client


async def _pump(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    async def forward(source, target) -> None:  # type: ignore[no-untyped-def]
        async for message in source:
            if message.type == aiohttp.WSMsgType.TEXT:
                await target.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await target.send_bytes(message.data)
            else:
                break

    tasks = [
        asyncio.create_task(forward(client, upstream)),
        asyncio.create_task(forward(upstream, client)),
    ]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
