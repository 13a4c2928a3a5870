"""Bulk writes by primary key: one statement for a whole batch of rows.

SQLAlchemy's ORM bulk UPDATE (``session.execute(update(Model), rows)``) sends one UPDATE
per row (an executemany). On PostgreSQL :func:`update_rows` sends one
``UPDATE … FROM unnest(array, array, …)`` instead: one round trip and one plan for 500
rows; elsewhere (SQLite) it falls back to the executemany.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, TypeDecorator, text
from sqlalchemy import update as sa_update

from sentinel.extensions import db


def reserve_ids(model: Any, n: int) -> list[int]:
    """``n`` new ids from ``model``'s id sequence (PostgreSQL), in one round trip: rows
    inserted with their ids known need no ``INSERT … RETURNING``."""
    return [
        int(i)
        for i in db.session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": model.__table__.name, "n": n},
        )
    ]


def update_rows(model: Any, rows: list[dict[str, Any]]) -> None:
    """Update rows of ``model`` by ``id``; every dict has ``id`` and the same other keys."""
    if not rows:
        return
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(sa_update(model), rows)
        return
    table = model.__table__
    names = [name for name in rows[0] if name != "id"]
    arrays: dict[str, list[Any]] = {"p_id": [row["id"] for row in rows]}
    casts = ["CAST(:p_id AS INTEGER[])"]
    sets = []
    for n, name in enumerate(names):
        sql_type, is_json = _array_type(table.c[name].type)
        values = [row[name] for row in rows]
        if is_json:
            # Sent as text and cast per row: psycopg has no json[] parameter type.
            values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
        arrays[f"p{n}"] = values
        casts.append(f"CAST(:p{n} AS {sql_type}[])")
        sets.append(f"{name} = v.c{n}" + ("::json" if is_json else ""))
    columns = ", ".join(["id", *(f"c{n}" for n in range(len(names)))])
    db.session.execute(
        text(
            f"UPDATE {table.name} SET {', '.join(sets)} "
            f"FROM unnest({', '.join(casts)}) AS v({columns}) "
            f"WHERE {table.name}.id = v.id"
        ),
        arrays,
    )


def _array_type(column_type: Any) -> tuple[str, bool]:
    """The PostgreSQL element type for an array of this column's values, and whether the
    values are JSON (sent as text)."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl
    for sa_type, pg_type in (
        (JSON, "TEXT"),
        (Boolean, "BOOLEAN"),
        (DateTime, "TIMESTAMPTZ" if getattr(column_type, "timezone", False) else "TIMESTAMP"),
        (Integer, "INTEGER"),
        (Float, "FLOAT8"),
        (Text, "TEXT"),
        (String, "VARCHAR"),
    ):
        if isinstance(column_type, sa_type):
            return pg_type, sa_type is JSON
    raise TypeError(f"no array type for {column_type!r}")
