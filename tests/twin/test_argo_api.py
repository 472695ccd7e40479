"""The fake Argo Server API, driven by the ``argo-workflows`` SDK (as ``pipelines deploy`` is)."""

from __future__ import annotations

import httpx
import pytest
from argo_workflows.api_client import ApiClient
from argo_workflows.apis import WorkflowServiceApi, WorkflowTemplateServiceApi
from argo_workflows.configuration import Configuration
from argo_workflows.exceptions import ApiException
from argo_workflows.model.io_argoproj_workflow_v1alpha1_submit_opts import (
    IoArgoprojWorkflowV1alpha1SubmitOpts,
)
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_stop_request import (
    IoArgoprojWorkflowV1alpha1WorkflowStopRequest,
)
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_submit_request import (
    IoArgoprojWorkflowV1alpha1WorkflowSubmitRequest,
)
from starlette.applications import Starlette

from tests.twin.cluster_support import SHARED, Cluster, wait_for
from twin.cluster.api_argo import ArgoServerApi

pytestmark = pytest.mark.slow

TOKEN = "test-token"  # noqa: S105 - the test's own fake Argo Server token
SCRIPT = "sleep {{workflow.parameters.pause}}\necho hi {{workflow.parameters.who}}"
TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {"name": "hello", "namespace": "argo"},
    "spec": {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": "who"}, {"name": "pause", "value": "0"}]},
        "templates": [
            {
                "name": "main",
                "script": {
                    "image": "alpine/git:2.47.2",
                    "command": ["sh"],
                    "source": SCRIPT,
                },
            }
        ],
    },
}


def client(url: str, token: str = TOKEN) -> ApiClient:
    config = Configuration(host=url)
    config.api_key["BearerToken"] = token
    config.api_key_prefix["BearerToken"] = "Bearer"
    return ApiClient(config)


@pytest.fixture
def argo_url(argo_cluster: Cluster) -> str:
    argo_cluster.store.apply(TEMPLATE)
    api = ArgoServerApi(argo_cluster.store, TOKEN, SHARED if SHARED.is_dir() else None)
    return argo_cluster.serve(Starlette(routes=api.routes()))


def test_submit_from_template_and_watch_through_the_sdk(argo_url: str) -> None:
    api = WorkflowServiceApi(client(argo_url))
    request = IoArgoprojWorkflowV1alpha1WorkflowSubmitRequest(
        resource_kind="WorkflowTemplate",
        resource_name="hello",
        submit_options=IoArgoprojWorkflowV1alpha1SubmitOpts(
            parameters=["who=sdk"], generate_name="hello-sdk-", labels="team=ml"
        ),
    )
    created = api.submit_workflow("argo", request)
    name = created.metadata.name
    assert name.startswith("hello-sdk-")

    def finished() -> object:
        found = api.get_workflow("argo", name)
        return (
            found if found.status and found.status.get("phase") in ("Succeeded", "Failed") else None
        )

    workflow = wait_for("workflow done", finished)
    assert workflow.status.phase == "Succeeded"
    node = workflow.status.nodes[name]
    assert node.outputs.result == "hi sdk"
    assert node.type == "Pod" and node.display_name == name
    listed = api.list_workflows("argo", list_options_label_selector="team=ml")
    assert [w.metadata.name for w in listed.items] == [name]
    templates = WorkflowTemplateServiceApi(client(argo_url)).list_workflow_templates("argo")
    assert [t.metadata.name for t in templates.items] == ["hello"]


def test_missing_parameter_fails_like_argo(argo_url: str, argo_cluster: Cluster) -> None:
    api = WorkflowServiceApi(client(argo_url))
    request = IoArgoprojWorkflowV1alpha1WorkflowSubmitRequest(
        resource_kind="WorkflowTemplate", resource_name="hello"
    )
    name = api.submit_workflow("argo", request).metadata.name
    done = argo_cluster.workflow_done("argo", name)
    assert done["status"]["phase"] == "Error"
    assert done["status"]["message"] == "spec.arguments.who.value is required"


def test_stop_ends_a_running_workflow(argo_url: str, argo_cluster: Cluster) -> None:
    api = WorkflowServiceApi(client(argo_url))
    request = IoArgoprojWorkflowV1alpha1WorkflowSubmitRequest(
        resource_kind="WorkflowTemplate",
        resource_name="hello",
        submit_options=IoArgoprojWorkflowV1alpha1SubmitOpts(parameters=["who=x", "pause=30"]),
    )
    name = api.submit_workflow("argo", request).metadata.name
    wait_for("a pod", lambda: argo_cluster.pods.list("argo"))
    api.stop_workflow("argo", name, IoArgoprojWorkflowV1alpha1WorkflowStopRequest(name=name))
    done = argo_cluster.workflow_done("argo", name)
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["message"] == "Stopped with strategy 'Stop'"


def test_errors_are_argo_shaped(argo_url: str) -> None:
    with pytest.raises(ApiException) as unauthorized:
        WorkflowServiceApi(client(argo_url, "wrong")).list_workflows("argo")
    assert unauthorized.value.status == 401
    api = WorkflowServiceApi(client(argo_url))
    with pytest.raises(ApiException) as missing:
        api.get_workflow("argo", "nope")
    assert missing.value.status == 404
    assert 'workflows.argoproj.io \\"nope\\" not found' in str(missing.value.body)
    answer = httpx.post(
        f"{argo_url}/api/v1/workflows/argo/submit",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"resourceKind": "WorkflowTemplate", "resourceName": "absent"},
    )
    assert answer.status_code == 404 and answer.json()["code"] == 5
