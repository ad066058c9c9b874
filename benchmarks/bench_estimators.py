"""Benchmark sklik's estimators against their scikit-learn and glum peers, single-threaded.

On the same generated data in one run, this fits sklik and its peer(s) and prints, for every
problem and sample size ``n``, the median fit time over ``--repeats`` fits, the time ratio
sklik/peer (<= 1: sklik is at least as fast) and the objective difference
``dJ = J(sklik) - J(peer)``, both solutions evaluated with numpy on sklik's documented
objective ``sum_i s_i l_i / sum_i s_i + alpha/2 ||W||^2`` (dJ > 0: sklik's solution is worse).

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
- ``poisson_nll`` (alpha=1e-4) vs ``PoissonRegressor(alpha=1e-4)`` with ``newton-cholesky``
  and ``lbfgs`` and glum's ``GeneralizedLinearRegressor(family="poisson", alpha=1e-4)``, all
  with tight tolerances; the summary uses the fastest peer.
- ``gaussian_nll`` (alpha=1e-4, heteroscedastic data): sklik alone (no peer).
- MLP, ``mse``, one hidden layer of 100 ReLU units, a fixed ``--mlp-iter`` L-BFGS
  iterations (tiny tol) vs ``sklearn.neural_network.MLPRegressor(solver="lbfgs")`` with the
  same penalty (sklearn ``alpha = sklik_alpha * n / 2``): time per iteration and per function
  evaluation, up to ``--max-n-mlp`` samples.

A "scaling checks" section first verifies, with a strong penalty where a mis-scaled alpha
would show, that each peer's alpha mapping gives the same optimum as sklik, and that the
script's objective functions reproduce sklik's ``objective_``.

Iterations and function evaluations of scipy-based solvers are read by wrapping
``scipy.optimize.minimize`` (``nfev``; ``+h``: Hessian evaluations of Newton).
Fits whose first run takes longer than ``--single-run-above`` seconds are not repeated
(marked ``¹``). BLAS/OpenMP are pinned to one thread. The script is a report, not a test:
it exits 0.

Run from the repository root::

    python benchmarks/bench_estimators.py --quick          # n = 1e4, 1e5 (about 2 minutes)
    python benchmarks/bench_estimators.py                  # n = 1e4, 1e5, 1e6 (about 3 minutes)
    python benchmarks/bench_estimators.py --sizes 20000 --p 50 --repeats 5 --max-n-quantile 0
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
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

import sklik  # noqa: E402
from sklik.losses import HuberLoss  # noqa: E402

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


MSE_ALPHA = 1e-3
HUBER_ALPHA = 1e-4
HUBER_DELTA = 1.35
POISSON_ALPHA = 1e-4
GAUSS_ALPHA = 1e-4
MLP_ALPHA = 1e-4
MLP_HIDDEN = (100,)
TIGHT = 1e-10  # gradient tolerance of the Poisson fits


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
    return {"X": X, "mse": y_gauss, "l1": y_t, "huber": y_huber, "poisson": y_count, "het": y_het}


def _linear_raw(X, coef, intercept):
    return X @ np.ravel(coef) + float(intercept)


def obj_mse(X, y, coef, intercept, alpha):
    r = y - _linear_raw(X, coef, intercept)
    return float(np.mean(r * r)) + 0.5 * alpha * float(np.sum(np.square(coef)))


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


def obj_mlp(X, y, coefs, intercepts, alpha):
    """Full mean squared error of a ReLU network with an identity output, plus the penalty."""
    a = X
    for W, b in zip(coefs[:-1], intercepts[:-1], strict=True):
        a = np.maximum(a @ W + b, 0.0)
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


def time_fit(label, estimator, X, y, repeats, single_run_above):
    """Median-able fit times of fresh clones; keeps the last fitted estimator."""
    fit = Fit(label)
    for _ in range(repeats):
        est = clone(estimator)
        _OPT_LOG.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with record_minimize():
                t0 = time.perf_counter()
                est.fit(X, y)
                fit.times.append(time.perf_counter() - t0)
        fit.estimator = est
        fit.converged = not any("converge" in str(w.message).lower() for w in caught)
        fit.n_iter = getattr(est, "n_iter_", None)
        if _OPT_LOG:
            nfev = sum(res.counted_fun for res in _OPT_LOG)
            nhev = sum(res.counted_hessp for res in _OPT_LOG)
            fit.nfev = f"{nfev}+h{nhev}" if nhev else str(nfev)
        if fit.times[-1] > single_run_above:
            break
    return fit


# ---------------------------------------------------------------------------------------------
# reporting

HEADER = (
    f"{'problem':<24} {'n':>8} {'estimator':<34} {'time[s]':>9} {'iter':>5} {'nfev':>9} "
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
        f"{problem:<24} {n:>8} {fit.label:<34} {_fmt_time(fit)} {it:>5} {nfev:>9} {r:>10} "
        f"{d:>13}  {note}",
        flush=True,
    )


SUMMARY = []


def compare(problem, n, sk_fit, peers, objective, note_peer=None):
    """Print sklik's row and one row per peer; remember the fastest peer for the summary."""
    print_row(problem, n, sk_fit, note="sklik")
    j_sk = objective(sk_fit.estimator) if objective else None
    best = None
    for fit in peers:
        if fit.skipped:
            print_row(problem, n, fit)
            continue
        ratio = sk_fit.time / fit.time
        dj = "n/a" if objective is None else j_sk - objective(fit.estimator)
        note = note_peer or ""
        print_row(problem, n, fit, ratio, dj, note)
        if best is None or fit.time < best[0].time:
            best = (fit, ratio, dj)
    if best is not None:
        SUMMARY.append((problem, n, sk_fit, best))
    elif objective is None or not peers:
        SUMMARY.append((problem, n, sk_fit, None))


