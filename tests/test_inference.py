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


def test_confidence_interval_of_the_mean_matches_get_prediction(longley):
    """uncertainty="mean": statsmodels' get_prediction(...).conf_int() for OLS (Student t on
    the residual degrees of freedom; frequency weights as repeated rows) and for the Poisson
    GLM with an exposure (the link-scale Wald interval mapped by exp)."""
    X, y = longley
    w = np.arange(1, len(y) + 1) % 3 + 1
    est = LinearRegressor("mse").fit(X, y, sample_weight=w.astype(float))
    ref = sm.OLS(np.repeat(y, w), sm.add_constant(np.repeat(X.to_numpy(), w, axis=0))).fit()
    new = X.iloc[::3] * 1.05
    prediction = ref.get_prediction(sm.add_constant(new, has_constant="add"))
    dist = est.predict_dist(new, uncertainty="mean")
    assert_allclose(np.column_stack(dist.interval(0.9)), prediction.conf_int(alpha=0.1), rtol=1e-6)
    assert_allclose(dist.median(), est.predict(new), rtol=1e-12)
    df = ref.df_resid
    _, std = est.predict(new, return_std=True, uncertainty="mean")
    assert_allclose(std, prediction.se_mean * np.sqrt(df / (df - 2)), rtol=1e-6)

    data = sm.datasets.cpunish.load_pandas()
    X = data.exog.drop(columns="INCOME")
    exposure = data.exog["INCOME"].to_numpy() / 1000.0
    y = data.endog
    est = LinearRegressor("poisson_nll", tol=1e-10).fit(X, y, offset=np.log(exposure))
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson(), exposure=exposure).fit(
        tol=1e-12
    )
    new, new_exposure = X.iloc[::2], exposure[::2] * 2.0
    prediction = ref.get_prediction(sm.add_constant(new), exposure=new_exposure)
    dist = est.predict_dist(new, offset=np.log(new_exposure), uncertainty="mean")
    assert_allclose(np.column_stack(dist.interval(0.95)), prediction.conf_int(), rtol=1e-6)
    assert_allclose(dist.median(), prediction.predicted_mean, rtol=1e-6)


@pytest.mark.parametrize(
    "loss", ["mse", "huber", "smooth_l1", "gaussian_nll", "poisson_nll", "negative_binomial_nll"]
)
def test_confidence_interval_of_the_mean_covers_the_true_mean(loss):
    """Calibration over 200 simulated fits at n = 100, p = 3 (t3 noise for the robust losses,
    a variance growing with x0 for gaussian_nll, gamma-mixed counts for the negative
    binomial): the 90% interval of the mean at 20 new rows covers the true mean 0.87-0.91 of
    the time (measured over 300 fits per loss)."""
    rng = np.random.default_rng(1)
    beta = np.array([0.4, -0.3, 0.2])
    new = rng.normal(size=(20, 3))
    covered = []
    for _ in range(200):
        X = rng.normal(size=(100, 3))
        eta = X @ beta + 1.0
        if loss in ("poisson_nll", "negative_binomial_nll"):
            mean = np.exp(eta) * (rng.gamma(2, 0.5, 100) if loss != "poisson_nll" else 1.0)
            y, truth = rng.poisson(mean).astype(float), np.exp(new @ beta + 1.0)
        else:
            noise = (
                rng.standard_t(3, 100) if loss in ("huber", "smooth_l1") else rng.normal(size=100)
            )
            y = eta + noise * (np.exp(0.3 * X[:, 0]) if loss == "gaussian_nll" else 1.0)
            truth = new @ beta + 1.0
        lower, upper = (
            LinearRegressor(loss).fit(X, y).predict_dist(new, uncertainty="mean").interval(0.9)
        )
        covered.append(np.mean((lower <= truth) & (truth <= upper)))
    assert 0.85 <= np.mean(covered) <= 0.93


