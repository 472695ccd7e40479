"""The README's cost table is the one computed from the tfvars, and the arithmetic is right."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.infra import cost
from pipelines.infra.hcl import TfTree, load_tree

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"


@pytest.fixture(scope="module")
def tree() -> TfTree:
    return load_tree(TERRAFORM)


@pytest.mark.parametrize("document", ["terraform/README.md", "docs/architecture.md"])
def test_documents_hold_the_computed_table(tree: TfTree, document: str) -> None:
    text = (TERRAFORM.parent / document).read_text(encoding="utf-8")
    assert cost.render_cost_table(tree) in text


def test_dev_cost_by_hand(tree: TfTree) -> None:
    lines = cost.monthly_cost(tree, "dev")
    # one NAT + its IPv4 address for 730 h, plus 20 GB processed
    assert lines["nat_gateways"] == pytest.approx((0.045 + 0.005) * 730 + 20 * 0.045, abs=0.01)
    # 2 x t3.medium at 35% of $0.0416/h, 2 x 20 GB gp3 roots, Prometheus' 50 GB + Pushgateway's 2 GB
    assert lines["nodes"] == pytest.approx(
        2 * 0.0416 * 730 * 0.35 + 2 * 20 * 0.08 + (50 + 2) * 0.08, abs=0.01
    )
    # the internal NLB of the ingress gateway, with one NLCU on average
    assert lines["load_balancer"] == pytest.approx((0.0225 + 0.006) * 730, abs=0.01)
    # 1,000 remote-written series, one sample per 15 s, $0.90 per 10 M samples; 5 GB of logs
    assert lines["logs_metrics"] == pytest.approx(
        1000 * 730 * 3600 / 15 / 1e7 * 0.90 + 5 * 0.50, abs=0.01
    )
    assert lines["database"] == pytest.approx(0.016 * 730 + 20 * 0.115, abs=0.01)


def test_prod_is_the_dearest_and_pays_for_ha(tree: TfTree) -> None:
    totals = {env: cost.monthly_cost(tree, env)["total"] for env in ("dev", "staging", "prod")}
    assert totals["dev"] < totals["staging"] < totals["prod"]
    prod = cost.monthly_cost(tree, "prod")
    assert prod["total"] == prod["total_on_demand"]
    assert prod["database"] == pytest.approx(2 * (0.065 * 730 + 20 * 0.115), abs=0.01)


def test_the_assumed_scrape_interval_is_prometheus_yml_s() -> None:
    config = yaml.safe_load((TERRAFORM.parent / "monitoring/prometheus/prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == f"{cost.SCRAPE_SECONDS}s"


def test_runners_are_paid_by_the_hour(tree: TfTree) -> None:
    prod = cost.monthly_cost(tree, "prod")
    always_on = 3 * 0.096 * 730 + 3 * 50 * 0.08
    runners = 250 * 0.192 + 250 / 730 * 100 * 0.08
    volumes = (2 * 50 + 2) * 0.08
    assert prod["nodes"] == pytest.approx(always_on + runners + volumes, abs=0.01)
