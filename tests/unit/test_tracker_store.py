"""The embedded default's tracker store stores and returns what Rasa's SQL tracker store does."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_tracker_store
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from bot.tracker_store import CachedSQLTrackerStore, session_view

from .conftest import DOMAIN_FILE, ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(DOMAIN_FILE)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def _user(text: str, ts: float) -> UserUttered:
    return UserUttered(text, {"name": "ask_policy", "confidence": 0.9}, [], timestamp=ts)


def _session_start(ts: float) -> List[Event]:
    return [
        ActionExecuted("action_session_start", timestamp=ts),
        SessionStarted(timestamp=ts + 0.001),
        ActionExecuted("action_listen", timestamp=ts + 0.002),
    ]


# Each turn: the events a turn adds. A second session starts in turn 3.
TURNS: List[Callable[[float], List[Event]]] = [
    lambda t: _session_start(t),
    lambda t: [
        _user("人才贷要抵押吗", t),
        ActionExecuted("action_answer_policy", timestamp=t + 0.01),
        SlotSet("policy", "zjg_talent_loan", timestamp=t + 0.02),
        BotUttered("不需要抵押。", timestamp=t + 0.03),
        ActionExecuted("action_listen", timestamp=t + 0.04),
    ],
    lambda t: [_user("谢谢", t), BotUttered("不客气", timestamp=t + 0.01)],
    lambda t: [*_session_start(t), _user("你好", t + 0.01)],
    lambda t: [SlotSet("region", "海宁市", timestamp=t), BotUttered("好的", timestamp=t + 0.01)],
]


def _play(store: SQLTrackerStore, domain: Domain, sender: str) -> List[List[dict]]:
    """Plays TURNS as Rasa does (read, add, save); returns the tracker read before each turn."""
    seen = []
    for i, turn in enumerate(TURNS):
        tracker = run(store.retrieve(sender))
        if tracker is None:
            tracker = DialogueStateTracker(sender, domain.slots)
            seen.append([])
        else:
            seen.append([e.as_dict() for e in tracker.events])
        for event in turn(1000.0 + i * 10):
            tracker.update(event)
        run(store.save(tracker))
    return seen


def _rows(path: Path) -> List[Tuple[Any, ...]]:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
            "FROM events ORDER BY id"
        ).fetchall()
    engine.dispose()
    return [tuple(row) for row in rows]


def _events(tracker: Any) -> List[dict]:
    return [e.as_dict() for e in tracker.events] if tracker is not None else []


def test_writes_and_reads_what_rasas_sql_store_does(tmp_path: Path, domain: Domain) -> None:
    plain = SQLTrackerStore(domain, db=str(tmp_path / "plain.db"))
    cached = CachedSQLTrackerStore(domain, db=str(tmp_path / "cached.db"))
    assert _play(cached, domain, "a") == _play(plain, domain, "a")
    # The same rows in the same order, and the same latest session read back.
    assert _rows(tmp_path / "cached.db") == _rows(tmp_path / "plain.db")
    assert len(_rows(tmp_path / "cached.db")) == sum(len(t(0.0)) for t in TURNS)
    latest = _events(run(cached.retrieve("a")))
    assert latest == _events(run(plain.retrieve("a")))
    assert latest[0]["event"] == "session_started"  # the second session only
    # Rasa's own store reading the cached store's database agrees, as after a restart.
    reader = SQLTrackerStore(domain, db=str(tmp_path / "cached.db"))
    assert _events(run(reader.retrieve("a"))) == latest
    assert _events(run(reader.retrieve_full_tracker("a"))) == _events(
        run(plain.retrieve_full_tracker("a"))
    )


def test_a_new_process_continues_from_the_database(tmp_path: Path, domain: Domain) -> None:
    db = str(tmp_path / "tracker.db")
    first = CachedSQLTrackerStore(domain, db=db)
    _play(first, domain, "a")
    second = CachedSQLTrackerStore(domain, db=db)
    tracker = run(second.retrieve("a"))
    assert _events(tracker) == _events(run(first.retrieve("a")))
    tracker.update(BotUttered("重启后", timestamp=2000.0))
    run(second.save(tracker))
    assert _events(run(SQLTrackerStore(domain, db=db).retrieve("a")))[-1]["text"] == "重启后"


def test_the_cache_is_bounded_and_evicted_conversations_read_the_database(
    tmp_path: Path, domain: Domain
) -> None:
    db = str(tmp_path / "tracker.db")
    store = CachedSQLTrackerStore(domain, db=db, cache_size=2)
    for sender in ("a", "b", "c"):
        _play(store, domain, sender)
    assert list(store._sessions) == ["b", "c"]
    reference = SQLTrackerStore(domain, db=db)
    for sender in ("a", "b", "c"):
        assert _events(run(store.retrieve(sender))) == _events(run(reference.retrieve(sender)))
    assert len(store._sessions) == 2


def test_a_failed_write_is_not_remembered(tmp_path: Path, domain: Domain) -> None:
    db = tmp_path / "tracker.db"
    store = CachedSQLTrackerStore(domain, db=str(db))
    _play(store, domain, "a")
    before = _stored_rows(db)
    tracker = run(store.retrieve("a"))
    tracker.update(BotUttered("写入前", timestamp=3000.0))
    tracker.update(BotUttered("丢失 lost-row", timestamp=3001.0))
    # A real failure of the database, on the second row of the turn's insert.
    with sqlite3.connect(db) as connection:
        connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.data LIKE '%lost-row%' "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    with pytest.raises(sa.exc.IntegrityError, match="disk full"):  # as SQLAlchemy raises it
        run(store.save(tracker))
    assert _stored_rows(db) == before  # the whole turn was rolled back
    assert "a" not in store._sessions
    with sqlite3.connect(db) as connection:
        connection.execute("DROP TRIGGER refuse")
    again = run(store.retrieve("a"))
    assert again is not tracker  # nor is the tracker object kept
    assert "写入前" not in [e.get("text") for e in _events(again)]
    # The pooled connection is usable again: the next save goes through.
    again.update(BotUttered("恢复", timestamp=3002.0))
    run(store.save(again))
    assert _stored_rows(db) == before + 1


def _stored_rows(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def test_turns_are_inserted_as_sqlalchemy_inserts_them(tmp_path: Path, domain: Domain) -> None:
    """The DB-API insert writes the same columns and values as Rasa's ORM insert."""
    ours = CachedSQLTrackerStore(domain, db=str(tmp_path / "ours.db"))
    reference = SQLTrackerStore(domain, db=str(tmp_path / "reference.db"))
    assert ours._insert_sql is not None
    for store in (ours, reference):
        _play(store, domain, "a")
    query = (
        "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events "
        "ORDER BY id"
    )
    rows = []
    for name in ("ours.db", "reference.db"):
        with sqlite3.connect(tmp_path / name) as connection:
            rows.append(connection.execute(query).fetchall())
    assert rows[0] == rows[1] and len(rows[0]) > 10


