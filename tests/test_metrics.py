"""Predictive distributions, likelihoods, metrics, scorers and calibration."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import sklearn
from numpy.testing import assert_allclose
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.linear_model import BayesianRidge, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklik import LinearRegressor, MLPRegressor
from sklik import metrics as M
from sklik.losses import LOSSES, GaussianNLLLoss, HuberLoss, PoissonNLLLoss, SmoothL1Loss

LOSS_NAMES = list(LOSSES)


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _generate(loss_name, n, seed, p=3):
    """Data drawn from the model each loss assumes (a linear predictor in X)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    eta = X @ np.array([0.8, -0.5, 0.3][:p]) + 0.5
    if loss_name == "poisson_nll":
        return X, rng.poisson(np.exp(eta + 3.0)).astype(float)  # rates ~ 30-100
    if loss_name == "negative_binomial_nll":  # NB2 with alpha = 0.5
        return X, rng.negative_binomial(2.0, 2.0 / (2.0 + np.exp(eta + 2.0))).astype(float)
    if loss_name == "gaussian_nll":
        return X, eta + rng.normal(size=n) * np.exp(0.5 * X[:, 0])
    noise = {
        "mse": rng.normal(size=n),
        "l1": rng.laplace(size=n),
        "huber": stats.t.rvs(3, size=n, random_state=rng),
        "smooth_l1": stats.t.rvs(3, size=n, random_state=rng),
    }[loss_name]
    return X, eta + noise


# --- predictive distributions -------------------------------------------------------------------

EXPECTED_FAMILY = {
    "mse": "norm",
    "l1": "laplace",
    "huber": "huber",
    "smooth_l1": "huber",
    "gaussian_nll": "norm",
    "poisson_nll": "poisson",
    "negative_binomial_nll": "nbinom",
}


@pytest.mark.parametrize("Est", [LinearRegressor, MLPRegressor])
@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_predict_dist_is_a_frozen_scipy_distribution(Est, loss):
    X, y = _generate(loss, 400, 0)
    kwargs = {"hidden_layer_sizes": (8,), "random_state": 0} if Est is MLPRegressor else {}
    est = Est(loss, **kwargs).fit(X, y)
    dist = est.predict_dist(X[:7], uncertainty="noise")  # the plug-in distribution
    assert dist.dist.name == EXPECTED_FAMILY[loss]
    mean, std = est.predict(X[:7], return_std=True, uncertainty="noise")
    assert_allclose(dist.mean(), mean, rtol=1e-12)
    assert_allclose(dist.std(), std, rtol=1e-10)
    low, high = dist.interval(0.9)
    assert np.all(low < mean) and np.all(mean < high)
    discrete = hasattr(dist, "pmf")
    if discrete:  # the smallest count k with cdf(k) >= q
        k = dist.ppf(0.3)
        assert np.all(dist.cdf(k) >= 0.3) and np.all(dist.cdf(k - 1) < 0.3)
    else:
        assert_allclose(dist.cdf(dist.ppf(0.3)), 0.3, atol=1e-9)
    draws = dist.rvs(size=(2000, 7), random_state=0)
    assert draws.shape == (2000, 7)
    assert_allclose(draws.mean(axis=0), mean, atol=4 * std.max() / math.sqrt(2000) * 3)
    density = dist.pmf(y[:7]) if discrete else dist.pdf(y[:7])
    assert np.all(density > 0)


def test_predict_dist_multioutput_shape():
    X, y = _generate("mse", 200, 0)
    Y = np.column_stack([y, 2 * y])
    dist = LinearRegressor("huber").fit(X, Y).predict_dist(X[:5])
    assert dist.mean().shape == (5, 2) and dist.logpdf(Y[:5]).shape == (5, 2)


