"""Ingest stage: fetch raw input, archive it immutably, append only new bars.

Order matters: the raw bytes (bars, the instrument master, news events) are archived under
``paths.raw_archive/<ingest time>/`` before anything parses them, so a file that later fails a
hard rule is still kept. New bars are appended to ``paths.ingested``; revisions of past bars go
to ``paths.quarantine/ingest/revisions-<ingest time>.parquet`` and are reported, never merged.
Rows that cannot be kept (a cell or timestamp that does not parse, an infinite number, a bar
after the run's clock plus one bar) go to ``rejected-<ingest time>.parquet`` with their file,
line and reason; the rest of the file is kept, and a future bar never holds back later ones.
``paths.ingest_state`` records the last bar per instrument (the exchange source resumes there)
and the dataset's identity: its frequency and sources (:mod:`pipelines.data.identity`).
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
from pipelines.data.calendars import UNIT_NS
from pipelines.data.companions import ingest_events, ingest_reference
from pipelines.data.identity import check_source, record
from pipelines.data.incremental import KEYS, last_bars, plan_merge
from pipelines.data.params import Frequency
from pipelines.data.sources.formats import empty_rejects
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
        kind = "" if item.kind in ("table", "ohlcv_json") else f"{item.kind}/"
        target = folder / safe_name(kind + item.name)
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
) -> tuple[dict[str, pd.Timestamp], dict[str, str], dict[str, Any] | None]:
    """Last bar per instrument, the versions of the inputs already ingested, the dataset.

    Without stored bars the state is ignored (it would skip inputs whose bars are gone); an
    unreadable state falls back to the stored bars and reads every input again (the merge
    keeps that safe: bars already stored are not appended twice).
    """
    file = Path(state_path)
    if file.exists() and not stored.empty:
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
            bars = {k: pd.Timestamp(v) for k, v in state["last_bars"].items()}
            seen = {str(k): str(v) for k, v in state.get("seen", {}).items()}
            return bars, seen, state.get("dataset")
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ingest: %s unreadable, using the stored bars instead", file)
    return last_bars(stored), {}, None


def split_future(
    batch: pd.DataFrame, rejects: pd.DataFrame, moment: pd.Timestamp, frequency: Frequency
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move bars later than the run's clock plus one bar out of the batch, into the rejects.

    Each batch row carries its input's ``file`` and ``line``, so the reject names them.
    """
    limit = moment + pd.Timedelta(UNIT_NS[frequency], unit="ns")
    future = (batch["timestamp"] > limit).to_numpy()
    if not future.any():
        return batch, rejects
    late = batch[future]
    found = pd.DataFrame(
        {
            "file": late["_file"].to_numpy(),
            "line": late["_line"].to_numpy(),
            "instrument": late["instrument"].astype(str).to_numpy(),
            "reason": "future bar: "
            + late["timestamp"].map(pd.Timestamp.isoformat).to_numpy(dtype=object)
            + f" is after the run's clock {moment.isoformat()} plus one {frequency} bar",
        }
    )
    return batch[~future], pd.concat([rejects, found], ignore_index=True)


def _record_revisions(folder: Path, stamp: str, file: Path | None, count: int) -> None:
    """Append this run to the quarantine index (one entry per ingest, revisions or not)."""
    index = folder / "index.json"
    entries = json.loads(index.read_text(encoding="utf-8")) if index.exists() else []
    entries.append({"ingest": stamp, "revisions": count, "file": file.name if file else None})
    atomic.write_json(index, entries)


def _state(
    bars: pd.DataFrame, seen: dict[str, str], run: dict[str, Any], dataset: dict[str, Any]
) -> dict[str, Any]:
    return {
        "last_bars": {k: v.isoformat() for k, v in last_bars(bars).items()},
        "seen": dict(sorted(seen.items())),
        "dataset": dataset,
        "last_run": run,
    }


