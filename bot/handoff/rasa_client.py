"""Rasa's HTTP API, as the web server uses it: appending a specialist's message (or the closing
message) to a conversation, delivered on the citizen's channel. The token never leaves the
server."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional
from urllib.parse import quote

import aiohttp

TIMEOUT_SECONDS = 10.0


class RasaUnavailable(Exception):
    """Rasa did not accept the events (down, restarting, or refused): retry later."""


class RasaClient:
    def __init__(self, base_url: str, token: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def append_events(self, sender_id: str, events: List[Dict[str, Any]]) -> None:
        """Appends ``events`` and runs their side effects: bot messages go out on the channel
        the citizen last wrote from (``output_channel=latest``)."""
        url = f"{self._base}/conversations/{quote(sender_id, safe='')}/tracker/events"
        params = {
            "token": self._token,
            "output_channel": "latest",
            "execute_side_effects": "true",
            "include_events": "NONE",
        }
        client = await self._client()
        try:
            async with client.post(url, params=params, json=events) as response:
                if response.status != 200:
                    body = (await response.text())[:200]
                    raise RasaUnavailable(f"HTTP {response.status}: {body}")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def reachable(self) -> bool:
        """Whether Rasa answers at all (its root needs no token): the web server's readiness."""
        client = await self._client()
        try:
            async with client.get(f"{self._base}/", timeout=aiohttp.ClientTimeout(total=3)) as r:
                return r.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
