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
ALT_MAX = 200


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


def specialist_name(name: Optional[str]) -> Optional[str]:
    """What citizens see of a specialist: the family name only, as at a service counter (王**)."""
    name = (name or "").strip()
    return f"{name[0]}**" if name else None


def _buttons(data: Dict[str, Any]) -> List[Dict[str, str]]:
    buttons = (data.get("data") or {}).get("buttons") or []
    return [
        {"title": str(b["title"]), "payload": str(b.get("payload") or b["title"])}
        for b in buttons
        if isinstance(b, dict) and b.get("title")
    ]


def widget_entry(type_name: str, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """One message as the web widget shows it after a reload: the text, the buttons, an image,
    who wrote it. Unlike the console's lines, staff are named only as citizens see them."""
    text = data.get("text")
    if type_name == "user":
        if not isinstance(text, str):
            return None
        return {"role": "user", "text": text, "time": _time(data.get("timestamp"))}
    if type_name != "bot":
        return None
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    extra = data.get("data") or {}
    image = extra.get("image") if isinstance(extra, dict) else None
    line: Dict[str, Any] = {
        "role": "staff" if metadata.get("staff") else "bot",
        "text": text if isinstance(text, str) else "",
        "time": _time(data.get("timestamp")),
    }
    buttons = _buttons(data)
    if buttons:
        line["buttons"] = buttons
    if isinstance(image, str) and image:
        line["image"] = image
        alt = metadata.get("alt")
        if isinstance(alt, str) and alt.strip():
            line["alt"] = alt.strip()[:ALT_MAX]
    if not (line["text"] or buttons or "image" in line):
        return None
    if metadata.get("staff"):
        line["specialist"] = specialist_name(metadata.get("staff_name"))
        if metadata.get("handoff") == "closed":
            line["handoff"] = "closed"  # the specialist closed: the bot answers again
    return line


def widget_history(events: Iterable[Tuple[str, Dict[str, Any]]]) -> List[Dict[str, Any]]:
    """The widget's lines of these (type, data) events, oldest first. A button the citizen
    pressed shows as its title, as it did when pressed, not as its payload."""
    lines: List[Dict[str, Any]] = []
    titles: Dict[str, str] = {}
    for type_name, data in events:
        line = widget_entry(type_name, data)
        if line is None:
            continue
        if line["role"] == "user":
            line["text"] = titles.get(line["text"], line["text"])
            titles = {}
        elif line.get("buttons"):
            titles = {b["payload"]: b["title"] for b in line["buttons"]}
        lines.append(line)
    return lines


class TrackerEvents:
    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(url, future=True, pool_pre_ping=True)

    def transcript(self, sender_id: str, limit: int = TRANSCRIPT_LIMIT) -> List[Dict[str, Any]]:
        """The console's lines of the conversation's latest ``limit`` messages."""
        lines = (entry(t, d) for t, d in self._messages(sender_id, limit))
        return [line for line in lines if line is not None]

    def widget_history(self, sender_id: str, limit: int) -> List[Dict[str, Any]]:
        """The web widget's lines of the conversation's latest ``limit`` messages."""
        return widget_history(self._messages(sender_id, limit))

    def _messages(self, sender_id: str, limit: int) -> List[Tuple[str, Dict[str, Any]]]:
        statement = (
            select(EVENTS.c.type_name, EVENTS.c.data)
            .where(EVENTS.c.sender_id == sender_id, EVENTS.c.type_name.in_(("user", "bot")))
            .order_by(EVENTS.c.id.desc())
            .limit(limit)
        )
        return [(str(t), _json(d)) for t, d in reversed(self._rows(statement))]

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
