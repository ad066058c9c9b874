"""The negative binomial (NB2) loss: values, derivatives, constant dispersion, CRPS, and the
maximum-likelihood fit against statsmodels' NegativeBinomial on its own bundled data."""

import itertools
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from sklik import LinearRegressor, MLPRegressor
from sklik._models import LinearModel, MLPModel
from sklik.distributions import crps_nbinom, crps_poisson
from sklik.losses import GaussianNLLLoss, NegativeBinomialNLLLoss, PoissonNLLLoss, get_loss
from sklik.metrics import crps, get_scorer, log_score

mp = pytest.importorskip("mpmath")


def _mp_loss(y, eta, kappa):
    """-log NB(y; mu = e^eta, alpha = e^kappa) in mpmath (400 digits)."""
    y, r = mp.mpf(y), mp.e ** (-kappa)
    z = eta + kappa
    return -(
        mp.loggamma(y + r)
        - mp.loggamma(r)
        - mp.loggamma(y + 1)
        - r * mp.log1p(mp.e**z)
        + y * (z - mp.log1p(mp.e**z))
    )


def test_values_equal_scipy_logpmf():
    rng = np.random.default_rng(0)
    y = rng.poisson(5, size=500).astype(float)
    eta, alpha = rng.normal(1, 1, size=500), np.exp(rng.normal(0, 1.5, size=500))
    mu = np.exp(eta)
    value = NegativeBinomialNLLLoss(reduction="none")(eta, y, alpha)
    assert_allclose(value, -stats.nbinom.logpmf(y, 1 / alpha, 1 / (1 + alpha * mu)), rtol=1e-9)
    # scipy loses digits to cancellation in gammaln for large n; the reference is mpmath
    with mp.workdps(60):
        ref = [
            float(_mp_loss(a, b, c))
            for a, b, c in zip(y[:40], eta[:40], np.log(alpha[:40]), strict=True)
        ]
    assert_allclose(value[:40], ref, rtol=2e-15)


def _mp_derivatives(y, eta, kappa):
    """Loss, gradient and Hessian entries from their closed forms, in mpmath."""
    y, eta, kappa = mp.mpf(y), mp.mpf(eta), mp.mpf(kappa)
    mu, r = mp.e**eta, mp.e ** (-kappa)
    t = mu / r
    p, q = 1 / (1 + t), t / (1 + t)
    a = mp.psi(0, y + r) - mp.psi(0, r)
    b = mp.psi(1, y + r) - mp.psi(1, r)
    return [
        _mp_loss(y, eta, kappa),
        (mu - y) * p,
        r * (a - mp.log1p(t)) + (mu - y) * p,
        mu * (1 + y / r) * p * p,
        -(mu - y) * q * p,
        -r * a - r * r * b + r * mp.log1p(t) - 2 * r * q + (r + y) * q * p,
    ]


def test_closed_forms_of_the_reference():
    """The mpmath closed forms above are the derivatives of the mpmath loss."""
    with mp.workdps(50):
        for y, eta, kappa in [(0, 0.3, -1.0), (3, 1.2, 0.4), (12, -0.5, 2.0)]:
            e, k = mp.mpf(eta), mp.mpf(kappa)

            def f(a, b, y=y):
                return _mp_loss(y, a, b)

            def f_eta(a, k=k, f=f):
                return f(a, k)

            def f_kappa(b, e=e, f=f):
                return f(e, b)

            numeric = [
                f(e, k),
                mp.diff(f_eta, e),
                mp.diff(f_kappa, k),
                mp.diff(f_eta, e, 2),
                mp.diff(f, (e, k), (1, 1)),
                mp.diff(f_kappa, k, 2),
            ]
            closed = _mp_derivatives(y, eta, kappa)
            assert all(abs(u - v) < mp.mpf(10) ** -30 for u, v in zip(numeric, closed, strict=True))