def test_unknown_conversations_are_none(tmp_path: Path, domain: Domain) -> None:
    store = CachedSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"))
    assert run(store.retrieve("nobody")) is None
    tracker = run(store.get_or_create_tracker("nobody"))
    assert _events(run(store.retrieve("nobody"))) == _events(tracker)


def test_session_view_matches_rasas_query() -> None:
    rows = [(1.0, "action", "a"), (2.0, "session_started", "b"), (None, "bot", "c"),
            (3.0, "user", "d"), (2.5, "session_started", "e"), (2.4, "bot", "f")]  # fmt: skip
    assert session_view(rows) == [(3.0, "user", "d"), (2.5, "session_started", "e")]
    assert session_view(rows[:1]) == rows[:1]
    assert session_view([]) == []


def test_cache_size_must_be_positive(tmp_path: Path, domain: Domain) -> None:
    with pytest.raises(ValueError, match="cache_size"):
        CachedSQLTrackerStore(domain, db=str(tmp_path / "t.db"), cache_size=0)


def test_endpoints_yml_loads_this_store(
    tmp_path: Path, domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rasa falls back to an in-memory store, silently losing everything, if the class
    # cannot be imported: make sure the shipped configuration really loads it.
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "tracker.db"))
    monkeypatch.setenv("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook")
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store")
    store = create_tracker_store(config, domain)
    assert type(store) is CachedSQLTrackerStore
    assert store.engine.url.database == str(tmp_path / "tracker.db")


