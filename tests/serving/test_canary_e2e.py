"""End to end: stable and canaries as real processes, a real Prometheus, the template's queries.

Two kinds of processes are started on 127.0.0.1 and stopped by PID: `pipelines serve` (stable and
four canaries: healthy, injected errors, injected latency, degraded model) and Debian's
`prometheus` scraping them every second. Each service gets a `rollouts_pod_template_hash` target
label, as the ServiceMonitor gives each ReplicaSet's pods in the cluster; the stable service and
the three canaries of the good model all run the same model version, so only the hash tells them
apart. Bars of one prod instrument group are replayed to every service; then the
AnalysisTemplate's own PromQL (args substituted) is evaluated against that Prometheus with Argo
Rollouts' success/failure rules, and `pipelines analyze` is run too.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from pipelines.cli import main as cli_main
from tests.conftest import require_tool

from .conftest import (
    REPO_ROOT,
    Bundle,
    ServiceProcess,
    bars_payload,
    free_port,
    write_env,
)

TEMPLATE = REPO_ROOT / "environments" / "base" / "analysis" / "strategy-canary-analysis.yaml"
GROUP = ["KO", "PEP", "PG", "JNJ", "WMT"]  # prod's 25% step
GROUP_REGEX = "^(KO|PEP|PG|JNJ|WMT)$"  # as the Rollout passes it (the step's setHeaderRoute)
# Pod-template hashes of the five "ReplicaSets" (made up, shaped like Kubernetes' hashes).
HASHES = {
    "stable": "5d8c9f7b46",
    "canary-ok": "7f6b4c9d58",
    "canary-errors": "6c5d8b7f94",
    "canary-slow": "84b7c6d5f9",
    "canary-degraded": "9b7d5f468c",
}
REPLAY_BARS = 80
WINDOW = "5m"


def argo_outcome(metric: dict, values: list[float]) -> str:
    """Argo Rollouts' EvaluateResult for a Prometheus vector result (conditions in expr syntax)."""

    def holds(condition: str) -> bool:
        python = condition.replace("&&", " and ").replace("||", " or ")
        return bool(eval(python, {"__builtins__": {}}, {"len": len, "result": values}))  # noqa: S307 - our own template

    success = holds(metric["successCondition"]) if "successCondition" in metric else False
    failure = holds(metric["failureCondition"]) if "failureCondition" in metric else not success
    if failure:
        return "Failed"
    return "Successful" if success else "Inconclusive"


def resolved_metrics(args: dict[str, str]) -> dict[str, dict]:
    template = yaml.safe_load(TEMPLATE.read_text())
    values = {a["name"]: a.get("value") for a in template["spec"]["args"]} | args

    def sub(text: str) -> str:
        return re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: str(values[m.group(1)]), text)

    out = {}
    for metric in template["spec"]["metrics"]:
        if "prometheus" in metric["provider"]:
            resolved = {k: sub(v) for k, v in metric.items() if k.endswith("Condition")}
            resolved["query"] = sub(metric["provider"]["prometheus"]["query"])
            out[metric["name"]] = resolved
    return out


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    binary = require_tool("prometheus", "PROMETHEUS")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    log = (tmp_path / "prometheus.log").open("wb")
    # The config needs the services' ports: the test starts Prometheus through `start`.
    state: dict[str, subprocess.Popen] = {}

    def start(targets: dict[str, str]) -> str:
        """Scrape each ``{pod-template hash: host:port}`` with that hash as a target label."""
        static = [
            {"targets": [target], "labels": {"rollouts_pod_template_hash": pod_hash}}
            for pod_hash, target in targets.items()
        ]
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [{"job_name": "strategy", "static_configs": static}],
                }
            )
        )
        state["proc"] = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("prometheus did not become ready")

    try:
        yield start, tmp_path  # type: ignore[misc]
    finally:
        proc = state.get("proc")
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log.close()


def warm_up(services: dict[str, ServiceProcess], bars: pd.DataFrame, window: int) -> None:
    """Fill every buffer before the analysis window opens (as a running service would be)."""
    for svc in services.values():
        for instrument in GROUP:
            rows = bars[bars["instrument"] == instrument].iloc[:window]
            reply = httpx.post(
                f"{svc.url}/v1/signal",
                json={"instrument": instrument, "bars": bars_payload(rows)},
                headers={"X-Instrument": instrument},
                timeout=10,
            )
            assert reply.status_code in (200, 500), reply.text


async def replay(
    services: dict[str, ServiceProcess], bars: pd.DataFrame, window: int
) -> dict[str, int]:
    """Each service gets one sequential stream, bar by bar in time order across the group."""
    sent = dict.fromkeys(services, 0)
    per_instrument = {i: bars[bars["instrument"] == i] for i in GROUP}
    order = [
        (i, per_instrument[i].iloc[[k]]) for k in range(window, window + REPLAY_BARS) for i in GROUP
    ]
    async with httpx.AsyncClient(timeout=10.0) as client:

        async def stream(name: str, svc: ServiceProcess) -> None:
            for instrument, row in order:
                await client.post(
                    f"{svc.url}/v1/signal",
                    json={"instrument": instrument, "bars": bars_payload(row)},
                    headers={"X-Instrument": instrument},
                )
                sent[name] += 1

        await asyncio.gather(*(stream(n, s) for n, s in services.items()))
    return sent


