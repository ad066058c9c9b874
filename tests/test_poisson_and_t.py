"""sklik.distributions: the large-mean Poisson distribution, the Student-t CRPS, and every
distribution quantity at extreme arguments (finite, no RuntimeWarning)."""

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import integrate, special, stats

from sklik.distributions import (
    _BESSEL_ASYMPTOTIC_X,
    _ive01_sum,
    crps_huber,
    crps_laplace,
    crps_normal,
    crps_poisson,
    crps_t,
    huber,
    poisson,
)

mp = pytest.importorskip("mpmath")

MUS_SMALL = [1e-300, 1e-10, 0.3, 2.5, 15.5, 16.0, 17.0, 40.0]
MUS_LARGE = [1e3, 1e8, 1e10, 1e12, 1e15]


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def mp_logpmf(k, mu):
    with mp.workdps(50):
        k, mu = mp.mpf(k), mp.mpf(mu)
        return float(-mu + k * mp.log(mu) - mp.loggamma(k + 1))


def mp_cdf(k, mu):
    with mp.workdps(40):
        return float(mp.gammainc(mp.mpf(k) + 1, mp.mpf(mu), mp.inf, regularized=True))


def mp_crps_poisson(y, mu, cdf=None):
    """The Wei-Held closed form in 50-digit arithmetic (F from mpmath unless given)."""
    with mp.workdps(50):
        m = mp.mpf(mu)
        k = math.floor(y)
        f = mp.exp(-m + k * mp.log(m) - mp.loggamma(k + 1))
        F = mp.mpf(cdf) if cdf is not None else mp.gammainc(k + 1, m, mp.inf, regularized=True)
        half = m * mp.exp(-2 * m) * (mp.besseli(0, 2 * m) + mp.besseli(1, 2 * m))
        return float((mp.mpf(y) - m) * (2 * F - 1) + 2 * m * f - half)


# ---------------------------------------------------------------------------------------------
# Poisson


def test_is_a_scipy_discrete_named_poisson():
    d = poisson(3.0)
    assert d.dist.name == "poisson"
    assert isinstance(d.dist, stats.rv_discrete)
    assert d.args == (3.0,)


@pytest.mark.parametrize("mu", MUS_SMALL + MUS_LARGE)
def test_logpmf_matches_mpmath(mu):
    sd = math.sqrt(mu)
    ks = {0.0, 1.0, 15.0, 16.0, 17.0, math.floor(mu), math.floor(mu) + 1}
    # both sides of Loader's series/direct switch |k - mu| = 0.1 (k + mu)
    ks |= {math.floor(mu * 11 / 9), math.ceil(mu * 11 / 9), math.floor(mu * 9 / 11)}
    ks |= {max(math.floor(mu - 5 * sd), 0), math.floor(mu + 5 * sd), math.floor(3 * mu) + 2}
    for k in sorted(ks):
        ref = mp_logpmf(k, mu)
        got = poisson.logpmf(k, mu)
        assert np.isfinite(got)
        assert_allclose(got, ref, rtol=2e-13, atol=1e-12)
        assert_allclose(poisson.pmf(k, mu), math.exp(ref), rtol=1e-12, atol=1e-300)


def test_logpmf_is_where_scipy_fails():
    # scipy 1.17's poisson.logpmf(1e15, 1e15) is -16.0 (cancellation); the truth is -18.19
    assert_allclose(poisson.logpmf(1e15, 1e15), mp_logpmf(1e15, 1e15), rtol=1e-14)
    assert_allclose(poisson.logpmf(1e15, 1e15), -0.5 * math.log(2 * math.pi * 1e15), rtol=1e-9)


@pytest.mark.parametrize("mu", MUS_SMALL + [1e3, 1e5, 1e8])
def test_cdf_sf_match_mpmath(mu):
    sd = math.sqrt(mu)
    for k in sorted(
        {0.0, math.floor(mu), math.floor(mu + 3 * sd), max(math.floor(mu - 3 * sd), 0)}
    ):
        ref = mp_cdf(k, mu)
        assert_allclose(poisson.cdf(k, mu), ref, rtol=1e-12)
        assert_allclose(poisson.cdf(k + 0.5, mu), ref, rtol=1e-12)  # right-continuous steps
    assert poisson.cdf(-0.5, mu) == 0.0
    assert poisson.sf(-0.5, mu) == 1.0


