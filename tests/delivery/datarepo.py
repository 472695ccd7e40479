"""A small throw-away data repository (git + real DVC) with two data versions, for restores.

Stages mimic the data pipeline: ``ingest`` archives its input under ``data/raw`` (append-only)
and writes the bars, an ingest state and the instrument master (``data/reference``, the project's
own writer, from the bundled stocks' master); ``validate`` is the project's real
``pipelines data validate``; ``data_health`` summarises; ``train`` stands for a non-data stage.
Version 1's input has one non-positive close, which its params.yaml tolerates
(``validation.max_integrity_rejects: 1``); version 2's params tolerate none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample" / "sp500_20_daily_close.csv.gz"
MASTER = REPO_ROOT / "data" / "sample" / "instruments.csv"
INSTRUMENTS = ["KO", "PEP"]
DATES = {"v1": "2024-03-01T12:00:00+00:00", "v2": "2024-03-05T12:00:00+00:00"}

DVC_YAML = """stages:
  ingest:
    cmd: python ingest.py
    deps: [ingest.py, incoming.csv, instruments.csv]
    outs:
      - data/raw:
          persist: true
      - data/ingested/bars.parquet
      - data/ingested/state.json
      - data/reference
  validate:
    cmd: python -m pipelines data validate
    deps: [data/ingested/bars.parquet]
    params: [validation]
    outs:
      - data/validated/bars.parquet
      - data/quarantine/validate
      - reports/validation.json:
          cache: false
    metrics:
      - reports/summary/validation.json:
          cache: false
  data_health:
    cmd: python summary.py
    deps: [summary.py, data/validated/bars.parquet]
    outs: [data/summary.json]
  train:
    cmd: python train.py
    deps: [train.py, data/validated/bars.parquet]
    outs: [models/model.txt]
"""

INGEST = """import json, pathlib
import pandas as pd
raw = pathlib.Path("data/raw")
raw.mkdir(parents=True, exist_ok=True)
text = pathlib.Path("incoming.csv").read_text()
(raw / f"{len(list(raw.iterdir())):04d}.csv").write_text(text)
bars = pd.read_csv("incoming.csv")
bars["timestamp"] = pd.to_datetime(bars["timestamp"], utc=True)
pathlib.Path("data/ingested").mkdir(parents=True, exist_ok=True)
bars.to_parquet("data/ingested/bars.parquet", index=False)
last = bars.groupby("instrument")["timestamp"].max()
state = {"last_bars": {k: v.isoformat() for k, v in last.items()}}
pathlib.Path("data/ingested/state.json").write_text(json.dumps(state, sort_keys=True))
from pipelines.data import reference
rows, _ = reference.parse_reference("instruments.csv", pathlib.Path("instruments.csv").read_bytes())
history, _ = reference.merge(reference.read("data/reference"), rows, bars["timestamp"].max())
reference.write("data/reference", history)
"""

SUMMARY = """import json, pathlib
import pandas as pd
bars = pd.read_parquet("data/validated/bars.parquet")
pathlib.Path("data/summary.json").write_text(json.dumps({"rows": len(bars)}))
"""

TRAIN = """import pathlib
import pandas as pd
pathlib.Path("models").mkdir(exist_ok=True)
rows = len(pd.read_parquet("data/validated/bars.parquet"))
pathlib.Path("models/model.txt").write_text(f"trained on {rows} rows\\n")
"""


def tool_env() -> dict[str, str]:
    """This interpreter's bin folder first on PATH (python, dvc), telemetry off."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(DVC_NO_ANALYTICS="1", DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true")
    return env


def run(root: Path, *args: str, when: str | None = None) -> str:
    env = tool_env()
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    proc = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {proc.stderr or proc.stdout}")
    return proc.stdout.strip()


def incoming(version: str) -> str:
    wide = pd.read_csv(SAMPLE, parse_dates=["Date"])
    end = "2018-06-30" if version == "v1" else "2018-09-30"
    wide = wide[(wide["Date"] >= "2018-01-01") & (wide["Date"] <= end)]
    long = wide.melt(id_vars="Date", value_vars=INSTRUMENTS, var_name="instrument")
    long = long.rename(columns={"Date": "timestamp", "value": "close"})
    long["timestamp"] = long["timestamp"].dt.strftime("%Y-%m-%dT00:00:00Z")
    if version == "v1":
        long.loc[long.index[10], "close"] = 0.0  # one bad tick, tolerated by v1's params
    return long.to_csv(index=False)


@dataclass(frozen=True)
class DataRepo:
    """The repository and the commits of its two data versions."""

    root: Path
    v1: str
    v2: str

    def files(self) -> dict[str, bytes]:
        """Every file of the work tree outside .git and .dvc (a snapshot to compare)."""
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and not {".git", ".dvc"} & set(p.relative_to(self.root).parts)
        }


def build(root: Path) -> DataRepo:
    """Create the repository with data versions v1 and v2 (v2 checked out)."""
    root.mkdir(parents=True)
    run(root, "git", "init", "--quiet", "--initial-branch=main")
    run(root, "git", "config", "user.email", "t@example.invalid")
    run(root, "git", "config", "user.name", "t")
    run(root, "git", "config", "commit.gpgsign", "false")
    run(root, "dvc", "init", "--quiet")
    (root / "dvc.yaml").write_text(DVC_YAML)
    for name, text in (("ingest.py", INGEST), ("summary.py", SUMMARY), ("train.py", TRAIN)):
        (root / name).write_text(text)
    master = pd.read_csv(MASTER, dtype=str, keep_default_na=False)
    master[master["instrument"].isin(INSTRUMENTS)].to_csv(root / "instruments.csv", index=False)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    commits = {}
    for version, rejects in (("v1", 1), ("v2", 0)):
        params["validation"]["max_integrity_rejects"] = rejects
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        (root / "incoming.csv").write_text(incoming(version))
        run(root, "dvc", "repro", "--quiet")
        run(root, "git", "add", "-A")
        run(root, "git", "commit", "--quiet", "-m", f"data {version}", when=DATES[version])
        commits[version] = run(root, "git", "rev-parse", "HEAD")
    return DataRepo(root, commits["v1"], commits["v2"])


def copy(template: DataRepo, root: Path) -> DataRepo:
    """An independent copy (git history and DVC cache included)."""
    shutil.copytree(template.root, root, symlinks=True)
    return DataRepo(root, template.v1, template.v2)
