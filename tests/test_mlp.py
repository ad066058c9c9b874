"""MLPRegressor: early stopping, the gaussian_nll variance head, calibration on real data."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from sklik import LinearRegressor, MLPRegressor
from sklik.losses import get_loss


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_early_stopping_keeps_the_best_parameters(diabetes):
    X, y = diabetes
    est = MLPRegressor("gaussian_nll", early_stopping=True, random_state=0).fit(X, y)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ < est.max_iter
    best = int(np.argmax(scores))
    assert est.best_validation_score_ == scores[best]
    # stopped after n_iter_no_change + 1 iterations without an improvement of at least tol
    assert len(scores) - 1 - best == est.n_iter_no_change + 1
    assert all(s < est.best_validation_score_ + est.tol for s in scores[best + 1 :])
    # the kept parameters are the best ones: rescoring the validation rows reproduces the score
    from sklearn.model_selection import train_test_split

    _, X_val, _, y_val = train_test_split(X, y, test_size=0.1, random_state=0)
    mean, std = est.predict(X_val, return_std=True)
    loss = np.mean(0.5 * (np.log(std**2) + (y_val - mean) ** 2 / std**2))
    np.testing.assert_allclose(-loss, est.best_validation_score_, rtol=1e-10)


@pytest.mark.parametrize("n_iter_no_change", [1, 5])
def test_n_iter_no_change_is_respected(diabetes, n_iter_no_change):
    X, y = diabetes
    est = MLPRegressor(
        "mse", early_stopping=True, n_iter_no_change=n_iter_no_change, random_state=0
    ).fit(X, y / 100)
    scores = est.validation_scores_
    best = int(np.argmax(scores))
    assert len(scores) - 1 - best == n_iter_no_change + 1
    # no earlier stretch of more than n_iter_no_change iterations without improvement
    running, count = -np.inf, 0
    for s in scores[:-1]:
        count = count + 1 if s < running + est.tol else 0
        running = max(running, s)
        assert count <= n_iter_no_change


def test_early_stopping_off_and_auto(diabetes):
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        off = MLPRegressor("mse", early_stopping=False, max_iter=30, random_state=0).fit(X, y)
    assert off.validation_scores_ is None and off.best_validation_score_ is None
    assert off.n_iter_ == 30
    auto = MLPRegressor("mse", hidden_layer_sizes=(5,), random_state=0).fit(X[:20], y[:20])
    assert len(auto.validation_scores_) == auto.n_iter_  # 2 validation rows: on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tiny = MLPRegressor("mse", hidden_layer_sizes=(5,), random_state=0).fit(X[:10], y[:10])
    assert tiny.validation_scores_ is None  # 1 validation row: off
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor("mse", early_stopping=True).fit(X[:10], y[:10])


def test_early_stopping_with_sample_weight(diabetes):
    X, y = diabetes
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=y.shape[0])
    est = MLPRegressor("gaussian_nll", random_state=0).fit(X, y, sample_weight=sw)
    assert np.isfinite(est.best_validation_score_)
    # the validation score is the weighted mean loss on the held-out rows
    from sklearn.model_selection import train_test_split

    _, X_val, _, y_val, _, w_val = train_test_split(X, y, sw, test_size=0.1, random_state=0)
    mean, std = est.predict(X_val, return_std=True)
    loss = 0.5 * (np.log(std**2) + (y_val - mean) ** 2 / std**2)
    expected = -(w_val @ loss) / w_val.sum()
    np.testing.assert_allclose(expected, est.best_validation_score_, rtol=1e-10)
    # rows of weight 0 are no rows: dropped before the validation split, so that zero weights
    # on the rows the split would hold out give the fit without those rows
    sw0 = sw.copy()
    _, val = train_test_split(np.arange(y.shape[0]), test_size=0.1, random_state=0)
    sw0[val] = 0
    a = MLPRegressor("gaussian_nll", random_state=0).fit(X, y, sample_weight=sw0)
    keep = sw0 > 0
    b = MLPRegressor("gaussian_nll", random_state=0).fit(X[keep], y[keep], sample_weight=sw[keep])
    assert np.isfinite(a.best_validation_score_)
    assert a.best_validation_score_ == b.best_validation_score_
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_gaussian_nll_is_equivariant_in_the_units_of_y(diabetes):
    # the target is standardised internally: fits on y and on 1000 y + 5 agree exactly
    X, y = diabetes
    a = MLPRegressor("gaussian_nll", hidden_layer_sizes=(10,), random_state=0).fit(X, y)
    b = MLPRegressor("gaussian_nll", hidden_layer_sizes=(10,), random_state=0).fit(X, 1e3 * y + 5)
    ma, sa = a.predict(X, return_std=True)
    mb, sb = b.predict(X, return_std=True)
    np.testing.assert_allclose(mb, 1e3 * ma + 5, rtol=1e-8)
    np.testing.assert_allclose(sb, 1e3 * sa, rtol=1e-8)
    np.testing.assert_allclose(b.best_validation_score_, a.best_validation_score_ - np.log(1e3))


@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "smooth_l1"])
@pytest.mark.parametrize("factor", [1e-4, 1e3])
def test_losses_in_y_units_are_equivariant_in_the_units_of_y(diabetes, loss, factor):
    """y is fitted in units of its spread: with y in hundredths the fit stopped at a test
    RMSE of 0.90 against 0.34 in units of 1, silently (the start's outputs are of order 1
    whatever y's units). Fits on y and on factor * y + 5 now agree (huber's delta and
    smooth_l1's beta are in y's units)."""
    X, y = diabetes
    y = y / 100.0

    def make(f):
        params = {"delta": 0.5 * f} if loss == "huber" else {"beta": 0.5 * f}
        obj = get_loss(loss).set_params(**params) if loss in ("huber", "smooth_l1") else loss
        return MLPRegressor(obj, hidden_layer_sizes=(10,), alpha=0.0, random_state=0)

    a = make(1.0).fit(X, y)
    b = make(factor).fit(X, factor * y + 5.0)

    degree = 2.0 if loss in ("mse", "huber") else 1.0
    np.testing.assert_allclose(b.predict(X), factor * a.predict(X) + 5.0, rtol=1e-7)
    if loss in ("mse", "l1"):  # (the Huber-type densities' shape is delta / scale)
        np.testing.assert_allclose(b.scale_, factor * a.scale_, rtol=1e-7)
    assert b.objective_ == pytest.approx(factor**degree * a.objective_, rel=1e-7)
    assert b.n_iter_ == a.n_iter_
    assert b.best_validation_score_ == pytest.approx(
        factor**degree * a.best_validation_score_, rel=1e-7
    )


@pytest.mark.parametrize("loss", ["gaussian_nll", "mse"])
def test_an_identity_link_offset_is_not_part_of_the_target_scale(loss):
    """y is standardised less its offset (what the network fits): an offset of spread 500
    entered the scale, and gaussian_nll's network fitted nothing (a test RMSE of 0.8 against
    the signal, stds of 0.85 for noise of 0.3). A fit with an offset c of y + c equals the
    fit of y."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 2))
    y = np.sin(2 * X[:, 0]) + 0.3 * rng.normal(size=600)
    c = 500.0 * X[:, 1]
    params = {"loss": loss, "hidden_layer_sizes": (10,), "random_state": 0}
    ref = MLPRegressor(**params).fit(X, y)
    est = MLPRegressor(**params).fit(X, y + c, offset=c)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        est.predict(X, return_std=True)[1], ref.predict(X, return_std=True)[1], rtol=1e-6
    )


