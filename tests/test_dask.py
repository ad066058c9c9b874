"""Dask input: fits, predictions and scores on a real two-process LocalCluster.

Every loss and solver fitted on dask chunks reaches the in-memory optimum; prediction-side
methods equal the in-memory ones; the fitting process never gathers the design.
"""

import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from sklik import LinearRegressor, MLPRegressor  # noqa: E402
from sklik.losses import HuberLoss  # noqa: E402

N, P = 1200, 4
CHUNK = 250  # five row chunks, the last one short


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close(timeout=10)


def _data(loss, seed=0, design="explicit"):
    """A data set whose last column's mean is 100 standard deviations from 0 (the design is
    standardised explicitly), or 0 (``design="implicit"``: see ``DaskData.design``)."""
    rng = np.random.default_rng(seed)
    # features on very different scales and origins: the internal standardisation matters
    X = rng.normal(size=(N, P)) * [1.0, 10.0, 100.0, 0.01] + [0.0, 5.0, -3.0, 1.0]
    if design == "implicit":
        X[:, 3] -= 1.0
    eta = 0.3 * X[:, 0] + 0.02 * X[:, 1] - 20 * X[:, 3]
    if loss == "poisson_nll":
        y = rng.poisson(np.exp(eta - eta.mean())).astype(float)
    elif loss == "negative_binomial_nll":  # overdispersed counts: alpha = 0.5
        mu = np.exp(eta - eta.mean())
        y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    else:
        y = eta + rng.standard_t(3, size=N)
    w = rng.uniform(0.0, 2.0, size=N)
    w[:CHUNK] = 0.0  # a chunk of zero weights
    offset = rng.normal(scale=0.1, size=N)
    return X, y, w, offset


# every loss, every solver on dask (the exact l1 solver: see test_exact_l1_equals_in_memory);
# each pass costs a round trip to the cluster, so the matrix is kept to one case per solver path
CASES = [
    ("mse", "lstsq"),
    ("mse", "newton"),
    ("poisson_nll", "newton"),
    ("poisson_nll", "lbfgs"),
    ("huber", "newton"),
    ("smooth_l1", "lbfgs"),
    ("gaussian_nll", "newton"),
    ("negative_binomial_nll", "lbfgs"),
    ("negative_binomial_nll", "newton"),
]


@pytest.mark.parametrize("loss, solver", CASES)
@pytest.mark.parametrize("extras", [False, True], ids=["plain", "weights-offset-alpha"])
@pytest.mark.parametrize("design", ["explicit", "implicit"])
def test_fit_equals_in_memory(client, loss, solver, extras, design):
    X, y, w, offset = _data(loss, design=design)
    kwargs = {"sample_weight": w, "offset": offset} if extras else {}
    params = {"loss": loss, "solver": solver, "tol": 1e-10, "max_iter": 3000}
    params["alpha"] = 0.05 if extras else 0.0
    mem = LinearRegressor(**params).fit(X, y, **kwargs)
    Xd = da.from_array(X, chunks=(CHUNK, P))
    dkw = {k: da.from_array(v, chunks=CHUNK) for k, v in kwargs.items()}
    with warnings.catch_warnings():
        # (smooth_l1 by L-BFGS-B: the certified Newton polish summed over the chunks came out
        # 1 ulp above L-BFGS-B's value and was dropped, with a false ConvergenceWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        est = LinearRegressor(**params).fit(Xd, da.from_array(y, chunks=CHUNK), **dkw)
    assert est.n_features_in_ == P
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    assert est.rank_ == mem.rank_ == P + 1 and est.n_parameters() == mem.n_parameters()
    if solver in ("lstsq", "newton"):  # the optimum is unique and reached to float precision
        np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(est.intercept_, mem.intercept_, rtol=1e-8, atol=1e-12)
    if mem.scale_ is not None:
        assert est.scale_ == pytest.approx(mem.scale_, rel=1e-6)
    # prediction on dask: a dask array with the input's chunks, equal to the in-memory method
    pred = est.predict(Xd, offset=dkw.get("offset"))
    assert isinstance(pred, da.Array) and pred.chunks == (Xd.chunks[0],)
    np.testing.assert_allclose(pred.compute(), est.predict(X, offset=kwargs.get("offset")))


@pytest.mark.parametrize("loss", ["poisson_nll", "huber", "gaussian_nll"])
def test_rows_of_weight_zero_are_no_rows(client, loss):
    """Rows of weight 0 with a huge y and large features, in a chunk of their own and mixed
    into another, change nothing: each chunk drops them before any loss is evaluated (a
    Poisson fit stopped 10% above its optimum when their overflowing losses entered the sums
    as 0 * inf)."""
    X, y, w, _ = _data(loss, design="implicit")
    X, y, w = X[CHUNK:], y[CHUNK:], w[CHUNK:]  # all of positive weight
    rng = np.random.default_rng(3)
    k = CHUNK + 40
    X0 = np.vstack([1e3 * np.abs(rng.normal(size=(k, P))), X])
    y0, w0 = np.append(np.full(k, 1e12), y), np.append(np.zeros(k), w)
    mem = LinearRegressor(loss, alpha=0.01).fit(X, y, sample_weight=w)
    dask_in = [da.from_array(a, chunks=CHUNK) for a in (X0, y0, w0)]
    est = LinearRegressor(loss, alpha=0.01).fit(*dask_in)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-8, atol=1e-12)
    if mem.scale_ is not None:
        assert est.scale_ == pytest.approx(mem.scale_, rel=1e-6)
    cov = est.covariance_matrix(*dask_in)
    np.testing.assert_allclose(cov, mem.covariance_matrix(X, y, w), rtol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "poisson_nll", "huber"])
def test_weights_of_any_finite_scale_fit_as_in_memory(client, loss):
    """Weights of 1e200 (a finite sum): the chunks' column moments merged with their weight
    sums' product overflowed, and mse, l1 and Poisson fits returned all-zero coefficients
    without a warning."""
    X, y, w, _ = _data(loss, design="implicit")
    X, y, w = X[CHUNK:], y[CHUNK:], w[CHUNK:] * 1e200
    mem = LinearRegressor(loss).fit(X, y, sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = LinearRegressor(loss).fit(*[da.from_array(a, chunks=CHUNK) for a in (X, y, w)])
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-8)
    assert np.all(est.coef_ != 0)


