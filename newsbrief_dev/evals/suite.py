"""The whole eval as one call: score the rows, replay the planted errors, gate, write reports.

`run()` is what `newsbrief eval` and `make eval` do; the CLI only parses arguments and prints.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from newsbrief_dev.evals import gate, report
from newsbrief_dev.evals.dataset import Case, load_cases
from newsbrief_dev.evals.planted import PlantResult, run_planted
from newsbrief_dev.evals.runner import Row, run_eval
from service.errors import EvalError
from service.prompts import PromptRegistry
from service.settings import Settings


@dataclass(frozen=True)
class EvalOptions:
    """What to run: all of it by default, offline, reports under build/eval."""

    evals_dir: Path
    out: Path
    prompts: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    live: bool = False
    record: bool = False
    force: bool = False
    update_baseline: bool = False


@dataclass
class EvalResult:
    rows: list[Row]
    cases: list[Case]
    checks: list[gate.Check]
    planted: list[PlantResult]
    reports: list[Path]
    baseline_written: Path | None = None
    gate_skipped: bool = False  # the evals folder has no thresholds.yaml: scores only

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and all(p.ok for p in self.planted)


def run(
    options: EvalOptions,
    registry: PromptRegistry,
    settings: Settings,
    on_saved: Callable[[Path], None] = lambda path: None,
) -> EvalResult:
    """Score prompt versions on the eval cases; a usage mistake raises EvalError saying which."""
    if options.live and not settings.llm_configured:
        raise EvalError("--live needs an LLM (NEWSBRIEF_LLM_BASE_URL or _API_KEY)")
    if options.record and not options.live:
        raise EvalError("--record only works with --live")
    full_run = not options.cases
    if options.update_baseline and (not full_run or options.live):
        raise EvalError("--update-baseline needs a full offline run")
    if not options.live:  # offline: nothing from the environment may reach an upstream
        settings = settings.model_copy(
            update={"llm_api_key": None, "llm_base_url": None, "request_deadline_s": 60.0}
        )
    root = options.evals_dir
    refs = [registry.get(r).ref for r in options.prompts] or [p.ref for p in registry]
    cases = load_cases(root, options.cases or None)
    rows = asyncio.run(
        run_eval(
            cases,
            refs,
            registry,
            settings,
            root,
            live=options.live,
            record=options.record,
            force=options.force,
            on_saved=on_saved,
        )
    )
    planted: list[PlantResult] = []  # replayed planted errors: offline, and only on a full run
    if full_run and not options.live and (root / "planted").is_dir():
        planted = asyncio.run(run_planted(root, registry, settings))
    by_name = {row.name: row.metrics for row in rows}
    baseline_path = root / "baseline.json"
    baseline_written = None
    if options.update_baseline:
        if registry.default_ref not in by_name:
            raise EvalError("--update-baseline needs the default prompt in the run")
        payload = {"prompt": registry.default_ref, "metrics": by_name[registry.default_ref]}
        baseline_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        baseline_written = baseline_path
    # A folder of exported feedback drafts has no thresholds: its scores are read, not gated
    # (the floors in evals/thresholds.yaml describe the curated dataset, not a handful of drafts).
    thresholds_path = root / "thresholds.yaml"
    gate_skipped = not thresholds_path.exists()
    checks = (
        []
        if gate_skipped
        else gate.evaluate(
            by_name,
            registry.default_ref,
            gate.load_thresholds(thresholds_path),
            gate.load_baseline(baseline_path),
            full_run=full_run,
        )
    )
    meta = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "live" if options.live else "replay",
        "cases": len(cases),
        "default_prompt": registry.default_ref,
    }
    reports = report.write_reports(options.out, rows, cases, checks, meta, planted)
    return EvalResult(rows, cases, checks, planted, reports, baseline_written, gate_skipped)
