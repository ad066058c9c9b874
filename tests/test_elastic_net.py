"""Elastic net: the L1 + L2 penalty of LinearRegressor(l1_ratio=...), its optimality conditions,
exact zeros, and agreement with glum on the Poisson objective."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from sklik import LinearRegressor
from sklik.losses import LOSSES


def _data(loss, n=300, p=12, seed=0):
    rng = np.random.default_rng(seed)
    # badly scaled, shifted columns: the penalty is on the user's coefficients
    X = rng.normal(size=(n, p)) * rng.uniform(0.1, 10, p) + rng.normal(size=p) * 5
    Z = (X - X.mean(0)) / X.std(0)
    coef = np.where(rng.random(p) < 0.5, 0.0, rng.normal(size=p))
    eta = Z @ coef * 0.3
    if loss == "negative_binomial_nll":  # overdispersed counts: a gamma-Poisson mixture
        y = rng.poisson(np.exp(0.5 + eta) * rng.gamma(2.0, 0.5, size=n)).astype(float)
    elif LOSSES[loss].y_domain[0] >= 0:  # the count losses
        y = rng.poisson(np.exp(0.5 + eta)).astype(float)
    else:
        y = 1.0 + eta + rng.standard_t(4, size=n) * 0.5
    return X, y


def _objective(est, X, y, alpha, l1_ratio, loss=None):
    """The fitted objective: the mean loss plus the elastic net on every head's coefficients
    (a constant head, e.g. the negative binomial's default dispersion, has none)."""
    loss = est.loss_ if loss is None else loss
    w = est.coef_
    penalty = alpha * (l1_ratio * np.abs(w).sum() + (1 - l1_ratio) / 2 * w @ w)
    raw = X @ w + est.intercept_
    if loss.n_params == 2:
        head = loss.param_names[1]  # log_var_, log_dispersion_
        v = getattr(est, f"{head}_coef_")
        raw = np.stack([raw, X @ v + getattr(est, f"{head}_intercept_")])
        penalty += alpha * (l1_ratio * np.abs(v).sum() + (1 - l1_ratio) / 2 * v @ v)
    else:
        raw = raw[np.newaxis]
    return float(np.mean(loss.raw_loss(y, raw))) + penalty


SMOOTH = [name for name in LOSSES if name != "l1"]


@pytest.mark.parametrize("loss", SMOOTH)
@pytest.mark.parametrize("l1_ratio", [0.3, 1.0])
def test_kkt_conditions_and_exact_zeros(loss, l1_ratio):
    """At the optimum: grad_j + alpha*l1_ratio*sign(w_j) = 0 off zero, |grad_j| <= it at zero."""
    X, y = _data(loss)
    alpha = 0.5
    est = LinearRegressor(
        loss, alpha=alpha, l1_ratio=l1_ratio, alpha_var=0.0, tol=1e-10, max_iter=5000
    )  # alpha_var=0: the objective of _objective
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(X, y)
    assert np.any(est.coef_ == 0.0), "an L1 penalty this strong zeroes some coefficients"
    assert est.objective_ == pytest.approx(_objective(est, X, y, alpha, l1_ratio), rel=1e-12)
    # the gradient of the smooth part (loss + L2) by central differences on the coefficients
    lam = alpha * l1_ratio
    for j in range(X.shape[1]):
        h = 1e-6 * max(1.0, 1.0 / X[:, j].std())

        def smooth(t, j=j):
            shifted = LinearRegressor(loss, alpha=alpha, l1_ratio=l1_ratio)
            shifted.__dict__.update(est.__dict__)
            shifted.coef_ = est.coef_.copy()
            shifted.coef_[j] += t
            total = _objective(shifted, X, y, alpha, l1_ratio)
            return total - lam * np.abs(shifted.coef_).sum()

        g = (smooth(h) - smooth(-h)) / (2 * h)
        scale = max(1.0, abs(lam))
        if est.coef_[j] != 0:
            assert abs(g + lam * np.sign(est.coef_[j])) <= 1e-5 * scale
        else:
            assert abs(g) <= lam * (1 + 1e-5) + 1e-7


def test_l1_ratio_zero_is_ridge():
    X, y = _data("mse")
    ridge = LinearRegressor("mse", alpha=0.1).fit(X, y)
    enet = LinearRegressor("mse", alpha=0.1, l1_ratio=0.0).fit(X, y)
    assert_allclose(enet.coef_, ridge.coef_, rtol=1e-10)


def test_equals_glum_on_the_poisson_objective():
    glum = pytest.importorskip("glum")
    X, y = _data("poisson_nll", n=2000, p=30)
    for alpha, l1_ratio in [(0.01, 0.5), (0.05, 1.0), (0.002, 0.2)]:
        est = LinearRegressor("poisson_nll", alpha=alpha, l1_ratio=l1_ratio, tol=1e-10)
        est.fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # glum warns at tolerances this tight
            ref = glum.GeneralizedLinearRegressor(
                family="poisson", alpha=alpha, l1_ratio=l1_ratio, gradient_tol=1e-12
            ).fit(X, y)
        # measured: 6e-9 relative on a coefficient of 8e-5 (4e-11 absolute), 2e-11 on the
        # intercept, which absorbs coef @ mean(X) (column means up to ~10): its atol is 10x
        assert_allclose(est.coef_, ref.coef_, rtol=1e-9, atol=1e-10)
        assert_allclose(est.intercept_, ref.intercept_, rtol=1e-9, atol=1e-9)
        assert np.array_equal(est.coef_ == 0, ref.coef_ == 0)
        ours = _objective(est, X, y, alpha, l1_ratio)
        theirs = _objective(ref, X, y, alpha, l1_ratio, loss=est.loss_)
        assert ours <= theirs + 1e-12 * abs(theirs)


def test_sparse_equals_dense():
    X, y = _data("poisson_nll")
    X[X < 0] = 0.0
    dense = LinearRegressor("poisson_nll", alpha=0.02, l1_ratio=0.5, tol=1e-10).fit(X, y)
    sparse = LinearRegressor("poisson_nll", alpha=0.02, l1_ratio=0.5, tol=1e-10)
    sparse.fit(sp.csr_matrix(X), y)
    assert_allclose(sparse.coef_, dense.coef_, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("solver", ["newton", "lstsq", "highs"])
def test_exact_solvers_refuse_an_l1_penalty(solver):
    X, y = _data("mse")
    with pytest.raises(ValueError, match="cannot minimise an L1 penalty"):
        LinearRegressor("mse", alpha=0.1, l1_ratio=0.5, solver=solver).fit(X, y)


@pytest.mark.parametrize("loss", SMOOTH)
@pytest.mark.parametrize("screen_tol", [None, 10.0])
def test_default_tol_reaches_the_tight_optimum(loss, screen_tol, monkeypatch):
    """At the default tol a short L-BFGS-B run finds the zeros and Newton steps on the other
    weights certify the optimality conditions; a screening run that misses the zeros (forced
    here: with a screening tol of 10 it stops at the cold start) is followed by L-BFGS-B to
    tol. Either way: the optimum of the tight fit and its exact zeros."""
    from sklik import _solver

    if screen_tol is not None:
        monkeypatch.setattr(_solver, "_L1_SCREEN_TOL", screen_tol)
    X, y = _data(loss, seed=1)
    kwargs = dict(alpha=0.2, l1_ratio=0.5, alpha_var=0.0)
    tight = LinearRegressor(loss, tol=1e-10, max_iter=5000, **kwargs).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = LinearRegressor(loss, **kwargs).fit(X, y)
    assert np.array_equal(est.coef_ == 0, tight.coef_ == 0)
    assert 0 < np.sum(est.coef_ == 0) < est.coef_.size
    assert est.objective_ == pytest.approx(tight.objective_, rel=1e-10)


@pytest.mark.parametrize("seed", [5, 6, 8])
def test_lasso_with_more_features_than_rows_in_units_apart_reaches_the_optimum(seed):
    """100 features on 60 rows in units 0.1, 1 and 10: proximal Newton's feature-sign search
    met a singular Hessian on its free set (more free coefficients than rows) and gave up,
    so its steps fell back on coordinate descent's iterate: the fit stopped 0.1-0.3% above
    the optimum, with a coefficient at -1.48 where the optimum has 0, silently at tol=1e-5.
    The reference is scikit-learn's coordinate descent to tol 1e-14."""
    Lasso = pytest.importorskip("sklearn.linear_model").Lasso
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 100)) * rng.choice([0.1, 1.0, 10.0], size=100)
    y = X[:, :5] @ (rng.normal(size=5) / X[:, :5].std(axis=0)) + rng.normal(size=60)
    # sklik's 0.5 * alpha * ||w||_1 on the mean squared error is Lasso(alpha / 2)
    ref = Lasso(alpha=5e-4, tol=1e-14, max_iter=10**6).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = LinearRegressor("mse", alpha=1e-3, l1_ratio=1.0, tol=1e-5).fit(X, y)

    def lasso(coef, intercept):
        return 0.5 * np.mean((y - X @ coef - intercept) ** 2) + 5e-4 * np.abs(coef).sum()

    assert lasso(est.coef_, est.intercept_) == pytest.approx(
        lasso(ref.coef_, ref.intercept_), rel=1e-10
    )
    assert_allclose(est.coef_, ref.coef_, atol=1e-8)
    assert np.array_equal(est.coef_ == 0, ref.coef_ == 0)


