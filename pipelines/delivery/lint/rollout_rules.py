"""Semantic checks of a rendered Rollout against its AnalysisTemplates and settings.yaml."""

from __future__ import annotations

import math
from typing import Any

from pipelines.delivery import canary
from pipelines.delivery.lint import canary_rules
from pipelines.delivery.lint.analysis_rules import arg_defaults, metric_names, required_args
from pipelines.delivery.lint.findings import Finding

STEP_ACTIONS = {
    "setWeight",
    "pause",
    "experiment",
    "analysis",
    "setCanaryScale",
    "setHeaderRoute",
    "setMirrorRoute",
    "plugin",
}
STRATEGY_OF_SETTING = {"rollout": "canary", "canary": "canary", "blueGreen": "blueGreen"}


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or not isinstance(expected, int | float):
        return str(value) == str(expected)
    try:
        return math.isclose(float(value), float(expected), rel_tol=1e-9)
    except (TypeError, ValueError):
        return False


class RolloutChecker:
    """Collects findings for one Rollout of one overlay."""

    def __init__(
        self,
        source: str,
        rollout: dict[str, Any],
        templates: dict[str, dict[str, Any]],
        settings: dict[str, Any],
    ) -> None:
        self.source = source
        self.rollout = rollout
        self.templates = templates
        self.settings = settings
        self.name = (rollout.get("metadata") or {}).get("name", "?")
        self.found: list[Finding] = []

    def add(self, where: str, message: str) -> None:
        """Record one finding at ``spec.<where>``."""
        self.found.append(Finding(self.source, f"Rollout/{self.name}: spec.{where}", message))

    def run(self) -> list[Finding]:
        """Run every check and return the findings."""
        spec = self.rollout.get("spec") or {}
        strategy = spec.get("strategy") or {}
        kinds = [k for k in ("canary", "blueGreen") if k in strategy]
        if len(kinds) != 1:
            self.add("strategy", f"expected exactly one of canary/blueGreen, found {kinds}")
        wanted = STRATEGY_OF_SETTING.get(str(self.settings.get("strategy")))
        if wanted and kinds and kinds[0] != wanted:
            self.add("strategy", f"settings.yaml says {self.settings['strategy']}, got {kinds[0]}")
        if "replicas" in self.settings and spec.get("replicas") != self.settings["replicas"]:
            self.add(
                "replicas",
                f"{spec.get('replicas')} but settings.yaml replicas is {self.settings['replicas']}",
            )
        if "canary" in strategy:
            self._canary(strategy["canary"], spec)
        if "blueGreen" in strategy:
            self._blue_green(strategy["blueGreen"])
        return self.found

    def _canary(self, canary_spec: dict[str, Any], spec: dict[str, Any]) -> None:
        routing = canary_spec.get("trafficRouting") or {}
        managed = {r.get("name") for r in routing.get("managedRoutes") or []}
        stable, canary_svc = canary_spec.get("stableService"), canary_spec.get("canaryService")
        if stable and stable == canary_svc:
            self.add("strategy.canary", "canaryService and stableService must differ")
        routes: dict[str, set[str] | None] = {}
        steps = canary_spec.get("steps") or []
        for index, step in enumerate(steps):
            where = f"strategy.canary.steps[{index}]"
            actions = sorted(set(step) & STEP_ACTIONS)
            unknown = sorted(set(step) - STEP_ACTIONS)
            if unknown:
                self.add(where, f"unknown step action(s) {unknown}")
            if len(step) != 1:
                self.add(where, f"a step must hold exactly one action, found {sorted(step)}")
            if "setWeight" in step:
                weight = step["setWeight"]
                if not isinstance(weight, int) or not 0 <= weight <= 100:
                    self.add(where, f"setWeight {weight!r} is outside 0..100")
            if {"setHeaderRoute", "setMirrorRoute", "setCanaryScale"} & set(
                actions
            ) and not routing:
                self.add(where, f"{actions[0]} needs trafficRouting")
            for key in ("setHeaderRoute", "setMirrorRoute"):
                if key in step:
                    rname = step[key].get("name")
                    if rname not in managed:
                        self.add(
                            where,
                            f"{key} name {rname!r} is not listed in trafficRouting.managedRoutes "
                            f"({sorted(n for n in managed if n)})",
                        )
                    if key == "setHeaderRoute":
                        routes[str(rname)] = self._route_instruments(where, step[key])
            if "analysis" in step:
                self._analysis(f"{where}.analysis", step["analysis"])
        self._instrument_groups(routes)
        problems = canary_rules.share_never_decreases(steps, self.settings)
        if self.settings.get("strategy") == "canary":
            if spec.get("progressDeadlineAbort") is not True:
                self.add("progressDeadlineAbort", "must be true for a canary by instrument")
            if not spec.get("rollbackWindow"):
                self.add("rollbackWindow", "must be set for a canary by instrument")
            problems += canary_rules.mirror_first(canary_spec, self.settings)
            problems += canary_rules.paired_instruments(steps, self.settings)
            problems += canary_rules.generated({"canary": canary_spec}, self.settings)
        for where, message in problems:
            self.add(where, message)
        background = canary_spec.get("analysis")
        if background:
            self._analysis("strategy.canary.analysis", background)

    def _route_instruments(self, where: str, route: dict[str, Any]) -> set[str] | None:
        names: set[str] = set()
        for match in route.get("match") or []:
            if match.get("headerName") != canary.HEADER:
                self.add(
                    where,
                    f"header route must match {canary.HEADER}, got {match.get('headerName')!r}",
                )
                return None
            value = match.get("headerValue") or {}
            if len(value) != 1:
                self.add(where, "headerValue must hold exactly one of exact/regex/prefix")
                return None
            if "exact" in value:
                names.add(str(value["exact"]))
            elif "regex" in value:
                parsed = canary.instruments_of(str(value["regex"]))
                if parsed is None:
                    self.add(where, f"regex {value['regex']!r} is not an anchored instrument list")
                    return None
                names |= parsed
        return names

    def _instrument_groups(self, routes: dict[str, set[str] | None]) -> None:
        expected = canary.expected_routes(self.settings)
        for rname, instruments in expected.items():
            if rname not in routes:
                self.add(
                    "strategy.canary.steps",
                    f"no setHeaderRoute {rname!r} for settings.yaml group {sorted(instruments)}",
                )
            elif routes[rname] is not None and routes[rname] != instruments:
                self.add(
                    "strategy.canary.steps",
                    f"setHeaderRoute {rname!r} routes {sorted(routes[rname] or [])}, settings.yaml "
                    f"lists {sorted(instruments)}",
                )

    def _blue_green(self, bg: dict[str, Any]) -> None:
        if bg.get("activeService") and bg.get("activeService") == bg.get("previewService"):
            self.add("strategy.blueGreen", "activeService and previewService must differ")
        delay = self.settings.get("scale_down_delay_seconds")
        if delay is not None and bg.get("scaleDownDelaySeconds") != delay:
            self.add(
                "strategy.blueGreen.scaleDownDelaySeconds",
                f"{bg.get('scaleDownDelaySeconds')} but settings.yaml says {delay}",
            )
        for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
            if key in bg:
                self._analysis(f"strategy.blueGreen.{key}", bg[key])
        if self.settings.get("strategy") == "blueGreen":
            for where, message in canary_rules.generated({"blueGreen": bg}, self.settings):
                self.add(where, message)

    def _analysis(self, where: str, analysis: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Check one analysis against its templates and settings; return the args it passes."""
        refs = analysis.get("templates") or []
        if not refs:
            self.add(where, "analysis references no templates")
        merged_required: set[str] = set()
        defaults: dict[str, Any] = {}
        names: list[str] = []
        for ref in refs:
            tname = ref.get("templateName")
            template = self.templates.get(str(tname))
            if template is None:
                self.add(where, f"AnalysisTemplate {tname!r} is not rendered by this overlay")
                continue
            merged_required |= required_args(template)
            defaults |= arg_defaults(template)
            names += metric_names(template)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            self.add(where, f"duplicate metric names across templates: {duplicates}")
        given = {a.get("name"): a for a in analysis.get("args") or []}
        for missing in sorted(merged_required - set(given)):
            self.add(where, f"arg {missing!r} is required by the templates but not passed")
        for extra in sorted(set(given) - set(defaults)):
            if defaults:
                self.add(where, f"arg {extra!r} is not declared by any referenced template")
        thresholds = self.settings.get("analysis") or {}
        for key, expected in thresholds.items():
            name = canary.arg_name(key)
            arg = given.get(name)
            if arg is not None and "value" in arg and not _same(arg["value"], expected):
                self.add(
                    where,
                    f"arg {arg['name']}={arg['value']!r} but settings.yaml analysis.{key} is "
                    f"{expected!r}",
                )
            elif arg is None and name in defaults and not _same(defaults[name], expected):
                self.add(
                    where,
                    f"arg {name} is not passed and the template default {defaults[name]!r} "
                    f"differs from settings.yaml analysis.{key} {expected!r}",
                )
        return given
