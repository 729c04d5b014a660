"""Fixtures that start the real Rasa server and action server once per test session."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Iterator

import pytest

from bot.config import load_settings
from bot.runner import Stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running deployment on free ports with its own tracker database and token."""
    work: Path = tmp_path_factory.mktemp("stack")
    os.environ.update(
        {
            "RASA_PORT": str(_free_port()),
            "ACTION_PORT": str(_free_port()),
            "RASA_HOST": "127.0.0.1",
            "TRACKER_DB": str(work / "tracker.db"),
            "RASA_AUTH_TOKEN": "integration-test-token",
        }
    )
    os.environ.pop("ACTION_SERVER_URL", None)
    settings = load_settings()
    running = Stack(settings, log_dir=work / "logs")
    running.start()
    try:
        yield running
    finally:
        running.stop()