@pytest.mark.parametrize("value", [3.0, -1.0])
def test_a_constant_column_with_weights_is_exactly_zero_once_centred(client, value):
    """The weighted mean of a constant column rounds off (3 * (1 + 1e-16)): centred, it was a
    constant 4e-16, collinear with the intercept, and weighted huber Newton fits ran to
    max_iter and ended 0.15 above the optimum (38%); in memory it is set to 0."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(900, 4))
    y = X @ [0.3, -0.2, 0.0, 0.1] + rng.standard_t(4, size=900)
    w = np.random.default_rng(11).uniform(0.0, 1.0, 900)
    X[:, 2] = value
    mem = LinearRegressor("huber", solver="newton").fit(X, y, w)
    dask_in = [da.from_array(a, chunks=300) for a in (X, y, w)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = LinearRegressor("huber", solver="newton").fit(*dask_in)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("chunks", [(1, N - 1), (2,) * 10 + (N - 20,)])
def test_negative_binomial_with_tiny_first_chunks_reaches_the_optimum(client, chunks):
    """The constant model's start came from the first chunk: one row put the dispersion at
    the Poisson limit, where its gradient vanishes, and the fit ended 0.17 above the
    optimum without a warning."""
    X, y, _, _ = _data("negative_binomial_nll", design="implicit")
    mem = LinearRegressor("negative_binomial_nll").fit(X, y)
    Xd, yd = da.from_array(X, chunks=(chunks, P)), da.from_array(y, chunks=(chunks,))
    est = LinearRegressor("negative_binomial_nll").fit(Xd, yd)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-6, atol=1e-9)


def test_scores_with_dask_weights_ignore_rows_of_weight_zero(client):
    """score, log_likelihood and every scorer with dask sample weights (gathered, a vector;
    numpy warned through scikit-learn's checks) and rows of weight 0 whose predicted mean
    overflows (R^2 returned NaN with an overflow warning) equal the in-memory scores
    without those rows."""
    import warnings

    from sklik.metrics import get_scorer, get_scorer_names

    X, y, w, _ = _data("poisson_nll", design="implicit")
    X, y, w = X[CHUNK:], y[CHUNK:], w[CHUNK:]
    est = LinearRegressor("poisson_nll", alpha=0.01).fit(X, y, sample_weight=w)
    X0 = np.vstack([X, np.full((30, P), 1e3)])
    y0, w0 = np.append(y, np.full(30, 1e12)), np.append(w, np.zeros(30))
    Xd, yd, wd = (da.from_array(a, chunks=CHUNK) for a in (X0, y0, w0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.score(Xd, yd, wd) == pytest.approx(est.score(X, y, w), rel=1e-10)
        expected = est.log_likelihood(X, y, w)
        assert est.log_likelihood(Xd, yd, wd) == pytest.approx(expected, rel=1e-10)
        for name in get_scorer_names():
            scorer = get_scorer(name)
            expected = scorer(est, X, y, sample_weight=w)
            assert scorer(est, Xd, yd, sample_weight=wd) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("loss", ["poisson_nll", "huber"])
def test_elastic_net_equals_in_memory(client, loss):
    """The elastic net on dask (L-BFGS-B on split variables, the Newton polish or proximal
    Newton, each Hessian one pass) reaches the in-memory optimum and its exact zeros."""
    X, y, w, offset = _data(loss, design="implicit")
    params = {"loss": loss, "alpha": 0.05, "l1_ratio": 0.7}
    mem = LinearRegressor(**params).fit(X, y, sample_weight=w, offset=offset)
    dkw = {k: da.from_array(v, chunks=CHUNK) for k, v in (("sample_weight", w), ("offset", offset))}
    Xd, yd = da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    est = LinearRegressor(**params).fit(Xd, yd, **dkw)
    assert np.any(mem.coef_ == 0) and np.array_equal(est.coef_ == 0, mem.coef_ == 0)
    assert est.n_parameters() == mem.n_parameters() < P + 1 + (loss == "huber")
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss", ["mse", "poisson_nll"])
@pytest.mark.parametrize("first_rows", ["aliased", "short"])
def test_rank_of_an_aliased_design_equals_in_memory(client, loss, first_rows):
    """A full one-hot encoding next to the intercept: rank_ and n_parameters (hence AIC and
    BIC) as in memory, whether the first rows (the sample) show every level or not."""
    rng = np.random.default_rng(4)
    g = rng.integers(0, 3, N)
    if first_rows == "short":  # level 2 only after the first chunk: the sample lacks it
        g[:CHUNK] = rng.integers(0, 2, CHUNK)
    X = np.column_stack([np.eye(3)[g], rng.normal(size=N)])
    y = rng.poisson(np.exp(0.2 * g + 0.3 * X[:, 3])).astype(float)
    mem = LinearRegressor(loss).fit(X, y)
    Xd, yd = da.from_array(X, chunks=(CHUNK, 4)), da.from_array(y, chunks=CHUNK)
    est = LinearRegressor(loss).fit(Xd, yd)
    assert est.rank_ == mem.rank_ == 4
    assert est.n_parameters() == mem.n_parameters() == 4 + (loss == "mse")
    assert est.aic(Xd, yd) == pytest.approx(mem.aic(X, y), rel=1e-9)


def test_prediction_side_equals_in_memory(client):
    X, y, w, offset = _data("poisson_nll", seed=1)
    Xd = da.from_array(X, chunks=(CHUNK, P))
    yd, wd, od = (da.from_array(a, chunks=CHUNK) for a in (y, w, offset))
    est = LinearRegressor("poisson_nll", alpha=0.01).fit(Xd, yd, wd, offset=od)
    mean, std = est.predict(Xd, return_std=True, offset=od)
    m0, s0 = est.predict(X, return_std=True, offset=offset)
    np.testing.assert_allclose(mean.compute(), m0, rtol=1e-13)
    np.testing.assert_allclose(std.compute(), s0, rtol=1e-13)
    dist, dist0 = est.predict_dist(Xd, offset=od), est.predict_dist(X, offset=offset)
    assert hasattr(dist, "logpmf") and not hasattr(dist, "logpdf")
    np.testing.assert_allclose(dist.logpmf(yd).compute(), dist0.logpmf(y), rtol=1e-13)
    np.testing.assert_allclose(dist.cdf(y).compute(), dist0.cdf(y), rtol=1e-13)
    np.testing.assert_allclose(dist.ppf(0.9).compute(), dist0.ppf(0.9))
    lo, hi = dist.interval(0.8)
    np.testing.assert_allclose(hi.compute(), dist0.interval(0.8)[1])
    # the fitted mean's confidence distribution, chunk by chunk
    ci = est.predict_dist(Xd, offset=od, uncertainty="mean").interval(0.9)
    ci0 = est.predict_dist(X, offset=offset, uncertainty="mean").interval(0.9)
    np.testing.assert_allclose(ci[0].compute(), ci0[0], rtol=1e-12)
    np.testing.assert_allclose(ci[1].compute(), ci0[1], rtol=1e-12)
    for method in ("log_likelihood", "aic", "bic", "score"):
        got = getattr(est, method)(Xd, yd, wd, offset=od)
        assert isinstance(got, float)
        assert got == pytest.approx(getattr(est, method)(X, y, w, offset=offset), rel=1e-12)
    # a continuous likelihood, a 2-D target
    Y2 = np.column_stack([y, 2 * y])
    est = LinearRegressor("mse").fit(Xd, da.from_array(Y2, chunks=(CHUNK, 2)))
    mem = LinearRegressor("mse").fit(X, Y2)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    d, d0 = est.predict_dist(Xd), est.predict_dist(X)
    np.testing.assert_allclose(d.logpdf(Y2).compute(), d0.logpdf(Y2), rtol=1e-12)
    np.testing.assert_allclose(d.std().compute(), d0.std())
    assert est.score(Xd, Y2) == pytest.approx(est.score(X, Y2), rel=1e-12)
    with pytest.raises(ValueError, match="non-integer"):
        LinearRegressor("poisson_nll").fit(X, y).log_likelihood(Xd, y + 0.5)


def test_dataframe_input(client):
    X, y, w, _ = _data("mse", seed=2)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    ddf = dd.from_pandas(df, npartitions=3)
    ys = dd.from_pandas(pd.Series(y), npartitions=3)
    est = LinearRegressor("huber", tol=1e-10).fit(ddf, ys)
    mem = LinearRegressor("huber", tol=1e-10).fit(df, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-8)
    pred = est.predict(ddf)  # no feature-name warning: chunks are scored as DataFrames
    np.testing.assert_allclose(pred.compute(), mem.predict(df), rtol=1e-8)


def test_dataframe_columns_are_checked_as_in_memory(client):
    """Predicting or scoring a DataFrame whose columns are reordered, renamed or missing raises
    scikit-learn's error (it was scored positionally: predictions off by 6.7); an array after a
    DataFrame fit gets scikit-learn's warning."""
    X, y, _, _ = _data("mse", seed=2)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    ddf = dd.from_pandas(df, npartitions=3)
    est = LinearRegressor().fit(ddf, y)
    for bad in (ddf[["d", "a", "b", "c"]], ddf.rename(columns={"d": "z"}), ddf[["a", "b", "c"]]):
        for call in (est.predict, est.predict_dist):
            with pytest.raises(ValueError, match="feature names|features"):
                call(bad)
        with pytest.raises(ValueError, match="feature names|features"):
            est.score(bad, y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.predict(da.from_array(X, chunks=CHUNK))
    with pytest.raises(ValueError, match="feature names"):  # the training data's check too
        est.covariance_matrix(ddf[["d", "a", "b", "c"]], y)


@pytest.mark.parametrize(
    "loss, solver",
    [("poisson_nll", "newton"), ("mse", "lstsq"), ("mse", "lbfgs"), ("l1", "highs")],
)
def test_empty_chunks_are_skipped(client, loss, solver):
    """Empty row chunks (a filtered DataFrame's empty partitions) are no rows: the fit, the
    predictions and the scores equal the in-memory ones (they raised reshape or sample-count
    errors in the chunk functions)."""
    X, y, w, _ = _data(loss, seed=4)
    if loss == "l1":
        solver_kwargs = {}
    else:
        solver_kwargs = {"solver": solver, "tol": 1e-10}
    chunks = (300, 0, 300, 0, 600)
    Xd = da.from_array(X, chunks=(chunks, P))
    yd, wd = da.from_array(y, chunks=(chunks,)), da.from_array(w, chunks=(chunks,))
    est = LinearRegressor(loss, **solver_kwargs).fit(Xd, yd, wd)
    mem = LinearRegressor(loss, **solver_kwargs).fit(X, y, w)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-8, atol=1e-10)
    pred = est.predict(Xd)
    assert 0 not in pred.chunks[0]
    np.testing.assert_allclose(pred.compute(), est.predict(X), rtol=1e-12)
    np.testing.assert_allclose(
        est.predict_dist(Xd).std().compute(), est.predict_dist(X).std(), rtol=1e-12
    )
    assert est.score(Xd, yd, wd) == pytest.approx(est.score(X, y, w), rel=1e-10)
    assert est.log_likelihood(Xd, yd, wd) == pytest.approx(est.log_likelihood(X, y, w), rel=1e-10)


def test_scores_reject_what_in_memory_scores_reject(client):
    """score and log_likelihood on dask input raise the in-memory ValueError for non-finite y
    and for NaN, infinite or negative weights (score returned a number, 0.0 or 0.93)."""
    X, y, w, _ = _data("mse", seed=5)
    est = LinearRegressor().fit(X, y)
    Xd = da.from_array(X, chunks=CHUNK)
    for bad_y in (np.nan, np.inf):
        yy = y.copy()
        yy[700] = bad_y
        for method in ("score", "log_likelihood"):
            with pytest.raises(ValueError, match="NaN or infinity"):
                getattr(est, method)(Xd, da.from_array(yy, chunks=CHUNK))
    for method in ("score", "log_likelihood"):  # (score returned 1.0, with a RuntimeWarning)
        with pytest.raises(ValueError, match="at least one non-zero"):
            getattr(est, method)(Xd, y, da.zeros(len(y), chunks=CHUNK))
    for bad_w in (np.nan, np.inf, -5.0):
        ww = w.copy()
        ww[700] = bad_w
        for method in ("score", "log_likelihood"):
            with pytest.raises(ValueError, match="finite and >= 0"):
                getattr(est, method)(Xd, y, da.from_array(ww, chunks=CHUNK))


def test_series_partitions_are_checked_in_the_validation_pass(client, monkeypatch):
    """A y Series with X's number of partitions takes X's partition lengths without a pass to
    count its rows; partitions that do not line up are a clear error of the validation pass."""
    X, y, _, _ = _data("mse", seed=2)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    ddf = dd.from_pandas(df, npartitions=3)
    counted = []
    original = dd.Series.map_partitions

    def counting(self, *args, **kwargs):
        counted.append(args[0] if args else None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(dd.Series, "map_partitions", counting)
    est = LinearRegressor(tol=1e-10).fit(ddf, dd.from_pandas(pd.Series(y), npartitions=3))
    assert len not in counted  # y's lengths were not counted
    np.testing.assert_allclose(est.coef_, LinearRegressor(tol=1e-10).fit(df, y).coef_, rtol=1e-8)
    # three partitions of other lengths: 100 rows moved from the first to the last
    n = len(y)
    sizes = [n // 3 - 100, n // 3, n - 2 * (n // 3) + 100]
    bounds = np.cumsum([0, *sizes])
    pieces = [pd.Series(y[bounds[i] : bounds[i + 1]]) for i in range(3)]
    shifted = dd.from_map(lambda i: pieces[i], range(3))
    with pytest.raises(ValueError, match="y has .* rows in a partition where X has"):
        LinearRegressor().fit(ddf, shifted)


def test_columns_rechunked_and_validation(client):
    X, y, w, _ = _data("mse", seed=3)
    Xd = da.from_array(X, chunks=(CHUNK, 2))  # chunked along the columns too
    est = LinearRegressor().fit(Xd, y)
    np.testing.assert_allclose(est.coef_, LinearRegressor().fit(X, y).coef_, rtol=1e-10)
    for value in (np.nan, np.inf, -np.inf):  # (found from the columns' largest |x|)
        bad = X.copy()
        bad[700, 1] = value
        with pytest.raises(ValueError, match="NaN or infinity"):
            LinearRegressor().fit(da.from_array(bad, chunks=CHUNK), y)
    with pytest.raises(ValueError, match="rows"):
        LinearRegressor().fit(da.from_array(X, chunks=CHUNK), y[:-1])
    with pytest.raises(ValueError, match=">= 0"):
        LinearRegressor().fit(da.from_array(X, chunks=CHUNK), y, -w)
    with pytest.raises(ValueError, match="requires targets"):
        LinearRegressor("poisson_nll").fit(da.from_array(X, chunks=CHUNK), y - 100)


@pytest.mark.parametrize("weighted", [False, True])
def test_ill_conditioned_least_squares_uses_tsqr(client, weighted):
    """The tall-skinny QR fallback, with and without sample weights (a 1-D weight vector once
    broke its blockwise map: dask aligned it with the design's columns)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(N, 3))
    X[:, 1] = X[:, 0] + 1e-6 * X[:, 1]  # condition number ~1e6: the normal equations lose digits
    y = X @ [1.0, 2.0, 3.0] + rng.normal(size=N)
    w = rng.uniform(0.5, 2.0, size=N) if weighted else None
    wd = None if w is None else da.from_array(w, chunks=CHUNK)
    est = LinearRegressor().fit(da.from_array(X, chunks=CHUNK), y, sample_weight=wd)
    mem = LinearRegressor().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-7)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)


def test_mlp_on_dask(client):
    X, y, _, _ = _data("mse", seed=5)
    X = X / X.std(axis=0)
    # early stopping holds out rows in memory only: compare the plain full-batch fits
    params = {
        "hidden_layer_sizes": (4,),
        "random_state": 0,
        "max_iter": 8,
        "tol": 1e-12,
        "early_stopping": False,
    }
    with pytest.warns(Warning):  # max_iter reached, on both
        mem = MLPRegressor("huber", **params).fit(X, y)
    with pytest.warns(Warning):
        est = MLPRegressor("huber", **params).fit(da.from_array(X, chunks=CHUNK), y)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-8)
    pred = est.predict(da.from_array(X, chunks=CHUNK)).compute()
    np.testing.assert_allclose(pred, mem.predict(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_mlp_l1_on_dask_starts_at_the_in_memory_median(client, weighted):
    """The l1 network's output bias starts at the weighted median, NumPy's inverted-cdf one
    in memory: on dask a root of the loss's gradient anywhere between the two middle values
    gave another start (0.1755 against 0.16) and another local optimum (predictions 5.8%
    apart after 60 iterations)."""
    X, y, w, _ = _data("mse", seed=5)
    X = X / X.std(axis=0)
    w = w if weighted else None
    params = {"hidden_layer_sizes": (4,), "random_state": 0, "max_iter": 5}
    params["early_stopping"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # (max_iter reached, on both)
        mem = MLPRegressor("l1", **params).fit(X, y, w)
        dw = None if w is None else da.from_array(w, chunks=CHUNK)
        est = MLPRegressor("l1", **params).fit(da.from_array(X, chunks=CHUNK), y, dw)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-12)
    np.testing.assert_allclose(est.coefs_[0], mem.coefs_[0], rtol=1e-10, atol=1e-12)


def test_mlp_negative_binomial_on_dask_floors_its_log_dispersion_as_in_memory(client):
    """The floor of the second head on dask was 2 log of the smallest noise std (right for
    gaussian_nll's log variance only): the negative binomial's log dispersion was floored at
    -0.59 instead of -4.07, and its predictive std was 1.57 instead of 1.20."""
    X, y, w, _ = _data("negative_binomial_nll", seed=2)
    X = X / X.std(axis=0)
    params = {"hidden_layer_sizes": (4,), "random_state": 0, "max_iter": 20}
    params["early_stopping"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mem = MLPRegressor("negative_binomial_nll", **params).fit(X, y, w)
        dw = da.from_array(w, chunks=CHUNK)
        est = MLPRegressor("negative_binomial_nll", **params).fit(
            da.from_array(X, chunks=CHUNK), y, dw
        )
    assert est._log_var_floor_ == pytest.approx(mem._log_var_floor_, rel=1e-8)
    np.testing.assert_allclose(
        est.predict(X, return_std=True)[1], mem.predict(X, return_std=True)[1], rtol=1e-6
    )


def test_weighted_median_over_passes_is_numpys():
    from sklik._dask import _weighted_median

    rng = np.random.default_rng(0)
    for _ in range(40):
        n, k = int(rng.integers(1, 200)), int(rng.integers(1, 3))
        Y = np.round(rng.normal(size=(n, k)) * rng.choice([1e-3, 1.0, 1e6]), 2)
        w = rng.uniform(0, 2, n) * (rng.uniform(size=n) > 0.2)
        w[0] = 1.0
        pos = Y[w > 0]
        stats = {"W": w.sum(), "ymin": pos.min(axis=0), "ymax": pos.max(axis=0)}
        c = int(rng.integers(1, n + 1))
        with dask.config.set(scheduler="synchronous"):
            got = _weighted_median(
                da.from_array(Y, chunks=(c, k)), da.from_array(w, chunks=c), stats
            )
        ref = np.quantile(Y, 0.5, axis=0, weights=w, method="inverted_cdf")
        np.testing.assert_array_equal(got, ref)


def test_mlp_gaussian_nll_on_dask_standardises_y_as_in_memory(client):
    """The learned-variance MLP standardises y on dask too (one pass over y): on a target in
    large units (5000 +- 1000) it learned nothing of the mean (R^2 0.0000 against 0.887 in
    memory), alpha and eps acting on the raw units. Explicit early stopping is refused."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 2))
    y = 5000 + 1000 * (np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.3 * rng.normal(size=1000))
    w = rng.uniform(0.5, 2.0, size=1000)
    params = {"hidden_layer_sizes": (8,), "random_state": 0, "max_iter": 40, "tol": 1e-12}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (max_iter reached, on both)
        mem = MLPRegressor("gaussian_nll", early_stopping=False, **params).fit(X, y, w)
        est = MLPRegressor("gaussian_nll", **params).fit(
            da.from_array(X, chunks=CHUNK), da.from_array(y, chunks=CHUNK), w
        )
    np.testing.assert_allclose(est._y_shift, mem._y_shift, rtol=1e-12)
    np.testing.assert_allclose(est._y_scale, mem._y_scale, rtol=1e-12)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-6)
    assert est.score(X, y, w) == pytest.approx(mem.score(X, y, w), abs=1e-4)
    assert est.score(X, y, w) > 0.8
    # the variance floor: the smallest training std over the rows of positive weight (here
    # the first chunk's rows get weight 0)
    assert est._log_var_floor_ == pytest.approx(mem._log_var_floor_, rel=1e-6)
    w0 = w.copy()
    w0[:CHUNK] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = MLPRegressor("gaussian_nll", early_stopping=False, **params).fit(X, y, w0)
        est = MLPRegressor("gaussian_nll", **params).fit(
            da.from_array(X, chunks=CHUNK), da.from_array(y, chunks=CHUNK), w0
        )
    assert est._log_var_floor_ == pytest.approx(mem._log_var_floor_, rel=1e-6)
    with pytest.raises(ValueError, match="early_stopping=True"):
        MLPRegressor("gaussian_nll", early_stopping=True).fit(da.from_array(X, chunks=CHUNK), y)


def test_default_scheduler_without_client():
    # dask's local scheduler (what runs out of core on one machine)
    X, y, w, _ = _data("poisson_nll", seed=6)
    with dask.config.set(scheduler="threads"):
        est = LinearRegressor("poisson_nll").fit(da.from_array(X, chunks=CHUNK), y, w)
    mem = LinearRegressor("poisson_nll").fit(X, y, w)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)


def test_streaming_without_persisting(client, monkeypatch):
    # a design larger than the workers' memory is not persisted: every pass re-reads and
    # re-standardises the chunks from their source
    from sklik import _dask

    monkeypatch.setattr(_dask, "_PERSIST_FRACTION", 0.0)
    persisted = []
    monkeypatch.setattr(_dask.dask, "persist", lambda *a, **k: persisted.append(a) or a)
    X, y, w, offset = _data("poisson_nll", seed=8)
    est = LinearRegressor("poisson_nll", alpha=0.01).fit(
        da.from_array(X, chunks=CHUNK), y, w, offset=offset
    )
    mem = LinearRegressor("poisson_nll", alpha=0.01).fit(X, y, w, offset=offset)
    assert not persisted
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    # validation, the start, one per Newton iteration (the Hessian comes in the gradient's
    # pass) and the coefficient covariance
    assert est.n_passes_ <= est.n_iter_ + 3


def test_fit_does_not_gather_the_design(client):
    n, p = 400_000, 20  # a 64 MB design in 8 MB chunks, generated on the workers
    X = da.random.RandomState(0).normal(size=(n, p), chunks=(50_000, p))
    y = da.random.RandomState(1).poisson(1.0, size=n, chunks=50_000).astype(float)
    est = LinearRegressor("poisson_nll", alpha=1e-3)
    tracemalloc.start()
    try:
        est.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # about 2 MB of scheduler and protocol bookkeeping (the LocalCluster's scheduler runs in
    # this process), whatever the size of the design; less than one chunk
    assert peak < 5e6, f"the client allocated {peak / 1e6:.1f} MB"
    assert est.n_iter_ <= 10


def test_import_sklik_does_not_import_dask():
    code = (
        "import sys, sklik, sklik.metrics, sklik.losses, sklik.compare; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_grid_search_on_the_cluster(client):
    # cross-validation on a cluster: scikit-learn's joblib calls run as dask tasks
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y, _, _ = _data("mse", seed=7)
    grid = {"loss__delta": [0.5, 2.0]}
    search = GridSearchCV(LinearRegressor(loss=HuberLoss()), grid, cv=2, n_jobs=2)
    with joblib.parallel_backend("dask"):
        search.fit(X, y)
    local = GridSearchCV(LinearRegressor(loss=HuberLoss()), grid, cv=2).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


@pytest.mark.parametrize(
    "loss", ["mse", "poisson_nll", "huber", "gaussian_nll", "negative_binomial_nll"]
)
@pytest.mark.parametrize("design", ["explicit", "implicit"])
def test_covariance_and_predictive_distribution_equal_in_memory(client, loss, design):
    # the covariance is a sum over chunks (one pass); robust (sandwich) variants too
    X, y, w, offset = _data(loss, seed=11, design=design)
    if loss == "gaussian_nll":
        offset = None
    kwargs = {"sample_weight": w} if offset is None else {"sample_weight": w, "offset": offset}
    params = {"loss": loss, "alpha": 0.01, "tol": 1e-10, "max_iter": 3000}
    mem = LinearRegressor(**params).fit(X, y, **kwargs)
    Xd = da.from_array(X, chunks=(CHUNK, P))
    dkw = {k: da.from_array(v, chunks=CHUNK) for k, v in kwargs.items()}
    yd = da.from_array(y, chunks=CHUNK)
    est = LinearRegressor(**params).fit(Xd, yd, **dkw)
    for robust in (False, "HC1"):
        np.testing.assert_allclose(
            est.covariance_matrix(Xd, yd, **dkw, robust=robust),
            mem.covariance_matrix(X, y, **kwargs, robust=robust),
            rtol=1e-7,
            atol=1e-14,
        )
    se = est.std_errors(Xd, yd, **dkw)
    assert np.all(np.isfinite(se)) and np.all(se[: P + 1] > 0)  # (the mean head)
    # the fit-time covariance: the predictive distribution of the dask fit is the in-memory one
    if loss != "huber":  # huber's predictive covariance needs residual quantiles: df only
        d, d0 = est.predict_dist(X), mem.predict_dist(X)
        np.testing.assert_allclose(d.std(), d0.std(), rtol=1e-6)
    else:
        assert est._predictive_state()["cov"] is None
        assert mem._predictive_state()["cov"] is not None


def test_l1_covariance_on_dask_is_a_clear_error(client):
    X, y, _, _ = _data("mse", seed=12)
    Xd, yd = da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    est = LinearRegressor("l1", solver="lbfgs", alpha=1e-3).fit(Xd, yd)
    with pytest.raises(NotImplementedError, match="quantiles"):
        est.covariance_matrix(Xd, yd)
    with pytest.raises(ValueError, match="expecting 4 features"):
        est.covariance_matrix(Xd[:, :2], yd)
    with pytest.raises(ValueError, match="pass the training data"):
        est.covariance_matrix(Xd, da.stack([yd, yd], axis=1))


@pytest.mark.parametrize("loss", ["poisson_nll", "gaussian_nll", "huber"])
def test_every_scorer_on_dask_equals_in_memory(client, loss):
    from sklik.metrics import get_scorer, get_scorer_names

    X, y, _, _ = _data(loss, seed=13)
    est = LinearRegressor(loss, alpha=0.01).fit(X, y)
    Xd, yd = da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    for name in get_scorer_names():
        scorer = get_scorer(name)
        try:
            expected = scorer(est, X, y)
        except ValueError:  # e.g. a count likelihood's score of a continuous target
            with pytest.raises(ValueError):
                scorer(est, Xd, yd)
            continue
        assert scorer(est, Xd, yd) == pytest.approx(expected, rel=1e-10), name


# -- the exact l1 solver (Frisch-Newton over the chunks, certified vertex) ----------------------


@pytest.mark.parametrize("case", ["plain", "weights-offset-two-targets", "units-1e7-no-intercept"])
def test_exact_l1_equals_in_memory(client, case):
    X, y, w, offset = _data("l1", seed=9)
    params, kwargs = {"loss": "l1"}, {}
    if case == "weights-offset-two-targets":
        y = np.column_stack([y, 0.5 * y - 3.0 * X[:, 0]])
        y[:CHUNK] = 1e12  # rows of zero weight (the first chunk) are ignored
        kwargs = {"sample_weight": w, "offset": np.column_stack([offset, -offset])}
    elif case == "units-1e7-no-intercept":
        y = 1e7 * y
        params["fit_intercept"] = False
    mem = LinearRegressor(**params).fit(X, y, **kwargs)
    Xd = da.from_array(X, chunks=(CHUNK, P))
    dkw = {k: da.from_array(v, chunks=CHUNK) for k, v in kwargs.items()}
    est = LinearRegressor(**params).fit(Xd, da.from_array(y, chunks=CHUNK), **dkw)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    # continuous data: the optimum is a unique vertex, which both fits reach exactly
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-9, atol=1e-12 * np.abs(y).max())
    np.testing.assert_allclose(est.intercept_, mem.intercept_, rtol=1e-9, atol=1e-9)
    assert est.scale_ == pytest.approx(mem.scale_, rel=1e-8)
    # the moments, two passes to start and three per interior-point iteration (per target)
    targets = 1 if y.ndim == 1 else y.shape[1]
    assert 1 + targets * 5 < est.n_passes_ - 2 < 1 + targets * (2 + 3 * 30)


def test_exact_l1_failures_name_the_alternative(client, monkeypatch):
    from sklik import _lad

    X, y, _, _ = _data("l1", seed=10)
    Xd = da.from_array(np.column_stack([X, 2.0 * X[:, 1]]), chunks=CHUNK)
    with pytest.raises(ValueError, match="full column rank.*solver='lbfgs'"):
        LinearRegressor("l1").fit(Xd, y)

    def stopped_at(gap):  # a driver that ends at once, with no certified vertex
        def passes(tol, max_iter):
            return np.ones(P + 1), gap <= tol, None, gap
            yield

        return passes

    # neither a certified vertex nor a duality gap of 1e-12: refused, not returned
    monkeypatch.setattr(_lad, "_ipm_passes", stopped_at(1e-6))
    with pytest.raises(ValueError, match="1e-06.*solver='lbfgs'"):
        LinearRegressor("l1").fit(da.from_array(X, chunks=CHUNK), y)
    monkeypatch.setattr(_lad, "_ipm_passes", stopped_at(1e-13))  # the IPM's optimum: accepted
    est = LinearRegressor("l1").fit(da.from_array(X, chunks=CHUNK), y)
    assert np.all(est.coef_ != 0)


def test_exact_l1_without_client(monkeypatch):
    # dask's local scheduler: the iterations' state is persisted in this process; the chunks'
    # rows are processed in blocks of 64 (partial sums added, the state written block by block)
    from sklik import _dask

    monkeypatch.setattr(_dask, "_LAD_BLOCK_ROWS", 64)
    X, y, w, _ = _data("l1", seed=11)
    with dask.config.set(scheduler="threads"):
        est = LinearRegressor("l1").fit(da.from_array(X, chunks=CHUNK), y, w)
    mem = LinearRegressor("l1").fit(X, y, w)
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-10)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-9)


