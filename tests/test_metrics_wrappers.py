"""Predictive distributions through scikit-learn's meta-estimators, and metric validation."""

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import VotingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import BayesianRidge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklik import LinearRegressor
from sklik import metrics as M
from sklik.distributions import TransformedDistribution, crps_normal


@pytest.fixture(autouse=True)
def _strict_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(loss, n=150, seed=0, offset=0.0, unit=1.0, raw_units=True):
    """Features in mixed units (or standardised), a linear predictor and t(5) noise."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 3))
    X = Z * [1.0, 10.0, 0.1] + [0.0, 100.0, -5.0] if raw_units else Z
    eta = Z @ [0.5, -0.3, 0.2] + 1.0
    if loss == "poisson_nll":
        return X, rng.poisson(np.exp(eta + 1.0)).astype(float)
    return X, offset + unit * (eta + rng.standard_t(5, size=n))


def _affine_scipy(dist, a, b):
    """The same scipy family with loc -> a + b loc and scale -> |b| scale (symmetric families
    when b < 0): an independent oracle for an affinely transformed distribution."""
    name, p = M._dist_params(dist)
    assert name in {"norm", "t", "laplace", "huber"}
    p = dict(p)
    p["loc"] = a + b * np.asarray(p.get("loc", 0.0))
    p["scale"] = abs(b) * np.asarray(p.get("scale", 1.0))
    return dist.dist(**p)


# --- Pipeline and searches ---------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["mse", "huber", "poisson_nll"])
def test_pipeline_gives_the_last_steps_distribution(loss):
    X, y = _data(loss)
    pipe = make_pipeline(StandardScaler(), LinearRegressor(loss)).fit(X, y)
    dist = M.predictive_distribution(pipe, X[:20])
    ref = pipe[-1].predict_dist(pipe[0].transform(X[:20]))
    assert_allclose(dist.mean(), pipe.predict(X[:20]), rtol=1e-12)
    assert_allclose(dist.std(), ref.std(), rtol=1e-12)
    assert M.log_score(y[:20], dist) == pytest.approx(M.log_score(y[:20], ref), rel=1e-12)
    assert M.crps(y[:20], dist) == pytest.approx(M.crps(y[:20], ref), rel=1e-12)


@pytest.mark.parametrize("Search", [GridSearchCV, RandomizedSearchCV])
def test_search_gives_the_best_estimators_distribution(Search):
    X, y = _data("huber")
    grid = {"linearregressor__alpha": [0.0, 10.0]}
    kw = {"n_iter": 2, "random_state": 0} if Search is RandomizedSearchCV else {}
    search = Search(make_pipeline(StandardScaler(), LinearRegressor("huber")), grid, cv=3, **kw)
    search.fit(X, y)
    dist = M.predictive_distribution(search, X)
    ref = M.predictive_distribution(search.best_estimator_, X)
    assert_allclose(dist.mean(), ref.mean(), rtol=1e-14)
    assert_allclose(dist.std(), ref.std(), rtol=1e-14)
    table = M.coverage_table(search, X, y)
    assert list(table["level"]) == [0.5, 0.8, 0.9, 0.95]
    assert np.all(np.isfinite(table["coverage"])) and np.all(table["mean_width"] > 0)
    assert table["coverage"].iloc[2] == pytest.approx(M.interval_coverage(y, ref), abs=1e-12)
    assert np.all((M.pit_values(search, X, y) > 0) & (M.pit_values(search, X, y) < 1))


def test_search_without_refit_is_refused_by_name():
    X, y = _data("mse")
    search = GridSearchCV(LinearRegressor(), {"alpha": [0.0, 1.0]}, cv=3, refit=False).fit(X, y)
    with pytest.raises(ValueError, match="GridSearchCV has no best_estimator_.*refit=True"):
        M.predictive_distribution(search, X)


# --- TransformedTargetRegressor: affine -------------------------------------------------------


@pytest.mark.parametrize("loss", ["mse", "huber", "l1", "gaussian_nll"])
def test_standard_scaled_target_is_transformed_exactly(loss):
    X, y = _data(loss, offset=5000.0, unit=300.0, raw_units=False)
    ttr = TransformedTargetRegressor(LinearRegressor(loss), transformer=StandardScaler())
    ttr.fit(X, y)
    dist = M.predictive_distribution(ttr, X)
    assert isinstance(dist, TransformedDistribution)
    a, b = ttr.transformer_.mean_[0], ttr.transformer_.scale_[0]
    assert dist.affine == (a, b)
    base = ttr.regressor_.predict_dist(X)
    ref = _affine_scipy(base, a, b)  # the same family at the original scale
    assert_allclose(dist.mean(), ttr.predict(X), rtol=1e-12)
    assert_allclose(dist.mean(), ref.mean(), rtol=1e-12)
    assert_allclose(dist.std(), ref.std(), rtol=1e-12)
    assert_allclose(dist.var(), ref.var(), rtol=1e-12)
    assert_allclose(dist.logpdf(y), ref.logpdf(y), rtol=1e-12)
    assert_allclose(dist.pdf(y), ref.pdf(y), rtol=1e-11)
    assert_allclose(dist.cdf(y), ref.cdf(y), rtol=1e-12, atol=1e-300)
    assert_allclose(dist.sf(y), ref.sf(y), rtol=1e-12, atol=1e-300)
    assert_allclose(dist.ppf(0.1), ref.ppf(0.1), rtol=1e-12)
    assert_allclose(dist.interval(0.9), ref.interval(0.9), rtol=1e-12)
    assert M.log_score(y, dist) == pytest.approx(M.log_score(y, ref), rel=1e-12)
    assert M.crps(y, dist) == pytest.approx(M.crps(y, ref), rel=1e-12)
    assert M.interval_coverage(y, dist) == M.interval_coverage(y, ref)
    rvs = dist.rvs(random_state=0)
    assert rvs.shape == y.shape and np.all(np.isfinite(rvs))
    # the log score is that of the standardised model minus log(b) per sample
    z = ttr.transformer_.transform(y[:, None])[:, 0]
    assert M.log_score(y, dist) == pytest.approx(M.log_score(z, base) + math.log(b), rel=1e-12)


def test_decreasing_affine_function_transformer():
    X, y = _data("mse", offset=10.0)
    ttr = TransformedTargetRegressor(
        LinearRegressor("mse"), func=lambda v: 3.0 - 2.0 * v, inverse_func=lambda t: (3.0 - t) / 2.0
    ).fit(X, y)
    dist = M.predictive_distribution(ttr, X)
    assert dist.affine is not None and dist.affine[1] == pytest.approx(-0.5, rel=1e-12)
    assert not dist.increasing
    ref = _affine_scipy(ttr.regressor_.predict_dist(X), *dist.affine)  # symmetric families
    assert_allclose(dist.mean(), ttr.predict(X), rtol=1e-12)
    assert_allclose(dist.cdf(y), ref.cdf(y), rtol=1e-10, atol=1e-300)
    assert_allclose(dist.logpdf(y), ref.logpdf(y), rtol=1e-10)
    low, high = dist.interval(0.8)
    assert np.all(low < high)
    assert_allclose(low, ref.ppf(0.1), rtol=1e-10)
    assert M.crps(y, dist) == pytest.approx(M.crps(y, ref), rel=1e-10)


def test_bayesian_ridge_with_return_std_inside_a_scaled_target():
    X, y = _data("mse", offset=1e4, unit=50.0)
    ttr = TransformedTargetRegressor(BayesianRidge(), transformer=StandardScaler()).fit(X, y)
    dist = M.predictive_distribution(ttr, X)
    _, std = ttr.regressor_.predict(X, return_std=True)
    b = ttr.transformer_.scale_[0]
    assert_allclose(dist.std(), b * std, rtol=1e-12)
    assert_allclose(dist.mean(), ttr.predict(X), rtol=1e-12)


def test_poisson_under_an_affine_map_stays_on_its_lattice():
    X, y = _data("poisson_nll")
    plain = LinearRegressor("poisson_nll").fit(X, y)
    ident = TransformedTargetRegressor(
        LinearRegressor("poisson_nll"), transformer=FunctionTransformer()
    ).fit(X, y)
    dist = M.predictive_distribution(ident, X)
    assert dist.affine == (0.0, 1.0) and hasattr(dist, "pmf") and not hasattr(dist, "pdf")
    assert M.log_score(y, dist) == pytest.approx(M.log_score(y, plain.predict_dist(X)), rel=1e-9)
    assert M.crps(y, dist) == pytest.approx(M.crps(y, plain.predict_dist(X)), rel=1e-9)
    pit = M.pit(y, dist, random_state=0)
    assert np.all((pit >= 0) & (pit <= 1))
    # counts halved: the lattice {0, 1/2, 1, ...}; its pmf is the count's
    half = TransformedTargetRegressor(
        LinearRegressor("poisson_nll"), func=lambda v: 2.0 * v, inverse_func=lambda t: t / 2.0
    ).fit(X, y / 2.0)
    d2 = M.predictive_distribution(half, X)
    base = half.regressor_.predict_dist(X)
    assert_allclose(d2.pmf(y / 2.0), base.pmf(y), rtol=1e-12)
    assert_allclose(d2.cdf(y / 2.0), base.cdf(y), rtol=1e-12)
    assert_allclose(M.crps(y / 2.0, d2), 0.5 * M.crps(y, base), rtol=1e-12)
    with pytest.raises(ValueError, match="probability 0"):
        M.log_score(y / 2.0 + 0.25, d2)


# --- TransformedTargetRegressor: monotone (log/exp) -------------------------------------------


def _log_model(loss, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 2))
    y = np.exp(X @ [0.4, -0.3] + 2.0 + 0.5 * rng.normal(size=200))
    ttr = TransformedTargetRegressor(LinearRegressor(loss), func=np.log, inverse_func=np.exp)
    return X, y, ttr.fit(X, y)


@pytest.mark.parametrize("loss", ["mse", "gaussian_nll"])
def test_log_target_is_the_exponential_of_the_distribution(loss):
    X, y, ttr = _log_model(loss)
    dist = M.predictive_distribution(ttr, X)
    assert dist.affine is None and dist.increasing
    base = ttr.regressor_.predict_dist(X)
    logy = np.log(y)
    # exact maps of the log-scale distribution (Jacobian 1/y)
    assert_allclose(dist.cdf(y), base.cdf(logy), rtol=1e-13, atol=1e-300)
    assert_allclose(dist.logpdf(y), base.logpdf(logy) - logy, rtol=1e-10)
    assert_allclose(dist.ppf(0.05), np.exp(base.ppf(0.05)), rtol=1e-13)
    assert_allclose(dist.interval(0.9), np.exp(base.interval(0.9)), rtol=1e-13)
    assert_allclose(dist.median(), ttr.predict(X), rtol=1e-12)  # TTR predicts exp(mean log y)
    if M._dist_params(base)[0] == "norm":  # the log-normal: scipy's lognorm as the oracle
        _, p = M._dist_params(base)
        mu, s = np.asarray(p["loc"]), np.asarray(p["scale"])
        ln = stats.lognorm(s=s, scale=np.exp(mu))
        assert_allclose(dist.logpdf(y), ln.logpdf(y), rtol=1e-10)
        assert_allclose(dist.cdf(y), ln.cdf(y), rtol=1e-13)
        assert_allclose(dist.mean(), ln.mean(), rtol=1e-12)
        assert_allclose(dist.std(), ln.std(), rtol=1e-11)
        # CRPS of the log-normal in closed form (Baran and Lerch, 2015)
        w = (logy - mu) / s
        ref = y * (2 * stats.norm.cdf(w) - 1) - 2 * np.exp(mu + s * s / 2) * (
            stats.norm.cdf(w - s) + stats.norm.cdf(s / math.sqrt(2)) - 1
        )
        assert M.crps(y, dist) == pytest.approx(np.mean(ref), rel=1e-10)
        assert_allclose(dist.crps(y), ref, rtol=1e-9)
    assert M.log_score(y, dist) == pytest.approx(M.log_score(logy, base) + np.mean(logy))
    cov = M.interval_coverage(y, dist)
    assert cov == M.interval_coverage(logy, base)
    assert 0.8 < cov < 0.98
    assert np.all(dist.rvs(random_state=1) > 0)


def test_log_target_outside_the_support_is_explained():
    X, y, ttr = _log_model("mse")
    dist = M.predictive_distribution(ttr, X[:3])
    assert_array_equal(dist.cdf([-1.0, 0.0, 1e-320]), [0.0, 0.0, dist.cdf(1e-320)[2]])
    assert dist.sf(-1.0)[0] == 1.0
    with pytest.raises(ValueError, match="outside the distribution's support"):
        M.log_score([1.0, -2.0, 3.0], dist)


def test_decreasing_monotone_transform():
    X, y, _ = _log_model("mse")
    # t = 1/y, y = 1/t: decreasing on t > 0
    ttr = TransformedTargetRegressor(
        LinearRegressor("gaussian_nll"), func=np.reciprocal, inverse_func=np.reciprocal
    ).fit(X, 1.0 / (0.05 + 0.01 * X[:, 0] ** 2 + np.zeros(len(X))) + y * 0)
    dist = M.predictive_distribution(ttr, X[:5])
    assert dist.affine is None and not dist.increasing
    base = ttr.regressor_.predict_dist(X[:5])
    yy = 1.0 / base.mean()
    assert_allclose(dist.cdf(yy), base.sf(1.0 / yy), rtol=1e-12)
    low, high = dist.interval(0.5)
    assert_allclose(low, 1.0 / base.isf(0.25), rtol=1e-12)
    assert_allclose(high, 1.0 / base.ppf(0.25), rtol=1e-12)


# --- scorers and cross-validation -------------------------------------------------------------

WRAPPERS = {
    "scaled": lambda: TransformedTargetRegressor(
        LinearRegressor("huber"), transformer=StandardScaler()
    ),
    "log": lambda: TransformedTargetRegressor(
        LinearRegressor("mse"), func=np.log, inverse_func=np.exp
    ),
    "pipeline": lambda: make_pipeline(StandardScaler(), LinearRegressor("mse")),
}


@pytest.mark.parametrize("kind", list(WRAPPERS))
def test_distribution_scorers_in_cross_validate(kind):
    X, y, _ = _log_model("mse")
    scoring = {
        name: M.get_scorer(name)
        for name in [
            "neg_log_score",
            "neg_crps",
            "neg_interval_score_90",
            "coverage_90",
            "neg_mean_gaussian_nll",
        ]
    }
    res = cross_validate(WRAPPERS[kind](), X, y, cv=3, scoring=scoring)
    for name in scoring:
        assert np.all(np.isfinite(res[f"test_{name}"])), name
    assert np.all((res["test_coverage_90"] > 0.7) & (res["test_coverage_90"] <= 1.0))


def test_ttr_inside_pipeline_and_search():
    X, y, _ = _log_model("mse")
    pipe = make_pipeline(
        StandardScaler(),
        TransformedTargetRegressor(LinearRegressor(), func=np.log, inverse_func=np.exp),
    )
    search = GridSearchCV(pipe, {"transformedtargetregressor__regressor__alpha": [0, 1]}, cv=3)
    search.fit(X, y)
    dist = M.predictive_distribution(search, X)
    assert isinstance(dist, TransformedDistribution)
    assert_allclose(dist.median(), search.predict(X), rtol=1e-12)
    assert np.isfinite(M.get_scorer("neg_crps")(search, X, y))


# --- refusals ---------------------------------------------------------------------------------


def test_unsupported_wrappers_are_named():
    X, y = _data("mse")
    vote = VotingRegressor([("a", LinearRegressor()), ("b", LinearRegressor("l1"))]).fit(X, y)
    with pytest.raises(ValueError, match="VotingRegressor has no predict_dist"):
        M.predictive_distribution(vote, X)
    with pytest.raises(ValueError, match="VotingRegressor"):
        M.get_scorer("neg_log_score")(vote, X, y)
    # y = t^2 is not monotone where the (standardised) predictions change sign
    square = TransformedTargetRegressor(
        LinearRegressor(), func=np.sqrt, inverse_func=np.square, check_inverse=False
    ).fit(X, np.abs(y))
    with pytest.raises(ValueError, match="not strictly monotone"):
        M.predictive_distribution(square, X)
    # several targets
    multi = TransformedTargetRegressor(LinearRegressor(), transformer=StandardScaler())
    multi.fit(X, np.column_stack([y, 2 * y]))
    with pytest.raises(ValueError, match="single target"):
        M.predictive_distribution(multi, X)


def test_poisson_refuses_a_non_affine_map():
    X, y = _data("poisson_nll")
    ttr = TransformedTargetRegressor(
        LinearRegressor("poisson_nll"), func=np.sqrt, inverse_func=np.square, check_inverse=False
    ).fit(X, y)
    with pytest.raises(ValueError, match="only be transformed by an affine map"):
        M.predictive_distribution(ttr, X)


# --- metric validation: no silent non-finite value --------------------------------------------


def test_y_true_is_validated_by_name():
    X, y = _data("mse")
    dist = LinearRegressor().fit(X, y).predict_dist(X)
    metrics = [M.log_score, M.crps, M.interval_score, M.interval_coverage, M.pinball_loss, M.pit]
    for f in metrics:
        with pytest.raises(ValueError, match=r"y_true has 5 samples.*expected length 150"):
            f(y[:5], dist)
        bad = y.copy()
        bad[3] = np.nan
        with pytest.raises(ValueError, match="y_true contains 1 NaN"):
            f(bad, dist)
    with pytest.raises(ValueError, match="y_true has 5 samples"):
        M.mean_squared_error(y[:5], y)


def test_poisson_log_score_at_a_rate_target_is_explained():
    X, y = _data("poisson_nll")
    model = LinearRegressor("poisson_nll").fit(X, y / 3.0)  # rates: allowed by the loss
    dist = model.predict_dist(X)
    with pytest.raises(ValueError, match="non-integer.*offset"):
        M.log_score(y / 3.0 + 0.01, dist)
    with pytest.raises(ValueError, match="probability 0"):
        M.get_scorer("neg_log_score")(model, X, y / 3.0 + 0.01)
    assert np.isfinite(M.log_score(y, dist))  # integer counts are fine


def test_loss_metrics_refuse_non_finite_values():
    with pytest.raises(ValueError, match="PoissonNLLLoss is not finite"):
        M.mean_poisson_nll([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        M.mean_squared_error([1.0, 2.0], [np.nan, 1.0])
    assert M.mean_poisson_nll([1.0, 2.0], [0.5, 1.0]) == pytest.approx(
        np.mean([0.5 - math.log(0.5), 1.0])
    )


def test_crps_of_a_student_t_and_its_limits():
    y = np.array([0.0, 1.5, -3.0])
    dist = stats.t(4.0, loc=[0.1, 0.2, 0.3], scale=2.0)
    from sklik.distributions import crps_t

    assert M.crps(y, dist) == pytest.approx(np.mean(crps_t(y, 4.0, [0.1, 0.2, 0.3], 2.0)))
    assert M.crps(y, stats.t(1e13, loc=np.zeros(3), scale=1.0)) == pytest.approx(
        np.mean(crps_normal(y)), rel=1e-9
    )
    with pytest.raises(ValueError, match="df <= 1 is infinite"):
        M.crps(y, stats.t(1.0, loc=np.zeros(3)))
    assert np.isfinite(M.log_score(y, dist))
