"""End to end: stable and canaries as real processes, a real Prometheus, the templates' queries.

Two kinds of processes are started on 127.0.0.1 and stopped by PID: `pipelines serve` (stable and
four canaries: healthy, injected errors, injected latency, degraded model) and Debian's
`prometheus` scraping them every second. Each service gets a
`rollouts_pod_template_hash` target label, as the ServiceMonitor gives each ReplicaSet's pods in
the cluster; the stable service and the good canaries run the same model version, so only the
hash tells them apart. As in prod's canary, the stable receives the bars of the paired
instruments live and every canary receives the same requests as mirrored copies (Host
``strategy-service-shadow``). Then both AnalysisTemplates' own PromQL (args substituted, as the
twin's AnalysisRun controller substitutes them) is evaluated against that Prometheus with the
twin's implementation of Argo's condition rules, and `pipelines analyze` is run too.
"""

from __future__ import annotations

import asyncio
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
from twin.cluster.analysis_rules import evaluate_result
from twin.cluster.analysis_run import resolve_args

from .conftest import (
    REPO_ROOT,
    Bundle,
    ServiceProcess,
    bars_payload,
    free_port,
    write_env,
)

ANALYSIS = REPO_ROOT / "environments" / "base" / "analysis"
TEMPLATES = [ANALYSIS / "strategy-service-level.yaml", ANALYSIS / "strategy-trading-kpis.yaml"]
# Prod's 50% step routes KO, PEP, PG, JNJ, WMT (and five more) live; these are paired instead.
GROUP = ["KO", "PEP", "PG", "JNJ", "WMT"]
GROUP_REGEX = "^(KO|PEP|PG|JNJ|WMT)$"
# Pod-template hashes of the "ReplicaSets" (made up, shaped like Kubernetes' hashes).
HASHES = {
    "stable": "5d8c9f7b46",
    "canary-ok": "7f6b4c9d58",
    "canary-errors": "6c5d8b7f94",
    "canary-slow": "84b7c6d5f9",
    "canary-degraded": "9b7d5f468c",
}
REPLAY_BARS = 30
WINDOW = "5m"
SINCE = "2m"  # the KPI counters' range: longer than the replay
SHADOW_HOST = "strategy-service-shadow:8080"


def resolved_metrics(args: dict[str, str]) -> dict[str, dict]:
    """Both templates' metrics with their args resolved, as the AnalysisRun controller does."""
    metrics: dict[str, dict] = {}
    declared: dict[str, str | None] = {}
    for path in TEMPLATES:
        template = yaml.safe_load(path.read_text())
        declared |= {a["name"]: a.get("value") for a in template["spec"]["args"]}
        metrics |= {m["name"]: m for m in template["spec"]["metrics"]}
    values = declared | args
    return {name: resolve_args(metric, values) for name, metric in metrics.items()}


def argo_outcome(metric: dict, url: str) -> tuple[str, list[float]]:
    """Query the metric's PromQL and judge the value with Argo's rules (twin implementation)."""
    values = query(url, metric["provider"]["prometheus"]["query"])
    phase, message = evaluate_result(metric, values)
    assert phase != "Error", message
    return phase, values


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
    for name, svc in services.items():
        host = "strategy-service:8080" if name == "stable" else SHADOW_HOST
        for instrument in GROUP:
            rows = bars[bars["instrument"] == instrument].iloc[:window]
            reply = httpx.post(
                f"{svc.url}/v1/signal",
                json={"instrument": instrument, "bars": bars_payload(rows)},
                headers={"X-Instrument": instrument, "Host": host},
                timeout=10,
            )
            assert reply.status_code in (200, 500), reply.text


