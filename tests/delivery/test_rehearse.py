"""``pipelines rehearse``: replay a held-out period along the canary steps, verdict per step."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.config import Params, parse_params
from pipelines.delivery import rehearse
from pipelines.errors import ConfigError
from tests.serving.conftest import Bundle, load_long, train

INSTRUMENTS = ["KO", "PEP", "PG", "JNJ"]
STEPS = [
    {"weight": 25, "instruments": ["KO"]},
    {"weight": 50, "instruments": ["KO", "PEP"]},
    {"weight": 100, "instruments": INSTRUMENTS},
]
TRAIN_END = "2014-12-31"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Bundle], Params]:
    root = tmp_path_factory.mktemp("rehearse")
    bars = load_long(INSTRUMENTS, "2013-01-01", "2016-12-31")
    wide = bars.pivot(index="timestamp", columns="instrument", values="close").reset_index()
    wide["Date"] = wide.pop("timestamp").dt.strftime("%Y-%m-%d")
    data = root / "bars.csv"
    wide.to_csv(data, index=False)
    # Trained up to TRAIN_END and saying so (train_span): the rehearsal replays 2015 onwards.
    train_bars = bars[bars["timestamp"] <= pd.Timestamp(TRAIN_END, tz="UTC")]
    span = {"train_span": [str(train_bars["timestamp"].min()), str(train_bars["timestamp"].max())]}
    bundles = {
        "good": train(train_bars, root / "good.json", "good-1", metadata=span),
        "inverted": train(train_bars, root / "inverted.json", "inverted-1", True, metadata=span),
        "no-span": train(train_bars, root / "no-span.json", "no-span-1"),
    }
    params = parse_params({"serving": {"rehearsal": {"data_path": str(data), "holdout_bars": 90}}})
    return root, bundles, params


def write_environment(root: Path, stable: Bundle | None, **analysis: float) -> Path:
    envs = root / f"envs-{len(list(root.glob('envs-*')))}"
    prod = envs / "prod"
    prod.mkdir(parents=True)
    limits = {
        "error_rate_max": 0.01,
        "latency_p99_max_seconds": 0.2,
        "circuit_breaker_trips_per_hour_max": 5,
        "sharpe_drop_max": 0.2,
        "win_rate_drop_max": 0.05,
        "pnl_drop_max": 0.1,
        "min_trades": 20,
    } | analysis
    settings = {
        "environment": "prod",
        "instrument_groups": STEPS,
        "instruments": INSTRUMENTS,
        "analysis": limits,
        "schedule": {"interval": "5m", "first_step": "1h", "step": "30m", "post_switch": "1h"},
    }
    (prod / "settings.yaml").write_text(yaml.safe_dump(settings))
    model = None
    if stable is not None:
        model = {
            "name": "strategy",
            "version": stable.version,
            "artifact": {"uri": str(stable.path), "sha256": stable.sha256},
        }
    (prod / "model.yaml").write_text(yaml.safe_dump({"environment": "prod", "model": model}))
    return envs


def run(
    setup,
    candidate: str,
    stable: Bundle | None,
    capsys,
    start: str | None = None,
    **analysis: float,
) -> tuple[int, str, str]:
    root, _, params = setup
    envs = write_environment(root, stable, **analysis)
    report = envs / "report.md"
    code = rehearse.main(
        params, "prod", candidate, report=str(report), environments=str(envs), start=start
    )
    return code, capsys.readouterr().out, report.read_text()


def test_same_model_passes_every_step_on_bars_after_its_training(setup, capsys) -> None:
    _, bundles, _ = setup
    code, out, report = run(setup, str(bundles["good"].path), bundles["good"], capsys)
    assert code == 0, out
    assert "replaying 90 bars from 2015-01-02 to " in out and "trained up to 2014-12-31" in out
    # the 25% and 50% steps pair the instruments not yet routed; 100% is service level only
    assert re.search(r"step 1 \(25%: KO\): PASS: 30 bars, \d+ paired paper returns on 3 ", out)
    assert re.search(r"step 2 \(50%: KO, PEP\): PASS: 30 bars, \d+ paired paper returns on 2 ", out)
    assert "step 3 (100%: KO, PEP, PG, JNJ): PASS: 30 bars, every instrument routed" in out
    assert "**Verdict: PASS**" in report and "## Step 2: 50%: KO, PEP: PASS" in report
    assert "2014-" not in report.split("## Step 1")[1]  # nothing inside the training span


def test_the_candidate_that_made_less_on_the_same_bars_fails(setup, capsys) -> None:
    """Inverted positions: on the same bars one of the two models made less; it must fail."""
    _, bundles, _ = setup
    one = run(setup, str(bundles["inverted"].path), bundles["good"], capsys)
    other = run(setup, str(bundles["good"].path), bundles["inverted"], capsys)
    failed = [r for r in (one, other) if r[0] == 1]
    assert len(failed) == 1, (one[1], other[1])
    code, out, report = failed[0]
    assert "step 1 (25%: KO): FAIL (sharpe_drop, win_rate_drop, pnl_drop)" in out, out
    assert "step 2" not in out and "Not reached" in report


def test_injected_errors_fail_the_error_rate(
    setup, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bundles, _ = setup
    monkeypatch.setenv("SERVING_INJECT_ERROR_RATE", "0.2")
    code, out, _ = run(setup, str(bundles["good"].path), bundles["good"], capsys)
    assert code == 1 and "FAIL (error_rate" in out


def test_too_few_trades_is_inconclusive(setup, capsys) -> None:
    _, bundles, _ = setup
    code, out, report = run(
        setup, str(bundles["good"].path), bundles["good"], capsys, min_trades=10_000
    )
    assert code == 3 and "INCONCLUSIVE" in out and "min_trades 10000" in report
    assert "paired paper returns < min_trades 10000" in report


def test_nothing_deployed_uses_the_naive_stable(setup, capsys) -> None:
    _, bundles, _ = setup
    code, out, report = run(setup, str(bundles["good"].path), None, capsys)
    assert "model: null" in out and "naive always-long stable" in report
    assert code in (0, 1, 3) and "verdict:" in out


def test_a_start_inside_the_training_span_is_refused(setup, capsys) -> None:
    _, bundles, _ = setup
    with pytest.raises(ConfigError) as refused:
        run(setup, str(bundles["good"].path), bundles["good"], capsys, start="2014-06-01")
    assert str(refused.value) == (
        "rehearse: --start 2014-06-01 overlaps the candidate's training span (it was trained on "
        "bars up to 2014-12-31): pick a start after it"
    )
    code, out, _ = run(
        setup, str(bundles["good"].path), bundles["good"], capsys, start="2016-03-01"
    )
    assert code == 0 and "replaying 90 bars from 2016-03-01" in out


def test_a_bundle_without_training_span_is_refused(setup, capsys) -> None:
    _, bundles, _ = setup
    with pytest.raises(ConfigError, match="has no train_span: cannot replay only bars after"):
        run(setup, str(bundles["no-span"].path), bundles["good"], capsys)


def test_cli_refuses_with_one_line(setup, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli import main

    root, bundles, params = setup
    envs = write_environment(root, bundles["good"])
    params_file = root / "params.yaml"
    params_file.write_text(
        yaml.safe_dump({"serving": {"rehearsal": {"data_path": str(root / "bars.csv")}}})
    )
    argv = ["--params", str(params_file), "rehearse", "--env", "prod"]
    argv += ["--candidate", str(bundles["good"].path), "--environments", str(envs)]
    code = main([*argv, "--start", "2013-05-01"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "overlaps the candidate's training span" in err


def test_candidate_manifest_digest_is_checked(setup, capsys, tmp_path: Path) -> None:
    from pipelines.registry.bundle import DigestMismatch

    _, bundles, _ = setup
    manifest = tmp_path / "candidate.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "model": {
                    "name": "s",
                    "version": "x",
                    "artifact": {"uri": str(bundles["good"].path), "sha256": "1" * 64},
                }
            }
        )
    )
    with pytest.raises(DigestMismatch):
        run(setup, str(manifest), bundles["good"], capsys)


def test_data_frame_shape_is_checked(tmp_path: Path) -> None:
    from pipelines.errors import DataError

    bad = tmp_path / "x.csv"
    pd.DataFrame({"a": [1]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="expected long"):
        rehearse.load_bars(bad)