@pytest.mark.parametrize(
    "loss",
    [LOSSES[name]() for name in ("mse", "l1", "huber", "smooth_l1")]
    + [HuberLoss(delta=0.3), SmoothL1Loss(beta=2.5), SmoothL1Loss(beta=0.0)],
    ids=repr,
)
def test_negative_log_density_is_the_loss_plus_a_constant(loss):
    u = np.linspace(-6, 6, 241)
    dist = loss.predictive_distribution(np.zeros((1, u.size)), scale=1.0)
    diff = -dist.logpdf(u) - loss.raw_loss(u, np.zeros((1, u.size)))
    assert np.ptp(diff) < 1e-12 * max(1.0, abs(diff[0]))
    unit = loss.predictive_distribution(np.zeros(1), scale=1.0)  # scalar location 0
    grid = np.linspace(-60, 60, 200001)
    assert_allclose(np.trapezoid(unit.pdf(grid), grid), 1.0, rtol=1e-7)


def test_gaussian_and_poisson_log_densities_match_their_losses():
    rng = np.random.default_rng(1)
    y, mean, log_var = rng.normal(size=50), rng.normal(size=50), rng.normal(size=50)
    raw = np.stack([mean, log_var])
    g = GaussianNLLLoss(full=True)
    assert_allclose(-g.predictive_distribution(raw).logpdf(y), g.raw_loss(y, raw), rtol=1e-12)
    counts = rng.poisson(4.0, size=50).astype(float)
    p = PoissonNLLLoss()
    raw = rng.normal(size=(1, 50))
    # -log pmf = exp(raw) - y raw + log y!
    expected = p.raw_loss(counts, raw) + np.array([math.lgamma(c + 1) for c in counts])
    assert_allclose(-p.predictive_distribution(raw).logpmf(counts), expected, rtol=1e-12)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_log_likelihood_aic_bic(loss):
    X, y = _generate(loss, 300, 2)
    est = LinearRegressor(loss).fit(X, y)
    dist = est.predict_dist(X, uncertainty="noise")
    logp = dist.logpmf(y) if hasattr(dist, "pmf") else dist.logpdf(y)
    assert est.log_likelihood(X, y) == pytest.approx(logp.sum(), rel=1e-12)
    sw = np.random.default_rng(0).uniform(0, 2, size=300)
    assert est.log_likelihood(X, y, sample_weight=sw) == pytest.approx(sw @ logp, rel=1e-12)
    # 4 per head (3 coefficients and an intercept), 1 per constant head, 1 per scale
    n_constant = len(LOSSES[loss]().constant_params)
    k = 4 * LOSSES[loss].n_params - 3 * n_constant + (1 if LOSSES[loss].needs_scale else 0)
    assert est.n_parameters() == k
    assert est.aic(X, y) == pytest.approx(2 * k - 2 * logp.sum())
    assert est.bic(X, y) == pytest.approx(k * math.log(300) - 2 * logp.sum())


def test_weighted_aic_bic_equal_statsmodels_freq_weights_and_repeated_rows():
    """Frequency weights: AIC as statsmodels' GLM(freq_weights=w), BIC with n = sum(w) (its
    llf-based BIC), and both as the unweighted fit on the rows repeated w times."""
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.randhie.load_pandas()  # shipped with statsmodels: no download
    y = data.endog.to_numpy(float)[:3000]  # mdvis: doctor visits (counts)
    X = data.exog.to_numpy(float)[:3000]
    w = np.random.default_rng(0).integers(1, 5, len(y)).astype(float)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson(), freq_weights=w).fit(tol=1e-14)
    est = LinearRegressor("poisson_nll", alpha=0.0, fit_intercept=True, tol=1e-10)
    est.fit(X, y, sample_weight=w)
    assert_allclose(est.coef_, ref.params[1:], rtol=1e-8)
    k = X.shape[1] + 1
    assert est.n_parameters() == k == ref.df_model + 1
    assert est.log_likelihood(X, y, sample_weight=w) == pytest.approx(ref.llf, rel=1e-12)
    assert est.aic(X, y, sample_weight=w) == pytest.approx(ref.aic, rel=1e-12)
    bic = -2 * ref.llf + k * math.log(w.sum())
    assert est.bic(X, y, sample_weight=w) == pytest.approx(bic, rel=1e-12)
    assert est.bic(X, y, sample_weight=w) == pytest.approx(ref.bic_llf, rel=1e-12)
    reps = w.astype(int)
    Xr, yr = np.repeat(X, reps, axis=0), np.repeat(y, reps)
    repeated = LinearRegressor("poisson_nll", alpha=0.0, tol=1e-10).fit(Xr, yr)
    assert_allclose(repeated.coef_, est.coef_, rtol=1e-8)
    assert repeated.aic(Xr, yr) == pytest.approx(est.aic(X, y, sample_weight=w), rel=1e-12)
    assert repeated.bic(Xr, yr) == pytest.approx(est.bic(X, y, sample_weight=w), rel=1e-12)


