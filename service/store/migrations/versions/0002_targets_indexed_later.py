"""SQLite: claims' targets are indexed for search after their answer's write, not inside it.

The FTS5 insert trigger was more than half of a confirmed write's work in SQLite (FTS5 writes a
segment per transaction): the store now indexes what is new in bulk, in its write thread, every
so often and before every search by target (Store.index_targets). `claims_fts_indexed.upto` is
the highest claim id indexed; every claim at or below it is in the index, none above it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A deleted claim leaves the index only if it was in it; and when deletes take the highest ids,
# `upto` comes down with them, since SQLite gives the next claim the id after the highest left.
DELETE_TRIGGER = (
    "CREATE TRIGGER claims_fts_delete AFTER DELETE ON claims BEGIN "
    "INSERT INTO claims_fts(claims_fts, rowid, target) SELECT 'delete', old.id, old.target "
    "WHERE old.id <= (SELECT upto FROM claims_fts_indexed); "
    "UPDATE claims_fts_indexed SET upto = (SELECT coalesce(max(id), 0) FROM claims) "
    "WHERE upto > (SELECT coalesce(max(id), 0) FROM claims); END"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL's tsvector column is generated with the row, as before
    op.execute("DROP TRIGGER claims_fts_insert")
    op.execute("DROP TRIGGER claims_fts_delete")
    op.execute("CREATE TABLE claims_fts_indexed (upto INTEGER NOT NULL)")
    # Every claim so far was indexed by the trigger.
    op.execute("INSERT INTO claims_fts_indexed SELECT coalesce(max(id), 0) FROM claims")
    op.execute(DELETE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "INSERT INTO claims_fts(rowid, target) SELECT id, target FROM claims "
        "WHERE id > (SELECT upto FROM claims_fts_indexed)"
    )
    op.execute("DROP TRIGGER claims_fts_delete")
    op.execute("DROP TABLE claims_fts_indexed")
    op.execute(
        "CREATE TRIGGER claims_fts_insert AFTER INSERT ON claims BEGIN "
        "INSERT INTO claims_fts(rowid, target) VALUES (new.id, new.target); END"
    )
    op.execute(
        "CREATE TRIGGER claims_fts_delete AFTER DELETE ON claims BEGIN "
        "INSERT INTO claims_fts(claims_fts, rowid, target) "
        "VALUES ('delete', old.id, old.target); END"
    )
