"""``pipelines rehearse``: prove before merging that the canary analysis judges a candidate.

Replays a held-out period through the stable version (the environment's manifest, or
``--stable``) and the candidate, following the environment's canary steps
(``instrument_groups`` in prod; one step with every instrument elsewhere) and its analysis
thresholds; prints the verdict per step and writes a Markdown report for the promotion PR.
Exit status 0 pass, 1 fail, 3 inconclusive.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.config import Params
from pipelines.delivery.analysis import (
    EXIT_CODES,
    Thresholds,
    render_checks,
    thresholds_from_settings,
)
from pipelines.delivery.rehearse_replay import Step, StepResult, replay_steps
from pipelines.errors import ConfigError, DataError
from pipelines.io import atomic
from pipelines.registry.bundle import load_bundle, sha256_file
from pipelines.serving.engine import SignalEngine, injection_from_env
from pipelines.serving.metrics import ServiceMetrics
from pipelines.serving.params import ServingParams
from pipelines.serving.source import fetch_artifact, read_manifest, read_settings

log = logging.getLogger("pipelines.delivery.rehearse")


@dataclass(frozen=True)
class Loaded:
    """An engine and how it was described in the report."""

    engine: SignalEngine
    description: str


def load_engine(
    source: str, role: str, instruments: list[str], cfg: ServingParams, inject: bool
) -> Loaded | None:
    """A bundle file (.json) or a manifest (.yaml, digest verified); None for ``model: null``."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml"):
        ref = read_manifest(path)
        if ref is None:
            return None
        local = fetch_artifact(ref.uri, Path(cfg.model_cache_dir), Path.cwd())
        bundle = load_bundle(local, expected_sha256=ref.sha256)
        version, sha = f"{ref.version}", ref.sha256
    else:
        bundle = load_bundle(path)
        sha = sha256_file(path)
        version = str(
            bundle.metadata.get("version") or bundle.metadata.get("model_version") or path.stem
        )
    label = f"{role}:{version}"
    injection = injection_from_env(cfg.inject) if inject else cfg.inject
    metrics = ServiceMetrics(label, cfg.latency_buckets)
    engine = SignalEngine(bundle, label, instruments, cfg, metrics, injection)
    return Loaded(engine, f"`{source}` (version {version}, sha256 {sha[:12]}...)")


def canary_steps(settings: dict[str, object], source: str) -> list[Step]:
    """The environment's canary steps: prod's instrument groups, else one step with all."""
    groups = settings.get("instrument_groups")
    if groups is None:
        instruments = settings.get("instruments")
        if not isinstance(instruments, list):
            raise ConfigError(f"{source}: instruments: expected a list")
        return [Step(100, [str(i) for i in instruments])]
    if not isinstance(groups, list) or not groups:
        raise ConfigError(f"{source}: instrument_groups: expected a non-empty list")
    steps = []
    for n, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("instruments"), list):
            raise ConfigError(f"{source}: instrument_groups[{n}]: expected weight and instruments")
        steps.append(Step(int(group.get("weight", 0)), [str(i) for i in group["instruments"]]))
    return steps


def load_bars(path: str | Path) -> pd.DataFrame:
    """Long-format bars from a wide (Date + one column per instrument) or long CSV/Parquet."""
    file = Path(path)
    if not file.exists():
        raise DataError(f"{file}: rehearsal data not found")
    frame = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)
    if {"timestamp", "instrument", "close"} <= set(frame.columns):
        long = frame[["timestamp", "instrument", "close"]].copy()
    elif "Date" in frame.columns or "timestamp" in frame.columns:
        key = "Date" if "Date" in frame.columns else "timestamp"
        long = frame.melt(id_vars=key, var_name="instrument", value_name="close")
        long = long.rename(columns={key: "timestamp"})
    else:
        raise DataError(f"{file}: expected long (timestamp, instrument, close) or wide (Date, ...)")
    long["timestamp"] = pd.to_datetime(long["timestamp"], utc=True)
    return long.dropna().sort_values(["instrument", "timestamp"]).reset_index(drop=True)


def training_overlap(metadata: dict[str, object], holdout_start: pd.Timestamp) -> str | None:
    """A warning when the bundle says it was trained on data inside the held-out period."""
    for key in ("train_end", "training_end", "data_end"):
        value = metadata.get(key)
        if value is None:
            continue
        try:
            end = pd.Timestamp(str(value))
        except ValueError:
            return f"candidate metadata {key}={value!r} is not a time"
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        if end >= holdout_start:
            return (
                f"candidate was trained on data up to {end.date()}, inside the held-out period "
                f"starting {holdout_start.date()}: the rehearsal is in sample"
            )
    return None


