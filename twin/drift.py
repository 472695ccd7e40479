"""Inject drift into live features: a copy of a feature store with chosen features moved.

The twin's week shows the hourly check paging: ``python -m twin.drift`` writes a copy of the
feature store in which the latest ``--bars`` timestamps of each ``--feature`` are scaled
(``--scale``) and shifted (``--shift-sd`` times the feature's standard deviation over the
store); ``pipelines monitor health --features <copy>`` then reports them, pushes the figures,
and Prometheus raises ``FeaturePSICritical`` to the PagerDuty route. The original store is not
touched. A test hook, not a product feature.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.data.store import read_store, write_store
from twin.errors import TwinError


def inject(
    frame: pd.DataFrame, features: Sequence[str], bars: int, scale: float, shift_sd: float
) -> pd.DataFrame:
    """A copy of ``frame`` with ``features`` moved on its latest ``bars`` timestamps.

    Raises:
        TwinError: A feature is not a column of the store.
    """
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise TwinError(f"drift: feature {missing[0]!r} is not in the store")
    out = frame.copy()
    times = out["timestamp"].to_numpy(dtype="datetime64[ns]")
    stamps = np.unique(times)
    latest = times >= stamps[-min(bars, stamps.size)]
    for name in features:
        values = out[name].to_numpy(dtype="float64", na_value=np.nan, copy=True)
        spread = float(np.nanstd(values)) or 1.0
        values[latest] = values[latest] * scale + shift_sd * spread
        out[name] = values
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write the drifted copy; print what moved."""
    parser = argparse.ArgumentParser(prog="python -m twin.drift", description=__doc__)
    parser.add_argument("--store", type=Path, required=True, help="feature store to copy")
    parser.add_argument("--out", type=Path, required=True, help="where the drifted copy goes")
    parser.add_argument("--feature", action="append", required=True, help="feature to move")
    parser.add_argument("--bars", type=int, default=126, help="latest timestamps to move")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply by this")
    parser.add_argument("--shift-sd", type=float, default=3.0, help="add this many std devs")
    args = parser.parse_args(argv)
    try:
        frame, metadata = read_store(args.store)
        moved = inject(frame, args.feature, args.bars, args.scale, args.shift_sd)
    except TwinError as exc:
        sys.stderr.write(f"twin: error: {exc}\n")
        return 1
    write_store(moved, metadata, args.out)
    sys.stdout.write(
        f"drifted {', '.join(args.feature)} on the latest {args.bars} timestamps "
        f"(x{args.scale:g}, {args.shift_sd:+g} sd) into {args.out}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
