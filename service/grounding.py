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
    """Where `quote` first stands verbatim (after normalisation) in `article`, or None."""
    return next(iter(locate_all(quote, article)), None)


MAX_OCCURRENCES = 20  # a passage repeated more often than this is not evidence of anything


def locate_all(quote: str, article: str) -> list[Span]:
    """Every place, up to MAX_OCCURRENCES, where `quote` stands verbatim in `article`.

    Exact occurrences win over normalised ones; within each kind, earlier first. No returned span
    starts or ends inside whitespace.
    """
    exact = quote.strip()
    if len(exact) >= MIN_EVIDENCE_CHARS:
        spans = [Span(at, at + len(exact), exact) for at in _finds(article, exact)]
        if spans:
            return spans
    needle = normalise(quote).text.strip()
    if len(needle) < MIN_EVIDENCE_CHARS:
        return []
    hay = normalise(article)
    found = []
    for at in _finds(hay.text, needle):
        start, end = hay.starts[at], hay.ends[at + len(needle) - 1]
        found.append(Span(start, end, article[start:end]))
    return found


def _finds(hay: str, needle: str) -> list[int]:
    """Start offsets of non-overlapping occurrences, at most MAX_OCCURRENCES."""
    found: list[int] = []
    at = hay.find(needle)
    while at >= 0 and len(found) < MAX_OCCURRENCES:
        found.append(at)
        at = hay.find(needle, at + len(needle))
    return found


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


_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)


def strip_foreign_links(text: str, article: str) -> tuple[str, list[str]]:
    """Text without markdown images, and without links the article does not itself contain.

    A model that obeys an injected instruction tends to smuggle out a link or an image (which a
    client rendering markdown would fetch); neither is ever part of a faithful brief.
    """
    removed: list[str] = []

    def drop_image(m: re.Match[str]) -> str:
        removed.append(m.group())
        return ""

    def unlink(m: re.Match[str]) -> str:
        if m.group(2) in article:
            return m.group()
        removed.append(m.group(2))
        return m.group(1)

    def drop_url(m: re.Match[str]) -> str:
        if m.group() in article:
            return m.group()
        removed.append(m.group())
        return "[link removed]"

    clean = _URL.sub(drop_url, _MD_LINK.sub(unlink, _IMAGE.sub(drop_image, text)))
    return (" ".join(clean.split()) if removed else text), removed
