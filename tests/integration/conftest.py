"""Fixtures that start the real Rasa server and action server once per test session."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from bot.config import load_settings
from bot.runner import Stack, isolated


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running deployment on free ports with its own tracker database and token."""
    os.environ["RASA_AUTH_TOKEN"] = "integration-test-token"
    # The most verbose logs, so that the privacy tests see everything Rasa could ever log.
    os.environ["LOG_LEVEL"] = "DEBUG"
    # Specialists on duty round the clock: replies must not depend on the hour of the run.
    os.environ["HANDOFF_HOURS"] = "mon-sun 00:00-24:00"
    os.environ.pop("HANDOFF_CLOSED_DATES", None)
    settings = isolated(load_settings(), tmp_path_factory.mktemp("stack"))
    running = Stack(settings, log_dir=settings.tracker_db.parent / "logs")
    running.start()
    try:
        yield running
    finally:
        running.stop()
