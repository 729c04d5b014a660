"""Start ``rasa run --enable-api`` with the auth token taken from the environment.

The token is handed to Rasa inside this process, so it never shows in the process list
(``ps``) as a command-line argument would.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    token = os.environ.get("RASA_AUTH_TOKEN")
    if not token:
        raise SystemExit("RASA_AUTH_TOKEN 未设置：Rasa 的 HTTP API 只能在令牌保护下开启。")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # One TensorFlow thread per server: a message is a batch of one, too small to gain from
    # a thread pool, and handing work between threads cost ~15 % of a turn (make bench). The
    # other core serves the action server and other requests. Overridable per deployment.
    os.environ.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    os.environ.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
    from rasa.__main__ import main as rasa_main

    from bot import action_client, log_privacy, metrics, rasa_patches, resilience

    log_privacy.install(structured=True)
    rasa_patches.apply()
    resilience.apply()
    action_client.apply()
    metrics.instrument_rasa()

    sys.argv = ["rasa", "run", "--enable-api", "--auth-token", token, *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
