"""Success criteria and the weekly report against a real Pushgateway and Prometheus.

An incident (a failed data run that pages, then a success) is measured from Prometheus' own
alert state and recorded as counters; the recording rules turn them into MTTD and MTTR. The
weekly report reads paper PnL, drift and deployments back from Prometheus.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.data.calendars import annualisation
from tests.conftest import REPO_ROOT
from tests.monitoring.servers import prometheus, pushgateway
from twin.procs import wait_until

RULES = REPO_ROOT / "monitoring" / "prometheus" / "rules"
pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    monkeypatch.setenv("PIPELINES_ENVIRONMENT", "prod")
    return tmp_path


def _query(prom: str, expr: str) -> list[dict]:
    answer = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _fast_rules() -> dict[str, str]:
    """The repository's pipeline alerts with DataPipelineFailed's `for` at 2s, and the
    success-criteria recording rules, as they are."""
    text = (RULES / "pipelines.rules.yml").read_text()
    text = re.sub(r"(- alert: DataPipelineFailed\n(?:.*\n)*?\s+for: )1m", r"\g<1>2s", text, count=1)
    assert "for: 2s" in text
    return {
        "pipelines.rules.yml": text,
        "success.rules.yml": (RULES / "success.rules.yml").read_text(),
    }


def test_a_paging_failure_that_recovers_is_measured_and_becomes_mttd_and_mttr(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pushgateway(workdir) as gateway, prometheus(workdir, gateway, _fast_rules()) as prom:
        monkeypatch.setenv("PUSHGATEWAY_URL", gateway)
        monkeypatch.setenv("PROMETHEUS_URL", prom)
        mark = ["monitor", "mark", "--pipeline", "data", "--status"]
        assert main([*mark, "success"]) == 0
        failed_at = time.time()
        assert main([*mark, "failure"]) == 0
        firing = 'ALERTS{alertname="DataPipelineFailed", alertstate="firing"}'
        wait_until("DataPipelineFailed firing", lambda: bool(_query(prom, firing)), timeout=60)
        recovered_at = time.time()
        assert main([*mark, "success"]) == 0
        group = httpx.get(f"{gateway}/metrics", timeout=10).text
        counted = re.search(
            r'incidents_total\{alertname="DataPipelineFailed",detected="true",'
            r'environment="prod",instance="",job="pipelines",pipeline="incidents"\} (\S+)',
            group,
        )
        assert counted and float(counted.group(1)) == 1.0, group
        detection = float(
            re.search(r"incident_detection_seconds_total\{[^}]*\} (\S+)", group).group(1)  # type: ignore[union-attr]
        )
        resolution = float(
            re.search(r"incident_resolution_seconds_total\{[^}]*\} (\S+)", group).group(1)  # type: ignore[union-attr]
        )
        # Fired = activeAt + 2s, activeAt one scrape and one evaluation after the failure.
        assert 2.0 <= detection <= 15.0, detection
        assert 0.0 <= resolution <= time.time() - failed_at
        assert detection + resolution == pytest.approx(recovered_at - failed_at, abs=10)
        mttd = "incident:mttd_seconds:mean30d"
        wait_until("MTTD recorded", lambda: bool(_query(prom, mttd)), timeout=60)
        assert float(_query(prom, mttd)[0]["value"][1]) == pytest.approx(detection)
        assert float(_query(prom, "incident:mttr_seconds:mean30d")[0]["value"][1]) == (
            pytest.approx(resolution)
        )
        ratio = _query(prom, 'pipeline:success_ratio:30d{pipeline="data"}')
        assert float(ratio[0]["value"][1]) == pytest.approx(2 / 3)


def _push_service(gateway: str, gains: float, losses: float, returns: int) -> None:
    lines = []
    for name, value in (
        ("strategy_paper_gain_sum_total", gains),
        ("strategy_paper_loss_sum_total", losses),
        ("strategy_paper_returns_total", returns),
        ("strategy_paper_return_squared_sum_total", (gains + losses) * 0.01),
        ("strategy_trade_wins_total", returns // 2 + 1),
        ("strategy_trade_losses_total", returns // 2),
    ):
        for instrument in ("AAA", "BBB"):
            lines.append(f'{name}{{namespace="trading-prod",instrument="{instrument}"}} {value}')
    body = "\n".join(lines) + "\n"
    url = f"{gateway}/metrics/job/strategy-service/instance/pod-1"
    assert httpx.put(url, content=body, timeout=10).status_code == 200


def _feature_store_metadata(workdir: Path) -> None:
    """The trading year the features stage records (the report annualises Sharpe by it)."""
    meta = {"annualisation": annualisation(["XNYS"], "daily", pd.Timestamp("2025-06-30"))}
    store = workdir / "data" / "features"
    store.mkdir(parents=True)
    (store / "_metadata.json").write_text(json.dumps(meta))


def test_the_weekly_report_reads_pnl_drift_and_deployments_back(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _feature_store_metadata(workdir)
    summary = workdir / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    with pushgateway(workdir) as gateway, prometheus(workdir, gateway) as prom:
        monkeypatch.setenv("PUSHGATEWAY_URL", gateway)
        started = time.time()
        for step in range(12):
            _push_service(gateway, 0.01 * step, 0.002 * step, 10 * step)
            wait_until("scraped", lambda s=step: _scraped(prom, s), timeout=30)
        event = ["monitor", "event", "--kind", "deployment", "--env", "prod"]
        assert main([*event, "--model-version", "4"]) == 0
        wait_until(
            "deployment scraped",
            lambda: bool(_query(prom, "model_deployment_last_success_timestamp_seconds")),
            timeout=30,
        )
        days = (time.time() - started + 30) / 86400
        args = ["monitor", "weekly-report", "--out", "weekly", "--days", f"{days:.6f}"]
        assert main([*args, "--prometheus-url", prom]) == 0
    report = (workdir / "weekly/report.md").read_text()
    assert "# Weekly performance report: prod" in report
    for name in ("pnl.png", "drawdown.png", "sharpe.png", "drift.png"):
        assert (workdir / "weekly" / name).stat().st_size > 1000
        assert f"]({name})" in report
    pnl = float(re.search(r"\| PnL \(equal-weight paper return\) \| (-?[\d.]+)%", report).group(1))  # type: ignore[union-attr]
    # Per instrument 0.11 gained and 0.022 lost over the period: +8.8% (increase() may
    # extrapolate to the period's edges).
    assert 6.0 < pnl < 12.0, report
    assert re.search(r"\| [\d-]+ [\d:]+ \| prod \| 4 \| success \|", report), report
    text = summary.read_text()
    assert "```mermaid" in text and "](pnl.png)" not in text
    assert "Weekly performance report: prod" in text


def _scraped(prom: str, step: int) -> bool:
    found = _query(prom, 'max(strategy_paper_returns_total{namespace="trading-prod"})')
    return bool(found) and float(found[0]["value"][1]) == 10 * step
