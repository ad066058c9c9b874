"""Sparse X: every linear loss and solver gives the dense fit; predictions and distributions
accept sparse input; a one-hot pipeline with OneHotEncoder's defaults works."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.compose import make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from sklik import LinearRegressor, MLPRegressor

CASES = [
    ("mse", "lstsq"),
    ("mse", "newton"),
    ("mse", "lbfgs"),
    ("l1", "highs"),
    ("huber", "newton"),
    ("huber", "lbfgs"),
    ("smooth_l1", "newton"),
    ("gaussian_nll", "newton"),
    ("gaussian_nll", "lbfgs"),
    ("poisson_nll", "newton"),
    ("poisson_nll", "lbfgs"),
    ("negative_binomial_nll", "lbfgs"),
    ("smooth_l1", "lbfgs"),
    ("l1", "lbfgs"),  # (alpha > 0: the certified exact optimum)
]


def _data(loss, n=300, p=15, density=0.2, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, random_state=seed, format="csr")
    X.data = X.data * 10 + 3  # non-zero entries away from 0: a shifted sparse design
    eta = 0.1 * (X @ rng.normal(size=p))
    if loss == "poisson_nll":
        y = rng.poisson(np.exp(0.3 + eta)).astype(float)
    elif loss == "negative_binomial_nll":  # overdispersed counts: a gamma-Poisson mixture
        y = rng.poisson(np.exp(0.3 + eta) * rng.gamma(2.0, 0.5, size=n)).astype(float)
    else:
        y = eta + rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("loss, solver", CASES)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_fit_equals_dense_fit(loss, solver, fmt):
    X, y = _data(loss)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    kwargs = {"solver": solver, "tol": 1e-10, "max_iter": 10_000, "alpha": 1e-3}
    if solver in ("lstsq", "highs"):
        kwargs["alpha"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dense = LinearRegressor(loss, **kwargs).fit(X.toarray(), y, sample_weight=sw)
        sparse = LinearRegressor(loss, **kwargs).fit(X.asformat(fmt), y, sample_weight=sw)
    # L-BFGS and Fisher scoring (gaussian_nll's "newton") converge linearly: equal to ~tol
    rtol = 1e-5 if solver == "lbfgs" or loss == "gaussian_nll" else 1e-8
    assert_allclose(sparse.coef_, dense.coef_, rtol=rtol, atol=rtol * 1e-2)
    assert sparse.objective_ == pytest.approx(dense.objective_, rel=1e-9)
    assert_allclose(sparse.predict(X), dense.predict(X.toarray()), rtol=rtol, atol=1e-10)
    ds, dd = sparse.predict_dist(X.asformat(fmt)), dense.predict_dist(X.toarray())
    assert_allclose(ds.mean(), dd.mean(), rtol=rtol, atol=1e-10)
    assert sparse.log_likelihood(X, y) == pytest.approx(dense.log_likelihood(X.toarray(), y))


def test_mlp_accepts_sparse_input():
    X, y = _data("mse", n=100)
    kwargs = {"hidden_layer_sizes": (3,), "random_state": 0, "max_iter": 50}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = MLPRegressor(**kwargs).fit(X.toarray(), y)
        sparse = MLPRegressor(**kwargs).fit(X, y)
    assert_allclose(sparse.predict(X), dense.predict(X.toarray()), rtol=1e-10)


def test_one_hot_pipeline_with_default_encoder():
    rng = np.random.default_rng(0)
    n = 400
    cat = rng.choice(list("abcdefgh"), size=(n, 2))
    effect = {c: i * 0.1 for i, c in enumerate("abcdefgh")}
    rate = np.exp(0.2 + np.vectorize(effect.get)(cat).sum(axis=1))
    y = rng.poisson(rate).astype(float)
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), [0, 1])), LinearRegressor("poisson_nll")
    )
    pipe.fit(cat, y)  # OneHotEncoder's default output is a sparse matrix
    assert sp.issparse(pipe[0].transform(cat))
    assert np.all(np.isfinite(pipe.predict(cat)))
    dense = make_pipeline(
        make_column_transformer((OneHotEncoder(sparse_output=False), [0, 1])),
        LinearRegressor("poisson_nll"),
    ).fit(cat, y)
    assert_allclose(pipe.predict(cat), dense.predict(cat), rtol=1e-8)


def test_sparse_design_is_not_densified_by_the_iterative_solvers(monkeypatch):
    """The shift and scale enter the products: fitting never calls toarray on the design."""
    from sklik import _design

    X, y = _data("poisson_nll", n=500, p=40, density=0.05)

    def refuse(self):
        raise AssertionError("the sparse design was densified")

    monkeypatch.setattr(_design.SparseDesign, "toarray", refuse)
    monkeypatch.setattr(_design.SparseDesign, "rows", lambda self, a, b: refuse(self))
    for solver in ("newton", "lbfgs"):
        est = LinearRegressor("poisson_nll", solver=solver).fit(X, y)
        assert np.all(np.isfinite(est.coef_))


# -- least squares on a wide sparse design: conjugate gradients, never the explicit Hessian ----


def _wide_sparse(n=1500, p=600, density=0.02, seed=3):
    """More columns than the explicit sparse path takes (499): solved by CG."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, random_state=seed, format="csr")
    X.data = X.data * 4 + 1.5  # shifted non-zeros: the implicit centring matters
    y = X @ rng.normal(size=p) + rng.normal(size=n)
    return X, y, rng.uniform(0.5, 2.0, n)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no_intercept"])
