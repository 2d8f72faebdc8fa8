"""The shapes newsbrief speaks: API request and response bodies, and the LLM's output models."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    StrictBool,
    field_validator,
    model_validator,
)


class Stance(StrEnum):
    """mixed: conditional or ambivalent; neutral: states or declines a position, takes no side."""

    SUPPORT = "support"
    OPPOSE = "oppose"
    NEUTRAL = "neutral"
    MIXED = "mixed"


class Attribution(StrEnum):
    """direct_quote: the holder's own quoted words; reported: the article reports the position."""

    DIRECT_QUOTE = "direct_quote"
    REPORTED = "reported"


class Strict(BaseModel):
    """A model that rejects keys it does not declare (LLM output, the eval suite's data files)."""

    model_config = ConfigDict(extra="forbid")


class _Request(BaseModel):
    """Request bodies take what the OpenAPI document says: no unknown fields, no coercion."""

    model_config = ConfigDict(extra="forbid")


def _json_integer(value: object) -> object:
    # JSON Schema's integer: 7 and 7.0 yes; "7" and true no (pydantic's lax mode takes both).
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON integer")
    return value


def _json_datetime(value: object) -> object:
    # RFC 3339 text, as the schema says; pydantic's lax mode would take 90.0 as a Unix time.
    if not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


# Control characters (C0, DEL, C1, which hold \n \r \v \f \x1c-\x1e \x85) and the Unicode line and
# paragraph separators: everything str.splitlines() breaks at, and more.
_LINE_BREAK_OR_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ONE_LINE_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"  # as _LINE_BREAK_OR_CONTROL
_ONE_LINE: dict[str, JsonValue] = {"pattern": ONE_LINE_PATTERN}

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)")


def _rfc3339_text(value: object) -> object:
    # A query parameter is always text; pydantic would read "0.0" as a Unix time, and a time
    # without a zone is ambiguous.
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2026-03-01T00:00:00Z")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
# In a query string: RFC 3339 text with a zone, nothing else.
QueryDateTime = Annotated[datetime, BeforeValidator(_rfc3339_text)]
JsonDateTime = Annotated[datetime, BeforeValidator(_json_datetime)]


# --- request ----------------------------------------------------------------------------------