def _one_hot_design(n, levels, seed=0, rare_last=False):
    """A full one-hot encoding (aliased with the intercept) and one numeric column."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, levels, n)
    if rare_last:  # the last level on one row only: a row sample misses it
        g[g == levels - 1] = 0
        g[n // 2 + 1] = levels - 1
    x = rng.normal(size=n)
    return np.column_stack([np.eye(levels)[g], x]), g, x


@pytest.mark.parametrize("sparse", [False, True])
def test_aic_bic_count_the_rank_of_an_aliased_design_as_statsmodels(sparse):
    """An intercept with a full one-hot encoding: n_parameters is the design's rank, AIC and
    BIC equal statsmodels' (which counts the rank), for Poisson and least squares (whose
    AIC counts the scale, as R's: statsmodels' OLS leaves it out)."""
    sm = pytest.importorskip("statsmodels.api")
    X, g, x = _one_hot_design(400, 4)
    rng = np.random.default_rng(1)
    y = rng.poisson(np.exp(0.3 + 0.2 * g + 0.3 * x)).astype(float)
    Xf = scipy.sparse.csr_matrix(X) if sparse else X
    rank = np.linalg.matrix_rank(np.column_stack([np.ones(len(y)), X]))
    assert rank == X.shape[1]  # one column aliased
    with pytest.warns(sm.tools.sm_exceptions.SingularMatrixWarning):
        ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(tol=1e-14)
    est = LinearRegressor("poisson_nll", tol=1e-10).fit(Xf, y)
    assert est.rank_ == rank == ref.df_model + 1
    assert est.n_parameters() == rank
    assert est.aic(Xf, y) == pytest.approx(ref.aic, rel=1e-10)
    assert est.bic(Xf, y) == pytest.approx(ref.bic_llf, rel=1e-10)
    with pytest.warns(sm.tools.sm_exceptions.SingularMatrixWarning):
        ols = sm.OLS(y, sm.add_constant(X)).fit()
    lsq = LinearRegressor("mse").fit(Xf, y)
    assert lsq.rank_ == rank and lsq.n_parameters() == rank + 1  # and the scale
    assert lsq.aic(Xf, y) == pytest.approx(ols.aic + 2, rel=1e-10)
    # both heads of the learned variance are aliased alike
    assert LinearRegressor("gaussian_nll").fit(Xf, y).n_parameters() == 2 * rank


def test_rank_of_a_level_the_row_sample_misses_comes_from_every_row():
    """A level on one row of 20 000: the sampled Gram matrix lacks it (rank deficient), the
    exact one has it. Without an intercept the one-hot design has full rank; with it, one
    column is aliased."""
    X, g, x = _one_hot_design(20_000, 5, rare_last=True)
    y = np.random.default_rng(2).poisson(np.exp(0.1 * g + 0.2 * x)).astype(float)
    full = LinearRegressor("poisson_nll", alpha=1e-3, fit_intercept=False).fit(X, y)
    assert full.rank_ == X.shape[1] and full.n_parameters() == X.shape[1]
    aliased = LinearRegressor("poisson_nll", alpha=1e-3).fit(X, y)
    assert aliased.rank_ == X.shape[1] and aliased.n_parameters() == X.shape[1]
    sample = LinearRegressor("poisson_nll", alpha=1e-3).fit(X[: X.shape[0] // 2], y[: len(y) // 2])
    assert sample.rank_ == X.shape[1] - 1  # the rare level is not in the first half: a 0 column


def test_aic_counts_the_lasso_non_zero_coefficients_as_glum():
    """An L1 penalty's exact zeros are no parameters (glum's count, the lasso's degrees of
    freedom); a ridge keeps every column."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 8))
    y = X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=300)
    lasso = LinearRegressor("mse", alpha=0.2, l1_ratio=1.0).fit(X, y)
    nonzero = int(np.count_nonzero(lasso.coef_))
    assert 0 < nonzero < 8
    assert lasso.n_parameters() == nonzero + 1 + 1  # the intercept and the scale
    assert lasso.rank_ == 9
    ridge = LinearRegressor("mse", alpha=0.2).fit(X, y)
    assert ridge.n_parameters() == 8 + 1 + 1
    # multi-target: each target's own non-zero coefficients
    Y = np.column_stack([y, X[:, 2] + rng.normal(size=300)])
    both = LinearRegressor("mse", alpha=0.2, l1_ratio=1.0).fit(X, Y)
    assert both.n_parameters() == int(np.count_nonzero(both.coef_)) + 2 + 2


