"""Attribution: who the article gives a passage to, and whether that is the claim's holder.

An article is read once (cached): its sentences, its quotations (nested ones inside their outer
quote), its speech cues and the people it names with the titles it introduces for them. Checking
one claim then only looks at the quotes and sentences its evidence touches. Every step is a single
pass or a lookup in a window of bounded size, so hostile text costs linear time.

Rules, as a careful reader applies them:
- A passage in quotation marks belongs to the speaker of its outermost quote: the cue right after
  the quote ("…," X said / said X / so X), else right before it (X said: "…"), else earlier in
  its sentence, else a name and colon (X: "…"), else later in its sentence, else the quote before
  it in the same paragraph (a quote that carries on). A quote inside a quote is the outer one's.
- A passage outside quotation marks is reported: it is the holder's when its sentence names the
  holder, as the subject of a speech cue or at all, or has a pronoun resolved to them.
- A name is a full name, a surname, a title and surname, or a title the article introduced for
  one person ("Mayor Helen Okafor" … "the mayor"). A pronoun cue ("she said") is the nearest
  person before it in its sentence, else the speaker (or first person) of the sentence before.
  A surname two people share names neither of them.
- `direct_quote` needs its evidence in quotation marks.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

from service.grounding import by_first_letter

Status = Literal["verified", "unverified", "contradicted"]

_UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĲĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽА-Я"
ABBREVIATIONS = frozenset(
    (
        "mr mrs ms dr prof sen rep gov gen col lt sgt capt rev st mt jr sr inc ltd co corp vs etc "
        "no nos fig approx dept univ a.m p.m e.g i.e u.s u.k u.n jan feb mar apr jun jul aug sep "
        "sept oct nov dec sr sra srta dra lic ing hr fr dipl bzw ca usw z.b"
    ).split()
)
# Words that open a sentence or name a time or place, not a person.
_NOT_NAMES = frozenset(
    (
        "he she they it we i you the a an this that these those but and yet when while after "
        "before if as in on at for asked meanwhile despite under although since some several both "
        "one its their his her our my there here then still also so according on monday tuesday "
        "wednesday thursday friday saturday sunday january february march april may june july "
        "august september october november december el la los las un una der die das ein eine "
        "und aber am im er sie es ella él según laut"
    ).split()
)
# Titles and honorifics in front of a name; roles are kept to tell people apart.
_HONORIFICS = frozenset("mr mrs ms mx dr prof herr frau señor señora sr sra don doña".split())
_TITLE_WORDS = frozenset(
    (
        "mayor president vice secretary minister prime senator sen councillor councilwoman "
        "councilman chancellor judge coach chief superintendent commissioner director professor "
        "inspector captain sheriff bishop rabbi chairman chairwoman chair governor gov rep "
        "representative spokesman spokeswoman spokesperson manager officer engineer nurse teacher "
        "agronomist economist analyst general colonel state foreign finance education health "
        "justice interior defence defense deputy mp alcalde alcaldesa ministro ministra presidente "
        "presidenta senador senadora concejal concejala portavoz bürgermeister bürgermeisterin "
        "minister ministerin senatorin präsident präsidentin stadtrat stadträtin sprecher "
        "sprecherin kanzler kanzlerin vorsitzende vorsitzender chef chefin leiter leiterin "
        "landwirt landwirtin bauer bäuerin anwohner anwohnerin unternehmer unternehmerin"
    ).split()
)
_ABBREVIATED = ABBREVIATIONS | _HONORIFICS | _TITLE_WORDS  # words a full stop does not end
_INDEFINITE = frozenset("a an one un una ein eine".split())
_DETERMINERS = _INDEFINITE | frozenset("the der die das el la los las".split())
_PRONOUNS = frozenset("he she they er sie ella él".split())
_SPEECH_VERBS = (
    "said says say told tells added adds argued argues warned warns insisted insists wrote writes "
    "stated states explained explains noted notes asked asks replied replies called calls declared "
    "declares acknowledged acknowledges conceded concedes countered counters remarked recalled "
    "recalls claimed claims urged urges announced announces admitted admits "
    "dijo dice afirmó afirma aseguró asegura señaló señala declaró explicó añadió agregó advirtió "
    "sostuvo indicó manifestó comentó insistió recordó escribió opinó "
    "sagte sagt erklärte erklärt betonte betont meinte meint warnte warnt schrieb fügte kritisierte"
).split()
_NOT_ALWAYS_SPEECH = frozenset(
    "added adds called calls noted notes stated states claimed claims asked asks".split()
)
_SPEECH_OBJECT = re.compile(r"\s*(?:[,:.]|that\b|$)")
_PRO_DROP = frozenset(_SPEECH_VERBS[_SPEECH_VERBS.index("dijo") : _SPEECH_VERBS.index("sagte")])


# Cues whose subject always follows: "according to X", "según X", "laut X", "…", so X.
_ACCORDING = frozenset("according to|According to|según|Según|laut|Laut|so".split("|"))
# Speech verbs and those cues in one pass, each alternative opening with its letter so re skips
# fast to where one can start. The word's start is checked by the caller (_starts_word): a
# lookbehind here doubles the cost.
_CUE_WORDS = by_first_letter([*_SPEECH_VERBS, *sorted(_ACCORDING - {"so"})])
_CUE_WORD = re.compile(rf"(?:{_CUE_WORDS}|so(?= [A-ZÄÖÜ]))(?![\w’'])")
_CAP = rf"[{_UPPER}][\w’'\-]*+\.?"
# "Ana de la Cruz", "Jan van der Berg"; a bare "der" is German's article, not part of a name.
_PARTICLE = r"(?:von der|van der|van den|de la|de los|del|de|van|von|bin|al|y)[ \t]+"
_NAME_RUN = re.compile(
    rf"[{_UPPER}](?<![\w’'\-].)[\w’'\-]*+\.?(?:[ \t]+(?:{_PARTICLE})?{_CAP}){{0,5}}"
)
# One class, so re skips fast to the next mark; a newline is a mark for the paragraph breaks.
_QUOTE_MARKS = re.compile("[“”„«»‹›‘’‚\"″'\n]")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*+\n")
# Opens with the class, so re skips fast to the next [.!?…] (~4x faster than behind a lookbehind
# that no mark precedes it). The lookbehind after it, which sees that mark and the one before,
# keeps a run of marks from being tried again from each of its marks: linear on "......".
_SENTENCE_END = re.compile(
    rf"[.!?…](?<![.!?…][.!?…])[.!?…]*+[”\"’″»)\]]*+(?=\s++[“\"‘″«„(\[]?[{_UPPER}0-9])"
)
# What may stand between a subject and its verb: an appositive ("Ana Marsh, who drafted it,").
_SUBJECT_GAP = re.compile(
    r"(?:\s+(?:of|at|from|for|von|de)\s+(?:the\s+)?[^\s,]+(?:\s+[^\s,]+){0,3}?)?"
    r"(?:\s*,[^,“”\"«»]{1,90},)?\s+(?:has\s+|had\s+|hat\s+|ha\s+)?"
)
_CLOSING = tuple("”\"’'»«“″")
# What may stand between a verb and its subject after it: "said its chair, Petra Wendt".
# Two words at most ("said nurse Abby Lorne", "dijo la alcaldesa Marta Ruiz"), or a longer
# description closed by a comma ("said a spokesperson for the ministry, Lena Voss"); never
# "said a farmer near Kessel", where the name is a place.
_VERB_GAP = re.compile(
    r"\s+(?:(?:[a-zà-ÿ][\w’'\-]*\s+){0,2}|(?:[a-zà-ÿ][\w’'\-]*\s+){0,6}[a-zà-ÿ][\w’'\-]*,\s+)"
)
_DESCRIPTOR = re.compile(
    r"(?<![\w’'])(?i:the|a|an|one|der|die|el|la|un|una|its|his|her|their)\s+"
    r"(?:[a-zà-ÿ][\w’'\-]*\s+){0,3}?[a-zà-ÿ][\w’'\-]*+"
)
MIN_EVIDENCE_WORDS = 4  # shorter "evidence" ("the bill") would ground almost anything
_TRIM = " ,.;:!?“”„«»‹›‘’‚\"″'"
_HOLDER_EXTRA = re.compile(r"\([^()]{0,200}\)")
_LOOKBACK = 20  # mentions looked at for a pronoun; prose never needs more
_PRONOUN_AFTER = re.compile(r"\s+(\w+)\b")
_DESCRIPTOR_BEFORE = re.compile(rf"({_DESCRIPTOR.pattern})(?:\s*,[^,]{{1,60}},)?\s+$")
_DESCRIPTOR_AFTER = re.compile(rf"\s+({_DESCRIPTOR.pattern})")
_WINDOW = 120  # characters around a cue that can hold its subject
_DESCRIPTION = 80  # characters before a verb that can hold "the minister, Lena Voss,"
_DETERMINER_WORDS = frozenset("the a an one der die el la un una its his her their".split())
# Text with more speech verbs or quotations than these is not prose; the rest name no speaker.
_MAX_CUES = 5000
_MAX_QUOTES = 2000


class Sentence(NamedTuple):
    start: int
    end: int
    text: str
    paragraph: int


class Quote(NamedTuple):
    start: int  # at the opening mark
    end: int  # after the closing mark
    depth: int  # 0: outermost


@dataclass(frozen=True)
class Person:
    name: str  # the fullest form the article uses
    surname: str
    intro: frozenset[str]  # lower-case words the article puts around the name: titles, roles
    title: str | None  # the first title written before the name ("Mayor", "Councillor")


class Speaker(NamedTuple):
    """Whom a cue names: a person of the article, or words that name nobody in particular."""

    text: str
    person: Person | None = None
    indefinite: bool = False  # "a farmer": someone other than anyone the article names

    @property
    def name(self) -> str:
        return self.person.name if self.person else self.text


class Cue(NamedTuple):
    start: int
    end: int
    speaker: Speaker | None  # None: a pronoun with no person to resolve to
    sentence: int


@dataclass(frozen=True)
class Check:
    status: Status
    speaker: str | None
    cue: tuple[int, int] | None  # [start, end) of the words that say who speaks


# One request reads its article once for all its claims and reasks; a hostile 100 KB article
# keeps about 10 MB of reading, so only a few are kept.
@lru_cache(maxsize=4)
def analyse(text: str) -> Article:
    """Read an article once for attribution."""
    return Article(text)


def sentences(text: str) -> list[Sentence]:
    """Sentences with offsets; a blank line always ends a paragraph and a sentence."""
    out: list[Sentence] = []
    breaks = [(m.start(), m.end()) for m in _PARAGRAPH_BREAK.finditer(text)]
    starts = [0] + [end for _, end in breaks]
    ends = [start for start, _ in breaks] + [len(text)]
    for para, (begin, stop) in enumerate(zip(starts, ends, strict=True)):
        for m in _SENTENCE_END.finditer(text, begin, stop):
            if m.group().startswith("."):
                space = max(text.rfind(" ", max(begin, m.start() - 16), m.start()), begin - 1)
                token = text[space + 1 : m.start()].lower().lstrip('“"‘(«„')
                if token in ABBREVIATIONS or len(token) == 1:
                    continue
            _add(out, text, begin, m.end(), para)
            begin = m.end()
        _add(out, text, begin, stop, para)
    return out


def _add(out: list[Sentence], text: str, begin: int, end: int, para: int) -> None:
    chunk = text[begin:end]
    lead = len(chunk) - len(chunk.lstrip())
    chunk = chunk.strip()
    if chunk:
        out.append(Sentence(begin + lead, begin + lead + len(chunk), chunk, para))


def quotations(text: str) -> list[Quote]:
    """Every quotation, by its marks; an apostrophe is not a mark, a blank line closes all."""
    found: list[Quote] = []
    stack: list[tuple[str, int]] = []  # open marks, innermost last; at most 6 deep
    n = len(text)
    for m in _QUOTE_MARKS.finditer(text):
        c, i = m.group(), m.start()
        if c[0] == "\n":
            if _PARAGRAPH_BREAK.match(text, i):
                stack.clear()  # a quote never runs on past its paragraph unclosed
            continue
        after = text[i + 1] if i + 1 < n else " "
        if c in "’'" and after.isalnum():
            if i and text[i - 1].isalnum():
                continue  # don't, Marsh’s
        else:
            at = len(stack) - 1
            while at >= 0 and c not in _CLOSERS[stack[at][0]]:
                at -= 1
            if at >= 0:
                found.append(Quote(stack[at][1], i + 1, at))
                del stack[at:]
                continue
        if c in _OPENERS and not after.isspace() and len(stack) < 6:
            if c in "‘'" and i and text[i - 1].isalnum():
                continue
            stack.append((c, i))
    found.sort(key=lambda q: q.start)
    return found


_CLOSERS = {
    "“": "”",
    "„": "“”",
    "«": "»",
    "‹": "›",
    "‘": "’",
    "‚": "‘’",
    '"': '"',
    "″": "″",
    "'": "'",
}
_OPENERS = frozenset(_CLOSERS)


class People:
    """The people an article names, and which of them a mention means."""

    def __init__(self, text: str, runs: list[tuple[int, int, list[str]]]) -> None:
        intro: dict[str, set[str]] = {}
        title: dict[str, str] = {}
        for start, end, words in runs:
            if len(words) < 2:
                continue  # one word is a surname at most, never a person's introduction
            titles, name = _split_title(words)
            if len(name) < 2:
                continue
            roles = [t for t in titles if t.lower().rstrip(".") not in _HONORIFICS]
            if roles:
                title.setdefault(" ".join(name), " ".join(roles))
            around = intro.setdefault(" ".join(name), set())
            around.update(w.lower().rstrip(".") for w in titles)
            around.update(_words_near(text, start, end))
        self.by_name = {
            name: Person(name, name.split()[-1], frozenset(words), title.get(name))
            for name, words in intro.items()
        }
        self.by_surname: dict[str, list[Person]] = {}
        self.by_title: dict[str, list[Person]] = {}
        for person in self.by_name.values():
            self.by_surname.setdefault(person.surname, []).append(person)
            for word in person.intro & _TITLE_WORDS:
                self.by_title.setdefault(word, []).append(person)

    def resolve(self, words: list[str], role: str | None = None) -> Speaker:
        """The person a name (with any title) means; unresolved when it could be several."""
        if len(words) == 1 and not role:  # most capitalised words: the fast way out
            word = words[0].removesuffix("’s").removesuffix("'s")
            if word not in self.by_surname:
                return Speaker(word)
        titles, name = _split_title(words)
        text = " ".join(name) or " ".join(words)
        if person := self.by_name.get(text):
            return Speaker(text, person)
        if len(name) != 1:
            return Speaker(text)
        hint = {w.lower().rstrip(".") for w in titles} - _HONORIFICS
        hint |= set(_lower_words(role or "")) & _TITLE_WORDS
        candidates = self.by_surname.get(name[0], [])
        if len(candidates) > 1 and hint:
            candidates = [p for p in candidates if hint <= p.intro]
        return Speaker(text, candidates[0]) if len(candidates) == 1 else Speaker(text)

    def by_role(self, words: list[str]) -> Speaker:
        """ "the mayor": the one person the article introduced with that title, if just one."""
        role = {w for w in words if w in _TITLE_WORDS}
        text = " ".join(words)
        indefinite = bool(words) and words[0] in _INDEFINITE
        if role and not indefinite:
            matches = [p for p in self.by_title.get(min(role), []) if role <= p.intro]
            if len(matches) == 1:
                return Speaker(text, matches[0])
        return Speaker(text, indefinite=indefinite)


def _holder_words(holder: str) -> list[str]:
    # "Helen Okafor (Mayor)", "Helen Okafor, mayor of Port Aldine": the name is before.
    return _HOLDER_EXTRA.sub("", holder).split(",")[0].split()


def holder_key(holder: str) -> str:
    """The lower-case surname a holder's name ends in ("Senator Ana Marsh" → "marsh"): claims
    kept from many articles are looked up by it, then told apart with `same_holders`."""
    _, name = _split_title(_holder_words(holder))
    return (name[-1] if name else holder.strip()).lower()


def same_holders(
    asked: str, holders: Iterable[tuple[str, str | None]]
) -> set[tuple[str, str | None]]:
    """Which of these holders (name, role), all from different articles, mean the person asked
    for, by the rules one article uses for its own names: a full name, a surname, a title and
    surname ("Senator Marsh" is "Ana Marsh" when she is the one Marsh, or the one senator Marsh).
    A bare surname that two people share asks for both."""
    pairs = list(holders)
    runs = [(0, 0, [*_lower_titles(role), *_holder_words(h)]) for h, role in pairs]
    people = People("", runs)
    words = [w[:1].upper() + w[1:] for w in _holder_words(asked)]  # "ana marsh" asks too
    wanted = people.resolve(words).person
    _, name = _split_title(words)
    if wanted is None and len(name) == 1:  # a surname alone, shared: every one of them
        return {(h, role) for h, role in pairs if holder_key(h) == name[0].lower()}
    return {
        (h, role)
        for h, role in pairs
        if (wanted is not None and people.resolve(_holder_words(h), role).person == wanted)
        or (wanted is None and h.casefold() == asked.strip().casefold())
    }


def _lower_titles(role: str | None) -> list[str]:
    """The title words of a role ("Senator for Kelby" → ["senator"]), to sit before a name."""
    return [w for w in _lower_words(role or "") if w in _TITLE_WORDS]


def _split_title(words: list[str]) -> tuple[list[str], list[str]]:
    """ "Councillor Tom Marsh" → (["Councillor"], ["Tom", "Marsh"]); a possessive 's dropped."""
    k = 0
    while k < len(words) - 1 and (words[k].lower().rstrip(".") in _ABBREVIATED or words[k] == "of"):
        k += 1
    name = [w for w in words[k:] if w not in ("of",)]
    if name and name[-1].endswith(("’s", "'s")):
        name[-1] = name[-1][:-2]
    return words[:k], [w.rstrip(".") for w in name]


