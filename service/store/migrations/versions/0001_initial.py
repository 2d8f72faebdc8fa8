"""The first schema: summaries, their claims (with a full-text index on targets), feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from service.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "summaries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("api_key_id", sa.String(12)),
        sa.Column("article_sha256", sa.String(64), nullable=False),
        sa.Column("article_text", sa.Text),
        sa.Column("article_chars", sa.Integer, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("source", sa.String(200)),
        sa.Column("url", sa.Text),
        sa.Column("published_at", UTCDateTime),
        sa.Column("language", sa.String(35)),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("prompt_ref", sa.String(200)),
        sa.Column("prompt_sha256", sa.String(64)),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("usage", sa.JSON, nullable=False),
        sa.Column("warnings", sa.JSON, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("upstream_text", sa.Text),
    )
    op.create_index("summaries_created", "summaries", ["created_at", "id"])
    op.create_index("summaries_source_created", "summaries", ["source", "created_at", "id"])
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "summary_id",
            sa.String(32),
            sa.ForeignKey("summaries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("holder_key", sa.String(200), nullable=False),
        sa.Column("holder_role", sa.Text),
        sa.Column("stance", sa.String(16), nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("claim", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("evidence_start", sa.Integer, nullable=False),
        sa.Column("evidence_end", sa.Integer, nullable=False),
        sa.Column("attribution", sa.String(16), nullable=False),
        sa.Column("attribution_status", sa.String(16), nullable=False),
        sa.UniqueConstraint("summary_id", "idx", name="claims_summary_idx"),
    )
    op.create_index("claims_holder_key", "claims", ["holder_key", "created_at", "id"])
    op.create_index("claims_created", "claims", ["created_at", "id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "summary_id",
            sa.String(32),
            sa.ForeignKey("summaries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("claim_index", sa.Integer),
        sa.Column("field", sa.String(32)),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("corrected", sa.JSON),
        sa.Column("note", sa.Text),
        sa.Column("reviewer", sa.String(200)),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("feedback_summary", "feedback", ["summary_id", "id"])
    op.create_index("feedback_created", "feedback", ["created_at"])
    if op.get_bind().dialect.name == "postgresql":
        # Words, stemmed the English way, as SQLite's porter tokenizer does below.
        op.execute(
            "ALTER TABLE claims ADD COLUMN target_words tsvector GENERATED ALWAYS AS "
            "(to_tsvector('english', coalesce(target, ''))) STORED"
        )
        op.execute("CREATE INDEX claims_target_words ON claims USING gin (target_words)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE claims_fts USING fts5(target, content='claims', "
            "content_rowid='id', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER claims_fts_insert AFTER INSERT ON claims BEGIN "
            "INSERT INTO claims_fts(rowid, target) VALUES (new.id, new.target); END"
        )
        op.execute(
            "CREATE TRIGGER claims_fts_delete AFTER DELETE ON claims BEGIN "
            "INSERT INTO claims_fts(claims_fts, rowid, target) "
            "VALUES ('delete', old.id, old.target); END"
        )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS claims_fts")
    op.drop_table("feedback")
    op.drop_table("claims")
    op.drop_table("summaries")
