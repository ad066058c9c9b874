"""sklik.distributions: the Huber distribution and the closed-form CRPS functions."""

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import integrate, special, stats

from sklik.distributions import (
    crps_huber,
    crps_laplace,
    crps_nbinom,
    crps_normal,
    crps_poisson,
    huber,
    huber_normaliser,
    laplace,
    nbinom,
    poisson,
)

DELTAS = [0.1, 0.5, 1.0, 1.345, 3.0, 10.0]
each_delta = pytest.mark.parametrize("delta", DELTAS)


def rho(u, delta):
    a = np.abs(u)
    return np.where(a <= delta, 0.5 * a * a, delta * a - 0.5 * delta * delta)


def smooth_l1(u, beta):
    a = np.abs(u)
    return np.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)


def quad(f, a, b, kinks=()):
    """Integral of f over (a, b), split at the kinks inside, to near machine precision."""
    pts = [a] + sorted(k for k in kinks if a < k < b) + [b]
    return math.fsum(
        integrate.quad(f, lo, hi, epsabs=0.0, epsrel=1e-12, limit=500)[0]
        for lo, hi in zip(pts[:-1], pts[1:], strict=True)
    )


def mp_huber_cdf(x, delta, dps=50):
    """High-precision reference (cdf, log cdf) of the unit-scale Huber distribution (mpmath)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(dps):
        x, d = mp.mpf(x), mp.mpf(delta)
        z = mp.sqrt(2 * mp.pi) * mp.erf(d / mp.sqrt(2)) + 2 * mp.exp(-d * d / 2) / d

        def low(w):  # w <= 0
            if w <= -d:
                return mp.exp(d * w + d * d / 2) / (d * z)
            return (mp.exp(-d * d / 2) / d + mp.sqrt(2 * mp.pi) * (mp.ncdf(w) - mp.ncdf(-d))) / z

        if x <= 0:
            cdf = low(x)
            return float(cdf), (float(mp.log(cdf)) if cdf > 0 else -np.inf)
        return float(1 - low(-x)), float(mp.log1p(-low(-x)))


# ---------------------------------------------------------------------------------------------
# the Huber distribution


def test_name_and_signature():
    assert huber.name == "huber"
    assert huber.shapes == "delta"
    assert huber(1.0).dist.name == "huber"
    assert "huber" in repr(huber)


@each_delta
def test_pdf_integrates_to_one(delta):
    total = quad(lambda x: huber.pdf(x, delta), -np.inf, np.inf, kinks=(-delta, 0.0, delta))
    assert_allclose(total, 1.0, rtol=1e-12)


@each_delta
def test_cdf_is_integral_of_pdf(delta):
    xs = np.concatenate([np.linspace(-3 * delta - 4, 3 * delta + 4, 23), [-delta, delta, 0.0]])
    for x in xs:
        below = quad(lambda t: huber.pdf(t, delta), -np.inf, x, kinks=(-delta, 0.0, delta))
        above = quad(lambda t: huber.pdf(t, delta), x, np.inf, kinks=(-delta, 0.0, delta))
        assert_allclose(huber.cdf(x, delta), below, rtol=1e-11, atol=1e-300)
        assert_allclose(huber.sf(x, delta), above, rtol=1e-11, atol=1e-300)


@each_delta
def test_cdf_matches_high_precision_reference(delta):
    xs = [-40.0, -12.0, -delta - 0.5, -delta, -delta + 1e-3, -1.0, -0.3, -1e-6, 0.0, 0.7, 25.0]
    for x in xs:
        ref, log_ref = mp_huber_cdf(x, delta)
        assert_allclose(huber.cdf(x, delta), ref, rtol=1e-13, atol=1e-300)
        assert_allclose(huber.sf(-x, delta), ref, rtol=1e-13, atol=1e-300)
        assert_allclose(huber.logcdf(x, delta), log_ref, rtol=1e-13)
        assert_allclose(huber.logsf(-x, delta), log_ref, rtol=1e-13)


@each_delta
def test_ppf_cdf_roundtrip(delta):
    # lower half and moderate upper values through cdf/ppf; the far upper tail through sf/isf
    xs = np.array([-40.0, -20.0, -7.5, -delta - 0.1, -delta, -delta + 0.1, -1.3, -0.4, -0.01])
    xs = np.concatenate([xs, [0.01, 0.4, 1.3]])
    assert_allclose(huber.ppf(huber.cdf(xs, delta), delta), xs, rtol=1e-12)
    xs_up = np.abs(np.concatenate([xs, [delta, 3 * delta]]))
    assert_allclose(huber.isf(huber.sf(xs_up, delta), delta), xs_up, rtol=1e-12)
    assert huber.ppf(huber.cdf(0.0, delta), delta) == 0.0

    qs = np.array([1e-300, 1e-100, 1e-12, 1e-6, 0.01, 0.1, 0.25, 0.3, 0.4999, 0.5, 0.6, 0.9])
    assert_allclose(huber.cdf(huber.ppf(qs, delta), delta), qs, rtol=1e-12)
    assert_allclose(huber.sf(huber.isf(qs, delta), delta), qs, rtol=1e-12)
    assert_allclose(huber.isf(qs, delta), -huber.ppf(qs, delta), rtol=1e-15)
    assert_allclose(huber.ppf(1 - 1e-12, delta), huber.isf(1e-12, delta), rtol=1e-4)


@each_delta
def test_ppf_boundaries_and_monotone(delta):
    assert huber.ppf(0.0, delta) == -np.inf
    assert huber.ppf(1.0, delta) == np.inf
    assert huber.ppf(0.5, delta) == 0.0
    q = np.linspace(1e-9, 1 - 1e-9, 4001)
    assert np.all(np.diff(huber.ppf(q, delta)) > 0)
    x = np.linspace(-30, 30, 4001)
    assert np.all(np.diff(huber.cdf(x, delta)) >= 0)
    assert np.all(np.diff(huber.pdf(x[x > 0], delta)) <= 0)


@each_delta
def test_logpdf_and_normaliser(delta):
    x = np.linspace(-20, 20, 81)
    assert_allclose(huber.logpdf(x, delta), np.log(huber.pdf(x, delta)), rtol=1e-13)
    # the negative log-likelihood is the Huber function plus the constant log Z(delta)
    assert_allclose(
        -huber.logpdf(x, delta) - rho(x, delta), np.log(huber_normaliser(delta)), rtol=1e-13
    )
    far = np.array([-1e6, -1e4, 1e4, 1e6])
    lp = huber.logpdf(far, delta)
    assert np.all(np.isfinite(lp))
    assert_allclose(lp, -rho(far, delta) - np.log(huber_normaliser(delta)), rtol=1e-15)
    assert np.all(np.isfinite(huber.logcdf(-far[2:], delta)))
    assert np.all(np.isfinite(huber.logsf(far[2:], delta)))


def test_normaliser_closed_form_and_limits():
    d = np.array(DELTAS)
    numeric = [quad(lambda u, dd=dd: np.exp(-rho(u, dd)), -np.inf, np.inf, (-dd, dd)) for dd in d]
    assert_allclose(huber_normaliser(d), numeric, rtol=1e-12)
    assert_allclose(huber_normaliser(60.0), math.sqrt(2 * math.pi), rtol=1e-15)
    assert_allclose(huber_normaliser(1e-8), 2e8, rtol=1e-7)
    assert np.isnan(huber_normaliser(0.0)) and np.isnan(huber_normaliser(-1.0))
    assert huber_normaliser([[1.0, 2.0]]).shape == (1, 2)


@each_delta
def test_moments_match_numeric_integration(delta):
    pdf = lambda x: huber.pdf(x, delta)  # noqa: E731
    m2 = 2 * quad(lambda x: x * x * pdf(x), 0.0, np.inf, (delta,))
    m4 = 2 * quad(lambda x: x**4 * pdf(x), 0.0, np.inf, (delta,))
    mean, var, skew, kurt = huber.stats(delta, moments="mvsk")
    assert mean == 0.0 and skew == 0.0
    assert_allclose(var, m2, rtol=1e-12)
    assert_allclose(huber.var(delta), m2, rtol=1e-12)
    assert_allclose(huber.std(delta), math.sqrt(m2), rtol=1e-12)
    assert_allclose(kurt + 3.0, m4 / m2**2, rtol=1e-12)
    assert kurt > 0
    if delta <= 3:  # where the excess is well resolved by the numeric moments
        assert_allclose(kurt, m4 / m2**2 - 3.0, rtol=1e-9)
    ent = -2 * quad(lambda x: pdf(x) * huber.logpdf(x, delta), 0.0, np.inf, (delta,))
    assert_allclose(huber.entropy(delta), ent, rtol=1e-12)
    assert_allclose(huber.entropy(delta, scale=3.0), ent + math.log(3.0), rtol=1e-12)


def test_moment_limits():
    # delta -> 0 with scale delta: standard Laplace (variance 2, excess kurtosis 3)
    d = 1e-6
    m, v, s, k = huber.stats(d, scale=d, moments="mvsk")
    assert_allclose([v, k], [2.0, 3.0], rtol=1e-5)
    for d in [40.0, 1e3, 1e200]:
        m, v, s, k = huber.stats(d, moments="mvsk")
        assert (m, v, s, k) == (0.0, 1.0, 0.0, 0.0)
    assert_allclose(huber.entropy(1e3), stats.norm.entropy(), rtol=1e-15)


@pytest.mark.parametrize("delta", [12.0, 40.0, 1e3])
def test_large_delta_is_normal(delta):
    x = np.linspace(-8, 8, 161)
    assert_allclose(huber.pdf(x, delta), stats.norm.pdf(x), rtol=1e-13, atol=1e-300)
    assert_allclose(huber.cdf(x, delta), stats.norm.cdf(x), rtol=1e-12)
    assert_allclose(huber.logcdf(x, delta), stats.norm.logcdf(x), rtol=1e-12)
    q = np.array([1e-10, 1e-3, 0.1, 0.3, 0.5, 0.7, 0.999])
    assert_allclose(huber.ppf(q, delta), stats.norm.ppf(q), rtol=1e-10, atol=1e-15)


def test_approaches_normal_as_delta_grows():
    x = np.linspace(-4, 4, 41)
    errs = [np.max(np.abs(huber.cdf(x, d) - stats.norm.cdf(x))) for d in (1.0, 2.0, 4.0, 6.0)]
    assert all(a > b for a, b in zip(errs[:-1], errs[1:], strict=True))
    assert errs[-1] < 1e-8


def test_small_delta_is_laplace():
    d = 1e-7
    x = np.linspace(-5, 5, 21)
    frozen = huber(d, loc=0.5, scale=d)
    lap = stats.laplace(loc=0.5)
    assert_allclose(frozen.cdf(x), lap.cdf(x), rtol=1e-6)
    assert_allclose(frozen.ppf([0.01, 0.3, 0.9]), lap.ppf([0.01, 0.3, 0.9]), rtol=1e-6)


def test_frozen_vectorised_over_rows():
    rng = np.random.default_rng(0)
    loc = rng.normal(size=7) * 5
    scale = rng.uniform(0.1, 3.0, size=7)
    dist = huber(1.3, loc=loc, scale=scale)
    x = loc + scale * rng.normal(size=7) * 2
    for name in ["pdf", "logpdf", "cdf", "sf", "logcdf", "logsf"]:
        got = getattr(dist, name)(x)
        want = [
            getattr(huber, name)(xi, 1.3, loc=li, scale=si)
            for xi, li, si in zip(x, loc, scale, strict=True)
        ]
        assert got.shape == (7,)
        assert_allclose(got, want, rtol=1e-15)
    assert_allclose(dist.mean(), loc, rtol=0)
    assert_allclose(dist.std(), scale * huber.std(1.3), rtol=1e-15)
    assert_allclose(dist.var(), scale**2 * huber.var(1.3), rtol=1e-15)
    assert_allclose(dist.ppf(0.8), loc + scale * huber.ppf(0.8, 1.3), rtol=1e-14)
    lo, hi = dist.interval(0.9)
    assert_allclose(lo, dist.ppf(0.05), rtol=1e-15)
    assert_allclose(hi, dist.ppf(0.95), rtol=1e-15)
    assert_allclose(dist.cdf(hi) - dist.cdf(lo), 0.9, rtol=1e-13)
    draws = dist.rvs(size=(3, 7), random_state=1)
    assert draws.shape == (3, 7)
    assert_array_equal(draws, dist.rvs(size=(3, 7), random_state=1))
    # broadcasting a column of x against the rows, and array-valued delta
    assert dist.cdf(np.zeros((4, 1))).shape == (4, 7)
    deltas = np.array([0.2, 1.0, 5.0])
    assert_allclose(huber.cdf(0.7, deltas), [huber.cdf(0.7, d) for d in deltas], rtol=1e-15)
    assert_allclose(huber.var(deltas), [huber.var(d) for d in deltas], rtol=1e-15)


@pytest.mark.parametrize("delta", [0.3, 1.345, 5.0])
def test_rvs_moments(delta):
    n = 400_000
    dist = huber(delta, loc=2.0, scale=1.5)
    sample = dist.rvs(size=n, random_state=np.random.default_rng(12))
    _, var, _, kurt = dist.stats(moments="mvsk")
    assert abs(sample.mean() - 2.0) < 5 * math.sqrt(var / n)
    sd_var = var * math.sqrt((kurt + 2.0) / n)
    assert abs(sample.var() - var) < 5 * sd_var
    assert stats.kstest(sample, dist.cdf).pvalue > 1e-3


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_invalid_delta_gives_nan(bad):
    with np.errstate(invalid="ignore"):
        for value in [
            huber.pdf(0.1, bad),
            huber.logpdf(0.1, bad),
            huber.cdf(0.1, bad),
            huber.sf(0.1, bad),
            huber.ppf(0.3, bad),
            huber.isf(0.3, bad),
            huber.mean(bad),
            huber.var(bad),
            huber(bad, loc=1.0).std(),
        ]:
            assert np.isnan(value)
        mixed = huber.cdf(0.1, np.array([1.0, bad]))
        assert np.isfinite(mixed[0]) and np.isnan(mixed[1])


@pytest.mark.parametrize("delta", [1e-300, 1e-20, 1e-3, 37.0, 1e3, 1e300])
def test_extreme_delta_is_quiet_and_sane(delta):
    x = np.array([-np.inf, -1e300, -1e10, -50.0, -1.0, 0.0, 1.0, 50.0, 1e10, 1e300, np.inf])
    q = np.array([0.0, 5e-324, 1e-300, 1e-12, 0.3, 0.5, 0.7, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cdf = huber.cdf(x, delta)
        logcdf = huber.logcdf(x, delta)
        ppf = huber.ppf(q, delta)
        logpdf = huber.logpdf(x[1:-1], delta)
        _, var, _, kurt = huber.stats(delta, moments="mvsk")
        crps = crps_huber([0.0, 1.0, -1e10, np.inf], delta)
    # monotone up to rounding (for delta = 1e-300 the core is narrower than an ulp of 0.5)
    assert np.all(np.diff(cdf) >= -2e-16) and cdf[0] == 0.0 and cdf[-1] == 1.0 and cdf[5] == 0.5
    assert np.all(logcdf[1:] >= logcdf[:-1] - 1e-15) and logcdf[5] == math.log(0.5)
    assert np.all(np.diff(ppf) > 0) and ppf[5] == 0.0
    assert not np.any(np.isnan(logpdf)) and np.all(logpdf <= logpdf[4])
    assert var > 0 and 0 <= kurt <= 3
    assert np.all(crps > 0) and crps[-1] == np.inf


def test_crps_edge_values_are_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_array_equal(crps_normal([np.inf, -1e300], 0.0, 1.0), [np.inf, 1e300])
        assert_array_equal(crps_laplace([np.inf, -1e300], 0.0, 1.0), [np.inf, 1e300])
        pois = crps_poisson([np.inf, -np.inf, 3.0, 3.0, np.nan], [2.0, 2.0, np.inf, -1.0, 2.0])
    assert_array_equal(pois[:2], [np.inf, np.inf])
    assert np.all(np.isnan(pois[2:]))
    assert_allclose(crps_poisson(1e6, 1e6), crps_normal(1e6, 1e6, 1e3), rtol=1e-3)


@pytest.mark.parametrize("beta", [0.3, 1.0, 2.5])
def test_smooth_l1_is_huber_family(beta):
    root = math.sqrt(beta)
    u = np.linspace(-6, 6, 241)
    diff = -huber.logpdf(u, root, scale=root) - smooth_l1(u, beta)
    assert_allclose(diff, diff[0], rtol=1e-13)
    assert_allclose(diff[0], math.log(root * huber_normaliser(root)), rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# CRPS


def crps_numeric(cdf, y, kinks=()):
    """int (F(x) - 1{y <= x})^2 dx by quadrature, split at y and the kinks of F."""
    below = quad(lambda x: cdf(x) ** 2, -np.inf, y, kinks)
    above = quad(lambda x: (1.0 - cdf(x)) ** 2, y, np.inf, kinks)
    return below + above


LOC_SCALE_Y = [
    (0.0, 1.0, 0.0),
    (0.0, 1.0, 0.37),
    (1.5, 0.4, -2.0),
    (-3.0, 2.5, 9.0),
    (10.0, 0.01, 10.003),
    (0.0, 3.0, -40.0),
    (2.0, 1.0, 2.0 + 1e-7),
]


@pytest.mark.parametrize(("loc", "scale", "y"), LOC_SCALE_Y)
def test_crps_normal_matches_integral(loc, scale, y):
    want = crps_numeric(lambda x: stats.norm.cdf(x, loc, scale), y, (loc,))
    assert_allclose(crps_normal(y, loc, scale), want, rtol=1e-8)


@pytest.mark.parametrize(("loc", "scale", "y"), LOC_SCALE_Y)
def test_crps_laplace_matches_integral(loc, scale, y):
    want = crps_numeric(lambda x: stats.laplace.cdf(x, loc, scale), y, (loc,))
    assert_allclose(crps_laplace(y, loc, scale), want, rtol=1e-8)


@pytest.mark.parametrize("delta", [0.05, *DELTAS, 25.0])
@pytest.mark.parametrize(("loc", "scale", "y"), LOC_SCALE_Y)
def test_crps_huber_matches_integral(delta, loc, scale, y):
    kinks = (loc - delta * scale, loc, loc + delta * scale)
    want = crps_numeric(lambda x: huber.cdf(x, delta, loc, scale), y, kinks)
    assert_allclose(crps_huber(y, delta, loc, scale), want, rtol=1e-8)


def poisson_crps_numeric(y, mu):
    """Exact sum over the unit intervals on which the Poisson cdf is constant."""
    top = int(mu + 40 * math.sqrt(mu) + 60)
    grid = np.union1d(np.arange(0, top + 1, dtype=float), [y])
    grid = grid[grid >= min(y, 0.0)]
    left, width = grid[:-1], np.diff(grid)
    integrand = (stats.poisson.cdf(left, mu) - (left >= y)) ** 2
    return math.fsum(integrand * width)


@pytest.mark.parametrize("mu", [0.0, 0.1, 1.0, 3.7, 25.0, 400.0])
@pytest.mark.parametrize("y", [0, 1, 2, 4, 7, 30, 410, 2.5, -1.5])
def test_crps_poisson_matches_sum(y, mu):
    assert_allclose(crps_poisson(y, mu), poisson_crps_numeric(y, mu), rtol=1e-8, atol=1e-300)


def test_crps_poisson_special_values():
    assert_allclose(crps_poisson([0.0, 3.0, -2.0], 0.0), [0.0, 3.0, 2.0], rtol=1e-15)
    assert np.isnan(crps_poisson(1.0, -0.5))
    # continuity in y across the integers
    for k in [0, 1, 3, 8]:
        lo, hi = crps_poisson([k - 1e-9, k + 1e-9], 2.7)
        assert abs(hi - lo) < 1e-8


def test_crps_poisson_up_to_the_largest_mean():
    """Means above 9e307 (2 mu overflows) had a nan score with RuntimeWarnings: every
    saturated Poisson row. At y = mu the score is sqrt(mu) (2 phi(0) - 1 / sqrt(pi)), the
    normal limit, on both sides of the asymptotic form's switch at 1e300."""
    mu = np.array([1e299, 1e300, 1.0000001e300, 1e307, 1e308, np.finfo(float).max])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_allclose(crps_poisson(1.0, mu), mu, rtol=1e-12)
        normal = np.sqrt(mu[:4]) * (2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi))
        assert_allclose(crps_poisson(mu[:4], mu[:4]), normal, rtol=1e-9)


