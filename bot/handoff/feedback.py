"""Citizens' 有帮助 / 没帮助 on the bot's answers, and the summary admins read."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Callable, Dict, List, Optional

from sqlalchemy import func, select

from bot.db.models import beijing_now
from bot.db.session import session_scope
from bot.handoff.models import SENDER_MAX, AnswerFeedback
from bot.log_privacy import mask_text

ANSWER_MAX = 1000


class FeedbackBox:
    def __init__(
        self, database_url: Optional[str] = None, clock: Callable[[], dt.datetime] = beijing_now
    ) -> None:
        self._url = database_url
        self._clock = clock

    def record(self, session_id: str, answer: str, helpful: bool) -> None:
        """Stores (or changes) the session's verdict on one answer."""
        # Answers of the bot are already masked; numbers in them (3000万元) stay.
        text = mask_text(answer.strip())[:ANSWER_MAX]
        if not text:
            raise ValueError("answer 不能为空")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with session_scope(self._url) as session:
            row = session.execute(
                select(AnswerFeedback).where(
                    AnswerFeedback.session_id == session_id[:SENDER_MAX],
                    AnswerFeedback.answer_digest == digest,
                )
            ).scalar_one_or_none()
            if row is None:
                session.add(
                    AnswerFeedback(
                        created_at=self._clock(),
                        session_id=session_id[:SENDER_MAX],
                        answer_digest=digest,
                        answer=text,
                        helpful=helpful,
                    )
                )
            else:
                row.helpful, row.created_at = helpful, self._clock()

    def summary(self, limit: int = 50) -> Dict[str, Any]:
        """Totals, and the answers most often found unhelpful (what to improve first)."""
        with session_scope(self._url) as session:
            totals = dict(
                session.execute(
                    select(AnswerFeedback.helpful, func.count(AnswerFeedback.id)).group_by(
                        AnswerFeedback.helpful
                    )
                ).all()
            )
            worst = session.execute(
                select(AnswerFeedback.answer, func.count(AnswerFeedback.id).label("n"))
                .where(AnswerFeedback.helpful.is_(False))
                .group_by(AnswerFeedback.answer)
                .order_by(func.count(AnswerFeedback.id).desc())
                .limit(limit)
            ).all()
        unhelpful: List[Dict[str, Any]] = [{"answer": a, "count": int(n)} for a, n in worst]
        return {
            "helpful": int(totals.get(True, 0)),
            "unhelpful": int(totals.get(False, 0)),
            "most_unhelpful": unhelpful,
        }
