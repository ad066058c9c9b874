"""Fits do not depend on the units or the origin of the features, nor on the units of y.

sklik fits on an internally standardised design (``sklik._design``) with a relative stopping
rule (``sklik._solver``), so for every linear loss and every solver the fit on
``(X * s + c, y)`` is the fit on ``(X, y)`` with the coefficients mapped back
(``coef / s``, ``intercept - coef @ (c / s)``): the predictions agree to rtol 1e-6 at the
default ``tol``. Likewise the target's units: ``fit(X, f * y)`` is ``f`` times ``fit(X, y)``
when the loss's own parameters that carry y's units scale with it (Huber's ``delta``,
SmoothL1's ``beta``, GaussianNLL's variance floor ``eps`` in y's squared units).
"""

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import QuantileRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklik import LinearRegressor, MLPRegressor
from sklik.losses import GaussianNLLLoss, HuberLoss, SmoothL1Loss

# every linear loss with every solver it supports
SOLVERS = {
    "mse": ["auto", "lstsq", "lbfgs", "newton"],
    "l1": ["auto", "highs", "lbfgs"],
    "huber": ["auto", "lbfgs", "newton"],
    "smooth_l1": ["auto", "lbfgs", "newton"],
    "gaussian_nll": ["auto", "lbfgs", "newton"],
    "poisson_nll": ["auto", "lbfgs", "newton"],
}
CASES = [(loss, solver) for loss, solvers in SOLVERS.items() for solver in solvers]
# per-column scale and shift, 1e-8 ... 1e8 and up to 1e9 mixed in one design; a shift is kept
# within 1e4 of the column's spread, so that X * s + c still holds X's digits in float64
SCALE = np.array([1e-8, 1e8, 3.7, 1e-3])
SHIFT = np.array([1e-4, 1e9, -250.0, 0.0])