@pytest.mark.parametrize("loss", ["poisson_nll", "gaussian_nll"])
def test_sampled_hessian_on_dask_reaches_the_in_memory_optimum(client, loss, monkeypatch):
    """40000 rows (at least 4 x 8192): every Newton pass brings the gradient and the Hessian
    of every 4th row of each chunk, a fraction of the exact Hessian's cost, until the solver
    asks for the exact one; the optimum is the in-memory one."""
    from sklik import _dask

    calls = []
    sampled = _dask.BlockedObjective.sampled_hessian

    def counting(self, theta):
        calls.append(self.hessian_sample_step)
        return sampled(self, theta)

    monkeypatch.setattr(_dask.BlockedObjective, "sampled_hessian", counting)
    rng = np.random.default_rng(3)
    n = 40_000
    X = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1]
    eta = X @ [0.3, 0.05, -2.0]
    if loss == "poisson_nll":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = eta + np.exp(0.2 * X[:, 0]) * rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    params = {"loss": loss, "tol": 1e-10}
    mem = LinearRegressor(**params).fit(X, y, sample_weight=w)
    chunks = (10_000, 3)
    est = LinearRegressor(**params).fit(
        da.from_array(X, chunks=chunks),
        da.from_array(y, chunks=10_000),
        sample_weight=da.from_array(w, chunks=10_000),
    )
    assert calls and all(step == 4 for step in calls)
    np.testing.assert_allclose(est.objective_, mem.objective_, rtol=1e-12)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("far_mean", [False, True])
