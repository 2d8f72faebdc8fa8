"""What reviewing an answer and building the brief cost per request, stage by stage, for an
older commit and this checkout, side by side.

    python benchmarks/review.py [--before COMMIT] [--rounds N]   # or `make bench-review`
    python benchmarks/review.py --tree DIR --corpus FILE         # one tree, JSON on stdout

The answers are every eval case's recorded final answer (both prompt versions) and the project's
fake LLM's answer for each article in tests/fixtures/articles. Each call ends its article with a
line of its own ("Ref. 0-<n>."), as benchmarks/post.lua does for wrk, so nothing kept per article
text (attribution's reading, the links found, the normalised text) serves a later call: each
stage costs what it costs inside a request with a new article. Stages, as pipeline.review and
pipeline._respond run them:
  parse    the answer's JSON validated into LLMOutput (parse_reply);
  links    links and images the article lacks taken out of the free text;
  ground   every claim located in the article and its attribution checked (hold);
  respond  claims selected, figures checked against the article, the response models built.
COMMIT's tree and this checkout are measured side by side on the same answers
(benchmarks/side_by_side.py). A figure is CPU time (time.process_time) per call: the mean over
the corpus, and the ferry-levy article alone (the one the HTTP benchmarks send); the median of
the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from side_by_side import alternate, medians, tree_of

HERE = Path(__file__).resolve().parents[1]
STAGES = ("parse", "links", "ground", "respond")
HOT = "ferry-levy"  # the article of benchmarks/run.py's hot-path row and of bench-breakdown
REPEATS = 30  # passes over the corpus per round


def corpus() -> list[dict[str, Any]]:
    """(article, title, answer) for every recorded final answer and every fixture article."""
    import yaml

    sys.path.insert(0, str(HERE))
    from newsbrief_dev.fake_llm import answer

    out = []
    for case in sorted((HERE / "evals" / "cases").glob("*.yaml")):
        article = yaml.safe_load(case.read_text(encoding="utf-8"))["article"]
        for cassette in sorted((HERE / "evals" / "cassettes").glob(f"*/{case.stem}.json")):
            final = json.loads(cassette.read_text(encoding="utf-8"))["responses"][-1]
            choices = (final.get("body") or {}).get("choices") or [{}]
            if content := choices[0].get("message", {}).get("content"):
                out.append({"name": case.stem, "text": article["text"], "answer": content})
                out[-1]["title"] = article.get("title")
    for path in sorted((HERE / "tests" / "fixtures" / "articles").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        out.append({"name": path.stem, "text": text, "title": None, "answer": answer(text)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", default="5766c98", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tree", type=Path, help="measure this tree alone; print JSON")
    parser.add_argument("--corpus", type=Path, help="with --tree: the answers to review")
    args = parser.parse_args()
    if args.tree is not None:
        print(json.dumps(measure(args.tree.resolve(), json.loads(args.corpus.read_text()))))
        return
    compare(args.before, args.rounds)


def compare(commit: str, rounds: int) -> None:
    before = tree_of(commit, "review-before")
    answers = HERE / "build" / "review-corpus.json"
    answers.write_text(json.dumps(corpus()))
    load = os.getloadavg()[0]
    trees = {"before": before, "now": HERE}
    median = medians(alternate(__file__, trees, rounds, ["--corpus", str(answers)]))
    print(f"CPU µs per call, median of {rounds} alternating rounds; before = {commit}")
    print(f"(load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, on 2 cores)\n")
    print(
        "| stage | all answers: before | now | now/before | ferry-levy: before | now | now/before |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for stage in (*STAGES, "total"):
        cells = []
        for scope in ("all", HOT):
            b, a = median["before"][f"{scope}:{stage}"], median["now"][f"{scope}:{stage}"]
            cells += [f"{b:.0f}", f"{a:.0f}", f"{a / b:.2f}"]
        print(f"| {stage} | {' | '.join(cells)} |")


def measure(tree: Path, answers: list[dict[str, Any]]) -> dict[str, float]:
    """CPU µs per call of each stage in `tree`'s code: over all answers, and the HOT one."""
    sys.path.insert(0, str(tree))
    from service import pipeline
    from service.llm import Reply
    from service.prompts import PromptRegistry
    from service.schemas import SummaryRequest, Usage

    assert Path(pipeline.__file__).is_relative_to(tree), pipeline.__file__
    prompt = PromptRegistry.from_dir(tree / "prompts", "summarize", "v1").get()
    spent = {f"{scope}:{stage}": 0.0 for scope in ("all", HOT) for stage in STAGES}
    calls = {"all": 0, HOT: 0}
    serial = 0
    clock = time.process_time

    for repeat in range(REPEATS + 1):  # the first pass warms up and is not counted
        for item in answers:
            serial += 1
            article = f"{item['text']}\n\nRef. 0-{serial}."
            body = {"article": {"text": article, "title": item["title"]}}
            request = SummaryRequest.model_validate(body)
            reply = Reply(item["answer"], None, "stop")
            scopes = ("all", HOT) if item["name"] == HOT else ("all",)
            times: dict[str, float] = dict.fromkeys(STAGES, 0.0)

            def step(stage: str, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
                started = clock()
                result = work(*args, **kwargs)
                times[stage] += clock() - started  # noqa: B023 - used at once, in this pass
                return result

            output, _ = step("parse", pipeline.parse_reply, reply, 1)
            assert output is not None, item["name"]
            cleaned, removed = step("links", pipeline._without_foreign_links, output, article)
            reviewed = step("ground", pipeline.hold, cleaned, article, removed)
            step("respond", pipeline._respond, request, reviewed, engine="llm", prompt=prompt,
                 model="bench-model", usage=Usage())  # fmt: skip
            if repeat:
                for scope in scopes:
                    calls[scope] += 1
                    for stage in STAGES:
                        spent[f"{scope}:{stage}"] += times[stage]
    out = {key: value * 1e6 / calls[key.split(":")[0]] for key, value in spent.items()}
    for scope in calls:
        out[f"{scope}:total"] = sum(out[f"{scope}:{stage}"] for stage in STAGES)
    return out


if __name__ == "__main__":
    main()