def render_report(
    env: str,
    candidate: str,
    stable: str,
    limits: Thresholds,
    results: list[StepResult],
    steps: list[Step],
    outcome: str,
) -> str:
    """The Markdown report the promotion PR can include."""
    lines = [
        f"# Canary rehearsal: {env}",
        "",
        f"- Candidate: {candidate}",
        f"- Stable: {stable}",
        f"- Thresholds (settings.yaml): error rate <= {limits.error_rate_max}, p99 <= "
        f"{limits.latency_p99_max_seconds}s, Sharpe drop <= {limits.sharpe_drop_max}, win-rate "
        f"drop <= {limits.win_rate_drop_max}, trips <= {limits.circuit_breaker_trips_per_hour_max}"
        f"/h, min trades {limits.min_trades}",
        "- Latency is measured in process (no network); trips per hour use replayed market time.",
        "",
        f"**Verdict: {outcome.upper()}**",
        "",
    ]
    for n, step in enumerate(steps, 1):
        done = next((r for r in results if r.step is step), None)
        head = f"## Step {n}: {step.weight}% ({', '.join(step.instruments)})"
        if done is None:
            lines += [head, "", "Not reached (an earlier step failed).", ""]
            continue
        lines += [
            f"{head}: {done.result.outcome.upper()}",
            "",
            f"{done.bars} bars, {done.start.date()} to {done.end.date()}.",
            "",
            *render_checks(done.result),
            "",
        ]
    return "\n".join(lines)


def main(
    params: Params,
    env: str,
    candidate: str,
    stable: str | None = None,
    report: str | None = None,
    environments: str = "environments",
) -> int:
    """Run the rehearsal; print per-step verdicts; write the report; return the exit status."""
    cfg = params.serving
    settings_path = Path(environments) / env / "settings.yaml"
    settings = read_settings(settings_path)
    limits = thresholds_from_settings(settings, str(settings_path))
    steps = canary_steps(settings, str(settings_path))
    instruments = sorted({i for s in steps for i in s.instruments})
    cand = load_engine(candidate, "candidate", instruments, cfg, inject=True)
    if cand is None:
        raise ConfigError(f"{candidate}: the candidate manifest deploys no model (model: null)")
    stable_source = stable or str(Path(environments) / env / "model.yaml")
    stab = load_engine(stable_source, "stable", instruments, cfg, inject=False)
    if stab is None:
        stable_text = f"`{stable_source}` deploys no model (model: null): naive always-long stable"
        sys.stdout.write(f"note: {stable_text}\n")
    else:
        stable_text = stab.description
    bars = load_bars(cfg.rehearsal.data_path)
    bars = bars[bars["instrument"].isin(instruments)]
    stamps = bars["timestamp"].drop_duplicates().sort_values()
    if len(stamps) <= cfg.rehearsal.holdout_bars + cand.engine.window:
        raise DataError(f"{cfg.rehearsal.data_path}: too few bars for the held-out period")
    holdout_start = stamps.iloc[-cfg.rehearsal.holdout_bars]
    overlap = training_overlap(cand.engine.bundle.metadata, holdout_start)
    if overlap:
        sys.stdout.write(f"warning: {overlap}\n")
    results = replay_steps(
        bars,
        holdout_start,
        steps,
        cand.engine,
        stab.engine if stab else None,
        limits,
        params.data.frequency,
    )
    outcomes = [r.result.outcome for r in results]
    outcome = (
        "fail" if "fail" in outcomes else ("inconclusive" if "inconclusive" in outcomes else "pass")
    )
    for n, r in enumerate(results, 1):
        bad = [c.name for c in r.result.checks if c.outcome != "pass"]
        sys.stdout.write(
            f"step {n} ({r.step.weight}%: {','.join(r.step.instruments)}): "
            f"{r.result.outcome.upper()}{' (' + ', '.join(bad) + ')' if bad else ''}\n"
        )
    text = render_report(env, cand.description, stable_text, limits, results, steps, outcome)
    if overlap:
        text += f"\n> Warning: {overlap}\n"
    target = Path(report or cfg.rehearsal.report.format(env=env))
    atomic.write_text(target, text + "\n")
    sys.stdout.write(f"verdict: {outcome.upper()} (report: {target})\n")
    return EXIT_CODES[outcome]  # type: ignore[index]
