"""Native statistics equal the libraries' numbers on the same data.

The issue's speed rule: where mrm-gate computes a number natively for speed, a test asserts it
equals the library's. Evidently 0.7 legacy stat tests and Fairlearn 0.15 metrics are the
references; data sizes cover both scipy KS regimes (exact <= 10k, asymptotic above).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mrm_gate import stats

pytestmark = pytest.mark.suites


@pytest.fixture(scope="module")
def ev():
    st = pytest.importorskip("evidently.legacy.calculations.stattests")
    from evidently.legacy.core import ColumnType

    return st, ColumnType


def _numeric_pair(kind: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(size=n), rng.normal(0.15, 1.1, size=int(n * 0.8))
    if kind == "ties":  # integer-valued, many ties (ages, counts)
        return (rng.integers(18, 75, size=n).astype(float),
                rng.integers(20, 80, size=int(n * 1.2)).astype(float))
    if kind == "skewed":
        return rng.lognormal(size=n), rng.lognormal(0.2, size=n)
    if kind == "few_values":  # <= 20 distinct: Evidently bins per value
        return (rng.integers(0, 6, size=n).astype(float),
                rng.integers(0, 7, size=n).astype(float))
    raise ValueError(kind)


KINDS = ["normal", "ties", "skewed", "few_values"]
SIZES = [500, 30_000]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_ks_equals_evidently(ev, kind, n):
    st, ct = ev
    a, b = _numeric_pair(kind, n)
    ours = stats.ks_sorted(stats.sorted_sample(a), stats.sorted_sample(b))
    theirs = st.ks_stat_test(pd.Series(a), pd.Series(b), ct.Numerical, None).drift_score
    assert ours.value == pytest.approx(theirs, rel=1e-9, abs=1e-300)
    from scipy.stats import ks_2samp

    assert ours.extra["statistic"] == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_wasserstein_and_jensenshannon_equal_evidently(ev, kind, n):
    st, ct = ev
    a, b = _numeric_pair(kind, n, seed=1)
    sa, sb = stats.sorted_sample(a), stats.sorted_sample(b)
    ra, rb = pd.Series(a), pd.Series(b)
    w = st.wasserstein_stat_test(ra, rb, ct.Numerical, None).drift_score
    assert stats.wasserstein_norm_sorted(sa, sb).value == pytest.approx(w, rel=1e-9)
    js = st.jensenshannon_stat_test(ra, rb, ct.Numerical, None).drift_score
    assert stats.jensenshannon_numeric(sa, sb).value == pytest.approx(js, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_quantile_psi_equals_evidently_psi_on_the_same_bins(ev, kind):
    """Our numeric PSI = Evidently's PSI on the values binned at the reference quantiles."""
    st, ct = ev
    a, b = _numeric_pair(kind, 20_000, seed=2)
    ours = stats.psi_numeric(stats.sorted_sample(a), stats.sorted_sample(b), bins=10)
    edges = np.asarray(ours.extra["edges"])
    bin_a = pd.Series(np.searchsorted(edges, a, side="left")).astype(str)
    bin_b = pd.Series(np.searchsorted(edges, b, side="left")).astype(str)
    theirs = st.psi_stat_test(bin_a, bin_b, ct.Categorical, None).drift_score
    assert ours.value == pytest.approx(theirs, rel=1e-9)
    assert ours.value == pytest.approx(_psi_textbook(bin_a, bin_b), rel=1e-9)


def _psi_textbook(a: pd.Series, b: pd.Series) -> float:
    keys = sorted(set(a) | set(b))
    pa = a.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
    pb = b.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
    pa, pb = stats.fill_zero_shares(pa), stats.fill_zero_shares(pb)
    return float(np.sum((pa - pb) * np.log(pa / pb)))


def _categorical_pair(n: int, seed: int, new_category: bool = False):
    rng = np.random.default_rng(seed)
    a = rng.choice(["A", "B", "C", "D"], p=[0.4, 0.3, 0.2, 0.1], size=n)
    b = rng.choice(["A", "B", "C", "D"], p=[0.35, 0.3, 0.25, 0.1], size=n + 37)
    if new_category:
        b[:5] = "E"
    return pd.Series(a), pd.Series(b)


@pytest.mark.parametrize("as_category", [False, True])
@pytest.mark.parametrize("n", [300, 50_000])
def test_categorical_tests_equal_evidently(ev, n, as_category):
    st, ct = ev
    a, b = _categorical_pair(n, seed=3)
    counts = stats.category_counts(a.astype("category") if as_category else a,
                                   b.astype("category") if as_category else b)
    args = (counts.reference, counts.current)
    assert stats.psi_categorical(*args, 0, 0).value == pytest.approx(
        st.psi_stat_test(a, b, ct.Categorical, None).drift_score, rel=1e-9)
    assert stats.jensenshannon_categorical(*args).value == pytest.approx(
        st.jensenshannon_stat_test(a, b, ct.Categorical, None).drift_score, rel=1e-9)
    assert stats.chisquare_categorical(*args, len(a), len(b)).value == pytest.approx(
        st.chi_stat_test(a, b, ct.Categorical, None).drift_score, rel=1e-7, abs=1e-300)