def test_crps_normal_known_value():
    phi0 = 1 / math.sqrt(2 * math.pi)
    for s in [0.5, 1.0, 7.0]:
        assert_allclose(
            crps_normal(3.0, 3.0, s), s * (2 * phi0 - 1 / math.sqrt(math.pi)), rtol=1e-15
        )
    assert_allclose(crps_laplace(1.0, 1.0, 2.0), 0.5, rtol=1e-15)


def test_crps_huber_limits():
    y = np.linspace(-6, 6, 25)
    assert_allclose(crps_huber(y, 40.0, 0.3, 1.7), crps_normal(y, 0.3, 1.7), rtol=1e-13)
    d = 1e-6
    assert_allclose(crps_huber(y, d, 0.3, 1.7 * d), crps_laplace(y, 0.3, 1.7), rtol=1e-5)


def test_crps_nonnegative_and_point_limit():
    rng = np.random.default_rng(3)
    y = rng.normal(size=500) * rng.choice([0.01, 1.0, 100.0], size=500)
    loc = rng.normal(size=500)
    scale = rng.uniform(1e-3, 10.0, size=500)
    for vals in [
        crps_normal(y, loc, scale),
        crps_laplace(y, loc, scale),
        crps_huber(y, 1.345, loc, scale),
        crps_huber(y, 0.2, loc, scale),
        crps_poisson(np.round(np.abs(y)), np.abs(loc)),
    ]:
        assert np.all(vals >= 0)
    # a tiny scale leaves the absolute error
    assert_allclose(crps_huber(y, 1.0, loc, 1e-12), np.abs(y - loc), rtol=1e-9, atol=1e-11)
    assert_allclose(crps_normal(y, loc, 1e-12), np.abs(y - loc), rtol=1e-9, atol=1e-11)