def test_an_in_memory_database_keeps_rasas_engine(domain: Domain) -> None:
    # A pool would give each connection its own, empty, in-memory database.
    store = CachedSQLTrackerStore(domain, db=":memory:")
    tracker = DialogueStateTracker("m", domain.slots)
    tracker.update(BotUttered("内存", timestamp=1.0))
    run(store.save(tracker))
    store.forget()
    assert _events(run(store.retrieve("m"))) == _events(tracker)


def test_a_saved_tracker_is_handed_out_again_once(tmp_path: Path, domain: Domain) -> None:
    store = CachedSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"))
    _play(store, domain, "a")
    tracker = run(store.retrieve("a"))
    tracker.update(BotUttered("第二轮", timestamp=2000.0))
    run(store.save(tracker))
    again = run(store.retrieve("a"))
    assert again is tracker  # not rebuilt from JSON
    # Taken: another reader at the same time gets its own copy of the saved session.
    other = run(store.retrieve("a"))
    assert other is not tracker
    assert _events(other) == _events(tracker)
    assert _events(other) == _events(
        run(SQLTrackerStore(domain, db=store.engine.url.database).retrieve("a"))
    )


def test_a_tracker_changed_after_its_save_is_not_handed_out(tmp_path: Path, domain: Domain) -> None:
    store = CachedSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"))
    # Rasa's create_tracker saves a new tracker, then the turn goes on adding events to it.
    created = run(store.get_or_create_tracker("new"))
    created.update(_user("未保存", 5.0))
    tracker = run(store.retrieve("new"))
    assert tracker is not created
    assert "未保存" not in [e.get("text") for e in _events(tracker)]


def test_a_new_session_is_read_back_as_the_new_session_only(tmp_path: Path, domain: Domain) -> None:
    store = CachedSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"))
    tracker = DialogueStateTracker("a", domain.slots)
    for turn, start in zip(TURNS[:4], (1000.0, 1010.0, 1020.0, 1030.0)):
        for event in turn(start):
            tracker.update(event)
    run(store.save(tracker))  # two sessions in one object
    again = run(store.retrieve("a"))
    assert again is not tracker
    assert _events(again)[0]["event"] == "session_started"


def test_a_tracker_of_another_model_is_rebuilt(tmp_path: Path, domain: Domain) -> None:
    store = CachedSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"))
    _play(store, domain, "a")
    tracker = run(store.retrieve("a"))
    run(store.save(tracker))
    store.domain = Domain.load(DOMAIN_FILE)  # the model was replaced
    assert run(store.retrieve("a")) is not tracker


def test_no_trackers_are_kept_with_live_size_zero(tmp_path: Path, domain: Domain) -> None:
    store = CachedSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"), live_size=0)
    _play(store, domain, "a")
    tracker = run(store.retrieve("a"))
    run(store.save(tracker))
    assert run(store.retrieve("a")) is not tracker
    with pytest.raises(ValueError, match="live_size"):
        CachedSQLTrackerStore(domain, db=str(tmp_path / "t.db"), live_size=-1)


def test_a_tracker_built_elsewhere_is_stored_but_not_handed_out(
    tmp_path: Path, domain: Domain
) -> None:
    store = CachedSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"))
    _play(store, domain, "a")
    stored = _events(run(store.retrieve("a")))
    # Rasa's "replace events" API saves a tracker it built: as many events, other content.
    other = DialogueStateTracker("a", domain.slots)
    for i in range(len(stored)):
        other.update(BotUttered(f"替换{i}", timestamp=5000.0 + i))
    run(store.save(other))
    again = run(store.retrieve("a"))
    assert again is not other
    assert _events(again) == stored  # what Rasa's SQL store would read back too


def test_a_created_tracker_is_kept_after_its_turn(tmp_path: Path, domain: Domain) -> None:
    store = CachedSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"))
    created = run(store.get_or_create_tracker("new"))
    created.update(_user("你好", 5.0))
    run(store.save(created))
    assert run(store.retrieve("new")) is created
