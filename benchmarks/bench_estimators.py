"""Benchmark sklik's estimators against their scikit-learn and glum peers, single-threaded.

On the same generated data in one run, this fits sklik and its peer(s) and prints, for every
problem and sample size ``n``, the median fit time over ``--repeats`` fits, the time ratio
sklik/peer (<= 1: sklik is at least as fast) and the objective difference
``dJ = J(sklik) - J(peer)``, both solutions evaluated with numpy on sklik's documented
objective ``sum_i s_i l_i / sum_i s_i + alpha/2 ||W||^2`` (dJ > 0: sklik's solution is worse; the
note gives dJ/|J|),
and sklik's cost in *passes*: its fit time divided by the time of one ``X @ w`` plus one
``X.T @ r`` on the same X (measured in the same run).

Times are **process CPU times** (``time.process_time``), not wall-clock times: on a machine
shared with other jobs, CPU time is what the fit costs, whereas the wall time also counts the
time slices given to other processes. BLAS is pinned to one thread (environment and
``threadpoolctl``), so CPU time equals wall time on an idle machine. The repeats of sklik and
its peers are interleaved (sklik, peer 1, peer 2, sklik, ...), so that a change of load hits
all of them alike; medians are reported.

Problems (``p`` standard-normal features, ``numpy.random.default_rng(0)``):

- ``mse`` (alpha=1e-3) vs ``Ridge(alpha=1e-3 * n / 2)`` and glum's closed-form Gaussian GLM
  (``alpha=1e-3 / 2``); ``mse`` (alpha=0) vs ``LinearRegression`` and glum (``alpha=0``).
- ``l1`` vs ``QuantileRegressor(quantile=0.5, alpha=0, solver="highs")`` (pinball at 0.5 is
  |r|/2: the same minimiser; only up to ``--max-n-quantile``, default 1e4, as its primal LP
  takes ~20 s at 1e4 and over 15 minutes at 1e5) and statsmodels' ``QuantReg`` (IRLS, an
  approximate solution), Student-t(3) noise; the whole problem only up to ``--max-n-l1``
  (default 1e6). sklik solves it exactly: HiGHS's dual LP below 5000 rows, the Frisch-Newton
  interior point with a certified optimal vertex above.
- ``huber`` (delta=1.35, alpha=1e-4, standardised y, t(3) noise) vs
  ``HuberRegressor(epsilon=1.35, alpha=1e-4 * n)``: a *related but different* problem
  (HuberRegressor also estimates a scale and sums the loss), so only times are compared.
- ``poisson_nll`` (alpha=1e-4; sklik at its default ``tol=1e-6``) vs
  ``PoissonRegressor(alpha=1e-4)`` with ``newton-cholesky`` and ``lbfgs``, each at a tight
  ``tol=1e-10`` and at its default ``tol=1e-4``, and glum's
  ``GeneralizedLinearRegressor(family="poisson", alpha=1e-4)`` (tight).
- ``smooth_l1`` (beta=1.35, alpha=1e-4, the huber data) vs ``HuberRegressor``: times only.
- ``poisson_nll`` elastic net (alpha=1e-2, l1_ratio=0.5) vs glum's
  ``GeneralizedLinearRegressor(family="poisson", alpha=1e-2, l1_ratio=0.5)`` (the same
  objective: glum's is half the deviance, i.e. the NLL up to a constant).
- ``negative_binomial_nll`` (no penalty, NB2 counts with dispersion 0.5) vs statsmodels'
  ``NegativeBinomial(loglike_method="nb2")`` (Newton, ``tol=1e-12``): the same maximum
  likelihood, the dispersion estimated (ΔJ on the NB2 mean negative log-likelihood).
- ``gaussian_nll`` (alpha=1e-4, heteroscedastic data): sklik alone (no peer): its time,
  iterations and passes.
- MLP, ``mse``, one hidden layer of 64 tanh units, a fixed ``--mlp-iter`` L-BFGS
  iterations (tiny tol) vs ``sklearn.neural_network.MLPRegressor(solver="lbfgs")`` with the
  same penalty (sklearn ``alpha = sklik_alpha * n / 2``): time per iteration and per function
  evaluation, up to ``--max-n-mlp`` samples (``benchmarks/bench_mlp.py`` has more networks
  and torch).
- Sparse X (CSR, ``--sparse-density`` 1%, standard-normal non-zeros, ``--sparse`` sizes
  ``n x p``, default 1e5 x 1e3, 1e5 x 1e4 and 1e6 x 1e3): ``poisson_nll`` (alpha=1e-4) vs
  ``PoissonRegressor`` (lbfgs and newton-cholesky) and glum, ``mse`` (alpha=1e-3, sklik's
  default: least squares on the implicitly standardised sparse design, conjugate gradients
  beyond 499 columns, to ``tol=1e-6``) vs ``Ridge`` (its default ``sparse_cg``) and glum, and
  the ``poisson_nll`` elastic net (alpha=1e-3, l1_ratio=0.5: a non-trivial active set, see
  ``SPARSE_ENET_ALPHA``) vs glum, all on the sparse matrix. A last table gives, for every
  sparse problem, sklik's time ratio to *each* peer (not only the fastest).

The summary compares sklik with its fastest peer *at the same objective*: the fastest run whose
objective is within ``SAME_OBJECTIVE`` (1e-10) relative of sklik's (a peer's run that stops
further from the optimum does not count, however fast).

A "scaling checks" section first verifies, with a strong penalty where a mis-scaled alpha
would show, that each peer's alpha mapping gives the same optimum as sklik, and that the
script's objective functions reproduce sklik's ``objective_``.

Iterations and function evaluations of scipy-based solvers are read by wrapping
``scipy.optimize.minimize`` (``nfev``; ``+h``: Hessian evaluations of Newton).
Fits whose first run takes longer than ``--single-run-above`` seconds are not repeated
(marked ``¹``). BLAS/OpenMP are pinned to one thread. The script is a report, not a test:
it exits 0.

Run from the repository root::

    python benchmarks/bench_estimators.py --quick          # n = 1e4, 1e5; sparse 1e5 x 1e3
    python benchmarks/bench_estimators.py                  # n = 1e4, 1e5, 1e6; sparse up to 1e6
    python benchmarks/bench_estimators.py --sizes 20000 --p 50 --repeats 5 --max-n-quantile 0
    python benchmarks/bench_estimators.py --only mse --repeats 7   # the least-squares rows
    python benchmarks/bench_estimators.py --only sparse,enet       # the sparse and elastic-net rows
    python benchmarks/bench_estimators.py --only poisson,nb,enet   # the dense count-model rows
    python benchmarks/bench_estimators.py --only mlp --sizes 10000 100000  # the MLP rows
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.optimize  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import sklearn  # noqa: E402
from sklearn.base import BaseEstimator, RegressorMixin, clone  # noqa: E402
from sklearn.linear_model import (  # noqa: E402
    HuberRegressor,
    LinearRegression,
    PoissonRegressor,
    QuantileRegressor,
    Ridge,
)
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import sklik  # noqa: E402
from sklik.losses import HuberLoss, SmoothL1Loss  # noqa: E402

try:
    import glum
    from glum import GeneralizedLinearRegressor
except ImportError:  # glum is an optional peer
    glum = GeneralizedLinearRegressor = None
try:
    import statsmodels
    import statsmodels.api as sm
except ImportError:  # statsmodels is an optional peer
    statsmodels = sm = None


class StatsmodelsQuantReg(RegressorMixin, BaseEstimator):
    """``statsmodels.QuantReg(y, [1, X]).fit(q)`` (IRLS, approximate) as an sklearn estimator."""

    def __init__(self, q=0.5):
        self.q = q

    def fit(self, X, y):
        res = sm.QuantReg(y, sm.add_constant(X, has_constant="add")).fit(q=self.q)
        self.intercept_, self.coef_ = float(res.params[0]), np.asarray(res.params[1:])
        self.n_iter_ = res.iterations
        return self


class StatsmodelsNB2(RegressorMixin, BaseEstimator):
    """``statsmodels.NegativeBinomial(y, [1, X], loglike_method="nb2").fit()`` (Newton).

    The maximum-likelihood NB2 fit with its dispersion, as an sklearn estimator: the log
    dispersion in ``log_dispersion_intercept_`` (sklik's attribute name).
    """

    def fit(self, X, y):
        model = sm.NegativeBinomial(y, sm.add_constant(X, has_constant="add"), loglike_method="nb2")
        res = model.fit(disp=0, maxiter=200, tol=1e-12)
        params = np.asarray(res.params)
        self.intercept_, self.coef_ = float(params[0]), params[1:-1]
        self.log_dispersion_intercept_ = float(np.log(params[-1]))
        self.n_iter_ = res.mle_retvals.get("iterations", 0)
        return self


MSE_ALPHA = 1e-3
HUBER_ALPHA = 1e-4
HUBER_DELTA = 1.35
POISSON_ALPHA = 1e-4
GAUSS_ALPHA = 1e-4
NB_DISPERSION = 0.5
MLP_ALPHA = 1e-4
MLP_HIDDEN = (64,)
MLP_ACTIVATION = "tanh"
ENET_ALPHA = 1e-2
ENET_L1_RATIO = 0.5
SPARSE_POISSON_ALPHA = 1e-4
SPARSE_MSE_ALPHA = 1e-3
# below the sparse data's alpha_max (0.013 at p = 1e3, 0.0058 at p = 1e4, l1_ratio=0.5), where
# ENET_ALPHA would zero (nearly) every coefficient: about 78% and 43% of them are non-zero
SPARSE_ENET_ALPHA = 1e-3
clock = time.process_time
TIGHT = 1e-10  # gradient tolerance of the peers' tight Poisson fits
# A peer's run counts as the same objective as sklik's when their objectives differ by at most
# this much relative: the summary's "fastest peer" is the fastest such run.
SAME_OBJECTIVE = 1e-10


# ---------------------------------------------------------------------------------------------
# data and objectives (sklik's documented objective, in numpy, independent of sklik)


def make_data(n, p, seed=0):
    """Every problem's arrays, from one ``default_rng(seed)`` stream."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = rng.normal(0.0, 1.0 / np.sqrt(p), p)
    signal = X @ w + 0.5
    y_gauss = signal + rng.standard_normal(n)
    y_t = signal + rng.standard_t(3, n)
    y_huber = (y_t - y_t.mean()) / y_t.std()
    log_rate = 0.5 + X @ (0.3 * w)  # rates around exp(0.5), modest spread
    y_count = rng.poisson(np.exp(log_rate)).astype(np.float64)
    y_het = signal + np.exp(0.5 * X[:, 0] * 0.5) * rng.standard_normal(n)
    data = {"X": X, "mse": y_gauss, "l1": y_t, "huber": y_huber, "poisson": y_count, "het": y_het}
    # overdispersed counts, dispersion 0.5 (a later stream: the other arrays are unchanged)
    mu = np.exp(log_rate)
    data["nb"] = rng.negative_binomial(1.0 / NB_DISPERSION, 1.0 / (1.0 + NB_DISPERSION * mu))
    data["nb"] = data["nb"].astype(np.float64)
    return data


def _linear_raw(X, coef, intercept):
    return X @ np.ravel(coef) + float(intercept)


def obj_mse(X, y, coef, intercept, alpha):
    r = y - _linear_raw(X, coef, intercept)
    return float(np.mean(r * r)) + 0.5 * alpha * float(np.sum(np.square(coef)))


def obj_nb(X, y, est):
    """The NB2 mean negative log-likelihood (log y! included) at ``est``'s mean and dispersion."""
    from scipy import stats

    mu = np.exp(_linear_raw(X, est.coef_, est.intercept_))
    alpha = np.exp(float(np.ravel(est.log_dispersion_intercept_)[0]))
    return -float(np.mean(stats.nbinom.logpmf(y, 1.0 / alpha, 1.0 / (1.0 + alpha * mu))))


def obj_l1(X, y, coef, intercept, alpha=0.0):
    r = y - _linear_raw(X, coef, intercept)
    return float(np.mean(np.abs(r))) + 0.5 * alpha * float(np.sum(np.square(coef)))


def obj_huber(X, y, coef, intercept, alpha, delta=HUBER_DELTA):
    z = np.abs(y - _linear_raw(X, coef, intercept))
    lo = np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))
    return float(np.mean(lo)) + 0.5 * alpha * float(np.sum(np.square(coef)))


