"""Text search over items: an index narrows the candidates, the substring test decides.

The triage search is a substring search (``q`` anywhere in an item's text, ``LIKE`` with
``%``/``_``/``\\`` escaped). Scanning every item's text took 0.4–0.75 s at 100k cases, so
an index picks the candidate items first and a substring test then decides on those only
(``strpos`` on PostgreSQL, which equals ``LIKE '%q%'`` there and is cheaper; ``LIKE`` on
SQLite, whose ``LIKE`` ignores ASCII case). Results are therefore exactly the substring
search's, as long as the index never leaves out an item that contains ``q`` (each index
below is built so that it cannot):

* PostgreSQL: a GIN index on the text's characters, ``string_to_array(text_normalised, NULL)``
  (``ix_items_text_chars``). Every item containing ``q`` contains each of its
  characters, so ``chars @> chars_of(q)`` is a superset; it serves one-character
  queries too. A character (not bigram) index because it is what ingest can better
  afford: on the 6,842 government messages, keeping a GIN index of character bigrams
  (~270 distinct keys per message, computed by a SQL function) cost 2–5 times as much
  per inserted item as this built-in expression (~150 keys), for 1.35× the candidates
  on ``物业``. Even so the index is most of an item's insert cost (``bench/ingest.py``
  prints a raw COPY into a copy of ``items`` with and without its indexes).
  The matching cases are found once per request (:func:`matching_case_ids`).
* SQLite: an FTS5 table ``items_search`` of the text's character bigrams (each bigram
  written as the hex of its UTF-8 bytes, so no tokenizer splits or folds it), kept by
  triggers on ``items``. SQLite's ``LIKE`` ignores ASCII case, so the bigrams are taken
  from ``lower(text)`` (ASCII-only, as ``LIKE``) and from ``q`` lowered the same way.
  One-character queries fall back to the scan.

:func:`searched_text` is the one place that names the column searched; the migration
``inputs_01`` builds both indexes on that same column (re-pointing it needs a migration
that rebuilds them on the new column).
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context
from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    and_,
    any_,
    bindparam,
    column,
    func,
    null,
    select,
    table,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY

from sentinel.extensions import db
from sentinel.models import Case, Item

#: The FTS5 table (SQLite only) and its one column; the table-named column is FTS5's
#: hidden column that ``MATCH`` is applied to.
ITEMS_SEARCH = table("items_search", column("rowid"), column("items_search"))


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name``: leave the search indexes out of autogenerate.

    They are made by migration ``inputs_01``, not by the models: the PostgreSQL expression
    index, and on SQLite the FTS5 table with its shadow tables.
    """
    if type_ == "index":
        return name != "ix_items_text_chars"
    return not (type_ == "table" and name is not None and name.startswith("items_search"))


_ASCII_LOWER = {cp: cp + 32 for cp in range(ord("A"), ord("Z") + 1)}


def searched_text() -> Any:
    """The expression text search reads, and that both indexes are built on."""
    return Item.text_normalised


def like_pattern(q: str) -> str:
    """``%q%`` with the LIKE wildcards and the escape character escaped (escape ``\\``)."""
    return "%" + q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def substring_match(q: str) -> ColumnElement[bool]:
    """Cases with an item whose text contains ``q``, by scanning (no index).

    A correlated EXISTS: only the items of cases that pass the other filters are read.
    The reference the indexed search must equal, and the fallback when no index serves.
    """
    return (
        select(Item.id)
        .where(Item.case_id == Case.id, searched_text().like(like_pattern(q), escape="\\"))
        .exists()
    )


def sqlite_bigram_query(q: str) -> str | None:
    """The FTS5 query for ``q``: all its bigrams (hex tokens), or None under two chars."""
    lowered = q.translate(_ASCII_LOWER)
    grams = dict.fromkeys(lowered[i : i + 2] for i in range(len(lowered) - 1))
    if not grams:
        return None
    return " ".join(f'"{g.encode("utf-8", "surrogatepass").hex()}"' for g in grams)


def item_match(q: str) -> ColumnElement[bool] | None:
    """Condition on ``Item``: its text contains ``q``, candidates taken from the index.

    None when no index serves ``q`` (one character on SQLite): scan with
    :func:`substring_match` instead.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return Item.id.in_(_pg_matching(q, Item.id))
    if dialect == "sqlite":
        fts_query = sqlite_bigram_query(q)
        if fts_query is not None:
            hits = select(ITEMS_SEARCH.c.rowid).where(ITEMS_SEARCH.c.items_search.match(fts_query))
            like = searched_text().like(like_pattern(q), escape="\\")
            return and_(Item.id.in_(hits), like)
    return None


def _pg_matching(q: str, column: Any) -> Any:
    """PostgreSQL: ``column`` of the items containing ``q``, as a UNION of two index reads.

    The GIN index holds processed items only (migration ``perf11_01``: ingest writes no
    index entries); the few items still waiting for their worker are read through
    ``ix_items_unprocessed``. Two SELECTs, so each is planned on its own index (as one
    OR the planner may pick neither).
    """
    chars = list(dict.fromkeys(q))
    candidates = func.string_to_array(searched_text(), null(), type_=ARRAY(Text))
    # strpos = LIKE '%q%' on PostgreSQL (case-sensitive both, no wildcards to escape),
    # and about a third cheaper per candidate text.
    contains = func.strpos(searched_text(), q) > 0
    indexed = select(column).where(
        Item.processed_at.is_not(None), candidates.contains(chars), contains
    )
    waiting = select(column).where(Item.processed_at.is_(None), contains)
    return union(indexed, waiting)


def text_match(q: str) -> ColumnElement[bool]:
    """Condition on ``Case``: one of its items contains ``q`` (indexed where possible)."""
    condition = item_match(q)
    if condition is None:
        return substring_match(q)
    if db.session.get_bind().dialect.name == "postgresql":
        # The matching cases once per request, then a plain id test: the page and its
        # count (and the live feed) would otherwise each search the items again, and a
        # page of a rare word planned as "walk the queue, probe each case's items" reads
        # the whole queue to find 50 matches.
        ids = matching_case_ids(q)
        return Case.id == any_(bindparam(None, ids, type_=ARRAY(Integer)))
    return Case.id.in_(select(Item.case_id).where(condition))


def matching_case_ids(q: str) -> list[int]:
    """PostgreSQL: ids of the cases with an item containing ``q`` (memoised per HTTP
    request: a page, its count and its tabs ask the same question; outside a request,
    fresh)."""
    if not has_request_context():
        return list(db.session.scalars(_pg_matching(q, Item.case_id)))
    memo = g.setdefault("_text_search_case_ids", {})
    if q not in memo:
        memo[q] = list(db.session.scalars(_pg_matching(q, Item.case_id)))
    return list(memo[q])