def test_count_likelihood_refuses_non_integer_targets():
    """A Poisson model fitted on rates (non-integer targets) fits, but its likelihood, AIC
    and BIC of those targets are undefined: a ValueError naming the remedy."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    exposure = rng.uniform(0.5, 2.0, 200)
    rates = rng.poisson(exposure * np.exp(0.3 + X @ [0.2, -0.1, 0.3])) / exposure
    assert np.any(rates != np.round(rates))
    est = LinearRegressor("poisson_nll").fit(X, rates)
    sw = rng.uniform(0.5, 2.0, 200)
    for method in ("log_likelihood", "aic", "bic"):
        for kwargs in ({}, {"sample_weight": sw}):
            with pytest.raises(ValueError, match="non-integer values.*offset=np.log"):
                getattr(est, method)(X, rates, **kwargs)
        assert np.isfinite(getattr(est, method)(X, np.round(rates)))  # counts are scored


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_intervals_are_calibrated_when_the_model_is_right(loss):
    X, y = _generate(loss, 4000, 3)
    X_test, y_test = _generate(loss, 20000, 4)
    est = LinearRegressor(loss).fit(X, y)
    coverage = M.interval_coverage(y_test, est.predict_dist(X_test), coverage=0.9)
    if LOSSES[loss].y_domain[0] >= 0:  # the count losses' integer intervals cover >= 90%
        assert 0.88 <= coverage <= 0.94
    else:
        assert abs(coverage - 0.9) <= 0.02, coverage


def test_pit_values_are_uniform_when_the_model_is_right():
    for loss in ("gaussian_nll", "poisson_nll", "huber"):
        X, y = _generate(loss, 4000, 5)
        X_test, y_test = _generate(loss, 5000, 6)
        est = LinearRegressor(loss if loss != "huber" else "mse").fit(X, y)
        pit = M.pit_values(est, X_test, y_test, random_state=0)
        assert pit.shape == y_test.shape and np.all((0 <= pit) & (pit <= 1))
        if loss != "huber":  # t(3) noise under a Normal model is not calibrated: PIT not uniform
            assert stats.kstest(pit, "uniform").pvalue > 0.01
        else:
            assert stats.kstest(pit, "uniform").pvalue < 0.01
    table = M.coverage_table(est, X_test, y_test)
    assert list(table.columns) == ["level", "coverage", "mean_width"]
    assert np.all(np.diff(table["coverage"]) > 0) and np.all(np.diff(table["mean_width"]) > 0)


# --- metrics ----------------------------------------------------------------------------------


def test_loss_metrics_are_weighted_means_of_the_torch_loss():
    rng = np.random.default_rng(7)
    y, pred = rng.normal(size=40), rng.normal(size=40)
    var, sw = rng.uniform(0.5, 2, size=40), rng.uniform(0, 3, size=40)
    counts, rate = rng.poisson(3, size=40).astype(float), rng.uniform(0.5, 6, size=40)
    none = dict(reduction="none")
    cases = [
        (M.mean_squared_error(y, pred, sample_weight=sw), LOSSES["mse"](**none)(pred, y)),
        (M.mean_absolute_error(y, pred, sample_weight=sw), LOSSES["l1"](**none)(pred, y)),
        (
            M.mean_huber_loss(y, pred, delta=0.4, sample_weight=sw),
            HuberLoss(delta=0.4, **none)(pred, y),
        ),
        (
            M.mean_smooth_l1_loss(y, pred, beta=0.4, sample_weight=sw),
            SmoothL1Loss(beta=0.4, **none)(pred, y),
        ),
        (
            M.mean_gaussian_nll(y, pred, var, full=True, sample_weight=sw),
            GaussianNLLLoss(full=True, **none)(pred, y, var),
        ),
        (
            M.mean_poisson_nll(counts, rate, sample_weight=sw),
            PoissonNLLLoss(**none)(np.log(rate), counts),
        ),
        (
            M.mean_poisson_nll(counts, rate, log_input=False, full=True, sample_weight=sw),
            PoissonNLLLoss(log_input=False, full=True, **none)(rate, counts),
        ),
    ]
    for value, elementwise in cases:
        assert value == pytest.approx(np.average(elementwise, weights=sw), rel=1e-12)
    assert M.mean_squared_error(y, pred) == pytest.approx(np.mean((y - pred) ** 2))
    assert M.mean_squared_error(y, pred) == pytest.approx(
        sklearn.metrics.mean_squared_error(y, pred)
    )


def test_scoring_rules_by_hand():
    rng = np.random.default_rng(8)
    y = rng.normal(size=60)
    loc, scale = rng.normal(size=60), rng.uniform(0.5, 2, size=60)
    sw = rng.uniform(0, 2, size=60)
    dist = stats.norm(loc=loc, scale=scale)
    assert M.log_score(y, dist, sample_weight=sw) == pytest.approx(
        np.average(-stats.norm.logpdf(y, loc, scale), weights=sw)
    )
    z = (y - loc) / scale
    crps = scale * (
        z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi)
    )
    assert M.crps(y, dist, sample_weight=sw) == pytest.approx(np.average(crps, weights=sw))
    q = stats.norm.ppf(0.8, loc, scale)
    pinball = np.maximum(0.8 * (y - q), -0.2 * (y - q))
    assert M.pinball_loss(y, dist, quantile=0.8) == pytest.approx(pinball.mean())
    low, high = stats.norm.interval(0.9, loc, scale)
    inside = (low <= y) & (y <= high)
    score = (high - low) + 20 * (np.maximum(low - y, 0) + np.maximum(y - high, 0))
    assert M.interval_score(y, dist, sample_weight=sw) == pytest.approx(
        np.average(score, weights=sw)
    )
    assert M.interval_coverage(y, dist) == pytest.approx(inside.mean())
    with pytest.raises(ValueError, match="crps supports"):
        M.crps(y, stats.cauchy(loc=loc))
    with pytest.raises(ValueError, match="does not match"):
        M.log_score(y[:5], dist)
    with pytest.raises(ValueError, match="coverage must be in"):
        M.interval_score(y, dist, coverage=90)


# --- scorers ----------------------------------------------------------------------------------

DIST_METRICS = {
    "neg_log_score": (M.log_score, {}, -1),
    "neg_crps": (M.crps, {}, -1),
    "neg_interval_score_90": (M.interval_score, {"coverage": 0.9}, -1),
    "coverage_90": (M.interval_coverage, {"coverage": 0.9}, 1),
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_every_scorer_equals_its_metric_on_held_out_predictions(loss, weighted):
    X, y = _generate(loss, 300, 9)
    X_test, y_test = _generate(loss, 100, 10)
    sw = np.random.default_rng(0).uniform(0, 2, size=100) if weighted else None
    est = make_pipeline(StandardScaler(), LinearRegressor(loss)).fit(X, y)
    dist = est[-1].predict_dist(est[0].transform(X_test))
    mean = est.predict(X_test)
    by_hand = {
        "neg_mean_squared_error": -M.mean_squared_error(y_test, mean, sample_weight=sw),
        "neg_mean_absolute_error": -M.mean_absolute_error(y_test, mean, sample_weight=sw),
        "neg_mean_huber_loss": -M.mean_huber_loss(y_test, mean, sample_weight=sw),
        "neg_mean_smooth_l1_loss": -M.mean_smooth_l1_loss(y_test, mean, sample_weight=sw),
        "neg_mean_gaussian_nll": -M.mean_gaussian_nll(
            y_test, dist.mean(), dist.var(), sample_weight=sw
        ),
    }
    if np.all(mean > 0):
        by_hand["neg_mean_poisson_nll"] = -M.mean_poisson_nll(y_test, mean, sample_weight=sw)
    for name, (metric, kwargs, sign) in DIST_METRICS.items():
        by_hand[name] = sign * metric(y_test, dist, sample_weight=sw, **kwargs)
    for name, expected in by_hand.items():
        scorer = M.get_scorer(name)
        assert scorer(est, X_test, y_test, sample_weight=sw) == pytest.approx(expected, rel=1e-12)


def test_metrics_refuse_scalars_empty_input_and_undefined_crps():
    """A scalar or empty y_true raised IndexError or a reshape error; a collapsed scale gave
    a NaN CRPS silently; a Student-t with df = inf (the normal, which SciPy accepts) gave NaN
    with RuntimeWarnings."""
    with pytest.raises(ValueError, match="got a scalar"):
        M.mean_squared_error(1.0, 2.0)
    with pytest.raises(ValueError, match="got a scalar"):
        M.crps(0.3, stats.norm(0.0, 1.0))
    with pytest.raises(ValueError, match="no samples"):
        M.crps(np.array([]), stats.norm(np.array([]), 1.0))
    with pytest.raises(ValueError, match="CRPS is undefined at 2 target"):
        M.crps([1.0, 2.0], stats.norm([1.0, 1.0], [0.0, 0.0]))
    # (a row of weight 0 is no row)
    assert M.crps([1.0, 2.0], stats.norm([1.0, 1.0], [1.0, 0.0]), sample_weight=[1.0, 0.0]) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        value = M.crps([1.0, 1.0], stats.t([np.inf, np.inf], 0.0, 1.0))
    assert value == pytest.approx(M.crps([1.0, 1.0], stats.norm([0.0, 0.0], 1.0)), rel=1e-12)


def test_edge_values_raise_no_runtime_warning():
    """Overflowing |y - loc| in the closed-form CRPS, an invalid Huber shape's entropy and a
    scale of 0 in log_score leaked RuntimeWarnings; a negative variance was blamed on "a
    Poisson rate"."""
    from sklik import distributions as D

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert np.isinf(D.crps_normal([1e308], [-1e308], [1.0])[0])
        assert np.isinf(D.crps_laplace([1e308], [-1e308], [1.0])[0])
        assert np.isnan(D.huber(0.0).entropy())
        with pytest.raises(ValueError, match="density 0"):
            M.log_score([1.0, 2.0], stats.norm([1.0, 1.0], [0.0, 0.0]))
    with pytest.raises(ValueError, match="var has 1 negative"):
        M.mean_gaussian_nll([0.0], [1.0], [-1.0])


