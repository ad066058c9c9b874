"""The offset: a fixed term on the mean head's link scale, in fit, predict and the likelihood
tools, routed as metadata through scikit-learn's meta-estimators."""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklik import LinearRegressor, MLPRegressor
from sklik.losses import LOSSES


def _counts(n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    exposure = rng.uniform(0.5, 3.0, n)
    y = rng.poisson(exposure * np.exp(0.2 + X @ [0.3, -0.2, 0.1])).astype(float)
    return X, y, exposure


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_poisson_exposure_equals_statsmodels_glm():
    sm = pytest.importorskip("statsmodels.api")
    X, y, exposure = _counts()
    est = LinearRegressor("poisson_nll", tol=1e-10).fit(X, y, offset=np.log(exposure))
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson(), exposure=exposure)
    ref = ref.fit(tol=1e-12)
    assert_allclose(est.coef_, ref.params[1:], rtol=1e-8)
    assert_allclose(est.intercept_, ref.params[0], rtol=1e-8)
    # the likelihood of the counts, not of the rates
    loglik = est.log_likelihood(X, y, offset=np.log(exposure))
    assert loglik == pytest.approx(ref.llf, rel=1e-10)
    assert est.aic(X, y, offset=np.log(exposure)) == pytest.approx(ref.aic, rel=1e-10)
    # predict with the offset gives the expected count; without it, the rate
    assert_allclose(est.predict(X, offset=np.log(exposure)), ref.fittedvalues, rtol=1e-8)
    assert_allclose(est.predict(X) * exposure, ref.fittedvalues, rtol=1e-8)


