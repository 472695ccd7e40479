"""``pipelines rehearse``: prove before merging that the canary analysis judges a candidate.

Replays only bars after the candidate's training end (the bundle's ``train_span``) through the
stable version (the environment's manifest, or ``--stable``) and the candidate, following the
environment's canary steps (prod: every instrument mirrored, then ``instrument_groups`` routed
live, trading KPIs paired on the instruments not yet routed; elsewhere one step pairing every
instrument, as staging's pre-promotion analysis) and its thresholds. A ``--start`` inside the
training span, or a bundle without one, is refused with one line. Prints the verdict and the
paired paper returns (trades) per step, and writes a Markdown report for the promotion PR.
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
    """The environment's steps: prod's instrument groups, else one step pairing every one."""
    instruments = settings.get("instruments")
    if not isinstance(instruments, list) or not instruments:
        raise ConfigError(f"{source}: instruments: expected a non-empty list")
    names = [str(i) for i in instruments]
    groups = settings.get("instrument_groups")
    if groups is None:
        return [Step(0, [], names)]
    if not isinstance(groups, list) or not groups:
        raise ConfigError(f"{source}: instrument_groups: expected a non-empty list")
    steps = []
    for n, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("instruments"), list):
            raise ConfigError(f"{source}: instrument_groups[{n}]: expected weight and instruments")
        routed = [str(i) for i in group["instruments"]]
        paired = [i for i in names if i not in set(routed)]
        steps.append(Step(int(group.get("weight", 0)), routed, paired))
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


def training_end(metadata: dict[str, object], source: str) -> pd.Timestamp:
    """The last bar the candidate was trained on (``train_span[1]`` of its bundle).

    Raises:
        ConfigError: No usable ``train_span`` (the rehearsal could not be shown out of sample).
    """
    span = metadata.get("train_span")
    if not isinstance(span, list | tuple) or len(span) != 2:
        raise ConfigError(
            f"{source}: the candidate bundle has no train_span: cannot replay only bars after "
            "its training (retrain it with this version of the pipeline)"
        )
    try:
        end = pd.Timestamp(str(span[1]))
    except ValueError:
        raise ConfigError(f"{source}: train_span end {span[1]!r} is not a time") from None
    return end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")


def held_out_start(
    stamps: pd.Series, trained_to: pd.Timestamp, start: str | None, source: str
) -> pd.Timestamp:
    """The first replayed bar: after the training end, at or after ``--start`` when given.

    Raises:
        ConfigError: ``--start`` is inside the training span, or no bar is after it.
    """
    first = trained_to
    if start is not None:
        asked = pd.Timestamp(start)
        asked = asked.tz_localize("UTC") if asked.tzinfo is None else asked
        if asked <= trained_to:
            raise ConfigError(
                f"rehearse: --start {asked.date()} overlaps the candidate's training span (it was "
                f"trained on bars up to {trained_to.date()}): pick a start after it"
            )
        first = asked - pd.Timedelta(1, "ns")
    after = stamps[stamps > first]
    if after.empty:
        raise ConfigError(
            f"{source}: no bar after the candidate's training end {trained_to.date()}: nothing "
            "to replay out of sample"
        )
    return pd.Timestamp(after.iloc[0])


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
        f"{limits.latency_p99_max_seconds}s, trips <= {limits.circuit_breaker_trips_per_hour_max}"
        f"/h; Sharpe drop <= {limits.sharpe_drop_max}, win-rate drop <= "
        f"{limits.win_rate_drop_max}, PnL drop <= {limits.pnl_drop_max}, min_trades "
        f"{limits.min_trades} paired paper returns",
        "- Replayed: only bars after the candidate's training end; the candidate sees the "
        "instruments not yet routed as shadow copies of the stable's requests.",
        "- Latency is measured in process (no network); trips per hour use replayed market time.",
        "",
        f"**Verdict: {outcome.upper()}**",
        "",
    ]
    for n, step in enumerate(steps, 1):
        done = next((r for r in results if r.step is step), None)
        head = f"## Step {n}: {step_label(step)}"
        if done is None:
            lines += [head, "", "Not reached (an earlier step failed).", ""]
            continue
        lines += [
            f"{head}: {done.result.outcome.upper()}",
            "",
            f"{done.bars} bars, {done.start.date()} to {done.end.date()}; {trades_text(done)}.",
            "",
            *render_checks(done.result),
            "",
        ]
    return "\n".join(lines)


def step_label(step: Step) -> str:
    """``5%: KO`` for a canary step, ``all instruments paired`` for a single step."""
    if not step.routed:
        return f"pairing {len(step.paired)} instruments"
    return f"{step.weight}%: {', '.join(step.routed)}"


def trades_text(done: StepResult) -> str:
    """The step's paired paper returns (trades), or why there are none."""
    if done.result.paired is None:
        return "every instrument routed: service level only"
    return f"{done.result.paired:.0f} paired paper returns on {len(done.step.paired)} instruments"


def main(
    params: Params,
    env: str,
    candidate: str,
    stable: str | None = None,
    report: str | None = None,
    environments: str = "environments",
    start: str | None = None,
) -> int:
    """Run the rehearsal; print per-step verdicts; write the report; return the exit status."""
    cfg = params.serving
    settings_path = Path(environments) / env / "settings.yaml"
    settings = read_settings(settings_path)
    limits = thresholds_from_settings(settings, str(settings_path))
    steps = canary_steps(settings, str(settings_path))
    instruments = sorted({i for s in steps for i in s.routed + s.paired})
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
    trained_to = training_end(cand.engine.bundle.metadata, candidate)
    bars = load_bars(cfg.rehearsal.data_path)
    bars = bars[bars["instrument"].isin(instruments)]
    stamps = bars["timestamp"].drop_duplicates().sort_values()
    holdout_start = held_out_start(stamps, trained_to, start, cfg.rehearsal.data_path)
    replayed = stamps[stamps >= holdout_start].iloc[: cfg.rehearsal.holdout_bars]
    bars = bars[bars["timestamp"] <= replayed.iloc[-1]]  # at most holdout_bars bars, bounded
    if (stamps < holdout_start).sum() < cand.engine.window:
        raise DataError(
            f"{cfg.rehearsal.data_path}: fewer than {cand.engine.window} bars before "
            f"{holdout_start.date()} to warm the model's features"
        )
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
    sys.stdout.write(
        f"replaying {len(replayed)} bars from {holdout_start.date()} to {replayed.iloc[-1].date()} "
        f"(candidate trained up to {trained_to.date()})\n"
    )
    for n, r in enumerate(results, 1):
        bad = [c.name for c in r.result.checks if c.outcome != "pass"]
        sys.stdout.write(
            f"step {n} ({step_label(r.step)}): {r.result.outcome.upper()}"
            f"{' (' + ', '.join(bad) + ')' if bad else ''}: {r.bars} bars, {trades_text(r)}\n"
        )
    text = render_report(env, cand.description, stable_text, limits, results, steps, outcome)
    target = Path(report or cfg.rehearsal.report.format(env=env))
    atomic.write_text(target, text + "\n")
    sys.stdout.write(f"verdict: {outcome.upper()} (report: {target})\n")
    return EXIT_CODES[outcome]  # type: ignore[index]
