"""The runbooks' and playbooks' command blocks: marked, extracted, and executed.

Every shell block carries a ``<!-- run: ... -->`` marker (``twin/runbooks/extract.py``); the
extractor and the runner are tested on probes; then every runnable block that needs no cluster
runs for real in a clone of the repository with small data and the model in S3 (moto). The
blocks that need the cluster, Prometheus or the Pushgateway run against the twin
(``python -m twin.runbooks --twin-home ...``, the lead's e2e).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from tests.conftest import REPO_ROOT
from twin.runbooks.extract import MarkerError, blocks, docs_blocks
from twin.runbooks.run import Outcome, build_env, capabilities, run_all

BLOCKS = docs_blocks(REPO_ROOT / "docs", REPO_ROOT)
PATH = r"(?<![\w/.-])((?:environments|monitoring|models|data)/[\w./*-]+)"


def _probe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docs" / "probe.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_extract_reads_markers_indented_blocks_and_prompts(tmp_path):
    path = _probe(
        tmp_path,
        "# T\n\n<!-- run: needs=data,s3 expect=0,10 -->\n```bash\n$ pipelines monitor health\n"
        "```\n\n1. Then:\n\n   <!-- run: needs=cluster changes -->\n   ```sh\n"
        "   kubectl get pods -n trading-prod\n   echo done\n   ```\n\n"
        "<!-- run: manual -- <commit> is chosen by a person -->\n"
        "```bash\ngit revert <commit>\n```\n\n```yaml\nnot: a command\n```\n",
    )
    found = blocks(path, tmp_path)
    assert [b.script for b in found] == [
        "pipelines monitor health",
        "kubectl get pods -n trading-prod\necho done",
        "git revert <commit>",
    ]
    first, second, third = found
    assert first.needs == {"repo", "data", "s3"} and first.expect == (0, 10)
    assert first.where == "docs/probe.md:5"
    assert second.changes and second.needs == {"repo", "cluster"} and second.lang == "sh"
    assert not third.runnable and third.reason == "<commit> is chosen by a person"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("```bash\nls\n```\n", "without a '<!-- run: ... -->' marker"),
        ("<!-- run: needs=clusters -->\n```bash\nls\n```\n", "unknown capability 'clusters'"),
        ("<!-- run: needs=repo fast -->\n```bash\nls\n```\n", "unknown run option 'fast'"),
        ("<!-- run: manual -->\n```bash\nls\n```\n", "expected 'run: manual -- <reason>'"),
        ("<!-- run: needs=repo -->\n```yaml\na: 1\n```\n", "before a yaml block"),
        ("<!-- run: needs=repo -->\nsome text\n```bash\nls\n```\n", "not directly before"),
        ("text\n<!-- run: needs=repo -->\n", "without a command block after it"),
    ],
)
def test_malformed_markers_name_the_file_and_line(tmp_path, text, message):
    path = _probe(tmp_path, text)
    with pytest.raises(MarkerError, match=re.escape(message)) as caught:
        blocks(path, tmp_path)
    assert str(caught.value).startswith("docs/probe.md:")


def test_every_runbook_and_playbook_block_is_marked_and_many_run():
    assert len(BLOCKS) >= 100
    runnable = [b for b in BLOCKS if b.runnable]
    assert len(runnable) >= 0.8 * len(BLOCKS)
    for block in BLOCKS:
        assert block.script.strip(), block.where


def _dvc_outputs() -> set[str]:
    lock = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text())
    out = set()
    for stage in lock["stages"].values():
        out |= {o["path"] for o in stage.get("outs", [])}
    return out


def _namespaces() -> set[str]:
    """The namespaces Terraform creates (``modules/kubernetes-objects``): each model
    environment's ``trading-<env>`` and the platform's (``argo``, ``monitoring``, ...)."""
    path = REPO_ROOT / "terraform/modules/kubernetes-objects/main.tf"
    with path.open() as handle:
        local: dict[str, list[str]] = {}
        for block in hcl2.load(handle)["locals"]:
            local.update(block)
    envs = {"trading-" + env.strip('"') for env in local["model_environments"]}
    return envs | {name.strip('"') for name in local["platform"]}


def test_commands_name_real_namespaces_and_files():
    """Namespaces are Terraform's; repository paths exist; data and model paths are DVC outputs;
    a report is read only where the command that writes it ran before (same file)."""
    namespaces = _namespaces()
    assert {"trading-dev", "trading-staging", "trading-prod", "argo", "monitoring"} <= namespaces
    outputs = _dvc_outputs()
    written: dict[str, set[str]] = {}
    for block in BLOCKS:
        doc = block.where.split(":")[0]
        mine = written.setdefault(doc, set())
        kubectl = "\n".join(line for line in block.script.splitlines() if "kubectl" in line)
        for namespace in re.findall(r"(?:-n|--namespace)[ =](\S+)", kubectl):
            assert namespace in namespaces, (block.where, namespace)
        for path in re.findall(PATH, block.script):
            if path.startswith(("environments/", "monitoring/")):
                assert list(REPO_ROOT.glob(path)), (block.where, path)
            else:
                assert any(path == o or path.startswith(o + "/") for o in outputs), (
                    block.where,
                    path,
                )
        if "pipelines monitor health" in block.script:
            mine.add("reports/feature_health.json")
        mine |= set(re.findall(r"--out (reports/[\w./-]+)", block.script))
        for path in re.findall(r"(?<![\w/.-])(reports/[\w./-]+)", block.script):
            known = any(path == w or path.startswith(w + "/") for w in mine)
            assert known or (REPO_ROOT / path).exists(), (block.where, path)


def test_runner_passes_expected_exits_skips_what_it_cannot_run(tmp_path):
    probe = _probe(
        tmp_path,
        "<!-- run: needs=repo -->\n```bash\ntrue\n```\n"
        "<!-- run: needs=repo expect=0,10 -->\n```bash\nexit 10\n```\n"
        "<!-- run: needs=repo -->\n```bash\necho boom >&2\nfalse\necho never\n```\n"
        "<!-- run: needs=cluster -->\n```bash\nkubectl get pods\n```\n"
        "<!-- run: needs=repo changes -->\n```bash\ntouch changed\n```\n"
        "<!-- run: manual -- a person decides -->\n```bash\nrm -rf /\n```\n"
        "<!-- run: needs=repo -->\n```bash\nsleep 30\n```\n",
    )
    env = build_env({"PATH": "/usr/bin:/bin"}, {"PROMETHEUS_URL": "http://127.0.0.1:9"}, None)
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    have = capabilities(env, tmp_path)
    assert have == {"repo", "prometheus"}
    outcomes = run_all(blocks(probe, tmp_path), env, tmp_path, have, timeout=2)
    assert [o.status for o in outcomes] == [
        "pass",
        "pass",
        "FAIL",
        "skipped",
        "skipped",
        "skipped",
        "FAIL",
    ]
    assert (
        outcomes[2].exit_code == 1
        and "boom" in outcomes[2].detail
        and "never" not in outcomes[2].detail
    )
    assert outcomes[3].detail == "needs cluster"
    assert "changes state" in outcomes[4].detail and not (tmp_path / "changed").exists()
    assert outcomes[5].detail == "manual: a person decides"
    assert "timed out" in outcomes[6].detail
    again = run_all(blocks(probe, tmp_path), env, tmp_path, have, allow_changes=True, timeout=2)
    assert again[4].status == "pass" and (tmp_path / "changed").exists()


@pytest.mark.slow
def test_the_blocks_that_need_no_cluster_run_in_a_workspace(tmp_path, s3_endpoint, monkeypatch):
    from tests.docs.workspace import build

    workdir = build(tmp_path / "checkout")
    env = build_env(dict(__import__("os").environ), {}, None)
    env.pop("PUSHGATEWAY_URL", None)
    env.pop("PROMETHEUS_URL", None)
    have = capabilities(env, workdir)
    assert {"repo", "data", "s3"} <= have and "cluster" not in have
    # The same command in the same workspace gives the same result: each distinct script runs
    # once (in the order of its first appearance), which keeps this test to a few minutes.
    seen: set[str] = set()
    distinct = [b for b in BLOCKS if not (b.script in seen or seen.add(b.script))]
    health = workdir / "reports/feature_health.json"
    outcomes: list[Outcome] = []
    deployed: dict[str, Any] | None = None
    for block in distinct:
        outcomes += run_all([block], env, workdir, have, timeout=240)
        # A later block (the candidate's check before a promotion) rewrites the report.
        if deployed is None and "monitor health --manifest" in block.script and health.exists():
            deployed = yaml.safe_load(health.read_text())
    failed = [f"{o.where}: exit {o.exit_code}: {o.detail}" for o in outcomes if o.status == "FAIL"]
    assert not failed, "\n".join(failed)
    ran = [o for o in outcomes if o.status == "pass"]
    # The distinct blocks that need only the repository, data and S3 (the others need a DVC
    # remote, Prometheus, the Pushgateway, MLflow or the cluster; the disaster-recovery drill's
    # blocks run in their own runner): 19 today, so a block turned manual or skipped shows here.
    assert len(ran) >= 19, len(ran)
    assert deployed is not None and deployed["model_version"] == "1"
    assert len(deployed["checks"]) == 9
    candidate = yaml.safe_load(health.read_text())
    assert candidate["reference"] == "bundle models/model_bundle.json"
    assert "model_version" not in candidate and len(candidate["checks"]) == 9
