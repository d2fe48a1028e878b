"""Generate the synthetic credit-portfolio backtests used by the gap-risk examples and docs.

Ten years of quarters (2014Q1-2023Q4) for three portfolios of one bank (EUR millions), with a
recession in 2019Q3-2020Q4: unemployment rises from about 5% to 9.5% and GDP contracts. Each
portfolio's true quarterly default rate and LGD follow the previous quarter's unemployment
(a logistic link); the bank's model of expected loss follows the cycle only partly and with a
lag (a hybrid through-the-cycle PD), so it underestimates losses in the downturn and
overestimates them in the recovery, which is the pattern the gap-based measures are meant to
catch. Realised losses add binomial default noise (a finite number of obligors) and LGD noise.
A margin of conservatism (a fixed share of EL per portfolio) is added on top of the expected loss.

Run from the repository root (deterministic; the committed CSVs are its output):

    python examples/backtests/generate.py            # writes examples/backtests/*.csv
    python examples/backtests/generate.py --out DIR
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 20_240_917
QUARTERS = [f"{year}Q{q}" for year in range(2014, 2024) for q in range(1, 5)]
RECESSION = (QUARTERS.index("2019Q3"), QUARTERS.index("2020Q4"))


@dataclass(frozen=True)
class Portfolio:
    name: str
    ead0: float  # exposure at default at the start, EUR m
    growth: float  # quarterly exposure growth
    pd_ttc: float  # through-the-cycle annual PD
    beta: float  # sensitivity of the true log-odds of default to unemployment (per point)
    model_beta: float  # the model's sensitivity (a share of the true one: hybrid TTC)
    lgd: float  # downturn-neutral LGD
    lgd_beta: float  # LGD increase per unemployment point
    obligors: int  # drives the binomial noise of the default rate
    margin_share: float  # margin of conservatism as a share of EL


PORTFOLIOS = (
    Portfolio("corporate", 18_000.0, 0.008, 0.015, 0.30, 0.12, 0.40, 0.015, 30_000, 0.15),
    Portfolio("retail_mortgages", 42_000.0, 0.010, 0.006, 0.25, 0.15, 0.15, 0.012, 400_000, 0.12),
    Portfolio("sme", 9_000.0, 0.005, 0.030, 0.35, 0.10, 0.45, 0.010, 60_000, 0.18),
)


def macro(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Unemployment rate (%) and annualised GDP growth (%) per quarter, with the recession."""
    n = len(QUARTERS)
    k = np.arange(n)
    start, end = RECESSION
    shock = np.zeros(n)
    # rise over the recession, then a slow recovery (half-life ~ 5 quarters)
    rise = np.clip((k - start + 1) / (end - start + 1), 0.0, 1.0)
    decay = np.where(k > end, np.exp(-(k - end) / 7.0), 1.0)
    shock = 4.5 * rise * decay
    unemployment = 5.2 - 0.02 * k + shock + rng.normal(0.0, 0.12, n)
    growth = 1.9 - 1.4 * np.gradient(shock) * 4 + rng.normal(0.0, 0.35, n)
    return np.round(unemployment, 2), np.round(growth, 2)


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def backtest(
    p: Portfolio, unemployment: np.ndarray, growth: np.ndarray, rng: np.random.Generator
) -> list[dict]:
    n = len(QUARTERS)
    base_u = 5.2
    lagged = np.concatenate([[unemployment[0]], unemployment[:-1]])  # previous quarter
    model_lagged = np.concatenate([[unemployment[0]] * 2, unemployment[:-2]])  # two quarters
    ead = p.ead0 * (1 + p.growth) ** np.arange(n)
    q_pd = 1 - (1 - p.pd_ttc) ** 0.25  # quarterly
    true_pd = 1 / (1 + np.exp(-(_logit(q_pd) + p.beta * (lagged - base_u))))
    model_pd = 1 / (1 + np.exp(-(_logit(q_pd) + p.model_beta * (model_lagged - base_u))))
    true_lgd = np.clip(p.lgd + p.lgd_beta * (lagged - base_u), 0.05, 0.95)
    model_lgd = np.clip(p.lgd + 0.5 * p.lgd_beta * (model_lagged - base_u), 0.05, 0.95)
    defaults = rng.binomial(p.obligors, true_pd)
    default_rate = defaults / p.obligors
    lgd_noise = rng.normal(0.0, 0.06, n)  # relative: recoveries vary from quarter to quarter
    realised = ead * default_rate * np.clip(true_lgd * (1 + lgd_noise), 0.02, 0.98)
    expected = ead * model_pd * model_lgd
    rows = []
    for k, period in enumerate(QUARTERS):
        rows.append(
            {
                "period": period,
                "expected_loss": round(float(expected[k]), 3),
                "margin": round(float(p.margin_share * expected[k]), 3),
                "realised_loss": round(float(realised[k]), 3),
                "exposure": round(float(ead[k]), 1),
                "unemployment_rate": float(unemployment[k]),
                "gdp_growth": float(growth[k]),
            }
        )
    return rows


def generate(out: Path) -> list[Path]:
    rng = np.random.default_rng(SEED)
    unemployment, growth = macro(rng)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in PORTFOLIOS:
        rows = backtest(p, unemployment, growth, rng)
        path = out / f"{p.name}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    for path in generate(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
