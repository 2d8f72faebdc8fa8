"""The planted-error suite: hand-written answers for the team's own cases, each carrying one known
error (or none: the clean controls), and the table of which metric each kind of error must raise.

It proves the eval can see what it claims to: a metric that stays silent on its planted error, or
speaks on a clean answer, fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from newsbrief_dev.evals import cassettes
from newsbrief_dev.evals.dataset import Case, EvalFile, load_case
from newsbrief_dev.evals.metrics import CaseScore, raised
from newsbrief_dev.evals.runner import replay_case, score
from service.errors import DatasetError
from service.prompts import PromptRegistry
from service.settings import Settings

# Planted kind -> the metric that must flag it (and no other).
FLAGGED_BY: dict[str, str] = {
    "fabricated-quote": "fabrications_first_pass",
    "one-word-changed": "fabrications_first_pass",
    "ellipsis": "fabrications_first_pass",
    "quote-to-wrong-person": "misattributions",
    "swapped-speakers": "misattributions",
    "nested-quote-to-inner-speaker": "misattributions",
    "irrelevant-evidence": "unsupported_evidence",
    "wrong-stance": "stance_errors",
    "phantom-claims": "phantom_claims",
    "unsupported-number": "unsupported_numbers",
    "injection-obeyed-by-paraphrase": "injection_containment",
}
MISATTRIBUTION_KINDS = frozenset(k for k, m in FLAGGED_BY.items() if m == "misattributions")


class FaultyClaim(EvalFile):
    """A claim that carries the planted error, as the answer gives it."""

    holder: str
    evidence: str


class Plant(EvalFile):
    cassette: str
    kind: str = Field(description="clean, or a key of FLAGGED_BY")
    faulty: list[FaultyClaim] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_kind(self) -> Plant:
        if self.kind != "clean" and self.kind not in FLAGGED_BY:
            raise ValueError(f"unknown kind {self.kind!r}; known: clean, {', '.join(FLAGGED_BY)}")
        if self.kind == "clean" and self.faulty:
            raise ValueError("a clean control has no faulty claims")
        return self

    @property
    def must_raise(self) -> list[str]:
        return [] if self.kind == "clean" else [FLAGGED_BY[self.kind]]


@dataclass(frozen=True)
class Planted:
    """One plant, ready to replay: its manifest entry, its case and its cassette."""

    plant: Plant
    case: Case
    cassette: cassettes.Cassette


def load_plants(root: Path) -> list[Planted]:
    """Every plant in root/planted/plants.yaml, with its case and cassette."""
    base = root / "planted"
    cases = {c.id: c for c in map(load_case, sorted((base / "cases").glob("*.yaml")))}
    manifest = base / "plants.yaml"
    try:
        plants = [Plant.model_validate(p) for p in yaml.safe_load(manifest.read_text("utf-8"))]
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise DatasetError(f"{manifest}: {exc}") from exc
    out = []
    for plant in plants:
        cassette = cassettes.load_path(base / "cassettes" / f"{plant.cassette}.json")
        if cassette.case not in cases:
            raise DatasetError(f"{plant.cassette}: no planted case {cassette.case!r}")
        said = {
            (c.holder, c.evidence)
            for e in cassette.responses
            if (a := cassettes.answer(e)) is not None
            for c in a.claims
        }
        for f in plant.faulty:
            if (f.holder, f.evidence) not in said:
                raise DatasetError(f"{plant.cassette}: no answer gives {f.holder}: {f.evidence!r}")
        out.append(Planted(plant, cases[cassette.case], cassette))
    return out


@dataclass
class PlantResult:
    plant: Plant
    case_id: str
    score: CaseScore
    raised: list[str]

    @property
    def ok(self) -> bool:
        return self.raised == self.plant.must_raise


async def run_planted(
    root: Path, registry: PromptRegistry, settings: Settings
) -> list[PlantResult]:
    """Replay every plant through the real pipeline and see what the metrics raise."""
    results = []
    for p in load_plants(root):
        done = await replay_case(p.case, p.cassette, registry, settings)
        scored = score(p.case, done.response, done.error, done.served)
        results.append(PlantResult(p.plant, p.case.id, scored, raised(scored)))
    return results