def test_make_loss_scorer_keeps_loss_parameters():
    X, y = _generate("huber", 300, 11)
    est = LinearRegressor(HuberLoss(delta=2.0)).fit(X, y)
    scorer = M.make_loss_scorer(HuberLoss(delta=2.0))
    assert "delta=2.0" in repr(scorer)
    assert scorer(est, X, y) == pytest.approx(-M.mean_huber_loss(y, est.predict(X), delta=2.0))
    g = M.make_loss_scorer(GaussianNLLLoss(full=True))
    dist = est.predict_dist(X)
    assert g(est, X, y) == pytest.approx(
        -M.mean_gaussian_nll(y, dist.mean(), dist.var(), full=True)
    )
    assert M.get_scorer("r2")(est, X, y) == pytest.approx(est.score(X, y))
    assert set(M.get_scorer_names()) >= {
        "neg_mean_squared_error",
        "neg_mean_absolute_error",
        "neg_mean_huber_loss",
        "neg_mean_smooth_l1_loss",
        "neg_mean_gaussian_nll",
        "neg_mean_poisson_nll",
        "neg_log_score",
        "neg_crps",
        "neg_interval_score_90",
        "coverage_90",
    }


def test_gaussian_scorers_work_on_any_return_std_estimator():
    X, y = _generate("mse", 80, 12)
    for est in (BayesianRidge(), make_pipeline(StandardScaler(), GaussianProcessRegressor())):
        est.fit(X, y)
        mean, std = est.predict(X, return_std=True)
        expected = -M.log_score(y, stats.norm(mean, std))
        assert M.get_scorer("neg_log_score")(est, X, y) == pytest.approx(expected)
        M.get_scorer("neg_mean_gaussian_nll")(est, X, y)
    with pytest.raises(ValueError, match="needs a predictive distribution"):
        M.get_scorer("neg_crps")(Ridge().fit(X, y), X, y)


