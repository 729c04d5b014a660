"""What was said in a conversation, read from Rasa's SQL tracker store (table ``events``).

The console reads the store directly, read-only: the transcript stays visible while Rasa
restarts, and new messages are found by the table's increasing ``id`` (the live queue).
Staff messages are bot events whose metadata names the specialist.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, Iterable, List, Optional, Tuple

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

_metadata = MetaData()
EVENTS = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)
BEIJING = dt.timezone(dt.timedelta(hours=8))
TRANSCRIPT_LIMIT = 300


def _time(timestamp: Optional[float]) -> Optional[str]:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, BEIJING).isoformat(timespec="seconds")


def entry(type_name: str, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """One transcript line, or None for events a person does not read."""
    text = data.get("text")
    if type_name == "user":
        if not isinstance(text, str):
            return None
        return {"role": "user", "text": text, "time": _time(data.get("timestamp"))}
    if type_name == "bot":
        metadata = data.get("metadata") or {}
        staff = metadata.get("staff") if isinstance(metadata, dict) else None
        parts = [text] if isinstance(text, str) and text else []
        buttons = (data.get("data") or {}).get("buttons") or []
        titles = [b.get("title") for b in buttons if isinstance(b, dict) and b.get("title")]
        if titles:
            parts.append("［" + "］［".join(str(t) for t in titles) + "］")
        if not parts:
            return None
        line: Dict[str, Any] = {
            "role": "staff" if staff else "bot",
            "text": "\n".join(parts),
            "time": _time(data.get("timestamp")),
        }
        if staff:
            line["staff"] = staff
        return line
    return None


class TrackerEvents:
    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(url, future=True, pool_pre_ping=True)

    def transcript(self, sender_id: str, limit: int = TRANSCRIPT_LIMIT) -> List[Dict[str, Any]]:
        statement = (
            select(EVENTS.c.type_name, EVENTS.c.data)
            .where(EVENTS.c.sender_id == sender_id, EVENTS.c.type_name.in_(("user", "bot")))
            .order_by(EVENTS.c.id.desc())
            .limit(limit)
        )
        rows = self._rows(statement)
        lines = []
        for type_name, data in reversed(rows):
            line = entry(type_name, _json(data))
            if line is not None:
                lines.append(line)
        return lines

    def latest_id(self) -> int:
        rows = self._rows(select(EVENTS.c.id).order_by(EVENTS.c.id.desc()).limit(1))
        return int(rows[0][0]) if rows else 0

    def messages_since(self, after_id: int, senders: Iterable[str]) -> List[Tuple[int, str, str]]:
        """(event id, sender, "user" or "bot") of messages newer than ``after_id`` in these
        conversations."""
        wanted = list(senders)
        if not wanted:
            return []
        statement = (
            select(EVENTS.c.id, EVENTS.c.sender_id, EVENTS.c.type_name)
            .where(
                EVENTS.c.id > after_id,
                EVENTS.c.type_name.in_(("user", "bot")),
                EVENTS.c.sender_id.in_(wanted),
            )
            .order_by(EVENTS.c.id)
        )
        return [(int(i), str(s), str(t)) for i, s, t in self._rows(statement)]

    def _rows(self, statement: Any) -> List[Any]:
        with self._engine.connect() as connection:
            try:
                return list(connection.execute(statement).all())
            except (OperationalError, ProgrammingError):
                return []  # no tracker store table yet: Rasa has never started

    def dispose(self) -> None:
        self._engine.dispose()


def _json(data: Optional[str]) -> Dict[str, Any]:
    try:
        value = json.loads(data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
