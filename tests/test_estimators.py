"""Behaviour of LinearRegressor and MLPRegressor as a scikit-learn user meets it."""

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags

from sklik import LinearRegressor, MLPRegressor
from sklik.losses import LOSSES, GaussianNLLLoss, HuberLoss, get_loss
from sklik.metrics import make_loss_scorer

ESTIMATORS = [LinearRegressor, MLPRegressor]
FAST_MLP = {"hidden_layer_sizes": (16,), "max_iter": 300, "random_state": 0}


def _make(Est, loss, **kwargs):
    return Est(loss, **({**FAST_MLP, **kwargs} if Est is MLPRegressor else kwargs))


def _data(loss_name, n=300, p=4, seed=0, n_targets=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    coef = rng.normal(size=(p, n_targets or 1)) * 0.5
    eta = X @ coef + 0.5
    y = (
        rng.poisson(np.exp(eta)).astype(float)
        if LOSSES[loss_name].y_domain[0] >= 0  # the count losses
        else eta + rng.normal(scale=0.3, size=eta.shape)
    )
    return X, (y[:, 0] if n_targets is None else y)


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# --- API and fitted attributes ----------------------------------------------------------------


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_fit_predict_shapes_and_attributes(Est, loss):
    X, y = _data(loss)
    est = _make(Est, loss).fit(X, y)
    assert est.loss == loss and est.loss_ == LOSSES[loss]()
    assert est.n_iter_ >= 1 and est.n_features_in_ == 4 and np.isfinite(est.objective_)
    mean, std = est.predict(X, return_std=True)
    assert mean.shape == std.shape == (300,)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    if loss == "poisson_nll":
        assert np.all(mean > 0)
        _, noise = est.predict(X, return_std=True, uncertainty="noise")
        assert_allclose(noise, np.sqrt(mean))
        if Est is LinearRegressor:  # widened by the fitted mean's variance (p/n = 0.013)
            assert np.all(std > noise) and np.all(std < 1.5 * noise)
        else:  # (the MLP's is the plug-in one)
            assert_allclose(std, noise)
    assert_allclose(est.predict(X), mean)
    if Est is LinearRegressor:
        assert est.coef_.shape == (4,) and isinstance(est.intercept_, float)
        assert hasattr(est, "log_var_coef_") == (loss == "gaussian_nll")
    else:
        assert [c.shape for c in est.coefs_] == [(4, 16), (16, LOSSES[loss].n_params)]


@pytest.mark.parametrize("loss", ["mse", "huber", "gaussian_nll", "poisson_nll"])
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_multioutput(Est, loss):
    X, Y = _data(loss, n_targets=3)
    est = _make(Est, loss).fit(X, Y)
    mean, std = est.predict(X, return_std=True)
    assert mean.shape == std.shape == (300, 3)
    if Est is LinearRegressor:
        assert est.coef_.shape == (3, 4) and est.intercept_.shape == (3,)
        single = LinearRegressor(loss, tol=1e-10).fit(X, Y[:, 1])
        joint = LinearRegressor(loss, tol=1e-10).fit(X, Y)
        # targets are independent in the objective, so the joint fit equals separate fits
        assert_allclose(joint.coef_[1], single.coef_, rtol=1e-5, atol=1e-7)


def test_loss_instance_is_cloned_and_tunable():
    X, y = _data("huber")
    loss = HuberLoss(delta=0.5)
    est = LinearRegressor(loss).fit(X, y)
    assert est.loss is loss and est.loss_ == loss and est.loss_ is not loss
    search = GridSearchCV(LinearRegressor(HuberLoss()), {"loss__delta": [0.1, 1.0, 5.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["loss__delta"] in {0.1, 1.0, 5.0}
    assert search.best_estimator_.loss_.delta == search.best_params_["loss__delta"]
    assert search.cv_results_["params"][0]["loss__delta"] == 0.1


def test_gridsearch_over_losses_in_a_pipeline_with_pandas():
    X, y = _data("mse")
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    pipe = make_pipeline(StandardScaler(), LinearRegressor())
    search = GridSearchCV(pipe, {"linearregressor__loss": ["mse", "l1", "huber"]}, cv=3)
    search.fit(df, pd.Series(y))
    assert search.best_estimator_[-1].loss_.name in {"mse", "l1", "huber"}
    est = LinearRegressor().fit(df, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(X)
    scores = cross_validate(make_pipeline(StandardScaler(), MLPRegressor(**FAST_MLP)), df, y, cv=3)
    assert np.all(scores["test_score"] > 0.5)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_pickle_and_clone_roundtrip(Est):
    X, y = _data("gaussian_nll")
    est = _make(Est, "gaussian_nll").fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    assert_allclose(again.predict(X, return_std=True), est.predict(X, return_std=True))
    fresh = clone(est)
    assert not hasattr(fresh, "n_iter_") and fresh.get_params() == est.get_params()


def test_pipeline_forwards_return_std():
    X, y = _data("gaussian_nll")
    pipe = make_pipeline(StandardScaler(), LinearRegressor("gaussian_nll")).fit(X, y)
    mean, std = pipe.predict(X, return_std=True)
    assert mean.shape == std.shape == (300,)


def test_tags_follow_the_loss():
    assert get_tags(LinearRegressor("poisson_nll")).target_tags.positive_only
    assert not get_tags(LinearRegressor("mse")).target_tags.positive_only
    assert get_tags(MLPRegressor(GaussianNLLLoss())).target_tags.multi_output


# --- solvers, convergence, warm start -----------------------------------------------------------


@pytest.mark.parametrize(
    "loss, solver",
    [("mse", "lstsq"), ("l1", "highs"), ("huber", "newton"), ("poisson_nll", "newton")]
    + [("gaussian_nll", "newton"), ("smooth_l1", "newton")],
)
def test_auto_solver_agrees_with_lbfgs(loss, solver):
    X, y = _data(loss)
    auto = LinearRegressor(loss).fit(X, y)
    explicit = LinearRegressor(loss, solver=solver).fit(X, y)
    lbfgs = LinearRegressor(loss, solver="lbfgs", tol=1e-10, max_iter=10000).fit(X, y)
    assert_allclose(auto.coef_, explicit.coef_)
    assert auto.objective_ <= lbfgs.objective_ + 1e-9
    assert_allclose(auto.coef_, lbfgs.coef_, rtol=1e-5, atol=1e-5)


def test_nested_loss_parameters_need_a_loss_instance():
    """set_params(loss__delta=...) on loss="huber" raised AttributeError: 'str' object has
    no attribute 'set_params' (also inside GridSearchCV)."""
    with pytest.raises(ValueError, match=r"loss__delta .* loss='huber' is a name.*HuberLoss\(\)"):
        LinearRegressor("huber").set_params(loss__delta=2.0)
    assert LinearRegressor(HuberLoss()).set_params(loss__delta=2.0).loss.delta == 2.0
    est = LinearRegressor("huber").set_params(loss=HuberLoss(), loss__delta=3.0)
    assert est.loss.delta == 3.0


def test_solver_loss_mismatch_is_a_clear_error():
    X, y = _data("huber")
    with pytest.raises(ValueError, match="solver='lstsq' cannot minimise HuberLoss"):
        LinearRegressor("huber", solver="lstsq").fit(X, y)
    with pytest.raises(ValueError, match="'highs' only loss='l1' with alpha=0"):
        LinearRegressor("l1", solver="highs", alpha=0.1).fit(X, y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_convergence_warning_names_max_iter_and_tol(Est):
    X, y = _data("gaussian_nll")
    est = _make(Est, "gaussian_nll", max_iter=2, tol=1e-12)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2, tol=1e-12"):
        est.fit(X, y)
    assert est.n_iter_ == 2 and np.all(np.isfinite(est.predict(X)))


@pytest.mark.parametrize(
    "loss, advice", [("gaussian_nll", "Increase max_iter or tol"), ("l1", "kink at zero residual")]
)
def test_convergence_warning_advice_fits_the_loss(loss, advice):
    X, y = _data(loss)
    with pytest.warns(ConvergenceWarning, match=advice):
        LinearRegressor(loss, alpha=0.1, max_iter=2, tol=1e-12).fit(X, y)


# two rows, 20 features and targets of size 1e-8 (found by the fuzz suite's deep profile): the
# learned variance can go down to its floor eps once the mean interpolates, which float64
# Newton and L-BFGS-B steps do not resolve from the cold start
_STALL_X = np.array(
    [
        [0.125730221, -0.132104863, 0.64042265, 0.104900117, -0.535669373, 0.361595055]
        + [1.30400005, 0.947080963, -0.703735236, -1.26542147, -0.623274463, 0.0413259793]
        + [-2.32503077, -0.218791664, -1.24591095, -0.732267355, -0.544258983, -0.316300156]
        + [0.411630536, 1.04251337e-08],
        [-0.128534663, 1.36646347, -0.665194673, 0.35151007, 0.903470182, 0.0940122978]
        + [-0.743499249, -0.921725376, -0.457725826, 0.220195123, -1.00961818, -0.209175575]
        + [-0.15922501, 0.540845585, 0.214659123, 0.355372709, -0.653828609, -0.129613634]
        + [0.78397547, 1.49343115e-08],
    ]
)
_STALL_Y = np.array([-7.51490827e-09, -2.37781245e-08])


def test_a_fit_that_stalls_with_a_large_gradient_warns():
    """The solvers stop where the objective's decrease is below float64 resolution with
    the scaled gradient still half its starting size, far above the optimum (whose variance
    is at the floor 1e-22: an objective of -25.3 against the fit's -18.6): a
    ConvergenceWarning says so, with advice, rather than a silent wrong answer. At the
    default floor (1e-6, which the fit reaches) the same data fit without a warning."""
    est = LinearRegressor(GaussianNLLLoss(eps=1e-22), alpha=0.3, alpha_var=0.0)
    with pytest.warns(ConvergenceWarning, match="below float64 resolution.*rescale y"):
        est.fit(_STALL_X, _STALL_Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        LinearRegressor("gaussian_nll", alpha=0.3, alpha_var=0.0).fit(_STALL_X, _STALL_Y)


def test_newton_takes_no_step_that_leaves_the_objective_unchanged(monkeypatch):
    """Penalised l1 on targets of 1.3e18 that differ in their last 4 digits and a column of
    1e9 (found by the fuzz suite's deep profile): the Huber continuation's Newton line search
    accepted steps of 2^-31 that left the objective equal, 1000 per stage (392 000
    evaluations, 45 s on 9 rows). A shortened step must lower the value; the fit now ends
    (with its ConvergenceWarning) within a few hundred evaluations."""
    from sklik._objective import Objective

    X = np.ones((9, 5)) * 1e9
    X[:, 1:] = [
        [14777180.589167934, 27.77591278080677, 22.599757336728914, -0.68099517481712],
        [-11150393.440527711, 23.938791479672417, -125.77752854352808, -0.360926004312959],
        [9763996.149255965, 10.404998730041461, 121.10391302706958, 2.626405820368208],
        [16053107.145737285, -14.94168908167194, 14.802682857920157, -0.8112752940641995],
        [15417422.190781001, 9.318790331529236, -91.96734525116483, 0.9947730857394113],
        [4904064.479663143, -14.067170721023327, -77.84301528158309, -0.15725001791609353],
        [5355323.526486844, -12.749175381028211, -29.308099614919424, -1.71837679941737],
        [-8657536.454091074, -5.451955270270661, 94.93749677730786, -0.057040166302585626],
        [21223720.56276649, 10.25098676226204, -23.686879354866512, -2.3903488943365567],
    ]
    y = np.array(
        [
            -1.3165122521275822e18,
            -1.3165122521275853e18,
            -1.3165122521275855e18,
            -1.316512252127587e18,
            -1.3165122521275853e18,
            -1.3165122521275873e18,
            -1.3165122521275876e18,
            -1.3165122521275863e18,
            -1.3165122521275884e18,
        ]
    )
    calls = []
    evaluate = Objective.__call__
    monkeypatch.setattr(Objective, "__call__", lambda self, t: calls.append(1) or evaluate(self, t))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = LinearRegressor("l1", alpha=0.3).fit(X, y)
    assert len(calls) < 5000 and np.all(np.isfinite(est.coef_))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_warm_start_continues_from_the_previous_solution(Est):
    # (without early stopping, whose validation score may keep the start: see test_mlp)
    extra = {"early_stopping": False} if Est is MLPRegressor else {}
    X, y = _data("gaussian_nll")
    est = _make(Est, "gaussian_nll", max_iter=5, **extra).fit(X, y)
    first = est.objective_
    est.set_params(warm_start=True).fit(X, y)
    assert est.objective_ < first
    cold = _make(Est, "gaussian_nll", max_iter=5, **extra).fit(X, y)
    assert cold.objective_ == pytest.approx(first)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_sample_weight_equivalence_when_well_posed(loss):
    """Integer weights equal repeated rows, on scikit-learn's check data (15 x 30) with a
    penalty that makes the objective strictly convex (l1 and gaussian_nll: n >> p data)."""
    rng = np.random.RandomState(42)
    # the losses without a Newton solver (L-BFGS: precision ~1e-7) get an n >> p problem
    n, p = (15, 30) if get_loss(loss).has_curvature and loss != "gaussian_nll" else (200, 3)
    X, y, sw = rng.rand(n, p), rng.randint(0, 3, size=n).astype(float), rng.randint(0, 5, size=n)
    alpha = 0.0 if loss in ("mse", "l1") else 1e-4  # mse: minimum-norm lstsq; l1: the LP
    kwargs = {"alpha": alpha, "tol": 1e-10}
    weighted = LinearRegressor(loss, **kwargs).fit(X, y, sample_weight=sw)
    repeated = LinearRegressor(loss, **kwargs).fit(np.repeat(X, sw, axis=0), np.repeat(y, sw))
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-7, atol=1e-9)


def test_exp_overflow_is_guarded():
    X, y = _data("poisson_nll")
    est = LinearRegressor("poisson_nll").fit(X, y)
    for uncertainty in ("predictive", "noise"):
        mean, std = est.predict(X * 1e4, return_std=True, uncertainty=uncertainty)
        assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    # the fitted mean's log-normal: finite where its variance is, else a clear error
    mean, std = est.predict(X * 10, return_std=True, uncertainty="mean")
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    with pytest.raises(ValueError, match="fitted mean is not representable at 300 row"):
        est.predict_dist(X * 1e4, uncertainty="mean")


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_bad_input_raises_clear_errors(Est):
    X, y = _data("mse", n=20)
    est = _make(Est, "mse")
    for bad_X, match in [
        (np.where(np.arange(80).reshape(20, 4) == 5, np.nan, X), "NaN"),
        (np.where(np.arange(80).reshape(20, 4) == 5, np.inf, X), "infinity"),
        (X[:, 0], "Expected 2D array"),
        (np.full((20, 4), "a"), "could not convert|numeric"),
    ]:
        with pytest.raises(ValueError, match=match):
            est.fit(bad_X, y)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X, np.where(np.arange(20) == 3, np.nan, y))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    for sw, match in [
        (-np.ones(20), "Negative values"),
        (np.r_[np.inf, np.ones(19)], "infinity"),
        (np.ones(19), "sample_weight.shape"),
        (np.zeros(20), "at least one non-zero"),
    ]:
        with pytest.raises(ValueError, match=match):
            est.fit(X, y, sample_weight=sw)
    with pytest.raises(ValueError, match="Poisson"):
        _make(Est, "poisson_nll").fit(X, y - 10)
    est.fit(X, y)
    with pytest.raises(ValueError, match="expecting 4 features"):
        est.predict(X[:, :3])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": -1.0}, "'alpha' parameter"),
        ({"loss": "hinge"}, "'loss' parameter"),
        ({"max_iter": 0}, "'max_iter' parameter"),
        ({"tol": 0.0}, "'tol' parameter"),
        ({"loss": HuberLoss(delta=-1.0)}, "delta must be > 0"),
    ],
)
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_invalid_parameters_name_the_parameter(Est, params, match):
    X, y = _data("mse", n=20)
    with pytest.raises(ValueError, match=match):
        _make(Est, **{"loss": "mse", **params}).fit(X, y)


@pytest.mark.parametrize("sizes", [(0,), (3, -1), (2.5,)])
def test_invalid_hidden_layer_sizes(sizes):
    X, y = _data("mse", n=20)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPRegressor(hidden_layer_sizes=sizes).fit(X, y)


# --- the models learn what they should ------------------------------------------------------------


def _nonlinear(loss_name, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    f = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2
    if LOSSES[loss_name].y_domain[0] >= 0:  # the count losses
        return X, rng.poisson(np.exp(f)).astype(float)
    return X, f + rng.normal(scale=0.2, size=n)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_mlp_beats_linear_on_nonlinear_data(loss):
    X, y = _nonlinear(loss, 800, 0)
    X_test, y_test = _nonlinear(loss, 2000, 1)
    linear = LinearRegressor(loss).fit(X, y)
    mlp = MLPRegressor(
        loss, hidden_layer_sizes=(32,), activation="tanh", max_iter=1000, random_state=0
    )
    mlp.fit(X, y)
    # held-out mean torch loss of each fit (the Gaussian NLL at its predicted mean and variance)
    held_out = make_loss_scorer(loss)
    l_lin, l_mlp = (-held_out(est, X_test, y_test) for est in (linear, mlp))
    assert l_mlp < l_lin - 0.1 * abs(l_lin)


def test_mlp_gaussian_std_tracks_the_true_noise():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(1500, 1))
    true_std = 0.1 + 0.4 * np.abs(X[:, 0])
    y = np.sin(2 * X[:, 0]) + rng.normal(size=1500) * true_std
    est = MLPRegressor(
        "gaussian_nll",
        hidden_layer_sizes=(16,),
        activation="tanh",
        alpha=1e-4,
        early_stopping=False,
        max_iter=800,
        random_state=0,
    ).fit(X, y)
    grid = np.linspace(-1.8, 1.8, 50)[:, None]
    _, std = est.predict(grid, return_std=True)
    truth = 0.1 + 0.4 * np.abs(grid[:, 0])
    assert np.corrcoef(std, truth)[0, 1] > 0.95
    assert_allclose(std, truth, rtol=0.25)


# Gaussian noise of sd 0.3: the Normal fit recovers 0.3; the Laplace fit has scale
# b = E|r| = 0.3 sqrt(2/pi), so its sd is sqrt(2) b = 0.3 * 2 / sqrt(pi); the Huber density
# (delta=1 on residuals of sd 0.3, nearly all in the quadratic core) lies in between.
@pytest.mark.parametrize(
    "loss, low, high",
    [("mse", 0.294, 0.306), ("l1", 0.3385 * 0.98, 0.3385 * 1.02), ("huber", 0.3, 0.3385)],
)
def test_constant_scale_std_matches_the_residual_spread(loss, low, high):
    X, y = _data("mse", n=20000)
    _, std = LinearRegressor(loss).fit(X, y).predict(X[:5], return_std=True, uncertainty="noise")
    assert np.all((low < std) & (std < high)) and np.ptp(std) == 0


@pytest.mark.parametrize("estimator", [LinearRegressor, MLPRegressor])
def test_gaussian_nll_whose_variance_overflows_is_a_clear_error(estimator):
    """Targets spread over 1e300: no variance is representable (e^1385). The fit stopped at
    coef_ = 0 with a predicted std of 1e150 and no warning; it is now a ValueError."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = rng.normal(size=50) * 5e300
    with pytest.raises(ValueError, match=r"variance of the targets \(e\^1385\) overflows"):
        estimator("gaussian_nll").fit(X, y)
    assert np.isfinite(estimator("gaussian_nll").fit(X, y * 1e-290).objective_)


@pytest.mark.parametrize("estimator", [LinearRegressor, MLPRegressor])
def test_gaussian_nll_at_its_variance_floor_warns_with_the_fix(estimator):
    """y in units of 1e-3 (a variance of 3e-6 against torch's floor eps=1e-6, in y's squared
    units): the floor held on 47% of the rows and bent the linear variance head (0.88 for a
    slope of 1.01) without a word; at 1e-4 every row, and the variance head was constant.
    The fit warns, names a smaller eps, and with it is the unit-scale fit in y's units."""
    rng = np.random.default_rng(0)
    n = 2000
    X = rng.normal(size=(n, 3))
    y = X @ [1.0, 0.5, 0.0] + rng.normal(size=n) * np.exp(0.5 * X[:, 0])
    kw = {"hidden_layer_sizes": (5,), "random_state": 0} if estimator is MLPRegressor else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unit = estimator("gaussian_nll", **kw).fit(X, y)
    with pytest.warns(UserWarning, match=r"floor holds on \d+ of \d+ training rows") as rec:
        estimator("gaussian_nll", **kw).fit(X, y * 1e-3)
    message = str(rec[0].message)
    assert "eps=1e-06 is in the squared units of y" in message
    suggested = float(re.search(r"GaussianNLLLoss\(eps=([0-9.e+-]+)\)", message).group(1))
    assert 1e-13 < suggested < 1e-11  # 1e-6 of y's variance (about 3e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = estimator(GaussianNLLLoss(eps=suggested), **kw).fit(X, y * 1e-3)
    _, std = small.predict(X, return_std=True)
    if estimator is LinearRegressor:
        assert_allclose(small.coef_, unit.coef_ * 1e-3, rtol=1e-5)
        assert_allclose(small.log_var_coef_, unit.log_var_coef_, rtol=1e-5, atol=1e-8)
        assert_allclose(std, unit.predict(X, return_std=True)[1] * 1e-3, rtol=1e-5)
    else:  # a non-convex fit: the learned noise, not the unit fit's local solution
        ratio = std / (1e-3 * np.exp(0.5 * X[:, 0]))
        assert 0.8 < np.median(ratio) < 1.25, np.median(ratio)


@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "smooth_l1"])
def test_an_interpolating_fit_has_a_finite_likelihood(loss):
    """Two rows, a feature shifted by 1e6: the fit interpolates, and its residuals in the
    user's units are the predictions' rounding (1e-9), where the exact fit's scale was 6e-15
    and the log-likelihood -inf. The scale is floored at that rounding (found by the fuzz
    suite's deep profile)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 1)) + 1e6
    y = rng.standard_t(3, size=2) * 10.0
    est = LinearRegressor(loss).fit(X, y)
    assert np.isfinite(est.log_likelihood(X, y))
    assert est.scale_ < 1e-6


@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "smooth_l1"])
@pytest.mark.parametrize("n", [2, 50])
def test_the_residual_scale_ignores_rows_of_weight_zero(loss, n):
    """Equal weights (the scale's rounding floor from y's largest magnitude) and the same
    rows with a row of weight 0 and a huge y appended (the floor from the rows of positive
    weight) give the same scale: at n = 2 the fit interpolates and the floor is the scale."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 1)) + 1e6
    y = rng.standard_t(3, size=n) * 10.0
    plain = LinearRegressor(loss).fit(X, y)
    equal = LinearRegressor(loss).fit(X, y, sample_weight=np.full(n, 3.0))
    X0, y0 = np.vstack([X, X[:1]]), np.append(y, 1e12)
    zero = LinearRegressor(loss).fit(X0, y0, sample_weight=np.append(np.ones(n), 0.0))
    assert equal.scale_ == pytest.approx(plain.scale_, rel=1e-9)
    assert zero.scale_ == pytest.approx(plain.scale_, rel=1e-6)
    if n == 2:
        assert plain.scale_ < 1e-6


def test_an_unaligned_x_is_fitted_on_an_aligned_copy(monkeypatch):
    # an array received from a dask cluster is a view into a network frame, often not
    # aligned: numpy's products then avoid BLAS (an mse fit 3x slower at 10^6 x 20)
    import sklik._estimators as estimators

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=60)
    buffer = np.zeros(X.nbytes + y.nbytes + 2, dtype=np.uint8)
    Xu = np.frombuffer(buffer, dtype=np.float64, count=X.size, offset=1).reshape(X.shape)
    yu = np.frombuffer(buffer, dtype=np.float64, count=y.size, offset=X.nbytes + 1)
    Xu[:], yu[:] = X, y
    assert not (Xu.flags.aligned or yu.flags.aligned)
    seen = []
    original = estimators.ArrayData.__init__

    def spy(self, X, Y, *args, **kwargs):
        seen.append((X.flags.aligned, Y.flags.aligned))
        original(self, X, Y, *args, **kwargs)

    monkeypatch.setattr(estimators.ArrayData, "__init__", spy)
    unaligned = LinearRegressor("huber").fit(Xu, yu)
    aligned = LinearRegressor("huber").fit(X, y)
    assert seen == [(True, True), (True, True)]
    assert_allclose(unaligned.predict(X), aligned.predict(X), rtol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "huber", "gaussian_nll", "poisson_nll"])
