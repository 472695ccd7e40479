"""The python-hcl2 rules hold on terraform/ and each one fires on the broken fixture tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import PipelineError
from pipelines.infra.hcl import TfTree, load_tree
from pipelines.infra.sizing import RULES, run_all

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = REPO_ROOT / "terraform"
BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken"

# (rule, substring of the finding the broken fixture must produce)
EXPECTED_FAILURES = [
    ("open-ingress", "aws_security_group.db: ingress from 0.0.0.0/0 to port(s) 5432-5432"),
    ("open-ingress", "aws_vpc_security_group_ingress_rule.ssh: ingress from ::/0"),
    ("literal-secrets", "aws_db_instance.db.password: secret-like attribute has a literal value"),
    ("literal-secrets", "variable.api_token: secret-like variable has a literal default"),
    ("literal-secrets", "terraform.tfvars: db_password: secret-like attribute has a literal value"),
    ("skip-reasons", "skip of CKV_AWS_157 needs a reason"),
    ("github-trust", "GitHub trust uses a wildcard subject"),
    ("layout", "modules/bad: outputs.tf: required file is missing"),
    ("variables", "variable.untyped: has no type"),
    ("variables", "variable.undescribed: has no description"),
    ("variables", "variable.loose: type any only in an environment root"),
    ("tags", "aws_sqs_queue.untagged: taggable resource has no tags"),
    ("tags", "default_tags lacks ['ManagedBy']"),
    ("backend", "state must be locked"),
    ("pins", "helm_release.floating: chart version is not pinned"),
    ("pins", "modules/bad/versions.tf: provider.aws: no version pin"),
    ("wiring", "module.bad.queue_url: no such output"),
    ("wiring", "module.bad.unknown: module has no such variable"),
    ("wiring", "required variable untyped not set"),
    ("wiring", "var.not_declared: is not declared"),
    ("wiring", "terraform.tfvars: single_nat_gateway: is not a declared variable"),
    ("wiring", "platform.nat_per_az: is not an attribute of module.bad.settings"),
    ("wiring", "terraform.tfvars: platform: required attribute region is not set"),
    ("wiring", "loose: type any but not passed whole to a typed module variable"),
    ("environment-sizing", "platform.single_nat_gateway: expected False in prod"),
    ("environment-sizing", "platform.node_groups.general: expected ON_DEMAND in prod"),
    ("environment-sizing", "github_workflow_environments set but no node group labelled"),
]


@pytest.fixture(scope="module")
def real_tree() -> TfTree:
    return load_tree(TERRAFORM)


@pytest.fixture(scope="module")
def broken_results() -> dict[str, list[str]]:
    return {name: [str(f) for f in found] for name, found in run_all(load_tree(BROKEN)).items()}


def test_tree_has_every_module_and_environment(real_tree: TfTree) -> None:
    modules = {d.split("/")[1] for d in real_tree.dirs if d.startswith("modules/")}
    envs = {d.split("/")[1] for d in real_tree.dirs if d.startswith("environments/")}
    assert {
        "network",
        "storage",
        "compute",
        "monitoring",
        "argo",
        "identity",
        "platform",
        "kubernetes-objects",
        "cluster-base",
        "mesh",
        "runners",
    } <= modules
    assert envs == {"dev", "staging", "prod"}


def test_default_tags_from_a_module_output_are_checked(tmp_path: Path) -> None:
    env, module = tmp_path / "environments" / "dev", tmp_path / "modules" / "p"
    env.mkdir(parents=True)
    module.mkdir(parents=True)
    (env / "main.tf").write_text(
        'module "p" {\n  source = "../../modules/p"\n}\n'
        'provider "aws" {\n  default_tags {\n    tags = module.p.tags\n  }\n}\n',
        encoding="utf-8",
    )
    (module / "outputs.tf").write_text(
        'locals {\n  tags = { Environment = "dev", Project = "x" }\n}\n'
        'output "tags" {\n  description = "Tags."\n  value = local.tags\n}\n',
        encoding="utf-8",
    )
    findings = [str(f) for f in RULES["tags"](load_tree(tmp_path))]
    assert findings == ["environments/dev/main.tf: provider.aws: default_tags lacks ['ManagedBy']"]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_holds_on_terraform_tree(real_tree: TfTree, rule: str) -> None:
    findings = RULES[rule](real_tree)
    assert findings == [], "\n".join(str(f) for f in findings)


@pytest.mark.parametrize(("rule", "expected"), EXPECTED_FAILURES)
def test_rule_fires_on_broken_fixture(
    broken_results: dict[str, list[str]], rule: str, expected: str
) -> None:
    assert any(expected in finding for finding in broken_results[rule]), broken_results[rule]


def test_every_rule_has_a_broken_case() -> None:
    assert {rule for rule, _ in EXPECTED_FAILURES} == set(RULES)


def test_invalid_hcl_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_s3_bucket" "x" {\n  bucket = \n', encoding="utf-8"
    )
    with pytest.raises(PipelineError, match=r"main\.tf: not valid HCL"):
        load_tree(tmp_path)


def test_public_ports_only_for_open_ingress(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_vpc_security_group_ingress_rule" "https" {\n'
        '  ip_protocol = "tcp"\n  from_port = 443\n  to_port = 443\n  cidr_ipv4 = "0.0.0.0/0"\n'
        "  tags = {}\n}\n"
        'resource "aws_vpc_security_group_ingress_rule" "all" {\n'
        '  ip_protocol = "-1"\n  cidr_ipv4 = "0.0.0.0/0"\n  tags = {}\n}\n',
        encoding="utf-8",
    )
    findings = [str(f) for f in RULES["open-ingress"](load_tree(tmp_path))]
    assert len(findings) == 1
    assert "aws_vpc_security_group_ingress_rule.all" in findings[0]


def test_credential_pattern_found_even_in_a_comment(tmp_path: Path) -> None:
    # Built at run time so that no credential-looking string is committed.
    key_id = "AKIA" + "Q" * 16
    (tmp_path / "main.tf").write_text(f"# leaked: {key_id}\nlocals {{}}\n", encoding="utf-8")
    findings = [str(f) for f in RULES["literal-secrets"](load_tree(tmp_path))]
    assert findings == ["main.tf: file: text matches a credential pattern (\\bAKIA[0-9A-Z]{16}\\b)"]
