"""Gap-based model-risk measures (Benizri & Genest, "Model Risk Management | How to measure and
quantify model risk?", Chappuis Halder & Co., 2019), with the additions a validator needs:
empirical frequencies, assumption tests, and intervals on every probability.

The public API is this module; the private modules behind it each do one job. Formulas,
conventions and the correction of the paper's OU formula are in docs/gap-risk.md.

>>> from mrm_gate.risk import model_risk_probabilities, required_margin_ratio
>>> m = required_margin_ratio(0.2, alpha=0.05)
>>> p = model_risk_probabilities(m, 0.2)
>>> round(p.mr1, 12), round(p.mr2, 12)
(0.45, 0.05)
"""

from __future__ import annotations

from ._aggregate import (
    ModelRiskLoss,
    PortfolioRisk,
    aggregate,
    expected_loss_of_model_risk,
    total_backtest,
)
from ._analysis import RESULT_VARIANTS, GapRiskReport, VariantResult, analyse
from ._assumptions import AssumptionReport, TestResult, check_assumptions, ljung_box
from ._backtest import Backtest, backtest_from_frame, read_backtest
from ._bootstrap import BootstrapIntervals, bootstrap_normal, bootstrap_ou, bootstrap_systemic
from ._empirical import EmpiricalFrequencies, Frequency, empirical_frequencies
from ._gaps import SCALINGS, denominators, gaps, margin_ratios
from ._monte_carlo import (
    MonteCarloResult,
    QuantileEstimate,
    gap_paths,
    horizon_periods,
    simulate_uncovered_loss,
)
from ._normal import (
    ModelRiskProbabilities,
    NormalFit,
    fit_normal,
    loss_given_model_risk,
    model_risk_probabilities,
    required_margin_ratio,
)
from ._ou import OUFit, fit_ou, ou_conditional, ou_probabilities, simulate_ou
from ._systemic import SystemicFit, fit_systemic, systemic_probabilities
from ._validation import RiskInputError

__all__ = [
    "RESULT_VARIANTS",
    "SCALINGS",
    "AssumptionReport",
    "Backtest",
    "BootstrapIntervals",
    "EmpiricalFrequencies",
    "Frequency",
    "GapRiskReport",
    "ModelRiskLoss",
    "ModelRiskProbabilities",
    "MonteCarloResult",
    "NormalFit",
    "OUFit",
    "PortfolioRisk",
    "QuantileEstimate",
    "RiskInputError",
    "SystemicFit",
    "TestResult",
    "VariantResult",
    "aggregate",
    "analyse",
    "backtest_from_frame",
    "bootstrap_normal",
    "bootstrap_ou",
    "bootstrap_systemic",
    "check_assumptions",
    "denominators",
    "empirical_frequencies",
    "expected_loss_of_model_risk",
    "fit_normal",
    "fit_ou",
    "fit_systemic",
    "gap_paths",
    "gaps",
    "horizon_periods",
    "ljung_box",
    "loss_given_model_risk",
    "margin_ratios",
    "model_risk_probabilities",
    "ou_conditional",
    "ou_probabilities",
    "read_backtest",
    "required_margin_ratio",
    "simulate_ou",
    "simulate_uncovered_loss",
    "systemic_probabilities",
    "total_backtest",
]