def test_scorers_in_model_selection():
    X, y = _generate("gaussian_nll", 300, 13)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    pipe = make_pipeline(StandardScaler(), LinearRegressor())
    scoring = {"nll": M.get_scorer("neg_log_score"), "crps": M.get_scorer("neg_crps"), "r2": "r2"}
    res = cross_validate(pipe, df, y, cv=3, scoring=scoring)
    assert np.all(np.isfinite(res["test_nll"])) and np.all(res["test_crps"] < 0)
    scores = cross_val_score(pipe, df, y, cv=3, scoring=M.get_scorer("neg_interval_score_90"))
    assert scores.shape == (3,)
    search = RandomizedSearchCV(
        pipe,
        {"linearregressor__loss": ["mse", "gaussian_nll"], "linearregressor__alpha": [0, 0.1]},
        n_iter=3,
        cv=3,
        random_state=0,
        scoring=scoring,
        refit="nll",
    ).fit(df, y)
    assert "mean_test_crps" in search.cv_results_


def test_gridsearch_sample_weight_reaches_the_scorer():
    X, y = _generate("mse", 240, 14)
    sw = np.random.default_rng(1).uniform(0.1, 3, size=240)
    cv = KFold(3)
    search = GridSearchCV(
        LinearRegressor(), {"loss": ["mse", "l1"]}, scoring=M.get_scorer("neg_log_score"), cv=cv
    )
    search.fit(X, y, sample_weight=sw)
    expected = []
    for train, test in cv.split(X):
        est = LinearRegressor("mse").fit(X[train], y[train], sample_weight=sw[train])
        expected.append(-M.log_score(y[test], est.predict_dist(X[test]), sample_weight=sw[test]))
    assert search.cv_results_["mean_test_score"][0] == pytest.approx(np.mean(expected))