def obj_poisson(X, y, coef, intercept, alpha):
    raw = _linear_raw(X, coef, intercept)
    return float(np.mean(np.exp(raw) - y * raw)) + 0.5 * alpha * float(np.sum(np.square(coef)))


def obj_smooth_l1(X, y, coef, intercept, alpha, beta=HUBER_DELTA):
    z = np.abs(y - _linear_raw(X, coef, intercept))
    lo = np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)
    return float(np.mean(lo)) + 0.5 * alpha * float(np.sum(np.square(coef)))


def obj_enet_poisson(X, y, coef, intercept, alpha, l1_ratio=ENET_L1_RATIO):
    w = np.ravel(coef)
    raw = _linear_raw(X, w, intercept)
    penalty = alpha * (l1_ratio * np.sum(np.abs(w)) + 0.5 * (1 - l1_ratio) * np.sum(w * w))
    return float(np.mean(np.exp(raw) - y * raw)) + float(penalty)


def obj_mlp(X, y, coefs, intercepts, alpha, activation=MLP_ACTIVATION):
    """Full mean squared error of a network with an identity output, plus the penalty."""
    f = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    a = X
    for W, b in zip(coefs[:-1], intercepts[:-1], strict=True):
        a = f(a @ W + b)
    r = y - (a @ coefs[-1] + intercepts[-1]).ravel()
    penalty = sum(float(np.sum(W * W)) for W in coefs)
    return float(np.mean(r * r)) + 0.5 * alpha * penalty