def test_non_integer_and_negative_counts_have_probability_zero():
    assert poisson.pmf(2.5, 3.0) == 0.0
    assert poisson.logpmf(2.5, 3.0) == -np.inf
    assert poisson.logpmf(-1.0, 3.0) == -np.inf
    assert poisson.pmf(0.0, 0.0) == 1.0 and poisson.pmf(1.0, 0.0) == 0.0


@pytest.mark.parametrize("mu", [0.3, 2.5, 17.0, 123.4, 1e4, 1e6])
def test_ppf_isf_equal_scipy_where_scipy_works(mu):
    q = np.concatenate([[0.0, 1e-12, 1e-6], np.linspace(0.001, 0.999, 97), [1 - 1e-9, 1.0]])
    assert_array_equal(poisson.ppf(q, mu), stats.poisson.ppf(q, mu))
    assert_array_equal(poisson.isf(q[1:-1], mu), stats.poisson.isf(q[1:-1], mu))
    assert_array_equal(poisson(mu).interval(0.9), stats.poisson(mu).interval(0.9))


@pytest.mark.parametrize("mu", [1e8, 1e10, 1e12, 1e13, 1e15])
def test_ppf_is_the_exact_quantile_for_large_means(mu):
    q = np.array([1e-300, 1e-12, 0.05, 0.3, 0.5, 0.7, 0.95, 1 - 1e-12])
    k = poisson.ppf(q, mu)
    assert np.all(np.isfinite(k)) and np.all(k == np.floor(k))
    # the smallest k with F(k) >= q (upper half through the survival function)
    low = q <= 0.5
    assert np.all(poisson.cdf(k[low], mu) >= q[low])
    assert np.all(poisson.cdf(k[low] - 1, mu) < q[low])
    assert np.all(poisson.sf(k[~low], mu) <= 1 - q[~low])
    assert np.all(poisson.sf(k[~low] - 1, mu) > 1 - q[~low])
    # and close to the normal approximation with skewness correction
    z = stats.norm.ppf(q[1:-1])
    assert_allclose(k[1:-1], mu + math.sqrt(mu) * z + (z * z - 1) / 6, atol=2.0)
    lo, hi = poisson(mu).interval(0.9)
    assert lo < mu < hi and np.isfinite(lo) and np.isfinite(hi)


@pytest.mark.parametrize("mu", [1e-300, 1e-10, 1.0, 1e8, 1e12, 1e15])
def test_every_frozen_quantity_is_finite(mu):
    d = poisson(np.full(3, mu))
    assert_allclose(d.mean(), mu, rtol=1e-15)
    assert_allclose(d.var(), mu, rtol=1e-15)
    assert_allclose(d.std(), math.sqrt(mu), rtol=1e-15)
    k = np.floor(np.array([mu, 2 * mu + 10, 1e15]))
    for method in ("pmf", "cdf", "sf"):
        v = getattr(d, method)(k)
        assert np.all(np.isfinite(v)) and np.all((v >= 0) & (v <= 1))
    for method in ("logpmf", "logcdf", "logsf"):
        assert np.all(np.isfinite(getattr(d, method)(k)))
    d = poisson(np.full(3, mu))
    assert np.all(np.isfinite(d.ppf(0.05))) and np.all(np.isfinite(d.isf(0.05)))
    assert np.all(np.isfinite(poisson(mu).ppf([0.0001, 0.05, 0.5, 0.95, 0.9999])))
    assert np.all(np.isfinite(d.interval(0.9)))
    assert np.all(np.isfinite(d.entropy()))
    assert d.rvs(random_state=0).shape == (3,)
    assert np.all(np.isfinite(crps_poisson(k, mu)))


def test_log_tails_beyond_float64_underflow():
    # cdf(0 | 1e8) = exp(-1e8) underflows; its log does not
    assert poisson.cdf(0.0, 1e8) == 0.0
    assert_allclose(poisson.logcdf(0.0, 1e8), -1e8, rtol=1e-15)
    assert_allclose(poisson.logsf(1e4, 10.0), mp_logpmf(1e4 + 1, 10.0), rtol=1e-3)
    # a moderately far tail: the leading-order tail sum, relative error O(mu / (mu - k)^2)
    k = 1e4 - 45 * 100
    with mp.workdps(40):
        ref = float(mp.log(mp.gammainc(k + 1, 1e4, mp.inf, regularized=True)))
    assert_allclose(poisson.logcdf(k, 1e4), ref, rtol=1e-6)
    assert_allclose(poisson.logcdf(10, 100.0), math.log(mp_cdf(10, 100.0)), rtol=1e-13)