def test_scorers_with_metadata_routing():
    X, y = _generate("mse", 240, 15)
    sw = np.random.default_rng(2).uniform(0.1, 3, size=240)
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = M.get_scorer("neg_crps").set_score_request(sample_weight=True)
        est = LinearRegressor().set_fit_request(sample_weight=True)
        res = cross_validate(est, X, y, cv=KFold(3), scoring=scorer, params={"sample_weight": sw})
    expected = []
    for train, test in KFold(3).split(X):
        fitted = LinearRegressor().fit(X[train], y[train], sample_weight=sw[train])
        expected.append(-M.crps(y[test], fitted.predict_dist(X[test]), sample_weight=sw[test]))
    assert_allclose(res["test_score"], expected, rtol=1e-12)


def test_tuning_the_loss_picks_the_true_model():
    # heteroscedastic noise: the learned-variance model wins on log score
    X, y = _generate("gaussian_nll", 1500, 16)
    pipe = make_pipeline(StandardScaler(), LinearRegressor())
    grid = {"linearregressor__loss": ["mse", "l1", "huber", "gaussian_nll"]}
    search = GridSearchCV(pipe, grid, scoring=M.get_scorer("neg_log_score"), cv=3).fit(X, y)
    assert search.best_params_["linearregressor__loss"] == "gaussian_nll"
    # counts: the Poisson model wins on log score
    X, y = _generate("poisson_nll", 1500, 17)
    grid = {"linearregressor__loss": ["mse", "gaussian_nll", "poisson_nll"]}
    search = GridSearchCV(pipe, grid, scoring=M.get_scorer("neg_log_score"), cv=3).fit(X, y)
    assert search.best_params_["linearregressor__loss"] == "poisson_nll"
    # the Huber threshold through a loss instance
    X, y = _generate("huber", 600, 18)
    search = GridSearchCV(
        LinearRegressor(HuberLoss()),
        {"loss__delta": [0.5, 1.0, 2.0]},
        scoring=M.get_scorer("neg_log_score"),
        cv=3,
    ).fit(X, y)
    assert search.best_params_["loss__delta"] in (0.5, 1.0, 2.0)
    assert clone(search.best_estimator_).loss.delta == search.best_params_["loss__delta"]


