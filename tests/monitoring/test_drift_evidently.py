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