@pytest.mark.parametrize("factor", [1.0, 100.0])
def test_huber_and_smooth_l1_at_their_defaults_have_one_scale(factor):
    """huber(delta=1) and smooth_l1(beta=1) are one loss: the same fit and the same residual
    density. The MLP's scale_ came from the fitted target's loss (delta / s), and huber's
    stayed 0.46 for y, 10 y and 100 y (smooth_l1's: 1.0, 10.4, 95.5): its 90% intervals
    covered 1.5% at 100 y."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = factor * (X[:, 0] + 0.5 * rng.normal(size=300))
    params = {"hidden_layer_sizes": (10,), "alpha": 0.01, "random_state": 0}
    a = MLPRegressor("huber", **params).fit(X, y)
    b = MLPRegressor("smooth_l1", **params).fit(X, y)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-8, atol=1e-10)
    assert a.scale_ == pytest.approx(b.scale_, rel=1e-8)
    assert a.scale_ == pytest.approx(np.std(y - a.predict(X)), rel=0.5)


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_objective_is_the_documented_one_when_y_is_rescaled(loss):
    """The fitted target is y in units of its spread; the penalty's factors per layer keep
    the objective the documented one: objective_ equals the mean loss plus alpha/2 times
    the squared weights, at the returned parameters, in the user's units."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = 1e-3 * (np.sin(X[:, 0]) + 0.1 * rng.normal(size=200)) + 7e-3
    est = MLPRegressor(
        loss, hidden_layer_sizes=(6,), alpha=0.3, early_stopping=False, max_iter=60, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    data = float(np.mean(get_loss(loss).raw_loss(y, est.predict(X)[np.newaxis])))
    penalty = 0.5 * 0.3 * sum(float(np.sum(W**2)) for W in est.coefs_)
    assert est.objective_ == pytest.approx(data + penalty, rel=1e-9)


def test_variance_head_stays_at_the_marginal_variance_on_noise():
    # y independent of X: the log-variance head starts at the marginal variance (zero output
    # weights) and the defaults keep it there instead of fitting the noise
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 5)), 3.0 * rng.normal(size=300) + 10.0
    est = MLPRegressor("gaussian_nll", random_state=0).fit(X, y)
    _, std = est.predict(rng.normal(size=(1000, 5)), return_std=True)
    low, median, high = np.percentile(std, [1, 50, 99])
    assert 0.9 * 3.0 < median < 1.1 * 3.0 and 0.6 * 3.0 < low and high < 1.5 * 3.0
    # without the safeguards (no early stopping, a tiny penalty) the training residuals
    # shrink and with them the learned variance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        loose = MLPRegressor("gaussian_nll", alpha=1e-6, early_stopping=False, random_state=0)
        loose.fit(X, y)
    assert np.median(loose.predict(X, return_std=True)[1]) < 0.6 * 3.0


