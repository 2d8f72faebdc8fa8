"""The CI gate: floors and ceilings from evals/thresholds.yaml, and the largest allowed regression
of the default prompt version against its recorded baseline (evals/baseline.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newsbrief_dev.evals.metrics import METRIC_BY_NAME
from service.errors import EvalError


class Bound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all_rows: dict[str, Bound] = Field(description="Bounds every LLM row must keep.")
    default_prompt: dict[str, Bound] = Field(description="Bounds for the default prompt's row.")
    max_regression: dict[str, float] = Field(
        description="How far the default prompt may fall behind evals/baseline.json, per metric."
    )

    @field_validator("all_rows", "default_prompt", "max_regression")
    @classmethod
    def _known_metrics(cls, value: dict[str, object]) -> dict[str, object]:
        unknown = sorted(set(value) - set(METRIC_BY_NAME))
        if unknown:
            raise ValueError(f"unknown metric(s): {', '.join(unknown)}")
        return value


@dataclass(frozen=True)
class Check:
    row: str
    metric: str
    kind: Literal["min", "max", "regression"]
    limit: float
    value: float
    passed: bool

    def __str__(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        op = {"min": ">=", "max": "<=", "regression": "within"}[self.kind]
        return f"{verdict} {self.row} {self.metric} = {self.value:.4g} ({op} {self.limit:.4g})"


def load_thresholds(path: Path) -> Thresholds:
    try:
        return Thresholds.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise EvalError(f"{path}: {exc}") from exc


def load_baseline(path: Path) -> dict[str, float] | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    metrics: dict[str, float] = data["metrics"]
    return metrics


def _bounds(row: str, metrics: dict[str, float], bounds: dict[str, Bound]) -> list[Check]:
    checks = []
    for name, bound in bounds.items():
        value = metrics[name]
        if bound.min is not None:
            checks.append(Check(row, name, "min", bound.min, value, value >= bound.min))
        if bound.max is not None:
            checks.append(Check(row, name, "max", bound.max, value, value <= bound.max))
    return checks


def evaluate(
    rows: dict[str, dict[str, float]],
    default_ref: str,
    thresholds: Thresholds,
    baseline: dict[str, float] | None,
    *,
    full_run: bool,
) -> list[Check]:
    """Every check that applies. A run over a subset of cases only gets the all-rows bounds,
    since floors and the baseline describe the whole dataset."""
    checks = []
    for name, metrics in rows.items():
        if name != "extractive":
            checks += _bounds(name, metrics, thresholds.all_rows)
    if not full_run or default_ref not in rows:
        return checks
    current = rows[default_ref]
    checks += _bounds(default_ref, current, thresholds.default_prompt)
    if baseline is not None:
        missing = sorted(set(thresholds.max_regression) - set(baseline))
        if missing:
            raise EvalError(
                f"the baseline has no {', '.join(missing)}: rerun with --update-baseline"
            )
        for name, allowed in thresholds.max_regression.items():
            better_up = METRIC_BY_NAME[name].higher_is_better
            drop = (
                (baseline[name] - current[name]) if better_up else (current[name] - baseline[name])
            )
            checks.append(
                Check(default_ref, name, "regression", allowed, drop, drop <= allowed + 1e-9)
            )
    return checks
