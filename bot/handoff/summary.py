"""What a specialist reads in the queue before claiming: why, and what the citizen asked."""

from __future__ import annotations

import datetime as dt
from typing import Optional, Sequence

from bot.log_privacy import mask_user_text
from bot.text.normalize import is_payload

REASON_LABELS = {
    "user_request": "用户请求人工",
    "fallback": "机器人未能理解",
    "lookup_locked": "办件查询已锁定",
    "complaint": "投诉",
}
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def summarize(
    reason: str, user_texts: Sequence[str], topic: Optional[str] = None, limit: int = 200
) -> str:
    """“投诉｜人才公寓：…最近的问题…”; payloads are left out and personal data masked."""
    head = REASON_LABELS.get(reason, reason)
    if topic:
        head += f"｜{topic}"
    asked = [t.strip() for t in user_texts if t and t.strip() and not is_payload(t.strip())]
    body = " / ".join(asked[-3:])
    text = f"{head}：{body}" if body else head
    return mask_user_text(text)[:limit]


def describe_opening(moment: Optional[dt.datetime]) -> str:
    """11月24日（周二）8:30"""
    if moment is None:
        return "下一个工作日"
    weekday = WEEKDAYS_ZH[moment.weekday()]
    return f"{moment.month}月{moment.day}日（{weekday}）{moment.hour}:{moment.minute:02d}"