def test_sparse_least_squares_kkt(weighted, fit_intercept):
    """At CG's solution the gradient of the objective is at most tol times its cold-start size."""
    from sklik import _design, _solver

    X, y, sw = _wide_sparse()
    sw = sw if weighted else np.ones(len(y))
    c = sw / sw.sum()
    design, _, scale = _design.make_design(X, c, center=fit_intercept)
    assert _solver._SPARSE_EXPLICIT_MAX_FEATURES < X.shape[1]
    alpha, pw = 1e-2, scale**-2.0
    for tol in (1e-6, 1e-11):
        coef, intercept = _solver.least_squares(
            design, y[:, None], sw, alpha, fit_intercept, penalty_weights=pw, tol=tol
        )
        Z = design.toarray()  # the dense oracle (the test may densify)
        resid = y - Z @ coef[0] - intercept[0]
        grad = -2.0 * Z.T @ (c * resid) + alpha * pw * coef[0]
        B = y - c @ y if fit_intercept else y
        grad0 = -2.0 * Z.T @ (c * B)
        assert np.max(np.abs(grad)) <= tol * np.max(np.abs(grad0))
        if fit_intercept:  # the intercept's own optimality condition
            assert abs(c @ resid) <= 1e-12 * np.max(np.abs(y))


def test_sparse_least_squares_equals_dense_and_ridge():
    """The CG path reaches the exact optimum: the dense fit's and Ridge's coefficients."""
    from sklearn.linear_model import Ridge

    X, y, sw = _wide_sparse()
    alpha = 1e-2
    kwargs = {"alpha": alpha, "tol": 1e-12}
    sparse = LinearRegressor("mse", **kwargs).fit(X, y, sample_weight=sw)
    dense = LinearRegressor("mse", **kwargs).fit(X.toarray(), y, sample_weight=sw)
    assert_allclose(sparse.coef_, dense.coef_, rtol=1e-8, atol=1e-10)
    assert sparse.intercept_ == pytest.approx(dense.intercept_, rel=1e-9)
    assert sparse.objective_ == pytest.approx(dense.objective_, rel=1e-13)
    # sklik alpha=a is Ridge(alpha = a * sum(s) / 2) with the raw weights s
    ridge = Ridge(alpha=alpha * sw.sum() / 2, solver="cholesky").fit(X.toarray(), y, sw)
    assert_allclose(sparse.coef_, ridge.coef_, rtol=1e-8, atol=1e-10)
    # the default tol=1e-6 bounds the relative gradient: the objective is then exact to ~1e-12
    default = LinearRegressor("mse", alpha=alpha).fit(X, y, sample_weight=sw)
    assert default.objective_ == pytest.approx(dense.objective_, rel=1e-10)
    assert default.objective_ >= dense.objective_ * (1 - 1e-14)


def test_sparse_least_squares_builds_no_hessian(monkeypatch):
    """Beyond 499 columns the sparse design is neither densified nor sandwiched."""
    from sklik import _design

    X, y, _ = _wide_sparse()

    def refuse(self, *args):
        raise AssertionError("the sparse design was densified or its Hessian built")

    for name in ("toarray", "sandwich", "rows"):
        monkeypatch.setattr(_design.SparseDesign, name, refuse)
    est = LinearRegressor("mse", alpha=1e-3).fit(X, y)
    assert est.n_iter_ == 1 and np.all(np.isfinite(est.coef_))


def test_sparse_least_squares_falls_back_to_the_explicit_solve(monkeypatch):
    """CG that does not converge (here: one iteration allowed) hands over to Cholesky."""
    from sklik import _solver

    X, y, sw = _wide_sparse(seed=4)
    exact = LinearRegressor("mse", alpha=1e-2).fit(X.toarray(), y, sample_weight=sw)
    monkeypatch.setattr(_solver, "_CG_MAX_ITER", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # (601 coefficients at p/n = 0.32: the plug-in predictive's warning, not the solver's)
        warnings.filterwarnings("ignore", message=".*leaves out the coefficients' uncertainty")
        est = LinearRegressor("mse", alpha=1e-2, tol=1e-12).fit(X, y, sample_weight=sw)
    assert_allclose(est.coef_, exact.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("center", [True, False])
def test_sparse_column_moments_direct_and_scaled_paths_agree(center):
    """The unscaled moments of moderate data equal the max-scaled ones of extreme data."""
    from sklik._design import column_moments

    X, _, sw = _wide_sparse(p=30, density=0.2)
    keep = np.ones(X.shape[1])
    keep[3] = 0.0
    X = (X @ sp.diags_array(keep)).tocsr()  # column 3 empty
    X.eliminate_zeros()
    c = sw / sw.sum()
    mean, scale = column_moments(X, c, center)
    dense_mean, dense_scale = column_moments(X.toarray(), c, center)
    assert_allclose(mean, dense_mean, rtol=1e-12, atol=1e-15)
    assert_allclose(scale, dense_scale, rtol=1e-12)
    for factor in (2.0**600, 2.0**-600):  # outside the direct range: scaled by the maxima
        big_mean, big_scale = column_moments(X * factor, c, center)
        assert_allclose(big_mean, mean * factor, rtol=1e-12, atol=1e-15 * factor)
        ok = scale != 1.0  # the empty column keeps scale 1
        assert_allclose(big_scale[ok], scale[ok] * factor, rtol=1e-12)