def test_least_squares_on_dask_takes_two_passes(client, far_mean):
    """mse: the validation pass, which also sums the Gram matrix of ``[X, y - offset]``, and
    the squared residuals'; they give the coefficients, the objective, the residual scale and
    the predictive covariance (which took three more passes, two of them Gram matrices), all
    equal to the in-memory fit's. A column whose mean is 100 standard deviations from 0
    (``far_mean``) would lose digits in the raw Gram matrix: the Gram matrix of the centred
    design takes a pass of its own."""
    X, y, w, offset = _data("mse", seed=4)
    if not far_mean:
        X[:, 3] -= 1.0  # every column's mean within 16 standard deviations of 0
    kwargs = {"sample_weight": w, "offset": offset}
    mem = LinearRegressor("mse", alpha=0.1).fit(X, y, **kwargs)
    est = LinearRegressor("mse", alpha=0.1).fit(
        da.from_array(X, chunks=(CHUNK, P)),
        da.from_array(y, chunks=CHUNK),
        **{k: da.from_array(v, chunks=CHUNK) for k, v in kwargs.items()},
    )
    assert est.n_passes_ == (3 if far_mean else 2)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-10)
    np.testing.assert_allclose(est.objective_, mem.objective_, rtol=1e-13)
    np.testing.assert_allclose(est.scale_, mem.scale_, rtol=1e-13)
    d, d0 = est.predict_dist(X, offset=offset), mem.predict_dist(X, offset=offset)
    np.testing.assert_allclose(np.asarray(d.std()), d0.std(), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 31, 32, 33, 8193])