def test_predictive_variance_overflow_is_a_clear_error(loss):
    """A row 1e160 training standard deviations out: the variance of the fitted mean there
    overflows float64. predict_dist raised a NaN-producing RuntimeWarning from SciPy (mse,
    huber) or returned an interval 1e9 times too narrow (gaussian_nll, whose variance was
    capped at 1e300); now a ValueError says so. The mean and the plug-in distribution stay."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, -1.0, 0.5] + rng.normal(size=60)
    if loss == "poisson_nll":
        y = rng.poisson(np.exp(0.1 * X[:, 0])).astype(float)
    est = LinearRegressor(loss).fit(X, y)
    far = np.array([[1e160, 0.0, 0.0], [0.1, 0.2, 0.3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="overflows float64 at 1 row"):
            est.predict_dist(far)
        with pytest.raises(ValueError, match="overflows float64"):
            est.predict(far, return_std=True)
        if loss != "poisson_nll":  # (a log link's mean at 1e160 features overflows by itself)
            assert np.all(np.isfinite(est.predict(far)))
            est.predict_dist(far, uncertainty="noise")
        assert np.all(np.isfinite(est.predict_dist(far[1:]).std()))


@pytest.mark.parametrize("unit", [1e-160, 1e160])
@pytest.mark.parametrize("loss", ["mse", "l1", "poisson_nll", "gaussian_nll"])
def test_a_feature_whose_spread_squares_outside_float64_is_a_clear_error(loss, unit):
    """A column in units of 1e-160: its coefficient's variance (1e320) is not representable;
    fits failed with "rescale y" and RuntimeWarnings, the inference gave inf. Now a
    ValueError naming the column; at 1e-150 and 1e150 the fit is the unscaled one."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [0.1, 0.2, 0.3] + rng.normal(size=60)
    y = np.round(np.exp(y)) if loss == "poisson_nll" else y
    with pytest.raises(ValueError, match="feature 2 of X has a spread .* rescale that column"):
        LinearRegressor(loss).fit(X * [1.0, 1.0, unit], y)
    ref = LinearRegressor(loss).fit(X, y)
    ok = [1.0, 1.0, 1e150 if unit > 1 else 1e-150]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = LinearRegressor(loss).fit(X * ok, y)
        std = est.predict(X[:3] * ok, return_std=True)[1]
    assert np.all(np.isfinite(std))
    assert_allclose(std, ref.predict(X[:3], return_std=True)[1], rtol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "smooth_l1", "gaussian_nll"])
