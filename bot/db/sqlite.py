"""SQLite settings shared by every SQLite database of the product (tracker store, applications)."""

from __future__ import annotations

from typing import Any


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
