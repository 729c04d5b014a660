"""Benchmark case of the handoff: how fast a specialist's message reaches a connected web user,
and how fast the console's queue learns of a citizen's new message.

A citizen on Rasa's socket.io channel (as the web widget) asks for a person; a specialist
claims through the console API. Then, repeatedly: the specialist posts a message and the time
until the citizen's socket receives it is measured; the citizen writes and the time until the
console's live stream (``/api/stream``) announces the ticket is measured.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Dict, List

import aiohttp
import numpy as np
import socketio

from bot.handoff.staff import StaffDirectory

ROUNDS = 30
TARGET_DELIVERY_MEDIAN_S = 1.0
TARGET_QUEUE_MAX_S = 2.0


def _summary(values: List[float]) -> Dict[str, Any]:
    if not values:
        return {"count": 0, "median_s": None, "p95_s": None, "max_s": None}
    array = np.array(values)
    return {
        "count": len(values),
        "median_s": float(np.percentile(array, 50)),
        "p95_s": float(np.percentile(array, 95)),
        "max_s": float(array.max()),
    }


async def _measure(rasa_url: str, web_url: str, username: str, password: str) -> Dict[str, Any]:
    session_id = uuid.uuid4().hex
    sio = socketio.AsyncClient(reconnection=False)
    inbox: asyncio.Queue = asyncio.Queue()
    confirmed = asyncio.Event()
    sio.on("bot_uttered", lambda data: inbox.put_nowait((time.monotonic(), data)))
    sio.on("session_confirm", lambda *_: confirmed.set())
    await sio.connect(rasa_url, socketio_path="/socket.io", transports=["websocket"])
    await sio.emit("session_request", {"session_id": session_id})
    await asyncio.wait_for(confirmed.wait(), 10)

    async def say(text: str) -> None:
        await sio.emit("user_uttered", {"message": text, "session_id": session_id})

    async def next_reply(needle: str, timeout: float = 15.0) -> float:
        deadline = time.monotonic() + timeout
        while True:
            at, data = await asyncio.wait_for(inbox.get(), max(0.01, deadline - time.monotonic()))
            if needle in (data.get("text") or ""):
                return at

    delivery: List[float] = []
    queue: List[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.post(
            f"{web_url}/api/login", json={"username": username, "password": password}
        ) as response:
            token = (await response.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        await say("转人工")
        await next_reply("取消人工")  # queued, or out of hours: both end so
        async with http.get(f"{web_url}/api/handoffs?status=waiting", headers=headers) as r:
            ticket = next(t["id"] for t in await r.json() if t["sender_id"] == session_id)
        async with http.post(f"{web_url}/api/handoffs/{ticket}/claim", headers=headers) as r:
            assert r.status == 200

        stream = await http.get(f"{web_url}/api/stream", headers=headers)
        announced: asyncio.Queue = asyncio.Queue()

        async def read_stream() -> None:
            async for raw in stream.content:
                line = raw.decode("utf-8").strip()
                if line.startswith("data:"):
                    data = json.loads(line[5:])
                    announced.put_nowait((time.monotonic(), data.get("tickets") or []))

        reader = asyncio.create_task(read_stream())
        try:
            for i in range(ROUNDS):
                text = f"专员第 {i} 条测试消息"
                sent = time.monotonic()
                async with http.post(
                    f"{web_url}/api/handoffs/{ticket}/messages",
                    headers=headers,
                    json={"text": text},
                ) as r:
                    assert r.status == 202
                delivery.append(await next_reply(text) - sent)

                while not announced.empty():
                    announced.get_nowait()
                written = time.monotonic()
                await say(f"用户第 {i} 条消息")
                while True:
                    at, tickets = await asyncio.wait_for(announced.get(), 10)
                    if ticket in tickets:
                        queue.append(at - written)
                        break
        finally:
            reader.cancel()
            stream.close()
        async with http.post(f"{web_url}/api/handoffs/{ticket}/close", headers=headers) as r:
            assert r.status == 200
    await sio.disconnect()
    return {"delivery": _summary(delivery), "queue": _summary(queue), "rounds": ROUNDS}


def measure_handoff(database_url: str, rasa_url: str, web_url: str) -> Dict[str, Any]:
    username, password = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    StaffDirectory(database_url).create(username, password, "specialist", "基准测试")
    return asyncio.run(_measure(rasa_url, web_url, username, password))
