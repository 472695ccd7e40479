"""The twin's workflow roles carry the trust policy ``pipelines doctor`` accepts, and no other."""

from __future__ import annotations

from pipelines.delivery.doctor_aws import trusts
from twin.github.config import REPOSITORY
from twin.iam_roles import trust_policy


def test_the_role_trusts_exactly_its_environment_of_this_repository() -> None:
    policy = trust_policy("123456789012", "promote-prod")
    assert trusts(policy, REPOSITORY, "promote-prod")
    assert not trusts(policy, REPOSITORY, "promote-staging")
    assert not trusts(policy, "someone/else", "promote-prod")
