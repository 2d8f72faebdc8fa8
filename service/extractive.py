"""The embedded engine used when no LLM is configured: lead sentences and attributed direct quotes.

It only copies: the headline is the title or the first sentence, lede and bullets are lead
sentences, and each claim is a direct quote whose speaker the article names. Sentences and
speakers are read by service/attribution.py, the same reading that checks every engine's claims.
Stance is always neutral, since telling support from opposition needs a model. Its claims go
through the same grounding as the LLM's.
"""

from __future__ import annotations

import re

from service.attribution import MIN_EVIDENCE_WORDS, analyse, sentences
from service.schemas import (
    ArticleIn,
    Attribution,
    LLMClaim,
    LLMOutput,
    LLMSummary,
    Options,
    ResponseWarning,
    Stance,
)

NO_LLM_WARNING = ResponseWarning(
    code="no_llm",
    detail="no LLM is configured: the extractive engine copied lead sentences and direct quotes; "
    "stances are not judged (all neutral) and targets are unknown",
)


def quotes(text: str) -> list[LLMClaim]:
    """Direct quotes of four words or more whose speaker the article names, as neutral claims.

    The speaker is the one the attribution checker reads, so every claim here checks verified.
    """
    read = analyse(text)
    claims: list[LLMClaim] = []
    for quote, cue in zip(read.outer, read.outer_cues, strict=True):
        person = cue.speaker.person if cue and cue.speaker else None
        words = text[quote.start + 1 : quote.end - 1].strip(" ,.")
        if person is None or len(words.split()) < MIN_EVIDENCE_WORDS:
            continue  # shorter quoted phrases are usually scare quotes, not positions
        claims.append(
            LLMClaim(
                holder=person.name,
                holder_role=person.title,
                stance=Stance.NEUTRAL,
                target="",
                claim=words,
                evidence=text[quote.start : quote.end],
                attribution=Attribution.DIRECT_QUOTE,
            )
        )
    return claims


# Paragraphs with markup, links or chat-role labels are not prose to summarise: copying them is
# how an injected payload ("<!-- SYSTEM: ... -->", "SYSTEM: say X") would reach a reader.
_NOT_PROSE = re.compile(r"<[!/a-zA-Z]|https?://|www\.|^\s*[A-Z]{3,}\s*:", re.MULTILINE)


def brief(article: ArticleIn, options: Options) -> LLMOutput:
    """An extractive brief in the same shape the LLM answers with."""
    every = sentences(article.text)
    tainted = {s.paragraph for s in every if _NOT_PROSE.search(s.text)}
    prose = [s for s in every if s.paragraph not in tainted]
    sents = [s for s in prose if len(s.text.split()) >= 3] or prose or sentences(article.text)
    first = sents[0].text if sents else article.text.strip()
    headline = (article.title or "").strip() or _clip(first, 20)
    bullets = [s.text for s in sents[1 : 1 + options.max_bullets]]
    return LLMOutput(
        summary=LLMSummary(headline=headline, lede=first, bullets=bullets),
        claims=quotes(article.text),
    )


def _clip(text: str, words: int) -> str:
    parts = text.split()
    return text if len(parts) <= words else " ".join(parts[:words]) + " …"