def test_column_abs_max_equals_numpy_and_propagates_non_finite(n):
    """The validation pass's column maxima (rows folded 32 at a time), C or F order."""
    from sklik._dask import _column_abs_max

    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 7)) * 10.0 ** rng.uniform(-5, 5, 7)
    for A in (X, np.asfortranarray(X)):
        np.testing.assert_array_equal(_column_abs_max(A, np.empty(A.shape)), np.abs(X).max(0))
    for value in (np.nan, np.inf, -np.inf):
        bad = X.copy()
        bad[n // 2, 3] = value
        top = _column_abs_max(bad, np.empty(bad.shape))
        assert not np.isfinite(top[3]) and np.all(np.isfinite(np.delete(top, 3)))


def test_chunk_statistics_merge_their_blocks():
    """A chunk's statistics (merged per block on the worker) equal those of one block."""
    from sklik._dask import _EVAL_BLOCK_ROWS, _block_stats, _chunk_stats, _combine_stats

    rng = np.random.default_rng(5)
    n = 2 * _EVAL_BLOCK_ROWS + 77
    X = rng.standard_normal((n, 4)) * [1.0, 1e3, 1e-3, 5.0] + [0.0, 2e3, 0.0, -1.0]
    X[:_EVAL_BLOCK_ROWS, 1] *= 1e-2  # blocks with different column maxima
    Y = rng.standard_normal((n, 2))
    w, off = rng.uniform(0.0, 2.0, n), rng.standard_normal((n, 2))
    for weights, offset in ((None, None), (w, off)):
        merged = _chunk_stats(X, Y, weights, offset, True)
        assert isinstance(merged, dict)  # one dict per chunk reaches the client
        whole = _combine_stats([_block_stats(X, Y, weights, offset, True)])
        parts = _combine_stats([merged])
        for key, value in whole.items():
            np.testing.assert_allclose(parts[key], value, rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize(
    "loss, design", [("poisson_nll", "implicit"), ("poisson_nll", "explicit"), ("l1", "implicit")]
)
def test_design_is_x_standardised_implicitly_where_no_digits_are_lost(client, loss, design):
    """As in memory, the chunks of X are standardised as they are read (no standardised copy
    in the cluster) where every column's mean is within 16 standard deviations; a column
    farther off, or the exact l1 fit (whose passes read explicit rows), gets the copy."""
    from sklik._dask import DaskData
    from sklik.losses import get_loss

    X, y, _, _ = _data(loss, design=design)
    Xd = da.from_array(X, chunks=(CHUNK, P)).persist()
    est = LinearRegressor(loss)
    data = DaskData(est, Xd, da.from_array(y, chunks=CHUNK), None, None, get_loss(loss))
    Z, mean, scale = data.design(True, True)
    implicit = design == "implicit" and loss != "l1"
    assert (Z.name == Xd.name) == implicit
    if not implicit:
        np.testing.assert_allclose(Z.compute(), (X - mean) / scale, rtol=1e-15, atol=1e-15)


def test_variance_floor_is_counted_over_the_chunks(client):
    """The in-memory fit's warning on a variance at its floor, from one pass on dask: y in
    units of 1e-4 (torch's floor eps=1e-6 is in y's squared units)."""
    X, y, _, _ = _data("gaussian_nll")
    Xd, yd = da.from_array(X, chunks=(CHUNK, P)), da.from_array(y * 1e-4, chunks=CHUNK)
    with pytest.warns(UserWarning, match=r"floor holds on (\d+) of 1200") as on_dask:
        LinearRegressor("gaussian_nll").fit(Xd, yd)
    with pytest.warns(UserWarning, match=r"floor holds on (\d+) of 1200") as in_memory:
        LinearRegressor("gaussian_nll").fit(X, y * 1e-4)
    assert str(on_dask[0].message) == str(in_memory[0].message)


def test_at_kink_is_reduced_over_the_chunks(client):
    """The stall test of the solvers (a gradient that need not vanish at a kink) on dask: a
    Gaussian NLL fit whose variance is at its floor on some rows is at a kink."""
    from sklik._dask import DaskData
    from sklik._models import LinearModel
    from sklik.losses import get_loss

    X, y, _, _ = _data("gaussian_nll", design="implicit")
    loss = get_loss("gaussian_nll")
    Xd, yd = da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    data = DaskData(LinearRegressor(loss), Xd, yd, None, None, loss)
    Z, _, _ = data.design(True, True)
    objective = data.objective(LinearModel(P, 2), loss, Z, 0.0, None)
    theta = np.zeros(2 * P + 2)
    assert not objective.at_kink(theta)  # variance 1, far above the floor 1e-6
    theta[-1] = np.log(loss.eps)  # the log-variance intercept at the floor
    assert objective.at_kink(theta)


def test_separation_warns_on_dask(client):
    """The separation check (fitted means numerically 0 at y = 0) is one pass over the chunks,
    and warns as in memory."""
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    X = np.column_stack([x, np.minimum(x, 0)])
    y = np.where(x > 0, rng.poisson(3, size=n), 0).astype(float)
    Xd, yd = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    with pytest.warns(ConvergenceWarning, match="separate those rows"):
        LinearRegressor("poisson_nll").fit(Xd, yd)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LinearRegressor("poisson_nll", alpha=1e-3).fit(Xd, yd)


def test_a_local_scheduler_selected_under_a_client_persists_nothing(client):
    """With a Client but dask.config's scheduler set to threads, the passes run in this
    process: the design is not persisted there (the workers' memory was counted, and a design
    up to half of it was persisted into the fitting process)."""
    from sklik import _dask

    assert _dask._client() is client and _dask._available_memory() > 0
    with dask.config.set(scheduler="threads"):
        assert _dask._client() is None and _dask._available_memory() == 0.0
        X, y, _, _ = _data("poisson_nll", seed=6)
        est = LinearRegressor("poisson_nll", tol=1e-10).fit(da.from_array(X, chunks=CHUNK), y)
    ref = LinearRegressor("poisson_nll", tol=1e-10).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-8)


def test_a_nearly_aliased_design_warns_as_in_memory(client):
    """The cancellation of the aliased directions is measured in the same units on dask: the
    Gram matrix it reads is normalised by the weights' sum there too."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=60)
    X = np.c_[2e6 + 0.3 * noise, 9e5 + 0.1 * noise, 200 + 0.7 * rng.normal(size=60)]
    y = 1000 + 0.002 * rng.normal(size=60)
    messages = []
    for Xi, yi in [(X, y), (da.from_array(X, chunks=20), da.from_array(y, chunks=20))]:
        with pytest.warns(ConvergenceWarning, match="cancel along") as record:
            LinearRegressor("huber", fit_intercept=False, solver="lbfgs").fit(Xi, yi)
        messages.append([str(w.message) for w in record if "cancel" in str(w.message)])
    assert messages[0] == messages[1]


def test_the_mean_distribution_of_a_dask_huber_fit_says_where_its_covariance_is(client):
    """huber's predictive covariance needs residual quantiles, which a dask fit does not
    store: uncertainty="mean" is an error that names covariance_matrix (which works on dask),
    not one that sends the user to it as if it were missing too."""
    X, y, _, _ = _data("huber", seed=3)
    est = LinearRegressor("huber").fit(
        da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    )
    with pytest.raises(ValueError, match="on dask input for l1, huber.*covariance_matrix"):
        est.predict_dist(X, uncertainty="mean")