def _parse(items: list[sources.RawItem]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse every bar input; each bar keeps its ``_file`` and ``_line``."""
    frames, rejects = [], [empty_rejects()]
    for item in items:
        parsed = sources.parse_item(item)
        log.info(
            "ingest: parsed %s: %d bars, %d rejected",
            item.name,
            len(parsed.bars),
            len(parsed.rejects),
        )
        frames.append(parsed.bars.assign(_file=item.origin or item.name, _line=parsed.lines))
        rejects.append(parsed.rejects)
    batch = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[*KEYS, "close", "_file", "_line"])
    )
    return batch, pd.concat([r for r in rejects if not r.empty] or rejects, ignore_index=True)


def _quarantine_rejects(folder: Path, stamp: str, rejects: pd.DataFrame) -> Path | None:
    if rejects.empty:
        return None
    target = folder / f"rejected-{stamp}.parquet"
    atomic.write_with(target, lambda tmp: rejects.to_parquet(tmp, index=False))
    first = rejects.iloc[0]
    who = f" ({first['instrument']})" if first["instrument"] else ""
    log.warning(
        "ingest: %d row(s) rejected and kept in %s; first: %s line %d%s: %s",
        len(rejects),
        target,
        first["file"],
        int(first["line"]),
        who,
        first["reason"],
    )
    return target


def main(params: Params, now: pd.Timestamp | None = None, add_instruments: bool = False) -> int:
    """Fetch, archive, parse and append; quarantine what cannot be kept; write the state.

    Args:
        params: The typed params.
        now: Ingest time (default: the clock); keys the archive folder and judges future bars.
        add_instruments: Let a source other than the one the stored bars came from add its
            instruments (refused otherwise, see :mod:`pipelines.data.identity`).

    Returns:
        0 on success (revisions and rejected rows are reported, not failures).
    """
    started = time.perf_counter()
    moment = now if now is not None else pd.Timestamp.now(tz="UTC")
    stamp = moment.strftime(STAMP_FORMAT)
    paths, data = params.paths, params.data
    source = sources.describe(data)
    stored = read_stored(paths.ingested)
    log.info("ingest: source=%s, %d bars stored", source, len(stored))
    last, seen, dataset = read_state(paths.ingest_state, stored)
    check_source(
        dataset if not stored.empty else None,
        source,
        data.frequency,
        paths.ingest_state,
        add_instruments,
    )
    items = sources.fetch(data, last, seen)
    extras = sources.fetch_reference(data, seen) + sources.fetch_events(data, seen)
    if not items:
        log.info("ingest: no new or changed bars")
    folder = archive(items + extras, paths.raw_archive, stamp) if items or extras else None
    batch, rejects = _parse(items)
    batch, rejects = split_future(batch, rejects, moment, data.frequency)
    dataset = record(
        dataset if not stored.empty else None,
        source,
        data.frequency,
        batch["instrument"].astype(str).unique(),
        paths.ingest_state,
    )
    batch = batch.drop(columns=["_file", "_line"])
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
    bars = stored
    if not plan.append.empty:
        parts = [f for f in (stored, plan.append) if not f.empty]
        bars = pd.concat(parts, ignore_index=True)
        bars = bars.sort_values(["instrument", "timestamp"], kind="mergesort")
        bars = bars.reset_index(drop=True)
    first = {
        str(k): pd.Timestamp(v) for k, v in bars.groupby("instrument")["timestamp"].min().items()
    }
    defaults, where = sources.market_defaults(data)
    ref_rejects, ref_summary = ingest_reference(
        [i for i in extras if i.kind == "reference"],
        paths.reference,
        moment,
        first,
        defaults,
        where,
    )
    event_rejects, events_added = ingest_events(
        [i for i in extras if i.kind == "events"], paths.events
    )
    rejects = pd.concat(
        [
            rejects.assign(kind="bars"),
            ref_rejects.assign(kind="reference"),
            event_rejects.assign(kind="events"),
        ],
        ignore_index=True,
    )
    rejects_file = _quarantine_rejects(quarantine, stamp, rejects)
    _record_revisions(quarantine, stamp, revisions_file, len(plan.revisions))
    atomic.write_with(paths.ingested, lambda tmp: bars.to_parquet(tmp, index=False))
    run = {
        "at": moment.isoformat(),
        "source": source,
        "archive": str(folder) if folder else None,
        "fetched": len(batch),
        "appended": len(plan.append),
        "unchanged": plan.unchanged,
        "revisions": len(plan.revisions),
        "revisions_file": str(revisions_file) if revisions_file else None,
        "rejected": len(rejects),
        "rejected_file": str(rejects_file) if rejects_file else None,
        "reference": ref_summary,
        "events_added": events_added,
    }
    seen = {**seen, **{i.origin: i.version for i in items + extras if i.origin and i.version}}
    atomic.write_json(paths.ingest_state, _state(bars, seen, run, dataset))
    log.info(
        "ingest: fetched %d, appended %d, unchanged %d, revisions %d, rejected %d; %d bars "
        "stored (%.1fs)",
        len(batch),
        len(plan.append),
        plan.unchanged,
        len(plan.revisions),
        len(rejects),
        len(bars),
        time.perf_counter() - started,
    )
    return 0
