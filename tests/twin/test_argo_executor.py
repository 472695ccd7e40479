"""The twin's Argo Workflows executor on small fixture workflows (pods run through the runner)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import yaml

from tests.twin.cluster_support import IMAGE, Cluster, nodes_by_display, wait_for
from twin.cluster.interfaces import Obj

pytestmark = pytest.mark.slow

SH = "alpine/git:2.47.2"


def _wf(text: str) -> str:
    return text.replace("@SH@", SH).replace("@IMAGE@", IMAGE)


def submit(cluster: Cluster, text: str, **params: str) -> Obj:
    workflow = yaml.safe_load(text)
    workflow["metadata"]["namespace"] = "argo"
    if params:
        workflow["spec"]["arguments"] = {
            "parameters": [{"name": k, "value": v} for k, v in params.items()]
        }
    cluster.store.apply(workflow)
    return cluster.workflow_done("argo", workflow["metadata"]["name"])


DAG = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dag}
spec:
  entrypoint: main
  arguments: {parameters: [{name: who, value: world}]}
  templates:
  - name: main
    dag:
      tasks:
      - name: hello
        template: echo
        arguments: {parameters: [{name: msg, value: "hi {{workflow.parameters.who}}"}]}
      - {name: count, template: count, depends: hello}
      - {name: broken, template: fail, depends: hello}
      - name: rescue
        template: echo
        depends: broken.Failed && count.Succeeded
        arguments:
          parameters: [{name: msg, value: "rescued after {{tasks.count.outputs.result}}"}]
      - name: never
        template: echo
        depends: broken.Succeeded
        arguments: {parameters: [{name: msg, value: x}]}
      - name: after-never
        template: echo
        depends: "never || rescue"
        arguments: {parameters: [{name: msg, value: "{{workflow.name}}"}]}
  - name: echo
    inputs: {parameters: [{name: msg}]}
    container: {image: @SH@, command: [sh, -c], args: ["echo {{inputs.parameters.msg}}"]}
  - name: count
    script: {image: @SH@, command: [sh], source: "echo 3"}
  - name: fail
    container: {image: @SH@, command: [sh, -c, "exit 3"]}
""")


def test_dag_depends_results_and_script_output(argo_cluster: Cluster) -> None:
    workflow = submit(argo_cluster, DAG)
    nodes = nodes_by_display(workflow)
    assert nodes["hello"]["outputs"]["result"] == "hi world"
    assert nodes["count"]["outputs"]["result"] == "3"
    assert nodes["broken"]["phase"] == "Failed"
    assert nodes["broken"]["message"] == "Error (exit code 3)"
    assert nodes["rescue"]["outputs"]["result"] == "rescued after 3"
    assert nodes["never"]["phase"] == "Omitted" and nodes["never"]["type"] == "Skipped"
    # "never || rescue": the bare name means Succeeded || Skipped || Daemoned.
    assert nodes["after-never"]["outputs"]["result"] == "dag"
    # Leaves: rescue and after-never succeeded, so the failure of `broken` was handled.
    assert workflow["status"]["phase"] == "Succeeded"


def test_dag_failure_propagates_to_omitted_leaves(argo_cluster: Cluster) -> None:
    text = DAG.replace("name: dag}", "name: dag-fail}").replace(
        "depends: broken.Failed && count.Succeeded", "depends: broken"
    )
    workflow = submit(argo_cluster, text)
    nodes = nodes_by_display(workflow)
    assert nodes["rescue"]["phase"] == "Omitted"
    assert workflow["status"]["phase"] == "Failed"
    assert "dag-fail.broken" in workflow["status"]["message"]
    assert "Error (exit code 3)" in workflow["status"]["message"]


STEPS = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: steps}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: left, template: say, arguments: {parameters: [{name: msg, value: left}]}}
      - {name: right, template: say, arguments: {parameters: [{name: msg, value: right}]}}
      - name: skipped
        template: say
        when: "1 > 2"
        arguments: {parameters: [{name: msg, value: x}]}
    - - name: join
        template: say
        arguments:
          parameters:
          - name: msg
            value: "{{steps.left.outputs.result}}+{{steps.right.outputs.result}}"
  - name: say
    inputs: {parameters: [{name: msg}]}
    script: {image: @SH@, command: [sh], source: "sleep 0.5; echo {{inputs.parameters.msg}}"}
