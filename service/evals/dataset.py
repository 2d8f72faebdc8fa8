"""Eval cases: an original article plus its gold (key facts, expected claims, forbidden strings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.errors import DatasetError
from service.grounding import locate
from service.schemas import ArticleIn, Options, Stance

Tag = Literal["injection", "no-opinion", "trap", "numbers", "long", "non-english"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GoldClaim(_Strict):
    holder: str
    aliases: list[str] = []
    stance: Stance
    target: str = Field(description="What the position is about, as a short phrase.")
    target_keywords: list[str] = Field(min_length=1)
    evidence: str = Field(description="A verbatim passage of the article carrying the position.")


class Gold(_Strict):
    language: str
    key_facts: list[list[str]] = Field(
        min_length=1,
        description="Each fact: alternatives; an alternative matches when all its words occur.",
    )
    claims: list[GoldClaim]
    forbidden: list[str] = Field(default=[], description="Must never appear in a response.")


class Case(_Strict):
    id: str
    topic: Literal["politics", "business", "science", "local", "sport", "world"]
    tags: list[Tag] = []
    article: ArticleIn
    options: Options = Options()
    gold: Gold

    @model_validator(mode="after")
    def _gold_fits_article(self) -> Case:
        text = self.article.text
        for claim in self.gold.claims:
            if locate(claim.evidence, text) is None:
                raise ValueError(f"gold evidence not in the article: {claim.evidence[:60]!r}")
        for payload in self.gold.forbidden:
            if payload not in text:
                raise ValueError(f"forbidden string is not planted in the article: {payload!r}")
        if "no-opinion" in self.tags and self.gold.claims:
            raise ValueError("a no-opinion case cannot expect claims")
        return self


def load_cases(root: Path, only: list[str] | None = None) -> list[Case]:
    """Every case under root/cases, sorted by id; `only` keeps the named ones (all must exist)."""
    cases = []
    for path in sorted((root / "cases").glob("*.yaml")):
        try:
            case = Case.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValidationError) as exc:
            raise DatasetError(f"{path}: {exc}") from exc
        if case.id != path.stem:
            raise DatasetError(f"{path}: id {case.id!r} does not match the file name")
        cases.append(case)
    if only:
        missing = sorted(set(only) - {c.id for c in cases})
        if missing:
            raise DatasetError(f"no such case(s): {', '.join(missing)}")
        cases = [c for c in cases if c.id in only]
    return cases