def test_variance_does_not_collapse_at_the_defaults(diabetes):
    # the README's snippet: a flexible mean could drive the training residuals (and the learned
    # variance) to zero; early stopping and the penalty keep the held-out intervals honest
    X, y = diabetes
    ll, cov = _cv(lambda: MLPRegressor("gaussian_nll", random_state=0), X, y)
    assert ll > -5.6 and cov >= 0.85


def _cv(make, X, y):
    ll, cov = [], []
    for train, test in KFold(5, shuffle=True, random_state=0).split(X):
        scaler = StandardScaler().fit(X[train])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = make().fit(scaler.transform(X[train]), y[train])
        dist = est.predict_dist(scaler.transform(X[test]))
        ll.append(np.mean(dist.logpdf(y[test])))
        low, high = dist.interval(0.9)
        cov.append(np.mean((y[test] >= low) & (y[test] <= high)))
    return float(np.mean(ll)), float(np.mean(cov))


def _real_data():
    sm = pytest.importorskip("statsmodels.api")
    engel = sm.datasets.engel.load_pandas().data
    grunfeld = sm.datasets.grunfeld.load_pandas().data
    X, y = load_diabetes(return_X_y=True)
    star98 = sm.datasets.star98.load_pandas()
    share = star98.endog["NABOVE"] / (star98.endog["NABOVE"] + star98.endog["NBELOW"])
    cancer = sm.datasets.cancer.load_pandas()
    anes96 = sm.datasets.anes96.load_pandas().data
    anes96_columns = ["TVnews", "selfLR", "ClinLR", "DoleLR", "age", "educ", "income", "logpopul"]
    fair = sm.datasets.fair.load_pandas()
    return {
        "diabetes": (X, y),
        "engel": (engel[["income"]].to_numpy(float), engel["foodexp"].to_numpy(float)),
        "grunfeld": (
            grunfeld[["value", "capital", "year"]].to_numpy(float),
            grunfeld["invest"].to_numpy(float),
        ),
        # (rows up to 30 standard deviations out: the variance floor of the MLP matters)
        "star98": (star98.exog.to_numpy(float), share.to_numpy(float)),
        "cancer": (cancer.exog.to_numpy(float), cancer.endog.to_numpy(float)),
        "anes96": (anes96[anes96_columns].to_numpy(float), anes96["PID"].to_numpy(float)),
        "fair": (fair.exog.to_numpy(float), fair.endog.to_numpy(float)),
    }


