"""Metrics shared by worker processes through prometheus_client's multiprocess mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import Metrics

DOCS = Path(__file__).resolve().parents[2] / "docs"

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


@pytest.mark.slow  # two fresh interpreters, one per worker: most of a second
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


def exported_series() -> dict[str, set[str]]:
    """Each metric family newsbrief exports, with the sample names a query can use."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    return {
        family.name: {family.name + s for s in suffixes[family.type]}
        for family in Metrics().registry.collect()
    }


def test_the_dashboard_queries_every_series_and_only_those() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text(encoding="utf-8"))
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for q in queries for name in re.findall(r"\bnewsbrief_[a-z_]+", q)}
    series = exported_series()
    assert used <= set().union(*series.values()), used - set().union(*series.values())
    assert {f for f, names in series.items() if not names & used} == set()


def test_redis_errors_follow_the_links_running_count() -> None:
    metrics = Metrics()
    for total in (0, 3, 3, 5):
        metrics.redis_errors_now(total)
    assert metrics.registry.get_sample_value("newsbrief_redis_errors_total") == 5


def test_the_breaker_gauge_follows_every_change_and_labels_count_apart() -> None:
    """Label children are looked up once and the breaker gauge is written only when the state
    changes: both must still show exactly what happened."""
    metrics = Metrics()

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    for state in ("closed", "closed", "open", "open", "half-open", "closed"):
        metrics.breaker_state(state)
        shown = {s: value("newsbrief_llm_breaker_state", state=s) for s in ("closed", "open")}
        assert shown == {"closed": float(state == "closed"), "open": float(state == "open")}
    for status in (200, 200, 422):
        metrics.request("/v1/summaries", "POST", status, 0.01)
    ok = {"route": "/v1/summaries", "method": "POST"}
    assert value("newsbrief_http_requests_total", **ok, status="200") == 2
    assert value("newsbrief_http_requests_total", **ok, status="422") == 1
    assert value("newsbrief_http_request_duration_seconds_count", **ok) == 3
