"""Relational storage of the deployment (applications, their timelines, lookup audit).

Portable SQL: SQLite by default (``var/applications.db``), PostgreSQL through ``DATABASE_URL``.
The schema is owned by Alembic (``bot/db/migrations``); see docs/applications.md.
"""

from bot.db.models import (
    APPLICATION_STATUSES,
    LOOKUP_OUTCOMES,
    Application,
    ApplicationEvent,
    Base,
    LookupAudit,
)
from bot.db.session import (
    database_url,
    get_engine,
    get_sessionmaker,
    make_engine,
    session_scope,
    upgrade_database,
)

__all__ = [
    "APPLICATION_STATUSES",
    "LOOKUP_OUTCOMES",
    "Application",
    "ApplicationEvent",
    "Base",
    "LookupAudit",
    "database_url",
    "get_engine",
    "get_sessionmaker",
    "make_engine",
    "session_scope",
    "upgrade_database",
]
