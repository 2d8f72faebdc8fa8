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
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from functools import lru_cache
from itertools import accumulate
from typing import NamedTuple

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


# Printable ASCII that normalisation leaves as it is (all but the quotes " ' ` and the hyphen,
# which fold), in runs with single spaces between: most of an article, copied whole.
_PLAIN = re.compile(r"[!#-&(-,.-_a-~]+(?: [!#-&(-,.-_a-~]+)*")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=8)  # one request normalises its article once for all its claims
def normalise(text: str) -> Normalised:
    """Normalise text for comparison, keeping the map back to original offsets."""
    if any(unicodedata.combining(ch) for ch in _NON_ASCII.findall(text)):
        return _normalise_clusters(text)
    # No combining marks, so every character is a cluster of its own: runs of plain ASCII go
    # through whole and only the characters between them one by one, as below (~0.6 -> ~0.1 ms
    # on a 1,300-character English article).
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    at = 0
    for run in _PLAIN.finditer(text):
        start, end = run.span()
        for i in range(at, start):
            _emit(_fold(text[i]), i, i + 1, out, starts, ends)
        out.append(run.group())
        starts.extend(range(start, end))
        ends.extend(range(start + 1, end + 1))
        at = end
    for i in range(at, len(text)):
        _emit(_fold(text[i]), i, i + 1, out, starts, ends)
    return Normalised("".join(out), tuple(starts), tuple(ends))


def _normalise_clusters(text: str) -> Normalised:
    """normalise, one cluster (a character and its combining marks) at a time."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for start, end in _clusters(text):
        _emit(_fold(text[start:end]), start, end, out, starts, ends)
    return Normalised("".join(out), tuple(starts), tuple(ends))


def _emit(
    folded: str, start: int, end: int, out: list[str], starts: list[int], ends: list[int]
) -> None:
    """Append a cluster's folded characters, each mapped to [start, end); a run of whitespace
    becomes one space that spans it all. (`out` may hold whole runs of plain text, never " ".)"""
    for ch in folded:
        if ch.isspace():
            if out and out[-1] == " ":
                ends[-1] = end
                continue
            ch = " "
        out.append(ch)
        starts.append(start)
        ends.append(end)


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


# --- numbers ---------------------------------------------------------------------------------
# A figure is compared by value: "1,200", "1200", "1.200" (es/de) and "twelve hundred" are one
# number, "2,5 Millionen" is 2.5 million, "48k" is 48 thousand. Separators are ambiguous across
# locales ("2,500" is 2500 in English, 2.5 in German), so a token stands for every value it can
# mean; a summary figure is supported when any of its readings is one of the article's. A scaled
# summary figure may also round the article's ("7 million" for 7,042,000). Every step is one pass
# over the text: the hostile-input suite feeds it 100 KB runs of digits and punctuation.

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_MAX_DIGITS = 30  # a longer run is an identifier, compared as text, never as a value
_EXACT = Context(prec=100)  # 30 digits times two scale words and a suffix stay exact

_UNITS = {
    # en
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
    # de
    "null": 0, "ein": 1, "eine": 1, "eins": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5,
    "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12,
    "zwanzig": 20, "dreißig": 30, "vierzig": 40, "fünfzig": 50, "sechzig": 60, "siebzig": 70,
    "achtzig": 80, "neunzig": 90,
    # es
    "cero": 0, "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12,
    "veinte": 20, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60,
    "setenta": 70, "ochenta": 80, "noventa": 90,
}  # fmt: skip
_SCALES = {
    "hundred": 10**2, "hundert": 10**2, "cien": 10**2, "ciento": 10**2, "cientos": 10**2,
    "thousand": 10**3, "tausend": 10**3, "mil": 10**3,
    "million": 10**6, "millions": 10**6, "millionen": 10**6, "mio": 10**6, "millón": 10**6,
    "millones": 10**6, "mn": 10**6,
    "billion": 10**9, "billions": 10**9, "milliarde": 10**9, "milliarden": 10**9,
    "mrd": 10**9, "millardo": 10**9, "millardos": 10**9, "bn": 10**9,
    "trillion": 10**12, "billionen": 10**12, "tn": 10**12,
}  # fmt: skip
# Written straight after the digits ("48k", "2.5bn"); "m" might be metres, so it may also not scale.
_SUFFIXES = {"k": (10**3,), "bn": (10**9,), "mn": (10**6,), "m": (10**6, 1), "b": (10**9,)}


@lru_cache(maxsize=4096)  # articles repeat their figures (years, small counts)
def _readings(token: str) -> tuple[frozenset[Decimal | str], int]:
    """Every value a digit token can mean across locales, and its decimals at most. A run too
    long to be a figure stands for itself, as text."""
    if len(token) > _MAX_DIGITS:
        return frozenset({token}), 0
    marks = [ch for ch in token if ch in ".,"]
    if not marks:
        return frozenset({Decimal(token)}), 0
    groups = re.split(r"[.,]", token)
    grouped = 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
    out: set[Decimal | str] = set()
    if len(set(marks)) == 1:
        if grouped:
            out.add(Decimal("".join(groups)))  # 1,200 / 1.200 / 1,234,567
        if len(marks) == 1:
            out.add(Decimal(".".join(groups)))  # 2.5 / 2,5
    elif marks[-1] not in marks[:-1]:  # 1,234.5 / 1.234,5: the last mark is the decimal one
        whole, _, frac = token.rpartition(marks[-1])
        if 1 <= len(whole.split(marks[0])[0]) <= 3 and all(
            len(g) == 3 for g in whole.split(marks[0])[1:]
        ):
            out.add(Decimal(whole.replace(marks[0], "") + "." + frac))
    if not out:  # "1.2.3", "3.4.2024": separate numbers
        out = {Decimal(g) for g in groups}
    return frozenset(out), max(len(g) for g in groups[1:])


class _Figure(NamedTuple):  # a tuple: hostile text has tens of thousands of these
    """A number as written: its surface text, its possible values, and for a scaled figure the
    scale and decimals it was rounded to ("2.5 million": 10**6 and 1)."""

    text: str
    values: frozenset[Decimal | str]
    scale: int = 1
    decimals: int = 0


_SPLIT = re.compile(f"({_TOKEN.pattern})")  # text → gap, token, gap, token, …, gap
_NUMBER_WORDS = frozenset(_UNITS) | frozenset(_SCALES)
_DIGIT = re.compile(r"\d")  # Unicode Nd, as str.isdecimal() and _TOKEN's \d


def by_first_letter(words: list[str]) -> str:
    """An alternation of words as one branch per first letter, each opening with that letter:
    re skips fast to a position where one can start, and tries there only that letter's words."""
    rests: dict[str, list[str]] = {}
    for word in words:
        rests.setdefault(word[0], []).append(re.escape(word[1:]))
    return "|".join(
        f"{first}(?:{'|'.join(sorted(rest, key=len, reverse=True))})"
        for first, rest in rests.items()
    )


