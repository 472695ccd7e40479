"""The rendered Rollout, Services, ServiceMonitor and NetworkPolicy agree with `pipelines serve`.

The container's args are parsed by the real CLI parser, so the ports the pod listens on are the
ones `pipelines serve` would bind; every object that names a port is checked against them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pipelines.cli import build_parser
from pipelines.config import load_params
from pipelines.delivery.lint.runner import render
from tests.conftest import REPO_ROOT, require_tool

ENVS = ["dev", "staging", "prod"]


def serve_ports(command: list[str], args: list[str]) -> tuple[int, int]:
    """(API port, metrics port) that `pipelines serve` binds for these container args."""
    assert command == ["pipelines"] and args[0] == "serve"
    parsed = build_parser().parse_args(args)
    cfg = load_params(REPO_ROOT / "params.yaml").serving
    return parsed.port or cfg.port, parsed.metrics_port or cfg.metrics_port


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.fixture(scope="module", params=ENVS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    require_tool("kubectl")
    return render(REPO_ROOT / "environments" / request.param)


def container(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = of_kind(docs, "Rollout")[0]["spec"]["template"]
    return pod, next(c for c in pod["spec"]["containers"] if c["name"] == "strategy")


def test_container_ports_are_the_ports_serve_binds(rendered: list[dict[str, Any]]) -> None:
    _, strategy = container(rendered)
    api, metrics = serve_ports(strategy["command"], strategy["args"])
    ports = {p["name"]: p["containerPort"] for p in strategy["ports"]}
    assert ports == {"http": api, "metrics": metrics}
    assert strategy["readinessProbe"]["httpGet"]["port"] == "http"


def test_metrics_port_is_scraped_and_never_exposed_by_the_api_services(
    rendered: list[dict[str, Any]],
) -> None:
    monitor = of_kind(rendered, "ServiceMonitor")[0]
    selector = monitor["spec"]["selector"]["matchLabels"]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    for service in of_kind(rendered, "Service"):
        targets = {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}
        scraped = selector.items() <= service["metadata"].get("labels", {}).items()
        if scraped:
            assert targets == {endpoint["port"]: "metrics"}, service["metadata"]["name"]
            assert service["spec"].get("clusterIP") == "None"
        else:
            assert set(targets.values()) == {"http"}, service["metadata"]["name"]


def test_network_policy_admits_only_the_gateway_and_prometheus(
    rendered: list[dict[str, Any]],
) -> None:
    pod, _ = container(rendered)
    [policy] = of_kind(rendered, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert spec["policyTypes"] == ["Ingress"]
    allowed = {
        rule["ports"][0]["port"]: [
            (peer["namespaceSelector"]["matchLabels"], peer["podSelector"]["matchLabels"])
            for peer in rule["from"]
        ]
        for rule in spec["ingress"]
    }
    assert allowed == {
        "http": [({"kubernetes.io/metadata.name": "istio-system"}, {"istio": "ingressgateway"})],
        "metrics": [
            (
                {"kubernetes.io/metadata.name": "monitoring"},
                {"app.kubernetes.io/name": "prometheus"},
            )
        ],
    }
    # Prometheus is the one the analysis queries: prometheus-operated in `monitoring`.
    for name in ("strategy-service-level", "strategy-trading-kpis"):
        template = yaml.safe_load(
            (REPO_ROOT / f"environments/base/analysis/{name}.yaml").read_text()
        )
        assert ".monitoring.svc" in str(template)


def test_pre_stop_delay_and_grace_cover_the_drain(rendered: list[dict[str, Any]]) -> None:
    pod, strategy = container(rendered)
    delay = strategy["lifecycle"]["preStop"]["sleep"]["seconds"]
    limits = load_params(REPO_ROOT / "params.yaml").serving.limits
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert delay >= 5
    assert grace >= delay + limits.shutdown_timeout_seconds + limits.drain_idle_seconds


def test_deploy_smoke_request_asks_the_smoke_servers_api_port_about_its_manifest() -> None:
    """`pipelines smoke` (the request step) reaches the API port the smoke server binds, not its
    metrics port, and checks the answer against the manifest that server serves."""
    doc = yaml.safe_load((REPO_ROOT / "deploy/argo/deploy.yaml").read_text())
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    serve = templates["smoke-serve"]["container"]
    api, metrics = serve_ports(serve["command"], serve["args"])
    served = build_parser().parse_args(serve["args"])
    request = templates["smoke-request"]["container"]
    assert request["command"] == ["pipelines"] and request["args"][0] == "smoke"
    smoke = build_parser().parse_args(request["args"])
    url = urlsplit(smoke.url)
    assert url.hostname == "{{inputs.parameters.address}}" and url.path in ("", "/")
    assert url.port == api and api != metrics
    assert serve["readinessProbe"]["httpGet"]["port"] == api
    workdir = request["workingDir"]
    assert served.manifest == f"{workdir}/{smoke.manifest}"
    assert served.settings == f"{workdir}/{smoke.settings}"
