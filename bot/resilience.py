"""How the Rasa server rides out a failing dependency (applied in ``bot.rasa_server``).

- **Action server down** (or answering errors): Rasa 3.6 logs the exception and answers
  nothing, so the citizen waits in silence. Here the failed action answers that the service
  is temporarily unavailable and offers a person; ``action_session_start`` falls back to
  Rasa's built-in session start, so a new session is not greeted with two apologies.
- **Tracker store (SQL) briefly unreachable** (a PostgreSQL restart, a fail-over): Rasa's
  engine has no ``pool_pre_ping``, so every pooled connection fails once after a restart,
  and a read or write during the outage fails the message (HTTP 500). Connections are
  checked before use, and reads and writes are retried for up to ``RETRY_SECONDS``.
- **Redis lock store briefly unreachable**: the same bounded retry around its three calls.
- **A replica dies holding a conversation's lock** (``kill -9``): Rasa's ticket lock serves
  the first ticket that has not expired, and a waiter's ticket, issued just after the dead
  holder's, expires just after it; the waiter polls once a second, nearly always misses the
  moment its own ticket is first in line, and then waits for a ticket that no longer exists
  until the HTTP request times out, and the message is lost. A waiter whose ticket expired
  takes a new one, so it is served once the dead holder's ticket has expired
  (``TICKET_LOCK_LIFETIME``).

A message whose dependency stays down longer still fails, after ``RETRY_SECONDS``: waiting
longer would only pile up requests.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, Callable, List, TypeVar

logger = logging.getLogger(__name__)

RETRY_SECONDS = 20.0
PAUSES = (0.2, 0.5, 1.0, 2.0)
UNAVAILABLE_TEXT = (
    "抱歉，系统暂时无法处理您的请求，请稍后再试。如需人工帮助，请回复“转人工”，"
    "或在工作时间联系当地人才服务窗口。"
)
UNAVAILABLE_BUTTONS = [{"title": "转人工", "payload": "/request_human"}]

T = TypeVar("T")


def _pauses() -> List[float]:
    """Growing pauses that add up to RETRY_SECONDS."""
    pauses, total = [], 0.0
    while total < RETRY_SECONDS:
        pause = PAUSES[min(len(pauses), len(PAUSES) - 1)]
        pauses.append(pause)
        total += pause
    return pauses


def _log_retry(what: str, exc: BaseException, pause: float) -> None:
    logger.warning("%s failed (%s), retrying in %.1f s", what, type(exc).__name__, pause)


def _transient_db_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _retry_async(method: Callable[..., Any], what: str) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        for pause in [*_pauses(), None]:
            try:
                return await method(*args, **kwargs)
            except Exception as exc:
                if pause is None or not _transient_db_error(exc):
                    raise
                logger.warning(
                    "%s failed (%s), retrying in %.1f s", what, type(exc).__name__, pause
                )
                await asyncio.sleep(pause)

    return wrapper


def _retry_sync(method: Callable[..., T], what: str) -> Callable[..., T]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        for pause in [*_pauses(), None]:
            try:
                return method(*args, **kwargs)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if pause is None:
                    raise
                logger.warning(
                    "%s failed (%s), retrying in %.1f s", what, type(exc).__name__, pause
                )
                # Rasa calls the lock store synchronously; the pause is bounded.
                time.sleep(pause)
        raise AssertionError("unreachable")

    return wrapper


def _unavailable_events() -> List[Any]:
    from rasa.shared.core.events import BotUttered

    return [BotUttered(UNAVAILABLE_TEXT, data={"buttons": UNAVAILABLE_BUTTONS})]


def _lock_with_requeue() -> Callable[..., Any]:
    from contextlib import asynccontextmanager

    from rasa.core.lock_store import LOCK_LIFETIME, LockError

    @asynccontextmanager
    async def lock(
        self: Any,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> Any:
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        try:
            while True:
                current = self.get_lock(conversation_id)
                if current is None:
                    raise LockError(f"Could not acquire lock for conversation '{conversation_id}'.")
                if not current.is_locked(ticket):
                    break
                if current._ticket_for_ticket_number(ticket) is None:
                    # Expired while waiting: queue again rather than wait for nothing.
                    ticket = self.issue_ticket(conversation_id, lock_lifetime)
                    continue
                await asyncio.sleep(wait_time_in_seconds)
                self.update_lock(conversation_id)
            yield current
        finally:
            self.cleanup(conversation_id, ticket)

    return lock


def apply() -> None:
    from rasa.core import lock_store, tracker_store
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.actions.action import ActionSessionStart as BuiltinSessionStart
    from rasa.shared.exceptions import RasaException

    original_run = RemoteAction.run

    async def run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any):  # type: ignore[no-untyped-def]
        try:
            return await original_run(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # a form's own signal, not a failure
        except RasaException as exc:
            logger.error("Custom action %s failed: %s", self.name(), exc)
            if self.name() == "action_session_start":
                return await BuiltinSessionStart().run(output_channel, nlg, tracker, domain)
            return _unavailable_events()

    RemoteAction.run = run  # type: ignore[method-assign]

    original_kwargs = tracker_store.create_engine_kwargs

    def create_engine_kwargs(url: Any) -> Any:
        kwargs = original_kwargs(url)
        kwargs["pool_pre_ping"] = True
        return kwargs

    tracker_store.create_engine_kwargs = create_engine_kwargs
    from bot.tracker_store import CachedSQLTrackerStore

    sql = tracker_store.SQLTrackerStore
    for name in ("retrieve", "retrieve_full_tracker", "save", "keys"):
        setattr(sql, name, _retry_async(getattr(sql, name), f"Tracker store {name}"))
    cached = CachedSQLTrackerStore  # its own reads and writes, not through SQLTrackerStore's
    for name in ("retrieve", "save"):
        setattr(cached, name, _retry_async(getattr(cached, name), f"Tracker store {name}"))
    lock_store.LockStore.lock = _lock_with_requeue()  # type: ignore[method-assign]
    redis_store = lock_store.RedisLockStore
    for name in ("get_lock", "save_lock", "delete_lock"):
        setattr(redis_store, name, _retry_sync(getattr(redis_store, name), f"Lock store {name}"))