def test_crps_broadcasting_and_invalid():
    y = np.arange(6.0).reshape(3, 2, 1)
    out = crps_huber(y, np.array([0.5, 2.0, 4.0]), 1.0, 2.0)
    assert isinstance(out, np.ndarray) and out.shape == (3, 2, 3)
    assert_allclose(out[2, 1, 1], crps_huber(5.0, 2.0, 1.0, 2.0), rtol=1e-15)
    for f in (crps_normal, crps_laplace):
        assert f(np.zeros((2, 1)), np.zeros(3), 1.0).shape == (2, 3)
        assert isinstance(f(0.0, 0.0, 1.0), np.ndarray)
        assert np.all(np.isnan(f([0.0, 1.0], 0.0, [0.0, -1.0])))
    assert crps_poisson(np.arange(4)[:, None], [1.0, 2.0]).shape == (4, 2)
    bad = crps_huber(0.0, [1.0, 0.0, -1.0, np.inf, 1.0], 0.0, [1.0, 1.0, 1.0, 1.0, 0.0])
    assert np.isfinite(bad[0]) and np.all(np.isnan(bad[1:]))


@pytest.mark.parametrize("delta", [0.5, 1.345])
def test_crps_huber_is_proper(delta):
    # Expected score under the true huber(delta, 0, 1) is smallest at the true parameters.
    def expected(d, loc, scale):
        f = lambda y: crps_huber(y, d, loc, scale) * huber.pdf(y, delta)  # noqa: E731
        return quad(f, -np.inf, np.inf, (-delta, 0.0, delta, loc))

    best = expected(delta, 0.0, 1.0)
    # the minimum expected score is half the mean absolute difference, E|X - X'| / 2
    half_mad = quad(
        lambda x: huber.cdf(x, delta) * huber.sf(x, delta), -np.inf, np.inf, (-delta, delta)
    )
    assert_allclose(best, half_mad, rtol=1e-9)
    for other in [(delta, 0.2, 1.0), (delta, 0.0, 1.3), (delta, 0.0, 0.8), (2 * delta, 0, 1)]:
        assert expected(*other) > best


