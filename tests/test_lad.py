"""Tests of the Frisch-Newton least-absolute-deviations solver against the HiGHS LP."""

import warnings

import numpy as np
import pytest
import scipy.optimize

from sklik import LinearRegressor
from sklik._lad import frisch_newton


def _highs(X, y, c, fit_intercept):
    A = X.T if not fit_intercept else np.vstack([X.T, np.ones(X.shape[0])])
    # one constraint (p = 1 without intercept) is very slow for HiGHS's interior point
    method = "highs-ds" if A.shape[0] == 1 else "highs-ipm"
    res = scipy.optimize.linprog(
        -y, A_eq=A, b_eq=np.zeros(A.shape[0]), bounds=np.column_stack([-c, c]), method=method
    )
    assert res.status == 0
    marginals = -np.asarray(res.eqlin.marginals)
    return marginals[: X.shape[1]], (marginals[-1] if fit_intercept else 0.0)


def _objective(X, y, c, coef, intercept):
    return float(np.sum(c * np.abs(y - X @ coef - intercept)))


def _data(n, p, noise, kind, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * np.logspace(-3, 3, p)
    if noise == "gaussian":
        e = rng.normal(size=n)
    elif noise == "student":
        e = rng.standard_t(1.5, size=n)
    else:
        e = rng.laplace(size=n)
    y = X @ rng.normal(size=p) + e + 3.0
    c = rng.uniform(0.1, 2.0, size=n)
    if kind == "ties":
        X = np.round(rng.normal(size=(n, p)) * 2.0)
        y = np.round(X @ rng.normal(size=p) + e + 3.0)
    elif kind == "large":
        y = 1e6 * y + 1e7
    elif kind == "unit":
        c = np.ones(n)
    return X, y, c


KINDS = (
    ("gaussian", "weights"),
    ("student", "unit"),
    ("laplace", "ties"),
    ("student", "large"),
)
# HiGHS takes about a second at n = 20000: use half of the kinds there
CASES = [
    (seed, n, p, fit_intercept, noise, kind)
    for seed, (n, p, fit_intercept, (noise, kind)) in enumerate(
        (n, p, fit_intercept, nk)
        for n in (50, 2000, 20000)
        for p in (1, 5, 20)
        for fit_intercept in (True, False)
        for nk in (KINDS if n < 20000 else KINDS[2 * fit_intercept : 2 * fit_intercept + 2])
    )
]


@pytest.mark.parametrize(("seed", "n", "p", "fit_intercept", "noise", "kind"), CASES)
def test_matches_highs(seed, n, p, fit_intercept, noise, kind):
    X, y, c = _data(n, p, noise, kind, seed)
    coef, intercept = frisch_newton(X, y, c, fit_intercept)
    assert coef.shape == (p,)
    assert isinstance(intercept, float)
    if not fit_intercept:
        assert intercept == 0.0
    ours = _objective(X, y, c, coef, intercept)
    ref = _objective(X, y, c, *_highs(X, y, c, fit_intercept))
    assert ours <= ref * (1 + 1e-12) + 1e-300
    assert ours >= ref * (1 - 1e-9)


def test_interpolates_a_basis():
    # the solution is a vertex: it fits p + 1 observations exactly
    X, y, c = _data(500, 4, "gaussian", "weights", 0)
    coef, intercept = frisch_newton(X, y, c, True)
    r = np.abs(y - X @ coef - intercept)
    assert np.sum(r <= 1e-9 * np.abs(y).max()) >= 5


def test_exact_fit():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 4.0
    coef, intercept = frisch_newton(X, y, np.ones(200), True)
    np.testing.assert_allclose(coef, [1.0, -2.0, 0.5], rtol=1e-10)
    assert intercept == pytest.approx(4.0, rel=1e-10)


def test_median():
    # p = 0 columns but an intercept: the weighted median
    y = np.array([1.0, 2.0, 10.0, 4.0, 3.0])
    coef, intercept = frisch_newton(np.zeros((5, 0)), y, np.ones(5), True)
    assert coef.shape == (0,)
    assert intercept == pytest.approx(3.0)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_singular_raises(fit_intercept):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3))
    X = np.column_stack([X, X[:, 1]])
    y = rng.normal(size=100)
    with pytest.raises(np.linalg.LinAlgError):
        frisch_newton(X, y, np.ones(100), fit_intercept)


