"""text search index (PostgreSQL) holds processed items only: ingest writes no GIN entries

Revision ID: perf11_01
Revises: scope_01
Create Date: 2026-12-01 19:30:00

The GIN index on the items' characters was most of an ingested row's cost (a raw COPY into
``items`` ran 27 times slower with it), and every item paid it twice: once on insert and
again when the worker's label update (which sets ``processed_at``, a column of
``ix_items_unprocessed``, so never a HOT update) wrote a new row version. As a partial index
``WHERE processed_at IS NOT NULL`` it is written once, by the worker, in bulk. Items still
waiting for their worker are found by ``ix_items_unprocessed`` and a substring test
(``sentinel.services.text_search.item_match``), so the search still sees every item.
SQLite keeps its FTS5 table (its triggers are cheap per row and SQLite ingest is not bulk).
"""

import sqlalchemy as sa
from alembic import op

revision = "perf11_01"
down_revision = "scope_01"
branch_labels = None
depends_on = None

_CHARS = "string_to_array(text_normalised, NULL)"


def upgrade():
    # Only waiting items in the unprocessed index (it was on every item's processed_at).
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_index("ix_items_unprocessed")
        batch_op.create_index(
            "ix_items_unprocessed",
            ["id"],
            postgresql_where=sa.text("processed_at IS NULL"),
            sqlite_where=sa.text("processed_at IS NULL"),
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_items_text_chars")
    op.execute(
        f"CREATE INDEX ix_items_text_chars ON items USING gin ({_CHARS}) "
        "WHERE processed_at IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_index("ix_items_unprocessed")
        batch_op.create_index("ix_items_unprocessed", ["processed_at", "id"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_items_text_chars")
    op.execute(f"CREATE INDEX ix_items_text_chars ON items USING gin ({_CHARS})")