# ---------------------------------------------------------------------------------------------
# timing


@dataclass
class Fit:
    """Outcome of timing one estimator on one data set."""

    label: str
    times: list = field(default_factory=list)
    estimator: object = None
    n_iter: object = None
    nfev: object = None
    converged: bool = True
    skipped: str = ""
    note: str = ""

    @property
    def time(self):
        return statistics.median(self.times) if self.times else float("nan")


_OPT_LOG = []


@contextmanager
def record_minimize():
    """Record the result of every ``scipy.optimize.minimize`` call (nit, nfev, nhev)."""
    original = scipy.optimize.minimize

    def wrapper(fun, x0, *args, **kwargs):
        counts = {"fun": 0, "hessp": 0}

        def counted(name, f):
            def g(*a, **k):
                counts[name] += 1
                return f(*a, **k)

            return g

        if kwargs.get("hessp") is not None:
            kwargs["hessp"] = counted("hessp", kwargs["hessp"])
        res = original(counted("fun", fun), x0, *args, **kwargs)
        res.counted_fun, res.counted_hessp = counts["fun"], counts["hessp"]
        _OPT_LOG.append(res)
        return res

    scipy.optimize.minimize = wrapper
    try:
        yield
    finally:
        scipy.optimize.minimize = original


def _fit_once(fit, estimator, X, y):
    est = clone(estimator)
    _OPT_LOG.clear()
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with record_minimize():
            t0 = clock()
            est.fit(X, y)
            fit.times.append(clock() - t0)
    fit.estimator = est
    fit.converged = not any("converge" in str(w.message).lower() for w in caught)
    fit.n_iter = getattr(est, "n_iter_", None)
    if _OPT_LOG:
        nfev = sum(res.counted_fun for res in _OPT_LOG)
        nhev = sum(res.counted_hessp for res in _OPT_LOG)
        fit.nfev = f"{nfev}+h{nhev}" if nhev else str(nfev)


def time_fits(specs, X, repeats, single_run_above):
    """Fit every ``(label, estimator, y)`` of ``specs`` ``repeats`` times, interleaved.

    Round ``r`` fits each estimator once, in order, so that a change of the machine's load
    affects all of them alike. A fit whose first run took longer than ``single_run_above``
    seconds is not repeated. Returns one :class:`Fit` per spec (the last fitted estimator).
    """
    fits = [Fit(label) for label, _, _ in specs]
    for _ in range(repeats):
        for fit, (_, est, y) in zip(fits, specs, strict=True):
            if fit.times and fit.times[0] > single_run_above:
                continue
            _fit_once(fit, est, X, y)
    return fits


def time_fit(label, estimator, X, y, repeats, single_run_above):
    """:func:`time_fits` for one estimator."""
    return time_fits([(label, estimator, y)], X, repeats, single_run_above)[0]


