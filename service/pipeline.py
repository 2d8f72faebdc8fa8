"""summarize_article(): render the prompt → call (retry, reask) → validate → ground → respond.

The API, the CLI and the eval suite all run this same function.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

from pydantic import ValidationError

from service import extractive, tracing
from service.attribution import analyse
from service.cache import Cache, cache_key
from service.errors import (
    ArticleTooLongError,
    CircuitOpenError,
    DeadlineExceededError,
    InvalidOutputError,
    RefusalError,
)
from service.grounding import Span, locate_all, sha256_text, unsupported_numbers
from service.ids import new_id
from service.links import Removed, may_hold_links, strip_foreign_links
from service.llm import CallStats, LLMClient, Reply
from service.prompts import Prompt, PromptRegistry
from service.providers import ChatRequest
from service.schemas import (
    ArticleInfo,
    Attribution,
    AttributionCheck,
    Claim,
    Cue,
    Evidence,
    LLMClaim,
    LLMOutput,
    LLMSummary,
    Options,
    PromptRef,
    ResponseWarning,
    Summary,
    SummaryRequest,
    SummaryResponse,
    Usage,
    WarningCode,
)
from service.settings import Settings

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
# Possessive whitespace: the greedy form backtracked over every split of a whitespace run, and a
# model answer of "```json" and 100 KB of spaces took minutes.
_FENCE = re.compile(r"^\s*+```(?:json)?\s*+(.*?)\n?```\s*+$", re.DOTALL)


async def summarize_article(
    request: SummaryRequest,
    *,
    prompts: PromptRegistry,
    llm: LLMClient | None,
    settings: Settings,
    cache: Cache[SummaryResponse] | None = None,
) -> SummaryResponse:
    """The brief for one article; the LLM when one is configured, else the extractive engine."""
    text = request.article.text
    if len(text) > settings.max_article_chars:
        raise ArticleTooLongError(len(text), settings.max_article_chars)
    prompt = prompts.get(request.prompt_version)  # an unknown version is an error either way
    if llm is None:
        return await _off_loop(_on_loop(len(text)), _extractive_response, request)

    async def answer() -> SummaryResponse:
        # One deadline for the whole answer: the LLM client plans its retries against it, and
        # the event loop's clock is time.monotonic(), so the timeout below is the same instant.
        deadline = time.monotonic() + settings.request_deadline_s
        try:
            async with asyncio.timeout_at(deadline):
                return await _llm_brief(request, prompt, llm, settings, deadline)
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
        try:  # the deadline bounds waiting for another caller's answer too (single flight)
            async with asyncio.timeout(settings.request_deadline_s):
                response, hit = await cache.get_or_compute(
                    key, answer, keep=lambda r: r.engine == "llm"
                )
        except TimeoutError:
            raise DeadlineExceededError(settings.request_deadline_s) from None
        if not hit:
            return response
        return response.model_copy(update={"id": new_id(), "cached": True, "usage": Usage()})
    except CircuitOpenError as exc:
        if settings.breaker_fallback != "extractive":
            raise
        degraded = ResponseWarning(
            code="llm_unavailable_degraded",
            detail=f"the LLM is failing ({exc}); the extractive engine answered instead",
        )
        on_loop = _on_loop(len(text))
        return await _off_loop(on_loop, _extractive_response, request, degraded)


async def _llm_brief(
    request: SummaryRequest, prompt: Prompt, llm: LLMClient, settings: Settings, deadline: float
) -> SummaryResponse:
    article = request.article.text
    messages = prompt.render(request.article, request.options, llm.schema_text)
    stats = CallStats()
    reasks = 0
    claims_reasked = False
    accepted: Reviewed | None = None  # the latest valid answer, kept so no reask loses it
    accepted_text: str | None = None
    while True:
        question = ChatRequest(
            messages,
            prompt.spec.temperature,
            prompt.spec.max_output_tokens,
            deadline,
            prompt=prompt.ref,
            reask=reasks,
        )
        reply = await llm.complete(question, stats)
        on_loop = _on_loop(len(article) + len(reply.content or ""))
        reviewed, problems = await _off_loop(on_loop, review, reply, stats.calls, article)
        if reviewed is not None:
            accepted, accepted_text = reviewed, reply.content
            if not problems or claims_reasked:
                break
            claims_reasked = True  # one reask for evidence and speakers; then drop what stays wrong
        if reasks >= settings.llm_max_reasks:
            if accepted is not None:
                break
            raise InvalidOutputError(
                "the LLM's answer failed validation after every reask",
                attempts=stats.calls,
                errors=problems,
                last_output=reply.content,
            )
        reasks += 1
        log.debug("reask", extra={"reask": reasks, "problems": len(problems)})
        messages = [
            *messages,
            {"role": "assistant", "content": _echo(reply.content)},
            {"role": "user", "content": prompt.render_reask(problems)},
        ]
    usage = Usage(
        llm_calls=stats.calls,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        total_tokens=stats.prompt_tokens + stats.completion_tokens,
        reasks=reasks,
        retries=stats.retries,
    )
    response = await _off_loop(
        _on_loop(len(article) + len(accepted_text or "")),
        _respond,
        request,
        accepted,
        engine="llm",
        prompt=prompt,
        model=llm.model,
        usage=usage,
    )
    response._upstream_text = accepted_text  # what the model said, for the store's audit trail
    return response


# CPU-bound steps over the whole article (the extractive engine, grounding, attribution, link and
# number checks) run in a worker thread when their input is long, so a long article never stalls
# the event loop and its other requests. A short one runs on the loop, holding it for about a
# millisecond: a thread would not run it beside the loop anyway (the GIL), and the hops there and
# back cost CPU and wake-ups of their own. Measured side by side (make bench-store, 20 in flight,
# 500 ms ± 40 % upstream), going to a thread while other calls were in flight cost 5.5 against
# 4.3 ms of CPU a request and a millisecond or two at p50; with every upstream answer arriving at
# once (fixed 500 ms) p50 stays within 1.02 × the bare client's either way. A thread cannot be
# cancelled, so these steps are also linear-time: an abandoned one ends soon.
INLINE_MAX_CHARS = 8_000  # article and answer together


def _on_loop(size: int) -> bool:
    return size <= INLINE_MAX_CHARS


async def _off_loop(on_loop: bool, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """step(*args, **kwargs), on the loop or in a worker thread."""
    if on_loop:
        return step(*args, **kwargs)
    return await asyncio.to_thread(step, *args, **kwargs)


def _extractive_response(
    request: SummaryRequest, notice: ResponseWarning | None = None
) -> SummaryResponse:
    output = extractive.brief(request.article, request.options)
    return _respond(request, hold(output, request.article.text), engine="extractive", notice=notice)


@dataclass(frozen=True)
class Reviewed:
    """An answer fit to use: each claim held against the article once, in order, and the links
    taken out of the model's free text on the way (an LLM answer only)."""

    output: LLMOutput
    grounded: list[Grounded]
    removed: list[Removed]

    @property
    def problems(self) -> list[str]:
        """Why claims would be dropped, worded for a reask."""
        return [g.problem for g in self.grounded if g.problem]


