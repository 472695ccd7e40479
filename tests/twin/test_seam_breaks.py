"""Issue 10's five seams, each broken in a copy of the repository: the twin's piece must fail.

Every test breaks one seam by editing the copy's real files, runs the piece the week in the
life (``make e2e``) runs at that seam, from the copy, and expects the failure to name the seam;
the same piece on the unbroken copy passes (the control, so the test can fail).

Also breaking these seams, elsewhere: ``tests/delivery/test_lint_manifest.py`` (CI's
``pipelines lint`` on a manifest with a repository path and on a Rollout without ``--host``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import httpx
import pytest
import yaml

from pipelines.delivery.argo import failed_steps
from tests.registry.fixtures import image_for, write
from tests.twin.cluster_support import nodes_by_display, wait_for
from tests.twin.seam_cluster import (
    SeamCluster,
    argo_prerequisites,
    pod_logs,
    rollout_pod_spec,
    running_seam_cluster,
    smoke_workflow,
    submit_with_checkout,
)
from tests.twin.seam_github import fake_github, promotable_candidate, run_promotion_step
from tests.twin.seam_support import (
    TIMEOUT,
    VENV,
    break_file,
    commit_all,
    copy_repository,
    dag_task,
    deploy_template,
    git,
    run_step,
    workflow_step,
)
from twin.cluster.argo_expr import substitute

pytestmark = pytest.mark.slow

LOCAL_PATH = "models/model_bundle.json"  # the path issue 10 found in a promoted manifest


def _fetch_and_verify(repo: Path, image: str) -> subprocess.CompletedProcess[str]:
    """The deploy template's ``fetch-and-verify`` task, as its ``pipelines`` script runs it."""
    template = deploy_template(repo)
    scope = {"workflow.parameters.environment": "dev", "workflow.parameters.image": image}
    args = substitute(str(dag_task(template, "fetch-and-verify")["arguments"]["parameters"][0]
                          ["value"]), scope)  # fmt: skip
    script = next(t for t in template["spec"]["templates"] if t["name"] == "pipelines")["script"]
    source = substitute(str(script["source"]), {"inputs.parameters.args": args})
    workspace = repo.parent / f"{repo.name}-workspace"
    workspace.mkdir()
    source = source.replace("/workspace/", f"{workspace}/")  # the volume, mounted
    env = {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(  # noqa: S603 - the template's own script
        [*script["command"], "-c", source],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_manifest_on_a_local_path_is_refused_by_the_deploys_verify_step(
    tmp_path: Path, s3_endpoint: str
) -> None:
    payload = b'{"bundle": "seam test"}'
    sha = hashlib.sha256(payload).hexdigest()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="seam-artifacts")
    key = "1/r/artifacts/bundle/model_bundle.json"
    s3.put_object(Bucket="seam-artifacts", Key=key, Body=payload)
    image = image_for("seam")
    cases = {
        "control": f"s3://seam-artifacts/{key}",
        "path": LOCAL_PATH,
        "file": f"file://{tmp_path}/file/{LOCAL_PATH}",
    }
    for case, uri in cases.items():
        repo = copy_repository(tmp_path / case)
        write(repo / "environments" / "dev" / "model.yaml", "dev", "s3://placeholder/key", sha,
              image=image)  # fmt: skip
        break_file(repo, "environments/dev/model.yaml", "s3://placeholder/key", uri)
        # Worst case for the break: the file exists where the step runs (not in the pod).
        (repo / LOCAL_PATH).write_bytes(payload)
    with ThreadPoolExecutor(3) as pool:
        control, *broken = pool.map(lambda c: _fetch_and_verify(tmp_path / c, image), cases)
    assert control.returncode == 0, control.stderr
    assert f"artifact verified (sha256 {sha})" in control.stdout
    for proc, (uri, why) in zip(
        broken,
        [(LOCAL_PATH, "is a path, not an object"), (cases["file"], "is not in the artifact store")],
        strict=True,
    ):
        assert proc.returncode != 0
        assert f"model.artifact.uri: '{uri}' {why}" in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr  # one readable line


def test_no_default_dvc_remote_fails_the_nightly_push_naming_it(
    tmp_path: Path, s3_endpoint: str
) -> None:
    boto3.client("s3").create_bucket(Bucket="seam-dvc")
    env = {"DVC_REMOTE_URL": "s3://seam-dvc/cache", "DVC_NO_ANALYTICS": "1"}
    steps = (
        "Point the default DVC remote at the platform's bucket",
        "Store the new data version on the DVC remote",
    )

    def nightly_push(case: str) -> list[subprocess.CompletedProcess[str]]:
        repo = copy_repository(tmp_path / case, git_repo=True, venv=True)
        if case == "broken":
            break_file(repo, ".dvc/config", "    remote = storage\n", "")
        return [run_step(repo, workflow_step(repo, "data.yml", "data", s), env) for s in steps]

    with ThreadPoolExecutor(2) as pool:
        broken, control = pool.map(nightly_push, ("broken", "control"))
    for proc in control:
        assert proc.returncode == 0, proc.stderr
    configure, push = broken
    assert configure.returncode == 0, configure.stderr  # the remote is there, not the default
    assert push.returncode != 0
    assert "failed to push data to the cloud" in push.stderr
    assert "no remote specified" in push.stderr and "dvc remote default" in push.stderr


PROMOTE_STEP = "pipelines promote --to dev"
PROMOTE_AS_APP = """          BOT_TOKEN: ${{ steps.app-token.outputs.token }}
          BOT_SLUG: ${{ steps.app-token.outputs.app-slug }}
        run: .github/scripts/as-bot .venv/bin/python -m pipelines promote --to dev"""
PROMOTE_AS_JOB = """          BOT_TOKEN: ${{ github.token }}
          BOT_SLUG: github-actions
        run: .github/scripts/as-bot .venv/bin/python -m pipelines promote --to dev"""


def _promote_dev(tmp_path: Path, case: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """train.yml's dev promotion step against a fake GitHub seeded with the (broken) copy."""
    repo = copy_repository(tmp_path / case / "source")
    promotable_candidate(repo, image_for("seam"), "s3://seam-mlflow/1/r/artifacts/bundle/b.json")
    if case == "broken":
        # Open the PR with the job's own token (given the permissions it then needs).
        break_file(repo, ".github/workflows/train.yml", PROMOTE_AS_APP, PROMOTE_AS_JOB)
        break_file(
            repo,
            ".github/workflows/train.yml",
            "      contents: read # check out the committed candidate"
            " (the bot pushes with the App token)\n",
            "      contents: write\n      pull-requests: write\n",
        )
    git(repo, "init", "-q", "--initial-branch=main")
    commit_all(repo, "copy of the repository")
    with fake_github(tmp_path / case / "home", repo) as gh:
        proc = run_promotion_step(
            gh, tmp_path / case / "work", "train.yml", "promote-dev", PROMOTE_STEP
        )
        assert proc.returncode == 0, proc.stderr
        (pull,) = gh.client.pulls(head="promote/dev")
        (opened,) = [e for e in gh.client.events(pr=pull["number"]) if e["action"] == "opened"]
        for run_id in opened["runs"]:  # CI itself is not this test's business: cancel it
            gh.client.api("POST", f"/actions/runs/{run_id}/cancel")
            gh.client.wait_run(int(run_id), TIMEOUT)
        return proc, {
            "pull": pull,
            "opened": opened,
            "reasons": gh.client.no_run_reasons(pr=pull["number"]),
            "ci": gh.client.runs("ci.yml"),
        }


def test_promotion_pr_opened_with_github_token_gets_no_ci_naming_the_token(tmp_path: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        (_, broken), (_, control) = pool.map(
            lambda c: _promote_dev(tmp_path, c), ("broken", "control")
        )
    assert control["pull"]["user"]["login"] == "trading-pipelines-bot[bot]"
    assert [r["path"] for r in control["ci"]] == [".github/workflows/ci.yml"]
    assert control["ci"][0]["head_sha"] == control["pull"]["head"]["sha"]
    assert broken["pull"]["user"]["login"] == "github-actions[bot]"
    assert broken["ci"] == [] and broken["opened"]["runs"] == []
    number = broken["pull"]["number"]
    assert any(
        r.startswith(f"pull_request.opened on PR #{number} was made with GITHUB_TOKEN")
        for r in broken["reasons"]
    ), broken["reasons"]


@pytest.fixture(scope="module")
def seam_cluster(moto_server: str) -> Iterator[SeamCluster]:
    """The twin's pods and Argo executor with S3 and a bundle (see ``seam_cluster.py``)."""
    yield from running_seam_cluster(moto_server)


HOST_ARGS = "            - --host\n            - 0.0.0.0\n"


def test_rollout_without_host_never_passes_its_probe_on_the_pod_ip(
    seam_cluster: SeamCluster,
) -> None:
    pods = {}
    for case in ("control", "broken"):
        repo = seam_cluster.copy(f"host-{case}")
        if case == "broken":
            break_file(repo, "environments/base/rollout.yaml", HOST_ARGS, "")
        seam_cluster.promote(repo, seam_cluster.image(repo, "serve"))
        spec, labels = rollout_pod_spec(seam_cluster.apply_rendered(repo))
        for container in spec["containers"]:
            # Liveness would restart a start slowed by a loaded machine (initialDelaySeconds
            # 10); this seam is readiness on the pod IP, which needs no restart to show.
            container.pop("livenessProbe")
        pods[case] = seam_cluster.cluster.pods.start(
            "trading-dev", f"strategy-{case}", spec, labels
        )
    control, broken = pods["control"], pods["broken"]
    try:
        wait_for("the rendered pod ready on its pod IP", lambda: control.ready, TIMEOUT,
                 detail=lambda: (control.phase, control.message))  # fmt: skip
        assert httpx.get(f"http://{control.ip}:8080/readyz", timeout=5).json()["ready"] is True
        wait_for("the probe failure", lambda: "Readiness probe failed" in broken.message, TIMEOUT,
                 detail=lambda: (broken.phase, broken.message))  # fmt: skip
        assert not broken.ready
        assert f'Get "http://{broken.ip}:8080/readyz"' in broken.message
        assert (
            f"dial tcp {broken.ip}:8080" in broken.message
            and "connection refused" in broken.message
        )
    finally:  # the pods would keep probing through the next tests
        for pod in pods.values():
            seam_cluster.cluster.pods.delete(pod, 2.0)


def _without_body(repo: Path) -> None:
    """The smoke step as issue 10 found it: curl POSTs /v1/signal with no body."""
    path = repo / "deploy" / "argo" / "deploy.yaml"
    doc = yaml.safe_load(path.read_text())
    (step,) = [t for t in doc["spec"]["templates"] if t["name"] == "smoke-request"]
    step["container"] = {
        "image": "curlimages/curl:8.11.1",
        "command": ["sh", "-c"],
        "args": [
            'curl --fail --silent --show-error -X POST -H "X-Instrument: AAPL"'
            ' "http://{{inputs.parameters.address}}:8080/v1/signal"'
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_smoke_request_without_a_body_fails_the_deploy_naming_the_request(
    seam_cluster: SeamCluster,
) -> None:
    argo_prerequisites(seam_cluster)
    names = {}
    for case in ("control", "broken"):
        repo = seam_cluster.copy(f"smoke-{case}")
        if case == "broken":
            _without_body(repo)
        image, tools = seam_cluster.image(repo, "serve"), seam_cluster.image(repo, "tools")
        seam_cluster.promote(repo, image)
        names[case] = f"smoke-{case}"
        submit_with_checkout(seam_cluster, smoke_workflow(repo, names[case], image, tools), repo)
    done = {c: seam_cluster.cluster.workflow_done("argo", n, TIMEOUT) for c, n in names.items()}
    control = nodes_by_display(done["control"])
    assert done["control"]["status"]["phase"] == "Succeeded", done["control"]["status"]
    assert control["smoke-request"]["phase"] == "Succeeded"
    assert f"(sha256 {seam_cluster.bundle.sha256})" in pod_logs(
        seam_cluster, "argo", "smoke-control-smoke-request"
    )
    broken = nodes_by_display(done["broken"])
    assert done["broken"]["status"]["phase"] == "Failed"
    assert broken["smoke-serve"]["daemoned"] is True  # the service was up and ready
    assert broken["smoke-request"]["phase"] == "Failed"
    # What `pipelines deploy` prints for the environment (deploy.yml's log, the e2e's table).
    assert failed_steps(done["broken"]) == ["smoke-request: Error (exit code 22)"]
    log = pod_logs(seam_cluster, "argo", "smoke-broken-smoke-request")
    assert "The requested URL returned error: 400" in log, log
