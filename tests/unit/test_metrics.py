"""Metrics shared by worker processes through prometheus_client's multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from service.metrics import Metrics

WORKER = """
import sys
from service.metrics import Metrics

metrics = Metrics(sys.argv[1])
metrics.request("/v1/summaries", "POST", 200, 0.2)
metrics.breaker_state(sys.argv[2])
metrics.http_in_flight.inc()
if sys.argv[3] == "stops":
    metrics.close()
"""


def run_worker(directory: Path, breaker: str, ending: str) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    subprocess.run(
        [sys.executable, "-c", WORKER, str(directory), breaker, ending], env=env, check=True
    )


def test_workers_are_added_up_and_a_stopped_one_leaves_its_gauges(tmp_path: Path) -> None:
    run_worker(tmp_path, "open", "stops")  # a worker that shut down cleanly
    run_worker(tmp_path, "closed", "runs")  # one still serving
    scrape = Metrics(multiprocess_dir=str(tmp_path)).exposition().decode()
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
    }
    route = (("method", "POST"), ("route", "/v1/summaries"), ("status", "200"))
    assert values[("newsbrief_http_requests_total", route)] == 2  # counters outlive workers
    assert values[("newsbrief_http_requests_in_flight", ())] == 1
    assert values[("newsbrief_llm_breaker_state", (("state", "closed"),))] == 1
    assert values[("newsbrief_llm_breaker_state", (("state", "open"),))] == 0
