"""Typed params for training and the promotion gates (owned by the training work)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator

from pipelines.params_base import StrictModel


class SplitParams(StrictModel):
    """Purged walk-forward and combinatorial purged cross-validation (CPCV)."""

    walk_forward_folds: PositiveInt = 5
    cpcv_groups: int = Field(default=10, ge=3)
    cpcv_test_groups: PositiveInt = 2
    embargo_bars: int | None = Field(
        default=None, ge=0, description="null: the label horizon (the minimum allowed)"
    )
    validation_fraction: float = Field(default=0.15, gt=0, lt=0.5)

    @model_validator(mode="after")
    def _test_groups_below_groups(self) -> SplitParams:
        if self.cpcv_test_groups >= self.cpcv_groups:
            raise ValueError(
                f"cpcv_test_groups ({self.cpcv_test_groups}) must be below cpcv_groups "
                f"({self.cpcv_groups})"
            )
        return self


class ModelParams(StrictModel):
    """LightGBM defaults; the tuner searches around them."""

    objective: Literal["binary", "regression"] = "binary"
    num_boost_round: PositiveInt = 200
    early_stopping_rounds: PositiveInt = 30
    learning_rate: float = Field(default=0.05, gt=0)
    num_leaves: PositiveInt = 15
    min_data_in_leaf: PositiveInt = 200
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    lambda_l2: NonNegativeFloat = 1.0
    max_bin: int = Field(default=63, ge=2)
    num_threads: PositiveInt = 1
    seed: int = 42


class TuningParams(StrictModel):
    """Optuna search with a seeded TPE sampler and a fixed trial budget."""

    n_trials: PositiveInt = 20
    seed: int = 42
    workers: PositiveInt = Field(
        default=1,
        description="processes sharing one study (the budget split between them); above 1 the "
        "study lives in OPTUNA_STORAGE (an RDB URL, PostgreSQL on the platform) or, unset, in a "
        "journal file beside tuning.json; results then depend on the trials' timing",
    )

    @model_validator(mode="after")
    def _every_worker_has_a_trial(self) -> TuningParams:
        if self.workers > self.n_trials:
            raise ValueError(
                f"workers ({self.workers}) must not exceed n_trials ({self.n_trials}): "
                "each worker runs at least one trial of the fixed budget"
            )
        return self


class BacktestParams(StrictModel):
    """Position rule, costs and annualisation."""

    threshold: NonNegativeFloat = 0.02
    long_only: bool = False
    cost_bps: NonNegativeFloat = 1.0
    slippage_bps: NonNegativeFloat = 1.0
    periods_per_year: float | None = Field(
        default=None,
        gt=0,
        description="null: from the instruments' calendars (sessions a year x bars a session)",
    )


class LeakageParams(StrictModel):
    """Leakage checks run in the pipeline."""

    truncation_samples: PositiveInt = 8
    truncation_tolerance: float = Field(default=1e-9, gt=0)
    max_abs_label_correlation: float = Field(default=0.95, gt=0, le=1)
    seed: int = 7


class TrainingParams(StrictModel):
    """Training, tuning, backtest and model-card settings."""

    model_name: str = "trading-lgbm"
    experiment: str = "trading"
    use_cross_sectional: bool = Field(
        default=False,
        description="cs_rank_* features need the whole cross-section online; a canary pod "
        "only sees its own instruments",
    )
    reference_rows: PositiveInt = 2000
    reference_window_bars: PositiveInt = Field(
        default=252,
        description="the drift reference is sampled from this many latest training timestamps",
    )
    splits: SplitParams = SplitParams()
    model: ModelParams = ModelParams()
    tuning: TuningParams = TuningParams()
    backtest: BacktestParams = BacktestParams()
    leakage: LeakageParams = LeakageParams()


class GateThresholds(StrictModel):
    """One environment's gates; a null threshold means the gate is not enforced there."""

    min_sharpe: float | None = None
    max_drawdown: float | None = None
    min_win_rate: float | None = None
    pnl_margin: float | None = Field(
        default=None, description="required PnL = baseline + margin * |baseline|"
    )
    min_psr: float | None = None
    min_dsr: float | None = None
    require_no_leakage: bool = True
    require_tests_passed: bool = False


class LearnedThresholds(StrictModel):
    """When a model counts as having learned nothing (checked in every environment)."""

    min_trees: PositiveInt = Field(default=2, description="fewer trees: a constant model")
    min_prediction_std: NonNegativeFloat = Field(
        default=1e-4, description="out-of-sample predictions spread less: near-constant"
    )
    max_baseline_agreement: float = Field(
        default=0.99,
        gt=0,
        le=1,
        description="share of bars where the position equals the naive long baseline's",
    )
    min_tuning_spread: NonNegativeFloat = Field(
        default=1e-12, description="best minus worst trial score; at most this: all tied"
    )


class GatesParams(StrictModel):
    """Promotion gates per environment, and the learned-something gate of every one."""

    ci_status: str = "reports/ci_status.json"
    learned: LearnedThresholds = LearnedThresholds()
    dev: GateThresholds = GateThresholds(require_tests_passed=False)
    staging: GateThresholds = GateThresholds(
        min_sharpe=2.0,
        max_drawdown=0.15,
        min_win_rate=0.55,
        pnl_margin=0.10,
        min_psr=0.95,
        min_dsr=0.95,
        require_tests_passed=True,
    )
    prod: GateThresholds = GateThresholds(
        min_sharpe=2.0,
        max_drawdown=0.15,
        min_win_rate=0.55,
        pnl_margin=0.10,
        min_psr=0.95,
        min_dsr=0.95,
        require_tests_passed=True,
    )

    def for_env(self, env: str) -> GateThresholds:
        """Thresholds of one environment (``dev``, ``staging`` or ``prod``)."""
        thresholds: GateThresholds = getattr(self, env)
        return thresholds
