"""Ingest stage: fetch raw input, archive it immutably, append only new bars.

Order matters: the raw bytes are archived under ``paths.raw_archive/<ingest time>/`` before
anything parses them, so a file that later fails a hard rule is still kept. New bars are
appended to ``paths.ingested``; revisions of past bars go to
``paths.quarantine/ingest/revisions-<ingest time>.parquet`` and are reported, never merged.
``paths.ingest_state`` records the last bar per instrument (the exchange source resumes there).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from pipelines.config import Params
from pipelines.data import sources
from pipelines.data.incremental import last_bars, plan_merge
from pipelines.errors import DataError
from pipelines.io import atomic

log = logging.getLogger(__name__)

STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


def safe_name(name: str) -> str:
    """A relative archive path for a raw item's name (no absolute part, no ``..``)."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "..")]
    parts = [p for p in parts if p != "/"]
    if not parts:
        raise DataError(f"{name!r}: raw item has no usable file name")
    return "/".join(parts)


def archive(items: list[sources.RawItem], root: str | Path, stamp: str) -> Path:
    """Write raw items under ``root/stamp/``; an existing archive folder is never reused.

    Returns:
        The archive folder.
    """
    folder = Path(root) / stamp
    if folder.exists():
        raise DataError(f"{folder}: archive folder already exists (raw input is never overwritten)")
    for item in items:
        target = folder / safe_name(item.name)
        atomic.write_bytes(target, item.data)
        log.info("ingest: archived %s (%d bytes)", target, len(item.data))
    return folder


def read_stored(path: str | Path) -> pd.DataFrame:
    """The bars ingested so far (an empty frame before the first run)."""
    file = Path(path)
    if not file.exists():
        return pd.DataFrame(columns=["timestamp", "instrument", "close"])
    return pd.read_parquet(file)


def read_state(
    state_path: str | Path, stored: pd.DataFrame
) -> tuple[dict[str, pd.Timestamp], dict[str, str]]:
    """Last bar per instrument and the versions of the inputs already ingested.

    Without stored bars the state is ignored (it would skip inputs whose bars are gone); an
    unreadable state falls back to the stored bars and reads every input again (the merge
    keeps that safe: bars already stored are not appended twice).
    """
    file = Path(state_path)
    if file.exists() and not stored.empty:
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
            bars = {k: pd.Timestamp(v) for k, v in state["last_bars"].items()}
            return bars, {str(k): str(v) for k, v in state.get("seen", {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ingest: %s unreadable, using the stored bars instead", file)
    return last_bars(stored), {}


def _record_revisions(folder: Path, stamp: str, file: Path | None, count: int) -> None:
    """Append this run to the quarantine index (one entry per ingest, revisions or not)."""
    index = folder / "index.json"
    entries = json.loads(index.read_text(encoding="utf-8")) if index.exists() else []
    entries.append({"ingest": stamp, "revisions": count, "file": file.name if file else None})
    atomic.write_json(index, entries)


def _state(bars: pd.DataFrame, seen: dict[str, str], run: dict[str, Any]) -> dict[str, Any]:
    return {
        "last_bars": {k: v.isoformat() for k, v in last_bars(bars).items()},
        "seen": dict(sorted(seen.items())),
        "last_run": run,
    }


def main(params: Params, now: pd.Timestamp | None = None) -> int:
    """Fetch, archive, parse and append; write revisions to quarantine and the state file.

    Args:
        params: The typed params.
        now: Ingest time (default: the clock); keys the archive folder.

    Returns:
        0 on success (revisions are reported, not failures).
    """
    started = time.perf_counter()
    moment = now if now is not None else pd.Timestamp.now(tz="UTC")
    stamp = moment.strftime(STAMP_FORMAT)
    paths = params.paths
    stored = read_stored(paths.ingested)
    log.info("ingest: source=%s, %d bars stored", params.data.source, len(stored))
    last, seen = read_state(paths.ingest_state, stored)
    items = sources.fetch(params.data, last, seen)
    if not items:
        log.info("ingest: no new or changed input")
    folder = archive(items, paths.raw_archive, stamp) if items else None
    frames = []
    for item in items:
        frame = sources.parse_item(item)
        log.info("ingest: parsed %s: %d bars", item.name, len(frame))
        frames.append(frame)
    batch = pd.concat(frames, ignore_index=True) if frames else stored.iloc[0:0]
    plan = plan_merge(stored, batch)
    revisions_file = None
    quarantine = Path(paths.quarantine) / "ingest"
    quarantine.mkdir(parents=True, exist_ok=True)
    if not plan.revisions.empty:
        revisions_file = quarantine / f"revisions-{stamp}.parquet"
        frame = plan.revisions.assign(ingest_time=moment)
        atomic.write_with(revisions_file, lambda tmp: frame.to_parquet(tmp, index=False))
        log.warning(
            "ingest: %d revised past bars quarantined to %s (not merged); first: %s %s %s",
            len(plan.revisions),
            revisions_file,
            plan.revisions.iloc[0]["instrument"],
            plan.revisions.iloc[0]["timestamp"],
            plan.revisions.iloc[0]["reason"],
        )
    _record_revisions(quarantine, stamp, revisions_file, len(plan.revisions))
    bars = stored
    if not plan.append.empty:
        parts = [f for f in (stored, plan.append) if not f.empty]
        bars = pd.concat(parts, ignore_index=True)
        bars = bars.sort_values(["instrument", "timestamp"], kind="mergesort")
        bars = bars.reset_index(drop=True)
    atomic.write_with(paths.ingested, lambda tmp: bars.to_parquet(tmp, index=False))
    run = {
        "at": moment.isoformat(),
        "source": params.data.source,
        "archive": str(folder) if folder else None,
        "fetched": len(batch),
        "appended": len(plan.append),
        "unchanged": plan.unchanged,
        "revisions": len(plan.revisions),
        "revisions_file": str(revisions_file) if revisions_file else None,
    }
    seen = {**seen, **{i.origin: i.version for i in items if i.origin and i.version}}
    atomic.write_json(paths.ingest_state, _state(bars, seen, run))
    log.info(
        "ingest: fetched %d, appended %d, unchanged %d, revisions %d; %d bars stored (%.1fs)",
        len(batch),
        len(plan.append),
        plan.unchanged,
        len(plan.revisions),
        len(bars),
        time.perf_counter() - started,
    )
    return 0
