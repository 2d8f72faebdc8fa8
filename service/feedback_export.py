"""Reviewer feedback → eval case drafts: `newsbrief feedback export` writes one per reviewed brief.

Each draft is DIR/cases/<id>.yaml in the eval case format (newsbrief_dev/evals/dataset.py), tagged
`feedback-draft`, and, when the brief came from a model, DIR/cassettes/<prompt ref>/<id>.json: the
model's accepted answer as a cassette (newsbrief_dev/evals/cassettes.py), so `newsbrief eval
--evals-dir DIR --prompt <ref>` replays it offline. Both formats are written here with runtime
libraries only, since a production install has no dev tools; tests load the files with the dev
readers to hold the formats together.

The gold: claims the reviewer marked correct, and corrected claims with the correction applied
(the latest verdict on a claim wins), each holder with the other names the article gives them, so
a prompt version that writes "Senator Marsh" for "Ana Marsh" is still judged on the same person.
The case format has no "must not be claimed" entry (its `forbidden` is for injected text), so a
claim marked wrong without a correction is left out and named in the draft's header, as are
unreviewed claims and summary-field feedback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from service.attribution import People, analyse
from service.grounding import locate
from service.schemas import Claim, FeedbackOut
from service.store.records import ReviewedSummary

DRAFT_TAG = "feedback-draft"


@dataclass
class ExportResult:
    """What an export wrote, and what it passed over (one line each, for the CLI)."""

    reviewed: int = 0
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def export_drafts(
    reviewed: Iterable[ReviewedSummary], out: Path, *, force: bool = False
) -> ExportResult:
    """Write a case draft (and cassette) per reviewed brief; an existing case is kept unless
    `force`, and said so."""
    result = ExportResult()
    for brief in reviewed:
        result.reviewed += 1
        case_path = out / "cases" / f"{brief.id}.yaml"
        if case_path.exists() and not force:
            result.skipped.append(f"{brief.id}: {case_path} exists (--force replaces it)")
            continue
        if brief.article_text is None:
            result.skipped.append(f"{brief.id}: the store kept no article text, only its hash")
            continue
        gold, notes = gold_claims(brief.article_text, brief.claims, brief.feedback)
        if not gold:
            result.skipped.append(f"{brief.id}: no claim marked correct or corrected")
            continue
        ref = brief.prompt_ref  # name@version, as `newsbrief eval --prompt` and cassettes spell it
        case_path.parent.mkdir(parents=True, exist_ok=True)
        case_path.write_text(_header(brief, ref, notes) + _case_yaml(brief, gold), encoding="utf-8")
        result.written.append(case_path)
        if ref is None or brief.upstream_text is None:
            continue  # extractive, or answered from the cache: no model answer to replay
        cassette_path = out / "cassettes" / ref / f"{brief.id}.json"
        cassette_path.parent.mkdir(parents=True, exist_ok=True)
        cassette = json.dumps(_cassette(brief, ref, brief.upstream_text), indent=2)
        cassette_path.write_text(cassette + "\n", encoding="utf-8")
        result.written.append(cassette_path)
    return result


def gold_claims(
    text: str, claims: list[Claim], feedback: list[FeedbackOut]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The gold claims the verdicts make, and a note for everything left out of them."""
    latest: dict[int, FeedbackOut] = {}
    notes = []
    people = analyse(text).people
    for f in feedback:  # oldest first: a later verdict on the same claim replaces an earlier one
        if f.claim is not None:
            latest[f.claim] = f
        else:
            notes.append(f"{f.field} marked {f.verdict}{_said(f.corrected)}")
    gold = []
    for index, claim in enumerate(claims):
        label = f"claim {index} ({claim.holder}, {claim.stance.value})"
        verdict = latest.get(index)
        if verdict is None:
            notes.append(f"{label} not reviewed")
            continue
        corrected = verdict.corrected or {}
        if verdict.verdict != "correct" and not corrected:
            notes.append(f"{label} marked {verdict.verdict}, no correction")
            continue
        made = _gold_claim(text, people, claim, corrected)
        if isinstance(made, str):
            notes.append(f"{label}: {made}")
        else:
            gold.append(made)
    return gold, notes


def _gold_claim(
    text: str, people: People, claim: Claim, corrected: dict[str, Any]
) -> dict[str, Any] | str:
    """One gold claim with the corrections applied, or why there is none."""
    target = corrected.get("target") or claim.target
    if not target:
        return "no target (the extractive engine names none) and none corrected"
    span: tuple[int, int] = (claim.evidence.start, claim.evidence.end)
    if corrected.get("evidence"):
        found = locate(str(corrected["evidence"]), text)
        if found is None:
            return "the corrected evidence is not in the article"
        span = (found.start, found.end)
    holder = str(corrected.get("holder") or claim.holder)
    role = corrected.get("holder_role") or claim.holder_role
    return {
        "holder": holder,
        "aliases": aliases(text, people, holder, str(role) if role else None),
        "stance": corrected.get("stance") or claim.stance.value,
        "target": target,
        # The whole target phrase: a claim about it then matches by its words (token F1) or by
        # naming it; an editor may list shorter keywords.
        "target_keywords": [target],
        "evidence": unique_passage(text, *span),
    }


