"""The cluster side of the seam tests: the twin's pods and Argo executor, S3, a real bundle.

One cluster per module in a world-searchable home (pods run as uid 10001) with the session's
moto server registered as the twin's S3, so that pods reach it as ``s3.amazonaws.com`` with the
egress the cluster process gives them (``twin.cluster.dns.pod_egress_env``). The bundle is a
small real LightGBM bundle (``tests.serving.conftest.train``) uploaded to that S3.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from pipelines.delivery.lint.runner import render
from pipelines.registry.image import DEFAULT_REPOSITORY
from tests.registry.fixtures import write
from tests.serving.conftest import Bundle, load_long, train
from tests.twin.cluster_support import Cluster
from tests.twin.seam_support import copy_repository, dag_task, deploy_template
from twin import registry, state
from twin.cluster.dns import pod_egress_env
from twin.cluster.interfaces import Obj
from twin.cluster.pods import LocalPodRunner
from twin.cluster.volumes import pvc_dir

BUCKET = "seam-mlflow"
KEY = "1/run/artifacts/bundle/model_bundle.json"


@dataclass
class SeamCluster:
    """A running in-process cluster with S3 and a bundle; copies live under ``home``."""

    home: Path
    cluster: Cluster
    bundle: Bundle
    images: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """The bundle's ``s3://`` URI."""
        return f"s3://{BUCKET}/{KEY}"

    def copy(self, name: str) -> Path:
        """A copy of the repository under the home (pods must reach it)."""
        return copy_repository(self.home / "copies" / name)

    def image(self, repo: Path, target: str) -> str:
        """Build ``target`` of ``repo``'s Dockerfile into the twin registry; its reference."""
        digest = registry.build(repo, repo / "Dockerfile", target, home=self.home)
        reference = f"{DEFAULT_REPOSITORY}{'-tools' if target == 'tools' else ''}@{digest}"
        registry.push(reference, digest, home=self.home)
        return reference

    def promote(self, repo: Path, image: str, env: str = "dev") -> None:
        """What a merged promotion leaves in the copy: the manifest naming image and bundle."""
        write(repo / "environments" / env / "model.yaml", env, self.uri, self.bundle.sha256,
              version=self.bundle.version, image=image)  # fmt: skip

    def apply_rendered(self, repo: Path, env: str = "dev") -> list[Obj]:
        """``kubectl kustomize environments/<env>`` of ``repo``: its objects into the store."""
        docs = render(repo / "environments" / env)
        namespace = f"trading-{env}"
        self.cluster.namespace(namespace)
        for doc in docs:
            if doc["kind"] in ("ServiceAccount", "ConfigMap", "Secret", "Service"):
                doc.setdefault("metadata", {}).setdefault("namespace", namespace)
                self.cluster.store.apply(doc)
        return docs


def running_seam_cluster(moto_server: str) -> Iterator[SeamCluster]:
    """A cluster for a module's fixture (stopped and its home removed at the end)."""
    home = Path(tempfile.mkdtemp(prefix="twin-seams-"))
    home.chmod(0o755)
    state.register(home, "moto", url=moto_server)
    bundle_dir = home / "bundle"
    bundle_dir.mkdir()
    bars = load_long(["KO", "PEP", "PG", "JNJ"], "2016-01-01", "2018-12-31")
    bundle = train(bars, bundle_dir / "model_bundle.json", "1")
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(bundle.path), BUCKET, KEY)
    cluster = Cluster(home)
    cluster.pods = LocalPodRunner(
        home, cluster.store, "http://127.0.0.1:9/kube", egress=lambda: pod_egress_env(home)
    )
    cluster.namespace("argo")
    try:
        yield SeamCluster(home, cluster.with_executor(), bundle)
    finally:
        cluster.close()
        shutil.rmtree(home, ignore_errors=True)


def rollout_pod_spec(docs: list[Obj]) -> tuple[Obj, dict[str, Any]]:
    """The rendered Rollout's pod template: spec and labels."""
    rollout = next(d for d in docs if d["kind"] == "Rollout")
    template = rollout["spec"]["template"]
    return template["spec"], dict(template["metadata"].get("labels") or {})


def smoke_workflow(repo: Path, name: str, image: str, tools: str) -> Obj:
    """A Workflow of the deploy template's two smoke tasks only, from ``repo``'s template.

    Templates, volumes and security context are the template's own; the DAG keeps only
    ``smoke-serve`` and ``smoke-request`` (checkout and verification are other tests' seams:
    the workspace claim is filled with the checkout beforehand), without the exit handler and
    the mutex (the broken and the unbroken copy run side by side).
    """
    template = deploy_template(repo)
    spec = copy.deepcopy(template["spec"])
    spec.pop("onExit")
    spec.pop("synchronization")
    serve = {k: v for k, v in dag_task(template, "smoke-serve").items() if k != "depends"}
    spec["templates"].append(
        {"name": "smoke-only", "dag": {"tasks": [serve, dag_task(template, "smoke-request")]}}
    )
    spec["entrypoint"] = "smoke-only"
    values = {"environment": "dev", "revision": "HEAD", "image": image, "tools-image": tools}
    spec["arguments"] = {"parameters": [{"name": k, "value": v} for k, v in values.items()]}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": "argo"},
        "spec": spec,
    }


def submit_with_checkout(seams: SeamCluster, workflow: Obj, repo: Path) -> None:
    """Fill the workflow's workspace claim with ``repo`` (the checkout step's result); submit."""
    workspace = pvc_dir(seams.home, "argo", f"{workflow['metadata']['name']}-workspace")
    shutil.copytree(repo, workspace / "repo", symlinks=True)
    seams.cluster.store.apply(workflow)


def argo_prerequisites(seams: SeamCluster) -> None:
    """What the bootstrap installs in ``argo`` for these steps: the deployer, pipelines-config."""
    store = seams.cluster.store
    store.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": "argo"},
        }
    )
    store.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "pipelines-config", "namespace": "argo"},
            "data": {"mlflow-tracking-uri": "http://mlflow.mlflow.svc:5000"},
        }
    )


def pod_logs(seams: SeamCluster, namespace: str, node: str) -> str:
    """Every log line of the pods whose name holds ``node`` (kept after the pod ended)."""
    folder = seams.home / "cluster" / "pods" / namespace
    return "\n".join(
        path.read_text(errors="replace")
        for pod in sorted(folder.glob(f"*{node}*"))
        for path in sorted((pod / "logs").glob("*"))
        if path.is_file()
    )
