"""pipelines lint: passes on the repository, fails with one clear line per broken fixture."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.delivery.lint.runner import lint_overlay, run_lint
from pipelines.delivery.lint.workflows import lint_workflows
from tests.conftest import REPO_ROOT, SHARED, require_tool


def shared_dir() -> Path | None:
    """../shared when present (CI); PIPELINES_SHARED overrides it locally."""
    folder = Path(os.environ.get("PIPELINES_SHARED", SHARED))
    if (folder / "schemas").is_dir():
        return folder
    if os.environ.get("CI") == "true" and not os.environ.get("PIPELINES_SHARED_OPTIONAL"):
        pytest.fail(f"{folder}/schemas is missing (CI must provide ../shared)")
    return None


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_tool("kubectl")
    for part in ("environments", "deploy", ".github"):
        shutil.copytree(REPO_ROOT / part, tmp_path / part)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture anchor missing in {path}: {old!r}"
    path.write_text(text.replace(old, new, 1))


def overlay_messages(repo: Path, env: str) -> list[str]:
    return [str(f) for f in lint_overlay(repo / "environments" / env, env, shared_dir())]


def workflow_messages(repo: Path) -> list[str]:
    return [str(f) for f in lint_workflows(repo, repo / ".github" / "workflows")]


def test_lint_passes_on_the_repository() -> None:
    require_tool("kubectl")
    assert [str(f) for f in run_lint(REPO_ROOT, shared=shared_dir() or Path("-"))] == []


TEMPLATES = "environments/base/analysis/strategy-canary-analysis.yaml"
PROD = "environments/prod/strategy.yaml"
CI = ".github/workflows/ci.yml"


def test_misspelled_success_condition(repo: Path) -> None:
    edit(
        repo / TEMPLATES,
        '      successCondition: "len(result) > 0 && result[0] <= {{args.error-rate-max}}"',
        '      successCondtion: "len(result) > 0 && result[0] <= {{args.error-rate-max}}"',
    )
    messages = overlay_messages(repo, "dev")
    assert any(
        "metric error-rate: no successCondition or failureCondition" in m for m in messages
    ), messages
    if shared_dir():
        assert any("'successCondtion' was unexpected" in m for m in messages), messages


def test_unguarded_condition(repo: Path) -> None:
    edit(
        repo / TEMPLATES,
        '"len(result) > 0 && result[0] <= {{args.error-rate-max}}"',
        '"result[0] <= {{args.error-rate-max}}"',
    )
    messages = overlay_messages(repo, "staging")
    assert any(
        "AnalysisTemplate/strategy-canary-analysis: metric error-rate: successCondition" in m
        and "must start with 'len(result) > 0 &&'" in m
        for m in messages
    ), messages


def test_step_with_two_actions(repo: Path) -> None:
    edit(
        repo / PROD,
        "      - setCanaryScale:\n          replicas: 1\n",
        "      - setCanaryScale:\n          replicas: 1\n        pause: {duration: 1m}\n",
    )
    messages = overlay_messages(repo, "prod")
    assert any(
        "spec.strategy.canary.steps[0]: a step must hold exactly one action" in m for m in messages
    ), messages


def test_unknown_header_route_name(repo: Path) -> None:
    edit(repo / PROD, "          name: instruments-25\n", "          name: instruments-30\n")
    messages = overlay_messages(repo, "prod")
    assert any(
        "setHeaderRoute name 'instruments-30' is not listed in trafficRouting.managedRoutes" in m
        for m in messages
    ), messages


def test_threshold_differs_from_settings(repo: Path) -> None:
    edit(repo / "environments/staging/strategy.yaml", "value: '0.01'", "value: '0.02'")
    messages = overlay_messages(repo, "staging")
    assert any(
        "arg error-rate-max='0.02' but settings.yaml analysis.error_rate_max is 0.01" in m
        for m in messages
    ), messages


def test_routes_follow_settings_instrument_groups(repo: Path) -> None:
    edit(
        repo / "environments/prod/settings.yaml",
        "{weight: 5, instruments: [KO]}",
        "{weight: 5, instruments: [KO, PEP]}",
    )
    messages = overlay_messages(repo, "prod")
    assert any("setHeaderRoute 'instruments-5' routes ['KO']" in m for m in messages), messages


def test_unpinned_action(repo: Path) -> None:
    edit(
        repo / CI,
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
        "actions/checkout@v4",
    )
    messages = workflow_messages(repo)
    assert any(
        "ci.yml: jobs.changes.steps[0]: action 'actions/checkout@v4' is not pinned" in m
        for m in messages
    ), messages
    assert any("zizmor unpinned-uses" in m for m in messages), messages


def test_permissions_write_all(repo: Path) -> None:
    edit(repo / CI, "permissions: {}\n", "permissions: write-all\n")
    messages = workflow_messages(repo)
    assert any("ci.yml: permissions: top-level permissions 'write-all'" in m for m in messages)
    assert any("zizmor excessive-permissions" in m for m in messages), messages


def test_untrusted_text_in_run(repo: Path) -> None:
    edit(
        repo / CI,
        "        run: ./.ci/run\n",
        '        run: echo "${{ github.event.pull_request.title }}"\n',
    )
    messages = workflow_messages(repo)
    assert any(
        "${{ github.event.pull_request.title }} interpolated into run:" in m for m in messages
    ), messages
    assert any("zizmor template-injection" in m for m in messages), messages


def test_cli_exit_status_and_one_line_per_finding(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(repo / PROD, "          name: instruments-25\n", "          name: instruments-30\n")
    monkeypatch.chdir(repo)
    assert main(["lint", "--shared", str(repo / "no-shared")]) == 1
    out, err = capsys.readouterr()
    assert err == "error: lint found 2 problem(s)\n"
    assert out.count("\n") == 2 and all(
        line.startswith("environments/prod: ") for line in out.splitlines()
    )


def test_unknown_metric_names_and_impossible_failure_limit(repo: Path) -> None:
    edit(repo / TEMPLATES, "sum(rate(strategy_requests_total{", "sum(rate(strategy_request_total{")
    edit(
        repo / TEMPLATES,
        "      count: 10\n      failureLimit: 1\n",
        "      count: 10\n      failureLimit: 10\n",
    )
    # An overlay may still carry a PrometheusRule: its expressions are checked too.
    (repo / "environments/dev/rule.yaml").write_text(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n"
        "metadata:\n  name: strategy-service-delivery\nspec:\n  groups:\n"
        "    - name: strategy-delivery\n      rules:\n        - alert: StrategyServiceNotReady\n"
        "          expr: max (strategy_redy{}) == 0\n"
    )
    edit(
        repo / "environments/dev/kustomization.yaml",
        "  - model.yaml\n",
        "  - model.yaml\n  - rule.yaml\n",
    )
    messages = overlay_messages(repo, "dev")
    assert any("query uses 'strategy_request_total'" in m for m in messages), messages
    assert any("failureLimit 10 >= count 10: the metric can never fail" in m for m in messages)
    assert any(
        "PrometheusRule/strategy-service-delivery: StrategyServiceNotReady: expr uses "
        "'strategy_redy'" in m
        for m in messages
    ), messages


def test_analysed_instruments_follow_the_header_route(repo: Path) -> None:
    edit(
        repo / PROD, "            value: ^(KO|PEP|PG|JNJ|WMT)$\n", "            value: ^(KO|PEP)$\n"
    )
    edit(repo / PROD, "          - name: instruments\n            value: ^(KO)$\n", "")
    messages = overlay_messages(repo, "prod")
    assert any(
        "steps[5].analysis: arg instruments='^(KO|PEP)$' but setHeaderRoute 'instruments-25' "
        "routes ['JNJ', 'KO', 'PEP', 'PG', 'WMT']" in m
        for m in messages
    ), messages
    assert any(
        "steps[2].analysis: arg 'instruments' must name the instruments of setHeaderRoute "
        "'instruments-5' (^(KO)$)" in m
        for m in messages
    ), messages


def test_omitted_threshold_falls_back_to_a_differing_default(repo: Path) -> None:
    settings = repo / "environments/staging/settings.yaml"
    edit(settings, "error_rate_max: 0.01", "error_rate_max: 0.02")
    strategy = repo / "environments/staging/strategy.yaml"
    text = strategy.read_text()
    strategy.write_text(text.replace("value: '0.01'", "value: '0.02'"))
    assert overlay_messages(repo, "staging") == []
    strategy.write_text(
        text.replace("        - name: error-rate-max\n          value: '0.01'\n", "", 1).replace(
            "value: '0.01'", "value: '0.02'"
        )
    )
    messages = overlay_messages(repo, "staging")
    assert any(
        "prePromotionAnalysis: arg error-rate-max is not passed and the template default '0.01' "
        "differs from settings.yaml analysis.error_rate_max 0.02" in m
        for m in messages
    ), messages


def test_job_metric_needs_limits_but_no_condition(repo: Path) -> None:
    assert not any("pipelines-analyze" in m for m in overlay_messages(repo, "prod"))
    edit(
        repo / TEMPLATES,
        "      count: 1\n      failureLimit: 0\n      consecutiveErrorLimit: 2\n",
        "      count: 1\n",
    )
    messages = overlay_messages(repo, "prod")
    assert any("metric pipelines-analyze: failureLimit is not set" in m for m in messages), messages
    assert any(
        "metric pipelines-analyze: consecutiveErrorLimit is not set" in m for m in messages
    ), messages
    assert not any("pipelines-analyze: no successCondition" in m for m in messages), messages
