"""Helpers that build a small throw-away GitOps repository for promotion tests."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from pipelines.registry.manifest import empty_manifest, write_manifest
from tests.registry.fixtures import image_for

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


def bundle_sha(version: str) -> str:
    """The artifact digest :func:`write_candidate` gives ``version``."""
    return hashlib.sha256(f"bundle-{version}".encode()).hexdigest()


def write_candidate(
    root: Path,
    version: str,
    *,
    verdicts: dict[str, str] | None = None,
    uri: str | None = None,
    judged: str | None = None,
    image: str | None = "default",
) -> str:
    """Write models/candidate.json and reports/gates/<env>.json; return the artifact digest.

    ``root`` is the evidence folder (the repository by default in promote). ``judged`` is the
    bundle digest the gate reports name (default: the candidate's own).
    """
    sha = bundle_sha(version)
    verdicts = verdicts or {}
    reports = {}
    for env in ENVS:
        verdict = verdicts.get(env, "pass")
        report = {
            "environment": env,
            "verdict": verdict,
            "candidate": {"bundle": "models/model_bundle.json", "sha256": judged or sha},
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
        "artifact": {
            "uri": uri or f"s3://mlflow/1/run{version}/artifacts/bundle/model_bundle.json",
            "sha256": sha,
        },
        "image": image_for(f"image-{version}") if image == "default" else image,
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
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "models" / "candidate.json").write_text(json.dumps(candidate))
    (root / "models" / "card.md").write_text(f"# Model card v{version}\n")
    return sha


def merge(root: Path, branch: str) -> None:
    git(root, "merge", "--quiet", "--no-ff", "-m", f"Merge {branch}", branch)
    git(root, "branch", "-D", branch)