# Found anywhere, as a part of a word too: a superset is safe. "mil" stands for "million" and
# the other words it opens, which makes the alternation short (one pass over a line is ~2.5 x
# faster than over every scale word in turn).
_SCALE_WORD = re.compile(
    by_first_letter([w for w in _SCALES if not any(w.startswith(v) and w != v for v in _SCALES)])
)


def _scales(text: str) -> bool:
    """Whether text (NFKC) may hold a scale word; when not, only a digit can open a figure that
    a summary states ("drei Millionen" needs its scale word)."""
    return _SCALE_WORD.search(text.casefold()) is not None


class _Tokens(NamedTuple):
    """Tokens of a text in order, with their case-folded forms and [start, end) offsets."""

    tokens: list[str]
    lowered: list[str]
    starts: list[int]
    ends: list[int]


def _all_tokens(text: str) -> _Tokens:
    """Every token. The tokens, their case-folded forms and offsets come from whole-text passes
    in C, not a Python step per word."""
    parts = _SPLIT.split(text)
    tokens = parts[1::2]
    lowered = "\0".join(tokens).casefold().split("\0")  # no token holds a NUL: it is not \w
    bounds = [0, *accumulate(map(len, parts))]
    return _Tokens(tokens, lowered, bounds[1::2], bounds[2::2])  # token k: text[starts[k]:ends[k]]


_DIGIT_TOKEN = re.compile(_TOKEN.pattern.split("|")[0])  # the digit half of _TOKEN
_READ_AHEAD = 3  # a digit figure reads at most a suffix and two scale words after its digits


def _digit_tokens(text: str) -> _Tokens:
    """Only the tokens a figure that starts with a digit can read: each run of digit tokens
    with the _READ_AHEAD tokens after its last. The words between are left out (no figure reads
    that far), and articles are mostly such words: tokenising them all cost ~0.15 ms more on a
    1,300-character article. Each search starts where a token ends, so it finds the token
    _all_tokens finds there."""
    tokens, lowered, starts, ends = out = _Tokens([], [], [], [])
    at = 0
    while (first := _DIGIT_TOKEN.search(text, at)) is not None:
        left = _READ_AHEAD
        for token in _TOKEN.finditer(text, first.start()):  # each where the one before ends
            word = token.group()
            tokens.append(word)
            lowered.append(word.casefold())
            at = token.end()
            starts.append(token.start())
            ends.append(at)
            left = _READ_AHEAD if word[0].isdecimal() else left - 1
            if not left:
                break
        else:
            break  # the text's last token read
    return out