@pytest.mark.parametrize("kappa", [-299.0, -60.0, -25.0, -8.0, -2.3, 0.0, 2.0, 9.0, 40.0])
def test_values_and_derivatives_are_exact_at_extreme_dispersions(kappa):
    """Stirling and log1p forms for small dispersions, shifted gammas for large ones.

    Each value is within 1e-12 relative of the 200-digit reference, or within a few ulp of
    the largest summand (y, mu) where the value itself is far smaller.
    """
    loss = NegativeBinomialNLLLoss()
    ys, etas = [0.0, 1.0, 7.0, 50.0, 1e4], [-3.0, 0.0, 2.0, 8.0]
    y = np.array([a for a, _ in itertools.product(ys, etas)])
    eta = np.array([b for _, b in itertools.product(ys, etas)])
    raw = np.stack([eta, np.full_like(eta, kappa)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = loss.raw_loss_gradient(y, raw)
        hess = loss.raw_hessian_blocks(y, raw)
    got = np.stack([value, grad[0], grad[1], hess[0, 0], hess[0, 1], hess[1, 1]])
    with mp.workdps(200):
        ref = np.array(
            [[float(v) for v in _mp_derivatives(y[i], eta[i], kappa)] for i in range(y.size)]
        ).T
    tol = 1e-12 * np.abs(ref) + 1e-15 * (1.0 + np.exp(eta) + y) * (1.0 + np.abs(eta))
    assert np.all(np.abs(got - ref) <= tol), np.max(np.abs(got - ref) / tol)


def test_poisson_limit():
    rng = np.random.default_rng(1)
    y = rng.poisson(4, size=50).astype(float)
    eta = rng.normal(1, 0.5, size=50)
    raw = np.stack([eta, np.full(50, -40.0)])
    full_poisson = PoissonNLLLoss().raw_loss(y, eta[None]) + np.array(
        [float(mp.loggamma(v + 1)) for v in y]
    )
    assert_allclose(NegativeBinomialNLLLoss().raw_loss(y, raw), full_poisson, rtol=1e-14)


def _fd_blocks(loss, y, raw, h=1e-5):
    blocks = np.empty((2, 2, *y.shape))
    for b in range(2):
        up, down = raw.copy(), raw.copy()
        up[b] += h
        down[b] -= h
        diff = (loss.raw_loss_gradient(y, up)[1] - loss.raw_loss_gradient(y, down)[1]) / (2 * h)
        blocks[:, b] = diff
    return blocks


@pytest.mark.parametrize(
    "loss", [NegativeBinomialNLLLoss(), GaussianNLLLoss(), GaussianNLLLoss(eps=0.5)], ids=repr
)
def test_hessian_blocks_match_finite_differences(loss):
    rng = np.random.default_rng(2)
    if loss.y_domain[0] >= 0:
        y = rng.poisson(3.0, size=(30, 2)).astype(float)
    else:
        y = rng.normal(size=(30, 2))
    raw = rng.normal(size=(2, 30, 2))
    if isinstance(loss, GaussianNLLLoss):  # away from the clamp's kink at log(eps)
        raw[1] = np.where(np.abs(raw[1] - np.log(loss.eps)) < 0.05, raw[1] + 0.1, raw[1])
    blocks = loss.raw_hessian_blocks(y, raw)
    assert blocks.shape == (2, 2, 30, 2)
    assert_allclose(blocks[0, 1], blocks[1, 0], rtol=0, atol=0)
    assert_allclose(blocks, _fd_blocks(loss, y, raw), rtol=1e-7, atol=1e-9)


def test_torch_like_interface_gradients_and_errors():
    loss = NegativeBinomialNLLLoss(reduction="sum")
    x, t, a = np.array([0.1, 1.0, 2.0]), np.array([0.0, 2.0, 9.0]), np.array([0.5, 1.0, 3.0])
    value, gx, ga = loss.value_and_grad(x, t, a)
    assert value == pytest.approx(-stats.nbinom.logpmf(t, 1 / a, 1 / (1 + a * np.exp(x))).sum())
    h = 1e-6
    fd_x = [(loss(x + h * e, t, a) - loss(x - h * e, t, a)) / (2 * h) for e in np.eye(3)]
    fd_a = [(loss(x, t, a + h * e) - loss(x, t, a - h * e)) / (2 * h) for e in np.eye(3)]
    assert_allclose(gx, fd_x, rtol=1e-7)
    assert_allclose(ga, fd_a, rtol=1e-7)
    assert loss.value_and_grad(x, t, 0.5)[2] is None
    with pytest.raises(ValueError, match="dispersion must be > 0"):
        loss(x, t, 0.0)
    with pytest.raises(ValueError, match="dispersion must be 'constant' or 'linear'"):
        NegativeBinomialNLLLoss(dispersion="quadratic")(x, t, a)


def test_predictive_distribution_and_link():
    loss = NegativeBinomialNLLLoss()
    raw = np.array([[0.5, 2.0], [-1.0, 0.3]])
    dist = loss.predictive_distribution(raw)
    mu, alpha = np.exp(raw[0]), np.exp(raw[1])
    assert_allclose(dist.mean(), mu, rtol=1e-14)
    assert_allclose(dist.var(), mu + alpha * mu**2, rtol=1e-13)
    y = np.array([1.0, 4.0])
    assert_allclose(-dist.logpmf(y), loss.raw_loss(y, raw), rtol=1e-12)
    assert_allclose(loss.link(dist.mean(), dist.var()), raw, rtol=1e-12)
    with pytest.raises(ValueError, match="needs the predicted variance"):
        loss.link(mu)


def test_small_means_keep_their_probabilities_at_the_poisson_limit():
    """At a dispersion near 0 and a mean below 1e-8, p = 1 / (1 + alpha mu) had rounded to 1:
    the log-probability of one count was -inf (mean 4e-9) or 0.25 off (mean 3e-8), in the
    negative binomial's log_likelihood at the no-overdispersion limit and in the Poisson's
    predictive distribution (log_score raised "probability 0" for y = 1)."""
    loss = NegativeBinomialNLLLoss()
    eta = np.array([-5.0, -15.0, -18.0, -20.0, -40.0, -300.0])
    for kappa in (-30.0, -18.4, 0.0):
        dist = loss.predictive_distribution(np.stack([eta, np.full(eta.size, kappa)]))
        mu = np.exp(eta)
        alpha = np.maximum(np.exp(kappa), 1e-8 / mu)  # (alpha mu >= 1e-8: the floor)
        log1p = np.log1p(alpha * mu)  # P(0) = (1 + alpha mu)^(-1/alpha), P(1) = mu P(0) p
        assert_allclose(dist.mean(), mu, rtol=1e-7)
        assert_allclose(dist.logpmf(np.zeros(eta.size)), -log1p / alpha, rtol=1e-7)
        assert_allclose(dist.logpmf(np.ones(eta.size)), eta - (1 / alpha + 1) * log1p, rtol=1e-7)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = rng.poisson(np.exp(0.5 + X @ [0.3, -0.2, 0.1])).astype(float)
    one, row = np.array([1.0]), X[:1]
    pois = LinearRegressor("poisson_nll").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (no overdispersion: the dispersion's limit)
        nb = LinearRegressor("negative_binomial_nll").fit(X, y)
    for offset in (-18.0, -20.0, -40.0):
        log_mu = float(np.log(pois.predict(row, offset=[offset])[0]))
        assert abs(log_score(one, pois.predict_dist(row, offset=[offset])) + log_mu) < 1e-6
        log_mu = float(np.log(nb.predict(row, offset=[offset])[0]))
        assert abs(nb.log_likelihood(row, one, offset=[offset]) - log_mu) < 1e-6


def test_crps_nbinom():
    cases = [(0, 2.0, 0.5), (3, 2.0, 0.5), (7, 0.3, 0.1), (2, 50.0, 0.9), (100, 1.5, 0.02)]
    y, n, p = (np.array(c, dtype=float) for c in zip(*cases, strict=True))
    got = crps_nbinom(y, n, p)
    # the definition, a sum over the support far into the tail
    k = np.arange(30000.0)
    for i in range(len(cases)):
        F = stats.nbinom.cdf(k, n[i], p[i])
        assert got[i] == pytest.approx(np.sum((F - (y[i] <= k)) ** 2), rel=1e-12)
    # the closed form of Wei and Held (2014), scoringRules' crps_nbinom, in mpmath
    with mp.workdps(40):
        for i in range(len(cases)):
            z = -4 * (1 - mp.mpf(p[i])) / mp.mpf(p[i]) ** 2
            c3 = p[i] * (2 * stats.nbinom.cdf(y[i] - 1, n[i] + 1, p[i]) - 1)
            c3 += float(mp.hyp2f1(n[i] + 1, 0.5, 2, z))
            closed = y[i] * (2 * stats.nbinom.cdf(y[i], n[i], p[i]) - 1)
            closed -= (1 - p[i]) * n[i] / p[i] ** 2 * c3
            assert got[i] == pytest.approx(closed, rel=1e-12)
    # the Poisson limit, and invalid parameters
    ys = np.array([0.0, 4.0, 9.0])
    assert_allclose(crps_nbinom(ys, 1e9, 1e9 / (1e9 + 4.0)), crps_poisson(ys, 4.0), rtol=1e-7)
    assert np.isnan(crps_nbinom(1.0, -1.0, 0.5))
    # metrics dispatch on a frozen nbinom
    dist = stats.nbinom(n, p)
    assert crps(y, dist) == pytest.approx(got.mean(), rel=1e-15)
    assert log_score(y, dist) == pytest.approx(-stats.nbinom.logpmf(y, n, p).mean())


def test_constant_outputs_in_the_models():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 3))
    mask = np.array([False, True])
    lin = LinearModel(3, 2, constant_outputs=mask)
    assert (lin.n_weights, lin.n_coef) == (3, 5)
    theta = rng.normal(size=5)
    out, cache = lin.forward(theta, X)
    assert_allclose(out[:, 1], theta[-1])  # the constant column is its intercept
    params = lin.unpack(theta)
    assert_allclose(params["coef"][1], 0.0) and np.array_equal(lin.pack(params), theta)
    full = LinearModel(3, 2)
    full_theta = full.pack(params)
    assert_allclose(out, full.forward(full_theta, X)[0])
    g = rng.normal(size=(20, 2))
    keep = np.r_[0:3, 6:8]
    assert_allclose(
        lin.backward(theta, cache, g),
        full.backward(full_theta, full.forward(full_theta, X)[1], g)[keep],
    )
    d = rng.uniform(size=(20, 2))
    H = full.gauss_newton(full_theta, full.forward(full_theta, X)[1], d)[np.ix_(keep, keep)]
    assert_allclose(lin.gauss_newton(theta, cache, d), H)
    with pytest.raises(ValueError, match="must be 0"):
        lin.pack({"coef": np.ones((2, 3)), "intercept": np.zeros(2)})
    with pytest.raises(ValueError, match="need fit_intercept=True"):
        LinearModel(3, 2, fit_intercept=False, constant_outputs=mask)
    with pytest.raises(ValueError, match="boolean array of shape"):
        LinearModel(3, 2, constant_outputs=[0, 1])

    mlp = MLPModel(3, 2, hidden_layer_sizes=(4,), constant_outputs=mask)
    full_mlp = MLPModel(3, 2, hidden_layer_sizes=(4,))
    assert full_mlp.n_coef - mlp.n_coef == 4 and full_mlp.n_weights - mlp.n_weights == 4
    theta = mlp.init_params(0, np.zeros(2))
    params = mlp.unpack(theta)
    assert_allclose(params["coefs"][-1][:, 1], 0.0)
    out, cache = mlp.forward(theta, X)
    assert np.ptp(out[:, 1]) == 0.0
    full_theta = full_mlp.pack(params)
    assert_allclose(out, full_mlp.forward(full_theta, X)[0])
    _, full_cache = full_mlp.forward(full_theta, X)
    free = np.setdiff1d(np.arange(full_mlp.n_coef), np.arange(12, 20)[1::2])
    assert_allclose(
        mlp.backward(theta, cache, g), full_mlp.backward(full_theta, full_cache, g)[free]
    )
    v = rng.normal(size=mlp.n_coef)
    v_full = np.zeros(full_mlp.n_coef)
    v_full[free] = v
    assert_allclose(mlp.jvp(theta, cache, v), full_mlp.jvp(full_theta, full_cache, v_full))


@pytest.fixture(scope="module")
def randhie():
    """statsmodels' bundled RAND Health Insurance Experiment data (mdvis: doctor visits)."""
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.randhie.load_pandas()  # shipped with statsmodels: no download
    y = data.endog.to_numpy(float)[:4000]
    X = data.exog.to_numpy(float)[:4000]
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def test_fit_equals_statsmodels_nb2(randhie):
    sm = pytest.importorskip("statsmodels.api")
    from statsmodels.discrete.discrete_model import NegativeBinomial

    X, y = randhie
    ref = NegativeBinomial(y, sm.add_constant(X), loglike_method="nb2").fit(
        method="newton", maxiter=100, tol=1e-14, disp=0
    )
    est = LinearRegressor("negative_binomial_nll", tol=1e-10).fit(X, y)
    assert_allclose(est.intercept_, ref.params[0], rtol=1e-6)
    assert_allclose(est.coef_, ref.params[1:-1], rtol=1e-6, atol=1e-8)
    assert_allclose(np.exp(est.log_dispersion_intercept_), ref.params[-1], rtol=1e-6)
    assert_allclose(est.log_dispersion_coef_, 0.0, atol=0)  # constant dispersion
    assert est.log_likelihood(X, y) == pytest.approx(ref.llf, rel=1e-10)
    assert est.n_parameters() == len(ref.params)
    assert est.aic(X, y) == pytest.approx(ref.aic, rel=1e-10)
    # the predictive distribution, its CRPS and the scorers
    dist = est.predict_dist(X[:50])
    assert dist.dist.name == "nbinom"
    assert_allclose(dist.mean(), est.predict(X[:50]), rtol=1e-12)
    assert np.isfinite(crps(y[:50], dist))
    scorer = get_scorer("neg_mean_negative_binomial_nll")
    # (the scorers score the predictive distribution)
    predictive = est.log_likelihood(X, y, uncertainty="predictive")
    assert scorer(est, X, y) == pytest.approx(predictive / len(y), rel=1e-9)


@pytest.mark.parametrize("robust", [False, "HC0"])
def test_standard_errors_equal_statsmodels_nb2(randhie, robust):
    """The observed information of both heads (the dispersion's slopes are fixed at 0):
    statsmodels' standard errors of the mean coefficients, and of log alpha by the delta
    method (its ``alpha`` is on the natural scale)."""
    sm = pytest.importorskip("statsmodels.api")
    from statsmodels.discrete.discrete_model import NegativeBinomial

    X, y = randhie
    ref = NegativeBinomial(y, sm.add_constant(X), loglike_method="nb2").fit(
        method="newton",
        maxiter=100,
        tol=1e-14,
        disp=0,
        cov_type="nonrobust" if not robust else robust,
    )
    est = LinearRegressor("negative_binomial_nll", tol=1e-10).fit(X, y)
    se = est.std_errors(X, y, robust=robust)
    p = X.shape[1]
    assert_allclose(se[: p + 1], ref.bse[:-1], rtol=1e-6)  # measured: 3e-8
    assert se[p + 1] == pytest.approx(ref.bse[-1] / ref.params[-1], rel=1e-6)
    assert_allclose(se[p + 2 :], 0.0, atol=0)  # fixed, not estimated
    table = est.coef_table(X, y, robust=robust)
    assert len(table) == p + 2  # the dispersion head: its intercept alone
    assert table.loc[("log_dispersion", "intercept"), "se"] == pytest.approx(se[p + 1])


def test_linear_dispersion_head_and_mlp(randhie):
    X, y = randhie
    X, y = X[:600], y[:600]
    constant = LinearRegressor("negative_binomial_nll", tol=1e-8).fit(X, y)
    linear = LinearRegressor(NegativeBinomialNLLLoss(dispersion="linear"), tol=1e-8).fit(X, y)
    assert np.any(linear.log_dispersion_coef_ != 0)
    assert linear.n_parameters() == constant.n_parameters() + X.shape[1]
    assert linear.log_likelihood(X, y) >= constant.log_likelihood(X, y) - 1e-8
    with pytest.raises(ValueError, match="needs fit_intercept=True"):
        LinearRegressor("negative_binomial_nll", fit_intercept=False).fit(X, y)
    mlp = MLPRegressor("negative_binomial_nll", hidden_layer_sizes=(5,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at the default max_iter
        mlp.fit(X, y)
    assert_allclose(mlp.coefs_[-1][:, 1], 0.0, atol=0)  # the dispersion is a bias alone
    assert mlp.predict_dist(X[:5]).dist.name == "nbinom"
    # a refit with another loss drops the dispersion head
    constant.set_params(loss="poisson_nll").fit(X, y)
    assert not hasattr(constant, "log_dispersion_coef_")


def test_get_loss_and_registry_name():
    assert get_loss("negative_binomial_nll") == NegativeBinomialNLLLoss()
    assert NegativeBinomialNLLLoss().constant_params == (1,)
    assert NegativeBinomialNLLLoss(dispersion="linear").constant_params == ()
    assert PoissonNLLLoss().constant_params == ()


@pytest.mark.parametrize("r0", [0.05, 0.7, 3.0, 9.9])
def test_trigamma_difference_table_and_fallback(r0):
    """psi1(y + r) - psi1(r + 1): the table of a constant r over integer counts (up to its
    largest count) and scipy's polygamma elsewhere (varying r, non-integer y), against
    mpmath."""
    from sklik.distributions import _TRIGAMMA_TABLE_MAX, _trigamma_difference

    rng = np.random.default_rng(1)
    counts = np.r_[0.0, 1.0, 2.0, 17.0, 900.0, _TRIGAMMA_TABLE_MAX]
    cases = [
        (counts, np.full(counts.size, r0)),  # the table
        (counts + 0.5, np.full(counts.size, r0)),  # non-integer y
        (counts, r0 * rng.uniform(0.5, 2.0, counts.size)),  # varying r
        (np.r_[counts, _TRIGAMMA_TABLE_MAX + 1.0], np.full(counts.size + 1, r0)),  # too large
    ]
    for y, r in cases:
        got = _trigamma_difference(y, r)
        want = [
            float(mp.psi(1, mp.mpf(a) + mp.mpf(b)) - mp.psi(1, mp.mpf(b) + 1))
            for a, b in zip(y, r, strict=True)
        ]
        assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("size", [1e3, 1e5, 1e6, 1e8])
def test_newton_and_lbfgs_reach_the_poisson_limit_at_large_counts(size):
    # Poisson counts (no overdispersion given X): the optimum is the Poisson limit, alpha -> 0.
    # The log link's mean head must not be solved in units of y's spread (link_name "log"):
    # that made the dispersion's scaled gradient 0.5 / 8e5 < tol at counts 1e6, and Newton
    # stopped silently at the cold start's dispersion (objective 13.7 instead of 8.28)
    assert NegativeBinomialNLLLoss.link_name == "log"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = rng.poisson(size * np.exp(X @ [0.3, -0.2, 0.1])).astype(float)
    poisson = LinearRegressor("poisson_nll").fit(X, y)
    for solver in ["newton", "lbfgs"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # L-BFGS-B may warn at float64's resolution
            fit = LinearRegressor("negative_binomial_nll", solver=solver, tol=1e-10).fit(X, y)
        assert fit.log_dispersion_intercept_ < -25
        assert_allclose(fit.coef_, poisson.coef_, rtol=1e-6)
        eta = X @ fit.coef_ + fit.intercept_
        limit = -np.mean(stats.poisson.logpmf(y, np.exp(eta)))
        assert fit.objective_ <= limit + 1e-9 * limit


def test_distributions_stay_finite_at_any_mean_and_dispersion():
    """Far from the data (a log mean up to float64's largest) the variance mu + alpha mu^2
    overflowed at the MLP's fitted dispersions: inf means and intervals (X 1e6 times the
    training scale). The dispersion is held where every moment stays representable."""
    loss = NegativeBinomialNLLLoss()
    eta = np.array([-700.0, -20.0, 0.0, 20.0, 300.0, 600.0, 700.0, 709.0, 709.78, 800.0])
    k = np.full(eta.size, 5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kappa in (-700.0, -20.0, -2.0, 0.0, 5.0, 300.0, 1000.0):
            dist = loss.predictive_distribution(np.stack([eta, np.full(eta.size, kappa)]))
            values = (dist.mean(), dist.std(), *dist.interval(0.9), dist.logpmf(k), dist.cdf(k))
            assert all(np.all(np.isfinite(v)) for v in values)
            assert_allclose(dist.mean()[:-1], np.exp(eta[:-1]), rtol=1e-6)


def test_a_start_from_counts_less_the_offset():
    """The offset's start solves the constant model's dispersion score on y - log(exposure),
    which are no counts: on 1 of 300 NB2 data sets the score was NaN inside Brent's bracket
    and fit raised "The function value ... is NaN". The fit equals statsmodels' NB2 with
    that exposure."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(1)
    for _ in range(26):  # (the 26th data set of this stream failed)
        X = rng.normal(size=(120, 20))
        beta = rng.normal(size=20) / np.sqrt(20) * 0.5
        exposure = rng.uniform(0.5, 5, 120)
        mu = exposure * np.exp(1.5 + X @ beta)
        y = stats.nbinom(2, 1 / (1 + 0.5 * mu)).rvs(random_state=rng).astype(float)
        rng.random(20)
    X, y, exposure = X[:100], y[:100], exposure[:100]
    est = LinearRegressor("negative_binomial_nll", tol=1e-9).fit(X, y, offset=np.log(exposure))
    ref = sm.NegativeBinomial(y, sm.add_constant(X), exposure=exposure).fit(
        method="newton", maxiter=100, tol=1e-12, disp=0
    )
    assert_allclose(np.r_[est.intercept_, est.coef_], ref.params[:-1], rtol=1e-6, atol=1e-7)
    assert_allclose(np.exp(est.log_dispersion_intercept_), ref.params[-1], rtol=1e-6)
