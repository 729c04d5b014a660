"""Delivery of staff messages: the outbox is read and each message appended to the citizen's
conversation through Rasa's HTTP API; what Rasa does not accept is retried, in order."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Dict, List

from bot.handoff.rasa_client import RasaClient, RasaUnavailable
from bot.handoff.tickets import HandoffService

logger = logging.getLogger(__name__)

RATING_BUTTONS = [
    {"title": f"{n} 分", "payload": "/rate_service" + json.dumps({"rating": str(n)})}
    for n in (5, 4, 3, 2, 1)
]
POLL_SECONDS = 0.3
RETRY_SECONDS = 2.0


def events_for(message: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The Rasa events of one outbox message."""
    metadata = {"staff": message["staff"], "staff_name": message["staff_name"]}
    if message["kind"] == "close":
        return [
            {
                "event": "bot",
                "text": message["text"],
                "data": {"buttons": RATING_BUTTONS},
                "metadata": {**metadata, "handoff": "closed"},
            },
            # The bot answers this conversation again.
            {"event": "resume"},
        ]
    return [{"event": "bot", "text": message["text"], "metadata": metadata}]


class Outbox:
    def __init__(self, service: HandoffService, client: RasaClient) -> None:
        self.service = service
        self.client = client
        self.wakeup = asyncio.Event()

    async def deliver_pending(self) -> tuple[int, int]:
        """Delivers what is pending; stops at a conversation's first failure so that its
        messages keep their order. Returns (delivered, not delivered)."""
        pending = await asyncio.to_thread(self.service.pending_messages)
        delivered, blocked = 0, set()
        for message in pending:
            if message["ticket_id"] in blocked:
                continue
            try:
                await self.client.append_events(message["sender_id"], events_for(message))
            except RasaUnavailable as exc:
                blocked.add(message["ticket_id"])
                await asyncio.to_thread(self.service.mark_failed, message["id"], str(exc))
                logger.warning("Staff message %s not delivered yet: %s", message["id"], exc)
                continue
            await asyncio.to_thread(self.service.mark_delivered, message["id"])
            delivered += 1
        return delivered, len(pending) - delivered

    async def run(self) -> None:
        """Until cancelled: delivers as soon as woken (a new message), else polls; waits
        longer after a failure (Rasa restarting)."""
        while True:
            try:
                _, undelivered = await self.deliver_pending()
            except Exception:  # the worker must outlive a database hiccup
                logger.exception("Outbox delivery failed")
                undelivered = 1
            self.wakeup.clear()
            try:
                delay = RETRY_SECONDS if undelivered else POLL_SECONDS
                await asyncio.wait_for(self.wakeup.wait(), delay)
            except asyncio.TimeoutError:
                pass
