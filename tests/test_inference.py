"""Coefficient covariances, standard errors and coefficient tables against statsmodels.

Each reference model is fitted on a data set statsmodels bundles (offline); agreement to 1e-6
relative where the method is the same.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from sklik import LinearRegressor
from sklik.losses import HuberLoss

sm = pytest.importorskip("statsmodels.api")


@pytest.fixture(scope="module")
def longley():
    data = sm.datasets.longley.load_pandas()
    return data.exog, data.endog


def test_ols_bse_and_heteroscedasticity_robust(longley):
    X, y = longley
    est = LinearRegressor("mse").fit(X, y)
    for cov_type in ["nonrobust", "HC0", "HC1"]:
        ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type=cov_type)
        robust = False if cov_type == "nonrobust" else cov_type
        assert_allclose(est.std_errors(X, y, robust=robust), ref.bse.to_numpy(), rtol=1e-6)
        assert_allclose(
            est.covariance_matrix(X, y, robust=robust), ref.cov_params().to_numpy(), rtol=1e-6
        )
    assert_allclose(est.std_errors(X, y, robust=True), est.std_errors(X, y, robust="HC0"))


def test_coef_table_matches_the_ols_summary(longley):
    X, y = longley
    est = LinearRegressor("mse").fit(X, y)
    ref = sm.OLS(y, sm.add_constant(X)).fit()
    table = est.coef_table(X, y)
    assert list(table.index) == ["intercept", *X.columns]
    assert list(table.columns) == ["coef", "se", "z", "p_value", "ci_lower", "ci_upper"]
    assert_allclose(table["coef"], ref.params, rtol=1e-8)
    assert_allclose(table["z"], ref.tvalues, rtol=1e-6)
    assert_allclose(table["p_value"], ref.pvalues, rtol=1e-6)
    ci = ref.conf_int(alpha=0.1).to_numpy()
    table90 = est.coef_table(X, y, alpha=0.1)
    assert_allclose(table90[["ci_lower", "ci_upper"]].to_numpy(), ci, rtol=1e-6)
    with pytest.raises(ValueError, match="alpha must be in"):
        est.coef_table(X, y, alpha=95)


def test_frequency_weights_as_statsmodels_and_as_repeated_rows(longley):
    X, y = longley
    w = np.arange(1, len(y) + 1) % 3 + 1.0
    est = LinearRegressor("mse").fit(X, y, sample_weight=w)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Gaussian(), freq_weights=w).fit()
    assert_allclose(est.std_errors(X, y, w), ref.bse.to_numpy(), rtol=1e-6)
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    Xr, yr = X.iloc[rows], y.iloc[rows]
    rep = LinearRegressor("mse").fit(Xr, yr)
    for robust in [False, "HC0", "HC1"]:
        assert_allclose(
            est.std_errors(X, y, w, robust=robust),
            rep.std_errors(Xr, yr, robust=robust),
            rtol=1e-6,
        )


@pytest.fixture(scope="module")
def randhie():
    data = sm.datasets.randhie.load_pandas()
    return data.exog, data.endog


def test_glm_poisson_bse_and_sandwich(randhie):
    X, y = randhie
    est = LinearRegressor("poisson_nll", tol=1e-10).fit(X, y)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(tol=1e-12)
    assert_allclose(est.coef_, ref.params.to_numpy()[1:], rtol=1e-6)
    assert_allclose(est.std_errors(X, y), ref.bse.to_numpy(), rtol=1e-6)
    hc0 = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(cov_type="HC0", tol=1e-12)
    assert_allclose(est.std_errors(X, y, robust="HC0"), hc0.bse.to_numpy(), rtol=1e-6)
    # statsmodels' GLM "HC1" applies no small-sample factor (it equals its HC0); sklik's HC1 is
    # OLS's: HC0 times n / (n - p)
    n, p = X.shape[0], X.shape[1] + 1
    assert_allclose(
        est.std_errors(X, y, robust="HC1"), hc0.bse.to_numpy() * np.sqrt(n / (n - p)), rtol=1e-6
    )


def test_glm_poisson_with_exposure():
    data = sm.datasets.cpunish.load_pandas()
    X = data.exog.drop(columns="INCOME")
    exposure = data.exog["INCOME"] / 1000.0  # a positive exposure, for the test
    y = data.endog
    offset = np.log(exposure)
    est = LinearRegressor("poisson_nll", tol=1e-10).fit(X, y, offset=offset)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson(), exposure=exposure).fit(
        tol=1e-12
    )
    assert_allclose(est.coef_, ref.params.to_numpy()[1:], rtol=1e-6)
    assert_allclose(est.std_errors(X, y, offset=offset), ref.bse.to_numpy(), rtol=1e-6)


def test_quantreg_median_bse():
    data = sm.datasets.engel.load_pandas().data
    X, y = data[["income"]], data["foodexp"]
    est = LinearRegressor("l1").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.QuantReg(y, sm.add_constant(X)).fit(q=0.5, p_tol=1e-12, max_iter=5000)
    assert_allclose([est.intercept_, est.coef_[0]], ref.params, rtol=1e-6)
    # statsmodels' default vcov="robust" equals "iid" at the median
    assert_allclose(est.std_errors(X, y), ref.bse.to_numpy(), rtol=1e-6)
    table = est.coef_table(X, y)
    assert_allclose(table["z"], ref.tvalues, rtol=1e-6)


def test_rlm_huber_h1_bse():
    data = sm.datasets.stackloss.load_pandas()
    X, y = data.exog, data.endog
    # RLM with a fixed scale s minimises sum huber_t(r / s): sklik's huber with delta = t s
    ref = sm.RLM(y, sm.add_constant(X), M=sm.robust.norms.HuberT()).fit(
        update_scale=False, tol=1e-14, maxiter=1000, conv="coefs"
    )
    est = LinearRegressor(HuberLoss(delta=1.345 * ref.scale), tol=1e-12).fit(X, y)
    assert_allclose(est.coef_, ref.params.to_numpy()[1:], rtol=1e-8)
    assert_allclose(est.std_errors(X, y), ref.bse.to_numpy(), rtol=1e-6)


def test_gaussian_nll_is_the_inverse_fisher_information_of_both_heads(longley):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = X @ [1.0, -1.0] + np.exp(0.5 * X[:, 0]) * rng.normal(size=300)
    est = LinearRegressor("gaussian_nll", alpha_var=0.0, tol=1e-10).fit(X, y)
    A = np.column_stack([np.ones(300), X])
    var = np.exp(est.log_var_intercept_ + X @ est.log_var_coef_)
    mean_block = np.linalg.inv(A.T @ (A / var[:, None]))
    var_block = np.linalg.inv(0.5 * A.T @ A)
    cov = est.covariance_matrix(X, y)
    assert_allclose(cov[:3, :3], mean_block, rtol=1e-8)
    assert_allclose(cov[3:, 3:], var_block, rtol=1e-8)
    assert_allclose(cov[:3, 3:], 0.0, atol=1e-14)
    table = est.coef_table(X, y)
    assert list(table.index.get_level_values("head").unique()) == ["mean", "log_var"]
    assert table.loc[("log_var", "x0"), "p_value"] < 1e-6  # the variance depends on x0
    # the sandwich: per-sample scores of both heads
    r = y - est.predict(X)
    g = np.column_stack([-(r / var)[:, None] * A, 0.5 * (1 - r**2 / var)[:, None] * A])
    B = np.zeros((6, 6))
    B[:3, :3], B[3:, 3:] = np.linalg.inv(mean_block), np.linalg.inv(var_block)
    Binv = np.linalg.inv(B)
    assert_allclose(est.covariance_matrix(X, y, robust="HC0"), Binv @ g.T @ g @ Binv, rtol=1e-7)


def test_penalised_mse_is_the_ridge_posterior_covariance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3)) * [1.0, 10.0, 0.1]
    y = X @ [1.0, 0.1, 5.0] + rng.normal(size=80)
    alpha = 0.3
    est = LinearRegressor("mse", alpha=alpha).fit(X, y)
    A = np.column_stack([np.ones(80), X])
    pen = np.diag([0.0, 1.0, 1.0, 1.0]) * 80 * alpha / 2  # Ridge(alpha * n / 2)
    B = np.linalg.inv(A.T @ A + pen)
    r = y - est.predict(X)
    df = 80 - np.trace(B @ A.T @ A)
    assert_allclose(est.covariance_matrix(X, y), r @ r / df * B, rtol=1e-8)


def test_badly_scaled_features_and_sparse_input():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    y = rng.poisson(np.exp(0.3 + X @ [0.2, -0.1, 0.3])).astype(float)
    se = LinearRegressor("poisson_nll", tol=1e-10).fit(X, y).std_errors(X, y)
    scale = np.array([1e-6, 1.0, 1e7])
    Xs = X * scale + [1e3, 0.0, -5e8]
    est = LinearRegressor("poisson_nll", tol=1e-10).fit(Xs, y)
    assert_allclose(est.std_errors(Xs, y)[1:], se[1:] / scale, rtol=1e-6)
    Xsp = sp.csr_array(np.where(rng.uniform(size=X.shape) < 0.5, 0.0, X))
    dense = LinearRegressor("poisson_nll", tol=1e-10).fit(Xsp.toarray(), y)
    sparse = LinearRegressor("poisson_nll", tol=1e-10).fit(Xsp, y)
    for robust in [False, "HC1"]:
        assert_allclose(
            sparse.covariance_matrix(Xsp, y, robust=robust),
            dense.covariance_matrix(Xsp.toarray(), y, robust=robust),
            rtol=1e-6,
        )


def test_names_targets_and_bad_arguments():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(50, 2)), columns=["age", "dose"])
    Y = np.column_stack([X @ [1.0, 2.0], X @ [-1.0, 0.5]]) + rng.normal(size=(50, 2))
    est = LinearRegressor("huber").fit(X, Y)
    assert est.covariance_matrix(X, Y).shape == (2, 3, 3)
    table = est.coef_table(X, Y)
    assert table.index.names == ["target", "term"]
    assert list(table.loc[1].index) == ["intercept", "age", "dose"]
    single = LinearRegressor("huber").fit(X, Y[:, 1])
    assert_allclose(table.loc[1, "se"], single.std_errors(X, Y[:, 1]), rtol=1e-5)
    no_intercept = LinearRegressor(fit_intercept=False).fit(X.to_numpy(), Y[:, 0])
    assert list(no_intercept.coef_table(X.to_numpy(), Y[:, 0]).index) == ["x0", "x1"]
    with pytest.raises(ValueError, match="robust must be"):
        est.covariance_matrix(X, Y, robust="HC3")
    with pytest.raises(ValueError, match="rows"):
        single.std_errors(X, Y[:10, 1])
    with pytest.raises(ValueError, match="uncertainty must be"):
        single.predict_dist(X, uncertainty="bayes")