def _data(loss, n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    eta = X @ np.array([0.6, -0.4, 0.3, 0.2]) + 0.5
    if loss == "poisson_nll":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = eta + rng.standard_t(3, size=n) * 0.3 * (1 + 0.5 * np.abs(X[:, 0]))
    weights = rng.uniform(0.2, 3.0, size=n)
    return X, y, weights


def _fit(est, X, y, sample_weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # (the negative binomial on Poisson counts: its dispersion at the Poisson limit)
        warnings.filterwarnings("ignore", message=".*no overdispersion")
        return est.fit(X, y, sample_weight=sample_weight)


def _assert_same_function(a, b, rtol):
    """Predictions (and, with a variance head, the predicted std) agree to ``rtol``."""
    a, b = np.asarray(a), np.asarray(b)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    assert_allclose(b, a, rtol=rtol, atol=rtol * np.max(np.abs(a)))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("loss", "solver"), CASES)
def test_affine_feature_transform_gives_the_same_fit(loss, solver, weighted):
    X, y, w = _data(loss)
    sw = w if weighted else None
    Xt = X * SCALE + SHIFT
    a = _fit(LinearRegressor(loss, solver=solver), X, y, sw)
    b = _fit(LinearRegressor(loss, solver=solver), Xt, y, sw)
    _assert_same_function(a.predict(X), b.predict(Xt), rtol=1e-6)
    # the coefficients map back exactly as the transform says
    assert_allclose(b.coef_ * SCALE, a.coef_, rtol=1e-5, atol=1e-6 * np.max(np.abs(a.coef_)))
    assert_allclose(b.objective_, a.objective_, rtol=1e-8, atol=1e-10)
    if loss == "gaussian_nll":
        _assert_same_function(
            a.predict(X, return_std=True)[1], b.predict(Xt, return_std=True)[1], 1e-6
        )


@pytest.mark.parametrize(("loss", "solver"), CASES)
def test_feature_scaling_without_intercept(loss, solver):
    """Without an intercept only a scaling is an invariance (a shift changes the model)."""
    X, y, w = _data(loss, seed=1)
    a = _fit(LinearRegressor(loss, solver=solver, fit_intercept=False), X, y, w)
    b = _fit(LinearRegressor(loss, solver=solver, fit_intercept=False), X * SCALE, y, w)
    _assert_same_function(a.predict(X), b.predict(X * SCALE), rtol=1e-6)
    assert b.intercept_ == 0.0


def _scaled_loss(loss, f):
    """The loss whose parameters in y's units are multiplied by ``f`` (y's new unit)."""
    return {
        "mse": "mse",
        "l1": "l1",
        "huber": HuberLoss(delta=1.0 * f),
        "smooth_l1": SmoothL1Loss(beta=1.0 * f),
        "gaussian_nll": GaussianNLLLoss(eps=1e-6 * f**2),
    }[loss]


@pytest.mark.parametrize("factor", [1e-8, 1e8, 1e10])
@pytest.mark.parametrize(("loss", "solver"), [case for case in CASES if case[0] != "poisson_nll"])
def test_target_units(loss, solver, factor):
    """``fit(X, f y)`` with the loss's y-unit parameters times f: coefficients times f."""
    X, y, w = _data(loss, seed=2)
    b = _fit(LinearRegressor(_scaled_loss(loss, factor), solver=solver), X, y * factor, w)
    a = _fit(LinearRegressor(_scaled_loss(loss, 1.0), solver=solver), X, y, w)
    _assert_same_function(a.predict(X) * factor, b.predict(X), rtol=1e-6)
    assert_allclose(b.coef_, a.coef_ * factor, rtol=1e-5, atol=1e-6 * factor)
    if loss in ("mse", "l1"):  # (the Huber-type densities' shape depends on delta / scale)
        assert_allclose(b.scale_, a.scale_ * factor, rtol=1e-6)
    if loss == "gaussian_nll":
        assert_allclose(b.log_var_intercept_, a.log_var_intercept_ + 2 * np.log(factor), rtol=1e-6)


@pytest.mark.parametrize("factor", [1e-8, 1e8])
def test_tiny_and_huge_features_do_not_stop_at_the_start(factor):
    X, y, _ = _data("huber", seed=3)
    a = _fit(LinearRegressor("huber"), X, y)
    b = _fit(LinearRegressor("huber"), X * factor, y)
    assert b.n_iter_ > 1 and np.all(b.coef_ != 0)
    assert_allclose(b.coef_ * factor, a.coef_, rtol=1e-6)


@pytest.mark.parametrize("solver", ["lstsq", "newton", "lbfgs"])
@pytest.mark.parametrize("unit", [1e-100, 1e-20, 1e-8, 1e8, 1e20, 1e100])
def test_penalised_least_squares_with_a_feature_in_extreme_units_is_ridge(solver, unit):
    """The penalty of a column in units of 1e-20 is 1e40 times its curvature: least squares
    scaled the normal equations by the column norms alone, the scaled system's condition
    number (1e40) sent it to an SVD whose rank cutoff, relative to that ridge, zeroed every
    other coefficient (2.0 off Ridge's; 1e-5 at units of 1e-12, silently)."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) * [1.0, 1.0, unit]
    y = X[:, :2] @ [1.0, 2.0] + 3.0 * X[:, 2] / unit + rng.normal(size=60)
    ref = Ridge(alpha=0.1 * 60 / 2).fit(X, y)
    est = LinearRegressor("mse", alpha=0.1, solver=solver, tol=1e-10).fit(X, y)
    assert_allclose(
        est.coef_ * [1.0, 1.0, unit], ref.coef_ * [1.0, 1.0, unit], rtol=1e-9, atol=1e-12
    )
    assert est.intercept_ == pytest.approx(ref.intercept_, rel=1e-9)


def test_huber_on_offset_features_reaches_the_centred_optimum():
    X, y, _ = _data("huber", seed=4)
    a = _fit(LinearRegressor("huber"), X, y)
    b = _fit(LinearRegressor("huber"), X + 1e6, y)
    assert_allclose(b.objective_, a.objective_, rtol=1e-9)
    _assert_same_function(a.predict(X), b.predict(X + 1e6), rtol=1e-6)


def test_l1_on_offset_feature_matches_quantile_regressor():
    X, y, _ = _data("l1", n=120, seed=5)
    X[:, 1] += 1e8
    est = _fit(LinearRegressor("l1"), X, y)
    ref = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(X, y)
    ours, theirs = np.mean(np.abs(y - est.predict(X))), np.mean(np.abs(y - ref.predict(X)))
    assert ours <= theirs * (1 + 1e-9)
    assert_allclose(est.predict(X), ref.predict(X), rtol=1e-6, atol=1e-6)


def _huber_reference(X, y, delta):
    """Huber optimum by scipy on the standardised problem, in units of y's spread."""
    m, s = X.mean(axis=0), X.std(axis=0)
    Z = np.column_stack([(X - m) / s, np.ones(len(y))])
    u = np.std(y)
    t, d = y / u, delta / u

    def fun(theta):
        r = Z @ theta - t
        small = np.abs(r) <= d
        value = np.where(small, 0.5 * r * r, d * (np.abs(r) - 0.5 * d))
        grad = np.where(small, r, d * np.sign(r))
        return value.mean() / d, Z.T @ grad / len(y) / d

    theta0 = np.linalg.lstsq(Z, t, rcond=None)[0]
    res = scipy.optimize.minimize(
        fun, theta0, jac=True, method="L-BFGS-B", options={"gtol": 1e-14, "ftol": 1e-15}
    )
    return Z @ res.x * u, res.fun * d * u * u


def test_huber_next_to_its_kink_without_intercept_reaches_the_l1_optimum():
    """delta = 1e-12 and a constant y: Newton's Hessian is zero, and the L-BFGS-B that takes
    over is restarted at the kink (it stopped 1.3e-4 above the optimum; found by the fuzz
    suite's deep profile)."""
    X = np.array(
        [[0.34558419, 0.82161814], [0.33043708, -1.30315723], [0.90535587, 0.44637457]]
        + [[-0.53695324, 0.5811181]]
    )
    y = np.full(4, 2.5)
    delta = 1e-12
    est = _fit(LinearRegressor(HuberLoss(delta=delta), fit_intercept=False), X, y)
    lad = _fit(LinearRegressor("l1", fit_intercept=False), X, y)
    assert est.objective_ / delta <= lad.objective_ * (1 + 1e-8)


def test_huber_tiny_delta_reaches_its_optimum():
    """delta = 1e-12: the optimum is within delta/2 of the l1 optimum's objective times delta."""
    X, y, _ = _data("huber", n=60, seed=6)
    delta = 1e-12
    est = _fit(LinearRegressor(HuberLoss(delta=delta)), X, y)
    assert est.n_iter_ > 1 and np.all(est.coef_ != 0)
    lad = _fit(LinearRegressor("l1"), X, y)
    # huber_delta(r) = delta (|r| - delta/2) outside [-delta, delta]: objective / delta is the l1
    # objective up to delta/2, and it is minimised (to the solver's tolerance) by the l1 optimum
    l1_opt = np.mean(np.abs(y - lad.predict(X)))
    assert est.objective_ / delta <= l1_opt * (1 + 1e-6)
    assert est.objective_ / delta >= l1_opt - delta
    _, ref = _huber_reference(X, y, delta)
    assert est.objective_ <= ref * (1 + 1e-6)


def test_smooth_l1_huge_beta_is_least_squares():
    """beta = 1e12: every residual is in the quadratic zone, the optimum is least squares."""
    X, y, _ = _data("smooth_l1", seed=7)
    est = _fit(LinearRegressor(SmoothL1Loss(beta=1e12)), X, y)
    ref = _fit(LinearRegressor("mse"), X, y)
    _assert_same_function(ref.predict(X), est.predict(X), rtol=1e-6)
    assert_allclose(est.objective_, ref.objective_ / 2e12, rtol=1e-8)


@pytest.mark.parametrize("loss", ["mse", "huber", "gaussian_nll", "poisson_nll"])
def test_mlp_behind_a_scaler_is_invariant_to_affine_features(loss):
    X, y, _ = _data(loss, n=60, seed=8)
    # a bounded run: the MLP's objective is not convex, so over thousands of iterations the
    # rounding-level difference of the scaled inputs (1e-12) may lead to another local optimum;
    # over the first 40 iterations both runs follow the same path
    params = {"hidden_layer_sizes": (8,), "max_iter": 40, "random_state": 0}

    def fit(Xf):
        pipe = make_pipeline(StandardScaler(), MLPRegressor(loss, **params))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return pipe.fit(Xf, y)

    Xt = X * SCALE + SHIFT
    a, b = fit(X), fit(Xt)
    # the scaler's outputs agree to rounding and the MLP starts from the same weights
    assert_allclose(b[-1].objective_, a[-1].objective_, rtol=1e-6)
    _assert_same_function(a.predict(X), b.predict(Xt), rtol=1e-5)


def test_mlp_poisson_on_uncentred_inputs_fits_or_warns():
    """Never a silent 'converged after one iteration' model predicting 0."""
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, size=(100, 2)) + 1000
    y = rng.poisson(np.exp(X[:, 0] - 1000)).astype(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MLPRegressor("poisson_nll", random_state=0, max_iter=300).fit(X, y)
    pred = est.predict(X)
    assert np.all(np.isfinite(pred))
    constant = np.mean(pred - y * np.log(np.maximum(pred, 1e-300)))
    best_constant = y.mean() - y.mean() * np.log(y.mean())
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert warned or constant <= best_constant + 1e-6


@pytest.mark.parametrize(
    "loss, p, y", [("poisson_nll", 2, [1.0, 3.0]), ("negative_binomial_nll", 1, [6.0, 0.0])]
)
def test_a_stuck_mlp_returns_the_best_constant_model(loss, p, y):
    """Two rows 1e6 from the origin: the count MLP stops worse than the best constant model,
    where it predicted 0 (a log-likelihood of -inf) or 1.8e308 with a NaN std. It warns and
    returns the best constant model: finite predictions, the constant's likelihood."""
    X = np.random.default_rng(0).normal(size=(2, p)) + 1e6
    y = np.array(y)
    with pytest.warns(ConvergenceWarning, match="the best constant model is returned"):
        est = MLPRegressor(loss, hidden_layer_sizes=(4,), max_iter=40, random_state=0).fit(X, y)
    mean, std = est.predict(X, return_std=True)
    assert_allclose(mean, y.mean(), rtol=1e-9)
    assert np.all(np.isfinite(std)) and np.isfinite(est.log_likelihood(X, y))
    assert np.all(est.coefs_[-1] == 0)


@pytest.mark.parametrize("solver", ["auto", "lbfgs", "newton"])
@pytest.mark.parametrize("delta", [1e6, 1e8])
def test_constant_target_without_intercept_reaches_the_optimum(solver, delta):
    """A constant y (whose spread is pure rounding) still gives the solver its units.

    No intercept, ridge penalty: the optimum moves away from ``coef = 0``. With ``delta`` above
    every residual, Huber is half the squared error and the optimum is the ridge solution of
    ``mean(r^2)/2 + alpha/2 |b|^2``; with ``delta`` below them it is checked against scipy.
    """
    rng = np.random.default_rng(3)
    x = rng.normal(size=7)
    X = np.column_stack([x, x])
    y = np.full(7, 2.5e6)
    alpha = 0.3
    est = _fit(
        LinearRegressor(HuberLoss(delta=delta), solver=solver, alpha=alpha, fit_intercept=False),
        X,
        y,
    )

    def objective(b):
        r = y - X @ b
        a = np.abs(r)
        loss = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
        return loss.mean() + 0.5 * alpha * b @ b

    if delta > 1e7:
        ref = np.linalg.solve(X.T @ X / 7 + alpha * np.eye(2), X.T @ y / 7)
    else:
        ref = scipy.optimize.minimize(
            objective,
            np.full(2, -1e5),
            method="Nelder-Mead",
            options={"xatol": 1e-6, "fatol": 1e-9},
        ).x
    assert objective(est.coef_) <= objective(ref) + 1e-9 * abs(objective(np.zeros(2)))
    assert np.all(est.coef_ != 0)


@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "poisson_nll"])
def test_constant_column_gets_coefficient_zero(loss):
    """A constant column (its weighted mean rounds 200 ulps off at 6000 rows) is detected as
    constant: coefficient 0 and the fit of the other columns, whatever the solver."""
    X, y, _ = _data(loss, n=6000, seed=9)
    with_constant = np.column_stack([X[:, :2], np.full(X.shape[0], 3.7), X[:, 2:]])
    est = _fit(LinearRegressor(loss), with_constant, y)
    ref = _fit(LinearRegressor(loss), X, y)
    assert abs(est.coef_[2]) <= 1e-12
    assert_allclose(np.delete(est.coef_, 2), ref.coef_, rtol=1e-7, atol=1e-10)
    assert_allclose(est.intercept_, ref.intercept_, rtol=1e-7, atol=1e-10)