PASS_TIME = {}


def pass_time(X, key, repeats=15):
    """Median CPU time of one ``X @ w`` plus one ``X.T @ r`` (the cost unit "pass")."""
    rng = np.random.default_rng(0)
    w, r = rng.standard_normal(X.shape[1]), rng.standard_normal(X.shape[0])
    times = []
    for _ in range(repeats):
        t0 = clock()
        X @ w
        X.T @ r
        times.append(clock() - t0)
    PASS_TIME[key] = statistics.median(times)
    return PASS_TIME[key]


# ---------------------------------------------------------------------------------------------
# reporting

HEADER = (
    f"{'problem':<34} {'n':>8} {'estimator':<34} {'time[s]':>9} {'iter':>5} {'nfev':>9} "
    f"{'sklik/peer':>10} {'dJ=Jsk-Jpeer':>13}  note"
)


def _fmt_time(fit):
    if fit.skipped:
        return f"{'skipped':>9}"
    mark = "" if len(fit.times) > 1 else "¹"
    return f"{fit.time:8.4f}{mark or ' '}"


def print_row(problem, n, fit, ratio=None, dj=None, note=""):
    note = "; ".join(x for x in (note, fit.note) if x)
    it = "" if fit.n_iter is None else str(np.max(fit.n_iter))
    nfev = fit.nfev or ""
    r = "" if ratio is None else f"{ratio:10.2f}"
    d = dj if isinstance(dj, str) else ("" if dj is None else f"{dj:13.2e}")
    if not fit.converged:
        note = (note + "; " if note else "") + "NOT CONVERGED"
    if fit.skipped:
        note = fit.skipped
    print(
        f"{problem:<34} {n:>8} {fit.label:<34} {_fmt_time(fit)} {it:>5} {nfev:>9} {r:>10} "
        f"{d:>13}  {note}",
        flush=True,
    )


SUMMARY = []


def compare(problem, n, sk_fit, peers, objective, note_peer=None, pass_key=None):
    """Print sklik's row and one row per peer; remember the fastest peer for the summary.

    Returns ``(peer fit, sklik/peer time ratio, dJ / |J(sklik)| or None)`` per timed peer.
    """
    print_row(problem, n, sk_fit, note="sklik")
    j_sk = objective(sk_fit.estimator) if objective else None
    best = fallback = None
    per_peer = []
    for fit in peers:
        if fit.skipped:
            print_row(problem, n, fit)
            continue
        ratio = sk_fit.time / fit.time
        dj = "n/a" if objective is None else j_sk - objective(fit.estimator)
        note = note_peer or ""
        if objective is not None and j_sk != 0:  # the relative difference, for the goal 1e-10
            note = "; ".join(x for x in (note, f"dJ/|J|={dj / abs(j_sk):.1e}") if x)
        print_row(problem, n, fit, ratio, dj, note)
        rel = None if objective is None or j_sk == 0 else dj / abs(j_sk)
        per_peer.append((fit, ratio, rel))
        same = objective is None or abs(dj) <= SAME_OBJECTIVE * max(abs(j_sk), 1e-300)
        if same and (best is None or fit.time < best[0].time):
            best = (fit, ratio, dj)
        if not same and (fallback is None or fit.time < fallback[0].time):
            fallback = (fit, ratio, dj)
    if best is None and fallback is not None:  # no peer at the same objective: flagged
        best = (*fallback, "approximate")
    passes = sk_fit.time / PASS_TIME[pass_key] if pass_key in PASS_TIME else float("nan")
    SUMMARY.append((problem, n, sk_fit, best, passes))
    return per_peer


SPARSE_PEERS = []  # (problem, n, p, sklik fit, [(peer fit, ratio, dJ/|J|), ...])


def print_sparse_peers():
    """For every sparse problem, sklik's time ratio to each peer (not only the fastest)."""
    if not SPARSE_PEERS:
        return
    print(
        "\nSparse X: sklik against each peer (ratio = sklik / peer, <= 1: sklik at least as "
        "fast; dJ/|J| = (J(sklik) - J(peer)) / |J(sklik)|, < 0: sklik's optimum is lower)"
    )
    print(
        f"{'problem':<34} {'n x p':>13} {'sklik[s]':>9} {'peer':<34} {'peer[s]':>9} "
        f"{'ratio':>6} {'dJ/|J|':>9}"
    )
    for problem, n, p, sk_fit, rows in SPARSE_PEERS:
        size = f"{n:.0e}x{p:.0e}".replace("e+0", "e")
        for fit, ratio, rel in rows:
            d = "" if rel is None else f"{rel:9.1e}"
            flag = "" if fit.converged else "  NOT CONVERGED"
            print(
                f"{problem:<34} {size:>13} {sk_fit.time:9.4f} {fit.label:<34} {fit.time:9.4f} "
                f"{ratio:6.2f} {d:>9}{flag}",
                flush=True,
            )


def print_summary():
    print(
        "\nSummary: sklik against its fastest peer (ratio <= 1: sklik at least as fast; "
        "passes = sklik's time / one X@w + X.T@r)"
    )
    print(
        f"{'problem':<34} {'n':>8} {'sklik[s]':>9} {'iter':>5} {'passes':>7} "
        f"{'fastest peer':<34} {'peer[s]':>9} {'ratio':>6} {'dJ':>9}"
    )
    for problem, n, sk_fit, best, passes in SUMMARY:
        it = "" if sk_fit.n_iter is None else str(np.max(sk_fit.n_iter))
        ps = "" if not np.isfinite(passes) else f"{passes:7.0f}"
        head = f"{problem:<34} {n:>8} {sk_fit.time:9.4f} {it:>5} {ps:>7}"
        if best is None:
            print(f"{head} {'(no peer)':<34}")
            continue
        fit, ratio, dj = best[:3]
        d = dj if isinstance(dj, str) else f"{dj:9.1e}"
        flag = "  <-- sklik slower" if ratio > 1.05 else ""
        if best[-1] == "approximate":
            flag += "  (no peer at the same objective: the fastest one)"
        print(f"{head} {fit.label:<34} {fit.time:9.4f} {ratio:6.2f} {d:>9}{flag}")