def test_constant_column_with_intercept_raises():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.normal(size=50), np.full(50, 2.0)])
    with pytest.raises(np.linalg.LinAlgError):
        frisch_newton(X, rng.normal(size=50), np.ones(50), True)


def test_max_iter():
    # too few iterations: either ArithmeticError or a vertex certified by pivoting
    X, y, c = _data(2000, 5, "student", "weights", 4)
    ref = _objective(X, y, c, *_highs(X, y, c, True))
    for max_iter in (0, 1, 3):
        try:
            coef, intercept = frisch_newton(X, y, c, True, max_iter=max_iter)
        except ArithmeticError:
            continue
        assert _objective(X, y, c, coef, intercept) <= ref * (1 + 1e-12)


@pytest.mark.parametrize("design", ["full_rank", "duplicate_column"])
def test_estimator_uses_the_fast_path_and_stays_exact(design, monkeypatch):
    # from _LAD_FRISCH_NEWTON_ROWS rows on, LinearRegressor("l1") solves by Frisch-Newton; a
    # rank-deficient design makes it fall back to HiGHS, and both reach the LP optimum
    from sklik import LinearRegressor
    from sklik._solver import _LAD_FRISCH_NEWTON_ROWS

    X, y, c = _data(_LAD_FRISCH_NEWTON_ROWS + 1000, 4, "student", "weights", seed=7)
    if design == "duplicate_column":
        X = np.column_stack([X, X[:, 0]])
        with pytest.raises(np.linalg.LinAlgError):
            frisch_newton(X, y, c, True)
    reference = _objective(X, y, c, *_highs(X, y, c, True))
    if design == "full_rank":  # no LP solve: Frisch-Newton certifies the optimum itself
        monkeypatch.setattr(scipy.optimize, "linprog", None)
    est = LinearRegressor("l1").fit(X, y, sample_weight=c)
    fitted = _objective(X, y, c, est.coef_, est.intercept_)
    assert fitted <= reference * (1 + 1e-12)


@pytest.mark.parametrize("heavy", [1e9, 1e10, 1e12])
def test_one_heavy_row_keeps_the_optimum(heavy):
    """Weights [heavy, 1, ..., 1] below the Frisch-Newton size: HiGHS's absolute tolerances
    sat above the light rows' dual bounds (weights normalised to sum 1), so the fit ended 2%
    above the optimum at 1e9 and HiGHS called the problem infeasible from 1e10. The bounds are
    in units of the smallest weight and HiGHS's solution is moved to a certified vertex."""
    from sklearn.linear_model import QuantileRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = X @ [0.5, 0.2, -0.3] + rng.standard_t(3, size=100)
    sw = np.r_[heavy, np.ones(99)]

    def objective(coef, intercept):
        return np.sum(sw * np.abs(y - X @ coef - intercept)) / sw.sum()

    ref = QuantileRegressor(quantile=0.5, alpha=0, solver="highs").fit(X, y, sample_weight=sw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = LinearRegressor("l1").fit(X, y, sample_weight=sw)
    best = objective(ref.coef_, ref.intercept_)
    # float64 limits the heavy row's residual: 1e-15 of y, weighted 1e12 / 1e12 + 99
    assert objective(est.coef_, est.intercept_) <= best * (1 + 1e-5)


def test_fewer_rows_than_coefficients_interpolate():
    """No basis of rows exists (n < p + 1): HiGHS's solution is kept (the vertex step needs a
    square basis: it raised a LAPACK shape error on 1 row and 2 features)."""
    X = np.array([[0.12573022, -0.13210486]])
    y = np.array([2.5])
    for fit_intercept in (False, True):
        est = LinearRegressor("l1", fit_intercept=fit_intercept).fit(X, y)
        np.testing.assert_allclose(est.predict(X), y, rtol=1e-12)