""")


def test_steps_run_groups_in_order_and_steps_of_a_group_together(argo_cluster: Cluster) -> None:
    workflow = submit(argo_cluster, STEPS)
    nodes = nodes_by_display(workflow)
    assert workflow["status"]["phase"] == "Succeeded"
    assert nodes["join"]["outputs"]["result"] == "left+right"
    assert nodes["skipped"]["phase"] == "Skipped"
    assert nodes["left"]["finishedAt"] <= nodes["join"]["startedAt"]
    # left and right overlapped (one group runs in parallel).
    assert nodes["left"]["startedAt"] <= nodes["right"]["finishedAt"]
    assert nodes["right"]["startedAt"] <= nodes["left"]["finishedAt"]


DAEMON = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: daemon}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: server, template: server}
      - name: client
        template: client
        depends: server
        arguments: {parameters: [{name: address, value: "{{tasks.server.ip}}"}]}
  - name: server
    daemon: true
    container:
      image: @IMAGE@
      args: [serve, --host, 0.0.0.0, --port, "8080"]
      readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
  - name: client
    inputs: {parameters: [{name: address}]}
    container:
      image: curlimages/curl:8.11.1
      command: [sh, -c]
      args: ["curl --fail --silent http://{{inputs.parameters.address}}:8080/greeting"]
""")


def test_daemon_is_ready_before_dependents_and_killed_at_the_end(argo_cluster: Cluster) -> None:
    workflow = submit(argo_cluster, DAEMON)
    nodes = nodes_by_display(workflow)
    assert workflow["status"]["phase"] == "Succeeded", workflow["status"].get("message")
    assert nodes["server"]["daemoned"] is True
    assert nodes["client"]["outputs"]["result"] == "hello from the image"
    assert nodes["server"]["podIP"].startswith("127.0.")
    assert argo_cluster.pods.list("argo") == []  # the daemon pod is gone with its DAG


RETRY = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: retry}
spec:
  entrypoint: flaky
  volumeClaimTemplates:
  - metadata: {name: work}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
  templates:
  - name: flaky
    retryStrategy: {limit: 2}
    script:
      image: @SH@
      command: [sh]
      source: |
        echo try >> /work/tries
        test "$(wc -l < /work/tries)" -ge 2 && echo "done after $(wc -l < /work/tries)"
      volumeMounts: [{name: work, mountPath: /work}]
""")


def test_retry_until_success_with_a_workflow_volume(argo_cluster: Cluster) -> None:
    workflow = submit(argo_cluster, RETRY)
    nodes = nodes_by_display(workflow)
    assert workflow["status"]["phase"] == "Succeeded"
    assert nodes["retry"]["type"] == "Retry"
    assert nodes["retry(0)"]["phase"] == "Failed"
    assert nodes["retry(1)"]["outputs"]["result"] == "done after 2"
    assert "retry(2)" not in nodes
    claim = argo_cluster.home / "cluster" / "pvcs" / "argo" / "retry-work"
    assert not claim.exists()  # the claim is deleted with the workflow


EXIT = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: exit}
spec:
  entrypoint: main
  onExit: handler
  templates:
  - name: main
    retryStrategy: {limit: 1}
    container: {image: @SH@, command: [sh, -c, "exit 7"]}
  - name: handler
    steps:
    - - {name: on-failure, template: report, when: "{{workflow.status}} != Succeeded"}
      - {name: on-success, template: report, when: "{{workflow.status}} == Succeeded"}
  - name: report
    script:
      image: @SH@
      command: [sh]
      source: "echo {{workflow.name}} ended {{workflow.status}}"
""")


def test_exit_handler_sees_the_failure(argo_cluster: Cluster) -> None:
    workflow = submit(argo_cluster, EXIT)
    nodes = nodes_by_display(workflow)
    assert workflow["status"]["phase"] == "Failed"
    assert workflow["status"]["message"] == "No more retries left"
    assert nodes["exit(1)"]["message"] == "Error (exit code 7)"
    assert nodes["on-failure"]["outputs"]["result"] == "exit ended Failed"
    assert nodes["on-success"]["phase"] == "Skipped"