@pytest.mark.parametrize("loss", ["poisson_nll", "negative_binomial_nll", "mse", "gaussian_nll"])
def test_scorers_ignore_rows_of_weight_zero(loss):
    """Rows of weight 0 whose predictions are astronomically large (features of 1e3 under a
    log link: a mean of 1e229) and whose y is 1e12 change no scorer: no error (the loss
    metrics raised on their non-finite loss), no hang (the negative binomial's interval and
    CRPS never ended), no warning."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = rng.poisson(np.exp(0.3 + X @ [0.3, -0.2, 0.1, 0.2])).astype(float)
    w = rng.uniform(0.2, 3.0, size=80)
    X0 = np.vstack([X, np.full((3, 4), 1e3)])
    y0, w0 = np.append(y, [1e12] * 3), np.append(w, [0.0] * 3)
    est = LinearRegressor(loss).fit(X, y, sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in M.get_scorer_names():
            scorer = M.get_scorer(name)
            try:
                expected = scorer(est, X, y, sample_weight=w)
            except ValueError:  # e.g. a count likelihood of an mse model's negative means
                with pytest.raises(ValueError):
                    scorer(est, X0, y0, sample_weight=w0)
                continue
            assert scorer(est, X0, y0, sample_weight=w0) == pytest.approx(expected, rel=1e-12)
        assert est.score(X0, y0, w0) == pytest.approx(est.score(X, y, w), rel=1e-12)
        ll = est.log_likelihood(X0, y0, w0)
        assert ll == pytest.approx(est.log_likelihood(X, y, w), rel=1e-12)


def test_a_bad_target_is_named_as_the_target():
    """A negative count and a target of 1e300: mean_loss (and the loss scorers) had blamed the
    prediction ("not finite at some predictions (e.g. y_pred = 1.87)")."""
    with pytest.raises(ValueError, match="requires targets in"):
        M.mean_loss([-1.0, 3.0], [0.5, 0.5], "negative_binomial_nll", var=[1.0, 1.0])
    with pytest.raises(ValueError, match="y_true = 1e\\+300"):
        M.mean_loss([1e300, 1.0], [0.5, 0.5], "mse")
