"""Eval reports: the side-by-side table; report.json, report.md and a self-contained report.html."""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f4f4f4}mark{background:#ffe08a}mark.bad{background:#ffb3b3}
.article{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:1em}
.pass{color:#070}.fail{color:#b00}
details{margin:.4em 0}summary{cursor:pointer}
"""


def _highlight(text: str, claims: list[dict[str, Any]]) -> str:
    spans = sorted((c["evidence"]["start"], c["evidence"]["end"], c["holder"]) for c in claims)
    out, at = [], 0
    for start, end, holder in spans:
        if start < at:
            continue  # overlapping evidence: the first one is shown
        out += [html.escape(text[at:start])]
        out += [f'<mark title="{html.escape(holder)}">{html.escape(text[start:end])}</mark>']
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def _cells(values: list[Any], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(v))}</{tag}>" for v in values) + "</tr>"


def html_report(
    rows: list[Row],
    cases: list[Case],
    checks: list[Check],
    meta: dict[str, Any],
    planted: Sequence[PlantResult] = (),
) -> str:
    metrics_head = _cells(["row", *(m.name for m in METRICS)], "th")
    metrics_rows = "".join(
        _cells([row.name, *(m.fmt.format(row.metrics[m.name]) for m in METRICS)]) for row in rows
    )
    gate = "".join(
        f'<li class="{"pass" if c.passed else "fail"}">{html.escape(str(c))}</li>' for c in checks
    )
    parts = [
        f"<!doctype html><meta charset=utf-8><title>newsbrief eval</title><style>{_CSS}</style>",
        f"<h1>newsbrief eval</h1><p>{meta['cases']} cases, {meta['mode']} mode, "
        f"generated {html.escape(meta['generated_at'])}</p>",
        f'<div style="overflow-x:auto"><table>{metrics_head}{metrics_rows}</table></div>'
        f"<h2>Gate</h2><ul>{gate}</ul>",
    ]
    if planted:
        head, *body = _planted_cells(planted)
        parts.append(
            "<h2>Planted errors</h2><p>Each plant carries one known error, or none (clean): "
            "the metric its kind must raise, and what it raised.</p><table>"
            + _cells(head, "th")
            + "".join(_cells(line) for line in body)
            + "</table>"
        )
    parts.append("<h2>Cases</h2>")
    for case in cases:
        parts.append(
            f"<details><summary><b>{html.escape(case.id)}</b> ({case.topic}; "
            f"{', '.join(case.tags) or 'no tags'})</summary>{_gold_html(case)}"
        )
        gold_passages = passages(case)
        for row in rows:
            score = next(s for s in row.scores if s.case_id == case.id)
            response = row.responses.get(case.id)
            parts.append(
                f"<details><summary>{html.escape(row.name)} — matched {score.matched}/"
                f"{score.gold}; raises: {html.escape(', '.join(raised(score)) or 'nothing')} "
                f"({html.escape(row.sources.get(case.id, ''))})</summary>"
            )
            if response is None:
                parts.append(f"<p class=fail>{html.escape(score.error or 'no response')}</p>")
            else:
                parts.append(_response_html(case, response, gold_passages))
            parts.append("</details>")
        parts.append("</details>")
    return "".join(parts)


def _gold_html(case: Case) -> str:
    gold = case.gold
    claims = [[g.holder, g.stance.value, g.target, g.evidence] for g in gold.claims]
    quotes = [[q.speaker, q.text, "yes" if q.position else "no"] for q in gold.quotes]
    return (
        "<h4>Gold claims</h4><table>"
        + _cells(["holder", "stance", "target", "evidence"], "th")
        + "".join(map(_cells, claims))
        + "</table><details><summary>Who said what (gold quotes)</summary><table>"
        + _cells(["speaker", "passage", "shows a position"], "th")
        + "".join(map(_cells, quotes))
        + "</table></details>"
    )


def _response_html(case: Case, response: dict[str, Any], gold: list[Passage]) -> str:
    summary = response["summary"]
    claims = [
        [
            c["holder"],
            c["stance"],
            c["target"],
            c["evidence"]["text"],
            f"{c['evidence']['start']}–{c['evidence']['end']}",
            judge(c["holder"], (c["evidence"]["start"], c["evidence"]["end"]), case, gold),
        ]
        for c in response["claims"]
    ]
    return (
        f"<p><b>{html.escape(summary['headline'])}</b><br>{html.escape(summary['lede'])}</p><ul>"
        + "".join(f"<li>{html.escape(b)}</li>" for b in summary["bullets"])
        + "</ul><table>"
        + _cells(["holder", "stance", "target", "evidence", "offsets", "gold says"], "th")
        + "".join(map(_cells, claims))
        + "</table><ul>"
        + "".join(
            f"<li>{html.escape(w['code'])}: {html.escape(w['detail'])}</li>"
            for w in response["warnings"]
        )
        + '</ul><div class="article">'
        + _highlight(case.article.text, response["claims"])
        + "</div>"
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