# -- the negative binomial ---------------------------------------------------------------------


def _nbinom_logpmf_mp(k, n, t):
    """log f(k) of nbinom(n, p = 1 / (1 + t)) at 50 digits (mpmath)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    k, n, t = mp.mpf(k), mp.mpf(n), mp.mpf(t)
    return float(
        mp.loggamma(k + n)
        - mp.loggamma(n)
        - mp.loggamma(k + 1)
        - (n + k) * mp.log1p(t)
        + k * mp.log(t)
    )


@pytest.mark.parametrize(
    ("n", "t"), [(2.0, 1.5), (50.0, 0.1), (3e7, 1e-7), (1e10, 3e-10), (0.3, 10.0)]
)
def test_nbinom_logpmf_is_accurate_for_every_n(n, t):
    """sklik's nbinom equals a 50-digit reference to 1e-12 relative (1e-13 nats absolute),
    also at n = 1e10, where SciPy's cancelling log-gamma difference is off by 1e-3 nats or
    gives -inf."""
    p = 1.0 / (1.0 + t)
    t_stored = (1.0 - p) / p  # what the parameterisation by p carries
    for k in (0, 1, 3, 17, 250):
        ref = _nbinom_logpmf_mp(k, n, t_stored)
        got = float(nbinom.logpmf(k, n, p))
        assert got == pytest.approx(ref, rel=1e-12, abs=1e-13), (k, got, ref)
        assert float(nbinom.pmf(k, n, p)) == pytest.approx(np.exp(ref), rel=1e-12)
    # the rest is scipy's, and the family keeps scipy's name and shapes (for the scorers)
    assert nbinom.name == "nbinom" and nbinom.shapes == "n, p"
    assert nbinom.mean(n, p) == pytest.approx(stats.nbinom.mean(n, p), rel=1e-12)


def test_negative_binomial_distribution_in_the_poisson_limit():
    """A negative binomial fit whose dispersion tends to 0 (counts no more spread than
    Poisson's; found by the fuzz suite's deep profile: log dispersion -46): its
    distribution is the Poisson limit to 1e-7, where scipy's rounded p = 1 gave a
    log-likelihood of -inf."""
    from sklik.losses import NegativeBinomialNLLLoss

    loss = NegativeBinomialNLLLoss()
    mu = np.array([0.5, 3.0, 40.0, 2e4])
    for kappa in (-46.4, -300.0):
        raw = np.stack([np.log(mu), np.full(mu.shape, kappa)])
        dist = loss.predictive_distribution(raw)
        k = np.round(mu) + 1.0
        assert_allclose(dist.logpmf(k), stats.poisson.logpmf(k, mu), rtol=1e-7, atol=1e-7)
        assert_allclose(dist.cdf(k), stats.poisson.cdf(k, mu), rtol=1e-6, atol=1e-9)
        assert_allclose(dist.mean(), mu, rtol=1e-7)
        assert_allclose(dist.std(), np.sqrt(mu), rtol=1e-7)
        # the loss, in (log mean, log dispersion), reaches the limit itself
        assert_allclose(-loss.raw_loss(k, raw), stats.poisson.logpmf(k, mu), rtol=1e-9)


def test_poisson_moments_at_a_subnormal_rate_do_not_warn():
    """A Poisson fit whose rate underflows on a row (zero counts, no penalty) predicted a
    std with a RuntimeWarning: the excess kurtosis 1/mu overflowed (found by the fuzz suite's
    deep profile). It is inf, as at mu = 0."""
    mu = np.array([5e-324, 1e-310, 1e-300, 2.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, var, skew, kurt = poisson(mu=mu).stats(moments="mvsk")
        std = poisson(mu=mu).std()
    assert_array_equal(mean, mu)
    assert_allclose(std, np.sqrt(mu), rtol=1e-15)
    assert np.isinf(kurt[0]) and np.isinf(kurt[1]) and kurt[3] == 1 / 2.5


@pytest.mark.parametrize("log_mu", [14.5, 16, 39, 80, 160, 300])
@pytest.mark.parametrize("shape", ["gamma", "poisson"])
def test_nbinom_quantiles_of_huge_means_end_and_are_the_gamma_limit(log_mu, shape):
    """A prediction far outside the training features can have a mean of 1e300: SciPy's
    quantile search aborted the process near the Poisson limit from about 1e15.5 and did not
    terminate beyond 1e150. sklik's search is exact where the cdf is finite (checked on it)
    and the gamma limit beyond, without warnings."""
    mu = 10.0**log_mu
    n = 2.0 if shape == "gamma" else 1e8 * min(mu, 1e200)
    p = n / (n + mu)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = nbinom(n, p).interval(0.9)
        q95 = nbinom.isf(0.05, n, p)
    # (n, p) carries the mean to 1e-16 n, which is what the quantiles are of
    a, scale = n * (1 - p), 1 / p
    assert q95 == pytest.approx(high, rel=1e-12)
    assert 0 < low <= high * (1 + 1e-15)  # (equal to rounding where sd < float spacing)
    limit = stats.gamma.ppf([0.05, 0.95], a, scale=scale)
    assert_allclose([low, high], limit if shape == "gamma" else a * scale, rtol=1e-6)
    if log_mu < 150:  # the cdf is finite: the smallest count whose cdf reaches 0.05
        cdf = special.betainc(n, np.array([low, low - max(1.0, 1e-15 * low)]) + 1.0, p)
        assert cdf[0] >= 0.05 > cdf[1] or low > 2**53


def test_nbinom_quantiles_are_scipys_below_the_search_mean():
    for mu in [3.0, 1e6, 0.99e14]:
        for n in [0.5, 2.0, 1e3, mu, 1e8 * mu]:
            p = n / (n + mu)
            # (above the median, SciPy's quantile of the other tail: see the next test)
            # (at the median a tie at rounding level may go to the count below: the smallest
            # count whose own cdf, or sf, meets q)
            q = np.array([1e-6, 0.05, 0.5 - 1e-9])
            assert_array_equal(nbinom.ppf(q, n, p), stats.nbinom.ppf(q, n, p))
            assert_array_equal(nbinom.isf(q, n, p), stats.nbinom.isf(q, n, p))
            upper = 1.0 - q  # (whose complement 1 - upper is exact)
            assert_array_equal(nbinom.ppf(upper, n, p), stats.nbinom.isf(1.0 - upper, n, p))
            assert_array_equal(nbinom.isf(upper, n, p), stats.nbinom.ppf(1.0 - upper, n, p))


@pytest.mark.parametrize("n", [1e-6, 1e-3, 0.5, 1e3])
@pytest.mark.parametrize("mu", [1e-3, 1.0, 1e6, 1e12])
def test_nbinom_quantiles_are_exact_on_either_tail(n, mu):
    """ppf above the median is the isf of 1 - q (on the tail that holds it): exact where
    SciPy's ppf is not, and it ends (SciPy's ppf(1 - 1e-16) at n = 1e-3, mean 1e6 never
    returned); both hold F(k) >= q > F(k - 1), by the survival function in the upper tail."""
    p = n / (n + mu)
    rel = 1.0 + 1e-9  # (the special functions' own accuracy at 1e19 counts)
    for q in [1e-300, 1e-16, 0.3, 0.7, 1 - 1e-13, 1 - 1e-16]:
        k = float(nbinom.ppf(q, n, p))
        if 1.0 - (1.0 - q) == q:  # 1 - q exact: the same quantile from the other side
            assert k == float(nbinom.isf(1.0 - q, n, p))
        if q > 0.5:  # S(k) <= 1 - q < S(k - 1)
            assert special.betaincc(n, k + 1.0, p) <= (1.0 - q) * rel
            assert k == 0 or special.betaincc(n, k, p) * rel > 1.0 - q
        else:
            assert special.betainc(n, k + 1.0, p) * rel >= q
            assert k == 0 or special.betainc(n, k, p) < q * rel


def test_crps_nbinom_window_equals_the_sum_over_the_whole_support():
    """The sum starts at the 1e-20 quantile: near the Poisson limit the window (about 19
    standard deviations) gives the score of the sum from 0."""
    from sklik.distributions import _crps_nbinom_sum

    n, mu = np.full(5, 1e3), np.full(5, 2e4)
    p = n / (n + mu)
    y = np.array([0.0, 1.9e4, 2e4, 2.3e4, 1e6])
    first = nbinom.ppf(1e-20, n, p).astype(np.int64)
    last = nbinom.isf(1e-20, n, p).astype(np.int64)
    assert np.all(first > 1e4) and np.all(last - first < 2e4)
    window = _crps_nbinom_sum(y, n, p, first, last)
    whole = _crps_nbinom_sum(y, n, p, np.zeros(5, dtype=np.int64), last)
    assert_allclose(window, whole, rtol=1e-13)
    assert_allclose(crps_nbinom(y, n, p), whole, rtol=1e-13)


def test_crps_nbinom_of_huge_means_is_its_gamma_limit():
    """Beyond a support of 1e6 counts the sum is replaced by the gamma limit: finite and
    immediate at a mean of 1e300 (the sum never ended), within 3e-5 of the sum just past the
    switch."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = crps_nbinom(1e300, np.array([0.5, 1e208]), np.array([0.5 / (0.5 + 1e300), 1.0]))
    assert np.isfinite(huge[0]) and 0 < huge[0] < 1e300
    # n = 1/2, a mean of 3e4: K = mean + 40 sd is past 1e6
    from sklik.distributions import _crps_gamma_limit, _crps_nbinom_sum

    n, mu = 0.5, 3e4
    p = n / (n + mu)
    y = np.array([0.0, 1e3, mu, 5 * mu])
    last = int(nbinom.isf(1e-20, n, p))
    assert last > 1e6
    zero = np.zeros(4, dtype=np.int64)
    exact = _crps_nbinom_sum(y, np.full(4, n), np.full(4, p), zero, np.full(4, last))
    assert_allclose(crps_nbinom(y, n, p), _crps_gamma_limit(y, np.full(4, n), np.full(4, p)))
    assert_allclose(crps_nbinom(y, n, p), exact, rtol=3e-5)