# The honorifics an article puts before a surname alone ("Ms. Okafor").
_HONORIFICS = ("Mr.", "Mrs.", "Ms.", "Mx.", "Dr.", "Prof.")


def aliases(text: str, people: People, holder: str, role: str | None) -> list[str]:
    """The other names the article uses for the holder, by attribution's rules for one article:
    the full name, with its title, and the surname alone (with a title or honorific) when no one
    else in the article has it."""
    person = people.resolve(holder.split(), role).person
    if person is None:
        return []
    names = {person.name}
    if person.title:
        names.add(f"{person.title} {person.name}")
    if len(people.by_surname[person.surname]) == 1:
        names.add(person.surname)
        if person.title:
            names.add(f"{person.title} {person.surname}")
        polite = (f"{h} {person.surname}" for h in _HONORIFICS)
        names.update(name for name in polite if name in text)
    return sorted(names - {holder})


def unique_passage(text: str, start: int, end: int) -> str:
    """text[start:end], widened word by word until it occurs once: the case format needs each
    gold passage to say which of its occurrences it means."""
    while True:
        passage = text[start:end].strip()
        found = locate(passage, text)
        if found is None or locate(passage, text[found.end :]) is None:
            return passage
        if start == 0 and end == len(text):
            return passage
        start = text.rfind(" ", 0, max(start - 1, 0)) + 1
        space = text.find(" ", end + 1)
        end = len(text) if space < 0 else space


def _said(corrected: dict[str, Any] | None) -> str:
    return f"; corrected: {json.dumps(corrected, ensure_ascii=False)}" if corrected else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _header(brief: ReviewedSummary, ref: str | None, notes: list[str]) -> str:
    made_by = f"{ref or brief.engine} on {brief.model}" if brief.model else (ref or brief.engine)
    lines = [
        f"DRAFT from reviewer feedback on stored brief {brief.id}",
        f"({made_by}, stored {brief.created_at.isoformat(timespec='seconds')}),",
        "written by `newsbrief feedback export`. Gold claims: those marked correct, and corrected",
        "ones as corrected. Before moving it into evals/cases: check the gold, add a topic,",
        "gold.language and gold.key_facts, then drop the feedback-draft tag.",
    ]
    if notes:
        lines.append("Left out of the gold:")
        lines += [f"- {_one_line(n)}" for n in notes]
    return "".join(f"# {line}\n" for line in lines)


class _Dumper(yaml.SafeDumper):
    """Multi-line text (the article) as a literal block, as the hand-written cases have it."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _case_yaml(brief: ReviewedSummary, gold: list[dict[str, Any]]) -> str:
    article = {
        "title": brief.title,
        "url": brief.url,
        "source": brief.source,
        "published_at": brief.published_at.isoformat() if brief.published_at else None,
        "language": brief.language,
        "text": brief.article_text,
    }
    quotes = sorted({(g["holder"], g["evidence"]) for g in gold})
    case_gold = {
        "language": _primary(brief.language),
        "claims": gold,
        # Each gold claim's evidence is its holder's passage, one that shows a position.
        "quotes": [{"speaker": speaker, "text": passage} for speaker, passage in quotes],
    }
    case = {
        "id": brief.id,
        "tags": [DRAFT_TAG],
        "article": _given(article),
        "options": brief.options,
        "gold": _given(case_gold),
    }
    return yaml.dump(case, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _primary(language: str | None) -> str | None:
    """The BCP 47 tag's language ("en-GB" → "en"), as the eval compares languages."""
    return language.split("-")[0].lower() if language else None


def _cassette(brief: ReviewedSummary, ref: str, answer: str) -> dict[str, Any]:
    model = brief.model or "unknown"
    body = {
        "id": f"chatcmpl-{brief.id}",
        "object": "chat.completion",
        "created": int(brief.created_at.timestamp()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    return {
        "source": "recorded",
        "prompt": ref,
        "case": brief.id,
        "model": model,
        "recorded_at": brief.created_at.isoformat(timespec="seconds"),
        "note": "Exported from the store: the answer the model gave when this brief was made "
        "(the one accepted; answers a reask replaced are not kept).",
        "responses": [{"status": 200, "body": body}],
    }
