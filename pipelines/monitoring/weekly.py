"""``pipelines monitor weekly-report``: the weekly performance report (Markdown, plots, summary).

Reads the week from Prometheus (:mod:`pipelines.monitoring.weekly_data`) and writes into
``--out``: ``report.md`` with its PNG plots beside it (PnL, drawdown, Sharpe per day, drift,
deployments marked on the PnL) and ``summary.md``, the same tables with Mermaid charts instead
of image links, for places where relative images do not work (the GitHub job summary, to which
it is appended when ``GITHUB_STEP_SUMMARY`` is set). The scheduled workflow
``weekly-report.yml`` uploads the folder as an artifact and pushes the info event
(``pipelines monitor event --kind report``), which the ``WeeklyPerformanceReport`` alert reads.
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.config import Params
from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.monitoring import charts, prom_read
from pipelines.monitoring.weekly_data import WeeklyFigures, collect
from pipelines.training.metrics import periods_per_year

PLOTS = ("pnl.png", "drawdown.png", "sharpe.png", "drift.png")
BUCKETS = 168
MIN_BUCKET_SECONDS = 15


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")


def _fmt(value: Any, spec: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def tables(f: WeeklyFigures) -> list[str]:
    """The report's text: headline figures, drift, deployments and alerts of the period."""
    p = f.period
    lines = [
        f"# Weekly performance report: {f.environment}",
        "",
        f"{_when(f.start)} to {_when(f.end)} UTC, namespace `trading-{f.environment}`, "
        f"{len(f.times)} buckets of {f.step / 3600:.3g} h.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| PnL (equal-weight paper return) | {_fmt(p.get('pnl'), '.2%')} |",
        f"| Sharpe (annualised, per-bar returns) | {_fmt(p.get('sharpe'), '.2f')} |",
        f"| Max drawdown (from the period's peak) | {_fmt(p.get('max_drawdown'), '.2%')} |",
        f"| Win rate | {_fmt(p.get('win_rate'), '.1%')} |",
        f"| Realised returns (bars with a position) | {_fmt(p.get('returns'), '.0f')} |",
        f"| Instruments | {_fmt(p.get('instruments'), '.0f')} |",
        "",
        "## Drift",
        "",
    ]
    finite = [v for v in f.psi_max if math.isfinite(v)]
    lines.append(
        f"Largest feature PSI: {_fmt(max(finite) if finite else None, '.3f')} at worst, "
        f"{_fmt(finite[-1] if finite else None, '.3f')} at the end. "
        f"Hours critical: {sum(1 for v in f.health_status if v == 2)}, "
        f"warning: {sum(1 for v in f.health_status if v == 1)}."
    )
    if f.checks:
        names = {0: "ok", 1: "warning", 2: "critical"}
        lines += ["", "| check | status at the end |", "|---|---|"]
        lines += [f"| {k} | {names.get(int(v), v)} |" for k, v in sorted(f.checks.items())]
    lines += ["", "## Deployments", ""]
    if f.deployments:
        lines += ["| when (UTC) | environment | version | outcome |", "|---|---|---|---|"]
        lines += [
            f"| {_when(d['at'])} | {d['environment']} | {d['model_version']} | {d['outcome']} |"
            for d in f.deployments
        ]
    else:
        lines.append("No deployment this period.")
    lines += ["", "## Alerts that fired", ""]
    if f.alerts:
        lines += ["| alert | severity | first | last |", "|---|---|---|---|"]
        lines += [
            f"| {a['alertname']} | {a['severity']} | {_when(a['first'])} | {_when(a['last'])} |"
            for a in f.alerts
        ]
    else:
        lines.append("None.")
    return lines


def summary_charts(f: WeeklyFigures) -> list[str]:
    """Mermaid versions of the plots (they render in a job summary; images would not)."""
    labels = [datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M") for t in f.times]
    out = []
    for title, series, unit in (
        ("Cumulative PnL", [("PnL", [v * 100 for v in f.pnl])], "return (%)"),
        ("Drawdown", [("drawdown", [v * 100 for v in f.drawdown])], "below peak (%)"),
        ("Largest feature PSI", [("PSI", f.psi_max)], "PSI"),
    ):
        chart = charts.xychart(title, labels, series, unit)
        if chart:
            out += ["", chart]
    return out


def plots(f: WeeklyFigures, folder: Path) -> None:
    """PnL with deployments, drawdown, Sharpe per bucket and drift, as PNGs in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    when = mdates.date2num([datetime.fromtimestamp(t, UTC) for t in f.times])
    specs = (
        ("pnl.png", [v * 100 for v in f.pnl], "Cumulative PnL (paper)", "return (%)", "line"),
        ("drawdown.png", [-v * 100 for v in f.drawdown], "Drawdown", "below peak (%)", "fill"),
        ("sharpe.png", f.sharpe_by_bucket, "Sharpe per bucket", "Sharpe (annualised)", "bar"),
        ("drift.png", f.psi_max, "Largest feature PSI", "PSI", "line"),
    )
    for name, values, title, unit, kind in specs:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        if kind == "bar":
            ax.bar(
                when, [0 if not math.isfinite(v) else v for v in values], width=f.step / 86400 * 0.8
            )
        elif kind == "fill":
            ax.fill_between(when, values, color="tab:red")
        else:
            ax.plot(when, values)
        if name == "drift.png":
            for level, colour in ((0.2, "orange"), (0.3, "red")):
                ax.axhline(level, color=colour, linestyle="--", linewidth=1)
        if name == "pnl.png":
            for d in f.deployments:
                at = float(mdates.date2num(datetime.fromtimestamp(d["at"], UTC)))
                ax.axvline(at, color="grey", linestyle=":")
        ax.xaxis_date()
        ax.set_title(title)
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel(unit)
        fig.autofmt_xdate()
        fig.tight_layout()
        _save(fig, folder / name)
        plt.close(fig)


def _save(fig: Any, path: Path) -> None:
    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None})

    atomic.write_with(path, write)


def bars_per_year(params: Params) -> float:
    """The trading year the feature store's calendars give (``backtest.periods_per_year`` wins).

    Raises:
        PipelineError: Neither is available (pull the feature store first).
    """
    meta_path = Path(params.paths.features) / "_metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    try:
        override = params.training.backtest.periods_per_year
        return periods_per_year(meta.get("annualisation"), override)
    except ValueError as exc:
        raise PipelineError(f"{meta_path}: {exc}") from None


def main(
    params: Params,
    out: str,
    environment: str = "prod",
    days: float = 7.0,
    url: str | None = None,
    end: float | None = None,
) -> int:
    """Write the report into ``out`` (and the job summary when in Actions); return 0."""
    server = prom_read.prometheus_url(url)
    stop = time.time() if end is None else end
    per_year = bars_per_year(params)
    # Hourly buckets for a week; a short period (the twin's compressed week) gets buckets of
    # at least 15 s, so that each bucket holds several scrapes.
    steps = max(1, min(BUCKETS, int(days * 86400 // MIN_BUCKET_SECONDS)))
    figures = collect(server, environment, stop - days * 86400, stop, steps, per_year)
    folder = Path(out)
    plots(figures, folder)
    text = tables(figures)
    images = [f"![{name.removesuffix('.png')}]({name})" for name in PLOTS]
    atomic.write_text(folder / "report.md", "\n".join([*text, "", "## Plots", "", *images, ""]))
    summary = "\n".join([*text, *summary_charts(figures), ""])
    atomic.write_text(folder / "summary.md", summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with Path(step_summary).open("a", encoding="utf-8") as handle:
            handle.write(summary)
    return 0
