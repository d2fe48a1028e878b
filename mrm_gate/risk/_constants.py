"""Error messages and numerical limits of the gap-risk module, in one place.

Messages are constants (as in fairlearn) so that tests, the checks and the CLI refer to the same
text, and so that every message says what was wrong and what to do about it.
"""

from __future__ import annotations

# Minimum number of periods each estimator needs. They are the smallest samples for which the
# estimator is defined with at least one residual degree of freedom; they are not sample sizes
# that make the estimate reliable (the bootstrap intervals say how unreliable it is).
MIN_PERIODS_NORMAL = 3  # mean + standard deviation (ddof=1) with one spare observation
MIN_PERIODS_EMPIRICAL = 1
MIN_PERIODS_OU = 4  # 3 transitions: AR(1) intercept + slope + 1 residual degree of freedom
MIN_RESIDUAL_DOF_SYSTEMIC = 2  # (periods - 1) - (factors + 1) must be at least this
MIN_PERIODS_SHAPIRO = 3
MIN_PERIODS_LJUNG_BOX = 4

# Relative tolerance under which a standard deviation counts as zero (constant series).
ZERO_SIGMA_RTOL = 1e-12

TOO_FEW_PERIODS = (
    "{what} needs at least {need} periods, the backtest has {got}; add periods to the backtest "
    "or use a variant that needs fewer (empirical needs {min_empirical})"
)
MISMATCHED_LENGTHS = (
    "{names} must have the same length, got {lengths}; each row of a backtest is one period"
)
NON_FINITE = (
    "{name} has missing or non-finite values at {where}; fill or remove those periods "
    "(a backtest row needs expected_loss, margin and realised_loss)"
)
NON_POSITIVE_EL = (
    "expected_loss must be > 0 in every period (the gap divides by it); got {values} at {where}; "
    "remove those periods or fix the expected loss"
)
NEGATIVE_MARGIN = (
    "margin must be >= 0 (an amount of conservatism added to the expected loss); got {values} "
    "at {where}"
)
NOT_ONE_DIMENSIONAL = "{name} must be a one-dimensional series, got shape {shape}"
CONSTANT_SERIES = (
    "the gap series is constant (standard deviation 0): the spread of the model's errors cannot "
    "be estimated from it; check that realised_loss is not a copy of expected_loss"
)
NEGATIVE_SIGMA = "sigma must be >= 0, got {sigma}"
NON_FINITE_PARAMETER = "{name} must be a finite number, got {value}"
BAD_ALPHA = (
    "alpha must be strictly between 0 and 1/2 (a probability of uncovered loss), got {alpha}"
)
BAD_LEVEL = "{name} must be strictly between 0 and 1, got {value}"
BAD_YBAR = (
    "ybar (the overestimation limit of situation 3) must be greater than the margin ratio "
    "{margin_ratio}, got {ybar}"
)
BAD_PERIOD_LENGTH = "period_length must be a positive number (e.g. 0.25 for quarters), got {value}"
BAD_HORIZON = "horizon must be a positive number in the period_length's time unit, got {value}"
NO_MEAN_REVERSION = (
    "no mean reversion: the fitted AR(1) coefficient is {b:.4g} >= 1, i.e. lambda = {lam:.4g} "
    "<= 0, so the gaps do not revert to a long-term mean and the Ornstein-Uhlenbeck variant "
    "does not apply; look for a trend or a structural break in the backtest, or use the "
    "normal/empirical variant"
)
NEGATIVE_AUTOCORRELATION = (
    "the fitted AR(1) coefficient is {b:.4g} <= 0: consecutive gaps are not positively "
    "correlated, so an Ornstein-Uhlenbeck process (whose lag-1 autocorrelation is exp(-lambda "
    "dt) > 0) does not fit; the i.i.d. normal variant applies"
)
FACTOR_NO_VARIANCE = (
    "external factor {name!r} has no variance over the regression periods, so its coefficient "
    "cannot be estimated; drop the column or supply a factor that moves"
)
FACTORS_COLLINEAR = (
    "the external factors {names} are collinear (the regression matrix has rank {rank} < "
    "{cols}); drop one of them"
)
NO_FACTORS = "the systemic variant needs at least one external-factor column"
UNKNOWN_FACTOR = "scenario names factor {name!r}, which is not one of the fitted factors {names}"
MISSING_FACTOR = "scenario is missing factor(s) {names}; give a value for every fitted factor"
UNKNOWN_VARIANT = "unknown variant {variant!r}; choose one of {choices}"
UNKNOWN_METHOD = "unknown {what} {value!r}; choose one of {choices}"
BAD_BOOTSTRAP = "n_boot must be an integer >= 100 (or 0 to skip intervals), got {value}"
EMPTY_PORTFOLIO = "a portfolio needs at least one backtest"
PERIODS_DIFFER = (
    "backtests {a!r} and {b!r} do not cover the same periods ({detail}); aggregation adds the "
    "models period by period, so give them the same periods"
)
BAD_EXPOSURE = "model risk exposure (MRE) must be a positive number, got {value}"
BAD_FUND = "the allocated model-risk fund must be >= 0, got {value}"
BAD_PATHS = "the Monte Carlo needs an integer number of paths >= {min} (or 0 for none), got {value}"
BAD_MC_PERIODS = "the Monte Carlo needs a whole number of periods >= 1, got {value}"
HORIZON_NOT_WHOLE = (
    "the Monte Carlo horizon {horizon} is not a whole number of periods of length "
    "{period_length}; give a horizon that is a multiple of the period length (e.g. 2 years of "
    "quarters: horizon 2, period_length 0.25)"
)
MC_NEEDS_SPREAD = (
    "the Monte Carlo needs a gap distribution with a spread (sigma > 0), got sigma {sigma}"
)
