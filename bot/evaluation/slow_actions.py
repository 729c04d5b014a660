"""A proxy between Rasa and the action server that makes the actions of chosen conversations
slow on purpose (senders starting with ``slow-``): how the WeChat tests and benchmark get
answers slower than WeChat's 5 seconds without any test hook in the product."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Optional

from aiohttp import ClientSession, ClientTimeout, web

SLOW_PREFIX = "slow-"


class SlowActionProxy:
    def __init__(self, upstream: str, delay: float = 6.0) -> None:
        self.upstream = upstream
        self.delay = delay
        self.url = ""
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None
        self._session: Optional[ClientSession] = None

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            sender = str(json.loads(body).get("sender_id") or "")
        except ValueError:
            sender = ""
        if sender.startswith(SLOW_PREFIX):
            await asyncio.sleep(self.delay)
        assert self._session is not None
        async with self._session.post(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        ) as answer:
            return web.Response(
                body=await answer.read(), status=answer.status, content_type="application/json"
            )

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)

            async def begin() -> None:
                self._session = ClientSession(timeout=ClientTimeout(total=60))
                app = web.Application()
                app.router.add_post("/webhook", self._forward)
                self._runner = web.AppRunner(app)
                await self._runner.setup()
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                await site.start()
                port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                self.url = f"http://127.0.0.1:{port}/webhook"

            self._loop.run_until_complete(begin())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, name="slow-action-proxy", daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("slow action proxy did not start")

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def end() -> None:
            if self._session is not None:
                await self._session.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(end(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
