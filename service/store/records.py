"""What goes into the store and what comes out of it besides the API's own shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from service.schemas import Claim, FeedbackOut, SummaryRequest, SummaryResponse


@dataclass(frozen=True)
class Answer:
    """One answer as it was sent: the route hands it to the store."""

    request: SummaryRequest
    response: SummaryResponse
    body: bytes  # the response body, byte for byte
    latency_ms: float
    api_key_id: str | None = None  # service.api.security.key_id: never the key itself
    request_id: str | None = None
    upstream_text: str | None = None  # the model's raw accepted answer; None if none was made
    created_at: datetime | None = None  # None: the store's clock at the write


@dataclass(frozen=True)
class Stored:
    """A kept response: the body exactly as sent, and when it was kept."""

    id: str
    created_at: datetime
    body: bytes


@dataclass(frozen=True)
class ReviewedSummary:
    """A summary someone gave feedback on, with all an eval case needs to replay it."""

    id: str
    created_at: datetime
    article_text: str | None  # None when the store keeps hashes only (STORE_ARTICLE_TEXT=false)
    article_sha256: str
    title: str | None
    source: str | None
    url: str | None
    published_at: datetime | None
    language: str | None
    engine: str
    model: str | None
    prompt_ref: str | None  # "name@version" as the registry spells it; None: extractive
    prompt_sha256: str | None
    options: dict[str, object]
    upstream_text: str | None  # what the model said, before grounding; None: extractive, cached
    claims: list[Claim]  # the claims returned, in order; feedback's `claim` indexes into these
    feedback: list[FeedbackOut] = field(default_factory=list)  # oldest first