def hold(output: LLMOutput, article: str, removed: list[Removed] | None = None) -> Reviewed:
    """The output with every claim grounded in the article."""
    return Reviewed(output, [ground(c, article) for c in output.claims], removed or [])


def review(reply: Reply, attempts: int, article: str) -> tuple[Reviewed | None, list[str]]:
    """An answer and every problem to send back in a reask.

    No answer: it is unusable as it stands (refused, cut off, not the schema, oversized). An
    answer with problems: usable, but some claims would be dropped (evidence not in the article
    or a mere fragment, or a passage the article gives to someone else). The claims are grounded
    here, after foreign links are taken out, and the response reuses that grounding.
    """
    output, problems = parse_reply(reply, attempts)
    if output is None:
        return None, problems
    cleaned, removed = _without_foreign_links(output, article)
    reviewed = hold(cleaned, article, removed)
    return reviewed, reviewed.problems


def parse_reply(reply: Reply, attempts: int) -> tuple[LLMOutput | None, list[str]]:
    """The validated output, or the exact problems to send back in a reask."""
    if reply.refusal:
        raise RefusalError(reply.refusal, attempts=attempts)
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


# A bad answer is echoed back in a reask so the model can fix it; a huge one would only cost
# tokens and could overflow the context, so past this many characters only its size is sent.
_ECHO_MAX_CHARS = 20_000


def _echo(content: str | None) -> str:
    if content is None or len(content) <= _ECHO_MAX_CHARS:
        return content or ""
    return f"(your previous answer, {len(content)} characters long, is not repeated here)"


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


@dataclass(frozen=True)
class Grounded:
    """One claim held against the article: where its evidence is, who the article says spoke it."""

    span: Span | None
    check: AttributionCheck | None
    problem: str | None = None  # why the claim cannot be returned, worded for the model
    drop: WarningCode | None = None


_RANK = {"verified": 0, "unverified": 1, "contradicted": 2}  # the best of a passage's places


def ground(claim: LLMClaim, article: str) -> Grounded:
    """Locate a claim's evidence and check its attribution, preferring the holder's occurrence."""
    spans = locate_all(claim.evidence, article)
    if not spans:
        problem = f"this evidence is not in the article verbatim: {_shown(claim, article)}"
        return Grounded(None, None, problem, "claim_dropped_ungrounded")
    read = analyse(article)
    spans = [s for s in spans if read.meaningful(s.start, s.end)]
    if not spans:
        problem = (
            "this evidence is a fragment, not a passage that shows a position (quote at least "
            f"4 words, or a whole quotation): {_shown(claim, article)}"
        )
        return Grounded(None, None, problem, "claim_dropped_ungrounded")
    direct = claim.attribution == Attribution.DIRECT_QUOTE
    checks = [read.check(s.start, s.end, claim.holder, claim.holder_role, direct) for s in spans]
    best = min(range(len(spans)), key=lambda i: _RANK[checks[i].status]) if len(spans) > 1 else 0
    span, check = spans[best], checks[best]
    cue = None
    if check.cue:
        start, end = check.cue
        cue = Cue(text=article[start:end], start=start, end=end)
    result = AttributionCheck(status=check.status, speaker=check.speaker, cue=cue)
    if check.status == "contradicted":
        problem = (
            f"the article gives this passage to {check.speaker}, not {claim.holder}: "
            f"{_shown(claim, article)}"
        )
        return Grounded(span, result, problem, "claim_dropped_misattributed")
    return Grounded(span, result)


