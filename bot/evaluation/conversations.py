"""Conversation tests: ``rasa test core`` on tests/conversations/, failing on any error."""

from __future__ import annotations

import os
import subprocess
import sys

from bot.config import Settings

STORIES = "tests/conversations"


def run_conversation_tests(settings: Settings) -> int:
    out = settings.var_dir / "test-results" / "conversations"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    code = subprocess.call(
        [
            sys.executable,
            "-m",
            "rasa",
            "test",
            "core",
            "--model",
            str(settings.model_path),
            "--stories",
            STORIES,
            "--out",
            str(out),
            "--fail-on-prediction-errors",
            "--quiet",
        ],
        cwd=settings.root,
        env=env,
    )
    failed = out / "failed_test_stories.yml"
    if code != 0 and failed.is_file():
        print(failed.read_text(encoding="utf-8"), file=sys.stderr)
    print("对话测试" + ("通过" if code == 0 else f"失败（详见 {out}）"))
    return code