def _nbinom_logpmf_mp_exact(k, n, p):
    """log f(k) of nbinom(n, p) for the float arguments as given, at 360 digits (mpmath;
    log Gamma(1e300) needs about 300 digits to resolve O(1) differences)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(360):
        k, n, p = mp.mpf(k), mp.mpf(n), mp.mpf(p)
        out = n * mp.log(p)
        if k > 0:
            out += mp.loggamma(k + n) - mp.loggamma(n) - mp.loggamma(k + 1) + k * mp.log1p(-p)
        return float(out)


@pytest.mark.parametrize("n", [1e-3, 0.5, 1.95, 9.9, 50.0])
@pytest.mark.parametrize("log_mu", [12, 16, 50, 160, 300])
def test_nbinom_logpmf_of_huge_means_is_accurate(n, log_mu):
    """A prediction far outside the training features can have a mean of 1e300. The
    log-gamma difference of the pmf cancelled against the k log k terms for a large count:
    at a mean of 1e12 with n = 1.95 it was off by 6e-3 nats, at 1e18 it was 0 and from 1e160
    positive (a probability above 1). Now within 1e-13 of the exact value (relative, or
    absolute near 0) at the median, far in both tails and at 0, without warnings."""
    mu = 10.0**log_mu
    p = n / (n + mu)
    m = n * (1.0 - p) / p  # the mean that (n, p) carries
    ks = [0.0, 1.0, 17.0] + [float(np.floor(f * m)) for f in (1e-3, 0.5, 0.83, 1.0, 3.0, 40.0)]
    _assert_nbinom_logpmf_exact(ks, n, p)


def _assert_nbinom_logpmf_exact(ks, n, p):
    """nbinom.logpmf at ``ks`` within 1e-13 of mpmath's, without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = nbinom.logpmf(ks, n, p)
    for k, value in zip(ks, got, strict=True):
        ref = _nbinom_logpmf_mp_exact(k, n, p)
        assert value == pytest.approx(ref, rel=1e-13, abs=1e-13), (k, value, ref)


