"""SQLAlchemy models of applications, their timelines and the lookup audit.

Every datetime column holds a *naive Beijing time* (UTC+8, the time zone of the cities' back
offices and of what citizens are told); the importer converts values that carry an offset.
Only portable types are used so that the same migrations run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import List, Tuple

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

# Explicit constraint names: PostgreSQL and Alembic's batch mode on SQLite need stable names.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))

# The order is the usual progression; 已驳回 ends an application without approval.
APPLICATION_STATUSES: Tuple[str, ...] = (
    "已提交",
    "已受理",
    "审核中",
    "待补件",
    "公示中",
    "已通过",
    "已驳回",
    "已发放",
)

# Outcomes of a citizen's status lookup (recorded by the verification step).
LOOKUP_OUTCOMES: Tuple[str, ...] = ("found", "mismatch", "not_found", "locked", "invalid")

# Column sizes, shared with the importer's validation so that PostgreSQL never truncates.
APPLICATION_NO_MAX = 32
NAME_MAX = 64
REGION_MAX = 32
ITEM_MAX = 128
DEPARTMENT_MAX = 128


class Application(Base):
    """One application as exported by a city's back office (upserted by application_no)."""

    __tablename__ = "applications"

    id = Column(Integer, primary_key=True)
    # Stored upper-case (the importer normalises), so lookups can be case-insensitive.
    application_no = Column(String(APPLICATION_NO_MAX), nullable=False, unique=True, index=True)
    applicant_name = Column(String(NAME_MAX), nullable=False)
    # Normalised to 11 digits; never shown or logged in full (bot.applications.privacy).
    phone = Column(String(11), nullable=False)
    region = Column(String(REGION_MAX), nullable=False)
    item = Column(String(ITEM_MAX), nullable=False)
    status = Column(String(8), nullable=False)
    submitted_at = Column(DateTime(timezone=False), nullable=False)
    updated_at = Column(DateTime(timezone=False), nullable=False)
    department = Column(String(DEPARTMENT_MAX), nullable=True)
    # ";"-separated, exactly as exported.
    missing_materials = Column(Text, nullable=True)
    expected_done_at = Column(Date, nullable=True)
    note = Column(Text, nullable=True)
    # When the stored values last changed through an import (not touched when unchanged).
    imported_at = Column(DateTime(timezone=False), nullable=False)

    events = relationship(
        "ApplicationEvent",
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="ApplicationEvent.occurred_at",
    )

    def missing_materials_list(self) -> List[str]:
        if not self.missing_materials:
            return []
        return [m.strip() for m in self.missing_materials.split(";") if m.strip()]

    def __repr__(self) -> str:
        # No name or phone here: reprs end up in logs and tracebacks.
        return f"<Application {self.application_no} {self.status}>"


class ApplicationEvent(Base):
    """One step of an application's timeline."""

    __tablename__ = "application_events"
    __table_args__ = (
        UniqueConstraint(
            "application_id",
            "occurred_at",
            "status",
            name="uq_application_events_application_id_occurred_at_status",
        ),
    )

    id = Column(Integer, primary_key=True)
    application_id = Column(
        Integer, ForeignKey("applications.id", ondelete="CASCADE"), nullable=False, index=True
    )
    occurred_at = Column(DateTime(timezone=False), nullable=False)
    status = Column(String(8), nullable=False)
    note = Column(Text, nullable=True)

    application = relationship("Application", back_populates="events")

    def __repr__(self) -> str:
        return f"<ApplicationEvent {self.application_id} {self.occurred_at} {self.status}>"


class LookupAudit(Base):
    """One status lookup attempt; holds only a masked application number, never personal data."""

    __tablename__ = "lookup_audit"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=False), nullable=False, index=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    application_no_masked = Column(String(40), nullable=True)
    # Keyed digest (HMAC) of the normalised number: counts failed guesses on one number
    # across conversations without storing the number.
    application_no_digest = Column(String(64), nullable=True, index=True)
    outcome = Column(String(16), nullable=False)
    channel = Column(String(32), nullable=True)


def beijing_now() -> dt.datetime:
    """The current naive Beijing time, the convention of every datetime column."""
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None, microsecond=0)