def _lower_words(text: str) -> list[str]:
    return [w.strip(".,;:").lower() for w in text.split()]


def _words_near(text: str, start: int, end: int) -> set[str]:
    """Words just before a name and in an appositive after it: where articles put titles."""
    before = text[max(0, start - 50) : start].rsplit(".", 1)[-1].rsplit("”", 1)[-1]
    words = set(_lower_words(before)[-5:])
    after = text[end : end + 90]
    if after.startswith(","):
        words.update(_lower_words(re.split(r"[,.;“”\"]", after[1:], maxsplit=1)[0]))
    return words - _NOT_NAMES


class Article:
    """Everything attribution needs from one article, read once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sentences = sentences(text)
        self.quotes = quotations(text)  # outer and inner, by opening mark
        self.outer = [q for q in self.quotes if q.depth == 0]
        masked = _mask(text, self.outer)
        runs = _name_runs(masked)
        self.people = People(text, runs)
        self.mentions = [(s, e, self.people.resolve(w)) for s, e, w in runs]
        self._sentence_starts = [s.start for s in self.sentences]
        self._quote_starts = [q.start for q in self.quotes]
        self._outer_starts = [q.start for q in self.outer]
        self._outer_ends = [q.end for q in self.outer]
        self._mention_starts = [m[0] for m in self.mentions]
        self._mention_ends = [m[1] for m in self.mentions]
        self.cues: list[Cue] = []
        self._cues_in: dict[int, list[Cue]] = {}
        self._read_cues(masked)
        self._cue_starts = [c.start for c in self.cues]
        self.outer_cues: list[Cue | None] = []
        for i in range(len(self.outer)):
            self.outer_cues.append(self._quote_cue(i, masked) if i < _MAX_QUOTES else None)

    def sentence_at(self, pos: int) -> int:
        return max(0, bisect_right(self._sentence_starts, pos) - 1)

    # --- cues --------------------------------------------------------------------------------

    def _read_cues(self, masked: str) -> None:
        for start, end, according in _cue_words(masked)[:_MAX_CUES]:
            sentence = self.sentence_at(start)
            if masked[start:end] in _NOT_ALWAYS_SPEECH and not self._speech(masked, end, sentence):
                continue
            inverted = according or self._after_quote(start)  # "…," said X: nothing before
            cue = None if inverted else self._subject_before(masked, start, end, sentence)
            if cue is None and inverted:
                cue = self._subject_after(masked, start, end, sentence)
            if cue is None and masked[start:end] in _PRO_DROP:  # «…», dijo: the subject before
                cue = Cue(start, end, self._antecedent(start, sentence), sentence)
            if cue:
                self.cues.append(cue)
                self._cues_in.setdefault(sentence, []).append(cue)

    def _subject_before(self, masked: str, vs: int, ve: int, sentence: int) -> Cue | None:
        low = max(self.sentences[sentence].start if self.sentences else 0, vs - _WINDOW)
        k = bisect_right(self._mention_ends, vs) - 1
        # The subject may be a name or two back: "Felix Borg of the Farmers' Union said",
        # "Rafael Ortiz, chief economist at the Harbourline Institute, said".
        for j in range(max(0, k - 2), k + 1):
            start, end, speaker = self.mentions[j]
            if start >= low and _SUBJECT_GAP.fullmatch(masked, end, vs):
                return Cue(start, ve, speaker, sentence)
        # The last word before the verb, past "has"/"had": "she said", "he had warned".
        low = max(low, vs - _DESCRIPTION)
        words = masked[max(low, vs - 16) : vs].split()
        if words and words[-1] in ("has", "had", "hat"):
            words.pop()
        if words and words[-1].lower() in _PRONOUNS:
            start = masked.rindex(words[-1], low, vs)
            return Cue(start, ve, self._antecedent(start, sentence), sentence)
        if _DETERMINER_WORDS.isdisjoint(masked[low:vs].lower().split()):
            return None  # no "the …" to be a description: the common case, decided cheaply
        if m := _DESCRIPTOR_BEFORE.search(masked, low, vs):
            start = m.start(1)
            return Cue(start, ve, self.people.by_role(_lower_words(m.group(1))), sentence)
        return None

    def _subject_after(self, masked: str, vs: int, ve: int, sentence: int) -> Cue | None:
        """The subject after its verb: only where English and German put it, after a quote."""
        limit = min(ve + _WINDOW, self.sentences[sentence].end if self.sentences else ve)
        k = bisect_left(self._mention_starts, ve)
        if k < len(self.mentions) and self.mentions[k][0] <= limit:
            start, end, speaker = self.mentions[k]
            if _VERB_GAP.fullmatch(masked, ve, start):
                return Cue(vs, end, speaker, sentence)
        window = masked[ve:limit]
        if (m := _PRONOUN_AFTER.match(window)) and m.group(1).lower() in _PRONOUNS:
            return Cue(vs, ve + m.end(1), self._antecedent(vs, sentence), sentence)
        if m := _DESCRIPTOR_AFTER.match(window):
            words = _lower_words(m.group(1))
            return Cue(vs, ve + m.end(1), self.people.by_role(words), sentence)
        return None

    def _speech(self, masked: str, ve: int, sentence: int) -> bool:
        """Whether "added", "called", "noted" … report speech here, not "added 400 jobs"."""
        if _SPEECH_OBJECT.match(masked, ve):
            return True
        k = bisect_left(self._outer_starts, ve)
        return k < len(self.outer) and self.sentence_at(self.outer[k].start) == sentence

    def _after_quote(self, vs: int) -> bool:
        """Whether a verb follows a quotation ("…," said X), where the subject comes after it."""
        head = self.text[max(0, vs - 8) : vs].rstrip()
        return head.endswith(_CLOSING) or (head.endswith(",") and head[:-1].endswith(_CLOSING))

    def _antecedent(self, pos: int, sentence: int) -> Speaker | None:
        """A pronoun's person: the nearest before it in its sentence, else in the sentences before.

        Looking back stops at the paragraph's start, and at the first sentence with a person (or,
        failing one, someone a cue names: "The finance officer declined. She said …").
        """
        low = self.sentences[sentence].start if self.sentences else 0
        k = bisect_left(self._mention_starts, pos) - 1
        for _ in range(_LOOKBACK):
            if k < 0 or self.mentions[k][0] < low:
                break
            if self.mentions[k][2].person:
                return self.mentions[k][2]
            k -= 1
        para = self.sentences[sentence].paragraph if self.sentences else 0
        for s in range(sentence - 1, max(-1, sentence - 4), -1):
            if self.sentences[s].paragraph != para:
                return None  # "she said" never reaches into another paragraph
            cues = [c.speaker for c in self._cues_in.get(s, [])[-_LOOKBACK:] if c.speaker]
            if person := next((c for c in reversed(cues) if c.person), None):
                return person
            k = bisect_left(self._mention_starts, self.sentences[s].start)
            for _ in range(_LOOKBACK):
                if k >= len(self.mentions) or self.mentions[k][0] >= self.sentences[s].end:
                    break
                if self.mentions[k][2].person:
                    return self.mentions[k][2]
                k += 1
            if cues:
                return cues[-1]
        return None

    # --- quotes ------------------------------------------------------------------------------

    def _quote_cue(self, i: int, masked: str) -> Cue | None:
        """The cue that gives outer quote i its speaker (see the module docstring for the order)."""
        q = self.outer[i]
        first, last = self.sentence_at(q.start), self.sentence_at(q.end - 1)
        next_open = self.outer[i + 1].start if i + 1 < len(self.outer) else len(self.text)
        prev_close = self.outer[i - 1].end if i else 0
        k = bisect_left(self._cue_starts, q.end)
        after = self.cues[k] if k < len(self.cues) else None
        if after and (after.sentence != last or after.start >= next_open):
            after = None
        k = bisect_left(self._cue_starts, q.start) - 1
        before = self.cues[k] if k >= 0 else None
        if before and (before.sentence != first or not prev_close <= before.end <= q.start):
            before = None
        if after and not masked[q.end : after.start].strip(" ,.;\n"):
            return after
        if before and not masked[before.end : q.start].strip(" ,:\n"):
            return before
        if before:  # "Ivo Brandt told Lena Holt: “…”" is Ivo Brandt's, not Lena Holt's
            return before
        if colon := self._colon_cue(q, masked, first):
            return colon
        if after:
            return after
        if i and self.sentences:
            earlier = self.outer[i - 1]
            para = self.sentences[first].paragraph
            if self.sentences[self.sentence_at(earlier.start)].paragraph == para:
                return self.outer_cues[i - 1]  # a quote carrying on the paragraph's speaker
        return None

    def _colon_cue(self, q: Quote, masked: str, sentence: int) -> Cue | None:
        """ "X: “…”": the name right before a colon that opens the quote."""
        base = max(0, q.start - 4)
        head = masked[base : q.start]
        if not head.rstrip().endswith(":"):
            return None
        colon = base + head.rindex(":")
        k = bisect_right(self._mention_ends, colon) - 1
        if k >= 0 and not masked[self.mentions[k][1] : colon].strip():
            start, _, speaker = self.mentions[k]
            return Cue(start, colon + 1, speaker, sentence)
        return None

    # --- claims ------------------------------------------------------------------------------

    def holder(self, holder: str, role: str | None) -> Speaker:
        """The person a claim's holder means in this article, as far as the text tells."""
        words = _holder_words(holder)
        if words and words[0].lower() in _DETERMINERS:  # "the mayor", "a farmer"
            return self.people.by_role(_lower_words(holder))
        return self.people.resolve(words, role)

    def check(
        self, start: int, end: int, holder: str, role: str | None, direct_quote: bool
    ) -> Check:
        """Whether the text gives article[start:end] to the holder."""
        who = self.holder(holder, role)
        k = bisect_right(self._outer_ends, start)
        quoted: list[Cue | None] = []
        while k < len(self.outer) and self.outer[k].start < end:
            quoted.append(self.outer_cues[k])
            k += 1
        if quoted:
            return _judge(who, [c for c in quoted if c])
        first, last = self.sentence_at(start), self.sentence_at(max(start, end - 1))
        cues = [c for s in range(first, last + 1) for c in self._cues_in.get(s, [])]
        verdict = _judge(who, cues)
        if verdict.status != "verified" and (named := self._named_in(who, first, last)):
            # Named but not the cue's subject: "Brandt's plan, which Holt said would cost jobs"
            # cannot be told apart from a sentence reporting Brandt's own position.
            if verdict.status == "contradicted":
                return Check("unverified", verdict.speaker, None)
            verdict = Check("verified", who.name, named)
        if verdict.status == "verified" and direct_quote:
            return Check("unverified", verdict.speaker, None)  # no quotation marks around it
        return verdict

    def _named_in(self, who: Speaker, first: int, last: int) -> tuple[int, int] | None:
        """Where sentences first..last name the holder, or open with a pronoun meaning them."""
        if who.person is None or not self.sentences:
            return None
        k = bisect_left(self._mention_starts, self.sentences[first].start)
        while k < len(self.mentions) and self.mentions[k][0] < self.sentences[last].end:
            if self.mentions[k][2].person == who.person:
                return self.mentions[k][0], self.mentions[k][1]
            k += 1
        for s in range(first, last + 1):
            sentence = self.sentences[s]
            word = sentence.text.split(maxsplit=1)[0] if sentence.text else ""
            if word.lower() in _PRONOUNS:  # "She wants the tax cut reversed."
                speaker = self._antecedent(sentence.start, s)
                if speaker and speaker.person == who.person:
                    return sentence.start, sentence.start + len(word)
        return None

    def meaningful(self, start: int, end: int) -> bool:
        """Evidence is a unit: four words or more, or the whole of one quotation."""
        if len(self.text[start:end].split()) >= MIN_EVIDENCE_WORDS:
            return True
        bare = self.text[start:end].strip(_TRIM)
        k = bisect_left(self._quote_starts, start - 1)
        while k < len(self.quotes) and self.quotes[k].start <= start + 1:
            q = self.quotes[k]
            if bare and self.text[q.start + 1 : q.end - 1].strip(_TRIM) == bare:
                return True
            k += 1
        return False