@pytest.mark.parametrize("log_mu", [0, 6, 12, 16, 30])
def test_nbinom_logpmf_near_the_poisson_limit_of_large_means(log_mu):
    """n = 1e8 mu, the smallest dispersion the negative binomial loss keeps: kp and
    n(1 - p) are then both about n and their difference is summed without rounding."""
    mu = 10.0**log_mu
    n = 1e8 * mu
    p = n / (n + mu)
    m = n * (1.0 - p) / p
    sd = math.sqrt(m)
    ks = sorted(
        {0.0, 1.0, *(max(float(np.floor(m + z * sd)), 0.0) for z in (-5, -1, 0, 0.5, 3, 20))}
    )
    _assert_nbinom_logpmf_exact(ks, n, p)


@pytest.mark.parametrize("log_mu", [140, 160, 200, 300, 307])
def test_nbinom_std_and_cdf_of_huge_means_are_finite(log_mu):
    """From a mean of about 1e155 (n = 1.95) SciPy's std was inf (the root of an
    overflowing variance), its cdf, sf and their logs nan, and at 1e307 the log pmf warned
    of an overflow. std is sqrt(n(1 - p))/p, the cdf the gamma limit
    P(n, (k + 1 + (n - 1)/2)(-log(1 - p))) of the incomplete beta function."""
    n = 1.95
    mu = 10.0**log_mu
    p = n / (n + mu)
    k = np.floor(np.array([1e-3, 0.5, 0.8, 1.0, 3.0]) * mu)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = nbinom(n, p)
        std, cdf, sf = dist.std(), dist.cdf(k), dist.sf(k)
        logcdf, logsf, logpmf = dist.logcdf(k), dist.logsf(k), dist.logpmf(k)
        median = dist.median()
    assert std == pytest.approx(math.sqrt(n * (1 - p)) / p, rel=1e-15)
    limit = special.gammainc(n, (k + 1 + (n - 1) / 2) * -np.log1p(-p))
    assert_allclose(cdf, limit, rtol=1e-14)
    assert_allclose(sf, 1.0 - limit, rtol=1e-14)
    assert_allclose(logcdf, np.log(limit), rtol=1e-14)
    assert_allclose(logsf, np.log1p(-limit), rtol=1e-14)
    assert np.all(np.isfinite(logpmf)) and np.all(logpmf < 0)
    # (the median is the gamma limit's, to within the float spacing of 1e144 counts)
    assert float(dist.cdf(median)) == pytest.approx(0.5, rel=1e-12)