def test_confidence_interval_of_a_count_mean_from_a_row_sample_is_close():
    """From 4096 rows a count loss's covariance comes from a row sample (the predictive
    distribution's): its intervals of the mean are within 5% of statsmodels' in width."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 10))
    y = rng.poisson(np.exp(0.2 * X[:, 0] + 0.5)).astype(float)
    est = LinearRegressor("poisson_nll").fit(X, y)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit()
    new = 2 * rng.normal(size=(200, 10))
    exact = ref.get_prediction(sm.add_constant(new)).conf_int(alpha=0.1)
    lower, upper = est.predict_dist(new, uncertainty="mean").interval(0.9)
    error = np.abs(np.log(upper / lower) / np.log(exact[:, 1] / exact[:, 0]) - 1)
    assert error.max() < 0.05 and np.median(error) < 0.02
    assert_allclose(np.sqrt(lower * upper), est.predict(new), rtol=1e-12)


@pytest.mark.parametrize("column", ["rare", "heavy-tailed"])
def test_a_row_sample_that_misses_a_column_is_not_used(column):
    """A category on 10 of 20000 rows (0 to 3 of them in the row sample), or an exponential
    squared: the sampled information had made the 90% interval of the mean 30 times too wide
    in log terms (18.3 against 0.60) at the category's rows, or 4.9 times at large values.
    Such a sample is not used: the intervals equal the exact covariance's."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 3))
    if column == "rare":
        X[:, 0] = 0.0
        X[rng.choice(20_000, 10, replace=False), 0] = 1.0
    else:
        X[:, 0] = rng.exponential(size=20_000) ** 2
    y = rng.poisson(np.exp(0.5 + X @ [0.5 if column == "rare" else 0.05, 0.1, -0.1])).astype(float)
    est = LinearRegressor("poisson_nll").fit(X, y)
    new = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [X[:, 0].max(), 1.0, -1.0]])
    lower, upper = est.predict_dist(new, uncertainty="mean").interval(0.9)
    A = np.c_[np.ones(3), new]
    cov = est.covariance_matrix(X, y)
    exact = 2 * 1.6448536269514722 * np.sqrt(np.einsum("ij,jk,ik->i", A, cov, A))
    assert_allclose(np.log(upper / lower), exact, rtol=1e-6)


@pytest.mark.parametrize("loss", ["l1", "huber", "poisson_nll"])
def test_the_mean_distribution_uses_the_covariance_of_covariance_matrix(loss):
    """The fitted mean's spread is the Wald one of covariance_matrix (QuantReg's for l1, RLM's
    for huber), not the predictive distribution's adjusted covariance: for l1 (sparsity
    without the interpolated rows) it had been 1.6 times as wide on stackloss."""
    data = sm.datasets.stackloss.load_pandas()
    X, y = data.exog.to_numpy(), data.endog.to_numpy()
    if loss == "poisson_nll":
        y = np.round(y)
    est = LinearRegressor(loss).fit(X, y)
    A = np.c_[np.ones(len(y)), X]
    wald = np.sqrt(np.einsum("ij,jk,ik->i", A, est.covariance_matrix(X, y), A))
    dist = est.predict_dist(X, uncertainty="mean")
    spread = dist.kwds["s"] if loss == "poisson_nll" else dist.std()
    assert_allclose(spread, wald, rtol=1e-10)


