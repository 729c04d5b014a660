"""The tracker store of the embedded default: Rasa's SQL tracker store, single writer, with its
current sessions kept in memory.

Rasa's ``SQLTrackerStore`` reads a conversation's session back from the database at every
turn and, to know which events are new, counts them again before every save; in SQLite it
also opens and closes a connection for each (SQLAlchemy 1.4 does not pool SQLite files).
That was about a third of a turn's CPU (``make bench``, docs/measurements.md).

This store writes every turn to the database exactly as Rasa does (same table, same rows,
committed before the turn is answered), so nothing is lost on a restart, and keeps the
serialised events of recent sessions in a bounded LRU cache: a turn reads its session from
memory and saves only what it added. The cache holds JSON text, so a tracker handed out never
shares objects with the cache. It mirrors Rasa's query exactly: the events from the latest
``session_started`` on (by timestamp), in insertion order.

The tracker objects of the most recent conversations are also kept once saved, and the next
``retrieve`` of the conversation hands the object itself out again instead of rebuilding it
from JSON (and the policies' states, ``bot/rasa_states.py``, go on from where they were).
An object is handed out once: it is taken from the store, and comes back with its next save.
It is only kept when it is a tracker this store handed out (or created) for the conversation,
so that its earlier events are the stored ones, and only handed out while it holds exactly the
saved session (same number of events, the domain it was built with); a conversation whose save
failed, or that an object was taken for and not saved, is rebuilt from JSON as before.

Only valid with one Rasa process writing the database, which is what the embedded default
is. The scaled deployment (several replicas) uses Rasa's plain ``SQL`` store
(``config/scaled/endpoints.yml``).
"""

from __future__ import annotations

import collections
import json
import logging
import sqlite3
import threading
import weakref
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.db.sqlite import pooled_engine_kwargs, sqlite_file

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 1000
# Tracker objects kept between turns: the conversations of the last minutes. An object of a
# long session is heavier than its JSON, hence its own, smaller bound.
DEFAULT_LIVE_SIZE = 100

# One stored event: its timestamp, its type and its JSON text, as in the ``events`` table.
Row = Tuple[Optional[float], str, str]


def session_view(rows: List[Row]) -> List[Row]:
    """The rows Rasa's ``retrieve`` returns: those with a timestamp at or after the latest
    ``session_started``, or all of them when there is none (SQL's NULL comparison included)."""
    starts = [ts for ts, type_name, _ in rows if type_name == SessionStarted.type_name]
    starts = [ts for ts in starts if ts is not None]
    if not starts:
        return rows
    start = max(starts)
    return [row for row in rows if row[0] is not None and row[0] >= start]


def _sqlite_insert(table: sa.Table, engine: sa.engine.Engine) -> Tuple[str, Tuple[str, ...]]:
    """The events table's insert as SQLAlchemy compiles it for SQLite (qmark parameters), and
    the columns in the order of its parameters."""
    columns = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")
    statement = table.insert().values({column: sa.bindparam(column) for column in columns})
    compiled = statement.compile(dialect=engine.dialect)
    return str(compiled), tuple(compiled.positiontup)


class CachedSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` with the current sessions cached; ``cache_size`` conversations."""

    def __init__(
        self,
        *args: Any,
        cache_size: int = DEFAULT_CACHE_SIZE,
        live_size: int = DEFAULT_LIVE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if int(cache_size) < 1:
            raise ValueError("cache_size must be at least 1")
        if int(live_size) < 0:
            raise ValueError("live_size must be at least 0")
        self.cache_size = int(cache_size)
        self.live_size = min(int(live_size), self.cache_size)
        self._sessions: collections.OrderedDict[str, List[Row]] = collections.OrderedDict()
        # sender_id -> (tracker, its number of events when saved, the domain it was built for)
        self._live: collections.OrderedDict[str, Tuple[DialogueStateTracker, int, Any]] = (
            collections.OrderedDict()
        )
        # sender_id -> the tracker last handed out (or created) for it, while it lives.
        self._handed: weakref.WeakValueDictionary[str, DialogueStateTracker] = (
            weakref.WeakValueDictionary()
        )
        self._guard = threading.Lock()
        # The insert of ``_insert`` and its parameters' order, in SQLite (else None).
        self._insert_sql: Optional[Tuple[str, Tuple[str, ...]]] = None
        if sqlite_file(self.engine.url):
            # Rasa's engine opens a connection per query; keep them open instead.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, **pooled_engine_kwargs())
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
            self._insert_sql = _sqlite_insert(self.SQLEvent.__table__, self.engine)

    # ------------------------------------------------------------------ cache

    def _cached(self, sender_id: str) -> Optional[List[Row]]:
        with self._guard:
            rows = self._sessions.get(sender_id)
            if rows is not None:
                self._sessions.move_to_end(sender_id)
            return rows

    def _remember(self, sender_id: str, rows: List[Row]) -> None:
        with self._guard:
            self._sessions[sender_id] = rows
            self._sessions.move_to_end(sender_id)
            while len(self._sessions) > self.cache_size:
                self._sessions.popitem(last=False)

    def forget(self, sender_id: Optional[str] = None) -> None:
        """Drops one conversation (or all) from the cache; the next read goes to the database."""
        with self._guard:
            if sender_id is None:
                self._sessions.clear()
                self._live.clear()
            else:
                self._sessions.pop(sender_id, None)
                self._live.pop(sender_id, None)

    def _keep(self, sender_id: str, tracker: DialogueStateTracker) -> None:
        if self.live_size == 0:
            return
        with self._guard:
            self._live[sender_id] = (tracker, len(tracker.events), self.domain)
            self._live.move_to_end(sender_id)
            while len(self._live) > self.live_size:
                self._live.popitem(last=False)

    def _take(self, sender_id: str, saved_events: int) -> Optional[DialogueStateTracker]:
        """The kept tracker of ``sender_id`` if it is still exactly the saved session."""
        with self._guard:
            kept = self._live.pop(sender_id, None)
        if kept is None:
            return None
        tracker, events, domain = kept
        if events != saved_events or len(tracker.events) != events or domain is not self.domain:
            return None  # changed after its save (or the model changed): rebuilt from JSON
        return tracker

    # ------------------------------------------------------------------ reads

    def _session_rows(self, sender_id: str) -> List[Row]:
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            return [(e.timestamp, e.type_name, e.data) for e in query.all()]

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """The tracker of the latest session, as ``SQLTrackerStore.retrieve`` returns it."""
        rows = self._cached(sender_id)
        if rows is None:
            rows = self._session_rows(sender_id)
            # Also when empty: a new conversation is created and saved right after this.
            self._remember(sender_id, rows)
        if not self.domain or not rows:
            return None
        tracker = self._take(sender_id, len(rows))
        if tracker is None:
            events = [json.loads(data) for _, _, data in rows]
            tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        self._handed[sender_id] = tracker
        return tracker

    async def create_tracker(
        self, sender_id: str, append_action_listen: bool = True
    ) -> DialogueStateTracker:
        tracker = await super().create_tracker(sender_id, append_action_listen)
        self._handed[sender_id] = tracker  # saved whole: its events are the stored ones
        return tracker

    # ------------------------------------------------------------------ writes

    @staticmethod
    def _row_values(sender_id: str, event: Any) -> Dict[str, Any]:
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    def _insert(self, values: List[Dict[str, Any]]) -> None:
        """Inserts the rows in one transaction. In SQLite straight through the pooled DB-API
        connection: SQLAlchemy's statement, connection and transaction objects cost three times
        the insert itself (errors are raised as SQLAlchemy raises them)."""
        if self._insert_sql is None:
            with self.engine.begin() as connection:
                connection.execute(self.SQLEvent.__table__.insert(), values)
            return
        sql, columns = self._insert_sql
        params = [tuple(row[column] for column in columns) for row in values]
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.executemany(sql, params)
            finally:
                cursor.close()
            connection.commit()
        except sqlite3.Error as error:
            raise sa.exc.DBAPIError.instance(sql, params, error, sqlite3.Error) from error
        finally:
            connection.close()  # back to the pool, which rolls back what was not committed

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores the events added since the tracker was read, as ``SQLTrackerStore.save``."""
        sender_id = tracker.sender_id
        # A tracker built elsewhere (Rasa's "replace events" API) may differ from the stored
        # events before its new ones: it is stored as Rasa stores it, but not kept.
        ours = self._handed.get(sender_id) is tracker
        await self.stream_events(tracker)
        rows = self._cached(sender_id)
        if rows is None:
            rows = self._session_rows(sender_id)
        events = list(tracker.events)[len(rows) :]
        if not events:
            if ours and len(tracker.events) == len(rows):
                self._keep(sender_id, tracker)
            return
        values = [self._row_values(sender_id, event) for event in events]
        try:
            self._insert(values)
        except BaseException:
            # What reached the database is unknown to us now: read it back next time.
            self.forget(sender_id)
            raise
        added: List[Row] = [(v["timestamp"], v["type_name"], v["data"]) for v in values]
        session = session_view(rows + added)
        self._remember(sender_id, session)
        if ours and len(session) == len(tracker.events):
            self._keep(sender_id, tracker)
        else:
            # Not ours, or a new session began (the next read is the new session only).
            with self._guard:
                self._live.pop(sender_id, None)
        logger.debug("Tracker with sender_id '%s' stored to database", sender_id)