def _cue_words(masked: str) -> list[tuple[int, int, bool]]:
    """Where each speech verb or "according to" cue starts and ends, and which of the two it is.

    A verb and such a cue never open at one place nor overlap, so one expression finds both."""
    return [
        (m.start(), m.end(), m.group() in _ACCORDING)
        for m in _CUE_WORD.finditer(masked)
        if _starts_word(masked, m.start())
    ]


def _starts_word(text: str, at: int) -> bool:
    return at == 0 or not (text[at - 1].isalnum() or text[at - 1] in "’'_")


def _judge(who: Speaker, cues: list[Cue]) -> Check:
    """verified if a cue names the holder; contradicted if cues name only someone else."""
    other: Cue | None = None
    for cue in cues:
        if cue.speaker is None:
            continue
        same = _same(who, cue.speaker)
        if same:
            return Check("verified", cue.speaker.name, (cue.start, cue.end))
        if same is False and other is None:
            other = cue
    if other and other.speaker:
        return Check("contradicted", other.speaker.name, (other.start, other.end))
    named = next((c.speaker.name for c in cues if c.speaker), None)
    return Check("unverified", named, None)


def _same(who: Speaker, speaker: Speaker) -> bool | None:
    """Whether the holder is the speaker; None when the text cannot tell."""
    holder = set(_lower_words(who.text)) - _NOT_NAMES
    said = set(_lower_words(speaker.text)) - _NOT_NAMES
    if who.person and speaker.person:
        if who.person == speaker.person:
            return True
        # "Aldine Crossings" for its managing director, named beside it
        return set(_lower_words(who.person.name)) <= speaker.person.intro or False
    if speaker.person:
        p = speaker.person
        if holder == {p.surname.lower()}:
            return None  # a surname that did not resolve: two people share it
        named, full = who.text.split(), p.name.split()
        if len(named) > 1 and named[-1] == p.surname:  # "Helen M. Okafor", not "Robert Okafor"
            return named[0] == full[0] or named[0].rstrip(".") == full[0][:1]
        if holder <= p.intro | set(_lower_words(p.name)):
            return True
        return False if who.text[:1].isupper() or who.indefinite else None
    if who.person and speaker.text[:1].isupper():
        if said == {who.person.surname.lower()}:
            return None  # the shared surname alone
        return False if len(said) > 1 else None  # one unknown capitalised word: not a name
    if holder and said and (holder <= said or said <= holder):
        return True  # "the farmers' union" and "farmers' union"
    if speaker.indefinite and (who.person or who.text[:1].isupper()):
        return False  # "a farmer" is not anyone named
    return None


