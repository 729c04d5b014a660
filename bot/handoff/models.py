"""Tables of the human handoff: staff accounts and their tokens, tickets, notes, the outbox of
staff messages and the staff audit log.

The conversation itself (what the citizen and the bot said) stays in Rasa's tracker store;
a ticket refers to it by ``sender_id``. Staff messages go through an outbox so that a message
written while Rasa restarts is delivered afterwards, not lost.
"""

from __future__ import annotations

from typing import Tuple

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import relationship

from bot.db.models import Base

TICKET_STATUSES: Tuple[str, ...] = ("waiting", "active", "closed")
OPEN_STATUSES: Tuple[str, ...] = ("waiting", "active")
# Why a conversation was handed over.
TICKET_REASONS: Tuple[str, ...] = ("user_request", "fallback", "lookup_locked", "complaint")
STAFF_ROLES: Tuple[str, ...] = ("specialist", "admin")

SENDER_MAX = 128
USERNAME_MAX = 64


class Staff(Base):
    __tablename__ = "staff"

    id = Column(Integer, primary_key=True)
    username = Column(String(USERNAME_MAX), nullable=False, unique=True, index=True)
    display_name = Column(String(64), nullable=False)
    # "scrypt$n$r$p$salt$hash" (bot.handoff.passwords); never the password.
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime(timezone=False), nullable=True)
    created_at = Column(DateTime(timezone=False), nullable=False)
    last_login_at = Column(DateTime(timezone=False), nullable=True)

    def __repr__(self) -> str:
        return f"<Staff {self.username} {self.role}>"


class StaffToken(Base):
    """A login: the bearer token of the API or the cookie session of the console. Only a
    SHA-256 of the token is stored, so a copy of the database gives no access."""

    __tablename__ = "staff_tokens"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True, index=True)
    staff_id = Column(Integer, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False)
    created_at = Column(DateTime(timezone=False), nullable=False)
    expires_at = Column(DateTime(timezone=False), nullable=False)

    staff = relationship("Staff")


class HandoffTicket(Base):
    __tablename__ = "handoff_tickets"
    __table_args__ = (
        # At most one open ticket per conversation (partial unique index, SQLite and PostgreSQL).
        Index(
            "uq_handoff_tickets_open_sender",
            "sender_id",
            unique=True,
            sqlite_where=text("status IN ('waiting', 'active')"),
            postgresql_where=text("status IN ('waiting', 'active')"),
        ),
    )

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(SENDER_MAX), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    status = Column(String(8), nullable=False, index=True)
    reason = Column(String(16), nullable=False)
    # Short, masked: what the citizen wanted (shown in the queue).
    summary = Column(Text, nullable=False)
    # JSON: what the bot knows (city, policy, masked application number).
    context = Column(Text, nullable=False, default="{}")
    out_of_hours = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime(timezone=False), nullable=False, index=True)
    # Last user or staff activity: the queue sorts and highlights by it.
    updated_at = Column(DateTime(timezone=False), nullable=False)
    claimed_at = Column(DateTime(timezone=False), nullable=True)
    closed_at = Column(DateTime(timezone=False), nullable=True)
    assignee_id = Column(Integer, ForeignKey("staff.id"), nullable=True)
    # staff | user (the citizen cancelled)
    closed_by = Column(String(8), nullable=True)
    rating = Column(Integer, nullable=True)
    rated_at = Column(DateTime(timezone=False), nullable=True)
    # The last staff message the citizen's channel refused (e.g. WeChat's 48-hour window).
    delivery_error = Column(String(255), nullable=True)

    assignee = relationship("Staff")
    notes = relationship(
        "TicketNote",
        back_populates="ticket",
        cascade="all, delete-orphan",
        order_by="TicketNote.id",
    )

    def __repr__(self) -> str:
        return f"<HandoffTicket {self.id} {self.status}>"


class TicketNote(Base):
    """An internal note of a specialist on a ticket; never shown to the citizen."""

    __tablename__ = "ticket_notes"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(
        Integer, ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=False), nullable=False)

    ticket = relationship("HandoffTicket", back_populates="notes")
    staff = relationship("Staff")


class StaffMessage(Base):
    """Outbox of staff messages: written first, then delivered through Rasa's HTTP API;
    undelivered ones are retried until Rasa accepts them."""

    __tablename__ = "staff_messages"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(
        Integer, ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=False)
    # message: a specialist's reply; close: the closing message that resumes the bot.
    kind = Column(String(8), nullable=False, default="message")
    text = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=False), nullable=False)
    delivered_at = Column(DateTime(timezone=False), nullable=True, index=True)
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(String(255), nullable=True)


class StaffAudit(Base):
    """Who did what and when: logins, claims, messages, notes, closes, account changes."""

    __tablename__ = "staff_audit"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=False), nullable=False, index=True)
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=True)
    # Kept as typed, so that failed logins of unknown names are recorded too (cut to size).
    username = Column(String(USERNAME_MAX), nullable=True)
    action = Column(String(32), nullable=False)
    ticket_id = Column(Integer, ForeignKey("handoff_tickets.id"), nullable=True)
    detail = Column(Text, nullable=True)


class AnswerFeedback(Base):
    """有帮助 / 没帮助 on one of the bot's answers, from the web widget; one per answer and
    session (a second click changes it)."""

    __tablename__ = "answer_feedback"
    __table_args__ = (
        Index("uq_answer_feedback_session_answer", "session_id", "answer_digest", unique=True),
    )

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=False), nullable=False, index=True)
    session_id = Column(String(SENDER_MAX), nullable=False)
    # SHA-256 of the answer's text: the same answer in one session counts once.
    answer_digest = Column(String(64), nullable=False)
    answer = Column(Text, nullable=False)
    helpful = Column(Boolean, nullable=False)