async def replay(
    services: dict[str, ServiceProcess], bars: pd.DataFrame, window: int
) -> dict[str, int]:
    """The stable gets each bar live; every canary the same request as a mirrored copy.

    Bars go out in lock-step (every service gets bar k before any gets bar k + 1); after the
    first bar the replay waits for Prometheus to scrape every service holding it, as the
    template pairs the two sides only at instants when both hold the same newest bar.
    """
    sent = dict.fromkeys(services, 0)
    per_instrument = {i: bars[bars["instrument"] == i] for i in GROUP}
    async with httpx.AsyncClient(timeout=10.0) as client:

        async def one(name: str, svc: ServiceProcess, k: int, instrument: str) -> None:
            host = "strategy-service:8080" if name == "stable" else SHADOW_HOST
            await client.post(
                f"{svc.url}/v1/signal",
                json={
                    "instrument": instrument,
                    "bars": bars_payload(per_instrument[instrument].iloc[[k]]),
                },
                headers={"X-Instrument": instrument, "Host": host},
            )
            sent[name] += 1

        for k in range(window, window + REPLAY_BARS):
            await asyncio.gather(*(one(n, s, k, i) for n, s in services.items() for i in GROUP))
            if k == window:
                await asyncio.sleep(2.5)  # two scrape rounds holding the same newest bar
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

    versions = query(url, "count by (model_version) (strategy_model_info)")
    assert len(versions) == 2, "stable and the good canaries share one model version"
    verdicts: dict[str, dict[str, str]] = {}
    measured: dict[str, dict[str, list[float]]] = {}
    for version in [*plan, "canary-few-trades"]:
        if version == "stable":
            continue
        few = version == "canary-few-trades"  # canary-ok judged with a min-trades it cannot meet
        metrics = resolved_metrics(
            {
                "canary-hash": HASHES["canary-ok" if few else version],
                "min-trades": str(5 * REPLAY_BARS + 1) if few else "30",
                "stable-hash": HASHES["stable"],
                "instruments": GROUP_REGEX,
                "window": WINDOW,
                "interval": WINDOW,
                "since": SINCE,
                "resolution": "1s",
            }
        )
        judged = {name: argo_outcome(m, url) for name, m in metrics.items()}
        verdicts[version] = {name: phase for name, (phase, _) in judged.items()}
        measured[version] = {name: values for name, (_, values) in judged.items()}
    service_level = {"error-rate", "latency-p99", "circuit-breaker-trips"}
    kpis = {"sharpe-drop", "win-rate-drop", "pnl-drop"}
    assert verdicts["canary-ok"] == dict.fromkeys(service_level | kpis, "Successful"), measured
    assert verdicts["canary-errors"]["error-rate"] == "Failed", measured
    assert verdicts["canary-errors"]["latency-p99"] == "Successful", measured
    assert verdicts["canary-slow"]["latency-p99"] == "Failed", measured
    assert verdicts["canary-slow"]["error-rate"] == "Successful", measured
    for kpi in kpis:
        assert verdicts["canary-degraded"][kpi] == "Failed", (kpi, measured["canary-degraded"])
        # fewer than min_trades paired paper returns: empty (guarded) results, Inconclusive
        assert verdicts["canary-few-trades"][kpi] == "Inconclusive", measured["canary-few-trades"]
        assert measured["canary-few-trades"][kpi] == []
    for check in service_level:
        assert verdicts["canary-degraded"][check] == "Successful", measured

    # the canary's KPI series are its shadow copies, the stable's its live requests
    def returns(version: str, traffic: str) -> float:
        selector = f'rollouts_pod_template_hash="{HASHES[version]}",traffic="{traffic}"'
        (value,) = query(url, f"sum(strategy_paper_returns_total{{{selector}}})")
        return value

    assert returns("stable", "shadow") == 0 and returns("stable", "live") > 0
    assert returns("canary-ok", "live") == 0 and returns("canary-ok", "shadow") > 0

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
                "--resolution",
                "1s",
                *extra,
            ]
        )
        return code, capsys.readouterr().out

    code, out = analyze("canary-ok")
    assert code == 0, out
    code, out = analyze("canary-degraded")
    assert code == 1 and "| pnl_drop |" in out and "| sharpe_drop |" in out, out
    code, out = analyze("canary-ok", "--min-trades", str(5 * REPLAY_BARS + 1))
    assert code == 3 and "INCONCLUSIVE" in out, out
    assert f"paired paper returns < min_trades {5 * REPLAY_BARS + 1}" in out
    code, out = analyze("canary-errors", "--service-only")
    assert code == 1 and "| error_rate |" in out and "sharpe_drop" not in out, out
