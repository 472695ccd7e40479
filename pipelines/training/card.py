"""Model card stage: Markdown + JSON card and PNG plots under ``models/``.

``build_card`` is pure (the evaluation, metrics and gate reports in, the card's JSON out);
``render_markdown`` turns it into text; ``main`` reads, plots and writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Params
from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.registry.bundle import sha256_file
from pipelines.training.card_charts import card_charts

WHY_CLASSIFIER = (
    "LightGBM binary classifier of the label's sign (forward return over the label horizon > 0): "
    "returns are heavy-tailed and a regressor's squared loss is dominated by a few extreme bars, "
    "while P(up) maps directly onto the position rule's symmetric threshold."
)
WHY_NO_CROSS_SECTION = (
    "Cross-sectional rank features (cs_rank_*) are excluded by default "
    "(training.use_cross_sectional: false): the prod canary routes instruments to pods by the "
    "X-Instrument header, so a pod cannot see the whole cross-section online."
)
PROTOCOL = (
    "Hyperparameters are tuned (Optuna TPE, seeded, fixed trial budget) only on the first "
    "walk-forward block, scored by the strategy's per-bar Sharpe on its last 30% (purged); every "
    "trial's Sharpe enters the Deflated Sharpe Ratio. Headline metrics are the purged, embargoed, "
    "expanding walk-forward out-of-sample backtest after costs, positions applied from the next "
    "bar, each instrument 1/N of equity. CPCV paths reuse the same tuned parameters and also test "
    "the tuning block, so their Sharpe distribution is slightly optimistic."
)
WIN_RATE = (
    "Win rate: the share of bars with a position (non-zero gross exposure) whose net portfolio "
    "return after costs is positive."
)


def build_card(
    evaluation: dict[str, Any],
    bundle_sha256: str,
    params: Params,
    reports: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The model card as JSON."""
    m = evaluation["metrics"]
    baselines = {env: r["baseline"] for env, r in reports.items()}
    naive = m.get("baseline_naive_pnl")
    return {
        "annualisation": annualisation_line(evaluation["data"], params),
        "learned": learned_line(reports),
        "model_name": params.training.model_name,
        "bundle_sha256": bundle_sha256,
        "model": WHY_CLASSIFIER,
        "features": evaluation["features"],
        "feature_choice": WHY_NO_CROSS_SECTION,
        "data": evaluation["data"],
        "out_of_sample": evaluation["oos"],
        "params": params.training.model_dump(),
        "params_hash": evaluation["params_hash"],
        "tuned_params": evaluation["tuning"]["best_params"],
        "metrics": m,
        "definitions": {"win_rate": WIN_RATE, "protocol": PROTOCOL},
        "baseline_delta_pnl": None
        if naive is None or m.get("total_pnl") is None
        else m["total_pnl"] - naive,
        "baselines": baselines,
        "per_instrument": evaluation["per_instrument"],
        "cpcv_path_sharpes": evaluation["cpcv_path_sharpes"],
        "leakage_findings": evaluation["leakage"]["findings"],
        "gates": {
            env: {"verdict": r["verdict"], "gates": r["gates"], "not_enforced": r["not_enforced"]}
            for env, r in reports.items()
        },
    }


def annualisation_line(data: dict[str, Any], params: Params) -> str:
    """How many bars a year the Sharpe is annualised with, and where that comes from."""
    ppy = data.get("periods_per_year")
    if params.training.backtest.periods_per_year is not None:
        return f"{ppy:g} bars a year (training.backtest.periods_per_year)"
    derivation = (data.get("annualisation") or {}).get("derivation", "calendars not recorded")
    return f"{ppy:g} bars a year: {derivation}"


