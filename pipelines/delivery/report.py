"""Pull-request Markdown for a promotion: metrics against the running version, gates, card, plots.

Pure functions: they take loaded documents and return text.
"""

from __future__ import annotations

import math
from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _delta(new: Any, old: Any) -> str:
    numeric = (int, float)
    if isinstance(new, bool) or isinstance(old, bool):
        return ""
    if isinstance(new, numeric) and isinstance(old, numeric):
        diff = float(new) - float(old)
        return "" if math.isnan(diff) else f"{diff:+.4g}"
    return ""


def metrics_table(candidate: dict[str, Any], current: dict[str, Any] | None) -> str:
    """Markdown table of candidate metrics against the metrics of the version now deployed."""
    current = current or {}
    names = sorted(set(candidate) | set(current))
    if not names:
        return "_No metrics recorded._\n"
    rows = ["| metric | current | candidate | change |", "|---|---:|---:|---:|"]
    for name in names:
        new, old = candidate.get(name), current.get(name)
        rows.append(f"| {name} | {_fmt(old)} | {_fmt(new)} | {_delta(new, old)} |")
    return "\n".join(rows) + "\n"


def gate_table(report: dict[str, Any]) -> str:
    """Markdown table of a gate report (``gates: [{name, value, threshold, ...}]``)."""
    rows = [
        "| gate | value | comparator | threshold | verdict | reason |",
        "|---|---:|:-:|---:|:-:|---|",
    ]
    for gate in report.get("gates", []):
        verdict = str(gate.get("verdict", "fail"))
        mark = "✅" if verdict == "pass" else "❌"
        rows.append(
            f"| {_fmt(gate.get('name'))} | {_fmt(gate.get('value'))} | "
            f"{_fmt(gate.get('comparator'))} | {_fmt(gate.get('threshold'))} | "
            f"{mark} {verdict} | {_fmt(gate.get('reason', ''))} |"
        )
    verdict = report.get("verdict", "fail")
    return (
        f"**Gate verdict for `{report.get('environment', '?')}`: {verdict}**\n\n"
        + "\n".join(rows)
        + "\n"
    )


def pull_request_body(
    *,
    environment: str,
    image: str,
    model: dict[str, Any],
    current: dict[str, Any] | None,
    current_image: str,
    gate_report: dict[str, Any],
    card: str | None,
    plots: list[str],
    artifacts_url: str | None,
) -> str:
    """The whole pull-request body.

    Args:
        environment: Target environment.
        image: The service image (by digest) promoted with the model.
        model: The ``model`` section of the new manifest.
        current: The ``model`` section now in the environment (None: nothing deployed).
        current_image: The image now in the environment.
        gate_report: The environment's gate report.
        card: Model card Markdown, if any.
        plots: Plot file names (shipped as workflow artifacts, not uploaded elsewhere).
        artifacts_url: Link to the workflow run's artifacts, when running in Actions.
    """
    was = f"`{current['name']}` {current['version']}" if current else "nothing deployed"
    prov = model["provenance"]
    lines = [
        f"## Promote `{model['name']}` {model['version']} to `{environment}`",
        "",
        f"This pull request changes only `environments/{environment}/model.yaml`: the model "
        "and the service image, promoted together. Merging it deploys them; reverting the merge "
        "rolls both back.",
        "",
        f"- now in `{environment}`: {was} (image `{current_image or 'none'}`)",
        f"- image: `{image}`",
        f"- artifact: `{model['artifact']['uri']}` (sha256 `{model['artifact']['sha256']}`)",
        f"- git commit `{prov['git_commit']}`, DVC data `{prov['dvc_data_hash']}`, "
        f"MLflow run `{prov['mlflow_run_id']}`, params `{prov['params_hash']}`",
        "",
        "### Metrics against the version now deployed",
        "",
        metrics_table(model["evaluation"]["metrics"], current and current["evaluation"]["metrics"]),
        "### Gates",
        "",
        gate_table(gate_report),
    ]
    if plots:
        where = f"[workflow artifacts]({artifacts_url})" if artifacts_url else "workflow artifacts"
        lines += ["### Plots", "", f"In the run's {where} (`model-plots`):", ""]
        lines += [f"- `{name}`" for name in plots] + [""]
    if card:
        lines += ["<details><summary>Model card</summary>", "", card.strip(), "", "</details>", ""]
    return "\n".join(lines)
