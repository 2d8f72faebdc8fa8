"""Evidence grounding: find a quoted passage verbatim in the article, and check summary numbers.

The one normalisation, applied alike to article and quote before comparing:
  1. quotation marks ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ « » ‹ › and straight quotes all become `"`;
  2. dashes (hyphen, en/em dash, minus, …) all become `-`;
  3. everything else is Unicode NFKC, per base character with its combining marks;
  4. every run of whitespace becomes one space.
Each normalised character remembers the span of original code points it came from, so a match maps
back to [start, end) in the original text, and text[start:end] is the evidence we return.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

QUOTES = frozenset("\"'‘’‚‛“”„‟′″‴«»‹›`´")
DASHES = frozenset("-‐‑‒–—―−﹘﹣－")
MIN_EVIDENCE_CHARS = 8  # shorter "evidence" (a word or two) would ground almost anything


@dataclass(frozen=True)
class Normalised:
    """Normalised text, with each character's original [start, end) code-point span."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def _clusters(text: str) -> list[tuple[int, int]]:
    """Spans of a base character plus the combining marks that follow it."""
    spans: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if spans and unicodedata.combining(ch):
            spans[-1] = (spans[-1][0], i + 1)
        else:
            spans.append((i, i + 1))
    return spans


def _fold(cluster: str) -> str:
    if cluster in QUOTES:
        return '"'
    if cluster in DASHES:
        return "-"
    return unicodedata.normalize("NFKC", cluster)


@lru_cache(maxsize=8)  # one request normalises its article once for all its claims
def normalise(text: str) -> Normalised:
    """Normalise text for comparison, keeping the map back to original offsets."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for start, end in _clusters(text):
        for ch in _fold(text[start:end]):
            if ch.isspace():
                if out and out[-1] == " ":
                    ends[-1] = end
                    continue
                ch = " "
            out.append(ch)
            starts.append(start)
            ends.append(end)
    return Normalised("".join(out), tuple(starts), tuple(ends))


def locate(quote: str, article: str) -> Span | None:
    """Where `quote` stands verbatim (after normalisation) in `article`, or None.

    An exact occurrence wins over a normalised one, and an earlier over a later. The returned
    span never starts or ends inside whitespace.
    """
    exact = quote.strip()
    if len(exact) >= MIN_EVIDENCE_CHARS and (at := article.find(exact)) >= 0:
        return Span(at, at + len(exact), exact)
    needle = normalise(quote).text.strip()
    if len(needle) < MIN_EVIDENCE_CHARS:
        return None
    hay = normalise(article)
    at = hay.text.find(needle)
    if at < 0:
        return None
    start, end = hay.starts[at], hay.ends[at + len(needle) - 1]
    return Span(start, end, article[start:end])


def sha256_text(text: str) -> str:
    """Hex sha256 of text as UTF-8; lone surrogates (valid in JSON strings) are kept, not fatal."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def numbers_in(text: str) -> set[str]:
    """Digit groups in text: "1,200" and "1200" alike, and a decimal comma read as a point."""
    found = set()
    for match in _NUMBER.finditer(unicodedata.normalize("NFKC", text)):
        token = match.group()
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", token):
            token = token.replace(",", "")
        elif re.fullmatch(r"\d+,\d+", token):  # a decimal comma: "3,2 Millionen" is 3.2
            token = token.replace(",", ".")
        found.add(token)
    return found


def unsupported_numbers(summary_texts: list[str], article: str) -> list[str]:
    """Numbers that the summary states and the article never does, in order of appearance."""
    known = numbers_in(article)
    seen: list[str] = []
    for text in summary_texts:
        for number in sorted(numbers_in(text) - known, key=text.find):
            if number not in seen:
                seen.append(number)
    return seen
