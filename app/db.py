"""Declarative base with a naming convention, the engine factory and the request session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Waits bounded below the container health check's 5 s timeout (Dockerfile, compose.yaml), so a
# stuck database turns into a quick 503 instead of a request (and a health check) hanging:
# SQLite writers wait this long for each other's lock, and any request waits this long for a
# pooled connection. Write transactions are a few milliseconds (app/services/saved_results.py),
# so a writer waiting 3 s means something is wrong, not busy.
SQLITE_BUSY_TIMEOUT_MS = 3000
POOL_TIMEOUT_S = 3.0
# Connections per process: uvicorn's thread pool runs 40 requests at once; reads hold a
# connection for the whole request, so the pool allows that many before requests queue.
POOL_SIZE = 10
POOL_MAX_OVERFLOW = 30


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on; write-ahead logging so readers never wait for the writer and several
    workers can share the file; writers wait up to SQLITE_BUSY_TIMEOUT_MS for each other."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_engine(database_url: str, *, serving: bool = False, **kwargs: Any) -> Engine:
    """An engine for the URL; SQLite gets foreign keys on and a parent folder made for its file.
    `serving=True` (the web app) bounds the pool wait and, on PostgreSQL, each statement and
    lock wait; the CLI and migrations keep the defaults (a migration may take longer)."""
    in_memory = database_url.startswith("sqlite") and ":memory:" in database_url
    if serving and not in_memory:
        kwargs.setdefault("pool_timeout", POOL_TIMEOUT_S)
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_MAX_OVERFLOW)
    if database_url.startswith("sqlite"):
        from pathlib import Path

        from sqlalchemy.engine import make_url

        path = make_url(database_url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(database_url, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if serving and database_url.startswith("postgresql"):
        # A server-side bound on each statement and on waiting for a lock, below the health
        # check's timeout, and a bounded connect (libpq's connect_timeout, seconds) unless the
        # URL sets its own.
        from sqlalchemy.engine import make_url

        connect_args = kwargs.setdefault("connect_args", {})
        if "connect_timeout" not in make_url(database_url).query:
            connect_args.setdefault("connect_timeout", 3)
        timeout_ms = int(POOL_TIMEOUT_S * 1000)
        connect_args.setdefault(
            "options", f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}"
        )
    return create_engine(database_url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """`with session_scope(factory) as session:` commits when the block finishes cleanly and
    rolls back when it raises; the session is closed either way."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