def test_newton_does_not_stop_where_its_step_vanishes_at_a_large_gradient():
    """Two rows, 20 features, a tiny y and a variance floor of 1e-22: the Fisher information
    is numerically singular and the Newton step vanished at the cold start, which the
    float64-precision test of the Newton decrement took for an optimum (objective -18.13,
    coef_ = 0, no warning). The fit now continues with L-BFGS-B to the optimum (-25.33)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 20))
    X[:, -1] *= 1e-7
    y = np.array([-7.51490827e-09, -2.37781245e-08])
    for solver in ("auto", "newton", "lbfgs"):
        est = _fit(
            LinearRegressor(GaussianNLLLoss(eps=1e-22), solver=solver, alpha=0.3, alpha_var=0.0),
            X,
            y,
        )
        assert est.objective_ < -25.0, (solver, est.objective_)


@pytest.mark.filterwarnings("ignore:l1 robust='nid'.*cross or touch:UserWarning")
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize(("loss", "solver"), CASES + [("negative_binomial_nll", "auto")])
def test_rows_of_weight_zero_are_no_rows(loss, solver, sparse):
    """Rows of weight 0 with a huge y and large features change nothing: not the fit, the
    scale, the log-likelihood of the other rows, the predictive distribution, nor the
    coefficient covariance (model-based and sandwich; for the exact l1 fit also R's "nid",
    which warns alike for both fits)."""
    X, y, w = _data("poisson_nll" if loss == "negative_binomial_nll" else loss)
    rng = np.random.default_rng(5)
    k = 7
    # large positive features: under the log link exp overflows on these rows once fitted
    X0 = np.vstack([X, 1e3 * np.abs(rng.normal(size=(k, X.shape[1])))])
    y0 = np.append(y, np.full(k, 1e12))
    w0 = np.append(w, np.zeros(k))
    alpha = 0.0 if solver == "highs" else 1e-3  # (the exact l1 fit is unpenalised)
    fit_X, fit_X0 = (scipy.sparse.csr_array(X), scipy.sparse.csr_array(X0)) if sparse else (X, X0)
    plain = _fit(LinearRegressor(loss, solver=solver, alpha=alpha), fit_X, y, w)
    zero = _fit(LinearRegressor(loss, solver=solver, alpha=alpha), fit_X0, y0, w0)
    assert zero.score(X0, y0, w0) == pytest.approx(plain.score(X, y, w), rel=1e-6)
    assert zero.objective_ == pytest.approx(plain.objective_, rel=1e-8)
    _assert_same_function(plain.predict(X), zero.predict(X), 1e-6)
    if plain.scale_ is not None:
        assert zero.scale_ == pytest.approx(plain.scale_, rel=1e-6)
    assert zero.log_likelihood(X, y) == pytest.approx(plain.log_likelihood(X, y), rel=1e-6)
    _assert_same_function(
        plain.predict(X, return_std=True)[1], zero.predict(X, return_std=True)[1], 1e-6
    )
    robust = ["HC1", "nid"] if loss == "l1" and solver == "highs" else ["HC1"]
    for kind in [False, *robust]:
        expected = plain.covariance_matrix(X, y, w, robust=kind)
        got = zero.covariance_matrix(X0, y0, w0, robust=kind)
        assert_allclose(got, expected, rtol=1e-5, atol=1e-8 * np.max(np.abs(expected)))


@pytest.mark.parametrize("loss", ["mse", "l1", "poisson_nll", "gaussian_nll"])
def test_mlp_rows_of_weight_zero_are_no_rows(loss):
    """The MLP likewise: rows of weight 0 with a huge y and large features (whose Poisson loss
    overflowed at the start, and whose y set the unit of the parameters' scaling) change
    neither the fit nor its predictions."""
    X, y, w = _data("poisson_nll")
    rng = np.random.default_rng(5)
    X0 = np.vstack([X, 1e3 * np.abs(rng.normal(size=(7, X.shape[1])))])
    y0, w0 = np.append(y, np.full(7, 1e12)), np.append(w, np.zeros(7))
    params = {"hidden_layer_sizes": (5,), "random_state": 0, "max_iter": 200}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPRegressor(loss, **params).fit(X, y, sample_weight=w)
        zero = MLPRegressor(loss, **params).fit(X0, y0, sample_weight=w0)
    assert zero.objective_ == pytest.approx(plain.objective_, rel=1e-10)
    _assert_same_function(plain.predict(X), zero.predict(X), 1e-8)
