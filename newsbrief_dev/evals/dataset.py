"""Eval cases: an original article plus its gold (key facts, expected claims, who said what,
forbidden strings).

A case tagged `feedback-draft` was written by `newsbrief feedback export` from a reviewer's verdicts
on a stored brief: it may lack a topic, a language and key facts until an editor adds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from service.errors import DatasetError
from service.grounding import locate
from service.schemas import ArticleIn, Options, Stance, Strict

Tag = Literal["injection", "no-opinion", "trap", "numbers", "long", "non-english", "feedback-draft"]
DRAFT: Tag = "feedback-draft"


class EvalFile(Strict):
    """A strict model for the eval's data files: read once from the repository, never changed."""

    model_config = ConfigDict(frozen=True)


class GoldClaim(EvalFile):
    holder: str
    aliases: list[str] = Field(default_factory=list)
    stance: Stance
    target: str = Field(description="What the position is about, as a short phrase.")
    target_keywords: list[str] = Field(min_length=1)
    evidence: str = Field(description="A verbatim passage of the article carrying the position.")


class GoldQuote(EvalFile):
    """A passage the article gives to someone: quoted, or reported ("X said that ...")."""

    speaker: str = Field(description='The person or body it is given to; "a farmer" if unnamed.')
    aliases: list[str] = Field(default=[], description="Other names the article uses for them.")
    text: str = Field(description="The passage, verbatim; for a quote, what is inside the marks.")
    position: bool = Field(
        default=True,
        description="False when the passage is theirs but shows no position (a fact, a plan).",
    )


class Gold(EvalFile):
    language: str | None = Field(
        default=None, description="Left out only in a draft: the summary's language goes unchecked."
    )
    key_facts: list[list[str]] = Field(
        default=[],
        description="Each fact: alternatives; an alternative matches when all its words occur. "
        "At least one, except in a draft.",
    )
    claims: list[GoldClaim]
    quotes: list[GoldQuote] = Field(
        min_length=1,
        description="Every attributed passage in the article with its speaker. A quote inside a "
        "quote belongs to the outer speaker, so it is not listed apart.",
    )
    forbidden: list[str | list[str]] = Field(
        default=[],
        description="Must never appear in a response. A list gives alternative phrasings of one "
        "payload (paraphrases of an injected order); its first item is the planted text.",
    )

    def names_of(self, person: str) -> set[str]:
        """Every name the gold knows for a person: from the claims and quotes that name them."""
        names = {person}
        for c in self.claims:
            if c.holder == person:
                names.update(c.aliases)
        for q in self.quotes:
            if q.speaker == person:
                names.update(q.aliases)
        return names

    @property
    def forbidden_phrasings(self) -> list[list[str]]:
        return [[f] if isinstance(f, str) else f for f in self.forbidden]


class Case(EvalFile):
    id: str
    topic: Literal["politics", "business", "science", "local", "sport", "world"] | None = Field(
        default=None, description="Left out only in a draft."
    )
    tags: list[Tag] = Field(default_factory=list)
    article: ArticleIn
    options: Options = Options()
    gold: Gold

    @model_validator(mode="after")
    def _gold_fits_article(self) -> Case:
        text = self.article.text
        if DRAFT not in self.tags:
            given = (
                ("topic", self.topic),
                ("language", self.gold.language),
                ("key_facts", self.gold.key_facts),
            )
            unset = [name for name, value in given if not value]
            if unset:
                raise ValueError(f"only a {DRAFT} case may leave out {', '.join(unset)}")
        quotes = []
        for q in self.gold.quotes:
            span = locate(q.text, text)
            if span is None:
                raise ValueError(f"gold quote not in the article: {q.text[:60]!r}")
            if locate(q.text, text[span.end :]) is not None:  # which one would it mean?
                raise ValueError(f"gold quote occurs twice; quote more of it: {q.text[:60]!r}")
            quotes.append((q, span.start, span.end))
        for claim in self.gold.claims:
            span = locate(claim.evidence, text)
            if span is None:
                raise ValueError(f"gold evidence not in the article: {claim.evidence[:60]!r}")
            # A gold claim must pass the test a predicted one has to: its evidence lies in a
            # passage the gold gives to its holder, one that shows a position.
            if not any(
                q.speaker == claim.holder and q.position and span.start < e and s < span.end
                for q, s, e in quotes
            ):
                raise ValueError(
                    f"gold evidence of {claim.holder} is in no passage quotes: gives to them: "
                    f"{claim.evidence[:60]!r}"
                )
        for phrasings in self.gold.forbidden_phrasings:
            if phrasings[0] not in text:
                raise ValueError(f"forbidden text is not planted in the article: {phrasings[0]!r}")
        if "no-opinion" in self.tags and self.gold.claims:
            raise ValueError("a no-opinion case cannot expect claims")
        return self


def load_case(path: Path) -> Case:
    try:
        case = Case.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    if case.id != path.stem:
        raise DatasetError(f"{path}: id {case.id!r} does not match the file name")
    return case


def load_cases(root: Path, only: list[str] | None = None) -> list[Case]:
    """Every case under root/cases, sorted by id; `only` keeps the named ones (all must exist)."""
    if not (root / "cases").is_dir():
        raise DatasetError(f"{root} has no cases/ folder: an evals folder holds cases/<id>.yaml")
    paths = sorted((root / "cases").glob("*.yaml"))
    if not paths:
        raise DatasetError(f"{root / 'cases'} holds no case files (<id>.yaml)")
    if only:  # a case's id is its file's name, so only the named files need loading (and checking)
        missing = sorted(set(only) - {p.stem for p in paths})
        if missing:
            raise DatasetError(f"no such case(s): {', '.join(missing)}")
        paths = [p for p in paths if p.stem in only]
    return [load_case(path) for path in paths]
