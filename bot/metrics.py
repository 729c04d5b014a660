"""Prometheus metrics of the product's processes (prometheus-client; docs/operations.md).

The Rasa server counts messages and their handling time per channel, the actions run (the
fallback among them) and WeChat API errors; the web server reports the handoff queue from
the database at each scrape. ``/metrics`` answers only requests from the machine itself that
did not come through the reverse proxy, or with ``Authorization: Bearer $METRICS_TOKEN``.
"""

from __future__ import annotations

import functools
import hmac
import os
import time
from typing import Any, Mapping, Optional

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

MESSAGES = Counter("talent_messages_total", "User messages handled", ["channel"])
MESSAGE_SECONDS = Histogram(
    "talent_message_seconds",
    "Time to handle one user message, reply included",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 30),
)
MESSAGE_FAILURES = Counter(
    "talent_message_failures_total", "User messages whose handling raised", ["channel"]
)
ACTIONS = Counter("talent_actions_total", "Actions run by the dialogue", ["action"])
FALLBACKS = Counter("talent_fallbacks_total", "Messages nothing in the knowledge base fitted")
WECHAT_API_ERRORS = Counter(
    "talent_wechat_api_errors_total", "WeChat API calls answered with an error", ["errcode"]
)
FALLBACK_ACTIONS = frozenset({"action_fallback"})
LOOPBACK = frozenset({"127.0.0.1", "::1"})


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


def handoff_exposition(counts: Mapping[str, int]) -> bytes:
    """The handoff queue as gauges, read from the database at scrape time, so that every
    web server reports the same figures."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    tickets = Gauge("talent_handoffs", "Handoff tickets by status", ["status"], registry=registry)
    for status in ("waiting", "active", "closed"):
        tickets.labels(status).set(counts.get(status, 0))
    opened = Gauge("talent_handoffs_opened", "Handoff tickets ever opened", registry=registry)
    opened.set(sum(counts.get(status, 0) for status in ("waiting", "active", "closed")))
    pending = Gauge(
        "talent_staff_messages_undelivered",
        "Staff messages not yet accepted by Rasa",
        registry=registry,
    )
    pending.set(counts.get("undelivered_messages", 0))
    return generate_latest(registry)


def may_scrape(peer: Optional[str], headers: Mapping[str, str]) -> bool:
    """Metrics are for the city's monitoring, not for the public: a direct request from this
    machine, or one with the metrics token."""
    token = os.environ.get("METRICS_TOKEN", "")
    given = headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    proxied = "X-Forwarded-For" in headers or "Forwarded" in headers
    return peer in LOOPBACK and not proxied


def instrument_rasa() -> None:
    """Counts messages (per channel, with their time) and actions in the Rasa server."""
    from rasa.core.agent import Agent
    from rasa.core.processor import MessageProcessor

    handle_message = Agent.handle_message

    @functools.wraps(handle_message)
    async def timed(self: Agent, message: Any) -> Any:
        channel = (getattr(message, "input_channel", None) or "unknown")[:32]
        started = time.perf_counter()
        try:
            return await handle_message(self, message)
        except Exception:
            MESSAGE_FAILURES.labels(channel).inc()
            raise
        finally:
            MESSAGES.labels(channel).inc()
            MESSAGE_SECONDS.labels(channel).observe(time.perf_counter() - started)

    Agent.handle_message = timed  # type: ignore[method-assign]

    run_action = MessageProcessor._run_action

    @functools.wraps(run_action)
    async def counted(self: MessageProcessor, action: Any, *args: Any, **kwargs: Any) -> Any:
        name = action.name()
        if name != "action_listen":
            ACTIONS.labels(name).inc()
        if name in FALLBACK_ACTIONS:
            FALLBACKS.inc()
        return await run_action(self, action, *args, **kwargs)

    MessageProcessor._run_action = counted  # type: ignore[method-assign]