@pytest.mark.parametrize("mu", [0.5, 30.0, 999.0, 3000.0])
def test_entropy_matches_sum(mu):
    k = np.arange(int(mu + 40 * math.sqrt(mu) + 60))
    p = stats.poisson.pmf(k, mu)
    assert_allclose(poisson.entropy(mu), -np.sum(special.xlogy(p, p)), rtol=1e-12)
    # continuous across the switch between the sum and the asymptotic series
    assert_allclose(poisson.entropy(1000.0 + 1e-9), poisson.entropy(1000.0), rtol=1e-12)


def test_rvs_mean_for_a_huge_rate():
    x = poisson(1e15).rvs(size=2000, random_state=np.random.default_rng(0))
    assert abs(x.mean() - 1e15) < 5 * math.sqrt(1e15 / 2000)


# ---------------------------------------------------------------------------------------------
# Poisson CRPS


def test_bessel_sum_is_continuous_at_the_switch_and_matches_mpmath():
    for x in [
        1.0,
        1e3,
        _BESSEL_ASYMPTOTIC_X * (1 - 1e-12),
        _BESSEL_ASYMPTOTIC_X * (1 + 1e-12),
        1e8,
        2e10,
        2e15,
        1e300,
    ]:
        with mp.workdps(40):
            ref = float((mp.besseli(0, x) + mp.besseli(1, x)) * mp.exp(-x))
        assert_allclose(_ive01_sum(np.float64(x)), ref, rtol=2e-15)


