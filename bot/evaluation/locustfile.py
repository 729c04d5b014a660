"""Locust's user class for ``python -m bot load`` (bot/evaluation/load.py runs it as
``locust --headless -f bot/evaluation/locustfile.py``; importing Locust patches the process
with gevent, so nothing else imports this module).

Each simulated citizen holds conversations over Rasa's REST channel, one after another, each
under a new sender id, with a short think time between turns.
"""

from __future__ import annotations

import itertools
import json
import os

import gevent
from locust import FastHttpUser, between, events, task
from locust.exception import StopUser
from locust.stats import StatsError

from bot.evaluation.load import (
    CONNECT_TIMEOUT_S,
    CONVERSATIONS,
    REQUEST_TIMEOUT_S,
    THINK_MAX_S,
    THINK_MIN_S,
    WEBHOOK,
    classify_reply,
)

RUN_ID = os.environ.get("LOAD_RUN_ID", "manual")
MAX_REQUESTS = int(os.environ.get("LOAD_MAX_REQUESTS", "60000"))

_serials = itertools.count()
_sent = itertools.count(1)
_quitting = False


@events.init.add_listener
def _loopback_only(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    from bot.evaluation.load import check_loopback

    check_loopback(environment.host or "")


@events.quitting.add_listener
def _write_result(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    """The final figures, after every user stopped (Locust's CSV files are written once a
    second and miss the last requests): load.py reads them from LOAD_RESULT_FILE."""
    path = os.environ.get("LOAD_RESULT_FILE")
    if not path:
        return
    stats = environment.stats
    total = stats.total
    result = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "start_time": total.start_time,
        "last_request_timestamp": total.last_request_timestamp,
        "max_ms": total.max_response_time,
        # Locust's histogram: milliseconds rounded to 2 significant digits -> count.
        "response_times": total.response_times,
        "errors": [
            {"error": StatsError.parse_error(e.error), "occurrences": e.occurrences}
            for e in stats.errors.values()
        ],
        # Exceptions raised in the user class itself: a bug here, which voids the run.
        "exceptions": sum(row["count"] for row in environment.runner.exceptions.values()),
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


class Citizen(FastHttpUser):
    wait_time = between(THINK_MIN_S, THINK_MAX_S)
    network_timeout = REQUEST_TIMEOUT_S
    connection_timeout = CONNECT_TIMEOUT_S

    def on_start(self) -> None:
        self.serial = next(_serials)
        # Citizens start at different conversations so that they do not ask in lockstep.
        offset = self.serial % len(CONVERSATIONS)
        self.scripts = itertools.cycle(CONVERSATIONS[offset:] + CONVERSATIONS[:offset])
        self.conversations = 0

    @task
    def converse(self) -> None:
        turns = next(self.scripts)
        # A new sender per conversation: one endless conversation per user would measure
        # Rasa replaying an ever longer tracker instead.
        sender = f"load-{RUN_ID}-u{self.serial}-c{self.conversations}"
        self.conversations += 1
        for i, text in enumerate(turns):
            if i:
                self.wait()
            self._say(sender, text)

    def _say(self, sender: str, text: str) -> None:
        global _quitting
        if next(_sent) > MAX_REQUESTS:
            # The bound on the count of requests: end the whole run once.
            if not _quitting:
                _quitting = True
                gevent.spawn(self.environment.runner.quit)
            raise StopUser()
        with self.client.post(
            WEBHOOK,
            json={"sender": sender, "message": text},
            name=f"POST {WEBHOOK}",
            catch_response=True,
        ) as response:
            # Without an HTTP response, Locust leaves the exception in ``error`` and no body.
            status = response.status_code or 0
            error = getattr(response, "error", None)
            kind = classify_reply(status, error, response.text if status else None)
            if kind is None:
                response.success()
            else:
                response.failure(f"{kind} {status or type(error).__name__}")
