"""SQLite: an answer's claims go into the claims table after its write, not inside it.

A confirmed write runs on the event loop, and its cost lands on every request's latency. Its
claims were most of it: six claims are six rows in `claims` and in each of its three indexes (the
holder index alone put about six of the nineteen pages a commit wrote into the WAL, one leaf per
holder), and their parameters were most of the write's Python. Now a write keeps the summary, whose
response already holds its claims, and names it in `claims_pending`; the store moves what is
pending into `claims` in bulk, in its write thread, every so often and before every claims query
(Store.catch_up), in one transaction that empties `claims_pending`. A summary deleted before
then takes its pending row with it (ON DELETE CASCADE).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On PostgreSQL too, so both keep one schema; it stays empty there.
    op.create_table(
        "claims_pending",
        sa.Column(
            "summary_id",
            sa.String(32),
            sa.ForeignKey("summaries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        from service.store.store import catch_up_on  # what is pending goes into claims first

        catch_up_on(op.get_bind())
    op.drop_table("claims_pending")
