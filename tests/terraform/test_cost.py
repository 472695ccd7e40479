"""The README's cost table is the one computed from the tfvars, and the arithmetic is right."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.infra import cost
from pipelines.infra.hcl import TfTree, load_tree

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"


@pytest.fixture(scope="module")
def tree() -> TfTree:
    return load_tree(TERRAFORM)


def test_readme_holds_the_computed_table(tree: TfTree) -> None:
    readme = (TERRAFORM / "README.md").read_text(encoding="utf-8")
    assert cost.render_cost_table(tree) in readme


def test_dev_cost_by_hand(tree: TfTree) -> None:
    lines = cost.monthly_cost(tree, "dev")
    # one NAT + its IPv4 address for 730 h, plus 20 GB processed
    assert lines["nat_gateways"] == pytest.approx((0.045 + 0.005) * 730 + 20 * 0.045, abs=0.01)
    # 2 x t3.medium at 35% of $0.0416/h, plus 2 x 20 GB gp3
    assert lines["nodes"] == pytest.approx(2 * 0.0416 * 730 * 0.35 + 2 * 20 * 0.08, abs=0.01)
    assert lines["database"] == pytest.approx(0.016 * 730 + 20 * 0.115, abs=0.01)


def test_prod_is_the_dearest_and_pays_for_ha(tree: TfTree) -> None:
    totals = {env: cost.monthly_cost(tree, env)["total"] for env in ("dev", "staging", "prod")}
    assert totals["dev"] < totals["staging"] < totals["prod"]
    prod = cost.monthly_cost(tree, "prod")
    assert prod["total"] == prod["total_on_demand"]
    assert prod["database"] == pytest.approx(2 * (0.065 * 730 + 20 * 0.115), abs=0.01)
