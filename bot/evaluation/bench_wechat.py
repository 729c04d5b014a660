"""Benchmark case of the WeChat channel: WeChat's 5-second rule under load.

200 messages from 40 users are pushed to the webhook by the local fake of WeChat
(``bot.wechat.fake``), 8 at a time; every tenth goes to a conversation whose actions are made
slower than 5 s on purpose (``bot.evaluation.slow_actions``). Measured: how many deliveries
are answered within 5 s (passively, or with ``success`` and the answer pushed through the API
later), whether every pushed answer arrives, and whether any message reached Rasa twice.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

import numpy as np

from bot.evaluation.slow_actions import SLOW_PREFIX
from bot.runner import user_events
from bot.wechat.fake import Delivery, FakeWeChat

WECHAT_WINDOW_S = 5.0
QUESTIONS = ("张家港人才贷最多能贷多少", "海宁人才公寓怎么申请", "你好", "谢谢", "子女入学")


def measure_wechat(
    fake: FakeWeChat,
    rasa_url: str,
    token: str,
    messages: int = 200,
    users: int = 40,
    slow_users: int = 4,
    workers: int = 8,
) -> Dict[str, Any]:
    webhook = f"{rasa_url}/webhooks/wechat/webhook"
    fast = [f"o{uuid.uuid4().hex[:20]}" for _ in range(users - slow_users)]
    slow = [f"{SLOW_PREFIX}{uuid.uuid4().hex[:16]}" for _ in range(slow_users)]
    pushes = []
    for i in range(messages):
        # Every tenth message asks a policy question in a slowed conversation.
        user = slow[(i // 10) % slow_users] if i % 10 == 0 else fast[i % len(fast)]
        pushes.append(fake.text(user, QUESTIONS[i % len(QUESTIONS)]))

    def deliver(message: Dict[str, Any]) -> Delivery:
        # One attempt: a second one would mean the first missed WeChat's window.
        return fake.deliver(webhook, message, attempts=1, timeout=WECHAT_WINDOW_S)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        deliveries = list(pool.map(deliver, pushes))
    answered = [d for d in deliveries if d.status == 200 and d.elapsed < WECHAT_WINDOW_S]
    pending: Dict[str, int] = {}
    for message, delivery in zip(pushes, deliveries):
        if delivery.body == "success":
            pending[message["FromUserName"]] = pending.get(message["FromUserName"], 0) + 1
    arrived = 0
    for user, count in pending.items():
        try:
            fake.wait_for_messages(user, count, timeout=120)
            arrived += count
        except TimeoutError:
            arrived += len(fake.sent_messages(user))
    duplicates = missing = 0
    for user in fast + slow:
        expected = {str(m["MsgId"]) for m in pushes if m["FromUserName"] == user}
        seen = [str(e.get("message_id")) for e in user_events(rasa_url, token, user)]
        duplicates += len(seen) - len(set(seen))
        missing += len(expected - set(seen))
    elapsed = np.array([d.elapsed for d in deliveries])
    return {
        "messages": messages,
        "slowed": sum(1 for m in pushes if m["FromUserName"].startswith(SLOW_PREFIX)),
        "answered_within_5s": len(answered),
        "passive": sum(1 for d in deliveries if d.text),
        "pushed": sum(pending.values()),
        "pushed_arrived": arrived,
        "processed_twice": duplicates,
        "never_processed": missing,
        "median_s": float(np.percentile(elapsed, 50)),
        "p95_s": float(np.percentile(elapsed, 95)),
        "max_s": float(elapsed.max()),
    }
