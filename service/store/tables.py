"""The store's tables as SQLAlchemy Core sees them; the migrations create them (one schema for
SQLite and PostgreSQL). Target words are searched through a full-text index each dialect keeps
beside `claims`: an FTS5 table on SQLite, a generated tsvector column on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite too (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

summaries = Table(
    "summaries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("request_id", String(64)),
    Column("api_key_id", String(12)),  # sha256 of the key, 12 hex digits: never the key
    Column("article_sha256", String(64), nullable=False),
    Column("article_text", Text),  # null with NEWSBRIEF_STORE_ARTICLE_TEXT=false
    Column("article_chars", Integer, nullable=False),
    Column("title", Text),
    Column("source", String(200)),
    Column("url", Text),
    Column("published_at", UTCDateTime),
    Column("language", String(35)),
    Column("engine", String(16), nullable=False),
    Column("model", Text),
    Column("prompt_ref", String(200)),
    Column("prompt_sha256", String(64)),
    Column("options", JSON, nullable=False),
    Column("response", LargeBinary, nullable=False),  # the body bytes exactly as sent
    Column("usage", JSON, nullable=False),
    Column("warnings", JSON, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("upstream_text", Text),  # the model's raw answer that was accepted; null if none
    Index("summaries_created", "created_at", "id"),
    Index("summaries_source_created", "source", "created_at", "id"),
)

claims = Table(
    "claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "summary_id", String(32), ForeignKey("summaries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("idx", Integer, nullable=False),  # its index in the response's claims
    Column("created_at", UTCDateTime, nullable=False),  # the summary's, for keyset order
    Column("holder", Text, nullable=False),
    Column("holder_key", String(200), nullable=False),  # attribution.holder_key(holder)
    Column("holder_role", Text),
    Column("stance", String(16), nullable=False),
    Column("target", Text),
    Column("claim", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("evidence_start", Integer, nullable=False),
    Column("evidence_end", Integer, nullable=False),
    Column("attribution", String(16), nullable=False),
    Column("attribution_status", String(16), nullable=False),
    UniqueConstraint("summary_id", "idx", name="claims_summary_idx"),
    Index("claims_holder_key", "holder_key", "created_at", "id"),
    Index("claims_created", "created_at", "id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "summary_id", String(32), ForeignKey("summaries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("claim_index", Integer),  # one of the two: a claim, or a summary field
    Column("field", String(32)),
    Column("verdict", String(16), nullable=False),
    Column("corrected", JSON),
    Column("note", Text),
    Column("reviewer", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("feedback_summary", "summary_id", "id"),
    Index("feedback_created", "created_at"),
)