def query(url: str, promql: str) -> list[float]:
    reply = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert reply["status"] == "success", reply
    return [float(r["value"][1]) for r in reply["data"]["result"]]


@pytest.mark.slow
def test_template_queries_catch_each_bad_candidate(
    tmp_path: Path,
    bundles: dict[str, Bundle],
    market_bars: pd.DataFrame,
    service_factory: list[ServiceProcess],
    prometheus,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start_prometheus, _ = prometheus
    good, bad = bundles["good"], bundles["degraded"]
    plan = {
        "stable": (good, {}),
        "canary-ok": (good, {}),
        "canary-errors": (good, {"SERVING_INJECT_ERROR_RATE": "0.1"}),
        "canary-slow": (
            good,
            {"SERVING_INJECT_LATENCY_MS": "300", "SERVING_INJECT_LATENCY_RATE": "0.05"},
        ),
        "canary-degraded": (bad, {}),
    }
    services: dict[str, ServiceProcess] = {}
    for version, (bundle, env) in plan.items():
        manifest, settings = write_env(tmp_path / version, bundle, instruments=GROUP)
        svc = ServiceProcess(manifest, settings, tmp_path / f"{version}.log", **env)
        service_factory.append(svc)
        services[version] = svc
    for svc in services.values():
        svc.wait_ready()
    bars = market_bars[
        (market_bars["timestamp"] >= "2016-01-01") & market_bars["instrument"].isin(GROUP)
    ]
    window = 64
    warm_up(services, bars, window)
    url = start_prometheus(
        {HASHES[name]: f"127.0.0.1:{s.metrics_port}" for name, s in services.items()}
    )
    # The window's baseline: every service scraped at least once (with its warm-up counts)
    # before the replay starts, so rate() over the window sees the replay as an increase.
    # A fixed sleep was not enough on a loaded machine.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(query(url, "sum by (rollouts_pod_template_hash) (strategy_requests_total)")) == len(
            services
        ):
            break
        time.sleep(0.25)
    else:
        raise AssertionError("prometheus never scraped every service before the replay")
    time.sleep(1.5)  # and one more scrape round, so the baseline is not the only early sample
    sent = asyncio.run(replay(services, bars, window))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen = query(url, "sum by (rollouts_pod_template_hash) (strategy_requests_total)")
        if len(seen) == len(services) and min(seen) >= min(sent.values()):
            break
        time.sleep(0.5)
    time.sleep(1.5)

    verdicts: dict[str, dict[str, str]] = {}
    measured: dict[str, dict[str, list[float]]] = {}
    versions = query(url, "count by (model_version) (strategy_model_info)")
    assert len(versions) == 2, "stable and three canaries share one model version"
    for version in plan:
        if version == "stable":
            continue
        metrics = resolved_metrics(
            {
                "canary-hash": HASHES[version],
                "stable-hash": HASHES["stable"],
                "instruments": GROUP_REGEX,
                "window": WINDOW,
            }
        )
        values = {name: query(url, m["query"]) for name, m in metrics.items()}
        measured[version] = values
        verdicts[version] = {name: argo_outcome(metrics[name], v) for name, v in values.items()}
    all_metrics = set(verdicts["canary-ok"])
    assert verdicts["canary-ok"] == dict.fromkeys(all_metrics, "Successful"), measured
    assert verdicts["canary-errors"]["error-rate"] == "Failed", measured
    assert verdicts["canary-errors"]["latency-p99"] == "Successful", measured
    assert verdicts["canary-slow"]["latency-p99"] == "Failed", measured
    assert verdicts["canary-slow"]["error-rate"] == "Successful", measured
    assert verdicts["canary-degraded"]["sharpe-drop"] == "Failed", measured
    assert verdicts["canary-degraded"]["win-rate-drop"] == "Failed", measured
    assert verdicts["canary-degraded"]["error-rate"] == "Successful", measured
    assert verdicts["canary-degraded"]["latency-p99"] == "Successful", measured

    settings = str(REPO_ROOT / "environments" / "prod" / "settings.yaml")

    def analyze(version: str, *extra: str) -> tuple[int, str]:
        """`pipelines analyze` through the real CLI entry (in process: no second import)."""
        capsys.readouterr()
        code = cli_main(
            [
                "analyze",
                "--prometheus-url",
                url,
                "--canary-hash",
                HASHES[version],
                "--stable-hash",
                HASHES["stable"],
                "--instruments",
                GROUP_REGEX,
                "--settings",
                settings,
                "--window",
                WINDOW,
                *extra,
            ]
        )
        return code, capsys.readouterr().out

    code, out = analyze("canary-ok")
    assert code == 0, out
    code, out = analyze("canary-degraded")
    assert code == 1 and "| sharpe_drop |" in out, out
    code, out = analyze("canary-ok", "--min-trades", "100000")
    assert code == 3 and "INCONCLUSIVE" in out, out