def test_constant_features_and_a_tiny_y_fit_quietly(loss):
    """Constant features and y of 1e-150 (within the documented range): the gradient scale
    at the start was a subnormal (5e-309) whose inverse overflowed, and huber's Newton run
    gave 102 RuntimeWarnings and a ConvergenceWarning ("objective inf") for the right fit."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=60) * 1e-150
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("error", ConvergenceWarning)  # (gaussian_nll: eps warns)
        est = LinearRegressor(loss).fit(np.ones((60, 3)), y)
    center = np.median(y) if loss == "l1" else np.mean(y)
    if loss in ("mse", "l1", "gaussian_nll"):  # (huber's delta = 1 is in y's units: the mean)
        assert est.intercept_ == pytest.approx(center, rel=1e-6)
    assert np.all(est.coef_ == 0.0)


@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "gaussian_nll"])
def test_a_y_whose_spread_squares_to_underflow_is_a_clear_error(loss):
    """y of magnitude 1e-170: the residual variance underflows float64, and the predictive
    std came out nan with a RuntimeWarning (mse), 0 (l1) or 1e167 times too wide
    (gaussian_nll); now a ValueError naming the fix. At 1e-150 the fit is y's fit, scaled."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = X @ [1.0, 2.0] + rng.normal(size=100)
    with pytest.raises(ValueError, match="square underflows float64.*multiply it"):
        LinearRegressor(loss).fit(X, y * 1e-170)
    if loss in ("mse", "l1"):  # (huber's delta and gaussian_nll's eps are in y's units)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            small = LinearRegressor(loss).fit(X, y * 1e-150)
            _, std = small.predict(X[:3], return_std=True)
        _, ref = LinearRegressor(loss).fit(X, y).predict(X[:3], return_std=True)
        np.testing.assert_allclose(std, ref * 1e-150, rtol=1e-6)


