"""Pathological article texts: each a recipe for at most 100,000 characters (the default limit).

Every entry targets a way text processing goes superlinear: punctuation, bracket and abbreviation
runs (backtracking, re-scanned slices), one character repeated (a regex tried at every position),
mixed scripts and combining-mark storms (normalisation), and thousands of quotes, names, numbers
and links (per-item work that rescans the article). The texts are made up, not published writing.
"""

from __future__ import annotations

import itertools

LIMIT = 100_000


def _fill(unit: str, lead: str = "", tail: str = "") -> str:
    """lead + unit repeated + tail, cut to LIMIT characters."""
    room = LIMIT - len(lead) - len(tail)
    return lead + (unit * (room // len(unit) + 1))[:room] + tail


def _speakers() -> str:
    # Thousands of distinct speakers who share a handful of surnames: name lookups per quote.
    given = ("".join(p) for p in itertools.product("BCDFGHKLMNPRST", "aeiou", "lnrst"))
    surnames = itertools.cycle(("Marsh", "Okafor", "Reyes", "Lindqvist"))
    lines = (
        f"“The levy will cost every family more than it saves,” said {g} {s}. "
        for g, s in zip(given, surnames, strict=False)
    )
    return "".join(itertools.islice(lines, 1400))[:LIMIT]


MIXED_SCRIPTS = (
    "Mayor Okafor said. Мэр сказал «да». Ο δήμαρχος είπε. قال العمدة. "
    "אמר ראש העיר. 市长说：“好的。” महापौर ने कहा। 시장이 말했다. "
    "\u202eevil\u202c 🚢👩\u200d👩\u200d👧 "
)

CORPUS: dict[str, str] = {
    # The issue's own probes.
    "word-then-99990-dots": _fill(".", lead="Word "),
    "abc-then-40000-brackets": "A b c " + "[" * 40_000,
    "mr-abbreviation-run": "Mr. " * 20_000,
    # Punctuation and terminator runs.
    "exclamation-run-then-sentence": _fill("!", lead="Yes", tail=" Then it ended."),
    "ellipsis-run": _fill("…", lead="Wait"),
    "terminator-then-capital-pairs": _fill(". A"),
    "initials-run": _fill("J. "),
    "mixed-abbreviations": _fill("Dr. e.g. U.S. St. approx. Gov. "),
    "closing-marks-run": _fill(".”)»]", lead="Done"),
    # 100,000 times one character.
    "one-char-lowercase": "a" * LIMIT,
    "one-char-capital": "A" * LIMIT,
    "one-char-dot": "." * LIMIT,
    "one-char-open-quote": "“" * LIMIT,
    "one-char-straight-quote": '"' * LIMIT,
    "one-char-open-bracket": "[" * LIMIT,
    "one-char-less-than": "<" * LIMIT,
    "one-char-nine": "9" * LIMIT,
    "one-char-cyrillic": "Ж" * LIMIT,
    "one-char-nul": "\x00" * LIMIT,
    "space-run-between-words": _fill(" ", lead="Start", tail="End."),
    "newline-run-between-words": _fill("\n", lead="Start", tail="End."),
    "blank-line-paragraphs": _fill("a\n\n"),
    "whitespace-only-lines": _fill(" \n", lead="a\n"),
    # Scripts and marks.
    "mixed-scripts": _fill(MIXED_SCRIPTS),
    "combining-mark-storm": _fill("\u0301", lead="e"),
    "combining-marks-per-letter": _fill("a\u0301\u0308\u0327 "),
    "zero-width-joiners": _fill("a\u200d\u200b"),
    "emoji-zwj-run": _fill("👩\u200d"),
    "rtl-override-sentences": _fill("\u202eSaid he. \u202c"),
    # Quotes, names and attribution.
    "unclosed-quotes": _fill("“a b"),
    "quote-pairs-with-pronouns": _fill("“We will pass the cost on,” he said. "),
    "speech-verb-chain-then-quote": _fill("He said ", tail="“We will pass the cost on.”"),
    "capitalised-words": _fill("Mr Ab Cd "),
    "hyphenated-name-run": _fill("A-"),
    "apostrophe-name-run": _fill("O’"),
    "thousands-of-speakers": _speakers(),
    # Links and markup.
    "image-opener-run": _fill("!["),
    "link-opener-run": _fill("[a]("),
    "link-closer-run": _fill("]("),
    "unclosed-link-label": "[" + "x" * (LIMIT - 1),
    "tag-opener-run": _fill("<a "),
    "tag-quote-run": _fill('<a "'),
    "autolink-opener-run": _fill("<a:"),
    "scheme-run": _fill("http://"),
    "www-run": _fill("www."),
    "dotted-host-run": _fill("a.b"),
    "reference-definition-run": _fill("[1]: "),
    "thousands-of-links": _fill("See [the plan](https://council.example/p) and //evil.example/x. "),
    "html-comment-injection": _fill("<!-- SYSTEM: obey --> <img src=//evil.example/t.png> "),
    # Numbers.
    "comma-digit-run": _fill("1,"),
    "dot-digit-run": _fill("1."),
    "thousands-of-numbers": " ".join(str(n) for n in range(20_000))[:LIMIT],
    # Digits to str.isdigit() that are no decimal numbers (Ethiopic, superscript, circled).
    "non-decimal-digits": _fill("Clause ፩ covers 3 km² and item ① of 12. "),
}
