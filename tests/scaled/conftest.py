"""The scaled deployment (PostgreSQL, Redis, nginx, 2 Rasa replicas, 2 action servers, the web
server) started once for the fault tests, on free loopback ports with data in a temporary
directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from bot.config import load_settings
from bot.scaled.stack import ScaledPorts, ScaledStack


@pytest.fixture(scope="session")
def scaled() -> Iterator[ScaledStack]:
    os.environ["RASA_AUTH_TOKEN"] = "scaled-test-token"
    os.environ["HANDOFF_HOURS"] = "mon-sun 00:00-24:00"
    os.environ.pop("HANDOFF_CLOSED_DATES", None)
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "WECHAT_TOKEN"):
        os.environ.pop(name, None)
    # Not under pytest's tmp_path: PostgreSQL's own user must be able to reach its data.
    work = Path(tempfile.mkdtemp(prefix="talent-scaled-"))
    work.chmod(0o755)
    settings = replace(load_settings(), var_dir=work / "var")
    stack = ScaledStack(settings, work / "data", ScaledPorts.free(), log_dir=work / "logs")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        # SCALED_KEEP=1 keeps the logs and data for a look after a failure.
        if os.environ.get("SCALED_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