def test_totals_beyond_float64_raise_and_means_stay_finite():
    """Rows whose Poisson mean saturates at float64's largest (an offset of 800, X 1e4 times
    the training scale): each log-probability is finite (-1.8e308) but their sum is not; the
    log-likelihood and AIC had come back -inf and inf, the CRPS inf, with RuntimeWarnings."""
    from sklik.metrics import crps, get_scorer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = rng.poisson(np.exp(0.5 + X @ [0.3, -0.2, 0.1])).astype(float)
    est = LinearRegressor("poisson_nll").fit(X, y)
    far, offset = X[:2], np.full(2, 800.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in (est.log_likelihood, est.aic, est.bic):
            with pytest.raises(ValueError, match="beyond float64's range"):
                method(far, y[:2], offset=offset)
        rows = np.flatnonzero(est.predict(X * 1e4) > 1e307)[:2]
        per_row = [crps(y[[i]], est.predict_dist(X[[i]] * 1e4)) for i in rows]
        assert np.all(np.isfinite(per_row)) and min(per_row) > 1e300
        assert np.isfinite(crps(y[rows], est.predict_dist(X[rows] * 1e4)))
        assert np.isfinite(get_scorer("neg_crps")(est, X[rows] * 1e4, y[rows]))


def test_score_is_r2_in_any_units_or_a_clear_error():
    """A target of 1e300: R^2 had been NaN (its squares overflow) with RuntimeWarnings; it is
    scikit-learn's R^2 computed in units where they do not. Predictions 1e160 away: an error."""
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -0.5, 0.3] + rng.normal(size=200)
    est = LinearRegressor("mse").fit(X, y)
    target = np.r_[1e300, y[1:4]]
    exact = r2_score(target / 1e300, est.predict(X[:4]) / 1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_allclose(est.score(X[:4], target), exact, rtol=1e-12)
        assert_allclose(est.score(X, y), r2_score(y, est.predict(X)), rtol=1e-14)
        # (the units are a power of two: a large mean's rounding is not magnified; scaled by
        # max |y| the score had been 5e-9 off at a mean of 1e9)
        far = 1e9 + y
        shifted = LinearRegressor("mse").fit(X, far)
        assert_allclose(shifted.score(X, far), r2_score(far, shifted.predict(X)), rtol=1e-14)
        with pytest.raises(ValueError, match="R\\^2 lies beyond"):
            est.score(X[:4] * 1e160, y[:4])


def test_covariance_refuses_data_in_other_units():
    """std_errors on X whose spread squares outside float64 (X * 1e-160) or whose information
    overflows (a Poisson model on X * 1e80): the fit's clear error, where inf/NaN standard
    errors or scipy's "array must not contain infs or NaNs" came back with RuntimeWarnings."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -0.5, 0.3] + rng.normal(size=200)
    counts = rng.poisson(np.exp(0.5 + X @ [0.3, -0.2, 0.1])).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="feature 0 of X has a spread of 1.01e-160"):
            LinearRegressor("mse").fit(X, y).std_errors(X * 1e-160, y)
        with pytest.raises(ValueError, match="information of the coefficients overflows"):
            LinearRegressor("poisson_nll").fit(X, counts).std_errors(X * 1e80, counts)


def test_hidden_layer_sizes_and_predict_arguments_as_scikit_learn():
    """hidden_layer_sizes takes an int or an array as scikit-learn's MLPRegressor does (a grid
    of [50, 100] had been refused); predict checks uncertainty and return_std even where they
    go unused (a misspelt uncertainty passed silently, return_std="no" returned the tuple)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    fits = [
        MLPRegressor(hidden_layer_sizes=h, max_iter=20, random_state=0).fit(X, y)
        for h in (5, [5], np.array([5]), (5,))
    ]
    for est in fits[:-1]:
        assert_allclose(est.predict(X), fits[-1].predict(X), rtol=0, atol=0)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a tuple of positive"):
        MLPRegressor(hidden_layer_sizes=[5.5]).fit(X, y)
    for kwargs in ({"uncertainty": "predictve"}, {"return_std": "no"}, {"return_std": 2}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            fits[0].predict(X, **kwargs)
    assert len(fits[0].predict(X, return_std=1)) == 2  # (0 and 1 as booleans, as before)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a tuple"):
        MLPRegressor(hidden_layer_sizes=[[2, 3]]).fit(X, y)


def test_a_target_of_density_zero_is_a_clear_error():
    """A held-out target of 1e160 under an mse model: its density underflows, and the
    log-likelihood and AIC had been -inf and inf with scipy's RuntimeWarnings."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = X @ [1.0, -0.5, 0.3] + rng.normal(size=100)
    est = LinearRegressor("mse").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in (est.log_likelihood, est.aic):
            with pytest.raises(ValueError, match="1 row\\(s\\) of y have probability"):
                method(X[:3], np.r_[1e160, y[1:3]])