class ArticleIn(_Request):
    text: str = Field(
        # Documents "not empty, not only whitespace" for clients, whitespace as str.strip()
        # counts it (ECMA's \s lacks \x1c-\x1f and \x85); _not_blank enforces it, clearly.
        json_schema_extra={"minLength": 1, "pattern": r"[^\s\x1c-\x1f\x85]"},
        description="The article body. Evidence offsets index into this string.",
    )
    title: str | None = Field(default=None, max_length=500, json_schema_extra=_ONE_LINE)
    url: str | None = Field(default=None, max_length=2048, json_schema_extra=_ONE_LINE)
    source: str | None = Field(default=None, max_length=200, json_schema_extra=_ONE_LINE)
    published_at: JsonDateTime | None = None
    language: str | None = Field(
        default=None,
        max_length=35,
        json_schema_extra=_ONE_LINE,
        description="BCP 47 tag, e.g. 'en' or 'de'.",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("article text is empty or only whitespace")
        return text

    @field_validator("title", "url", "source", "language")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # Metadata goes into the prompt beside the article: a line break there could start a
        # line that reads as the fence's end or as an instruction.
        if value is not None and _LINE_BREAK_OR_CONTROL.search(value):
            raise ValueError("must be one line: no line breaks or other control characters")
        return value

    @field_validator("text", "title", "url", "source", "language")
    @classmethod
    def _valid_unicode(cls, value: str | None) -> str | None:
        # JSON can carry lone surrogates ("\ud800"); they are not text and cannot be echoed back.
        try:
            value is None or value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("contains a lone surrogate code point, not valid Unicode") from None
        return value


class Options(_Request):
    max_bullets: JsonInt = Field(default=5, ge=1, le=10)
    max_claims: JsonInt = Field(default=12, ge=0, le=50)
    require_verified_attribution: StrictBool = Field(
        default=False,
        description="Also drop claims whose speaker the article does not confirm (unverified).",
    )


class SummaryRequest(_Request):
    article: ArticleIn
    prompt_version: str | None = Field(
        default=None, description="Pin a prompt version such as 'v1'; default: the configured one."
    )
    options: Options = Field(default_factory=Options)


# --- LLM output: every field required (nullable where optional) so it is a strict JSON schema ---


class LLMSummary(Strict):
    headline: str
    lede: str
    bullets: list[str]


class LLMClaim(Strict):
    holder: str
    holder_role: str | None
    stance: Stance
    target: str
    claim: str
    evidence: str
    attribution: Attribution


class LLMOutput(Strict):
    summary: LLMSummary
    claims: list[LLMClaim]


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form OpenAI's strict structured outputs accept."""

    def tighten(node: Any) -> Any:
        if isinstance(node, dict):
            # "title" and "default" are keywords to drop, except as the names of properties.
            node = {
                k: {name: tighten(sub) for name, sub in v.items()}
                if k == "properties" and isinstance(v, dict)
                else tighten(v)
                for k, v in node.items()
                if k not in ("title", "default")
            }
            if node.get("type") == "object" and "properties" in node:
                node["required"] = list(node["properties"])
                node["additionalProperties"] = False
            return node
        if isinstance(node, list):
            return [tighten(v) for v in node]
        return node

    schema: dict[str, Any] = tighten(model.model_json_schema())
    return schema


LLM_OUTPUT_SCHEMA = strict_json_schema(LLMOutput)  # built once, sent with every structured call


# --- response ---------------------------------------------------------------------------------


class PromptRef(BaseModel):
    name: str
    version: str
    sha256: str


class ArticleInfo(BaseModel):
    sha256: str
    chars: int


class Summary(BaseModel):
    headline: str
    lede: str
    bullets: list[str]


class Evidence(BaseModel):
    text: str = Field(description="Exactly article.text[start:end].")
    start: int = Field(ge=0, description="Code-point offset into article.text, inclusive.")
    end: int = Field(ge=0, description="Code-point offset into article.text, exclusive.")


class Cue(Evidence):
    """The words of the article that say who speaks, e.g. "said Senator Helen Marsh"."""


class AttributionCheck(BaseModel):
    status: Literal["verified", "unverified", "contradicted"] = Field(
        description="verified: the article gives the evidence to the holder; unverified: it names "
        "no speaker for it, or the checker cannot tell; contradicted (never returned): it gives "
        "the evidence to someone else."
    )
    speaker: str | None = Field(description="Whom the article gives the evidence to, if anyone.")
    cue: Cue | None = Field(description="The words that attribute it; null when unverified.")


class Claim(BaseModel):
    holder: str
    holder_role: str | None
    stance: Stance
    target: str | None = Field(description="null when the engine cannot tell (extractive).")
    claim: str
    evidence: Evidence
    attribution: Attribution
    # Always filled by the pipeline; the default (nothing checked) serves code that builds
    # claims by hand, and the response schema still lists the field as required.
    attribution_check: AttributionCheck = Field(
        default_factory=lambda: AttributionCheck(status="unverified", speaker=None, cue=None)
    )

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


WarningCode = Literal[
    "no_llm",
    "llm_unavailable_degraded",
    "link_removed",
    "claim_dropped_ungrounded",
    "claim_dropped_limit",
    "claim_dropped_misattributed",
    "claim_dropped_unverified",
    "bullets_truncated",
    "unsupported_number",
    "not_stored",
]


class ResponseWarning(BaseModel):
    code: WarningCode
    detail: str


class Usage(BaseModel):
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasks: int = 0
    retries: int = 0


class SummaryResponse(BaseModel):
    id: str
    engine: Literal["llm", "extractive"]
    model: str | None
    prompt: PromptRef | None = Field(description="null for the extractive engine (no prompt).")
    article: ArticleInfo
    summary: Summary
    claims: list[Claim]
    warnings: list[ResponseWarning]
    usage: Usage
    cached: bool = Field(
        default=False,
        description="True when this answer was reused from an identical earlier request "
        "(same article, prompt version, model and options); usage is then all zeros.",
    )
    # The model's raw answer that was accepted, for the store's audit trail; never sent.
    _upstream_text: str | None = PrivateAttr(default=None)


class PromptInfo(BaseModel):
    name: str
    version: str
    sha256: str
    description: str
    default: bool


class CacheStats(BaseModel):
    """The result cache: `off` (NEWSBRIEF_CACHE_SIZE=0) has no counters."""

    state: Literal["on", "off"]
    entries: int | None = None
    hits: int | None = None
    misses: int | None = None


class StoreState(BaseModel):
    """The store: `off` (NEWSBRIEF_STORE=off); `failing` while a failed write's cool-down runs or
    the database has not been reached since start-up (answers then say `not_stored`)."""

    state: Literal["on", "off", "failing"]
    backend: Literal["sqlite", "postgresql"] | None = None
    queued: int | None = Field(default=None, description="answers waiting to be written")
    last_failure: str | None = Field(default=None, description="what the database last said")
    retry_in_s: float | None = Field(default=None, description="until writes are tried again")


class BreakerInfo(BaseModel):
    """The LLM circuit breaker: its state, the latest failure that counted, the wait for a probe."""

    state: Literal["closed", "open", "half-open"]
    last_failure: str | None = None
    probe_in_s: float


class Readiness(BaseModel):
    """GET /readyz. With API keys configured, a caller without a valid key gets `status` only."""

    status: Literal["ready", "not ready"]
    reason: str | None = Field(default=None, description="why not ready")
    engine: Literal["llm", "extractive"] | None = None
    model: str | None = None
    prompts: list[str] | None = None
    default_prompt: str | None = None
    cache: CacheStats | None = None
    breaker: BreakerInfo | None = Field(default=None, description="null without an LLM")
    store: StoreState | None = None


class ValidationIssue(BaseModel):
    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem: the body of every error response (`application/problem+json`).

    `type` is stable and names the kind of problem; the optional fields appear where they apply,
    and fields added later appear beside them."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="a URI naming the kind of problem; stable")
    title: str = Field(description="short, the same for every problem of this type")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong with this request")
    errors: list[ValidationIssue | str] | None = Field(
        default=None,
        description="422: each invalid field; 502 llm-invalid-output: why the output was refused",
    )
    available: list[str] | None = Field(
        default=None, description="404 unknown-prompt: the prompt versions loaded"
    )
    attempts: int | None = Field(default=None, description="upstream failures: calls made")
    limit: int | None = Field(default=None, description="413, 431: the limit that was exceeded")
    chars: int | None = Field(default=None, description="413 article-too-long: the text's length")
    field: str | None = Field(
        default=None, description="422 invalid-feedback: the claim or field it names"
    )


# --- the store: kept summaries, claims across articles, feedback ----------------------------


class StoredSummaryInfo(BaseModel):
    """One kept summary in a list; GET /v1/summaries/{id} has the whole response."""

    id: str
    stored_at: datetime
    engine: Literal["llm", "extractive"]
    model: str | None
    prompt: str | None = Field(description="name@version, null for the extractive engine")
    title: str | None
    source: str | None
    url: str | None
    published_at: datetime | None
    claims: int
    cached: bool


class SummaryPage(BaseModel):
    items: list[StoredSummaryInfo]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: done")


class StoredClaim(BaseModel):
    """A claim as returned in a summary, with the summary (article) it came from."""

    summary_id: str
    index: int = Field(description="its place in that summary's claims")
    stored_at: datetime
    holder: str
    holder_role: str | None
    stance: Stance
    target: str | None
    claim: str
    evidence: Evidence = Field(description="offsets index into that summary's article text")
    attribution: Attribution
    attribution_status: Literal["verified", "unverified", "contradicted"]
    title: str | None
    source: str | None
    url: str | None


class ClaimPage(BaseModel):
    items: list[StoredClaim]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: done")


Verdict = Literal["correct", "incorrect", "partly"]
SummaryField = Literal["headline", "lede", "bullets"]


class ClaimCorrection(_Request):
    """What a claim should have said: any of its fields, each as the claim schema has it."""

    holder: str | None = Field(default=None, min_length=1, max_length=600)
    holder_role: str | None = Field(default=None, max_length=600)
    stance: Stance | None = None
    target: str | None = Field(default=None, max_length=600)
    claim: str | None = Field(default=None, min_length=1, max_length=600)
    evidence: str | None = Field(default=None, min_length=1, max_length=3000)
    attribution: Attribution | None = None


class SummaryCorrection(_Request):
    """What a summary field should have said."""

    headline: str | None = Field(default=None, min_length=1, max_length=300)
    lede: str | None = Field(default=None, min_length=1, max_length=1500)
    bullets: list[Annotated[str, Field(min_length=1, max_length=600)]] | None = Field(
        default=None, max_length=20
    )


class FeedbackIn(_Request):
    """A reviewer's verdict on one claim (`claim`: its index) or one summary field (`field`)."""

    claim: JsonInt | None = Field(default=None, ge=0)
    field: SummaryField | None = None
    verdict: Verdict
    corrected: ClaimCorrection | SummaryCorrection | None = None
    note: str | None = Field(default=None, max_length=5000)
    reviewer: str | None = Field(default=None, max_length=200, json_schema_extra=_ONE_LINE)

    @model_validator(mode="after")
    def _one_target(self) -> FeedbackIn:
        if (self.claim is None) == (self.field is None):
            raise ValueError("give exactly one of 'claim' (an index) and 'field'")
        wrong = (
            "a correction of a claim takes claim fields (holder, stance, target, ...)"
            if self.claim is not None
            else f"a correction of '{self.field}' takes only '{self.field}'"
        )
        if self.corrected is None:
            return self
        given = self.corrected.model_dump(exclude_unset=True)
        if self.claim is not None and not isinstance(self.corrected, ClaimCorrection):
            raise ValueError(wrong)
        if self.field is not None and (
            not isinstance(self.corrected, SummaryCorrection) or set(given) - {self.field}
        ):
            raise ValueError(wrong)
        return self


class FeedbackOut(BaseModel):
    id: int
    summary_id: str
    claim: int | None
    field: SummaryField | None
    verdict: Verdict
    corrected: dict[str, JsonValue] | None
    note: str | None
    reviewer: str | None
    created_at: datetime


class FeedbackList(BaseModel):
    items: list[FeedbackOut]
