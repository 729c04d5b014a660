"""Verified status lookup: an application is read only when its number and the last 4 digits
of the applicant's phone match, and every attempt is audited.

Guessing is limited twice, both counted from the audit table (so restarts and several action
servers share the count):
- per conversation: 3 failed checks within 30 minutes lock lookups for that conversation for
  30 minutes (the issue's rule);
- per application number: 10 failed checks on one number within 24 hours, from any
  conversations, lock that number for the rest of the window. The 4 digits have only
  10,000 values, and a new conversation costs nothing. Unknown numbers are counted the
  same way, so the lock itself tells nothing about whether a number exists.
A wrong pair and an unknown number give the same outcome ("failed").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bot.applications.extract import normalize_application_no
from bot.applications.privacy import mask_application_no
from bot.db.models import Application, LookupAudit, beijing_now
from bot.db.session import session_scope

logger = logging.getLogger(__name__)

MAX_FAILURES = 3
FAILURE_WINDOW = dt.timedelta(minutes=30)
LOCK_DURATION = dt.timedelta(minutes=30)
NUMBER_MAX_FAILURES = 10
NUMBER_WINDOW = dt.timedelta(hours=24)

FAILURE_OUTCOMES = ("mismatch", "not_found")


@dataclass(frozen=True)
class LookupResult:
    """``outcome``: found, failed, locked or invalid. ``application`` only when found."""

    outcome: str
    application: Optional[Application] = None
    locked_until: Optional[dt.datetime] = None
    # Failed checks the conversation may still make before it is locked.
    attempts_left: Optional[int] = None

    @property
    def found(self) -> bool:
        return self.outcome == "found"


class ApplicationLookup:
    def __init__(
        self,
        key: str,
        database_url: Optional[str] = None,
        clock: Callable[[], dt.datetime] = beijing_now,
    ) -> None:
        self._key = key.encode("utf-8")
        self._url = database_url
        self._clock = clock

    def digest(self, application_no: str) -> str:
        return hmac.new(self._key, application_no.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- locks ---------------------------------------------------------------------------

    def conversation_locked_until(self, conversation_id: str) -> Optional[dt.datetime]:
        with session_scope(self._url) as session:
            return self._conversation_lock(session, conversation_id, self._clock())

    def _conversation_lock(
        self, session, conversation_id: str, now: dt.datetime
    ) -> Optional[dt.datetime]:
        # The three latest failures: locked when they fall within one window and the lock
        # that began with the third has not run out.
        times = (
            session.execute(
                select(LookupAudit.created_at)
                .where(
                    LookupAudit.conversation_id == conversation_id,
                    LookupAudit.outcome.in_(FAILURE_OUTCOMES),
                    LookupAudit.created_at >= now - FAILURE_WINDOW - LOCK_DURATION,
                )
                .order_by(LookupAudit.created_at.desc(), LookupAudit.id.desc())
                .limit(MAX_FAILURES)
            )
            .scalars()
            .all()
        )
        if len(times) < MAX_FAILURES or times[0] - times[-1] > FAILURE_WINDOW:
            return None
        until = times[0] + LOCK_DURATION
        return until if until > now else None

    def _number_lock(self, session, digest: str, now: dt.datetime) -> Optional[dt.datetime]:
        failures = session.execute(
            select(func.count(LookupAudit.id), func.min(LookupAudit.created_at)).where(
                LookupAudit.application_no_digest == digest,
                LookupAudit.outcome.in_(FAILURE_OUTCOMES),
                LookupAudit.created_at >= now - NUMBER_WINDOW,
            )
        ).one()
        count, first = failures
        if count >= NUMBER_MAX_FAILURES and first is not None:
            return first + NUMBER_WINDOW
        return None

    def _attempts_left(self, session, conversation_id: str, now: dt.datetime) -> int:
        recent = session.execute(
            select(func.count(LookupAudit.id)).where(
                LookupAudit.conversation_id == conversation_id,
                LookupAudit.outcome.in_(FAILURE_OUTCOMES),
                LookupAudit.created_at >= now - FAILURE_WINDOW,
            )
        ).scalar_one()
        return max(MAX_FAILURES - recent, 0)

    # -- the check -----------------------------------------------------------------------

    def check(
        self,
        conversation_id: str,
        application_no: str,
        phone_last4: str,
        channel: Optional[str] = None,
    ) -> LookupResult:
        now = self._clock()
        number = normalize_application_no(application_no)
        digits = (phone_last4 or "").strip()
        masked = mask_application_no(number or application_no)
        conversation_id = (conversation_id or "")[:128]
        channel = (channel or None) and channel[:32]
        with session_scope(self._url) as session:
            locked = self._conversation_lock(session, conversation_id, now)
            digest = self.digest(number) if number else None
            if locked is None and digest is not None:
                locked = self._number_lock(session, digest, now)
            if locked is not None:
                outcome, application = "locked", None
            elif number is None or not (len(digits) == 4 and digits.isdigit()):
                outcome, application = "invalid", None
            else:
                outcome, application = self._verify(session, number, digits)
            session.add(
                LookupAudit(
                    created_at=now,
                    conversation_id=conversation_id,
                    application_no_masked=masked,
                    application_no_digest=digest,
                    outcome=outcome,
                    channel=channel,
                )
            )
            session.flush()
            if outcome in FAILURE_OUTCOMES:
                locked = self._conversation_lock(session, conversation_id, now)
                attempts_left = self._attempts_left(session, conversation_id, now)
            else:
                attempts_left = None
        logger.info(
            "Status lookup %s for %s in conversation %s",
            outcome,
            masked,
            _short(conversation_id),
        )
        if outcome in FAILURE_OUTCOMES:
            if locked is not None:
                return LookupResult("locked", locked_until=locked, attempts_left=0)
            return LookupResult("failed", attempts_left=attempts_left)
        if outcome == "locked":
            return LookupResult("locked", locked_until=locked, attempts_left=0)
        return LookupResult(outcome, application=application)

    @staticmethod
    def _verify(session, number: str, digits: str) -> Tuple[str, Optional[Application]]:
        application = session.execute(
            select(Application)
            .options(selectinload(Application.events))
            .where(Application.application_no == number)
        ).scalar_one_or_none()
        if application is None:
            # Compared anyway, so that both failures take the same time.
            hmac.compare_digest("0000", digits)
            return "not_found", None
        if not hmac.compare_digest(application.phone[-4:], digits):
            return "mismatch", None
        return "found", application


def _short(conversation_id: str) -> str:
    """Conversation ids can be WeChat openids: logs keep only a prefix."""
    return conversation_id[:8] + ("…" if len(conversation_id) > 8 else "")
