"""deploy/ agrees with the service: real settings, real probe routes, enough time to shut down.

The schemas themselves are checked by `make deploy-check` (kubernetes-validate, check-jsonschema).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from service.api.app import create_app
from service.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def manifests() -> dict[str, dict[str, Any]]:
    docs = [
        d for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.open())
    ]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def api_env() -> dict[str, str]:
    container = manifests()["Deployment/newsbrief"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def test_every_setting_named_is_one_the_service_reads() -> None:
    known = {f"NEWSBRIEF_{name.upper()}" for name in Settings.model_fields}
    texts = [p.read_text() for p in DEPLOY.rglob("*.yaml")]
    named = {n for text in texts for n in re.findall(r"NEWSBRIEF_[A-Z0-9_]+", text)}
    assert named and named - known == set()


def test_kubernetes_gives_in_flight_requests_time_to_finish() -> None:
    pod = manifests()["Deployment/newsbrief"]["spec"]["template"]["spec"]
    grace = float(api_env().get("NEWSBRIEF_SHUTDOWN_GRACE_S", Settings().shutdown_grace_s))
    pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > grace + pause


def test_compose_gives_in_flight_requests_time_to_finish() -> None:
    api = compose()["services"]["api"]
    grace = float(api["environment"]["NEWSBRIEF_SHUTDOWN_GRACE_S"])
    assert int(api["stop_grace_period"].removesuffix("s")) > grace


def test_probes_and_ports_point_at_the_service() -> None:
    routes = create_app(Settings()).openapi()["paths"]
    container = manifests()["Deployment/newsbrief"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" in routes
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" in routes
    image_port = re.search(r"NEWSBRIEF_PORT=(\d+)", (DEPLOY.parent / "Dockerfile").read_text())
    assert image_port and container["ports"][0]["containerPort"] == int(image_port[1])


def test_selectors_match_the_pods_and_the_redis_service_exists() -> None:
    found = manifests()
    labels = found["Deployment/newsbrief"]["spec"]["template"]["metadata"]["labels"]
    assert found["Service/newsbrief"]["spec"]["selector"].items() <= labels.items()
    assert found["PodDisruptionBudget/newsbrief"]["spec"]["selector"]["matchLabels"] == labels
    hpa = found["HorizontalPodAutoscaler/newsbrief"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "newsbrief" and hpa["minReplicas"] >= 2
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    host = urlsplit(api_env()["NEWSBRIEF_REDIS_URL"]).hostname
    assert f"Service/{host}" in found


def test_compose_runs_several_replicas_on_one_redis() -> None:
    services = compose()["services"]
    api = services["api"]
    assert api["deploy"]["replicas"] >= 2
    assert urlsplit(api["environment"]["NEWSBRIEF_REDIS_URL"]).hostname in services


def test_replicas_keep_their_answers_in_one_postgresql() -> None:
    services = compose()["services"]
    url = services["api"]["environment"]["NEWSBRIEF_DATABASE_URL"]
    url = re.sub(r"\$\{[^}]*\}", "password", url)  # as compose fills it in
    assert url.startswith("postgresql://") and urlsplit(url).hostname in services
    assert "db" in services["api"]["depends_on"]
    found = manifests()
    assert "Service/newsbrief-postgres" in found and "StatefulSet/newsbrief-postgres" in found
    notes = (DEPLOY / "k8s" / "deployment.yaml").read_text()
    assert "NEWSBRIEF_DATABASE_URL=postgresql://" in notes and "@newsbrief-postgres:" in notes