def learned_line(reports: dict[str, dict[str, Any]]) -> str:
    """The learned-something verdict in one line (the same gate in every environment)."""
    for report in reports.values():
        for gate in report["gates"]:
            if gate["name"] == "learned_something":
                word = "yes" if gate["verdict"] == "pass" else "no"
                return f"Learned something: {word} ({gate['reason']})."
    return "Learned something: not judged (no gate report)."


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def render_markdown(card: dict[str, Any], charts: list[str] | None = None) -> str:
    """The card as Markdown; ``charts`` are Mermaid blocks (they render in a pull request)."""
    m, d = card["metrics"], card["data"]
    lines = [
        f"# Model card: {card['model_name']}",
        "",
        f"Bundle sha256: `{card['bundle_sha256']}`",
        "",
        "## Model and features",
        "",
        card["model"],
        "",
        card["feature_choice"],
        "",
        f"Features: {', '.join(card['features'])}",
        "",
        "## Data",
        "",
        f"{d['start']} to {d['end']}, {d['rows']} samples, {len(d['instruments'])} instruments, "
        f"{d['frequency']} bars, label horizon "
        f"{d['label_horizon']} bars, embargo {d['embargo_bars']} bars. "
        f"Input sha256 `{d['sha256']}`.",
        "",
        f"Annualisation: {card['annualisation']}.",
        "",
        f"Out of sample (purged walk-forward): {card['out_of_sample']['start']} to "
        f"{card['out_of_sample']['end']}. Params hash `{card['params_hash']}`.",
        "",
        "## Metrics (walk-forward out of sample, after costs)",
        "",
        card["learned"],
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {_fmt(v)} |" for k, v in m.items()],
        f"| PnL delta vs naive baseline | {_fmt(card['baseline_delta_pnl'])} |",
        "",
        card["definitions"]["win_rate"],
        "",
        card["definitions"]["protocol"],
        "",
        "## Per instrument (traded alone at full weight, same rule and costs)",
        "",
        "| instrument | sharpe | total_pnl | max_drawdown | win_rate |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {_fmt(row['sharpe'])} | {_fmt(row['total_pnl'])} | "
            f"{_fmt(row['max_drawdown'])} | {_fmt(row['win_rate'])} |"
            for name, row in card["per_instrument"].items()
        ],
        "",
        "CPCV annualised Sharpe by path: " + ", ".join(_fmt(v) for v in card["cpcv_path_sharpes"]),
        "",
        "## Baselines",
        "",
        *[
            f"- {env}: {b['kind']} ({b['description']}), PnL {_fmt(b['total_pnl'])}"
            + (
                f" vs candidate {_fmt(b.get('candidate_pnl'))} on {b.get('period')}"
                if b.get("period")
                else ""
            )
            + f": {b['reason']}"
            for env, b in card["baselines"].items()
        ],
        "",
        "## Gates",
        "",
        "| env | gate | value | comparator | threshold | verdict | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for env, report in card["gates"].items():
        lines += [
            f"| {env} | {g['name']} | {_fmt(g['value'])} | {g['comparator']} | "
            f"{_fmt(g['threshold'])} | {g['verdict']} | {g['reason'].replace('|', '&#124;')} |"
            for g in report["gates"]
        ]
        lines.append(f"| {env} | **overall** | | | | **{report['verdict']}** | |")
    lines += [
        "",
        f"Leakage findings: {len(card['leakage_findings'])}",
        *[f"- {f}" for f in card["leakage_findings"]],
        "",
        "## Plots",
        "",
        *[part for chart in charts or [] for part in (chart, "")],
        "PNG versions with axis labels and units: `models/plots/equity.png`, `drawdown.png`, "
        "`cpcv_sharpe.png`, `feature_importance.png` (DVC plots; the `model-plots` artifact of "
        "the training run).",
        "",
    ]
    return "\n".join(lines)


def _plots(evaluation: dict[str, Any], series: pd.DataFrame, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: Any, name: str) -> None:
        atomic.write_with(
            folder / name,
            lambda tmp: fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None}),
        )
        plt.close(fig)

    when = pd.to_datetime(series["timestamp"])
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(when, series["strategy"], label="model (OOS)")
    ax.plot(when, series["baseline"], label="naive baseline")
    ax.set_yscale("log")
    ax.set_title("Equity, walk-forward out of sample")
    ax.set_xlabel("date (UTC)")
    ax.set_ylabel("equity (growth of 1, after costs, log scale)")
    ax.legend()
    save(fig, "equity.png")
    fig, ax = plt.subplots(figsize=(8, 3))
    equity = series["strategy"].to_numpy()
    ax.fill_between(when, 1.0 - equity / np.maximum.accumulate(equity), color="tab:red")
    ax.invert_yaxis()
    ax.set_title("Drawdown")
    ax.set_xlabel("date (UTC)")
    ax.set_ylabel("drawdown (fraction below the running peak)")
    save(fig, "drawdown.png")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([v for v in evaluation["cpcv_path_sharpes"] if v is not None], bins=10)
    ax.set_title("Annualised Sharpe across CPCV paths")
    ax.set_xlabel("Sharpe ratio (annualised, after costs)")
    ax.set_ylabel("CPCV paths (count)")
    save(fig, "cpcv_sharpe.png")
    imp = pd.Series(evaluation["feature_importance"]).sort_values()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.barh(imp.index, imp.to_numpy())
    ax.set_title("Feature importance (gain)")
    ax.set_xlabel("total split gain (LightGBM, training loss reduction)")
    ax.set_ylabel("feature")
    fig.tight_layout()
    save(fig, "feature_importance.png")


def main(params: Params) -> int:
    """Read the evaluation and gate reports, write the card and plots."""
    models = Path(params.paths.models)
    eval_path = models / "evaluation.json"
    if not eval_path.exists():
        raise PipelineError(f"{eval_path}: not found; run `pipelines backtest` first")
    evaluation = json.loads(eval_path.read_text(encoding="utf-8"))
    reports = {}
    for env in ("dev", "staging", "prod"):
        path = Path(params.paths.reports) / "gates" / f"{env}.json"
        if path.exists():
            reports[env] = json.loads(path.read_text(encoding="utf-8"))
    card = build_card(evaluation, sha256_file(models / "model_bundle.json"), params, reports)
    atomic.write_json(models / "card.json", card)
    series = pd.read_csv(models / "plots" / "equity.csv")
    atomic.write_text(models / "card.md", render_markdown(card, card_charts(evaluation, series)))
    _plots(evaluation, series, models / "plots")
    return 0
