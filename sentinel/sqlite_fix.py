"""Make SQLite savepoints safe, so a rolled-back batch is really rolled back.

Python's sqlite3 driver opens a transaction lazily, before the first INSERT/UPDATE/DELETE,
but not before a SAVEPOINT. A SAVEPOINT outside a transaction starts one of its own, and
its RELEASE then commits — so ``begin_nested()`` as the first statement would commit work
the caller later rolls back. We open the transaction explicitly just before such a
savepoint. Savepoints are only used around writes, so it is opened for writing. (The
full SQLAlchemy recipe — BEGIN on every transaction — would also make plain reads hold
locks, which SQLite's single-writer model turns into lock waits.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_installed = False


def install() -> None:
    """Register the listener once per process (it acts on SQLite connections only)."""
    global _installed
    if _installed:
        return
    _installed = True

    @event.listens_for(Engine, "savepoint")
    def _begin_before_savepoint(connection: Any, _name: str) -> None:
        if connection.dialect.name != "sqlite":
            return
        dbapi = connection.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            # IMMEDIATE takes the write lock now (waiting out other writers with the
            # busy timeout): two deferred transactions that both read before writing
            # would otherwise deadlock and one would fail with "database is locked".
            dbapi.execute("BEGIN IMMEDIATE")
