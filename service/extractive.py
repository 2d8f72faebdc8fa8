"""The embedded engine used when no LLM is configured: lead sentences and attributed direct quotes.

It only copies: the headline is the title or the first sentence, lede and bullets are lead
sentences, and each claim is a direct quote whose speaker an attribution pattern names. Stance is
always neutral, since telling support from opposition needs a model. Its claims go through the
same grounding as the LLM's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

_ABBREVIATIONS = frozenset(
    (
        "mr mrs ms dr prof sen rep gov gen col lt sgt capt rev st mt jr sr inc ltd co corp vs etc "
        "no nos fig approx dept univ a.m p.m e.g i.e u.s u.k u.n jan feb mar apr jun jul aug sep "
        "sept oct nov dec"
    ).split()
)
_UPPER = "A-ZÀ-ÖØ-ÞĀ-ŽА-Я"
_HONORIFIC = r"(?:Mr|Mrs|Ms|Mx|Dr|Prof)\.?"
_ROLE = (
    r"(?:Mayor|President|Vice President|Secretary|Minister|Prime Minister|Senator|Sen\.|"
    r"Governor|Gov\.|Councillor|Councilwoman|Councilman|Chancellor|Judge|Coach|Chief|"
    r"Superintendent|Commissioner|Director|Professor|Inspector|Captain|Sheriff|Bishop|Rabbi|"
    r"Chairman|Chairwoman|Chair|Agronomist|Economist|Analyst|Nurse|Teacher|Spokesman|"
    r"Spokeswoman|Spokesperson|Manager|Officer|Engineer)"
)
_NOT_NAME = (  # capitalised words that start sentences, not names
    r"(?!(?:He|She|They|It|We|I|You|The|A|An|This|That|These|Those|But|And|Yet|When|While|"
    r"After|Before|If|As|In|On|At|For|Asked|Meanwhile|Despite|Under|Although|Since|Some|"
    r"Several|Both|One|Its|Their|His|Her|Our|My)\b)"
)
# A word ("O’Brien", "Jean-Luc", "Farmers'") starts where a word does, is bounded (at most four
# parts of 41 characters), and gives back at most a final apostrophe or hyphen: a search over a
# long run ("AAAA…", "O’O’O’…") costs a constant per position, never the rest of the run.
_WORD = rf"(?<!\w){_NOT_NAME}[{_UPPER}]\w{{0,40}}+(?:[’'\-]\w{{1,41}}+){{0,3}}+[’'\-]?"
_NAME = (  # the first test rejects most positions at the cost of one character class
    rf"(?=[{_UPPER}])(?<!\w)(?:(?P<role>{_ROLE})\s+|{_HONORIFIC}\s+)?"
    rf"(?P<name>{_WORD}(?:\s+(?:de\s+|van\s+|von\s+)?{_WORD}){{0,3}})"
)
_SPEECH = (
    r"(?:said|says|say|told|tells|added|adds|argued|argues|warned|warns|insisted|insists|"
    r"wrote|writes|stated|states|explained|explains|noted|notes|asked|asks|replied|"
    r"called|calls|declared|declares|acknowledged|conceded|countered|remarked|recalled)"
)
_PRONOUN = r"(?P<pronoun>[Hh]e|[Ss]he|[Tt]hey)"
_QUOTE = re.compile(r"(?P<open>[“\"″«„])(?P<body>[^“”\"″«»„\n]{2,}?)(?P<close>[”\"″»“])")
_APPOSITIVE = r"(?:\s*,[^,“”\"″«»]{1,80},)?"  # "Maria Lopez, who chairs the board, said"
_OF_ORG = rf"(?:\s+of\s+(?:the\s+)?{_WORD}(?:\s+{_WORD}){{0,3}})?"  # "Felix Borg of the Union"
_WHO = rf"{_NAME}{_OF_ORG}{_APPOSITIVE}"
_DESCRIPTOR = r"(?:[a-z][\w’'\-]{0,40},?\s+){0,4}"  # "said its chair, Petra Wendt"
_NAME_THEN_VERB = re.compile(rf"{_WHO}\s+{_SPEECH}\b")
_AFTER_QUOTE = tuple(  # used with .match() right after the closing mark
    re.compile(rf"\s*(?:,\s*)?{who}\b")
    for who in (
        rf"{_SPEECH}\s+{_DESCRIPTOR}{_NAME}",
        rf"{_NAME}\s+{_SPEECH}",
        rf"{_PRONOUN}\s+{_SPEECH}",
    )
)
_BEFORE_QUOTE = re.compile(rf"(?:{_PRONOUN}|{_WHO})\s+{_SPEECH}\b[^“”\"″«».!?]*[,:]?\s*$")
_NAME_ANYWHERE = re.compile(_NAME)
_ACCORDING_TO = re.compile(rf"\b[Aa]ccording to {_NAME}")
_MIN_QUOTE_WORDS = 4  # shorter quoted phrases are usually scare quotes, not positions
# How far from a quote its attribution is looked for ("Lopez, who chairs the board, said:"), and
# how much of a sentence is searched for a speaker. Real sentences are far shorter; the bounds keep
# a 100 KB "sentence" with thousands of quotes linear, and each regex call short (a call holds
# the GIL, and the event loop waits for it).
_ATTRIBUTION_REACH = 400
_SENTENCE_REACH = 2000
# A sentence ends at a run of terminators (and closing marks) followed by space and a capital or
# digit. The lookbehind lets a match start only where a run starts, and the possessive quantifiers
# never give characters back, so "Word ....." costs its length once instead of once per dot.
_SENTENCE_END = re.compile(rf"(?<![.!?…])[.!?…]++[”\"’″»)\]]*+(?=\s+[“\"‘″«(\[]?[{_UPPER}0-9])")
# A paragraph is its lines up to a blank one; the blank-line test looks at one line, not at the
# whole whitespace run after it (which made "a\n \n \n …" quadratic).
_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?![^\S\n]*+\n)[^\n]+)*")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str
    paragraph: int


def sentences(text: str) -> list[Sentence]:
    """Sentences with their offsets; a blank line always ends a paragraph and a sentence."""
    out: list[Sentence] = []
    for p_index, para in enumerate(_PARAGRAPH.finditer(text)):
        base, body = para.start(), para.group()
        begin = 0
        for end in _SENTENCE_END.finditer(body):
            if end.group().startswith(".") and _abbreviation_before(body, begin, end.start()):
                continue
            _add(out, body, begin, end.end(), base, p_index)
            begin = end.end()
        _add(out, body, begin, len(body), base, p_index)
    return out


def _abbreviation_before(body: str, begin: int, at: int) -> bool:
    """Whether the word ending at `at` is an abbreviation or an initial ("Dr.", "J.").

    The word is walked back to the nearest space, never re-searched from `begin`: each word is
    read once however many abbreviations a sentence skips ("Mr. Mr. Mr. …").
    """
    start = at
    while start > begin and not body[start - 1].isspace():
        start -= 1
    token = body[start:at].lower().strip('“"‘(')
    return token in _ABBREVIATIONS or len(token) == 1


def _add(out: list[Sentence], body: str, begin: int, end: int, base: int, para: int) -> None:
    chunk = body[begin:end]
    lead = len(chunk) - len(chunk.lstrip())
    chunk = chunk.strip()
    if chunk:
        start = base + begin + lead
        out.append(Sentence(start, start + len(chunk), chunk, para))


def _speaker(match: re.Match[str] | None, last: str | None) -> tuple[str | None, str | None]:
    if match is None:
        return None, None
    if match.groupdict().get("pronoun"):
        return last, None
    return match.group("name"), match.group("role")


class _Names:
    """Every name-like run in the article with the roles it appears with, read once per article.

    Names are indexed by their word endings ("Maria Lopez" under "Lopez" too), and each lookup is
    remembered, so an article of thousands of speakers is not rescanned once per quote.
    """

    def __init__(self, text: str) -> None:
        self.roles: dict[str, set[str]] = {}
        for m in _NAME_ANYWHERE.finditer(text):
            self.roles.setdefault(m.group("name"), set()).update(
                [m.group("role")] if m.group("role") else []
            )
        self._ending: dict[str, list[str]] = {}
        for n in self.roles:
            words = (i + 1 for i in range(len(n) - 1) if n[i] == " " and not n[i + 1].isspace())
            for key in {n, *(n[i:] for i in words)}:
                self._ending.setdefault(key, []).append(n)
        self._found: dict[tuple[str, str | None], tuple[str, str | None]] = {}

    def full(self, name: str, role: str | None) -> tuple[str, str | None]:
        """The fuller form of a name the article uses ("Lopez" → "Maria Lopez"), and a role.

        When two people share the surname ("Senator Ana Marsh", "Councillor Tom Marsh"), the role
        given with the short name decides; if it cannot, the short name stays as the article wrote
        it.
        """
        if (name, role) not in self._found:
            seen = {n: self.roles[n] for n in self._ending.get(name, ())}
            fuller = [n for n in seen if n != name]
            if role and len(fuller) > 1:
                fuller = [n for n in fuller if role in seen[n]]
            full = fuller[0] if len(fuller) == 1 else name
            self._found[name, role] = full, role or next(iter(sorted(seen.get(full, ()))), None)
        return self._found[name, role]


def quotes(text: str, sents: list[Sentence]) -> list[LLMClaim]:
    """Direct quotes whose speaker an attribution pattern names, as neutral claims."""
    claims: list[LLMClaim] = []
    names = _Names(text)
    last: str | None = None  # the latest speaker, for "he said" and unattributed follow-ups
    last_role: str | None = None
    last_para = -1
    for s in sents:
        if s.paragraph != last_para:
            last = None  # "she said" never reaches into another paragraph: misattribution risk
        local = s.text
        # Attribution is looked for outside quotation marks: "Monday tells them" inside a quote
        # is not a speaker. These two do not depend on the quote: searched once per sentence.
        outside = _QUOTE.sub(lambda m: " " * len(m.group()), local)
        according = _ACCORDING_TO.search(outside, 0, _SENTENCE_REACH)
        named = _NAME_THEN_VERB.search(outside, 0, _SENTENCE_REACH)
        previous_end = 0  # no attribution spans a closing mark: never look back past the last
        for q in _QUOTE.finditer(local):
            reach = q.end() + _ATTRIBUTION_REACH
            after_match = next(
                (m for p in _AFTER_QUOTE if (m := p.match(local, q.end(), reach))), None
            )
            holder, role = _speaker(after_match, last)
            if holder is None:
                window = max(previous_end, q.start() - _ATTRIBUTION_REACH)
                holder, role = _speaker(_BEFORE_QUOTE.search(local, window, q.start()), last)
            previous_end = q.end()
            if holder is None:
                holder, role = _speaker(according, last)
            if holder is None:
                holder, role = _speaker(named, last)
            if holder is None and s.paragraph == last_para:
                holder = last  # a quote carrying on the paragraph's speaker
            if holder is None:
                continue
            if holder == last:
                role = role or last_role
            else:
                holder, role = names.full(holder, role)
            last, last_role, last_para = holder, role, s.paragraph
            words = q.group("body").strip(" ,.")
            if len(words.split()) < _MIN_QUOTE_WORDS:
                continue
            claims.append(
                LLMClaim(
                    holder=holder,
                    holder_role=role,
                    stance=Stance.NEUTRAL,
                    target="",
                    claim=words,
                    evidence=q.group(),
                    attribution=Attribution.DIRECT_QUOTE,
                )
            )
        if named and outside == local:
            last, last_role = names.full(named.group("name"), named.group("role"))
            last_para = s.paragraph
    return claims


# Paragraphs with markup, links or chat-role labels are not prose to summarise: copying them is
# how an injected payload ("<!-- SYSTEM: ... -->", "SYSTEM: say X") would reach a reader.
_NOT_PROSE = re.compile(r"<[!/a-zA-Z]|https?://|www\.|^[^\S\n]*+[A-Z]{3,}+[^\S\n]*+:", re.MULTILINE)


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
        claims=quotes(article.text, every),
    )


def _clip(text: str, words: int) -> str:
    parts = text.split()
    return text if len(parts) <= words else " ".join(parts[:words]) + " …"
