"""SQLite settings shared by every SQLite database of the product (tracker store, applications)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Union

from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import QueuePool


def set_pragmas(dbapi_connection: Any, *, foreign_keys: bool) -> None:
    """Write-ahead logging with ``synchronous=NORMAL``: a committed transaction survives a crash
    or restart of the process (only an OS crash or power cut may lose the last ones), readers do
    not block the writer, and a commit needs no fsync. Waits up to 5 s for a lock."""
    cursor = dbapi_connection.cursor()
    try:
        if foreign_keys:
            cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


def sqlite_file(url: Union[str, URL]) -> Optional[str]:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return str(parsed.database)
    return None


def pooled_engine_kwargs() -> Dict[str, Any]:
    """``create_engine`` arguments that keep a SQLite file's connections open.

    SQLAlchemy 1.4 opens a new SQLite connection per session (and the pragmas are set each
    time), the larger part of a short query. A pool keeps them; each is used by one thread at
    a time, as the pool hands it out. Not for in-memory databases: each connection would get a
    database of its own.
    """
    return {
        "poolclass": QueuePool,
        "pool_size": 5,
        "max_overflow": 10,
        "connect_args": {"check_same_thread": False},
    }
