"""The store's tables as SQLAlchemy Core sees them; the migrations create them (one schema for
SQLite and PostgreSQL). Target words are searched through a full-text index each dialect keeps
beside `claims`: an FTS5 table on SQLite, a generated tsvector column on PostgreSQL."""

from __future__ import annotations

import re
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


class StoredText(TypeDecorator[str]):
    """Text kept exactly, NUL included. PostgreSQL's text cannot hold NUL (an article may), so
    there a backslash is doubled and NUL written as backslash-0, and read back the other way."""

    impl = Text
    cache_ok = True

    # Elsewhere text is kept as it is: no call per value at all (a batch's claims hold several).
    def bind_processor(self, dialect: Dialect) -> Any:
        return super().bind_processor(dialect) if dialect.name == "postgresql" else None

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        return super().result_processor(dialect, coltype) if dialect.name == "postgresql" else None

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return value.replace("\\", "\\\\").replace("\x00", "\\0")

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        return _PG_ESCAPE.sub(lambda m: "\x00" if m[1] == "0" else "\\", value)


_PG_ESCAPE = re.compile(r"\\([\\0])")
metadata = MetaData()

summaries = Table(
    "summaries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("request_id", String(64)),
    Column("api_key_id", String(12)),  # sha256 of the key, 12 hex digits: never the key
    Column("article_sha256", String(64), nullable=False),
    Column("article_text", StoredText),  # null with NEWSBRIEF_STORE_ARTICLE_TEXT=false
    Column("article_chars", Integer, nullable=False),
    Column("title", StoredText),
    Column("source", String(200)),
    Column("url", StoredText),
    Column("published_at", UTCDateTime),
    Column("language", String(35)),
    Column("engine", String(16), nullable=False),
    Column("model", StoredText),
    Column("prompt_ref", String(200)),
    Column("prompt_sha256", String(64)),
    Column("options", JSON, nullable=False),
    Column("response", LargeBinary, nullable=False),  # the body bytes exactly as sent
    Column("usage", JSON, nullable=False),
    Column("warnings", JSON, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("upstream_text", StoredText),  # the model's raw answer that was accepted; null if none
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
    Column("holder", StoredText, nullable=False),
    Column("holder_key", String(200), nullable=False),  # attribution.holder_key(holder)
    Column("holder_role", StoredText),
    Column("stance", String(16), nullable=False),
    Column("target", StoredText),
    Column("claim", StoredText, nullable=False),
    Column("evidence", StoredText, nullable=False),
    Column("evidence_start", Integer, nullable=False),
    Column("evidence_end", Integer, nullable=False),
    Column("attribution", String(16), nullable=False),
    Column("attribution_status", String(16), nullable=False),
    UniqueConstraint("summary_id", "idx", name="claims_summary_idx"),
    Index("claims_holder_key", "holder_key", "created_at", "id"),
    Index("claims_created", "created_at", "id"),
)

# SQLite (migration 0003): the summaries kept whose claims are not yet in `claims`. Empty on
# PostgreSQL, which writes claims with their summary.
claims_pending = Table(
    "claims_pending",
    metadata,
    Column(
        "summary_id",
        String(32),
        ForeignKey("summaries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sqlite_with_rowid=False,
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
    Column("note", StoredText),
    Column("reviewer", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("feedback_summary", "summary_id", "id"),
    Index("feedback_created", "created_at"),
)