def test_the_variance_is_floored_at_the_training_minimum():
    """Far from the training inputs the variance head extrapolates its log variance
    linearly: without a floor a row 30 standard deviations out got 1e-3 of y's std."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = X[:, 0] + rng.normal(size=300) * np.exp(0.5 * X[:, 1])
    est = MLPRegressor("gaussian_nll", random_state=0).fit(X, y)
    train_std = est.predict(X, return_std=True)[1]
    far = np.array([[0.0, -50.0], [0.0, 50.0], [40.0, -40.0]])
    far_std = est.predict(far, return_std=True)[1]
    assert np.all(far_std >= train_std.min() * (1 - 1e-12))
    assert np.isclose(far_std[0], train_std.min())  # (the head extrapolates below it there)
    np.testing.assert_allclose(est.predict_dist(far).std(), far_std)


@pytest.mark.parametrize(
    "name", ["diabetes", "engel", "grunfeld", "star98", "cancer", "anes96", "fair"]
)
def test_calibrated_on_real_data_at_the_defaults(name):
    # issue 10: 5-fold CV, standardised inputs, raw y: the default gaussian_nll MLP is at most
    # 0.3 nats per sample below the linear gaussian_nll and covers at least 0.85 at 90%
    X, y = _real_data()[name]
    mlp_ll, mlp_cov = _cv(lambda: MLPRegressor("gaussian_nll", random_state=0), X, y)
    lin_ll, _ = _cv(lambda: LinearRegressor("gaussian_nll"), X, y)
    assert mlp_ll >= lin_ll - 0.3
    assert mlp_cov >= 0.85


def test_residual_scale_comes_from_the_validation_rows(monkeypatch):
    """With early stopping the residual scale is the validation residuals' (a network close
    to interpolating its training rows had a training scale of 0.0087 against a held-out
    RMSE of 1.48, and 90% intervals that covered no new target); without, the training rows'."""
    import sklik._estimators as E

    splits = []
    split = E.train_test_split
    monkeypatch.setattr(
        E, "train_test_split", lambda *a, **k: splits.append(split(*a, **k)) or splits[-1]
    )
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 30))
    y = X[:, 0] + rng.normal(size=100)
    est = MLPRegressor("mse", hidden_layer_sizes=(64,), random_state=0).fit(X, y)
    train, val = splits[0]
    # (the mse density's scale is sqrt(2) times the residuals' root mean square)
    assert np.sqrt(2 * np.mean((y[train] - est.predict(X[train])) ** 2)) < 0.5 * est.scale_
    assert est.scale_ == pytest.approx(np.sqrt(2 * np.mean((y[val] - est.predict(X[val])) ** 2)))
    off = MLPRegressor("mse", hidden_layer_sizes=(64,), early_stopping=False, random_state=0)
    off.fit(X, y)
    assert off.scale_ == pytest.approx(np.sqrt(2 * np.mean((y - off.predict(X)) ** 2)))


def test_rows_of_weight_zero_do_not_set_the_variance_floor():
    """A row of weight 0 is no row at all: two of them at x = +-30 moved the training floor
    of the log variance from -4.5 to -92 (and the std far out with it)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (400, 1))
    noise = 0.05 + 0.4 * (2 - np.abs(X[:, 0]))
    y = np.sin(2 * X[:, 0]) + noise * rng.normal(size=400)
    X0, y0 = np.vstack([X, [[30.0], [-30.0]]]), np.append(y, [0.0, 0.0])
    w0 = np.append(np.ones(400), [0.0, 0.0])
    params = {"loss": "gaussian_nll", "hidden_layer_sizes": (20,), "random_state": 0}
    ref = MLPRegressor(**params).fit(X, y)
    est = MLPRegressor(**params).fit(X0, y0, sample_weight=w0)
    assert est._log_var_floor_ == pytest.approx(ref._log_var_floor_, rel=1e-12)
    far = np.array([[3.0], [6.0]])
    np.testing.assert_allclose(
        est.predict(far, return_std=True)[1], ref.predict(far, return_std=True)[1]
    )


def test_negative_binomial_starts_at_the_glorot_draw_with_any_number_of_targets():
    """The negative binomial's dispersion heads are constant outputs (no weights in theta):
    the start zeroed every other mean-head output weight instead (and with two targets the
    fit raised a reshape error)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    Y = rng.poisson(np.exp(0.5 + X[:, :1] + [0.0, 0.3])).astype(float)
    for y in (Y[:, 0], Y):
        est = MLPRegressor("negative_binomial_nll", hidden_layer_sizes=(6,), random_state=0)
        k = 1 if y.ndim == 1 else 2
        est.loss_ = get_loss("negative_binomial_nll")
        model = est._make_model(2, 2 * k)
        theta = est._cold_start(model, est.loss_, np.zeros(2 * k))
        free_last = theta[model.n_weights - 6 * k : model.n_weights]
        assert np.all(free_last != 0.0)  # the Glorot draw, untouched
        assert est.fit(X, y).predict(X).shape == y.shape


def test_warm_started_early_stopping_never_returns_worse_than_its_start():
    """The warm start is a candidate of early stopping: repeated warm-started fits drifted to
    worse validation scores (-0.16675, -0.16779, -0.16928), their start never scored."""
    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, (500, 2))
    y = np.sin(2 * X[:, 0]) + (0.1 + 0.3 * np.abs(X[:, 0])) * rng.normal(size=500)
    est = MLPRegressor("mse", random_state=0, warm_start=True, max_iter=30)
    best = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(5):
            best.append(est.fit(X, y).best_validation_score_)
    assert np.all(np.diff(best) >= -1e-12), best  # (the start re-scored: its rounding)