@pytest.mark.parametrize("mu", [1e-300, 1e-5, 0.7, 16.0, 250.0, 4.99e5, 5.01e5, 1e8])
def test_crps_poisson_matches_mpmath(mu):
    sd = math.sqrt(mu)
    for y in sorted(
        {0.0, math.floor(mu), math.floor(mu + 2 * sd), max(math.floor(mu - 2 * sd), 0)}
    ):
        ref = mp_crps_poisson(y, mu)
        assert_allclose(crps_poisson(y, mu), ref, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("mu", [1e10, 1e12, 1e15])
def test_crps_poisson_large_means(mu):
    sd = math.sqrt(mu)
    for y in [math.floor(mu), math.floor(mu + 1.5 * sd), math.floor(mu - 3 * sd)]:
        # 50-digit closed form with scipy's (accurate) regularised gamma for F
        ref = mp_crps_poisson(y, mu, cdf=special.gammaincc(y + 1.0, mu))
        got = crps_poisson(y, mu)
        assert np.isfinite(got)
        assert_allclose(got, ref, rtol=1e-8)
        # and the Poisson is nearly normal: CRPS within O(1) of the normal one
        assert abs(got - crps_normal(y + 0.5, mu, sd)) < 1.0
    assert np.all(np.isfinite(crps_poisson([0.0, 1e300], mu)))


def test_crps_poisson_matches_direct_sum_at_moderate_mean():
    mu = 2e4
    k = np.arange(0, int(mu + 60 * math.sqrt(mu)))
    F = stats.poisson.cdf(k, mu)
    for y in [19850.0, 20000.0, 20321.0]:
        direct = math.fsum((F - (y <= k)) ** 2)
        assert_allclose(crps_poisson(y, mu), direct, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Student-t CRPS


def integral_crps(dist, y):
    def f(x):
        return (dist.cdf(x) - (y <= x)) ** 2

    kw = dict(epsabs=1e-13, epsrel=1e-12, limit=500)
    return integrate.quad(f, -np.inf, y, **kw)[0] + integrate.quad(f, y, np.inf, **kw)[0]


@pytest.mark.parametrize("df", [1.2, 2.0, 3.0, 7.5, 40.0, 1e6])
@pytest.mark.parametrize("y", [-6.0, 0.0, 0.3, 2.5])
def test_crps_t_matches_integral(df, y):
    dist = stats.t(df, loc=0.3, scale=2.0)
    assert_allclose(crps_t(y, df, 0.3, 2.0), integral_crps(dist, y), rtol=1e-9)


def test_crps_t_limits_and_invalid():
    # to the normal as df -> inf, and for huge |z| the absolute error
    assert_allclose(crps_t([0.0, 1.0, -3.0], 1e12), crps_normal([0.0, 1.0, -3.0]), rtol=1e-10)
    assert_allclose(crps_t([0.0, 1.0], 1e300), crps_normal([0.0, 1.0]), rtol=1e-14)
    assert crps_t(1e300, 3.0) == 1e300
    assert_array_equal(crps_t(1.0, [1.0, 0.5]), [np.inf, np.inf])
    assert np.isnan(crps_t(1.0, np.nan)) and np.isnan(crps_t(1.0, 3.0, scale=0.0))
    assert_allclose(crps_t(2.0, 5.0, 1.0, 3.0), 3.0 * crps_t(1.0 / 3.0, 5.0), rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# extremes: finite answers, no warnings (the fixture turns warnings into errors)

EXTREME = [
    (1e300, 0.0, 1.0),
    (-1e300, 0.0, 1e-300),
    (1e300, -1e300, 1e-300),
    (0.0, 0.0, 1e300),
    (1.0, 0.0, 1e-300),
    (1e-300, 0.0, 1e-300),
    (1e300, 1e300, 1e300),
]


@pytest.mark.parametrize(("y", "loc", "scale"), EXTREME)
def test_crps_at_extreme_arguments(y, loc, scale):
    r = abs(y - loc)
    for f, args in [
        (crps_normal, ()),
        (crps_laplace, ()),
        (crps_t, (3.0,)),
        (crps_huber, (1.345,)),
    ]:
        v = f(y, *args, loc, scale)
        assert np.isfinite(v) and v >= 0
        # between |y - loc| - E|X - loc| and |y - loc| + scale: |y - loc| to 1e-12 when far
        if r / scale > 1e12:
            assert_allclose(v, r, rtol=1e-12)


@pytest.mark.parametrize(
    ("x", "scale"),
    [(1e300, 1.0), (-1e300, 1e-300), (1.0, 1e-300), (1e300, 1e300), (-1e-300, 1e-300)],
)
def test_huber_methods_at_extreme_arguments(x, scale):
    d = huber(1.345, 0.0, scale)
    cdf, sf = d.cdf(x), d.sf(x)
    assert 0 <= cdf <= 1 and 0 <= sf <= 1 and np.isfinite(d.pdf(x))
    assert not np.isnan(d.logpdf(x)) and not np.isnan(d.logcdf(x)) and not np.isnan(d.logsf(x))
    for q in [1e-300, 0.3, 0.5, 1 - 1e-16]:
        assert np.isfinite(d.ppf(q)) and np.isfinite(d.isf(q))


def test_overdispersed_counts_warn():
    """A Poisson fit to overdispersed counts (NB2, dispersion 0.5: Pearson dispersion 1.8-2.6)
    gave 90% intervals that held 0.73 of new counts, silently. It warns (the Pearson
    dispersion, 1 under the model, above 1.5 and four standard deviations off), and hardly
    ever on Poisson counts (1 alarm in 2 240 fits, means from e^-4 to e^2, n = 30 to 5000)."""
    from sklik import LinearRegressor, OverdispersionWarning

    rng = np.random.default_rng(0)
    for n in (100, 1000, 20_000):
        X = rng.normal(size=(n, 5))
        mu = np.exp(1 + X @ [0.3, 0.2, 0.1, 0.0, 0.0])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            LinearRegressor("poisson_nll").fit(X, rng.poisson(mu))
            # (weights scale each row's single draw: their variance, 8 alarms in 300 before)
            weights = rng.lognormal(0.0, 2.5, size=n)
            LinearRegressor("poisson_nll").fit(X, rng.poisson(mu), sample_weight=weights)
        counts = stats.nbinom(2.0, 1 / (1 + 0.5 * mu)).rvs(random_state=rng)
        with pytest.warns(OverdispersionWarning, match="overdispersed") as record:
            LinearRegressor("poisson_nll").fit(X, counts)
        assert 1.5 < record[0].message.dispersion < 3.0
