"""Handoff tickets: opened by the bot, claimed, answered and closed by specialists.

Every state change happens in one transaction that checks the current state, so two
specialists cannot claim the same ticket and a cancelled ticket cannot be answered.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import beijing_now
from bot.db.session import session_scope
from bot.handoff.hours import ServiceHours
from bot.handoff.models import (
    OPEN_STATUSES,
    SENDER_MAX,
    TICKET_REASONS,
    TICKET_STATUSES,
    HandoffTicket,
    Staff,
    StaffAudit,
    StaffMessage,
    TicketNote,
)
from bot.log_privacy import mask_user_text

SUMMARY_MAX = 200
NOTE_MAX = 2000
MESSAGE_MAX = 2000
CLOSING_TEXT = (
    "本次人工服务已结束，感谢您的耐心。接下来由智能助手继续为您服务。"
    "请为本次专员服务打分（5 分为非常满意）："
)
# A rating is accepted for the latest closed ticket of a conversation for this long.
RATING_WINDOW = dt.timedelta(hours=24)


class TicketError(Exception):
    """A request that the ticket's state does not allow; the message is for the specialist."""


class TicketNotFound(TicketError):
    pass


class TicketConflict(TicketError):
    pass


@dataclass(frozen=True)
class Opened:
    ticket_id: int
    created: bool
    status: str
    # 1 = next in line; None once a specialist has claimed it.
    position: Optional[int]
    out_of_hours: bool
    next_opening: Optional[dt.datetime]


def ticket_dict(ticket: HandoffTicket) -> Dict[str, Any]:
    """The ticket as the console API returns it (docs/contract.md) plus console fields."""
    return {
        "id": ticket.id,
        "sender_id": ticket.sender_id,
        "channel": ticket.channel,
        "status": ticket.status,
        "created_at": _iso(ticket.created_at),
        "summary": ticket.summary,
        "assignee": ticket.assignee.username if ticket.assignee is not None else None,
        "assignee_name": ticket.assignee.display_name if ticket.assignee is not None else None,
        "reason": ticket.reason,
        "updated_at": _iso(ticket.updated_at),
        "claimed_at": _iso(ticket.claimed_at),
        "closed_at": _iso(ticket.closed_at),
        "closed_by": ticket.closed_by,
        "out_of_hours": ticket.out_of_hours,
        "rating": ticket.rating,
        "delivery_error": ticket.delivery_error,
        "context": json.loads(ticket.context or "{}"),
    }


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    # Naive Beijing time, stated as such for browsers and other systems.
    return value.isoformat() + "+08:00" if value is not None else None


