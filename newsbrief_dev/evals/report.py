"""Eval reports: the side-by-side table; report.json, report.md and a self-contained report.html."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from newsbrief_dev.evals.dataset import Case
from newsbrief_dev.evals.gate import Check
from newsbrief_dev.evals.metrics import METRICS, Passage, judge, passages, raised
from newsbrief_dev.evals.planted import FLAGGED_BY, PlantResult
from newsbrief_dev.evals.runner import Row


def table(rows: list[Row]) -> str:
    """One row per engine or prompt version, one column per metric, as a Markdown table."""
    lines = [["row", *(m.label for m in METRICS)]]
    for row in rows:
        values = row.metrics
        lines.append([row.name, *(m.fmt.format(values[m.name]) for m in METRICS)])
    return _markdown_table(lines)


def _markdown_table(lines: list[list[str]]) -> str:
    lines = [lines[0], ["---"] * len(lines[0]), *lines[1:]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |"
        for line in lines
    )


def _planted_cells(results: Sequence[PlantResult]) -> list[list[str]]:
    head = ["plant", "kind", "case", "must raise", "raised", "ok"]
    return [head] + [
        [
            r.plant.cassette,
            r.plant.kind,
            r.case_id,
            ", ".join(r.plant.must_raise) or "nothing",
            ", ".join(r.raised) or "nothing",
            "ok" if r.ok else "FAIL",
        ]
        for r in results
    ]


def planted_table(results: Sequence[PlantResult]) -> str:
    """The planted-error suite: each plant, the metric its kind must raise, what it raised."""
    return _markdown_table(_planted_cells(results))


def legend() -> str:
    return "\n".join(
        f"- `{m.label}`: {m.name}" + ("" if m.higher_is_better else " (lower is better)")
        for m in METRICS
    )


def to_json(
    rows: list[Row],
    checks: list[Check],
    meta: dict[str, Any],
    planted: Sequence[PlantResult] = (),
) -> dict[str, Any]:
    return {
        **meta,
        "rows": [
            {
                "name": row.name,
                "metrics": row.metrics,
                "cases": [
                    {
                        **{k: v for k, v in dataclasses.asdict(s).items() if k != "stance_pairs"},
                        "source": row.sources.get(s.case_id),
                        "response": row.responses.get(s.case_id),
                    }
                    for s in row.scores
                ],
            }
            for row in rows
        ],
        "gate": {
            "passed": all(c.passed for c in checks) and all(p.ok for p in planted),
            "checks": [dataclasses.asdict(c) for c in checks],
        },
        "planted": {
            "flagged_by": FLAGGED_BY,
            "plants": [
                {
                    "cassette": p.plant.cassette,
                    "kind": p.plant.kind,
                    "case": p.case_id,
                    "must_raise": p.plant.must_raise,
                    "raised": p.raised,
                    "ok": p.ok,
                }
                for p in planted
            ],
        },
    }


def _worth_a_look(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        for s in row.scores:
            parts = [f"error: {s.error}"] if s.error else []
            counts = [name for name in raised(s) if name != "injection_containment"]
            parts += [f"{name} {getattr(s, name)}" for name in counts]
            if s.injection_case and not s.injection_contained:
                parts.append("injection not contained")
            if s.stale:
                parts.append("stale cassette")
            if parts:
                lines.append(f"- {row.name} / {s.case_id}: " + ", ".join(parts))
    return lines


def markdown(
    rows: list[Row],
    checks: list[Check],
    meta: dict[str, Any],
    planted: Sequence[PlantResult] = (),
) -> str:
    failing = _worth_a_look(rows)
    gate = "\n".join(f"- {c}" for c in checks) or "- (no checks apply to this run)"
    verdict = "passed" if all(c.passed for c in checks) and all(p.ok for p in planted) else "FAILED"
    plants = (
        "Each plant carries one known error, or none (clean). The metric its kind must raise, "
        f"and what it raised:\n\n{planted_table(planted)}"
        if planted
        else "- not run (a subset of cases, or live mode)"
    )
    return (
        f"# newsbrief eval\n\n{meta['cases']} cases, {meta['mode']} mode, "
        f"generated {meta['generated_at']}.\n\n{table(rows)}\n\n{legend()}\n\n"
        f"## Gate: {verdict}\n\n{gate}\n\n## Planted errors\n\n{plants}\n\n"
        "## Cases worth a look\n\n" + ("\n".join(failing) or "- none") + "\n"
    )


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # article text, model output and gold are data, never markup
    undefined=jinja2.StrictUndefined,
)


def _segments(text: str, claims: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """The article cut at the evidence: (text, holder) for evidence, (text, None) between."""
    spans = sorted((c["evidence"]["start"], c["evidence"]["end"], c["holder"]) for c in claims)
    out: list[tuple[str, str | None]] = []
    at = 0
    for start, end, holder in spans:
        if start < at:
            continue  # overlapping evidence: the first one is shown
        out += [(text[at:start], None), (text[start:end], holder)]
        at = end
    out.append((text[at:], None))
    return out


def _run(row: Row, case: Case, gold: list[Passage]) -> dict[str, Any]:
    """One row's answer on one case, as the template shows it."""
    score = next(s for s in row.scores if s.case_id == case.id)
    response = row.responses.get(case.id)
    claims = [
        [
            c["holder"],
            c["stance"],
            c["target"],
            c["evidence"]["text"],
            f"{c['evidence']['start']}–{c['evidence']['end']}",
            judge(c["holder"], (c["evidence"]["start"], c["evidence"]["end"]), case, gold),
        ]
        for c in (response or {}).get("claims", [])
    ]
    return {
        "row": row.name,
        "matched": score.matched,
        "gold": score.gold,
        "raised": ", ".join(raised(score)) or "nothing",
        "source": row.sources.get(case.id, ""),
        "error": score.error or "no response",
        "response": response,
        "claims": claims,
        "article": _segments(case.article.text, response["claims"]) if response else [],
    }


def html_report(
    rows: list[Row],
    cases: list[Case],
    checks: list[Check],
    meta: dict[str, Any],
    planted: Sequence[PlantResult] = (),
) -> str:
    view_cases = []
    for case in cases:
        gold = passages(case)
        view_cases.append(
            {
                "id": case.id,
                "topic": case.topic,
                "tags": case.tags,
                "gold_claims": [
                    [g.holder, g.stance.value, g.target, g.evidence] for g in case.gold.claims
                ],
                "gold_quotes": [
                    [q.speaker, q.text, "yes" if q.position else "no"] for q in case.gold.quotes
                ],
                "runs": [_run(row, case, gold) for row in rows],
            }
        )
    metrics = {
        "head": ["row", *(m.name for m in METRICS)],
        "rows": [[r.name, *(m.fmt.format(r.metrics[m.name]) for m in METRICS)] for r in rows],
    }
    return _TEMPLATES.get_template("report.html.j2").render(
        meta=meta,
        metrics=metrics,
        checks=checks,
        planted=_planted_cells(planted) if planted else [],
        cases=view_cases,
    )


def write_reports(
    out: Path,
    rows: list[Row],
    cases: list[Case],
    checks: list[Check],
    meta: dict[str, Any],
    planted: Sequence[PlantResult] = (),
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    report = to_json(rows, checks, meta, planted)
    files = {
        "report.json": json.dumps(report, indent=1, ensure_ascii=False),
        "report.md": markdown(rows, checks, meta, planted),
        "report.html": html_report(rows, cases, checks, meta, planted),
    }
    paths = []
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        paths.append(out / name)
    return paths