# ---------------------------------------------------------------------------------------------
# problems


def lin_obj(fun, X, y, alpha, attr="coef_"):
    return lambda est: fun(X, y, getattr(est, attr), est.intercept_, alpha)


def _poisson_peers(a, sparse=False):
    peers = [
        (
            "Poisson newton-cholesky",
            PoissonRegressor(alpha=a, solver="newton-cholesky", tol=TIGHT, max_iter=1000),
        ),
        ("Poisson lbfgs", PoissonRegressor(alpha=a, solver="lbfgs", tol=TIGHT, max_iter=10000)),
        # at their default tol=1e-4: often within SAME_OBJECTIVE already, and then faster
        ("Poisson newton-cholesky tol=1e-4", PoissonRegressor(alpha=a, solver="newton-cholesky")),
        ("Poisson lbfgs tol=1e-4", PoissonRegressor(alpha=a, solver="lbfgs", max_iter=10000)),
    ]
    if GeneralizedLinearRegressor is not None:
        glm = GeneralizedLinearRegressor(
            family="poisson", alpha=a, l1_ratio=0, gradient_tol=TIGHT, max_iter=1000
        )
        peers.append(("glum poisson" + (" (sparse)" if sparse else " (irls-ls)"), glm))
    return peers


def run_linear(data, n, args):
    X = data["X"]
    rep, slow = args.repeats, args.single_run_above
    key = ("dense", n, X.shape[1])
    pass_time(X, key)

    def group(problem, sk_spec, peer_specs, objective, y, note_peer=None):
        specs = [sk_spec + (y,)] + [spec + (y,) for spec in peer_specs]
        fits = time_fits(specs, X, rep, slow)
        compare(problem, n, fits[0], fits[1:], objective, note_peer, pass_key=key)
        return fits

    # mse, small ridge penalty and none
    for alpha in (MSE_ALPHA, 0.0):
        y = data["mse"]
        peers = []
        if alpha > 0:
            peers.append((f"Ridge(alpha=a*n/2={alpha * n / 2:g})", Ridge(alpha=alpha * n / 2)))
        else:
            peers.append(("LinearRegression", LinearRegression()))
        if GeneralizedLinearRegressor is not None:
            glm = GeneralizedLinearRegressor(family="normal", alpha=alpha / 2, solver="closed-form")
            peers.append(("glum normal closed-form a/2", glm))
        sk = ("sklik lstsq", sklik.LinearRegressor("mse", alpha=alpha))
        if _wanted(args, "mse"):
            group(f"mse a={alpha:g}", sk, peers, lin_obj(obj_mse, X, y, alpha), y)
    if args.only is not None:
        if "poisson" in args.only:
            run_dense_poisson(data, n, group)
        if "nb" in args.only:
            run_dense_nb(data, n, group)
        if "enet" in args.only:
            run_dense_enet(data, n, args, group)
        return

    # l1 (least absolute deviations)
    y = data["l1"]
    problem = "l1"
    if n > args.max_n_l1:
        sk = Fit("sklik exact LAD", skipped=f"skipped (n > --max-n-l1={args.max_n_l1})")
        print_row(problem, n, sk)
    else:
        specs = [("sklik exact LAD", sklik.LinearRegressor("l1"), y)]
        if sm is not None:
            specs.append(("statsmodels QuantReg(0.5) IRLS", StatsmodelsQuantReg(), y))
        qr = Fit("QuantileRegressor(0.5, highs)")
        if n <= args.max_n_quantile:
            specs.append((qr.label, QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs"), y))
        else:
            qr.skipped = f"skipped (n > --max-n-quantile={args.max_n_quantile})"
        fits = time_fits(specs, X, rep, slow)
        peers = fits[1:]
        if sm is not None:
            peers[0].note = "approximate (IRLS, p_tol=1e-6)"
        if qr.skipped:
            peers.append(qr)
        compare(problem, n, fits[0], peers, lin_obj(obj_l1, X, y, 0.0), pass_key=key)

    # huber and smooth_l1: related, different problems -> times only
    y = data["huber"]
    hub = (
        "HuberRegressor(eps=1.35,alpha=a*n)",
        HuberRegressor(epsilon=HUBER_DELTA, alpha=HUBER_ALPHA * n, max_iter=1000),
    )
    note = "different problem: joint scale, summed loss -> time only"
    sk = ("sklik newton", sklik.LinearRegressor(HuberLoss(delta=HUBER_DELTA), alpha=HUBER_ALPHA))
    group("huber d=1.35 a=1e-4", sk, [hub], None, y, note_peer=note)
    sk = ("sklik newton", sklik.LinearRegressor(SmoothL1Loss(beta=HUBER_DELTA), alpha=HUBER_ALPHA))
    group("smooth_l1 b=1.35 a=1e-4", sk, [hub], None, y, note_peer=note)

    run_dense_poisson(data, n, group)
    run_dense_nb(data, n, group)
    run_dense_enet(data, n, args, group)

    # gaussian_nll: no peer
    sk = ("sklik newton (Fisher)", sklik.LinearRegressor("gaussian_nll", alpha=GAUSS_ALPHA))
    group(f"gaussian_nll a={GAUSS_ALPHA:g}", sk, [], None, data["het"])


def _wanted(args, tag):
    """Whether ``--only`` selects the rows tagged ``tag`` (every row without ``--only``)."""
    return args.only is None or tag in args.only


def _enet_specs(y, a, sparse=False):
    """sklik's and glum's Poisson elastic net (alpha=a, l1_ratio=ENET_L1_RATIO)."""
    r = ENET_L1_RATIO
    sk = ("sklik lbfgs (split L1)", sklik.LinearRegressor("poisson_nll", alpha=a, l1_ratio=r), y)
    glm = GeneralizedLinearRegressor(
        family="poisson", alpha=a, l1_ratio=r, gradient_tol=1e-8, max_iter=1000
    )
    label = "glum poisson enet" + (" (sparse)" if sparse else " (irls-cd)")
    return [sk, (label, glm, y)]


def _print_zeros(n, fits):
    zeros = [int(np.sum(f.estimator.coef_ == 0)) for f in fits]
    nonzero = fits[0].estimator.coef_.size - zeros[0]
    print(
        f"{'':<34} {n:>8} exact zeros in coef_: sklik {zeros[0]}, glum {zeros[1]} "
        f"(sklik's non-zeros: {nonzero})"
    )


def run_dense_poisson(data, n, group):
    """poisson_nll (alpha=POISSON_ALPHA) vs PoissonRegressor and glum on the dense data."""
    X, y, a = data["X"], data["poisson"], POISSON_ALPHA
    sk = ("sklik newton", sklik.LinearRegressor("poisson_nll", alpha=a))
    group(f"poisson a={a:g}", sk, _poisson_peers(a), lin_obj(obj_poisson, X, y, a), y)


def run_dense_nb(data, n, group):
    """negative_binomial_nll (NB2, the dispersion estimated, no penalty) vs statsmodels' MLE."""
    X, y = data["X"], data["nb"]
    sk = ("sklik newton (exact Hessian)", sklik.LinearRegressor("negative_binomial_nll"))
    peers = [("statsmodels NegativeBinomial nb2", StatsmodelsNB2())] if sm is not None else []
    group("negative_binomial a=0", sk, peers, lambda est: obj_nb(X, y, est), y)


def run_dense_enet(data, n, args, group):
    """The Poisson elastic net vs glum on the dense data."""
    if GeneralizedLinearRegressor is None:
        return
    X, y, a = data["X"], data["poisson"], ENET_ALPHA
    (sk_label, sk, _), (glm_label, glm, _) = _enet_specs(y, a)
    fits = group(
        f"poisson enet a={a:g} l1r={ENET_L1_RATIO:g}",
        (sk_label, sk),
        [(glm_label, glm)],
        lin_obj(obj_enet_poisson, X, y, a),
        y,
    )
    _print_zeros(n, fits)


def run_mlp(data, n, args):
    X, y = data["X"], data["mse"]
    it, rep, slow = args.mlp_iter, args.repeats, args.single_run_above
    sk_est = sklik.MLPRegressor(
        "mse",
        hidden_layer_sizes=MLP_HIDDEN,
        activation=MLP_ACTIVATION,
        alpha=MLP_ALPHA,
        max_iter=it,
        tol=1e-300,
        random_state=0,
        early_stopping=False,  # sklearn's lbfgs MLP has no early stopping
    )
    sk_alpha = MLP_ALPHA * n / 2  # sklearn: mean r^2 / 2 + alpha / (2 n) ||W||^2
    pe_est = SkMLPRegressor(
        hidden_layer_sizes=MLP_HIDDEN,
        activation=MLP_ACTIVATION,
        solver="lbfgs",
        alpha=sk_alpha,
        max_iter=it,
        tol=1e-300,
        random_state=0,
    )
    specs = [("sklik MLP lbfgs", sk_est, y), ("sklearn MLP lbfgs (alpha=a*n/2)", pe_est, y)]
    sk, pe = time_fits(specs, X, rep, slow)
    sk.converged = pe.converged = True  # a fixed number of iterations, by design
    problem = f"mlp{MLP_HIDDEN} {MLP_ACTIVATION} {it}it"
    obj = lambda e: obj_mlp(X, y, e.coefs_, e.intercepts_, MLP_ALPHA)  # noqa: E731
    j_sk, j_pe = obj(sk.estimator), obj(pe.estimator)
    print_row(problem, n, sk, note="sklik")
    print_row(
        problem,
        n,
        pe,
        sk.time / pe.time,
        j_sk - j_pe,
        "nonconvex: dJ informative only",
    )
    per = {}
    for fit in (sk, pe):
        nfev = int(str(fit.nfev).split("+")[0]) if fit.nfev else None
        per[fit.label] = (fit.time / fit.n_iter, fit.time / nfev if nfev else float("nan"))
    (s_it, s_ev), (p_it, p_ev) = per[sk.label], per[pe.label]
    print(
        f"{'':<34} {n:>8} per iteration: sklik {1e3 * s_it:.2f} ms, sklearn {1e3 * p_it:.2f} ms, "
        f"ratio {s_it / p_it:.2f}; per evaluation: sklik {1e3 * s_ev:.2f} ms, sklearn "
        f"{1e3 * p_ev:.2f} ms, ratio {s_ev / p_ev:.2f}",
        flush=True,
    )
    sk_it, pe_it = Fit(sk.label, times=[s_it] * 2), Fit(pe.label, times=[p_it] * 2)
    sk_it.n_iter = sk.n_iter
    key = ("dense", n, X.shape[1])
    passes = s_it / PASS_TIME[key] if key in PASS_TIME else float("nan")  # per iteration
    SUMMARY.append((problem + " /iter", n, sk_it, (pe_it, s_it / p_it, ""), passes))


def make_sparse(n, p, density, seed=0):
    """A CSR X with standard-normal non-zeros, and Poisson and Gaussian targets."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csr", random_state=rng, data_rvs=None)
    X.data = rng.standard_normal(X.nnz)
    w = rng.normal(0.0, 1.0 / np.sqrt(p * density), p)
    signal = X @ w
    y_count = rng.poisson(np.exp(0.5 + 0.3 * signal)).astype(np.float64)
    y_gauss = signal + 0.5 + rng.standard_normal(n)
    return X, {"poisson": y_count, "mse": y_gauss}


def run_sparse(n, p, args):
    X, ys = make_sparse(n, p, args.sparse_density)
    rep, slow = args.repeats, args.single_run_above
    key = ("sparse", n, p)
    pass_time(X, key)
    label = f"sparse {n}x{p}"

    def group(problem, specs, objective):
        fits = time_fits(specs, X, rep, slow)
        per_peer = compare(problem, n, fits[0], fits[1:], objective, pass_key=key)
        SPARSE_PEERS.append((problem.removesuffix(f" {label}"), n, p, fits[0], per_peer))
        return fits

    a = SPARSE_POISSON_ALPHA
    y = ys["poisson"]
    if _wanted(args, "sparse"):
        specs = [("sklik auto", sklik.LinearRegressor("poisson_nll", alpha=a), y)]
        specs += [(lbl, est, y) for lbl, est in _poisson_peers(a, sparse=True)]
        group(f"poisson {label}", specs, lin_obj(obj_poisson, X, y, a))
    if _wanted(args, "sparse") or _wanted(args, "mse"):
        a = SPARSE_MSE_ALPHA
        y = ys["mse"]
        specs = [
            ("sklik auto (lstsq)", sklik.LinearRegressor("mse", alpha=a), y),
            (f"Ridge(alpha=a*n/2={a * n / 2:g})", Ridge(alpha=a * n / 2), y),
        ]
        if GeneralizedLinearRegressor is not None:
            glm = GeneralizedLinearRegressor(family="normal", alpha=a / 2, gradient_tol=TIGHT)
            specs.append(("glum normal a/2 (sparse)", glm, y))
        group(f"mse {label}", specs, lin_obj(obj_mse, X, y, a))
    if GeneralizedLinearRegressor is not None and (
        _wanted(args, "sparse") or _wanted(args, "enet")
    ):
        a, y = SPARSE_ENET_ALPHA, ys["poisson"]
        problem = f"poisson enet {label}"  # l1_ratio=ENET_L1_RATIO
        fits = group(problem, _enet_specs(y, a, sparse=True), lin_obj(obj_enet_poisson, X, y, a))
        _print_zeros(n, fits)


# ---------------------------------------------------------------------------------------------
# checks of the objective scalings


def scaling_checks(n, p):
    """Fit with a strong penalty and compare optima; print max |coef difference|."""
    print(f"\nScaling checks (n={n}, strong penalty so that a mis-scaled alpha would show):")
    data = make_data(n, p, seed=1)
    X = data["X"]
    rows = []

    def lin(est):
        return np.concatenate([np.ravel(est.coef_), [float(est.intercept_)]])

    a = 0.5
    y = data["mse"]
    sk = sklik.LinearRegressor("mse", alpha=a).fit(X, y)
    rows.append(("mse: Ridge(alpha=a*n/2)", sk, Ridge(alpha=a * n / 2).fit(X, y), obj_mse, y, a))
    if GeneralizedLinearRegressor is not None:
        g = GeneralizedLinearRegressor(family="normal", alpha=a / 2).fit(X, y)
        rows.append(("mse: glum normal(alpha=a/2)", sk, g, obj_mse, y, a))
    y = data["poisson"]
    sk = sklik.LinearRegressor("poisson_nll", alpha=a, tol=TIGHT).fit(X, y)
    pr = PoissonRegressor(alpha=a, solver="newton-cholesky", tol=TIGHT).fit(X, y)
    rows.append(("poisson: PoissonRegressor(alpha=a)", sk, pr, obj_poisson, y, a))
    if GeneralizedLinearRegressor is not None:
        g = GeneralizedLinearRegressor(family="poisson", alpha=a, gradient_tol=TIGHT).fit(X, y)
        rows.append(("poisson: glum poisson(alpha=a)", sk, g, obj_poisson, y, a))
    y = data["l1"]
    sk = sklik.LinearRegressor("l1").fit(X[:2000], y[:2000])
    qr = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(X[:2000], y[:2000])
    rows.append(("l1 (n=2000): QuantileRegressor(0.5)", sk, qr, obj_l1, y[:2000], 0.0))
    for label, sk, peer, fun, yy, alpha in rows:
        Xs = X[: len(yy)]
        diff = np.max(np.abs(lin(sk) - lin(peer)))
        j_script = fun(Xs, yy, sk.coef_, sk.intercept_, alpha)
        j_rel = abs(j_script - sk.objective_) / abs(sk.objective_)
        print(
            f"  {label:<38} alpha={alpha:<4g} max|coef diff| {diff:.1e}   "
            f"script J vs sklik objective_: rel diff {j_rel:.1e}"
        )
    # MLP: sklearn's reported loss_ (mean r^2/2 + alpha_sk/(2n)||W||^2) times 2 must equal
    # sklik's objective with alpha = 2 * alpha_sk / n at sklearn's parameters.
    Xm, ym = X[:2000], data["mse"][:2000]
    a_sk = 1.0
    m = SkMLPRegressor(
        hidden_layer_sizes=(10,), solver="lbfgs", alpha=a_sk, max_iter=30, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(Xm, ym)
    j = obj_mlp(Xm, ym, m.coefs_, m.intercepts_, 2 * a_sk / len(ym), activation="relu")
    print(
        f"  {'mlp: 2 * sklearn loss_ vs J(alpha=2*alpha_sk/n)':<38} rel diff "
        f"{abs(2 * m.loss_ - j) / j:.1e}  (sklik alpha=a <=> sklearn alpha=a*n/2)"
    )


# ---------------------------------------------------------------------------------------------


def print_environment(args):
    from threadpoolctl import threadpool_info

    print("Environment")
    print(f"  python {platform.python_version()} on {platform.platform()}")
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        cpu = platform.processor()
    print(f"  cpu: {cpu}; os.cpu_count()={os.cpu_count()}; load average {os.getloadavg()}")
    versions = [
        ("sklik", sklik.__version__),
        ("numpy", np.__version__),
        ("scipy", scipy.__version__),
        ("scikit-learn", sklearn.__version__),
        ("glum", glum.__version__ if glum else "not installed"),
        ("statsmodels", statsmodels.__version__ if statsmodels else "not installed"),
    ]
    print("  " + ", ".join(f"{k} {v}" for k, v in versions))
    print(f"  sklik imported from {os.path.dirname(sklik.__file__)}")
    env = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["MKL_NUM_THREADS"] = os.environ.get("MKL_NUM_THREADS")
    print(f"  threads: {env}")
    for info in threadpool_info():
        print(
            f"    {info.get('internal_api')}: {info.get('num_threads')} thread(s) "
            f"({os.path.basename(info.get('filepath', ''))})"
        )
    print(
        f"  sizes={args.sizes} p={args.p} repeats={args.repeats} "
        f"max_n_quantile={args.max_n_quantile} max_n_l1={args.max_n_l1} max_n_mlp={args.max_n_mlp} "
        f"mlp_iter={args.mlp_iter} single_run_above={args.single_run_above}s "
        f"sparse={args.sparse} density={args.sparse_density} only={args.only}"
    )


ONLY_GROUPS = ("mse", "sparse", "enet", "poisson", "nb", "mlp")
DENSE_GROUPS = {"mse", "enet", "poisson", "nb", "mlp"}


def _only(text):
    groups = {g.strip() for g in text.split(",") if g.strip()}
    unknown = sorted(groups - set(ONLY_GROUPS))
    if unknown or not groups:
        raise argparse.ArgumentTypeError(
            f"unknown group {', '.join(unknown) or text!r}; choose from {', '.join(ONLY_GROUPS)}"
        )
    return groups


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--p", type=int, default=20, help="number of features")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="sizes 1e4 and 1e5")
    parser.add_argument(
        "--max-n-quantile",
        type=int,
        default=10_000,
        help="largest n for QuantileRegressor (its primal LP takes ~20 s at 1e4, >15 min at 1e5)",
    )
    parser.add_argument(
        "--max-n-l1",
        type=int,
        default=1_000_000,
        help="largest n for the l1 problem",
    )
    parser.add_argument("--max-n-mlp", type=int, default=100_000)
    parser.add_argument("--mlp-iter", type=int, default=30)
    parser.add_argument(
        "--sparse",
        nargs="*",
        default=["100000x1000", "100000x10000", "1000000x1000"],
        help="sparse problem sizes NxP (--quick: those with N <= 1e5); none: no sparse problems",
    )
    parser.add_argument("--sparse-density", type=float, default=0.01)
    parser.add_argument(
        "--single-run-above",
        type=float,
        default=20.0,
        help="do not repeat a fit whose first run takes longer than this (seconds)",
    )
    parser.add_argument("--skip-checks", action="store_true")
    parser.add_argument(
        "--only",
        type=_only,
        default=None,
        metavar="GROUPS",
        help="run only these comma-separated groups of rows: mse (the dense and sparse "
        "least-squares rows), sparse (every sparse-X row), enet (the dense and sparse Poisson "
        "elastic-net rows), poisson and nb (the dense poisson_nll and negative_binomial_nll "
        "rows), mlp (the MLP rows); e.g. --only sparse,enet",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [10_000, 100_000]
        args.sparse = [x for x in args.sparse if int(x.split("x")[0]) <= 100_000]
        args.single_run_above = min(args.single_run_above, 5.0)
    start = time.perf_counter()
    print_environment(args)
    if not args.skip_checks:
        scaling_checks(min(min(args.sizes), 20_000), args.p)

    print(
        "\nMedian fit CPU time over interleaved repeats (¹ = single run); sklik/peer <= 1: sklik "
        "at least as "
        "fast; dJ = J(sklik) - J(peer) on sklik's objective (> 0: sklik worse)"
    )
    print(HEADER)
    with threadpool_limits(1):
        dense = args.only is None or bool(args.only & DENSE_GROUPS)
        for n in args.sizes if dense else []:
            data = make_data(n, args.p)
            run_linear(data, n, args)
            if n <= args.max_n_mlp and _wanted(args, "mlp"):
                run_mlp(data, n, args)
            del data
        for size in args.sparse:
            n, p = (int(v) for v in size.lower().split("x"))
            run_sparse(n, p, args)
    print_summary()
    print_sparse_peers()
    print(f"\nTotal wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