def test_mse_predictive_is_student_t_with_the_validation_rows_df():
    """The validation rows' mean squared residual estimates the predictive variance with m
    degrees of freedom: the Normal at that scale covered 0.65 of new targets at n = 25 and
    0.80 at n = 100 with 90% intervals (40 fits each); the t covers 0.78 and 0.84."""
    from scipy import stats

    def data(rng, n):
        X = rng.normal(size=(n, 5))
        return X, X @ [1.0, -0.5, 0.3, 0.0, 0.2] + rng.normal(size=n)

    rng = np.random.default_rng(0)
    X, y = data(rng, 100)
    est = MLPRegressor("mse", hidden_layer_sizes=(20,), random_state=0).fit(X, y)
    dist = est.predict_dist(X[:5])
    assert dist.dist.name == "t" and dist.kwds["df"] == 10  # ceil(0.1 * 100) rows
    assert est.predict_dist(X[:5], uncertainty="noise").dist.name == "norm"
    np.testing.assert_allclose(est.predict(X[:5], return_std=True)[1], dist.std())
    plug_in, predictive = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        X, y = data(rng, 50)
        Xt, yt = data(rng, 2000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPRegressor("mse", hidden_layer_sizes=(20,), random_state=seed).fit(X, y)
        for kind, store in (("noise", plug_in), ("predictive", predictive)):
            low, high = est.predict_dist(Xt, uncertainty=kind).interval(0.9)
            store.append(np.mean((yt >= low) & (yt <= high)))
    # (here, 20 fits at n = 50 with 5 validation rows: 0.65 with the Normal, 0.72 with the t)
    assert np.mean(predictive) >= np.mean(plug_in) + 0.05 and np.mean(predictive) > 0.7
    assert stats.t(df=5).ppf(0.95) > stats.norm.ppf(0.95)  # (the t is the wider)


@pytest.mark.parametrize("loss", ["mse", "l1", "huber"])
@pytest.mark.parametrize("value", [3.0, 1e150, 1e-100])
def test_a_perfect_fit_scale_is_relative_to_y_in_its_units(loss, value):
    """The fitted target is y less its mean: a constant y of 3 got a scale of 1.8e-27
    (LinearRegressor's: 3e-12) and a target one ulp off the fit a log-likelihood of -2.5e24."""
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = np.full(40, value)
    est = MLPRegressor(loss, hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    assert est.scale_ == pytest.approx(1e-12 * value, rel=0.5)
    near = np.nextafter(y, np.inf)
    assert est.log_likelihood(X, near) == pytest.approx(est.log_likelihood(X, y), rel=1e-4)


def test_targets_in_different_units_start_in_their_own_and_warn():
    """One scale (the largest target's spread) for every target: a target 1000 times smaller
    started with output weights 1000 of its spreads large and ended at R^2 -536, silently.
    Each target's output weights now start in its own units, and spreads 100 times apart
    warn (the mean objective in the targets' units barely counts the small one)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y1 = np.sin(2 * X[:, 0]) + 0.3 * rng.normal(size=400)
    Y = np.c_[y1, 1000.0 * (X[:, 1] + 0.3 * rng.normal(size=400))]
    params = {"hidden_layer_sizes": (10,), "alpha": 0.0, "random_state": 0}
    with pytest.warns(UserWarning, match="spreads differ by a factor"):
        est = MLPRegressor("mse", **params).fit(X, Y)
    r2 = 1 - np.mean((est.predict(X)[:, 0] - y1) ** 2) / np.var(y1)
    assert r2 > -100.0  # (here -536 before, -46 now: still worse than a constant, warned)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MLPRegressor("mse", **params).fit(X, np.c_[y1, 10.0 * Y[:, 1] / 1000.0])


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_the_default_penalty_does_not_depend_on_the_units_of_y(loss):
    """alpha="auto" acts on the standardised problem: 1e-4 on the documented objective
    fitted a near-constant network to y in millionths (mse) or millions (l1), R^2 0.0."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (400, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.3 * rng.normal(size=400)
    ref = MLPRegressor(loss, hidden_layer_sizes=(10,), random_state=0).fit(X, y).predict(X)
    for units in (1e-6, 1e6):
        est = MLPRegressor(loss, hidden_layer_sizes=(10,), random_state=0).fit(X, units * y)
        np.testing.assert_allclose(est.predict(X) / units, ref, rtol=1e-6, atol=1e-8)