FANOUT = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: fanout-PAR}
spec:
  entrypoint: main
  templates:
  - name: main
    parallelism: PAR
    dag:
      tasks:
      - {name: partitions, template: partitions}
      - name: work
        template: work
        depends: partitions
        withParam: "{{tasks.partitions.outputs.result}}"
        arguments: {parameters: [{name: part, value: "{{item.index}}/{{item.of}}"}]}
      - name: merge
        template: merge
        depends: work
        arguments:
          parameters: [{name: parts, value: "{{tasks.work.outputs.parameters.sum}}"}]
  - name: partitions
    script:
      image: @SH@
      command: [sh]
      source: |
        echo '[{"index":0,"of":4},{"index":1,"of":4},{"index":2,"of":4},{"index":3,"of":4}]'
  - name: work
    inputs: {parameters: [{name: part}]}
    outputs:
      parameters:
      - {name: sum, valueFrom: {path: /tmp/sum}}
      - {name: span, valueFrom: {path: /tmp/span}}
    script:
      image: @SH@
      command: [sh]
      source: |
        start=$(date +%s%N)
        sleep 0.5
        echo "$start $(date +%s%N)" > /tmp/span
        k=${SLICE%/*}
        echo $((k * k + 1)) > /tmp/sum
        echo "part {{inputs.parameters.part}}"
      env: [{name: SLICE, value: "{{inputs.parameters.part}}"}]
  - name: merge
    inputs: {parameters: [{name: parts}]}
    script: {image: @SH@, command: [sh], source: "echo '{{inputs.parameters.parts}}'"}
""")


def _overlap(nodes: list[Obj]) -> int:
    """How many items ran at once at the peak (from the nanosecond spans each item wrote)."""
    spans = []
    for node in nodes:
        params = {p["name"]: p["value"] for p in node["outputs"]["parameters"]}
        start, end = (int(v) for v in params["span"].split())
        spans.append((start, end))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    peak = current = 0
    for _, change in events:
        current += change
        peak = max(peak, current)
    return peak


def test_with_param_fan_out_with_parallelism_gives_the_sequential_outputs(
    argo_cluster: Cluster,
) -> None:
    results: dict[str, Any] = {}
    for parallelism in ("1", "2"):
        workflow = submit(argo_cluster, FANOUT.replace("PAR", parallelism))
        assert workflow["status"]["phase"] == "Succeeded", workflow["status"].get("message")
        nodes = nodes_by_display(workflow)
        items = [n for name, n in nodes.items() if name.startswith("work(")]
        assert sorted(n["displayName"] for n in items) == [
            f"work({i}:index:{i},of:4)" for i in range(4)
        ]
        results[parallelism] = nodes["merge"]["outputs"]["result"]
        assert _overlap(items) == int(parallelism)
    assert json.loads(results["2"]) == [1, 2, 5, 10]
    assert results["1"] == results["2"]


MUTEX = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  synchronization: {mutexes: [{name: "deploy-{{workflow.parameters.env}}"}]}
  arguments: {parameters: [{name: env, value: dev}]}
  templates:
  - name: main
    script: {image: @SH@, command: [sh], source: "sleep 1; echo done"}
""")


def test_mutex_queues_a_second_workflow_and_never_drops_it(argo_cluster: Cluster) -> None:
    for name in ("first", "second"):
        workflow = yaml.safe_load(MUTEX.replace("NAME", name))
        workflow["metadata"]["namespace"] = "argo"
        argo_cluster.store.apply(workflow)
        if name == "first":
            wait_for("first running", lambda: _phase(argo_cluster, "first") == "Running")

    def waiting() -> bool:
        status = (argo_cluster.store.get("Workflow", "argo", "second") or {}).get("status") or {}
        return status.get("phase") == "Pending" and "Waiting for argo/Mutex/deploy-dev lock" in str(
            status.get("message")
        )

    wait_for("second waiting on the mutex", waiting)
    first = argo_cluster.workflow_done("argo", "first")
    second = argo_cluster.workflow_done("argo", "second")
    assert first["status"]["phase"] == second["status"]["phase"] == "Succeeded"
    assert first["status"]["finishedAt"] <= _pod_start(second)


def _phase(cluster: Cluster, name: str) -> str:
    found = cluster.store.get("Workflow", "argo", name) or {}
    return str((found.get("status") or {}).get("phase", ""))


def _pod_start(workflow: Obj) -> str:
    return str(
        next(n for n in workflow["status"]["nodes"].values() if n["type"] == "Pod")["startedAt"]
    )


def test_singular_mutex_of_argo_v3_is_refused(argo_cluster: Cluster) -> None:
    text = (
        MUTEX.replace("NAME", "old")
        .replace("{mutexes: [{name:", "{mutex: {name:")
        .replace('"}]}', '"}}')
    )
    workflow = submit(argo_cluster, text)
    assert workflow["status"]["phase"] == "Error"
    assert "removed in Argo Workflows v4" in workflow["status"]["message"]


def test_active_deadline_stops_the_workflow(argo_cluster: Cluster) -> None:
    text = MUTEX.replace("NAME", "slow").replace("sleep 1", "sleep 30")
    workflow = yaml.safe_load(text)
    workflow["spec"]["activeDeadlineSeconds"] = 1
    workflow["metadata"]["namespace"] = "argo"
    started = time.monotonic()
    argo_cluster.store.apply(workflow)
    done = argo_cluster.workflow_done("argo", "slow")
    assert time.monotonic() - started < 10
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["message"] == "Step exceeded its deadline"


def test_terminate_kills_running_pods(argo_cluster: Cluster) -> None:
    workflow = yaml.safe_load(MUTEX.replace("NAME", "stopme").replace("sleep 1", "sleep 30"))
    workflow["metadata"]["namespace"] = "argo"
    argo_cluster.store.apply(workflow)
    wait_for("pod running", lambda: argo_cluster.pods.list("argo"))
    current = argo_cluster.store.get("Workflow", "argo", "stopme")
    assert current is not None
    current["spec"]["shutdown"] = "Terminate"
    threading.Thread(target=argo_cluster.store.apply, args=(current,)).start()
    done = argo_cluster.workflow_done("argo", "stopme")
    assert done["status"]["message"] == "Stopped with strategy 'Terminate'"
    assert argo_cluster.pods.list("argo") == []


def test_a_missing_service_account_or_image_errors_the_step_naming_it(
    argo_cluster: Cluster,
) -> None:
    workflow = yaml.safe_load(MUTEX.replace("NAME", "noaccount"))
    workflow["spec"]["serviceAccountName"] = "deployer"
    workflow["metadata"]["namespace"] = "argo"
    argo_cluster.store.apply(workflow)
    done = argo_cluster.workflow_done("argo", "noaccount")
    assert done["status"]["phase"] == "Error"
    assert 'serviceaccount "deployer" not found' in done["status"]["message"]
    workflow = yaml.safe_load(MUTEX.replace("NAME", "noimage").replace(SH, "quay.io/nobody/tool:1"))
    workflow["metadata"]["namespace"] = "argo"
    argo_cluster.store.apply(workflow)
    done = argo_cluster.workflow_done("argo", "noimage")
    assert done["status"]["phase"] == "Error"
    assert (
        "image 'quay.io/nobody/tool:1' is not in the twin's registry" in done["status"]["message"]
    )


LOOP_STEPS = _wf("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: loop-steps}
spec:
  entrypoint: main
  parallelism: 1
  templates:
  - name: main
    steps:
    - - name: each
        template: span
        withItems: [{n: 1}, {n: 2}, {n: 3}]
        arguments: {parameters: [{name: n, value: "{{item.n}}"}]}
    - - name: total
        template: echo
        arguments: {parameters: [{name: msg, value: "{{steps.each.outputs.result}}"}]}
  - name: span
    inputs: {parameters: [{name: n}]}
    outputs: {parameters: [{name: span, valueFrom: {path: /tmp/span}}]}
    script:
      image: @SH@
      command: [sh]
      source: |
        start=$(date +%s%N); sleep 0.3; echo "$start $(date +%s%N)" > /tmp/span
        echo {{inputs.parameters.n}}
  - name: echo
    inputs: {parameters: [{name: msg}]}
    script: {image: @SH@, command: [sh], source: "echo '{{inputs.parameters.msg}}'"}
""")


def test_steps_loop_under_workflow_parallelism(argo_cluster: Cluster) -> None:
    workflow = submit(argo_cluster, LOOP_STEPS)
    assert workflow["status"]["phase"] == "Succeeded", workflow["status"].get("message")
    nodes = nodes_by_display(workflow)
    items = [n for name, n in nodes.items() if name.startswith("each(")]
    assert sorted(n["displayName"] for n in items) == ["each(0:n:1)", "each(1:n:2)", "each(2:n:3)"]
    assert _overlap(items) == 1  # spec.parallelism: 1 bounds the whole workflow's pods
    assert json.loads(nodes["total"]["outputs"]["result"]) == [1, 2, 3]