def print_summary():
    print("\nSummary: sklik against its fastest peer (ratio <= 1: sklik at least as fast)")
    print(
        f"{'problem':<24} {'n':>8} {'sklik[s]':>9} {'fastest peer':<34} {'peer[s]':>9} "
        f"{'ratio':>7} {'dJ':>10}"
    )
    for problem, n, sk_fit, best in SUMMARY:
        if best is None:
            print(f"{problem:<24} {n:>8} {sk_fit.time:9.4f} {'(no peer at this n)':<34}")
            continue
        fit, ratio, dj = best
        d = dj if isinstance(dj, str) else f"{dj:10.1e}"
        flag = "  <-- sklik slower" if ratio > 1.05 else ""
        print(
            f"{problem:<24} {n:>8} {sk_fit.time:9.4f} {fit.label:<34} {fit.time:9.4f} "
            f"{ratio:7.2f} {d:>10}{flag}"
        )


# ---------------------------------------------------------------------------------------------
# problems


def lin_obj(fun, X, y, alpha, attr="coef_"):
    return lambda est: fun(X, y, getattr(est, attr), est.intercept_, alpha)


def run_linear(data, n, args):
    X = data["X"]
    rep, slow = args.repeats, args.single_run_above
    T = lambda label, est, y: time_fit(label, est, X, y, rep, slow)  # noqa: E731

    # mse, small ridge penalty and none
    for alpha in (MSE_ALPHA, 0.0):
        y = data["mse"]
        problem = f"mse a={alpha:g}"
        sk = T("sklik lstsq", sklik.LinearRegressor("mse", alpha=alpha), y)
        peers = []
        if alpha > 0:
            peers.append(T(f"Ridge(alpha=a*n/2={alpha * n / 2:g})", Ridge(alpha=alpha * n / 2), y))
        else:
            peers.append(T("LinearRegression", LinearRegression(), y))
        if GeneralizedLinearRegressor is not None:
            glm = GeneralizedLinearRegressor(family="normal", alpha=alpha / 2, solver="closed-form")
            peers.append(T("glum normal closed-form a/2", glm, y))
        compare(problem, n, sk, peers, lin_obj(obj_mse, X, y, alpha))

    # l1 (least absolute deviations)
    y = data["l1"]
    problem = "l1"
    if n > args.max_n_l1:
        sk = Fit("sklik exact LAD", skipped=f"skipped (n > --max-n-l1={args.max_n_l1})")
        print_row(problem, n, sk)
    else:
        sk = T("sklik exact LAD", sklik.LinearRegressor("l1"), y)
        qr = Fit("QuantileRegressor(0.5, highs)")
        if n <= args.max_n_quantile:
            qr = T(qr.label, QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs"), y)
        else:
            qr.skipped = f"skipped (n > --max-n-quantile={args.max_n_quantile})"
        peers = [qr]
        if sm is not None:
            peers.append(T("statsmodels QuantReg(0.5) IRLS", StatsmodelsQuantReg(), y))
            peers[-1].note = "approximate (IRLS, p_tol=1e-6)"
        compare(problem, n, sk, peers, lin_obj(obj_l1, X, y, 0.0))

    # huber: related, different problem -> times only
    y = data["huber"]
    sk = T(
        "sklik newton", sklik.LinearRegressor(HuberLoss(delta=HUBER_DELTA), alpha=HUBER_ALPHA), y
    )
    hub = T(
        "HuberRegressor(eps=1.35,alpha=a*n)",
        HuberRegressor(epsilon=HUBER_DELTA, alpha=HUBER_ALPHA * n, max_iter=1000),
        y,
    )
    compare(
        "huber d=1.35 a=1e-4",
        n,
        sk,
        [hub],
        None,
        note_peer="different problem: joint scale, summed loss -> time only",
    )

    # poisson
    y = data["poisson"]
    a = POISSON_ALPHA
    sk = T("sklik newton", sklik.LinearRegressor("poisson_nll", alpha=a, tol=TIGHT), y)
    peers = [
        T(
            "Poisson newton-cholesky",
            PoissonRegressor(alpha=a, solver="newton-cholesky", tol=TIGHT, max_iter=1000),
            y,
        ),
        T("Poisson lbfgs", PoissonRegressor(alpha=a, solver="lbfgs", tol=TIGHT, max_iter=10000), y),
    ]
    if GeneralizedLinearRegressor is not None:
        glm = GeneralizedLinearRegressor(
            family="poisson", alpha=a, l1_ratio=0, gradient_tol=TIGHT, max_iter=1000
        )
        peers.append(T("glum poisson (irls-ls)", glm, y))
    compare(f"poisson a={a:g}", n, sk, peers, lin_obj(obj_poisson, X, y, a))

    # gaussian_nll: no peer
    sk = T("sklik lbfgs", sklik.LinearRegressor("gaussian_nll", alpha=GAUSS_ALPHA), data["het"])
    compare(f"gaussian_nll a={GAUSS_ALPHA:g}", n, sk, [], None)


def run_mlp(data, n, args):
    X, y = data["X"], data["mse"]
    it, rep, slow = args.mlp_iter, args.repeats, args.single_run_above
    sk_est = sklik.MLPRegressor(
        "mse",
        hidden_layer_sizes=MLP_HIDDEN,
        alpha=MLP_ALPHA,
        max_iter=it,
        tol=1e-14,
        random_state=0,
        early_stopping=False,  # sklearn's lbfgs MLP has no early stopping
    )
    sk_alpha = MLP_ALPHA * n / 2  # sklearn: mean r^2 / 2 + alpha / (2 n) ||W||^2
    pe_est = SkMLPRegressor(
        hidden_layer_sizes=MLP_HIDDEN,
        activation="relu",
        solver="lbfgs",
        alpha=sk_alpha,
        max_iter=it,
        tol=0.0,
        random_state=0,
    )
    sk = time_fit("sklik MLP lbfgs", sk_est, X, y, rep, slow)
    pe = time_fit("sklearn MLP lbfgs (alpha=a*n/2)", pe_est, X, y, rep, slow)
    sk.converged = pe.converged = True  # a fixed number of iterations, by design
    problem = f"mlp(100,) mse {it}it"
    obj = lambda e: obj_mlp(X, y, e.coefs_, e.intercepts_, MLP_ALPHA)  # noqa: E731
    j_sk, j_pe = obj(sk.estimator), obj(pe.estimator)
    print_row(problem, n, sk, note="sklik")
    print_row(
        problem,
        n,
        pe,
        sk.time / pe.time,
        j_sk - j_pe,
        "nonconvex, different starts: dJ informative only",
    )
    per = {}
    for fit in (sk, pe):
        nfev = int(str(fit.nfev).split("+")[0]) if fit.nfev else None
        per[fit.label] = (fit.time / fit.n_iter, fit.time / nfev if nfev else float("nan"))
    (s_it, s_ev), (p_it, p_ev) = per[sk.label], per[pe.label]
    print(
        f"{'':<24} {n:>8} per iteration: sklik {1e3 * s_it:.2f} ms, sklearn {1e3 * p_it:.2f} ms, "
        f"ratio {s_it / p_it:.2f}; per evaluation: sklik {1e3 * s_ev:.2f} ms, sklearn "
        f"{1e3 * p_ev:.2f} ms, ratio {s_ev / p_ev:.2f}",
        flush=True,
    )
    sk_it, pe_it = Fit(sk.label, times=[s_it] * 2), Fit(pe.label, times=[p_it] * 2)
    SUMMARY.append((problem + " /iter", n, sk_it, (pe_it, s_it / p_it, "")))


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
    j = obj_mlp(Xm, ym, m.coefs_, m.intercepts_, 2 * a_sk / len(ym))
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
        f"mlp_iter={args.mlp_iter} single_run_above={args.single_run_above}s"
    )


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
    parser.add_argument("--mlp-iter", type=int, default=50)
    parser.add_argument(
        "--single-run-above",
        type=float,
        default=20.0,
        help="do not repeat a fit whose first run takes longer than this (seconds)",
    )
    parser.add_argument("--skip-checks", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [10_000, 100_000]
    start = time.perf_counter()
    print_environment(args)
    if not args.skip_checks:
        scaling_checks(min(min(args.sizes), 20_000), args.p)

    print(
        "\nMedian fit time over repeats (¹ = single run); sklik/peer <= 1: sklik at least as "
        "fast; dJ = J(sklik) - J(peer) on sklik's objective (> 0: sklik worse)"
    )
    print(HEADER)
    for n in args.sizes:
        data = make_data(n, args.p)
        run_linear(data, n, args)
        if n <= args.max_n_mlp:
            run_mlp(data, n, args)
        del data
    print_summary()
    print(f"\nTotal wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