class HandoffService:
    def __init__(
        self,
        database_url: Optional[str] = None,
        clock: Callable[[], dt.datetime] = beijing_now,
        hours: Optional[ServiceHours] = None,
    ) -> None:
        self._url = database_url
        self._clock = clock
        self.hours = hours or ServiceHours.from_env()

    # -- the bot's side ------------------------------------------------------------------

    def open_ticket(
        self,
        sender_id: str,
        channel: str,
        reason: str,
        summary: str,
        context: Optional[Dict[str, Any]] = None,
    ) -> Opened:
        """Opens a ticket for the conversation, or returns its open one."""
        if reason not in TICKET_REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        sender_id = sender_id[:SENDER_MAX]
        now = self._clock()
        out_of_hours = not self.hours.is_open(now)
        try:
            with session_scope(self._url) as session:
                existing = self._open_for(session, sender_id)
                if existing is None:
                    ticket = HandoffTicket(
                        sender_id=sender_id,
                        channel=(channel or "unknown")[:32],
                        status="waiting",
                        reason=reason,
                        summary=mask_user_text(summary.strip())[:SUMMARY_MAX] or "（无摘要）",
                        context=json.dumps(context or {}, ensure_ascii=False),
                        out_of_hours=out_of_hours,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(ticket)
                    session.flush()
                    return self._opened(session, ticket, True, now)
                return self._opened(session, existing, False, now)
        except IntegrityError:
            # Opened concurrently by another turn of the same conversation.
            with session_scope(self._url) as session:
                existing = self._open_for(session, sender_id)
                if existing is None:
                    raise
                return self._opened(session, existing, False, now)

    def _opened(
        self, session: Session, ticket: HandoffTicket, created: bool, now: dt.datetime
    ) -> Opened:
        position = self._position(session, ticket) if ticket.status == "waiting" else None
        open_now = self.hours.is_open(now)
        return Opened(
            ticket_id=ticket.id,
            created=created,
            status=ticket.status,
            position=position,
            out_of_hours=not open_now,
            next_opening=None if open_now else self.hours.next_opening(now),
        )

    @staticmethod
    def _open_for(session: Session, sender_id: str) -> Optional[HandoffTicket]:
        return session.execute(
            select(HandoffTicket).where(
                HandoffTicket.sender_id == sender_id, HandoffTicket.status.in_(OPEN_STATUSES)
            )
        ).scalar_one_or_none()

    @staticmethod
    def _position(session: Session, ticket: HandoffTicket) -> int:
        ahead = session.execute(
            select(func.count(HandoffTicket.id)).where(
                HandoffTicket.status == "waiting",
                or_(
                    HandoffTicket.created_at < ticket.created_at,
                    (HandoffTicket.created_at == ticket.created_at)
                    & (HandoffTicket.id < ticket.id),
                ),
            )
        ).scalar_one()
        return int(ahead) + 1

    def open_ticket_for(self, sender_id: str) -> Optional[Dict[str, Any]]:
        with session_scope(self._url) as session:
            ticket = self._open_for(session, sender_id[:SENDER_MAX])
            return ticket_dict(ticket) if ticket is not None else None

    def touch(self, sender_id: str) -> Optional[int]:
        """A user message arrived in a handed-over conversation: the queue shows it."""
        with session_scope(self._url) as session:
            ticket = self._open_for(session, sender_id[:SENDER_MAX])
            if ticket is None:
                return None
            ticket.updated_at = self._clock()
            return int(ticket.id)

    def record_delivery(self, sender_id: str, error: Optional[str]) -> Optional[int]:
        """The citizen's channel refused a staff message (``error``, shown on the ticket in
        the console), or delivered one again (None clears it)."""
        with session_scope(self._url) as session:
            ticket = self._open_for(session, sender_id[:SENDER_MAX])
            if ticket is None or ticket.delivery_error == (error[:255] if error else None):
                return None if ticket is None else int(ticket.id)
            ticket.delivery_error = error[:255] if error else None
            ticket.updated_at = self._clock()
            return int(ticket.id)

    def cancel_by_user(self, sender_id: str) -> Optional[int]:
        """The citizen no longer wants a person ("不用了"); returns the closed ticket's id."""
        with session_scope(self._url) as session:
            ticket = self._open_for(session, sender_id[:SENDER_MAX])
            if ticket is None:
                return None
            now = self._clock()
            ticket.status, ticket.closed_at, ticket.closed_by = "closed", now, "user"
            ticket.updated_at = now
            session.add(
                StaffAudit(created_at=now, action="user_cancel", ticket_id=ticket.id, detail=None)
            )
            return int(ticket.id)

    def rate(self, sender_id: str, rating: int) -> bool:
        """Stores a 1–5 rating on the conversation's latest recently closed ticket."""
        if not isinstance(rating, int) or not 1 <= rating <= 5:
            return False
        now = self._clock()
        with session_scope(self._url) as session:
            ticket = session.execute(
                select(HandoffTicket)
                .where(
                    HandoffTicket.sender_id == sender_id[:SENDER_MAX],
                    HandoffTicket.status == "closed",
                    HandoffTicket.closed_by == "staff",
                    HandoffTicket.closed_at >= now - RATING_WINDOW,
                )
                .order_by(HandoffTicket.closed_at.desc(), HandoffTicket.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if ticket is None:
                return False
            ticket.rating, ticket.rated_at = rating, now
            return True

    # -- the specialists' side -----------------------------------------------------------

    def list(
        self, status: Optional[str] = None, query: Optional[str] = None, limit: int = 200
    ) -> List[Dict[str, Any]]:
        if status is not None and status not in TICKET_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with session_scope(self._url) as session:
            statement = select(HandoffTicket)
            if status is not None:
                statement = statement.where(HandoffTicket.status == status)
            if query:
                like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                like += "%"
                statement = statement.where(
                    or_(
                        HandoffTicket.summary.like(like, escape="\\"),
                        HandoffTicket.sender_id.like(like, escape="\\"),
                    )
                )
            # Waiting: oldest first (fair queue); others: most recent first.
            if status == "waiting":
                statement = statement.order_by(HandoffTicket.created_at, HandoffTicket.id)
            else:
                statement = statement.order_by(
                    HandoffTicket.updated_at.desc(), HandoffTicket.id.desc()
                )
            tickets = session.execute(statement.limit(limit)).scalars().all()
            return [ticket_dict(t) for t in tickets]

    def get(self, ticket_id: int) -> Dict[str, Any]:
        with session_scope(self._url) as session:
            ticket = self._ticket(session, ticket_id)
            data = ticket_dict(ticket)
            data["notes"] = [
                {
                    "id": n.id,
                    "author": n.staff.username,
                    "text": n.text,
                    "time": _iso(n.created_at),
                }
                for n in ticket.notes
            ]
            return data

    @staticmethod
    def _ticket(session: Session, ticket_id: int) -> HandoffTicket:
        ticket = session.get(HandoffTicket, ticket_id)
        if ticket is None:
            raise TicketNotFound("工单不存在")
        return ticket

    def claim(self, ticket_id: int, staff: Staff) -> Dict[str, Any]:
        now = self._clock()
        with session_scope(self._url) as session:
            ticket = self._ticket(session, ticket_id)
            if ticket.status == "active" and ticket.assignee_id == staff.id:
                return ticket_dict(ticket)
            if ticket.status != "waiting":
                who = ticket.assignee.display_name if ticket.assignee is not None else "其他专员"
                raise TicketConflict(
                    "该会话已结束" if ticket.status == "closed" else f"该会话已由{who}接入"
                )
            ticket.status, ticket.assignee_id, ticket.claimed_at = "active", staff.id, now
            ticket.updated_at = now
            session.add(self._audit(staff, "claim", ticket.id, now))
            session.flush()
            session.refresh(ticket)
            return ticket_dict(ticket)

    def _require_owner(self, ticket: HandoffTicket, staff: Staff) -> None:
        if ticket.status != "active":
            raise TicketConflict("请先接入该会话" if ticket.status == "waiting" else "该会话已结束")
        if ticket.assignee_id != staff.id and staff.role != "admin":
            raise TicketConflict("该会话由其他专员负责")

    def queue_message(self, ticket_id: int, staff: Staff, text: str) -> int:
        """Writes a staff message to the outbox (delivered by the outbox worker)."""
        text = (text or "").strip()
        if not text:
            raise ValueError("消息不能为空")
        if len(text) > MESSAGE_MAX:
            raise ValueError(f"消息不能超过 {MESSAGE_MAX} 字")
        now = self._clock()
        with session_scope(self._url) as session:
            ticket = self._ticket(session, ticket_id)
            self._require_owner(ticket, staff)
            message = StaffMessage(
                ticket_id=ticket.id,
                staff_id=staff.id,
                kind="message",
                text=text,
                created_at=now,
                attempts=0,
            )
            session.add(message)
            ticket.updated_at = now
            session.add(self._audit(staff, "message", ticket.id, now))
            session.flush()
            return int(message.id)

    def add_note(self, ticket_id: int, staff: Staff, text: str) -> Dict[str, Any]:
        text = (text or "").strip()
        if not text:
            raise ValueError("备注不能为空")
        if len(text) > NOTE_MAX:
            raise ValueError(f"备注不能超过 {NOTE_MAX} 字")
        now = self._clock()
        with session_scope(self._url) as session:
            ticket = self._ticket(session, ticket_id)
            note = TicketNote(ticket_id=ticket.id, staff_id=staff.id, text=text, created_at=now)
            session.add(note)
            session.add(self._audit(staff, "note", ticket.id, now))
            session.flush()
            return {"id": note.id, "author": staff.username, "text": text, "time": _iso(now)}

    def close(self, ticket_id: int, staff: Staff) -> Dict[str, Any]:
        now = self._clock()
        with session_scope(self._url) as session:
            ticket = self._ticket(session, ticket_id)
            self._require_owner(ticket, staff)
            ticket.status, ticket.closed_at, ticket.closed_by = "closed", now, "staff"
            ticket.updated_at = now
            # Delivered like a message: the citizen is told, and the bot resumes.
            session.add(
                StaffMessage(
                    ticket_id=ticket.id,
                    staff_id=staff.id,
                    kind="close",
                    text=CLOSING_TEXT,
                    created_at=now,
                    attempts=0,
                )
            )
            session.add(self._audit(staff, "close", ticket.id, now))
            session.flush()
            session.refresh(ticket)
            return ticket_dict(ticket)

    @staticmethod
    def _audit(staff: Staff, action: str, ticket_id: int, now: dt.datetime) -> StaffAudit:
        return StaffAudit(
            created_at=now,
            staff_id=staff.id,
            username=staff.username,
            action=action,
            ticket_id=ticket_id,
        )

    def status_counts(self) -> Dict[str, int]:
        """Tickets per status, and staff messages not yet delivered (metrics)."""
        with session_scope(self._url) as session:
            rows = session.execute(
                select(HandoffTicket.status, func.count(HandoffTicket.id)).group_by(
                    HandoffTicket.status
                )
            ).all()
            counts = {status: 0 for status in ("waiting", "active", "closed")}
            counts.update({status: int(n) for status, n in rows})
            counts["undelivered_messages"] = int(
                session.scalar(
                    select(func.count(StaffMessage.id)).where(StaffMessage.delivered_at.is_(None))
                )
                or 0
            )
            return counts

    # -- the outbox ----------------------------------------------------------------------

    def pending_messages(self, limit: int = 50) -> List[Dict[str, Any]]:
        with session_scope(self._url) as session:
            rows = session.execute(
                select(StaffMessage, HandoffTicket, Staff)
                .join(HandoffTicket, StaffMessage.ticket_id == HandoffTicket.id)
                .join(Staff, StaffMessage.staff_id == Staff.id)
                .where(StaffMessage.delivered_at.is_(None))
                .order_by(StaffMessage.id)
                .limit(limit)
            ).all()
            return [
                {
                    "id": m.id,
                    "kind": m.kind,
                    "ticket_id": t.id,
                    "sender_id": t.sender_id,
                    "channel": t.channel,
                    "text": m.text,
                    "staff": s.username,
                    "staff_name": s.display_name,
                    "attempts": m.attempts,
                }
                for m, t, s in rows
            ]

    def mark_delivered(self, message_id: int) -> None:
        with session_scope(self._url) as session:
            message = session.get(StaffMessage, message_id)
            if message is not None:
                message.delivered_at = self._clock()
                message.attempts += 1

    def mark_failed(self, message_id: int, error: str) -> None:
        with session_scope(self._url) as session:
            message = session.get(StaffMessage, message_id)
            if message is not None:
                message.attempts += 1
                message.last_error = error[:255]
