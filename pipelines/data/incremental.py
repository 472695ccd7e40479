"""Pure incremental merge: append only new bars; a changed or late past bar is a revision.

History is never rewritten silently. A bar of the batch is:

* new: its instrument has no stored bars, or it is after the instrument's last stored bar;
* unchanged: the same bar (same values) is already stored, so it is skipped;
* a revision: it is at or before the last stored bar and either differs from the stored bar
  or was not stored at all (a late bar). Revisions are quarantined with a reason, not merged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.data.sources.formats import VALUE_COLUMNS

KEYS = ["instrument", "timestamp"]


@dataclass(frozen=True)
class MergePlan:
    """What an ingest batch does to the stored bars.

    Attributes:
        append: Rows to append (new bars).
        revisions: Rows not merged, with a ``reason`` column.
        unchanged: Number of batch rows already stored with the same values.
    """

    append: pd.DataFrame
    revisions: pd.DataFrame
    unchanged: int


def last_bars(stored: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """Last stored bar per instrument."""
    if stored.empty:
        return {}
    last = stored.groupby("instrument", sort=True)["timestamp"].max()
    return {str(k): pd.Timestamp(v) for k, v in last.items()}


def _differs(left: pd.Series, right: pd.Series) -> np.ndarray:
    a = left.to_numpy(dtype="float64")
    b = right.to_numpy(dtype="float64")
    same = np.isclose(a, b, rtol=1e-12, atol=0.0) | (np.isnan(a) & np.isnan(b))
    return ~same


def plan_merge(stored: pd.DataFrame, batch: pd.DataFrame) -> MergePlan:
    """Split an ingest batch into new bars, unchanged bars and revisions.

    Args:
        stored: Bars already ingested (long format; may be empty).
        batch: Newly fetched bars (long format).

    Returns:
        The merge plan; ``append`` keeps the batch's columns.
    """
    batch = batch.reset_index(drop=True)
    if stored.empty:
        return MergePlan(batch, batch.iloc[0:0].assign(reason=pd.Series(dtype=str)), 0)
    last = stored.groupby("instrument")["timestamp"].max().rename("last_stored")
    joined = batch.join(last, on="instrument")
    is_new = (
        joined["last_stored"].isna() | (joined["timestamp"] > joined["last_stored"])
    ).to_numpy()
    compare = [c for c in VALUE_COLUMNS if c in batch.columns and c in stored.columns]
    old = batch.loc[~is_new]
    reference = stored.drop_duplicates(KEYS, keep="first")[KEYS + compare]
    matched = old.merge(
        reference, on=KEYS, how="left", suffixes=("", "_stored"), indicator=True, sort=False
    )
    matched.index = old.index
    reasons = pd.Series("", index=old.index, dtype=object)
    late = (matched["_merge"] == "left_only").to_numpy()
    reasons[late] = "late bar: at or before the last stored bar but not in stored history"
    changed = np.zeros(len(old), dtype=bool)
    for column in compare:
        differs = _differs(matched[column], matched[f"{column}_stored"]) & ~late
        text = column + " " + matched[f"{column}_stored"].astype(str) + " -> "
        text = text + matched[column].astype(str)
        first = differs & ~changed
        reasons[first] = "changed past bar: " + text[first]
        changed |= differs
    revised = late | changed
    revisions = old.loc[revised].assign(reason=reasons[revised].astype(str))
    return MergePlan(batch.loc[is_new].reset_index(drop=True), revisions, int((~revised).sum()))
