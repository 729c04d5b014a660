"""Live updates of the console: one watcher per web server notices new tickets, state changes
and citizens' messages, and every open console is told through Server-Sent Events (the
browser then reloads what it shows). A new user message shows within a second."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Optional, Tuple

from bot.handoff.tickets import HandoffService
from bot.handoff.transcript import TrackerEvents

logger = logging.getLogger(__name__)

WATCH_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


class Changes:
    """A version number that increases whenever something the console shows has changed."""

    def __init__(self, tickets: HandoffService, events: TrackerEvents) -> None:
        self.tickets = tickets
        self.events = events
        self.version = 0
        self._signature: Optional[Tuple[Any, ...]] = None
        self._last_event_id: Optional[int] = None
        self._condition = asyncio.Condition()
        self.changed_tickets: Dict[int, int] = {}  # ticket id -> version of its last change

    async def poke(self) -> None:
        """Something changed through this server (a claim, a message): tell consoles now."""
        await self._bump(None)

    async def _bump(self, ticket_ids: Optional[list]) -> None:
        async with self._condition:
            self.version += 1
            for ticket_id in ticket_ids or ():
                self.changed_tickets[ticket_id] = self.version
            if len(self.changed_tickets) > 1000:
                # Only recent changes matter: a console that missed more reloads everything.
                recent = sorted(self.changed_tickets.items(), key=lambda kv: kv[1])[-500:]
                self.changed_tickets = dict(recent)
            self._condition.notify_all()

    async def wait(self, version: int, timeout: float) -> int:
        async with self._condition:
            if self.version == version:
                try:
                    await asyncio.wait_for(self._condition.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
            return self.version

    def _check(self) -> Tuple[Tuple[Any, ...], list]:
        open_tickets = self.tickets.list("waiting") + self.tickets.list("active")
        senders = {t["sender_id"]: t["id"] for t in open_tickets}
        if self._last_event_id is None:
            self._last_event_id = self.events.latest_id()
        touched = []
        for event_id, sender, kind in self.events.messages_since(self._last_event_id, senders):
            self._last_event_id = max(self._last_event_id, event_id)
            # A citizen's message moves the ticket up; any message updates its transcript.
            ticket_id = self.tickets.touch(sender) if kind == "user" else senders.get(sender)
            if ticket_id is not None and ticket_id not in touched:
                touched.append(ticket_id)
        latest_closed = self.tickets.list("closed", limit=1)
        signature = (
            tuple(sorted((t["id"], t["status"], t["updated_at"]) for t in open_tickets)),
            latest_closed[0]["id"] if latest_closed else None,
        )
        return signature, touched

    async def watch(self) -> None:
        while True:
            try:
                signature, touched = await asyncio.to_thread(self._check)
                if touched or signature != self._signature:
                    self._signature = signature
                    await self._bump(touched)
            except Exception:  # keep watching through a database or tracker-store hiccup
                logger.exception("Console change watcher failed")
            await asyncio.sleep(WATCH_SECONDS)
