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


TEMPLATES = "environments/base/analysis/strategy-service-level.yaml"
KPIS = "environments/base/analysis/strategy-trading-kpis.yaml"
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
        "AnalysisTemplate/strategy-service-level: metric error-rate: successCondition" in m
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
    # the unknown route name, the missing settings group route, and the generated-file check
    assert err == "error: lint found 3 problem(s)\n"
    assert out.count("\n") == 3 and all(
        line.startswith("environments/prod: ") for line in out.splitlines()
    )


def test_unknown_metric_names_and_impossible_failure_limit(repo: Path) -> None:
    edit(repo / TEMPLATES, "sum(rate(strategy_requests_total{", "sum(rate(strategy_request_total{")
    edit(
        repo / KPIS,
        "      count: 1\n      failureLimit: 0\n",
        "      count: 1\n      failureLimit: 1\n",
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
    assert any("failureLimit 1 >= count 1: the metric can never fail" in m for m in messages)
    assert any(
        "PrometheusRule/strategy-service-delivery: StrategyServiceNotReady: expr uses "
        "'strategy_redy'" in m
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


def test_step_order_that_goes_down_is_an_error(repo: Path) -> None:
    """50% before 25% (issue 14): the canary's routed group must only grow."""
    prod = repo / PROD
    text = prod.read_text()
    quarter, half = "^(KO|PEP|PG|JNJ|WMT)$", "^(KO|PEP|PG|JNJ|WMT|MSFT|AAPL|JPM|XOM|CVX)$"
    assert text.count(f"regex: {quarter}") == 1 and text.count(f"regex: {half}") == 1
    text = text.replace(f"regex: {half}", "regex: SWAP").replace(
        f"regex: {quarter}", f"regex: {half}"
    )
    prod.write_text(text.replace("regex: SWAP", f"regex: {quarter}"))
    messages = overlay_messages(repo, "prod")
    assert any(
        "setHeaderRoute 'instruments-50' routes 5 instrument(s) after 'instruments-25' at "
        "steps[5] routed 10"
        in m
        and "must not go down" in m
        for m in messages
    ), messages


def test_weights_that_go_down_are_an_error() -> None:
    from pipelines.delivery.lint.canary_rules import share_never_decreases

    steps = [
        {"setWeight": 50},
        {"pause": {}},
        {"setWeight": 25},
        {"setCanaryScale": {"weight": 30}},
    ]
    steps.append({"setCanaryScale": {"weight": 10}})
    problems = share_never_decreases(steps, {})
    assert (
        "strategy.canary.steps[2]",
        "setWeight 25 after setWeight 50 at steps[0]: the canary's share must not go down",
    ) in problems
    assert any(w == "strategy.canary.steps[4]" for w, _ in problems)
    groups = {
        "instrument_groups": [
            {"weight": 50, "instruments": ["A"]},
            {"weight": 25, "instruments": ["A"]},
        ]
    }
    assert any(
        "instrument_groups[1] weight 25 is not above" in m
        for _, m in share_never_decreases([], groups)
    )
    assert share_never_decreases([{"setWeight": 5}, {"setWeight": 5}, {"setWeight": 100}], {}) == []


def test_mirror_must_come_first_and_rank_last(repo: Path) -> None:
    prod = repo / PROD
    text = prod.read_text()
    mirror_start = text.index("      - setMirrorRoute:")
    mirror_end = text.index("      - setHeaderRoute:")
    mirror = text[mirror_start:mirror_end]
    text = text[:mirror_start] + text[mirror_end:]
    first_analysis = text.index("      - analysis:")
    text = text[:first_analysis] + mirror + text[first_analysis:]
    text = text.replace(
        "        - name: instruments-5\n",
        "        - name: mirror-all\n        - name: instruments-5\n",
        1,
    ).replace(
        "        - name: instruments-100\n        - name: mirror-all\n",
        "        - name: instruments-100\n",
    )
    prod.write_text(text)
    messages = overlay_messages(repo, "prod")
    assert any(
        "steps[1]: a setMirrorRoute of every instrument must come before the first setHeaderRoute"
        in m
        for m in messages
    ), messages
    text = prod.read_text()
    first_route = text.index("      - setHeaderRoute:")
    mirror_start = text.index("      - setMirrorRoute:")
    mirror = text[mirror_start : text.index("      - analysis:")]
    text = text.replace(mirror, "")
    prod.write_text(text[:first_route] + mirror + text[first_route:])
    messages = overlay_messages(repo, "prod")
    assert any(
        "managedRoutes: mirror route 'mirror-all' is listed before a header route" in m
        for m in messages
    ), messages


def test_kpis_pair_exactly_the_instruments_not_yet_routed(repo: Path) -> None:
    prod = repo / PROD
    text = prod.read_text()
    unrouted_5 = "^(AAPL|AMD|BAC|BBY|CVX|GE|HD|JNJ|JPM|LLY|MRK|MSFT|PEP|PFE|PG|RRC|UNH|WMT|XOM)$"
    edit(prod, f"value: {unrouted_5}", "value: ^(KO)$")
    messages = overlay_messages(repo, "prod")
    assert any(
        "steps[3].analysis: arg instruments must be the instruments not yet routed "
        f"({unrouted_5}), got '^(KO)$'" in m
        for m in messages
    ), messages
    prod.write_text(text)
    ref = "          - templateName: strategy-service-level\n"
    last = text.rindex(ref)
    both = ref + "          - templateName: strategy-trading-kpis\n"
    prod.write_text(text[:last] + both + text[last + len(ref) :])
    messages = overlay_messages(repo, "prod")
    assert any(
        "every instrument is routed to the canary: nothing is left to pair" in m for m in messages
    ), messages


def test_strategy_must_be_the_generated_one(repo: Path) -> None:
    edit(repo / PROD, "            value: 1h\n", "            value: 2h\n")
    messages = overlay_messages(repo, "prod")
    assert any(
        "spec.strategy.canary.steps[3].analysis.args[1].value: differs from what "
        "`python -m pipelines.delivery.canary` generates" in m
        for m in messages
    ), messages


def test_generated_windows_follow_the_schedule(repo: Path) -> None:
    from pipelines.delivery.canary import write_strategy

    edit(repo / "environments/prod/settings.yaml", "  first_step: 1h\n", "  first_step: 40s\n")
    edit(repo / "environments/prod/settings.yaml", "  interval: 5m\n", "  interval: 10s\n")
    assert overlay_messages(repo, "prod") != []
    written = write_strategy(repo / "environments" / "prod")
    assert written == repo / "environments/prod/strategy.yaml"
    assert overlay_messages(repo, "prod") == []
    text = written.read_text()
    assert "value: 40s" in text and "value: '4'" in text  # 40 s window, measured every 10 s


def test_job_metrics_and_missing_inconclusive_limit(repo: Path) -> None:
    edit(
        repo / KPIS,
        "      inconclusiveLimit: 0\n",
        "",
    )
    text = (repo / TEMPLATES).read_text()
    (repo / TEMPLATES).write_text(
        text
        + """    - name: analyze-job
      count: 1
      failureLimit: 0
      consecutiveErrorLimit: 2
      successCondition: "len(result) > 0 && result[0] <= 1"
      provider:
        job:
          spec:
            template:
              spec:
                restartPolicy: Never
                containers: [{name: analyze, image: strategy-service}]
"""
    )
    messages = overlay_messages(repo, "prod")
    assert any("metric analyze-job: Job metrics are not allowed" in m for m in messages), messages
    assert any(
        "AnalysisTemplate/strategy-trading-kpis: metric sharpe-drop: inconclusiveLimit is not set"
        in m
        for m in messages
    ), messages


def test_pnl_threshold_follows_settings(repo: Path) -> None:
    edit(repo / "environments/prod/settings.yaml", "pnl_drop_max: 0.10", "pnl_drop_max: 0.15")
    messages = overlay_messages(repo, "prod")
    assert any(
        "arg pnl-drop-max='0.1' but settings.yaml analysis.pnl_drop_max is 0.15" in m
        for m in messages
    ), messages


def test_staging_mirrors_active_traffic_to_the_preview(repo: Path) -> None:
    from pipelines.delivery.lint.runner import render

    docs = render(repo / "environments" / "staging")
    services = [d for d in docs if d["kind"] == "VirtualService"]
    assert len(services) == 1, "staging must render its VirtualService"
    (primary,) = services[0]["spec"]["http"]
    assert primary["route"][0]["destination"]["host"] == "strategy-service"
    assert primary["mirror"]["host"] == "strategy-service-preview"
    assert primary["mirrorPercentage"]["value"] == 100
    rules = {d["spec"]["host"] for d in docs if d["kind"] == "DestinationRule"}
    assert rules == {"strategy-service", "strategy-service-preview"}
