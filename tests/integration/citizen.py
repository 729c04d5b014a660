"""A citizen on the web widget's channel (Rasa's socket.io, session persistence), for tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Dict, List, Optional

import socketio


class Citizen:
    """A web-widget user: Rasa's socket.io channel with session persistence."""

    def __init__(
        self, url: str, session_id: str = "", transports: Optional[List[str]] = None
    ) -> None:
        self.url = url
        self.transports = transports or ["websocket"]
        # The same session id after a reconnect continues the same conversation.
        self.session_id = session_id or uuid.uuid4().hex
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: List[Dict[str, Any]] = []
        self.arrived = asyncio.Event()

        @self.sio.on("bot_uttered")
        async def on_bot(data: Dict[str, Any]) -> None:
            data["_at"] = time.monotonic()
            self.received.append(data)
            self.arrived.set()

    async def connect(self) -> None:
        confirmed = asyncio.Event()
        self.sio.on("session_confirm", lambda *_: confirmed.set())
        await self.sio.connect(self.url, socketio_path="/socket.io", transports=self.transports)
        await self.sio.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(confirmed.wait(), 10)

    async def say(self, text: str) -> None:
        await self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def wait_for(self, needle: str, timeout: float = 15) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.received:
                if needle in (message.get("text") or ""):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {needle!r} in {[m.get('text') for m in self.received]}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass
