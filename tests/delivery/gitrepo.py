"""Helpers that build a small throw-away GitOps repository for promotion tests."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from pipelines.registry.manifest import empty_manifest, write_manifest

ENVS = ("dev", "staging", "prod")


def git(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def init_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "config", "user.email", "tests@example.invalid")
    git(root, "config", "user.name", "tests")
    git(root, "config", "commit.gpgsign", "false")
    for env in ENVS:
        write_manifest(root / "environments" / env / "model.yaml", empty_manifest(env))
    (root / ".gitignore").write_text("models/\nreports/\n")
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "initial")
    return root


def write_candidate(root: Path, version: str, *, verdicts: dict[str, str] | None = None) -> str:
    """Write models/candidate.json and reports/gates/<env>.json; return the artifact digest."""
    sha = hashlib.sha256(f"bundle-{version}".encode()).hexdigest()
    verdicts = verdicts or {}
    reports = {}
    for env in ENVS:
        verdict = verdicts.get(env, "pass")
        report = {
            "environment": env,
            "verdict": verdict,
            "gates": [
                {
                    "name": "sharpe",
                    "value": 2.4,
                    "threshold": 2.0,
                    "comparator": ">",
                    "verdict": verdict,
                    "reason": "",
                },
                {
                    "name": "max_drawdown",
                    "value": 0.1,
                    "threshold": 0.15,
                    "comparator": "<",
                    "verdict": "pass",
                    "reason": "",
                },
            ],
            "extra_key": "tolerated",
        }
        path = root / "reports" / "gates" / f"{env}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report))
        reports[env] = f"reports/gates/{env}.json"
    candidate = {
        "model_name": "strategy-lgbm",
        "model_version": version,
        "artifact": {"uri": f"s3://models/strategy-lgbm/{version}/bundle.json", "sha256": sha},
        "provenance": {
            "git_commit": "a" * 40,
            "dvc_data_hash": "md5:abc",
            "mlflow_run_id": "r1",
            "params_hash": "p1",
        },
        "metrics": {"sharpe": 2.0 + int(version) / 10, "win_rate": 0.57},
        "gate_reports": reports,
        "unknown": {"tolerated": True},
    }
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "candidate.json").write_text(json.dumps(candidate))
    (root / "models" / "card.md").write_text(f"# Model card v{version}\n")
    return sha


def merge(root: Path, branch: str) -> None:
    git(root, "merge", "--quiet", "--no-ff", "-m", f"Merge {branch}", branch)
    git(root, "branch", "-D", branch)