def test_category_unseen_in_reference_is_maximal_chisquare_drift():
    a, b = _categorical_pair(1000, seed=4, new_category=True)
    c = stats.category_counts(a, b)
    assert "E" in c.keys
    assert stats.chisquare_categorical(c.reference, c.current, len(a), len(b)).value == 0.0


def test_psi_gives_missing_values_a_bin():
    ref = np.r_[np.arange(1000.0), np.full(10, np.nan)]
    cur = np.r_[np.arange(1000.0), np.full(300, np.nan)]
    psi = stats.psi_numeric(stats.sorted_sample(ref), stats.sorted_sample(cur))
    assert psi.extra["current_counts"][-1] == 300
    assert psi.value > 0.1


# ----------------------------------------------------------------------------- fairness


def _fair_data(n: int, seed: int, groups: int = 3):
    rng = np.random.default_rng(seed)
    g = rng.choice([f"g{i}" for i in range(groups)], p=np.r_[0.5, [0.5 / (groups - 1)] *
                                                          (groups - 1)], size=n)
    age = rng.integers(18, 80, size=n)
    y = rng.integers(0, 2, size=n)
    p = np.where(rng.random(n) < 0.8, y, 1 - y)
    p[g == "g1"] = np.where(rng.random(int((g == "g1").sum())) < 0.3, 1,
                            p[g == "g1"])  # a disparity
    return y, p, g, age


def _groups(*cols):
    codes, uniques = zip(*(stats.codes_and_uniques(pd.Series(c)) for c in cols), strict=False)
    return stats.combine_groups([f"a{i}" for i in range(len(cols))], codes, uniques)


@pytest.mark.parametrize("n", [200, 20_000])
def test_group_metrics_equal_fairlearn_metricframe(n):
    fm = pytest.importorskip("fairlearn.metrics")
    from sklearn.metrics import accuracy_score, precision_score

    y, p, g, age = _fair_data(n, seed=5)
    age_bin = pd.cut(pd.Series(age), [0, 25, 40, 60, 200], right=False).astype(str)
    metrics = {"selection_rate": fm.selection_rate,
               "true_positive_rate": fm.true_positive_rate,
               "false_positive_rate": fm.false_positive_rate,
               "true_negative_rate": fm.true_negative_rate,
               "false_negative_rate": fm.false_negative_rate,
               "accuracy": accuracy_score,
               "precision": lambda t, q: precision_score(t, q, zero_division=0)}
    for cols in ([g], [g, age_bin.to_numpy()]):
        sf = pd.DataFrame({f"a{i}": c for i, c in enumerate(cols)})
        mf = fm.MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=sf)
        groups = _groups(*cols)
        counts = stats.confusion_counts(groups, y == 1, p == 1)
        for name in metrics:
            ours = stats.rate(counts, name)
            by_group = mf.by_group[name]
            for label, value in zip(groups.labels, ours, strict=False):
                key = label if len(label) > 1 else label[0]
                assert value == pytest.approx(by_group.loc[key], abs=1e-12), (name, label)
            overall = float(stats.rate(counts.sum(axis=0), name))
            for kind in ("difference", "ratio"):
                for method in ("between_groups", "to_overall"):
                    theirs = getattr(mf, kind)(method=method)[name]
                    assert stats.aggregate(ours, overall, kind=kind, method=method) == \
                        pytest.approx(theirs, abs=1e-12, nan_ok=True), (name, kind, method)


@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
@pytest.mark.parametrize("name", sorted(stats.DERIVED_METRICS))
def test_named_fairness_metrics_equal_fairlearn(name, method):
    fm = pytest.importorskip("fairlearn.metrics")
    y, p, g, _ = _fair_data(5_000, seed=6)
    counts = stats.confusion_counts(_groups(g), y == 1, p == 1)
    theirs = getattr(fm, name)(y, p, sensitive_features=g, method=method)
    assert stats.derived(name, counts, method=method) == pytest.approx(theirs, abs=1e-12)


def test_group_without_positives_has_fairlearn_rates():
    fm = pytest.importorskip("fairlearn.metrics")
    y = np.array([1, 0, 1, 0, 0, 0, 1, 1])
    p = np.array([1, 0, 0, 1, 1, 0, 1, 1])
    g = np.array(["a", "a", "a", "a", "b", "b", "c", "c"])  # b: no positives; c: no negatives
    counts = stats.confusion_counts(_groups(g), y == 1, p == 1)
    for name, fn in (("true_positive_rate", fm.true_positive_rate),
                     ("false_positive_rate", fm.false_positive_rate)):
        mf = fm.MetricFrame(metrics=fn, y_true=y, y_pred=p, sensitive_features=g)
        assert list(stats.rate(counts, name)) == pytest.approx(list(mf.by_group))