def _mask(text: str, outer: list[Quote]) -> str:
    """The text with every quotation blanked out, offsets kept: cues are looked for outside."""
    parts: list[str] = []
    at = 0
    for q in outer:
        parts += [text[at : q.start], " " * (q.end - q.start)]
        at = q.end
    parts.append(text[at:])
    return "".join(parts)


def _name_runs(masked: str) -> list[tuple[int, int, list[str]]]:
    """Capitalised word runs that can be names, without the sentence openers before them.

    A run ends after a word with a full stop unless that word is a title or an initial.
    """
    runs: list[tuple[int, int, list[str]]] = []
    for m in _NAME_RUN.finditer(masked):
        run = m.group()
        if " " not in run and "\t" not in run:  # one word: most runs, German nouns above all
            bare = run.rstrip(".")
            if bare.lower() in _NOT_NAMES:
                continue
            stop = bare != run and len(bare) > 1 and bare.lower() not in _ABBREVIATED
            runs.append((m.start(), m.end() - 1 if stop else m.end(), [bare if stop else run]))
            continue
        at, start = m.start(), -1
        words: list[str] = []
        for word in m.group().split():
            at = masked.index(word, at)
            end = at + len(word)
            if not words and word.lower().rstrip(".") in _NOT_NAMES:
                at = end
                continue
            bare = word.rstrip(".")
            stop = word.endswith(".") and len(bare) > 1 and bare.lower() not in _ABBREVIATED
            start = at if not words else start
            words.append(bare if stop else word)
            at = end
            if stop:
                runs.append((start, end - 1, words))
                words = []
        if words:
            runs.append((start, at, words))
    return _join_titles(runs, masked)


def _all_titles(words: list[str]) -> bool:
    return all(w.lower() in _TITLE_WORDS for w in words)


def _join_titles(
    runs: list[tuple[int, int, list[str]]], masked: str
) -> list[tuple[int, int, list[str]]]:
    """ "Secretary of State Daniel Achebe" is one run: a title, "of", and the name it heads."""
    joined: list[tuple[int, int, list[str]]] = []
    for start, end, words in runs:
        if joined:
            s, e, w = joined[-1]
            if start - e == 4 and masked[e:start] == " of " and _all_titles(w):
                joined[-1] = (s, end, [*w, "of", *words])
                continue
        joined.append((start, end, words))
    return joined