def test_nbinom_cdf_is_accurate_where_scipys_incomplete_beta_is_not():
    """Where k + 1 exceeds 1e8 n the cdf is the gamma limit of I_p(n, k + 1), within 1e-15 of
    a 60-digit reference; SciPy's betainc is off by 7e-10 at n = 2, k = 3e8 (SciPy 1.17)."""
    mp = pytest.importorskip("mpmath")
    n, b = 2.0, 3e8
    p = n / b
    with mp.workdps(60):
        ref = float(mp.betainc(n, b, 0, p, regularized=True))
    assert float(nbinom.cdf(b - 1, n, p)) == pytest.approx(ref, rel=1e-15)
    assert float(nbinom.sf(b - 1, n, p)) == pytest.approx(1 - ref, rel=1e-15)


def test_nbinom_log_tails_do_not_underflow():
    """Where the cdf (sf) underflows, logcdf (logsf) is the log of the leading term of the
    tail sum: finite, and at k = 0 the exact n log p."""
    n, p = 400.0, 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(nbinom.logcdf(0, n, p)) == pytest.approx(n * math.log(p), rel=1e-15)
        low = nbinom.logcdf([3.0, 10.0], n, p)
        high = nbinom.logsf(1e6, 2.0, 0.5)
    assert np.all(np.isfinite(low)) and np.all(low < -1500)
    assert float(high) == pytest.approx(
        float(nbinom.logpmf(1e6 + 1, 2.0, 0.5)) + math.log(2), rel=1e-9
    )


# -- the Laplace distribution ------------------------------------------------------------------


def test_laplace_log_density_does_not_underflow():
    """The l1 loss's predictive distribution: SciPy's logpdf is log(pdf), -inf beyond about
    745 scale units, which made the log-likelihood of a finite outlier -inf."""
    scale = 0.7665513011525134
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = laplace.logpdf(1300 * scale + 2.0, loc=2.0, scale=scale)
        logcdf = laplace.logcdf([-1300.0, 1300.0])
        logsf = laplace.logsf([-1300.0, 1300.0])
    assert got == pytest.approx(-1300 - math.log(2 * scale), rel=1e-15)
    assert_allclose(logcdf, [-1300 - math.log(2), 0.0], rtol=1e-15, atol=1e-300)
    assert_allclose(logsf, [0.0, -1300 - math.log(2)], rtol=1e-15, atol=1e-300)


