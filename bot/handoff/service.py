"""The process-wide handoff service (actions and web server)."""

from __future__ import annotations

import functools

from bot.handoff.tickets import HandoffService


@functools.lru_cache(maxsize=1)
def get_handoff_service() -> HandoffService:
    """Service hours come from the environment (bot/handoff/hours.py); a mistake there stops
    the process at start, with a message naming the variable."""
    return HandoffService()
