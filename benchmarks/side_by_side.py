"""An older commit's code against this checkout's, measured side by side.

The commit's tree is taken out with `git archive` into build/; each round runs a benchmark
script once on each tree, one after the other, in fresh processes (so each imports its own
tree's code), so load from other work on the machine hits both alike. The script, given
`--tree DIR`, prints one JSON object of figures; a figure's result is its median over the rounds.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
Runs = dict[str, list[dict[str, float]]]


def tree_of(commit: str, name: str) -> Path:
    """`commit`'s files in build/NAME, fresh."""
    tree = HERE / "build" / name
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=HERE, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def alternate(
    script: str,
    trees: dict[str, Path],
    rounds: int,
    args: list[str],
    on_run: Callable[[str, dict[str, float]], None] = lambda name, run: None,
) -> Runs:
    """`rounds` rounds of `script --tree TREE ARGS…` on each named tree in turn: every run's
    figures, by name."""
    runs: Runs = {name: [] for name in trees}
    for _ in range(rounds):
        for name, tree in trees.items():
            command = [sys.executable, script, "--tree", str(tree), *args]
            stdout = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(stdout))
            on_run(name, runs[name][-1])
    return runs


def medians(runs: Runs) -> dict[str, dict[str, float]]:
    """Each figure's median over the rounds, by name."""
    return {
        name: {key: statistics.median(run[key] for run in rs) for key in rs[0]}
        for name, rs in runs.items()
    }