def test_the_mean_distribution_at_few_residual_degrees_of_freedom():
    """One and two residual degrees of freedom: the exact t (its df had been floored at 3,
    as the predictive distribution's: 0.37 and 0.81 of statsmodels' width). None (n = p + 1):
    a clear error, where a zero-width interval came back. A log-normal whose fourth moment
    overflows (se of the log mean above 13): an error, not a RuntimeWarning and a std of
    1e57."""
    rng = np.random.default_rng(5)
    new = rng.normal(size=(2, 3))
    for n in (5, 6):
        X = rng.normal(size=(n, 3))
        y = X.sum(axis=1) + rng.normal(size=n)
        lower, upper = (
            LinearRegressor("mse").fit(X, y).predict_dist(new, uncertainty="mean").interval(0.9)
        )
        ref = sm.OLS(y, sm.add_constant(X)).fit()
        ci = ref.get_prediction(sm.add_constant(new, has_constant="add")).conf_int(alpha=0.1)
        assert_allclose(np.column_stack([lower, upper]), ci, rtol=1e-8)
    with pytest.raises(ValueError, match="standard deviation is infinite"):
        LinearRegressor("mse").fit(X, y).predict(new, return_std=True, uncertainty="mean")
    # one residual degree of freedom whose hat matrix's trace is 4.000000000000001: it had
    # read as none (a saturated fit) and given NaN standard errors
    rng1 = np.random.default_rng(1)
    X = rng1.normal(size=(5, 3))
    y = X @ [1.0, -0.5, 0.3] + rng1.normal(size=5)
    ref = sm.OLS(y, sm.add_constant(X)).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_allclose(LinearRegressor("mse").fit(X, y).std_errors(X, y), ref.bse, rtol=1e-10)
        assert np.all(np.isfinite(LinearRegressor("huber").fit(X, y).std_errors(X, y)))
    X = rng.normal(size=(4, 3))
    saturated = LinearRegressor("mse").fit(X, X.sum(axis=1) + rng.normal(size=4))
    with pytest.raises(ValueError, match="no residual degree of freedom"):
        saturated.predict_dist(new, uncertainty="mean")
    X = rng.normal(size=(200, 3))
    counts = LinearRegressor("poisson_nll").fit(X, rng.poisson(np.exp(0.3 * X[:, 0])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="log-normal moments overflow"):
            counts.predict(np.array([[-1.0, 1.0, 1.0]]) * 300, return_std=True, uncertainty="mean")
        # a mean that underflows to 0 (log mean -760): NaN moments and a RuntimeWarning before
        with pytest.raises(ValueError, match="its median underflows"):
            counts.predict_dist(X[:2], offset=[-760.0, 0.0], uncertainty="mean")


def test_the_mean_distribution_is_only_for_a_linear_fit_and_not_a_likelihood(longley):
    from sklik import MLPRegressor

    X, y = longley
    est = LinearRegressor("mse").fit(X, y)
    with pytest.raises(ValueError, match="distribution of the fitted mean, not of y"):
        est.log_likelihood(X, y, uncertainty="mean")
    mlp = MLPRegressor(hidden_layer_sizes=(3,), max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(X.to_numpy() / X.to_numpy().std(axis=0), y / y.std())
    with pytest.raises(ValueError, match="needs a LinearRegressor"):
        mlp.predict_dist(X.to_numpy(), uncertainty="mean")


@pytest.fixture(scope="module")
def engel():
    data = sm.datasets.engel.load_pandas().data
    return data[["income"]], data["foodexp"]


@pytest.fixture(scope="module")
def stackloss():
    data = sm.datasets.stackloss.load_pandas()
    return data.exog, data.endog


def _median_regression(X, y, fit_intercept, vcov):
    A = sm.add_constant(X) if fit_intercept else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.QuantReg(y, A).fit(q=0.5, vcov=vcov, p_tol=1e-12, max_iter=5000)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dataset", ["engel", "stackloss"])
def test_quantreg_median_bse(request, dataset, fit_intercept):
    X, y = request.getfixturevalue(dataset)
    est = LinearRegressor("l1", fit_intercept=fit_intercept).fit(X, y)
    params = np.r_[est.intercept_, est.coef_] if fit_intercept else est.coef_
    iid = _median_regression(X, y, fit_intercept, "iid")
    # (statsmodels' IRLS stops about 1e-6 (relative) from the LP vertex on stackloss: its sum
    # of absolute residuals is 8e-7 above sklik's exact -39.68985507, .83188406, ...)
    assert_allclose(params, iid.params, rtol=2e-6)
    se = est.std_errors(X, y)
    assert_allclose(se, iid.bse.to_numpy(), rtol=1e-6)
    # statsmodels' default vcov="robust", (X'X)^-1 X'DX (X'X)^-1 with D_ii = q^2 / f^2 for
    # positive residuals and (1 - q)^2 / f^2 otherwise, is the iid covariance at the median
    robust = _median_regression(X, y, fit_intercept, "robust")
    assert_allclose(se, robust.bse.to_numpy(), rtol=1e-6)
    table = est.coef_table(X, y)
    assert_allclose(table["z"], robust.tvalues, rtol=2e-6)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dataset", ["engel", "stackloss"])
def test_median_regression_sandwich_is_powells_with_statsmodels_bandwidth(
    request, dataset, fit_intercept
):
    from statsmodels.regression.quantile_regression import kernels

    X, y = request.getfixturevalue(dataset)
    est = LinearRegressor("l1", fit_intercept=fit_intercept).fit(X, y)
    ref = _median_regression(X, y, fit_intercept, "iid")
    # Powell's kernel sandwich 1/4 (X'FX)^-1 X'X (X'FX)^-1, F = diag(K(e/h)/h), written out
    # with statsmodels' kernel ("epa") and bandwidth h ("hsheather"), at the exact fit's
    # residuals (statsmodels' IRLS ones are ~1e-6 off: noise in the near-zero covariances)
    A = (sm.add_constant(X) if fit_intercept else X).to_numpy()
    h = ref.bandwidth
    f = kernels["epa"]((y - est.predict(X)).to_numpy() / h) / h
    assert_allclose(f.mean(), 1.0 / ref.sparsity, rtol=1e-6)  # the f-hat of the iid covariance
    D = np.linalg.inv(A.T @ (f[:, None] * A))
    powell = 0.25 * D @ (A.T @ A) @ D
    hc0 = est.covariance_matrix(X, y, robust="HC0")
    se = np.sqrt(np.diag(powell))
    assert_allclose(np.sqrt(np.diag(hc0)), se, rtol=2e-6)
    # (the off-diagonal entries on the scale of the correlations: some are near 0)
    assert_allclose(hc0 / np.outer(se, se), powell / np.outer(se, se), rtol=0, atol=4e-6)
    assert_allclose(est.covariance_matrix(X, y, robust=True), hc0)
    n, p = A.shape
    assert_allclose(est.covariance_matrix(X, y, robust="HC1"), hc0 * n / (n - p), rtol=1e-12)


def test_median_regression_frequency_weights_are_repeated_rows(engel):
    X, y = engel
    w = np.arange(len(y)) % 3 + 1.0
    est = LinearRegressor("l1").fit(X, y, sample_weight=w)
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    Xr, yr = X.iloc[rows], y.iloc[rows]
    rep = LinearRegressor("l1").fit(Xr, yr)
    assert_allclose(est.coef_, rep.coef_, rtol=1e-8)
    for robust in [False, "HC0", "HC1"]:
        assert_allclose(
            est.covariance_matrix(X, y, w, robust=robust),
            rep.covariance_matrix(Xr, yr, robust=robust),
            rtol=1e-8,
        )


def _exact_quantreg(A, y, q):
    """statsmodels' QuantReg at q, moved onto the vertex of the linear program.

    Its IRLS stops about 1e-6 (relative) from the optimum; the optimum interpolates the rows
    whose residuals IRLS leaves near zero, so solving those equations gives it exactly.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = sm.QuantReg(y, A).fit(q=q, p_tol=1e-12, max_iter=5000).params
    resid = y - A @ b
    basis = np.abs(resid) <= 1e-5 * np.max(np.abs(y))
    exact, _, rank, _ = np.linalg.lstsq(A[basis], y[basis], rcond=None)
    assert rank == A.shape[1]
    assert_allclose(A[basis] @ exact, y[basis], rtol=0, atol=1e-9 * np.max(np.abs(y)))

    def check(c):
        r = y - A @ c
        return np.sum(r * (q - (r < 0)))

    assert check(exact) <= check(b)
    return exact


def _r_nid(A, y):
    """R quantreg's summary.rq(se="nid") at tau = 1/2, written out (quantreg 6.1, R/quantreg.R).

    ``h <- bandwidth.rq(tau, n, hs = TRUE)`` (Hall-Sheather, alpha = 0.05), halved while
    tau -/+ h leaves [0, 1]; ``dyhat <- x %*% (bhi - blo)`` from the fits at tau +/- h;
    ``f <- pmax(0, (2 * h)/(dyhat - eps))`` with ``eps <- .Machine$double.eps^(1/2)``;
    ``cov <- tau * (1 - tau) * fxxinv %*% crossprod(x) %*% fxxinv``. The fits are statsmodels'
    QuantReg (made exact), not sklik's. Returns the covariance and R's count of non-positive
    fis, ``sum(dyhat <= 0)``.
    """
    from scipy import stats

    A = np.asarray(A, dtype=float)
    y = np.asarray(y, dtype=float)
    n = A.shape[0]
    tau = 0.5
    x0 = stats.norm.ppf(tau)
    f0 = stats.norm.pdf(x0)
    h = n ** (-1 / 3) * stats.norm.ppf(1 - 0.05 / 2) ** (2 / 3)
    h *= (1.5 * f0**2 / (2 * x0**2 + 1)) ** (1 / 3)
    while tau - h < 0 or tau + h > 1:
        h /= 2
    dyhat = A @ (_exact_quantreg(A, y, tau + h) - _exact_quantreg(A, y, tau - h))
    eps = np.finfo(float).eps ** 0.5
    f = np.maximum(0.0, 2 * h / (dyhat - eps))
    fxxinv = np.linalg.inv(A.T @ (f[:, None] * A))
    return tau * (1 - tau) * fxxinv @ (A.T @ A) @ fxxinv, int(np.sum(dyhat <= 0))


def _assert_same_covariance(cov, ref, rtol):
    se = np.sqrt(np.diag(ref))
    assert_allclose(np.sqrt(np.diag(cov)), se, rtol=rtol)
    # the off-diagonal entries on the scale of the correlations (some are near 0)
    assert_allclose(cov / np.outer(se, se), ref / np.outer(se, se), rtol=0, atol=rtol)


def test_median_regression_nid_reproduces_published_r_output(engel):
    # R: summary(rq(foodexp ~ income, tau = 1:9/10, data = engel), covariance = TRUE), whose
    # se defaults to "nid" when covariance = TRUE, prints at tau = 0.5 the coefficients
    # 81.48225, 0.56018 and the standard errors 19.25066, 0.02828: the reference values of
    # easystats/parameters, tests/testthat/test-quantreg.R ("mp_rqs")
    X, y = engel
    est = LinearRegressor("l1").fit(X, y)
    table = est.coef_table(X, y, robust="nid")
    assert_allclose(table["coef"], [81.48225, 0.56018], rtol=0, atol=5e-6)
    assert_allclose(table["se"], [19.25066, 0.02828], rtol=0, atol=5e-6)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dataset", ["engel", "stackloss"])
def test_median_regression_nid_is_r_formula_on_statsmodels_fits(request, dataset, fit_intercept):
    X, y = request.getfixturevalue(dataset)
    A = (sm.add_constant(X) if fit_intercept else X).to_numpy()
    ref, nonpositive = _r_nid(A, y.to_numpy())
    assert nonpositive == 0
    est = LinearRegressor("l1", fit_intercept=fit_intercept).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no crossing, so no warning
        cov = est.covariance_matrix(X, y, robust="nid")
    _assert_same_covariance(cov, ref, rtol=1e-6)
    # it is not Powell's kernel sandwich ("HC0"), nor the model-based covariance
    for other in [False, "HC0"]:
        assert not np.allclose(est.std_errors(X, y, robust=other), np.sqrt(np.diag(ref)))


def test_median_regression_nid_with_crossing_quantile_fits():
    # the spread of y shrinks faster than linearly in x: the linear fits at 1/2 +/- h cross
    rng = np.random.default_rng(2)
    n = 80
    x = rng.uniform(0, 2, n)
    y = 1 + x + rng.standard_normal(n) * (0.05 + np.maximum(0, 1 - x) ** 2)
    ref, nonpositive = _r_nid(sm.add_constant(x), y)
    assert nonpositive == 8
    est = LinearRegressor("l1").fit(x[:, None], y)
    # R warns "8 non-positive fis" and sets those f_i to 0
    with pytest.warns(UserWarning, match="cross or touch at 8 of 80 rows") as record:
        cov = est.covariance_matrix(x[:, None], y, robust="nid")
    assert record[0].filename == __file__  # attributed to the caller
    _assert_same_covariance(cov, ref, rtol=1e-6)


def test_median_regression_nid_halves_the_bandwidth_of_tiny_samples():
    # at n = 7 the Hall-Sheather step exceeds 1/2: R's summary.rq halves it (to 0.254)
    from sklik._inference import _hall_sheather, _nid_bandwidth

    assert _hall_sheather(7, 0.5) > 0.5
    assert _nid_bandwidth(7) == _hall_sheather(7, 0.5) / 2
    rng = np.random.default_rng(1)
    x = rng.normal(size=7)
    y = x + rng.normal(size=7)
    ref, _ = _r_nid(sm.add_constant(x), y)
    est = LinearRegressor("l1").fit(x[:, None], y)
    _assert_same_covariance(est.covariance_matrix(x[:, None], y, robust="nid"), ref, rtol=1e-6)


def test_median_regression_nid_singular_and_not_l1():
    # y is exactly linear at x = 1: both fits interpolate those rows, whose f_i are all 0, and
    # the rows of x = 0 alone do not determine the slope (R stops in backsolve)
    rng = np.random.default_rng(0)
    x = np.repeat([0.0, 1.0], 30)
    y = np.where(x == 0, rng.standard_normal(60), 5.0)
    est = LinearRegressor("l1").fit(x[:, None], y)
    with pytest.warns(UserWarning, match="30 of 60"), pytest.raises(ValueError, match="singular"):
        est.covariance_matrix(x[:, None], y, robust="nid")
    mse = LinearRegressor("mse").fit(x[:, None], y)
    with pytest.raises(ValueError, match="loss='l1'"):
        mse.std_errors(x[:, None], y, robust="nid")


def test_median_regression_nid_weights_offset_and_sparse_input(engel):
    X, y = engel
    # frequency weights, zeros included, are the rows repeated
    w = np.arange(len(y)) % 4.0
    est = LinearRegressor("l1").fit(X, y, sample_weight=w)
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    Xr, yr = X.iloc[rows], y.iloc[rows]
    rep = LinearRegressor("l1").fit(Xr, yr)
    assert_allclose(
        est.covariance_matrix(X, y, w, robust="nid"),
        rep.covariance_matrix(Xr, yr, robust="nid"),
        rtol=1e-8,
    )
    ref, _ = _r_nid(sm.add_constant(Xr).to_numpy(), yr.to_numpy())
    _assert_same_covariance(rep.covariance_matrix(Xr, yr, robust="nid"), ref, rtol=1e-6)
    # the offset is subtracted from y before the quantile fits
    offset = 0.1 * X["income"].to_numpy()
    plain = LinearRegressor("l1").fit(X, y - offset)
    shifted = LinearRegressor("l1").fit(X, y, offset=offset)
    assert_allclose(
        shifted.covariance_matrix(X, y, offset=offset, robust="nid"),
        plain.covariance_matrix(X, y - offset, robust="nid"),
        rtol=1e-8,
    )
    # a sparse X (kept sparse for the linear programs), with and without intercept
    Xsp = sp.csr_array(X.to_numpy())
    for fit_intercept in [True, False]:
        dense = LinearRegressor("l1", fit_intercept=fit_intercept).fit(X.to_numpy(), y)
        sparse = LinearRegressor("l1", fit_intercept=fit_intercept).fit(Xsp, y)
        assert_allclose(
            sparse.covariance_matrix(Xsp, y, robust="nid"),
            dense.covariance_matrix(X.to_numpy(), y, robust="nid"),
            rtol=1e-8,
        )


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


def _dummy_trap(seed=0, n=400):
    """An intercept with a full one-hot encoding (rank deficient) and a continuous column."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, size=n)
    x = rng.normal(size=n)
    X = np.column_stack([g == 0, g == 1, g == 2, x]).astype(float)
    counts = rng.poisson(np.exp(0.2 + 0.5 * (g == 1) - 0.3 * (g == 2) + 0.4 * x)).astype(float)
    return X, counts, np.log1p(counts) + rng.normal(scale=0.1, size=n)


@pytest.mark.parametrize(
    "loss, family",
    [("mse", "Gaussian"), ("poisson_nll", "Poisson"), ("huber", None), ("l1", None)],
)
def test_rank_deficient_design_has_nan_standard_errors_where_not_identified(loss, family):
    """Intercept + full one-hot: the intercept's and the dummies' standard errors are NaN with
    a warning naming them (they were 4e6 from a Cholesky of a singular matrix, or small
    pseudo-inverse values with p = 1e-17); the identified coefficient's equals statsmodels'
    on the identifiable (drop-first) design, with n - rank residual degrees of freedom."""
    X, counts, continuous = _dummy_trap()
    y = counts if loss == "poisson_nll" else continuous
    est = LinearRegressor(loss, tol=1e-10).fit(X, y)
    with pytest.warns(UserWarning, match=r"rank deficient.*intercept, x0, x1, x2\. Drop"):
        table = est.coef_table(X, y)
    assert table["se"].iloc[:4].isna().all() and table["p_value"].iloc[:4].isna().all()
    assert np.isfinite(table["se"].iloc[4]) and table["se"].iloc[4] > 0
    if family is not None:
        ref = sm.GLM(y, sm.add_constant(X[:, 1:]), family=getattr(sm.families, family)())
        ref = ref.fit(tol=1e-14)
        assert table["se"].iloc[4] == pytest.approx(ref.bse[-1], rel=1e-6)
        assert est._last_df_resid[0] == pytest.approx(ref.df_resid, rel=1e-9)
    # the predictive spread at the training rows stays finite and positive
    _, std = est.predict(X[:20], return_std=True)
    assert np.all(np.isfinite(std) & (std > 0))
    # the warning names the caller's line, whichever method asked (it named sklik's own
    # from std_errors and coef_table)
    for method in (est.covariance_matrix, est.std_errors, est.coef_table):
        with pytest.warns(UserWarning, match="rank deficient") as record:
            method(X, y)
        assert record[0].filename == __file__, method.__name__


@pytest.mark.parametrize("loss", ["mse", "poisson_nll", "huber", "l1"])
@pytest.mark.parametrize("value", [0.0, 5.0])
def test_a_constant_column_next_to_the_intercept_is_not_identified(loss, value):
    """Its coefficient is aliased with the intercept: the standard error was 0 ("known
    exactly"), with no warning; now NaN with the rank-deficiency warning (R's NA), the other
    coefficients' as without the column."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    y = x + rng.normal(size=50)
    y = np.round(np.exp(y / 2)) if loss == "poisson_nll" else y
    X = np.c_[x, np.full(50, value)]
    est = LinearRegressor(loss).fit(X, y)
    with pytest.warns(UserWarning, match="rank deficient"):
        se = est.std_errors(X, y)
    ref = LinearRegressor(loss).fit(x[:, None], y).std_errors(x[:, None], y)
    assert np.isnan(se[2])
    if value:  # aliased with the intercept: intercept + 5 coef is identified, not either
        assert np.isnan(se[0])
    else:  # a column of zeros leaves the intercept alone
        assert_allclose(se[0], ref[0], rtol=1e-10)
    assert_allclose(se[1], ref[1], rtol=1e-10)


def test_full_rank_and_penalised_designs_warn_of_nothing():
    """A design of full rank (the drop-first encoding), or the dummy trap with alpha > 0 (the
    penalty identifies every coefficient), has finite standard errors and no warning."""
    X, counts, _ = _dummy_trap(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for X_fit, alpha in ((X[:, 1:], 0.0), (X, 1e-3)):
            est = LinearRegressor("poisson_nll", alpha=alpha).fit(X_fit, counts)
            assert np.all(np.isfinite(est.std_errors(X_fit, counts)))


def test_saturated_least_squares_has_nan_standard_errors():
    """As many coefficients as rows: no residual degree of freedom, so the mse dispersion and
    the standard errors are not estimable (NaN and a warning; they were 1e-15, p = 0)."""
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(4, 3)), rng.normal(size=4)
    est = LinearRegressor("mse").fit(X, y)
    with pytest.warns(UserWarning, match="no residual degree of freedom"):
        se = est.std_errors(X, y)
    assert np.isnan(se).all()


@pytest.mark.parametrize("loss", ["mse", "huber", "smooth_l1", "l1", "gaussian_nll", "poisson_nll"])
@pytest.mark.parametrize("total", [1e-200, 1.0, 1e200])
def test_weights_summing_to_almost_nothing_or_everything(loss, total):
    """Frequency weights scaled to sum to 1e-200, 1 or 1e200: the same coefficients, finite
    predictive standard deviations at least the noise's, no RuntimeWarning, and a warning
    when they count fewer observations than coefficients plus one. Huber's dispersion
    factor overflowed (an OverflowError), l1's predictive std was inf, its bandwidth 0
    (a division by zero), and a weight sum below 3 shrank the intervals below the noise
    (the correction n / max(n - p, 3))."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.normal(size=200)
    if loss == "poisson_nll":
        y = np.round(np.exp(np.clip(y / 3, -5, 5)))
    w = rng.uniform(0.5, 2.0, size=200)
    # (alpha_var="auto" is 2 p / (n - p): it depends on the weights' sum)
    params = {"loss": loss, "alpha_var": 0.0}
    ref = LinearRegressor(**params).fit(X, y, sample_weight=w)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)
        est = LinearRegressor(**params).fit(X, y, sample_weight=w * (total / w.sum()))
        std = est.predict(X[:5], return_std=True)[1]
    assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    saturated = [c for c in caught if "fewer observations than the 4" in str(c.message)]
    assert len(saturated) == (total < 5)
    assert np.all(np.isfinite(std))
    noise = est.predict_dist(X[:5], uncertainty="noise").std()
    assert np.all(std >= noise * (1 - 1e-12))


@pytest.mark.parametrize("loss", ["poisson_nll", "negative_binomial_nll"])
def test_count_predictive_far_from_the_data_is_widened_and_finite(loss):
    """The count losses' predictive dispersion (1 + alpha_c) e^q - 1 in logs, held where the
    variance and the odds stay float64: Poisson's was 0 * inf = nan beyond q = 709 and lost
    its widening (n = 1e130, a log pmf of -1e132 at a count of 3); the negative binomial's
    p underflowed to 0 (nan probabilities, which sklik compare averaged away)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = rng.poisson(np.exp(1 + 0.5 * X[:, 0])).astype(float)
    est = LinearRegressor(loss).fit(X, y)
    rows = np.repeat(X[:1], 4, axis=0)
    rows[1:, 0] = [200.0, 1500.0, 1e6]
    dist = est.predict_dist(rows)
    logp = dist.logpmf(np.full(4, 3.0))
    assert np.all(np.isfinite(logp)) and np.all(logp[1:] < -200) and logp[0] > -10
    # (rows 2 and 3: a fitted mean beyond float64, held at its largest value, whose
    # variance is inf; row 1's variance 1e219 was inf too, SciPy's n(1 - p) / p^2)
    assert np.all(np.isfinite(dist.mean())) and np.all(np.isfinite(dist.var()[:2]))
    assert np.all(np.isfinite(dist.std()))
    low, high = dist.interval(0.9)
    # the widened row: almost all its mass at 0 (dispersion 1e110), none of it Poisson's
    assert (
        low[1] == 0 == high[1]
        and est.predict_dist(rows[:2], uncertainty="noise").ppf(0.05)[1] > 1e50
    )
    assert dist.var()[1] > est.predict_dist(rows[:2], uncertainty="noise").var()[1]


def test_count_predictive_of_a_two_row_negative_binomial_is_finite():
    """Two rows, two coefficients: the df-corrected dispersion came out below 0 (a correction
    below 1) and the predictive distribution nan; it is held at 0 (Poisson's) and the
    widening of the fitted mean's variance keeps it finite (found by the deep fuzz)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 1))
    y = np.round(rng.poisson(np.exp(rng.normal(size=2))).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a fit that interpolates: its own warnings)
        est = LinearRegressor("negative_binomial_nll").fit(X, y)
    dist = est.predict_dist(X)
    assert np.all(np.isfinite(dist.std())) and np.all(np.isfinite(dist.logpmf(y)))


def test_rows_whose_mean_a_rank_deficient_fit_does_not_identify_warn():
    """An intercept with a full one-hot encoding: a row with no category, or two, lies off
    the training design's row space, and its mean is not estimable (0.10 or 1.27 by which
    category is dropped); its confidence interval came back narrow, silently. It warns, as
    R's predict.lm does; rows of the row space (one category, or a mixture) do not."""
    rng = np.random.default_rng(1)
    g, z = rng.integers(0, 3, 150), rng.normal(size=150)
    X = np.column_stack([np.eye(3)[g], z])
    est = LinearRegressor("mse").fit(X, 0.5 * g + z + rng.normal(size=150))
    inside = np.array([[1, 0, 0, 0.3], [0.5, 0.5, 0, 0]])
    outside = np.array([[0, 0, 0, 0.3], [1, 1, 0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict_dist(inside, uncertainty="mean")
    with pytest.warns(UserWarning, match="2 row.*not estimable"):
        est.predict_dist(np.vstack([inside, outside]), uncertainty="mean")
    with pytest.warns(UserWarning, match="1 row.*not estimable"):
        est.predict_dist(sp.csr_matrix(outside[:1]), uncertainty="mean")
    # the predictive distribution (predict(return_std=True), the scorers) warns too, for an
    # identity link: it had given a confident spread silently
    for loss in ("mse", "huber"):
        fitted = LinearRegressor(loss).fit(X, 0.5 * g + z + rng.normal(size=150))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fitted.predict(inside, return_std=True)
        with pytest.warns(UserWarning, match="2 row.*not estimable"):
            fitted.predict(np.vstack([inside, outside]), return_std=True)


def test_l1_kernel_sandwich_on_interpolated_rows_is_a_clear_error():
    """On 5 rows and 4 coefficients the exact l1 fit interpolates 4 rows (residuals 0), the
    kernel's bandwidth collapses and the sandwich had been NaN: scipy's "array must not
    contain infs or NaNs". The model-based covariance still works."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))
    y = X @ [1.0, -0.5, 0.3] + rng.normal(size=5)
    est = LinearRegressor("l1").fit(X, y)
    with pytest.warns(UserWarning, match="Wald standard errors"):  # (4 coefficients, 5 rows)
        assert np.all(np.isfinite(est.std_errors(X, y)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for robust in ("HC0", "HC1"):
            with pytest.raises(ValueError, match="4 of 5 residuals are 0"):
                est.std_errors(X, y, robust=robust)


@pytest.mark.parametrize("loss", ["l1", "negative_binomial_nll"])
def test_wald_intervals_known_to_under_cover_warn(loss):
    """l1's kernel-sparsity and the negative binomial's Wald standard errors are too small
    beyond 10% coefficients per row: 90% intervals of the mean covered 0.45 (l1, n = 100,
    p = 40) and 0.78 (NB2), silently. covariance_matrix and uncertainty="mean" warn there,
    not at 3 coefficients on 1000 rows, nor for the Poisson."""
    rng = np.random.default_rng(0)
    for n, p, warns in ((100, 20, True), (1000, 3, False)):
        X = rng.normal(size=(n, p))
        mu = np.exp(0.5 + X @ np.full(p, 0.05))
        y = rng.poisson(mu * rng.gamma(2.0, 0.5, size=n)).astype(float)
        for name in (loss, "poisson_nll"):
            est = LinearRegressor(name).fit(X, y)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est.std_errors(X, y)
                est.predict_dist(X[:2], uncertainty="mean")
            wald = [w for w in caught if "Wald standard errors" in str(w.message)]
            assert len(wald) == (2 if warns and name == loss else 0), name
