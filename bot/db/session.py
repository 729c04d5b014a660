"""Engine, sessions and migrations of the relational database (``DATABASE_URL``).

Default: ``sqlite:///<VAR_DIR>/applications.db``. SQLite connections get WAL (readers do not
block the importer) and enforced foreign keys; the listener is attached to each engine made
here, never globally, so other SQLite users in the process (Rasa's tracker store) are untouched.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.config import ROOT, load_settings
from bot.db.sqlite import pooled_engine_kwargs, set_pragmas, sqlite_file

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_INI = ROOT / "alembic.ini"

_engines: Dict[str, Engine] = {}
_makers: Dict[str, sessionmaker] = {}
_lock = threading.Lock()


def database_url(url: Optional[str] = None) -> str:
    """``url``, else ``DATABASE_URL``, else the SQLite file under the var directory.

    The directory of a file-based SQLite database is created, so a fresh checkout works.
    """
    resolved = url or load_settings().database_url
    path = sqlite_file(resolved)
    if path is not None:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return resolved


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    set_pragmas(dbapi_connection, foreign_keys=True)


def make_engine(url: Optional[str] = None) -> Engine:
    """A new engine for ``url`` (see ``database_url``), with the SQLite pragmas if SQLite."""
    resolved = database_url(url)
    kwargs = pooled_engine_kwargs() if sqlite_file(resolved) else {"pool_pre_ping": True}
    engine = create_engine(resolved, future=True, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def get_engine(url: Optional[str] = None) -> Engine:
    """The process-wide engine of ``url``; one per URL, so tests may switch DATABASE_URL."""
    resolved = database_url(url)
    with _lock:
        engine = _engines.get(resolved)
        if engine is None:
            engine = _engines[resolved] = make_engine(resolved)
        return engine


def get_sessionmaker(url: Optional[str] = None) -> sessionmaker:
    resolved = database_url(url)
    engine = get_engine(resolved)
    with _lock:
        maker = _makers.get(resolved)
        if maker is None:
            # expire_on_commit=False: objects stay readable after session_scope() returns.
            maker = _makers[resolved] = sessionmaker(
                bind=engine, future=True, expire_on_commit=False
            )
        return maker


def dispose_engines() -> None:
    """Closes every cached engine (tests, forked workers)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _makers.clear()


@contextmanager
def session_scope(url: Optional[str] = None) -> Iterator[Session]:
    """One transaction: commits when the block ends, rolls back if it raises."""
    session: Session = get_sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: Optional[str] = None) -> Any:
    """Alembic configuration for ``url``; works whatever the current directory is."""
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.is_file() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not as sqlalchemy.url: the ini parser would mangle "%" in passwords.
    config.attributes["database_url"] = database_url(url)
    # Programmatic runs keep the application's logging as it is.
    config.attributes["configure_logging"] = False
    return config


def current_revision(url: Optional[str] = None) -> Optional[str]:
    """The migration the database is at; None for a database never migrated."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def prepare_database(url: Optional[str] = None) -> bool:
    """Migrates the database to the latest schema; True when it had never been migrated
    (a first start, on which ``make run`` imports the sample export)."""
    fresh = current_revision(url) is None
    upgrade_database(url)
    return fresh


def upgrade_database(url: Optional[str] = None, revision: str = "head") -> str:
    """Runs ``alembic upgrade head`` on ``url``; returns the URL it used."""
    from alembic import command

    config = alembic_config(url)
    command.upgrade(config, revision)
    return config.attributes["database_url"]
