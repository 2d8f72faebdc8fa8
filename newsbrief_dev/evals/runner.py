"""Run the eval: every case through the real pipeline, per prompt version, plus the extractive row.

Replay answers each LLM call from a cassette; live mode calls the configured endpoint and can
record what it answers. Either way it is `summarize_article`, as the API runs it, that is scored.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsbrief_dev.evals import cassettes
from newsbrief_dev.evals.dataset import Case
from newsbrief_dev.evals.metrics import CaseScore, aggregate, failed_case, score_case
from service.errors import NewsbriefError
from service.llm import LLMClient
from service.pipeline import summarize_article
from service.prompts import PromptRegistry
from service.schemas import LLMOutput, SummaryRequest, SummaryResponse
from service.settings import Settings

EXTRACTIVE = "extractive"


@dataclass
class Row:
    """One engine or prompt version across the cases."""

    name: str
    scores: list[CaseScore] = field(default_factory=list)
    responses: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return aggregate(self.scores)


async def _no_wait(seconds: float) -> None:
    """Replayed retries need not wait: the cassette has already answered."""


class Progress:
    """A one-line progress bar on a terminal; one line per row elsewhere (CI logs)."""

    def __init__(self, total: int, stream: Any = None) -> None:
        stream = stream or sys.stderr  # looked up now: tests and tools swap sys.stderr
        self.total, self.done, self.stream = total, 0, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def step(self, row: str, case_id: str) -> None:
        self.done += 1
        if self.tty:
            filled = round(30 * self.done / self.total)
            bar = "#" * filled + "." * (30 - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {row} {case_id:<30.30}")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()

    def row_done(self, row: Row, seconds: float) -> None:
        if not self.tty:
            self.stream.write(f"eval: {row.name}: {len(row.scores)} cases in {seconds:.2f} s\n")


async def _run_case(
    case: Case,
    version: str | None,
    registry: PromptRegistry,
    settings: Settings,
    llm: LLMClient | None,
) -> tuple[SummaryResponse | None, str | None]:
    request = SummaryRequest(article=case.article, prompt_version=version, options=case.options)
    try:
        response = await summarize_article(request, prompts=registry, llm=llm, settings=settings)
    except NewsbriefError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return response, None


def score(
    case: Case,
    response: SummaryResponse | None,
    error: str | None,
    exchanges: list[cassettes.Exchange] | None = None,
) -> CaseScore:
    """Score one case; `exchanges` are the upstream answers behind an LLM response."""
    if response is None:
        return failed_case(case, error or "no answer")
    answers: list[LLMOutput] | None = None
    if exchanges is not None:
        answers = [a for e in exchanges if (a := cassettes.answer(e)) is not None]
    return score_case(case, response, answers)


def _record(
    row: Row,
    case: Case,
    response: SummaryResponse | None,
    error: str | None,
    exchanges: list[cassettes.Exchange] | None = None,
) -> None:
    row.scores.append(score(case, response, error, exchanges))
    row.responses[case.id] = response.model_dump(mode="json") if response else None


async def extractive_row(
    cases: list[Case], registry: PromptRegistry, settings: Settings, progress: Progress
) -> Row:
    row = Row(EXTRACTIVE)
    for case in cases:
        response, error = await _run_case(case, None, registry, settings, None)
        _record(row, case, response, error)
        row.sources[case.id] = "extractive"
        progress.step(row.name, case.id)
    return row


@dataclass
class Replayed:
    """One case answered from one cassette through the real pipeline."""

    response: SummaryResponse | None
    error: str | None
    served: list[cassettes.Exchange]
    stale: bool


async def replay_case(
    case: Case, cassette: cassettes.Cassette, registry: PromptRegistry, settings: Settings
) -> Replayed:
    """summarize_article on the case, every LLM call answered from the cassette."""
    replay = cassettes.Replay(cassette)
    replay_settings = settings.model_copy(
        update={
            "llm_base_url": cassettes.REPLAY_BASE_URL,
            "llm_model": cassette.model or "cassette",
        }
    )
    version = registry.get(cassette.prompt).spec.version
    async with replay.client:
        llm = LLMClient(replay.client, replay_settings, sleep=_no_wait)
        response, error = await _run_case(case, version, registry, replay_settings, llm)
    return Replayed(response, error, replay.served, replay.stale)


async def replay_row(
    prompt_ref: str,
    cases: list[Case],
    registry: PromptRegistry,
    settings: Settings,
    root: Path,
    progress: Progress,
) -> Row:
    row = Row(prompt_ref)
    for case in cases:
        try:
            cassette = cassettes.load(root, prompt_ref, case.id)
        except NewsbriefError as exc:
            _record(row, case, None, str(exc))
            row.sources[case.id] = "missing"
            progress.step(row.name, case.id)
            continue
        done = await replay_case(case, cassette, registry, settings)
        _record(row, case, done.response, done.error, done.served)
        row.scores[-1].stale = done.stale
        row.sources[case.id] = cassette.source
        progress.step(row.name, case.id)
    return row


async def live_row(
    prompt_ref: str,
    cases: list[Case],
    registry: PromptRegistry,
    settings: Settings,
    root: Path,
    progress: Progress,
    *,
    record: bool,
    force: bool,
    on_saved: Callable[[Path], None] = lambda p: None,
) -> Row:
    """Against the configured endpoint; with record, each case's exchanges become a cassette."""
    row = Row(prompt_ref)
    version = registry.get(prompt_ref).spec.version
    for case in cases:
        recorder = cassettes.Recorder()
        async with recorder.client:
            llm = LLMClient(recorder.client, settings)
            response, error = await _run_case(case, version, registry, settings, llm)
        _record(row, case, response, error, recorder.exchanges)
        row.sources[case.id] = "live"
        if record and recorder.exchanges:
            cassette = recorder.cassette(prompt_ref, case.id, settings.llm_model)
            on_saved(cassettes.save(root, cassette, force=force))
        progress.step(row.name, case.id)
    return row


async def run_eval(
    cases: list[Case],
    prompt_refs: list[str],
    registry: PromptRegistry,
    settings: Settings,
    root: Path,
    *,
    live: bool = False,
    record: bool = False,
    force: bool = False,
    baseline_row: bool = True,
    progress_stream: Any = None,
    on_saved: Callable[[Path], None] = lambda p: None,
) -> list[Row]:
    rows_total = len(prompt_refs) + (1 if baseline_row else 0)
    progress = Progress(rows_total * len(cases), progress_stream)
    rows = []
    if baseline_row:
        started = time.perf_counter()
        rows.append(await extractive_row(cases, registry, settings, progress))
        progress.row_done(rows[-1], time.perf_counter() - started)
    for ref in prompt_refs:
        started = time.perf_counter()
        if live:
            row = await live_row(
                ref,
                cases,
                registry,
                settings,
                root,
                progress,
                record=record,
                force=force,
                on_saved=on_saved,
            )
        else:
            row = await replay_row(ref, cases, registry, settings, root, progress)
        rows.append(row)
        progress.row_done(row, time.perf_counter() - started)
    return rows
