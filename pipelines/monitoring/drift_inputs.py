"""``pipelines monitor drift-inputs``: the hourly check's two tables, as Parquet files.

Writes the deployed model's training reference (``reference.parquet``, from the bundle the
manifest names, digest checked) and the hourly check's full live window (``current.parquet``:
the latest timestamps of the feature store covering the slowest feature's lookback, the window
of its correlation, importance and confidence checks and of the slowest features' PSI), so
that ``pipelines monitor drift`` (or any other tool, Evidently included) can compare exactly
what the hourly check compared.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from pipelines.config import Params
from pipelines.data.store import read_store
from pipelines.errors import DataError
from pipelines.io import atomic
from pipelines.monitoring.health import NoModelDeployed, bundle_location, deployed_bundle
from pipelines.monitoring.hourly import feature_bars, latest_window


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    def write(tmp: Path) -> None:
        frame.to_parquet(tmp, index=False)

    atomic.write_with(path, write)


def main(params: Params, manifest: str | None, out: str, features_path: str | None) -> int:
    """Write ``reference.parquet`` and ``current.parquet`` into ``out``; return 0."""
    try:
        path, sha256, version = bundle_location(manifest or params.monitoring.manifest)
    except NoModelDeployed as exc:
        sys.stderr.write(f"notice: {exc}\n")
        return 0
    bundle = deployed_bundle(path, sha256)
    assert bundle.reference is not None  # noqa: S101 - deployed_bundle checked it
    store = Path(features_path or params.paths.features)
    live, _ = read_store(store)
    if live.empty:
        raise DataError(f"{store}: the feature store has no rows")
    names = list(bundle.feature_names)
    current = latest_window(live, max(feature_bars(names, params).values()))
    folder = Path(out)
    for name, frame in (("reference", bundle.reference[names]), ("current", current[names])):
        _write_parquet(frame, folder / f"{name}.parquet")
    sys.stdout.write(
        f"model {version}: reference {len(bundle.reference)} rows, current {len(current)} rows "
        f"({current['timestamp'].min()} .. {current['timestamp'].max()}) in {folder}\n"
    )
    return 0
