"""Compare our figures with Evidently's and print the timings of the drift benchmark."""

from __future__ import annotations

from typing import Any

CHECKS = ("missing_rate", "outliers", "value_range", "live_min", "live_max", "hit_rate")


def max_difference(ours: Any, theirs: Any) -> float:
    """Largest absolute difference between two nested structures of numbers."""
    if isinstance(ours, dict):
        return max((max_difference(ours[k], theirs[k]) for k in ours), default=0.0)
    return abs(float(ours) - float(theirs))


def _mib(kib: float) -> float:
    return kib / 1024


def compare_and_print(results: dict[str, dict], rows: int, features: int, tolerance: float) -> int:
    """Print each comparison; return 1 when a figure disagrees, else 0."""
    ours = results["ours"]
    print(f"feature health on {rows:,} rows x {features} features (same rows, same features)")
    failed = False
    for mode, label in (("preset", "DataDriftPreset"), ("columns", "ValueDrift per column")):
        diff = max_difference(ours["values"], results[mode]["values"])
        verdict = "identical" if diff <= tolerance else "DISAGREE"
        failed |= diff > tolerance
        print(f"  PSI and KS vs {label:22s}: {verdict} (max abs diff {diff:.1e})")
    theirs = results["checks"]["values"]
    for check in (*CHECKS, "correlation"):
        if check not in theirs:
            print(f"  {check:12s}: Evidently gave no figure")
            failed = True
            continue
        diff = max_difference(ours["checks"][check], theirs[check])
        failed |= diff > tolerance
        verdict = "identical" if diff <= tolerance else "DISAGREE"
        print(f"  {check:12s} vs Evidently: {verdict} (max abs diff {diff:.1e})")
    print("  our checks Evidently has no metric for: importance (mean |SHAP| rank), IC, confidence")
    if failed:
        print("  figures DISAGREE: no timing is reported")
        return 1
    preset, checks = results["preset"]["seconds"], results["checks"]["seconds"]
    whole = ours["whole_seconds"]
    print(
        f"  time: whole hourly check (9 checks) {whole:6.2f}s; Evidently DataDriftPreset "
        f"(PSI + KS) {preset:6.2f}s = {preset / whole:5.1f}x; Evidently preset + the other "
        f"checks {preset + checks:6.2f}s = {(preset + checks) / whole:5.1f}x"
    )
    print(
        f"  time: PSI + KS only, ours {ours['seconds']:6.2f}s vs preset {preset:6.2f}s = "
        f"{preset / ours['seconds']:5.1f}x; ValueDrift per column "
        f"{results['columns']['seconds']:6.2f}s"
    )
    print(
        f"  peak RSS: ours {_mib(ours['peak_rss_kib']):6.0f} MiB, Evidently preset "
        f"{_mib(results['preset']['peak_rss_kib']):6.0f} MiB, checks "
        f"{_mib(results['checks']['peak_rss_kib']):6.0f} MiB"
    )
    print(f"  statuses: {ours['statuses']}")
    target = preset / whole >= 10
    print(f"  whole check >= 10x faster than Evidently's preset: {'yes' if target else 'NO'}")
    return 0
