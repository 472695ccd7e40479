"""Our PSI (Evidently-compatible binning) and KS equal Evidently 0.7's on fixed data, to 1e-9.

Evidently needs pandas < 3, so it runs in its own venv (``EVIDENTLY_PYTHON``) through
``benchmarks/bench_drift_evidently.py``; data goes through Parquet files in tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from pipelines.monitoring import drift
from tests.conftest import REPO_ROOT, require_tool

RUNNER = REPO_ROOT / "benchmarks" / "bench_drift_evidently.py"


def _fixed_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(20240611)
    n_ref, n_cur = 3000, 2000
    reference = pd.DataFrame(
        {
            "normal": rng.normal(0.0, 1.0, n_ref),
            "shifted": rng.normal(0.0, 1.0, n_ref),
            "wider": rng.normal(0.0, 1.0, n_ref),
            "heavy_tail": rng.standard_t(3, n_ref),
            "with_gaps": rng.normal(0.0, 1.0, n_ref),
            "outside_range": rng.uniform(0.0, 1.0, n_ref),
        }
    )
    current = pd.DataFrame(
        {
            "normal": rng.normal(0.0, 1.0, n_cur),
            "shifted": rng.normal(0.4, 1.0, n_cur),
            "wider": rng.normal(0.0, 2.0, n_cur),
            "heavy_tail": rng.standard_t(3, n_cur) * 1.3,
            "with_gaps": rng.normal(0.1, 1.0, n_cur),
            # Mostly beyond the reference's range: empty bins on both sides (zero-fill rule).
            "outside_range": rng.uniform(0.8, 3.0, n_cur),
        }
    )
    current.loc[current.index[::9], "with_gaps"] = np.nan
    reference.loc[reference.index[::31], "with_gaps"] = np.nan
    return reference, current


def test_psi_and_ks_equal_evidently(tmp_path):
    # No such executable on PATH: only EVIDENTLY_PYTHON can satisfy it (skip locally, fail in CI).
    python = require_tool("evidently-python", "EVIDENTLY_PYTHON")
    reference, current = _fixed_data()
    reference.to_parquet(tmp_path / "ref.parquet")
    current.to_parquet(tmp_path / "cur.parquet")
    out = tmp_path / "evidently.json"
    env = {**os.environ, "DO_NOT_TRACK": "true", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
    subprocess.run(
        [
            python,
            str(RUNNER),
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
            str(out),
            "columns",
        ],
        check=True,
        env=env,
        timeout=300,
        capture_output=True,
    )
    theirs = json.loads(out.read_text())["values"]
    for column in reference.columns:
        ref, cur = reference[column].to_numpy(), current[column].to_numpy()
        ours_psi = drift.psi(ref, cur, binning="evidently")
        _, ours_p = drift.ks(ref, cur)
        assert ours_psi == pytest.approx(theirs["psi"][column], abs=1e-9), column
        assert ours_p == pytest.approx(theirs["ks"][column], abs=1e-9), column
    # The data really drifts, so the comparison is not between zeros.
    assert theirs["psi"]["shifted"] > 0.1
    assert theirs["psi"]["outside_range"] > 1.0
    assert theirs["ks"]["shifted"] < 1e-6


def test_the_other_checks_equal_evidentlys_metrics(tmp_path):
    """Missing share, live min/max, shares outside our Tukey fences and the training range,
    Pearson correlation matrices and the hit rate: Evidently's own metrics give the same."""

    from pipelines.monitoring import correlation, power, ranges

    python = require_tool("evidently-python", "EVIDENTLY_PYTHON")
    reference, current = _fixed_data()
    columns = list(reference.columns)
    rng = np.random.default_rng(5)
    predictions = rng.uniform(0.3, 0.7, len(current))
    realised = rng.normal(0.0, 1.0, len(current)) + (predictions - 0.5)
    bounds = {}
    for c in columns:
        ref = reference[c].to_numpy()
        fence, span = ranges.tukey_fences(ref, 3.0), ranges.reference_range(ref)
        bounds[c] = {"fence": [fence.low, fence.high], "range": [span.low, span.high]}
    current.assign(
        pred_side=(predictions > 0.5).astype(int), real_sign=(realised > 0).astype(int)
    ).to_parquet(tmp_path / "cur.parquet")
    reference.to_parquet(tmp_path / "ref.parquet")
    (tmp_path / "bounds.json").write_text(json.dumps(bounds))
    out = tmp_path / "checks.json"
    env = {**os.environ, "DO_NOT_TRACK": "true", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
    subprocess.run(
        [python, str(RUNNER), str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet")]
        + [str(out), "checks", str(tmp_path / "bounds.json")],
        check=True,
        env=env,
        timeout=300,
        capture_output=True,
    )
    theirs = json.loads(out.read_text())["values"]
    for c in columns:
        cur = current[c].to_numpy()
        assert drift.missing_rate(cur) == pytest.approx(theirs["missing_rate"][c], abs=1e-12)
        assert np.nanmin(cur) == theirs["live_min"][c] and np.nanmax(cur) == theirs["live_max"][c]
        fence = ranges.Bounds(*bounds[c]["fence"])
        span = ranges.Bounds(*bounds[c]["range"])
        assert ranges.share_outside(cur, fence) == pytest.approx(theirs["outliers"][c], abs=1e-12)
        assert ranges.share_outside(cur, span) == pytest.approx(theirs["value_range"][c], abs=1e-12)
    for side, frame in (("reference", reference), ("current", current)):
        ours = correlation.correlation_matrix(frame, columns)
        for a in columns:
            for b in columns:
                assert ours.at[a, b] == pytest.approx(theirs["correlation"][side][a][b], abs=1e-9)
    hits = power.hit_rate(predictions, realised, 0.5)
    assert hits == pytest.approx(theirs["hit_rate"], abs=1e-12)
    # Not a comparison of zeros: the data is drifted and out of range.
    assert (
        theirs["value_range"]["outside_range"] > 0.5 and theirs["missing_rate"]["with_gaps"] > 0.1
    )
