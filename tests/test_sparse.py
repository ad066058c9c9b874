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
]


def _data(loss, n=300, p=15, density=0.2, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, random_state=seed, format="csr")
    X.data = X.data * 10 + 3  # non-zero entries away from 0: a shifted sparse design
    eta = 0.1 * (X @ rng.normal(size=p))
    if loss == "poisson_nll":
        y = rng.poisson(np.exp(0.3 + eta)).astype(float)
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
