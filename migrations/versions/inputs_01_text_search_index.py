"""text search index on items.text_normalised (PostgreSQL GIN on characters, SQLite FTS5 bigrams)

Revision ID: inputs_01
Revises: perf_01
Create Date: 2026-12-01 15:40:00

Both indexes are built on ``items.text_normalised``, the column ``sentinel.services.text_search.
searched_text()`` names. Pointing search at another column means a migration that drops
and rebuilds them on it (for SQLite: the triggers, then ``'delete-all'`` and a refill).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "inputs_01"
down_revision = "perf_01"
branch_labels = None
depends_on = None

# SQLite: the character bigrams of lower(T) (ASCII-only, as LIKE), each as the hex of its
# UTF-8 bytes, space-separated. json_each over "[0,0,…]" numbers the positions: no CTE
# (not allowed in triggers) and no application function (any sqlite3 client can write).
_GRAMS = """(SELECT group_concat(hex(substr(lower({t}), j.key + 1, 2)), ' ')
    FROM json_each('[' || substr(replace(hex(zeroblob(length({t}))), '00', ',0'), 2) || ']') AS j
    WHERE j.key < length({t}) - 1)"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_items_text_chars ON items USING gin (string_to_array(text_normalised, NULL))"
        )
        return
    new, old = _GRAMS.format(t="new.text_normalised"), _GRAMS.format(t="old.text_normalised")
    # Contentless: the table keeps only the index. Deleting a row needs its original
    # values, recomputed from old.text_normalised by the same expression.
    op.execute("CREATE VIRTUAL TABLE items_search USING fts5(grams, content='')")
    op.execute(
        "CREATE TRIGGER items_search_insert AFTER INSERT ON items BEGIN "
        f"INSERT INTO items_search (rowid, grams) VALUES (new.id, {new}); END"
    )
    op.execute(
        "CREATE TRIGGER items_search_delete AFTER DELETE ON items BEGIN "
        "INSERT INTO items_search (items_search, rowid, grams) "
        f"VALUES ('delete', old.id, {old}); END"
    )
    op.execute(
        "CREATE TRIGGER items_search_update AFTER UPDATE OF text_normalised ON items BEGIN "
        "INSERT INTO items_search (items_search, rowid, grams) "
        f"VALUES ('delete', old.id, {old}); "
        f"INSERT INTO items_search (rowid, grams) VALUES (new.id, {new}); END"
    )
    op.execute(
        f"INSERT INTO items_search (rowid, grams) SELECT id, {_GRAMS.format(t='text_normalised')} FROM items"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_items_text_chars")
        return
    for trigger in ("items_search_insert", "items_search_delete", "items_search_update"):
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute("DROP TABLE items_search")
