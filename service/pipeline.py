"""summarize_article(): render the prompt → call (retry, reask) → validate → ground → respond.

The API, the CLI and the eval suite all run this same function.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Iterable

from pydantic import ValidationError

from service import extractive
from service.cache import ResultCache, cache_key
from service.errors import (
    ArticleTooLongError,
    CircuitOpenError,
    DeadlineExceededError,
    InvalidOutputError,
    RefusalError,
)
from service.grounding import locate, sha256_text, unsupported_numbers
from service.links import Removed, strip_foreign_links
from service.llm import CallStats, LLMClient, Reply
from service.prompts import Prompt, PromptRegistry
from service.schemas import (
    ArticleInfo,
    Claim,
    Evidence,
    LLMClaim,
    LLMOutput,
    LLMSummary,
    PromptRef,
    ResponseWarning,
    Summary,
    SummaryRequest,
    SummaryResponse,
    Usage,
)
from service.settings import Settings

log = logging.getLogger(__name__)
# Possessive whitespace: the greedy form backtracked over every split of a whitespace run, and a
# model answer of "```json" and 100 KB of spaces took minutes.
_FENCE = re.compile(r"^\s*+```(?:json)?\s*+(.*?)\n?```\s*+$", re.DOTALL)


async def summarize_article(
    request: SummaryRequest,
    *,
    prompts: PromptRegistry,
    llm: LLMClient | None,
    settings: Settings,
    cache: ResultCache[SummaryResponse] | None = None,
) -> SummaryResponse:
    """The brief for one article; the LLM when one is configured, else the extractive engine."""
    text = request.article.text
    if len(text) > settings.max_article_chars:
        raise ArticleTooLongError(len(text), settings.max_article_chars)
    prompt = prompts.get(request.prompt_version)  # an unknown version is an error either way
    if llm is None:
        return await asyncio.to_thread(_extractive_response, request)

    async def answer() -> SummaryResponse:
        try:
            async with asyncio.timeout(settings.request_deadline_s):
                return await _llm_brief(request, prompt, llm, settings)
        except TimeoutError:
            raise DeadlineExceededError(settings.request_deadline_s) from None

    try:
        if cache is None:
            return await answer()
        key = cache_key(
            sha256_text(request.article.model_dump_json()),
            prompt.sha256,
            llm.model,
            request.options.model_dump_json(),
        )
        response, hit = await cache.get_or_compute(key, answer, keep=lambda r: r.engine == "llm")
        if not hit:
            return response
        return response.model_copy(
            update={"id": uuid.uuid4().hex, "cached": True, "usage": Usage()}
        )
    except CircuitOpenError as exc:
        if settings.breaker_fallback != "extractive":
            raise
        degraded = ResponseWarning(
            code="llm_unavailable_degraded",
            detail=f"the LLM is failing ({exc}); the extractive engine answered instead",
        )
        return await asyncio.to_thread(_extractive_response, request, degraded)


async def _llm_brief(
    request: SummaryRequest, prompt: Prompt, llm: LLMClient, settings: Settings
) -> SummaryResponse:
    deadline = time.monotonic() + settings.request_deadline_s
    article = request.article.text
    messages = llm.schema_hint() + prompt.render(request.article, request.options, llm.schema)
    stats = CallStats()
    reasks = 0
    grounding_reasked = False
    accepted: LLMOutput | None = None  # the latest valid answer, kept so no reask loses it
    while True:
        reply = await llm.complete(
            messages,
            temperature=prompt.spec.temperature,
            max_tokens=prompt.spec.max_output_tokens,
            deadline=deadline,
            stats=stats,
        )
        output, errors = parse_reply(reply, stats.calls)
        if output is not None:
            accepted = output
            unlocated = await asyncio.to_thread(_unlocated, output, article)
            if not unlocated or grounding_reasked:
                break
            grounding_reasked = True  # one reask for evidence; after that, drop what is not found
            errors = [f"this evidence is not in the article verbatim: {q!r}" for q in unlocated]
        if reasks >= settings.llm_max_reasks:
            if accepted is not None:
                break
            raise InvalidOutputError(
                "the LLM's answer failed validation after every reask",
                attempts=stats.calls,
                errors=errors,
                last_output=reply.content,
            )
        reasks += 1
        log.debug("reask", extra={"reask": reasks, "problems": len(errors)})
        messages = [
            *messages,
            {"role": "assistant", "content": reply.content or ""},
            {"role": "user", "content": prompt.render_reask(errors)},
        ]
    usage = Usage(
        llm_calls=stats.calls,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        total_tokens=stats.prompt_tokens + stats.completion_tokens,
        reasks=reasks,
        retries=stats.retries,
    )
    return await asyncio.to_thread(_respond, request, accepted, prompt, llm.model, usage)


# CPU-bound steps over the whole article (the extractive engine, grounding, link and number checks)
# run in a worker thread, so a long article never stalls the event loop and its other requests. A
# thread cannot be cancelled, so these steps are also linear-time: an abandoned one ends soon.


def _extractive_response(
    request: SummaryRequest, notice: ResponseWarning | None = None
) -> SummaryResponse:
    output = extractive.brief(request.article, request.options)
    return _respond(request, output, None, None, notice=notice)


def _unlocated(output: LLMOutput, article: str) -> list[str]:
    return [c.evidence for c in output.claims if locate(c.evidence, article) is None]


def parse_reply(reply: Reply, attempts: int) -> tuple[LLMOutput | None, list[str]]:
    """The validated output, or the exact problems to send back in a reask."""
    if reply.refusal:
        raise RefusalError(reply.refusal, attempts=attempts)
    if reply.finish_reason == "content_filter":
        raise RefusalError("the provider's content filter stopped the answer", attempts=attempts)
    if reply.finish_reason == "length":
        return None, ["the answer was cut off at the token limit; answer more briefly"]
    if reply.finish_reason == "empty_choices" or not (reply.content or "").strip():
        return None, ["the answer was empty"]
    content = reply.content or ""
    if fenced := _FENCE.match(content):  # some json_object servers still wrap JSON in a fence
        content = fenced.group(1)
    try:
        output = LLMOutput.model_validate_json(content)
    except ValidationError as exc:
        return None, [
            f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
    oversized = _oversized(output)
    return (None, oversized) if oversized else (output, [])


# Generous bounds: a brief never needs more, and a model flooding a field is obeying something.
_MAX_CHARS = {"headline": 300, "lede": 1500, "bullet": 600, "claim field": 600, "evidence": 3000}


def _oversized(output: LLMOutput) -> list[str]:
    s = output.summary
    fields = [("summary.headline", s.headline, "headline"), ("summary.lede", s.lede, "lede")]
    fields += [(f"summary.bullets.{i}", b, "bullet") for i, b in enumerate(s.bullets)]
    for i, c in enumerate(output.claims):
        fields += [(f"claims.{i}.evidence", c.evidence, "evidence")]
        fields += [
            (f"claims.{i}.{name}", value or "", "claim field")
            for name, value in (("holder", c.holder), ("target", c.target), ("claim", c.claim))
        ]
    problems = [
        f"{where}: {len(value)} characters; at most {_MAX_CHARS[kind]}"
        for where, value, kind in fields
        if len(value) > _MAX_CHARS[kind]
    ]
    if len(s.bullets) > 20 or len(output.claims) > 100:
        problems.append("too many bullets or claims for one article")
    return problems


def ground_claims(
    candidates: Iterable[LLMClaim], article: str, max_claims: int
) -> tuple[list[Claim], list[ResponseWarning]]:
    """Claims whose evidence is located verbatim, with offsets; a warning for each one dropped."""
    claims: list[Claim] = []
    warnings: list[ResponseWarning] = []
    for c in candidates:
        span = locate(c.evidence, article)
        if span is None:
            warnings.append(
                ResponseWarning(
                    code="claim_dropped_ungrounded",
                    detail=f"{c.holder}: evidence not found verbatim in the article: "
                    f"{strip_foreign_links(c.evidence[:200], article)[0]!r}",
                )
            )
            continue
        if len(claims) == max_claims:
            warnings.append(
                ResponseWarning(
                    code="claim_dropped_limit",
                    detail=f"{c.holder}: over the max_claims limit of {max_claims}",
                )
            )
            continue
        claims.append(
            Claim(
                holder=c.holder,
                holder_role=c.holder_role,
                stance=c.stance,
                target=c.target or None,
                claim=c.claim,
                evidence=Evidence(text=span.text, start=span.start, end=span.end),
                attribution=c.attribution,
            )
        )
    return claims, warnings


def _respond(
    request: SummaryRequest,
    output: LLMOutput,
    prompt: Prompt | None,
    model: str | None,
    usage: Usage | None = None,
    notice: ResponseWarning | None = None,
) -> SummaryResponse:
    article = request.article.text
    options = request.options
    # The extractive engine only copies the article: every link it returns is the article's own.
    output, warnings = _without_foreign_links(output, article) if prompt else (output, [])
    claims, dropped = ground_claims(output.claims, article, options.max_claims)
    warnings += dropped
    bullets = output.summary.bullets
    if len(bullets) > options.max_bullets:
        warnings.append(
            ResponseWarning(
                code="bullets_truncated",
                detail=f"{len(bullets)} bullets cut to max_bullets={options.max_bullets}",
            )
        )
        bullets = bullets[: options.max_bullets]
    summary = Summary(headline=output.summary.headline, lede=output.summary.lede, bullets=bullets)
    stated = [summary.headline, summary.lede, *summary.bullets, *(c.claim for c in claims)]
    source = f"{request.article.title or ''}\n{article}"  # a figure from the title is supported
    warnings += [
        ResponseWarning(code="unsupported_number", detail=f"{n!r} does not occur in the article")
        for n in unsupported_numbers(stated, source)
    ]
    if prompt is None:
        warnings.insert(0, notice or extractive.NO_LLM_WARNING)
    return SummaryResponse(
        id=uuid.uuid4().hex,
        engine="extractive" if prompt is None else "llm",
        model=model,
        prompt=PromptRef(name=prompt.spec.name, version=prompt.spec.version, sha256=prompt.sha256)
        if prompt
        else None,
        article=ArticleInfo(sha256=sha256_text(article), chars=len(article)),
        summary=summary,
        claims=claims,
        warnings=warnings,
        usage=usage or Usage(),
    )


def _without_foreign_links(
    output: LLMOutput, article: str
) -> tuple[LLMOutput, list[ResponseWarning]]:
    """The model's free text with links and images the article lacks taken out, and why."""
    removed: list[Removed] = []

    def clean(text: str) -> str:
        kept, gone = strip_foreign_links(text, article)
        removed.extend(gone)
        return kept

    s = output.summary
    summary = LLMSummary(
        headline=clean(s.headline), lede=clean(s.lede), bullets=[clean(b) for b in s.bullets]
    )
    claims = [
        c.model_copy(
            update={
                "holder": clean(c.holder),
                "holder_role": clean(c.holder_role) if c.holder_role else None,
                "target": clean(c.target),
                "claim": clean(c.claim),
            }
        )
        for c in output.claims
    ]
    # The detail never repeats the link: a client rendering warnings would follow it too.
    warnings = [
        ResponseWarning(
            code="link_removed",
            detail=f"removed {'an image' if r.kind == 'image' else 'a link'}",
        )
        for r in removed
    ]
    if removed:
        links = [r.text for r in removed]
        log.warning("removed links the article does not contain", extra={"links": links})
    return LLMOutput(summary=summary, claims=claims), warnings