def _shown(claim: LLMClaim, article: str) -> str:
    """The claim's evidence as a problem or warning quotes it: cut short, without foreign links."""
    return repr(strip_foreign_links(claim.evidence[:200], article)[0])


def select_claims(
    reviewed: Reviewed, article: str, options: Options
) -> tuple[list[Claim], list[ResponseWarning]]:
    """Claims whose evidence is located and attributed to their holder; a warning for each drop."""
    claims: list[Claim] = []
    warnings: list[ResponseWarning] = []
    for c, g in zip(reviewed.output.claims, reviewed.grounded, strict=True):
        if options.require_verified_attribution and g.check and g.check.status == "unverified":
            problem = f"the article does not say who said this passage: {_shown(c, article)}"
            g = Grounded(g.span, g.check, problem, "claim_dropped_unverified")
        if g.drop or g.span is None or g.check is None:
            code = g.drop or "claim_dropped_ungrounded"
            warnings.append(ResponseWarning(code=code, detail=f"{c.holder}: {g.problem}"))
            continue
        if len(claims) == options.max_claims:
            warnings.append(
                ResponseWarning(
                    code="claim_dropped_limit",
                    detail=f"{c.holder}: over the max_claims limit of {options.max_claims}",
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
                evidence=Evidence(text=g.span.text, start=g.span.start, end=g.span.end),
                attribution=c.attribution,
                attribution_check=g.check,
            )
        )
    return claims, warnings


def _respond(
    request: SummaryRequest,
    reviewed: Reviewed,
    *,
    engine: Literal["llm", "extractive"],
    prompt: Prompt | None = None,
    model: str | None = None,
    usage: Usage | None = None,
    notice: ResponseWarning | None = None,
) -> SummaryResponse:
    article = request.article.text
    options = request.options
    output = reviewed.output
    warnings = _link_warnings(reviewed.removed)
    proposed: dict[str, tracing.Attribute] = {"newsbrief.claims.proposed": len(output.claims)}
    with tracing.span("newsbrief.ground", proposed) as span:
        claims, dropped = select_claims(reviewed, article, options)
        span.set_attribute("newsbrief.claims.returned", len(claims))
        span.set_attribute("newsbrief.claims.dropped", [w.code for w in dropped])
        span.set_attribute(
            "newsbrief.attribution.verified",
            sum(c.attribution_check.status == "verified" for c in claims),
        )
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
    if engine == "extractive":
        warnings.insert(0, notice or extractive.NO_LLM_WARNING)
    return SummaryResponse(
        id=new_id(),
        engine=engine,
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


def _without_foreign_links(output: LLMOutput, article: str) -> tuple[LLMOutput, list[Removed]]:
    """The model's free text with links and images the article lacks taken out, and what went."""
    s = output.summary
    texts = [s.headline, s.lede, *s.bullets]
    texts += [t for c in output.claims for t in (c.holder, c.holder_role or "", c.target, c.claim)]
    roles_kept = all(c.holder_role != "" for c in output.claims)  # "" would become None
    if roles_kept and not may_hold_links(texts):
        return output, []  # the usual answer: no link to take out, nothing to rebuild
    removed: list[Removed] = []

    def clean(text: str) -> str:
        kept, gone = strip_foreign_links(text, article)
        removed.extend(gone)
        return kept

    headline, lede, bullets = clean(s.headline), clean(s.lede), [clean(b) for b in s.bullets]
    updates = [
        {
            "holder": clean(c.holder),
            "holder_role": clean(c.holder_role) if c.holder_role else None,  # "" is none
            "target": clean(c.target),
            "claim": clean(c.claim),
        }
        for c in output.claims
    ]
    if not removed and roles_kept:
        return output, removed  # marks, but no link the article lacks
    summary = LLMSummary(headline=headline, lede=lede, bullets=bullets)
    claims = [c.model_copy(update=u) for c, u in zip(output.claims, updates, strict=True)]
    return LLMOutput(summary=summary, claims=claims), removed


def _link_warnings(removed: list[Removed]) -> list[ResponseWarning]:
    """A warning for each link taken out of the answer that is returned, and one log line."""
    if removed:
        links = [r.text for r in removed]
        log.warning("removed links the article does not contain", extra={"links": links})
    # The detail never repeats the link: a client rendering warnings would follow it too.
    return [
        ResponseWarning(
            code="link_removed",
            detail=f"removed {'an image' if r.kind == 'image' else 'a link'}",
        )
        for r in removed
    ]