def _figures(text: str, *, words: bool, digits_only: bool = False) -> list[_Figure]:
    """The figures in text, in order. With words, number words count ("seven million"); a
    summary's bare words do not ("one of the"), only those with a scale ("drei Millionen").
    digits_only: just the figures that start with a digit, the same as the full reading finds
    (a figure never reads a digit token after its first, so no other figure takes them)."""
    text = unicodedata.normalize("NFKC", text)
    if not words and not _scales(text):
        if _DIGIT.search(text) is None:
            return []  # tokenising every word costs more than these two scans (~30 us a line)
        digits_only = True  # the tokens digit figures read, not every word
    return _read_figures(text, words=words, digits_only=digits_only)


def _read_figures(text: str, *, words: bool, digits_only: bool) -> list[_Figure]:
    """_figures of NFKC text, with no look first at whether it can hold any."""
    tokens, lowered, starts, ends = _digit_tokens(text) if digits_only else _all_tokens(text)
    n = len(tokens)
    out: list[_Figure] = []
    i = 0  # the first token no figure has read yet
    # Python visits only the tokens a figure can start at (digits and number words), and the
    # few after each, instead of every word.
    for k in [
        k for k, lower in enumerate(lowered) if lower in _NUMBER_WORDS or lower[:1].isdecimal()
    ]:
        if k < i:
            continue
        start, end, token, lower = starts[k], ends[k], tokens[k], lowered[k]
        i = k + 1
        scales: tuple[int, ...] = (1,)
        if token[0].isdecimal():  # what \d matched; "፩" is a digit to isdigit() but no number
            readings, decimals = _readings(token)
            if i < n and starts[i] == end and lowered[i] in _SUFFIXES:
                scales = _SUFFIXES[lowered[i]]  # "48k", "2.5bn"
                end, i = ends[i], i + 1
        elif digits_only:
            continue
        elif lower in _UNITS:
            value, decimals, j = _UNITS[lower], 0, i
            if j < n and value >= 20 and value % 10 == 0:
                unit = _UNITS.get(lowered[j], 0)
                if 0 < unit < 10:  # "twenty-one", "twenty one"
                    value, j = value + unit, j + 1
            if not words and (j == n or lowered[j] not in _SCALES):
                continue
            readings, end, i = frozenset({Decimal(value)}), ends[j - 1], j
        elif words and lower in _SCALES:  # "a million", "cien", "mil personas": one of the scale
            readings, decimals, i = frozenset({Decimal(1)}), 0, i - 1
        else:
            continue
        scale = 1
        for _ in range(2):  # "mil millones", "thousand million"; a longer chain is not a figure
            if i == n or lowered[i] not in _SCALES:
                break
            scale *= _SCALES[lowered[i]]
            end, i = ends[i], i + 1
        if scale == 1 and scales == (1,):
            out.append(_Figure(text[start:end], readings))
            continue
        values = frozenset(
            r * s * scale if isinstance(r, Decimal) else r for r in readings for s in scales
        )
        scale *= scales[0]  # "3m" rounds like 3 million (its other reading, 3, is exact)
        out.append(_Figure(text[start:end], values, scale, decimals))
    return out


def numbers_in(text: str) -> set[str]:
    """The values of the figures in text, as plain decimal strings ("1,200" and "1200": "1200")."""
    with localcontext(_EXACT):
        figures = _figures(text, words=True)
        return {v if isinstance(v, str) else _plain(v) for f in figures for v in f.values}


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def unsupported_numbers(summary_texts: list[str], article: str) -> list[str]:
    """Figures the summary states that the article never does, as written, in order."""
    with localcontext(_EXACT):
        return _unsupported(summary_texts, article)


def _unsupported(summary_texts: list[str], article: str) -> list[str]:
    # The article's values, read once a figure needs them: first only the figures written with
    # digits (the few tokens they read, not every word), which nearly always hold the summary's;
    # every figure (number words too) only for one they do not.
    digits: set[Decimal | str] | None = None
    known: set[Decimal | str] | None = None
    rounded: dict[tuple[int, int], set[Decimal]] = {}
    seen: dict[str, None] = {}
    for text in summary_texts:
        for figure in _figures(text, words=False):
            if digits is None:
                digits = _values(_figures(article, words=True, digits_only=True))
            if figure.values & digits:
                continue
            if known is None:
                known = _values(_figures(article, words=True))
            if figure.values & known or figure.text in seen:
                continue
            if figure.scale > 1 and figure.decimals <= 3:
                key = (figure.scale, figure.decimals)
                if key not in rounded:  # one pass over the article per scale and precision
                    quantum = Decimal(1).scaleb(-figure.decimals)
                    rounded[key] = {
                        (v / figure.scale).quantize(quantum, ROUND_HALF_UP)
                        for v in known
                        if isinstance(v, Decimal)
                    }
                if any(
                    isinstance(v, Decimal) and v / figure.scale in rounded[key]
                    for v in figure.values
                ):
                    continue
            seen[figure.text] = None
    return list(seen)


def _values(figures: list[_Figure]) -> set[Decimal | str]:
    return {v for f in figures for v in f.values}
