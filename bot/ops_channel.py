"""Health, readiness and metrics of a Rasa server, at ``/webhooks/ops/`` (an input channel
only for its routes: Rasa mounts channels' blueprints, not other routes).

- ``GET /webhooks/ops/health``: the process answers.
- ``GET /webhooks/ops/ready``: the model is loaded and the tracker store and lock store
  answer; 503 otherwise (a load balancer or orchestrator takes the replica out).
- ``GET /webhooks/ops/metrics``: Prometheus metrics (``bot.metrics``), for local scrapes or
  with the metrics token only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import metrics

logger = logging.getLogger(__name__)


def _check_tracker_store(store: Any) -> None:
    inner = getattr(store, "_tracker_store", store)  # Rasa wraps it in a fail-safe store
    engine = getattr(inner, "engine", None)
    if engine is not None:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")


def _check_lock_store(store: Any) -> None:
    client = getattr(store, "red", None)  # RedisLockStore
    if client is not None:
        client.ping()


class OpsChannel(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "ops"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        ops = Blueprint("ops", __name__)

        @ops.route("/health", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @ops.route("/ready", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            agent = getattr(request.app.ctx, "agent", None)
            checks: Dict[str, str] = {"model": "ok" if agent and agent.is_ready() else "loading"}
            if agent is not None:
                for name, check, store in (
                    ("tracker_store", _check_tracker_store, agent.tracker_store),
                    ("lock_store", _check_lock_store, agent.lock_store),
                ):
                    try:
                        await asyncio.wait_for(asyncio.to_thread(check, store), 5)
                        checks[name] = "ok"
                    except Exception as exc:  # whatever the store raises, it is not ready
                        checks[name] = type(exc).__name__
            ok = all(value == "ok" for value in checks.values())
            return response.json(
                {"status": "ready" if ok else "not ready", "checks": checks},
                status=200 if ok else 503,
            )

        @ops.route("/metrics", methods=["GET"])
        async def scrape(request: Request) -> HTTPResponse:
            if not metrics.may_scrape(request.ip, request.headers):
                return response.text("not found", status=404)
            body, content_type = metrics.exposition()
            return response.raw(body, content_type=content_type)

        return ops
