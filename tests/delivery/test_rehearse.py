"""``pipelines rehearse``: replay a held-out period along the canary steps, verdict per step."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.config import Params, parse_params
from pipelines.delivery import rehearse
from tests.serving.conftest import Bundle, load_long, train

STEPS = [{"weight": 5, "instruments": ["KO"]}, {"weight": 50, "instruments": ["KO", "PEP"]}]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Bundle], Params]:
    root = tmp_path_factory.mktemp("rehearse")
    bars = load_long(["KO", "PEP"], "2014-01-01", "2016-12-31")
    wide = bars.pivot(index="timestamp", columns="instrument", values="close").reset_index()
    wide["Date"] = wide.pop("timestamp").dt.strftime("%Y-%m-%d")
    data = root / "bars.csv"
    wide.to_csv(data, index=False)
    # Trained on the whole period: the replay is in sample, so the good model is clearly good
    # and the inverted one clearly bad (this tests the rehearsal's judgement, not the models).
    bundles = {
        "good": train(bars, root / "good.json", "good-1"),
        "degraded": train(bars, root / "degraded.json", "degraded-1", invert=True),
    }
    params = parse_params({"serving": {"rehearsal": {"data_path": str(data), "holdout_bars": 60}}})
    return root, bundles, params


def write_environment(root: Path, stable: Bundle | None, **analysis: float) -> Path:
    envs = root / f"envs-{len(list(root.glob('envs-*')))}"
    prod = envs / "prod"
    prod.mkdir(parents=True)
    limits = {
        "window": "10m",
        "error_rate_max": 0.01,
        "latency_p99_max_seconds": 0.2,
        "sharpe_drop_max": 0.2,
        "win_rate_drop_max": 0.05,
        "circuit_breaker_trips_per_hour_max": 5,
        "min_trades": 20,
    } | analysis
    settings = {
        "environment": "prod",
        "instrument_groups": STEPS,
        "instruments": ["KO", "PEP"],
        "analysis": limits,
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
    setup, candidate: str, stable: Bundle | None, capsys, **analysis: float
) -> tuple[int, str, str]:
    root, _, params = setup
    envs = write_environment(root, stable, **analysis)
    report = envs / "report.md"
    code = rehearse.main(params, "prod", candidate, report=str(report), environments=str(envs))
    return code, capsys.readouterr().out, report.read_text()


def test_same_model_passes_every_step(setup, capsys) -> None:
    _, bundles, _ = setup
    code, out, report = run(setup, str(bundles["good"].path), bundles["good"], capsys)
    assert code == 0, out
    assert "step 1 (5%: KO): PASS" in out and "step 2 (50%: KO,PEP): PASS" in out
    assert "**Verdict: PASS**" in report and "## Step 2: 50% (KO, PEP): PASS" in report


def test_degraded_candidate_fails_at_the_first_step(setup, capsys) -> None:
    _, bundles, _ = setup
    code, out, report = run(setup, str(bundles["degraded"].path), bundles["good"], capsys)
    assert code == 1
    assert "step 1 (5%: KO): FAIL (sharpe_drop, win_rate_drop)" in out
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


def test_nothing_deployed_uses_the_naive_stable(setup, capsys) -> None:
    _, bundles, _ = setup
    code, out, report = run(setup, str(bundles["good"].path), None, capsys)
    assert "model: null" in out and "naive always-long stable" in report
    assert code in (0, 1, 3) and "verdict:" in out


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


def test_training_overlap_is_reported() -> None:
    start = pd.Timestamp("2020-01-01", tz="UTC")
    assert rehearse.training_overlap({"train_end": "2019-06-30"}, start) is None
    assert "in sample" in (rehearse.training_overlap({"train_end": "2020-03-01"}, start) or "")
    assert rehearse.training_overlap({}, start) is None