def test_laplace_is_scipys_elsewhere():
    loc, scale = np.array([-1.0, 0.5, 3.0]), np.array([0.2, 1.0, 4.0])
    ours, theirs = laplace(loc, scale), stats.laplace(loc, scale)
    x = np.array([-2.0, 0.7, 30.0])
    for method in ("pdf", "cdf", "sf", "logpdf", "logcdf", "logsf"):
        assert_allclose(getattr(ours, method)(x), getattr(theirs, method)(x), rtol=1e-14)
    q = [0.05, 0.5, 0.99]
    assert_allclose(ours.ppf(q), theirs.ppf(q), rtol=1e-15)
    assert_allclose(ours.isf(q), theirs.isf(q), rtol=1e-15)
    assert_array_equal(ours.rvs(random_state=3), theirs.rvs(random_state=3))
    assert_allclose(ours.entropy(), theirs.entropy(), rtol=1e-15)
    assert_allclose(ours.interval(0.9), theirs.interval(0.9), rtol=1e-15)
    assert_allclose(ours.stats("mvsk"), theirs.stats("mvsk"), rtol=1e-15)
    assert laplace.name == "laplace" and laplace.shapes is None


def test_poisson_interval_with_a_float_max_rate_among_others_does_not_warn():
    """A rate clipped at the largest float, searched together with an ordinary one, warned
    'overflow encountered in add' (the bisection midpoint (lo + hi) / 2)."""
    mu = np.array([np.finfo(np.float64).max, 2.86, 1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = poisson(mu).interval(0.9)
    assert_array_equal(low, [mu[0], 0.0, 1e300])
    assert_array_equal(high, [mu[0], 6.0, 1e300])


@pytest.mark.parametrize("n, mu", [(2.0, 50.0), (2.0, 1e3), (0.1, 3e3), (0.5, 1.2e4), (1e3, 1e7)])
def test_nbinom_entropy_is_the_sum_over_the_support(n, mu):
    """SciPy's generic entropy stops summing early: 3.02 against 7.79 at a mean of 1e3 with
    n = 2 (0.009 at 1e6), with a warning. sklik's sums its window exactly, then integrates
    the smooth rest: within 1e-9 of the brute-force sum over every count."""
    from sklik.distributions import _nb_logpmf

    p = n / (n + mu)
    last = float(nbinom.isf(1e-20, n, p))
    total = 0.0
    for start in range(0, int(last) + 1, 2_000_000):
        k = np.arange(start, min(start + 2_000_000, last + 1.0))
        logf = _nb_logpmf(k, np.full(k.shape, n), np.full(k.shape, p))
        f = np.exp(logf)
        total -= float(np.sum(np.where(f > 0, f * logf, 0.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(nbinom(n, p).entropy()) == pytest.approx(total, rel=1e-9)


def test_nbinom_entropy_of_huge_means_is_the_continuous_limit():
    """Beyond 2^53 counts: the gamma's differential entropy (the Poisson limit's normal one
    for a huge n), finite and without warnings up to a mean of 1e307."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = nbinom(1e300, 0.5).entropy()  # mean 1e300, variance 2e300
        assert float(h) == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 2e300), rel=1e-14)
        for n in (0.1, 2.0, 1e3):
            assert np.isfinite(nbinom(n, n / (n + 1e307)).entropy())


def test_quantile_search_over_orders_of_magnitude_reaches_the_integers():
    """A bracket from 0 to 1e110 (a heavy-tailed negative binomial of mean 1e55, shape 5e-111)
    is bisected in log k first: the 5% quantile is 0 (P(Y = 0) is 1 - 4e-108), where the
    arithmetic bisection's 90 steps stopped at 3e82; and a quantile in the tail is exact."""
    n, mu = 5e-111, 4.6e54
    p = n / (n + mu)
    assert nbinom.ppf(0.05, n, p) == 0 and nbinom.ppf(0.5, n, p) == 0
    k = float(nbinom.isf(1e-120, n, p))  # S(k) <= 1e-120 < S(k - 1)
    assert special.betaincc(n, k + 1.0, p) <= 1e-120 * (1 + 1e-9)
    assert special.betaincc(n, k, p) * (1 + 1e-9) > 1e-120


def test_count_quantiles_invert_their_cdf_and_sf_exactly():
    """ppf(cdf(k)) = k and isf(sf(k)) = k for every count of a grid whose tails are at least
    1e-6: a quantile found on the other tail (where 1 - q rounds) was one count high, for 24%
    of the Poissons' counts (and 43% of the negative binomials' with Boost's isf)."""
    for n in [0.5, 2.0, 10.0]:
        for mu in [0.5, 3.0, 20.0, 100.0]:
            p = n / (n + mu)
            k = np.arange(0.0, 3 * mu + 5)  # (tail probabilities down to about 1e-6)
            # (where a tail probability is 1 - 1e-6 or more, its complement is what rounds)
            k = k[(nbinom.sf(k, n, p) < 1 - 1e-6) & (nbinom.cdf(k, n, p) < 1 - 1e-6)]
            assert_array_equal(nbinom.ppf(nbinom.cdf(k, n, p), n, p), k)
            assert_array_equal(nbinom.isf(nbinom.sf(k, n, p), n, p), k)
    for mu in [0.5, 3.0, 20.0, 100.0, 1e4]:
        k = np.arange(max(0.0, np.floor(mu - 5 * mu**0.5)), np.ceil(mu + 5 * mu**0.5) + 5)
        k = k[(poisson.sf(k, mu) < 1 - 1e-6) & (poisson.cdf(k, mu) < 1 - 1e-6)]
        assert_array_equal(poisson.ppf(poisson.cdf(k, mu), mu), k)
        assert_array_equal(poisson.isf(poisson.sf(k, mu), mu), k)


def test_laplace_std_of_a_huge_scale_is_finite():
    """sqrt(2) scale where the variance 2 scale^2 overflows (an MLP's l1 residual scale on
    targets of 1e300 gave inf with an overflow warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert laplace(0.0, 1e300).std() == pytest.approx(np.sqrt(2.0) * 1e300, rel=1e-15)
        assert_allclose(laplace.std(scale=[1.0, 1e200]), np.sqrt(2.0) * np.array([1.0, 1e200]))
