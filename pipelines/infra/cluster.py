"""What Terraform installs into a stack's cluster, computed by Terraform from the repository.

``terraform/modules/kubernetes-objects`` has no provider: it is evaluated here with
``terraform console`` (:mod:`pipelines.infra.tfeval`) for one environment's inputs, which are
read from the Terraform code itself (the tfvars, the platform's locals and the storage module's
bucket naming, with a placeholder account id). :func:`monitoring_drift` then holds the
monitoring objects to their sources: the rule files, ``alertmanager.yml``, the dashboards and the
intervals of ``prometheus.yml`` must reach the cluster unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.infra.hcl import TfTree, blocks, environment_settings, load_tree
from pipelines.infra.tfeval import evaluate_outputs

OBJECTS_MODULE = Path("terraform/modules/kubernetes-objects")
PLACEHOLDER_ACCOUNT = "123456789012"
RECEIVERS_DIR = "/etc/alertmanager/secrets"
ALERTMANAGER_SOURCE = "monitoring/alertmanager/alertmanager.yml"
# Helm values outputs of the module, by the release that installs them.
RELEASE_OUTPUTS = {
    "platform-foundation": "foundation_values",
    "delivery": "delivery_values",
    "workflow-templates": "workflow_template_values",
    "synced-secrets": "external_secret_values",
    "dashboards": "dashboard_values",
}
_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class ClusterObjects:
    """The module's outputs for one environment, decoded.

    Attributes:
        releases: Release name to the Kubernetes objects it installs.
        outputs: Every output as Terraform computed it (values documents as strings).
        inputs: The variables it was evaluated with.
    """

    releases: dict[str, list[dict[str, Any]]]
    outputs: dict[str, Any]
    inputs: dict[str, Any]

    def objects(self) -> list[dict[str, Any]]:
        """Every object of every release."""
        return [obj for objs in self.releases.values() for obj in objs]


def _locals(tree: TfTree, directory: str) -> dict[str, Any]:
    return {
        key: value
        for tf in tree.in_dir(directory)
        for entry in tf.doc.get("locals", [])
        for key, value in entry.items()
        if not key.startswith("__")
    }


def bucket_names(tree: TfTree, name_prefix: str, account: str) -> dict[str, str]:
    """Bucket name by role, as ``modules/storage`` names them for ``name_prefix``."""
    outputs = {
        name: body
        for tf in tree.in_dir("modules/storage")
        for name, body in blocks(tf.doc, "output")
    }
    calls = {
        name: body
        for tf in tree.in_dir("modules/storage")
        for name, body in blocks(tf.doc, "module")
    }
    values = {"var.name_prefix": name_prefix, "local.account_id": account}

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1).strip()]

    names: dict[str, str] = {}
    for role, expression in (outputs["bucket_names"]["value"] or {}).items():
        if role.startswith("__"):
            continue
        label = re.fullmatch(r"\$\{module\.([A-Za-z0-9_]+)\.name\}", str(expression))
        template = str(calls[label.group(1)]["bucket_name"]) if label else ""
        names[role] = _INTERPOLATION.sub(substitute, template)
    return names


def module_inputs(
    repo: Path, env: str, account: str = PLACEHOLDER_ACCOUNT, tree: TfTree | None = None
) -> dict[str, Any]:
    """The kubernetes-objects variables ``modules/platform`` passes for ``env``.

    Raises:
        KeyError: The environment's tfvars or an expected local is missing.
    """
    tree = tree or load_tree(repo / "terraform")
    found = environment_settings(tree, env)
    if found is None or not found[1]:
        raise KeyError(f"terraform/environments/{env}/terraform.tfvars: no platform object")
    settings = found[1]
    name_prefix = f"{settings['project']}-{settings['environment']}"
    platform = _locals(tree, "modules/platform")
    return {
        "name_prefix": name_prefix,
        "source_root": str(repo.resolve()),
        "region": settings["region"],
        "github_repository": settings["github_repository"],
        "bucket_names": bucket_names(tree, name_prefix, account),
        "mlflow_tracking_uri": platform["mlflow_tracking_uri"],
        "db_endpoint": f"{name_prefix}-mlflow.example.{settings['region']}.rds.amazonaws.com:5432",
        "db_master_secret_arn": (
            f"arn:aws:secretsmanager:{settings['region']}:{account}:secret:rds!db-placeholder"
        ),
        "runners_enabled": bool(settings.get("github_workflow_environments")),
        "workspace_file_system_id": "fs-0123456789abcdef0",  # placeholder: modules/compute
    }


def evaluate(
    repo: Path, env: str = "prod", module: Path | None = None, tree: TfTree | None = None
) -> ClusterObjects:
    """The objects Terraform would install into ``env``'s cluster (Terraform evaluates them).

    Args:
        repo: Repository root.
        env: Terraform environment whose inputs are used.
        module: Another copy of the kubernetes-objects module (tests use broken copies).
        tree: ``terraform/`` already loaded.
    """
    inputs = module_inputs(repo, env, tree=tree)
    outputs = evaluate_outputs(module or repo / OBJECTS_MODULE, inputs)
    releases = {
        release: list(yaml.safe_load(outputs[name])["manifests"] or [])
        for release, name in RELEASE_OUTPUTS.items()
    }
    return ClusterObjects(releases, outputs, inputs)


def _files(directory: Path, pattern: str) -> dict[str, Path]:
    return {path.name: path for path in sorted(directory.glob(pattern))}


def _file_fields(node: Any) -> list[str]:
    """Every value of a ``*_file`` key in an Alertmanager configuration."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).endswith("_file") and isinstance(value, str):
                found.append(value)
            found.extend(_file_fields(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_file_fields(item))
    return found


def _rule_drift(objects: ClusterObjects, monitoring: Path) -> list[str]:
    problems: list[str] = []
    rules = yaml.safe_load(objects.outputs["prometheus_rules_yaml"]) or {}
    sources = {
        name.removesuffix(".rules.yml"): path
        for name, path in _files(monitoring / "prometheus" / "rules", "*.rules.yml").items()
    }
    for name in sorted(set(sources) - set(rules)):
        problems.append(f"{sources[name].name}: not a PrometheusRule of the cluster")
    for name in sorted(set(rules) - set(sources)):
        problems.append(f"PrometheusRule {name}: no rule file under monitoring/prometheus/rules")
    for name in sorted(set(rules) & set(sources)):
        if rules[name] != yaml.safe_load(sources[name].read_text(encoding="utf-8")):
            problems.append(f"PrometheusRule {name}: differs from {sources[name].name}")
    return problems


def _alertmanager_drift(objects: ClusterObjects, monitoring: Path) -> list[str]:
    problems: list[str] = []
    source = yaml.safe_load((monitoring.parent / ALERTMANAGER_SOURCE).read_text(encoding="utf-8"))
    # The chart's default `templates` key is removed by setting it to null (Helm drops nulls).
    if yaml.safe_load(objects.outputs["alertmanager_config_yaml"]) != {**source, "templates": None}:
        problems.append(f"Alertmanager config: differs from {ALERTMANAGER_SOURCE}")
    keys = set(objects.outputs["alertmanager_secret_keys"])
    for path in _file_fields(source):
        directory, _, key = path.rpartition("/")
        if directory != RECEIVERS_DIR or key not in keys:
            problems.append(
                f"alertmanager.yml: {path} is not a key of the mounted receivers Secret "
                f"({RECEIVERS_DIR}/{{{', '.join(sorted(keys))}}})"
            )
    return problems


def _dashboard_drift(objects: ClusterObjects, monitoring: Path) -> list[str]:
    problems: list[str] = []
    dashboards = {
        key: (obj, value)
        for obj in objects.releases["dashboards"]
        for key, value in (obj.get("data") or {}).items()
    }
    for name, path in _files(monitoring / "grafana", "*.json").items():
        if name not in dashboards:
            problems.append(f"{name}: no dashboard ConfigMap")
            continue
        obj, value = dashboards[name]
        if value != path.read_text(encoding="utf-8"):
            problems.append(f"{name}: ConfigMap {obj['metadata']['name']} differs from the file")
        if (obj["metadata"].get("labels") or {}).get("grafana_dashboard") != "1":
            problems.append(f"{name}: ConfigMap lacks the sidecar label grafana_dashboard=1")
    return problems


def monitoring_drift(objects: ClusterObjects, repo: Path) -> list[str]:
    """Differences between the cluster's monitoring objects and their sources (empty: none).

    Rules, Alertmanager configuration and dashboards must equal their files; the Alertmanager
    credentials must be keys of the mounted Secret; the intervals those of ``prometheus.yml``.
    """
    monitoring = repo / "monitoring"
    problems = [
        *_rule_drift(objects, monitoring),
        *_alertmanager_drift(objects, monitoring),
        *_dashboard_drift(objects, monitoring),
    ]
    intervals = yaml.safe_load((monitoring / "prometheus" / "prometheus.yml").read_text())["global"]
    for key in ("scrape_interval", "evaluation_interval"):
        if objects.outputs[key] != intervals[key]:
            problems.append(
                f"{key}: {objects.outputs[key]} in the cluster, {intervals[key]} in prometheus.yml"
            )
    return problems
