"""What a data restore changes, decided before anything is touched (pure: no I/O).

A restore brings the outputs of the data stages back to a revision's ``dvc.lock``. Outputs under
a kept path (the raw archive: append-only, the revision's copy is a subset of today's) are never
replaced, and outputs the revision does not have are never deleted: both keep today's
``dvc.lock`` entry, so that ``dvc.lock`` and the work tree agree after the restore.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.errors import PipelineError


class RestoreError(PipelineError):
    """The revision, an object, the work tree or the re-validation refused the restore."""


@dataclass(frozen=True)
class Change:
    """One DVC output whose content differs between two ``dvc.lock`` files."""

    path: str
    before: str | None
    after: str | None

    def describe(self) -> str:
        """One line: path and short hashes."""

        def short(value: str | None) -> str:
            return value[:8] if value else "absent"

        return f"{self.path}: {short(self.before)} -> {short(self.after)}"


def out_digest(out: dict[str, Any]) -> str:
    """The content hash DVC records for one output entry."""
    return str(out.get("md5") or out.get("hash") or out.get("etag") or "")


def lock_outputs(lock: Any, stages: Iterable[str] | None = None) -> dict[str, str]:
    """``{out path: hash}`` of the stages' outputs in a loaded ``dvc.lock`` (all stages: None)."""
    found: dict[str, str] = {}
    entries = (lock or {}).get("stages", {}) if isinstance(lock, dict) else {}
    wanted = None if stages is None else set(stages)
    for name, stage in entries.items():
        if wanted is None or name in wanted:
            for out in stage.get("outs", []) or []:
                found[str(out["path"])] = out_digest(out)
    return found


def diff_locks(before: Any, after: Any) -> list[Change]:
    """Outputs added, removed or changed between two loaded ``dvc.lock`` files."""
    old, new = lock_outputs(before), lock_outputs(after)
    return [
        Change(path, old.get(path), new.get(path))
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]


def is_kept(path: str, keep: Sequence[str]) -> bool:
    """Whether ``path`` is, or lies under, or contains one of the kept paths."""
    norm = path.rstrip("/")
    for kept in (k.rstrip("/") for k in keep):
        if norm == kept or norm.startswith(kept + "/") or kept.startswith(norm + "/"):
            return True
    return False


@dataclass(frozen=True)
class RestorePlan:
    """The outputs to replace, the ones kept, and the ``dvc.lock`` to write afterwards."""

    changes: list[Change]
    kept: list[str]
    lock: dict[str, Any]


def plan_restore(
    current: Any, target: Any, stages: Sequence[str], keep: Sequence[str]
) -> RestorePlan:
    """Decide what restoring ``target``'s data stages over ``current`` changes.

    Args:
        current: Today's loaded ``dvc.lock`` (may be empty).
        target: The revision's loaded ``dvc.lock``.
        stages: The data stages (the restore target and everything upstream of it).
        keep: Paths never replaced (the raw archive).

    Returns:
        Changes to make, kept paths, and the merged lock: the revision's entries for the data
        stages, with kept outputs and outputs the revision lacks left as they are today.
    """
    cur_stages = (current or {}).get("stages", {}) if isinstance(current, dict) else {}
    tgt_stages = (target or {}).get("stages", {}) if isinstance(target, dict) else {}
    merged = copy.deepcopy(current) if isinstance(current, dict) else {}
    merged.setdefault("schema", (target or {}).get("schema", "2.0"))
    merged_stages = merged.setdefault("stages", {})
    changes: list[Change] = []
    kept: list[str] = []
    for name in stages:
        if name not in tgt_stages:
            continue
        entry = copy.deepcopy(tgt_stages[name])
        now_outs = {str(o["path"]): o for o in (cur_stages.get(name, {}).get("outs") or [])}
        outs = []
        for out in entry.get("outs") or []:
            path = str(out["path"])
            if is_kept(path, keep):
                kept.append(path)
                if path in now_outs:
                    outs.append(now_outs[path])
                continue
            outs.append(out)
            before = out_digest(now_outs[path]) if path in now_outs else None
            if before != out_digest(out):
                changes.append(Change(path, before, out_digest(out)))
        restored = {str(o["path"]) for o in outs}
        outs.extend(o for p, o in now_outs.items() if p not in restored)  # never deleted
        entry["outs"] = outs
        merged_stages[name] = entry
    return RestorePlan(sorted(changes, key=lambda c: c.path), sorted(kept), merged)


def revision_date(text: str) -> str:
    """An ISO-8601 date or time for ``git --before``; a date alone means the end of that day.

    Times without a zone are UTC.

    Raises:
        RestoreError: Not a date.
    """
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        raise RestoreError(
            f"--date {text}: expected YYYY-MM-DD or an ISO-8601 time such as 2024-03-01T18:00Z"
        ) from None
    return moment.isoformat()