@pytest.mark.parametrize("solver", ["auto", "lbfgs"])
@pytest.mark.parametrize(
    "loss", ["poisson_nll", "negative_binomial_nll", "gaussian_nll", "huber", "mse"]
)
def test_exposures_over_decades_keep_the_default_tolerance(loss, solver):
    """The default tol is relative to the gradient at the best constant model, which includes
    the offset: with exposures over ten decades, shifting the constant of y alone by the mean
    offset started Poisson fits with a gradient 16 000 times too large, and the default fit
    stopped 1e-3 (lbfgs: 2e-2) from the coefficients of a tight one, silently."""
    rng = np.random.default_rng(0)
    n = 300
    X = rng.normal(size=(n, 3))
    offset = np.log(10.0 ** rng.uniform(-5, 5, n))
    mean = offset + X @ [0.3, -0.2, 0.1] - 1.0
    if loss in ("poisson_nll", "negative_binomial_nll"):
        y = rng.poisson(np.exp(mean)).astype(float)
    else:
        y = mean + rng.normal(size=n)
    default = LinearRegressor(loss, solver=solver).fit(X, y, offset=offset)
    tight = LinearRegressor(loss, solver=solver, tol=1e-12, max_iter=10_000)
    tight.fit(X, y, offset=offset)
    assert_allclose(default.coef_, tight.coef_, rtol=2e-5)
    assert_allclose(default.intercept_, tight.intercept_, rtol=2e-5)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_offset_shifts_the_mean_head(loss):
    """A constant offset is absorbed by the intercept; a varying one is not."""
    X, y, exposure = _counts(n=200)
    off = np.full(len(y), 0.7)
    kwargs = {"tol": 1e-10, "max_iter": 5000}
    plain = LinearRegressor(loss, **kwargs).fit(X, y)
    shifted = LinearRegressor(loss, **kwargs).fit(X, y, offset=off)
    assert_allclose(shifted.coef_, plain.coef_, rtol=1e-5, atol=1e-6)
    assert shifted.intercept_ == pytest.approx(plain.intercept_ - 0.7, abs=1e-5)
    assert_allclose(shifted.predict(X, offset=off), plain.predict(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["poisson_nll", "gaussian_nll", "negative_binomial_nll"])
def test_a_zero_offset_changes_nothing(loss):
    # without an offset, Newton's first Hessian is the design's Gram matrix times the cold
    # start's common curvature; with one, the weighted sum over the rows: the same fit
    X, y, _ = _counts(n=2000)
    X[:, 0] = 3.0 + 10.0 * X[:, 0]  # shifted and scaled: the implicit standardisation
    plain = LinearRegressor(loss, alpha=1e-3, tol=1e-10).fit(X, y)
    zero = LinearRegressor(loss, alpha=1e-3, tol=1e-10).fit(X, y, offset=np.zeros(len(y)))
    assert plain.n_iter_ == zero.n_iter_
    assert_allclose(plain.coef_, zero.coef_, rtol=1e-8, atol=1e-12)
    assert_allclose(plain.objective_, zero.objective_, rtol=1e-12)


def test_offset_reaches_the_mlp():
    X, y, exposure = _counts(n=200)
    est = MLPRegressor("poisson_nll", hidden_layer_sizes=(4,), random_state=0, max_iter=500)
    est.fit(X, y, offset=np.log(exposure))
    assert_allclose(est.predict(X, offset=np.log(exposure)), est.predict(X) * exposure, rtol=1e-12)


@pytest.mark.parametrize(
    "offset, match",
    [(np.ones(3), "offset.shape"), (np.full(500, np.nan), "NaN"), ("a", "could not convert")],
)
def test_bad_offsets_are_clear_errors(offset, match):
    X, y, _ = _counts()
    with pytest.raises(ValueError, match=match):
        LinearRegressor("poisson_nll").fit(X, y, offset=offset)


def test_offset_is_routed_through_cross_validate_and_grid_search(routing):
    X, y, exposure = _counts()
    off = np.log(exposure)
    est = LinearRegressor("poisson_nll").set_fit_request(offset=True)
    est.set_score_request(offset=True)
    scores = cross_validate(est, X, y, params={"offset": off}, cv=3)["test_score"]
    # R^2 of the expected counts: positive only when the exposure is used
    no_offset = cross_validate(LinearRegressor("poisson_nll"), X, y, cv=3)["test_score"]
    assert np.all(scores > no_offset)

    pipe = make_pipeline(
        StandardScaler(),
        LinearRegressor("poisson_nll").set_fit_request(offset=True).set_score_request(offset=True),
    )
    search = GridSearchCV(pipe, {"linearregressor__alpha": [0.0, 0.01]}, cv=3)
    search.fit(X, y, offset=off)
    direct = LinearRegressor("poisson_nll", alpha=search.best_params_["linearregressor__alpha"])
    direct.fit(StandardScaler().fit_transform(X), y, offset=off)
    assert_allclose(search.best_estimator_[-1].coef_, direct.coef_, rtol=1e-8)


def test_offset_is_routed_to_sklik_scorers(routing):
    """Exposure-aware cross-validation end to end: the offset reaches fit and the scorers."""
    from sklik.metrics import coverage_table, get_scorer, log_score

    X, y, exposure = _counts()
    off = np.log(exposure)
    est = LinearRegressor("poisson_nll").set_fit_request(offset=True)
    scoring = {
        "nll": get_scorer("neg_log_score").set_score_request(offset=True),
        "crps": get_scorer("neg_crps").set_score_request(offset=True),
    }
    result = cross_validate(est, X, y, params={"offset": off}, cv=3, scoring=scoring)
    # by hand: fit each fold with its offset, score the counts with the held-out offset
    from sklearn.model_selection import KFold

    expected = []
    for train, test in KFold(3).split(X):
        fold = LinearRegressor("poisson_nll").fit(X[train], y[train], offset=off[train])
        expected.append(-log_score(y[test], fold.predict_dist(X[test], offset=off[test])))
    assert_allclose(result["test_nll"], expected, rtol=1e-12)
    assert np.all(np.isfinite(result["test_crps"]))
    # calibrated counts: discrete central intervals cover at least their level, and the
    # randomised PIT of the counts is uniform
    from scipy import stats

    from sklik.metrics import pit_values

    fitted = LinearRegressor("poisson_nll").fit(X, y, offset=off)
    table = coverage_table(fitted, X, y, offset=off)
    assert np.all(table["coverage"] >= table["level"] - 0.03)
    u = pit_values(fitted, X, y, offset=off, random_state=0)
    assert stats.kstest(u, "uniform").pvalue > 0.01


def test_an_unset_offset_request_on_a_scorer_is_an_error(routing):
    """A scorer whose offset request is unset refuses a routed offset (scikit-learn's
    UnsetMetadataPassedError, as for sample_weight) instead of scoring the exposure model
    without the exposure (-7.56 against -2.10 per fold); ``dist`` is no metadata."""
    from sklearn.exceptions import UnsetMetadataPassedError

    from sklik.metrics import get_scorer

    X, y, exposure = _counts()
    est = LinearRegressor("poisson_nll").set_fit_request(offset=True)
    for name in ("neg_log_score", "neg_crps", "coverage_90"):
        scorer = get_scorer(name)
        requests = scorer.get_metadata_routing().score.requests
        assert "dist" not in requests and requests["offset"] is None
        with pytest.raises(UnsetMetadataPassedError, match="offset"):
            cross_validate(est, X, y, params={"offset": np.log(exposure)}, cv=3, scoring=scorer)
    ignored = get_scorer("neg_log_score").set_score_request(offset=False)
    result = cross_validate(est, X, y, params={"offset": np.log(exposure)}, cv=3, scoring=ignored)
    assert np.all(np.isfinite(result["test_score"]))


@pytest.mark.parametrize("name", ["neg_log_score", "neg_mean_poisson_nll"])
def test_a_score_request_keeps_the_others(routing, name):
    """set_score_request(offset=True) had replaced the whole request: the unset sample_weight
    request was dropped, so a routed sample_weight was silently left out of the scores
    (weighted cross-validation scored unweighted), and a second call dropped the offset."""
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.model_selection import KFold

    from sklik.metrics import get_scorer

    X, y, exposure = _counts()
    w = np.where(np.arange(y.size) % 2, 10.0, 0.1)
    params = {"offset": np.log(exposure), "sample_weight": w}
    est = LinearRegressor("poisson_nll").set_fit_request(offset=True, sample_weight=True)
    scorer = get_scorer(name).set_score_request(offset=True)
    assert scorer.get_metadata_routing().score.requests["sample_weight"] is None
    with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
        cross_validate(est, X, y, params=params, cv=KFold(3), scoring=scorer)
    scorer = scorer.set_score_request(sample_weight=True)
    scores = cross_validate(est, X, y, params=params, cv=KFold(3), scoring=scorer)["test_score"]
    by_hand = []
    for train, test in KFold(3).split(X):
        fitted = LinearRegressor("poisson_nll").fit(
            X[train], y[train], offset=params["offset"][train], sample_weight=w[train]
        )
        by_hand.append(
            scorer(fitted, X[test], y[test], offset=params["offset"][test], sample_weight=w[test])
        )
    assert_allclose(scores, by_hand, rtol=1e-12)


@pytest.mark.parametrize("wrap", ["plain", "pipeline", "search", "transformed"])
def test_offset_is_routed_to_the_loss_scorers(routing, wrap):
    """The loss scorers (predict-based) take a routed offset to the model's predict: it was
    passed to mean_loss, which failed, so every fold scored NaN and a grid search took its
    first candidate. Unset, the request refuses the offset as the other scorers do."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import FunctionTransformer

    from sklik.metrics import get_scorer, make_loss_scorer, mean_loss

    X, y, exposure = _counts()
    off = np.log(exposure)
    est = LinearRegressor("poisson_nll").set_fit_request(offset=True)
    if wrap == "pipeline":
        est = make_pipeline(StandardScaler(), est)
    elif wrap == "search":
        inner = get_scorer("neg_mean_poisson_nll").set_score_request(offset=True)
        est = GridSearchCV(est, {"alpha": [0.0, 1e-3]}, cv=2, scoring=inner)
    elif wrap == "transformed":  # (an identity transform: the same predictions)
        est = TransformedTargetRegressor(est, transformer=FunctionTransformer())
    for scorer in (get_scorer("neg_mean_poisson_nll"), make_loss_scorer("mse")):
        assert scorer.get_metadata_routing().score.requests["offset"] is None
        if wrap == "plain":
            with pytest.raises(UnsetMetadataPassedError, match="offset"):
                cross_validate(est, X, y, params={"offset": off}, cv=3, scoring=scorer)
        scorer = scorer.set_score_request(offset=True)
        result = cross_validate(est, X, y, params={"offset": off}, cv=3, scoring=scorer)
        expected = []
        for train, test in KFold(3).split(X):
            fold = LinearRegressor("poisson_nll").fit(X[train], y[train], offset=off[train])
            pred = fold.predict(X[test], offset=off[test])
            expected.append(-mean_loss(y[test], pred, scorer._kwargs["loss"]))
        if wrap != "search":  # (the search may pick alpha=1e-3)
            assert_allclose(result["test_score"], expected, rtol=1e-9)
        assert np.all(np.isfinite(result["test_score"]))


def test_non_sklik_estimators_refuse_an_offset():
    from sklearn.linear_model import BayesianRidge

    from sklik.metrics import predictive_distribution

    X, y, exposure = _counts()
    model = BayesianRidge().fit(X, y)
    with pytest.raises(ValueError, match="offset was given"):
        predictive_distribution(model, X, offset=np.log(exposure))
