"""Morris elementary effects (native numpy) against functions with known indices, and the
sensitivity.global params: fail-closed validation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from mrm_gate.controls.sensitivity import GlobalSensitivityParams
from mrm_gate.risk import RiskInputError
from mrm_gate.risk._sensitivity import empirical_inverse, morris_design, morris_indices


@pytest.mark.parametrize("levels", [2, 4, 6])
def test_linear_model_has_the_analytic_indices(levels: int) -> None:
    """f = sum a_i x_i, x_i uniform on [l_i, u_i]: every EE_i = a_i (u_i - l_i), sigma_i = 0."""
    a = np.array([3.0, -1.0, 0.5, 0.0])
    lo, hi = np.array([0.0, 10.0, -1.0, 0.0]), np.array([1.0, 12.0, 1.0, 5.0])
    res = morris_indices(lambda u: (lo + u * (hi - lo)) @ a, ["a", "b", "c", "d"],
                         trajectories=12, levels=levels, seed=3)  # fmt: skip
    exact = np.abs(a) * (hi - lo)
    np.testing.assert_allclose(res.mu_star, exact, atol=1e-12)
    np.testing.assert_allclose(res.mu, a * (hi - lo), atol=1e-12)
    np.testing.assert_allclose(res.sigma, 0.0, atol=1e-12)
    np.testing.assert_allclose(res.share, exact / exact.sum(), atol=1e-12)
    assert res.evaluations == 12 * 5
    assert [r["feature"] for r in res.ranking()] == ["a", "b", "c", "d"]


def test_quadratic_by_hand() -> None:
    """f = x^2 on a 4-level grid (delta = 2/3): starts 0 or 1/3, EE = 2x + delta = 2/3 or 4/3,
    so mu* is their average over the starts drawn, and mu* of an unused input is 0."""
    res = morris_indices(lambda u: u[:, 0] ** 2, ["x", "unused"], trajectories=400, seed=1)
    points, _ = morris_design(2, trajectories=400, seed=1)
    lower = np.minimum(points[:, 0, 0], points[:, -1, 0])  # the grid point below each step
    assert res.mu_star[0] == pytest.approx(float(np.mean(2 * lower + 2 / 3)), rel=1e-12)
    assert res.mu_star[0] == pytest.approx(1.0, abs=0.05)
    assert res.mu_star[1] == 0.0 and res.share[0] == 1.0


def test_design_moves_one_input_per_step_inside_the_cube() -> None:
    points, order = morris_design(5, trajectories=50, levels=4, seed=0)
    steps = np.diff(points, axis=1)
    assert np.all((np.abs(steps) > 1e-12).sum(axis=2) == 1)
    np.testing.assert_allclose(np.abs(steps).sum(axis=2), 2 / 3)
    assert points.min() >= 0 and points.max() <= 1
    assert all(sorted(row) == list(range(5)) for row in order)  # every input moves once


def test_intervals_bracket_and_are_seeded() -> None:
    f = lambda u: np.sin(3 * u[:, 0]) + u[:, 1] * u[:, 2]  # noqa: E731
    a = morris_indices(f, ["x", "y", "z"], trajectories=30, seed=5)
    b = morris_indices(f, ["x", "y", "z"], trajectories=30, seed=5)
    assert a.to_dict() == b.to_dict()
    for i in range(3):
        lo, hi = a.share_interval[i]
        assert lo <= a.share[i] <= hi


@pytest.mark.parametrize(
    ("f", "kwargs", "message"),
    [
        (lambda u: u[:, 0], {"levels": 3}, "even number"),
        (lambda u: u[:, 0], {"trajectories": 2}, "at least 4 trajectories"),
        (lambda u: np.full(len(u), np.nan), {}, "non-finite"),
        (lambda u: np.zeros(len(u)), {}, "does not move"),
        (lambda u: np.zeros((len(u), 2)), {}, "returned shape"),
        (lambda u: u[:, 0], {"confidence": 1.5}, "confidence"),
    ],
)
def test_bad_designs_and_outputs_are_errors(f, kwargs: dict, message: str) -> None:
    with pytest.raises(RiskInputError, match=message):
        morris_indices(f, ["x", "y"], **{"trajectories": 8, **kwargs})


def test_empirical_inverse() -> None:
    num = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    np.testing.assert_allclose(empirical_inverse(num, np.array([0.0, 0.5, 1.0])), [1, 2.5, 4])
    cat = np.array(["F", "M", "M", "M", None], dtype=object)
    assert list(empirical_inverse(cat, np.array([0.0, 0.2, 0.3, 1.0]))) == ["F", "F", "M", "M"]
    with pytest.raises(RiskInputError, match="no finite values"):
        empirical_inverse(np.array([np.nan]), np.array([0.5]))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "give max_share and/or max_forbidden_share"),
        ({"max_share": 0.5, "levels": 5}, "levels must be even"),
        ({"max_share": 0.0}, "greater than 0"),
        ({"max_share": float("nan")}, "finite"),
        ({"max_share": 0.5, "trajectories": 2}, "greater than or equal to 4"),
        ({"max_share": 0.5, "n_boot": 10}, "greater than or equal to 100"),
        ({"max_share": 0.5, "output": "logit"}, "'score' or 'prediction'"),
        ({"max_forbidden_share": True}, "number"),
    ],
)
def test_params_are_validated(params: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GlobalSensitivityParams.model_validate(params)