def test_standard_errors_of_an_l1_penalised_fit_warn_of_the_selection():
    """Wald intervals and p-values of a lasso fit ignore the selection (a coefficient at
    exactly 0 got a p-value of 1.0 and a full interval, with no caveat; glum warns too): a
    warning at the caller's line, from each method. A ridge's do not warn."""
    X, y = _data("mse", seed=2)
    est = LinearRegressor("mse", alpha=0.2, l1_ratio=0.5).fit(X, y)
    assert np.any(est.coef_ == 0)
    for method in (est.covariance_matrix, est.std_errors, est.coef_table):
        with pytest.warns(UserWarning, match="post-selection inference") as record:
            method(X, y)
        assert record[0].filename == __file__, method.__name__
    ridge = LinearRegressor("mse", alpha=0.2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ridge.coef_table(X, y)


def test_l1_elastic_net_on_wide_data():
    """An l1 elastic net on 15 rows by 30 columns had failed in the Woodbury Newton step
    ("zero-size array to reduction operation maximum") when no intercept had curvature. It
    reaches its optimum: no coordinate move of the coefficients or intercept lowers the
    objective (a convex one; a QP solver's optimum is 5.6e-9 higher)."""
    rng = np.random.RandomState(42)
    X, y = rng.rand(15, 30), rng.randint(0, 3, size=15).astype(float)
    est = LinearRegressor("l1", alpha=0.1, l1_ratio=0.5).fit(X, y)
    best = _objective(est, X, y, 0.1, 0.5)
    assert est.objective_ == pytest.approx(best, rel=1e-12)
    for j in range(X.shape[1] + 1):
        for step in (-1e-4, 1e-4):
            moved = LinearRegressor("l1", alpha=0.1, l1_ratio=0.5)
            moved.__dict__.update(est.__dict__)
            moved.coef_, moved.intercept_ = est.coef_.copy(), float(est.intercept_)
            if j < X.shape[1]:
                moved.coef_[j] += step
            else:
                moved.intercept_ += step
            assert _objective(moved, X, y, 0.1, 0.5) >= best - 1e-12
