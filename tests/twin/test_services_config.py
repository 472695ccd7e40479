"""The twin's generated monitoring config and Terraform bucket names, checked by the real tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, require_tool
from twin.buckets import bucket_names
from twin.errors import TwinError
from twin.monitoring_config import alertmanager_config, write_alertmanager, write_prometheus
from twin.profile import monitoring

SINK = "http://127.0.0.1:1"


def test_buckets_are_named_as_terraform_names_them() -> None:
    names = bucket_names(REPO_ROOT)
    assert names.name_prefix == "trading-prod"
    assert names.dvc == "trading-prod-dvc-data-123456789012"
    assert names.raw == "trading-prod-raw-archive-123456789012"
    assert names.mlflow == "trading-prod-mlflow-artifacts-123456789012"


def copy_terraform(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "terraform" / "modules", tmp_path / "terraform" / "modules")
    shutil.copytree(
        REPO_ROOT / "terraform" / "environments" / "prod",
        tmp_path / "terraform" / "environments" / "prod",
    )
    return tmp_path


def test_a_terraform_rename_changes_or_breaks_the_twin(tmp_path: Path) -> None:
    root = copy_terraform(tmp_path)
    tfvars = root / "terraform/environments/prod/terraform.tfvars"
    tfvars.write_text(
        tfvars.read_text().replace('project            = "trading"', 'project = "tx"')
    )
    assert bucket_names(root).raw == "tx-prod-raw-archive-123456789012"
    storage = root / "terraform/modules/storage/main.tf"
    storage.write_text(storage.read_text().replace('module "raw_bucket"', 'module "raw_store"'))
    with pytest.raises(TwinError, match="raw_bucket"):
        bucket_names(root)


def test_alertmanager_receivers_all_point_at_the_sink_with_routes_unchanged(tmp_path: Path) -> None:
    original = yaml.safe_load((REPO_ROOT / "monitoring/alertmanager/alertmanager.yml").read_text())
    timings = {"group_wait": "1s", "group_interval": "5s", "repeat_interval": "1h"}
    doc = alertmanager_config(REPO_ROOT, SINK, timings)
    names = [r["name"] for r in original["receivers"]]
    assert [r["name"] for r in doc["receivers"]] == names
    for receiver in doc["receivers"]:
        assert set(receiver) == {"name", "webhook_configs"}
        assert receiver["webhook_configs"][0]["url"] == f"{SINK}/receiver/{receiver['name']}"
    assert [r["receiver"] for r in doc["route"]["routes"]] == [
        r["receiver"] for r in original["route"]["routes"]
    ]
    assert [r["matchers"] for r in doc["route"]["routes"]] == [
        r["matchers"] for r in original["route"]["routes"]
    ]
    assert doc["route"]["group_wait"] == "1s"
    assert doc["route"]["routes"][0]["group_wait"] == "1s"  # the PagerDuty route sets its own
    assert "group_wait" not in doc["route"]["routes"][1]  # a route without one inherits
    assert doc["inhibit_rules"] == original["inhibit_rules"]


def test_generated_alertmanager_config_passes_amtool_and_routes_critical_to_pagerduty(
    tmp_path: Path,
) -> None:
    amtool = require_tool("amtool")
    config = write_alertmanager(REPO_ROOT, tmp_path, SINK, monitoring().alertmanager)
    check = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    routes = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            "severity=critical",
            "alertname=DataPipelineFailed",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert routes.stdout.strip() == "pagerduty-critical", routes.stdout + routes.stderr


def test_prometheus_config_and_rules_pass_promtool_with_only_profile_for_overrides(
    tmp_path: Path,
) -> None:
    promtool = require_tool("promtool")
    profile = monitoring()
    config = write_prometheus(
        REPO_ROOT, tmp_path, profile, pushgateway="127.0.0.1:2", alertmanager="127.0.0.1:3"
    )
    check = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    doc = yaml.safe_load(config.read_text())
    jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pods"]["file_sd_configs"][0]["files"] == [str(tmp_path / "file_sd" / "*.json")]
    assert doc["global"]["scrape_interval"] == profile.scrape_interval
    for source in sorted((REPO_ROOT / "monitoring/prometheus/rules").glob("*.yml")):
        before = {
            r.get("alert"): r
            for g in yaml.safe_load(source.read_text())["groups"]
            for r in g["rules"]
        }
        after = {
            r.get("alert"): r
            for g in yaml.safe_load((tmp_path / "rules" / source.name).read_text())["groups"]
            for r in g["rules"]
        }
        assert before.keys() == after.keys()
        for name, rule in before.items():
            expected = profile.alert_for.get(str(name), rule.get("for"))
            assert after[name].get("for") == expected
            assert after[name]["expr"] == rule["expr"]
        groups_before = {g["name"]: g for g in yaml.safe_load(source.read_text())["groups"]}
        groups_after = yaml.safe_load((tmp_path / "rules" / source.name).read_text())["groups"]
        for group in groups_after:
            wanted = profile.group_interval.get(
                group["name"], groups_before[group["name"]].get("interval")
            )
            assert group.get("interval") == wanted, group["name"]
    assert profile.group_interval, "the profile slows at least one expensive group"


def test_profile_naming_an_unknown_alert_is_refused(tmp_path: Path) -> None:
    profile = monitoring()
    broken = type(profile)(**{**profile.__dict__, "alert_for": {"NoSuchAlert": "1s"}})
    with pytest.raises(TwinError, match="NoSuchAlert"):
        write_prometheus(REPO_ROOT, tmp_path, broken, pushgateway="a:1", alertmanager="b:2")


def test_profile_naming_an_unknown_rule_group_is_refused(tmp_path: Path) -> None:
    profile = monitoring()
    broken = type(profile)(**{**profile.__dict__, "group_interval": {"no-such-group": "5s"}})
    with pytest.raises(TwinError, match="no-such-group"):
        write_prometheus(REPO_ROOT, tmp_path, broken, pushgateway="a:1", alertmanager="b:2")


def test_free_ports_are_never_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ports are picked before their servers bind them: a random pick may repeat an earlier one.
    from twin import procs

    picks = iter([21000, 21000, 21001])
    monkeypatch.setattr(procs.random, "randrange", lambda *_: next(picks))
    monkeypatch.setattr(procs, "_HANDED_OUT", set())
    assert [procs.free_port(), procs.free_port()] == [21000, 21001]
