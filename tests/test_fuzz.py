"""Property-based fuzzing of both estimators over adversarial inputs (hypothesis).

Every case ends in one of two ways:

- a fit, whose parameters, objective, scale, predictions, predictive distribution (mean, std,
  ppf, interval, cdf) and log-likelihood are finite, and, for the linear model on a problem
  whose optimum exists, whose objective equals a reference optimum of the same objective
  computed independently (``numpy.linalg.lstsq`` for mse, the l1 linear program with HiGHS,
  else ``scipy.optimize.minimize`` with tight tolerances on the standardised problem), to
  ``1e-6`` of the objective's decrease from the best constant model (the relative ``tol``);
- or a ``ValueError`` whose message says what is wrong, never an ``IndexError``, a
  ``LinAlgError`` or a message of scipy's or HiGHS's internals.

Profiles: ``ci`` (default, bounded for CI) and ``deep`` (thousands of examples, by hand)::

    SKLIK_FUZZ_PROFILE=deep pytest tests/test_fuzz.py
"""

import os
import signal
import warnings

import numpy as np
import pytest
import scipy.optimize

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from sklik import LinearRegressor, MLPRegressor  # noqa: E402
from sklik.losses import (  # noqa: E402
    GaussianNLLLoss,
    HuberLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    get_loss,
)

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "deep",
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("SKLIK_FUZZ_PROFILE", "ci"))

# one example may take at most this long (a hang fails the test instead of stalling CI)
CASE_SECONDS = 30
FORBIDDEN = ("HiGHS Status", "must not contain infs", "Eigenvalues", "LinAlgError", "SVD did not")
SOLVERS = {
    "mse": ["auto", "lstsq", "lbfgs", "newton"],
    "l1": ["auto", "highs", "lbfgs"],
    "huber": ["auto", "lbfgs", "newton"],
    "smooth_l1": ["auto", "lbfgs", "newton"],
    "gaussian_nll": ["auto", "lbfgs", "newton"],
    "poisson_nll": ["auto", "lbfgs", "newton"],
}


class _Timeout(Exception):
    pass


def _bounded(fn):
    """Run ``fn`` with an alarm: a hang becomes a test failure."""

    def handler(signum, frame):
        raise _Timeout(f"one fuzz case ran for more than {CASE_SECONDS} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(CASE_SECONDS)
    try:
        return fn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- the reference objective, written independently of sklik ------------------------------------


def _elementwise(loss, raw, y):
    """torch's elementwise losses; ``raw`` has shape (n_params, n)."""
    name, params = loss
    r = raw[0] - y
    if name == "mse":
        return r * r
    if name == "l1":
        return np.abs(r)
    if name == "huber":
        d = params["delta"]
        return np.where(np.abs(r) < d, 0.5 * r * r, d * (np.abs(r) - 0.5 * d))
    if name == "smooth_l1":
        b = params["beta"]
        if b == 0:
            return np.abs(r)
        return np.where(np.abs(r) < b, 0.5 * r * r / b, np.abs(r) - 0.5 * b)
    if name == "poisson_nll":
        return np.exp(raw[0]) - y * raw[0]
    if name == "gaussian_nll":
        v = np.maximum(np.exp(raw[1]), params["eps"])
        return 0.5 * (np.log(v) + r * r / v)
    raise AssertionError(name)


def _objective(loss, theta, X, y, c, alpha, fit_intercept, n_params):
    """Penalised weighted mean loss of a linear model with ``theta`` = coef rows + intercepts."""
    p = X.shape[1]
    W = theta[: n_params * p].reshape(n_params, p)
    b = theta[n_params * p :] if fit_intercept else np.zeros(n_params)
    raw = W @ X.T + b[:, None]
    with np.errstate(all="ignore"):
        return float(c @ _elementwise(loss, raw, y)) + 0.5 * alpha * float(np.sum(W * W))


def _rounding_change(loss, theta, X, y, c, fit_intercept, n_params):
    """How far the objective moves when every raw output moves by its rounding error.

    The raw outputs ``W x + b`` of the user-unit parameters carry a rounding error of about
    ``eps * (|W| |x| + |b|)`` per row and head (the estimator's own, standardised parameters
    map to them with that error): the sum over rows of ``c_i`` times the largest change of
    the row's loss when one head's raw output moves by 4 such errors either way. It matters
    where the loss is extremely sensitive to its raw outputs (a variance at a 1e-16 floor
    with a 1e-10 residual), and is negligible elsewhere.
    """
    p = X.shape[1]
    W = theta[: n_params * p].reshape(n_params, p)
    b = theta[n_params * p :] if fit_intercept else np.zeros(n_params)
    raw = W @ X.T + b[:, None]
    delta = 4 * np.finfo(np.float64).eps * (np.abs(W) @ np.abs(X).T + np.abs(b)[:, None])
    with np.errstate(all="ignore"):
        base = _elementwise(loss, raw, y)
        change = np.zeros_like(base)
        for k in range(n_params):
            for sign in (-1.0, 1.0):
                moved = raw.copy()
                moved[k] += sign * delta[k]
                change = np.fmax(change, np.abs(_elementwise(loss, moved, y) - base))
        return float(c @ change)


def _reference(loss, X, y, c, alpha, fit_intercept, n_params, theta_start):
    """Optimum of the same objective: exact for mse and l1, else tight scipy minimisation.

    Solved on standardised columns (and y in units of its spread), mapped back.
    """
    name, _ = loss
    n, p = X.shape
    m = c @ X if fit_intercept else np.zeros(p)
    s = np.sqrt(c @ (X - m) ** 2)
    s[s <= 1e-12 * np.maximum(np.abs(m), 1e-300)] = 1.0
    Z = (X - m) / s
    A = np.column_stack([Z, np.ones(n)]) if fit_intercept else Z

    def to_theta(v):  # v on the standardised columns -> user units
        W = v[: n_params * p].reshape(n_params, p) / s
        out = [W.ravel()]
        if fit_intercept:
            out.append(v[n_params * p :] - W @ m)
        return np.concatenate(out)

    if name == "mse" and alpha == 0:
        root = np.sqrt(c)
        v = np.linalg.lstsq(A * root[:, None], y * root, rcond=None)[0]
        return _objective(loss, to_theta(v), X, y, c, alpha, fit_intercept, 1)
    if name in ("l1",) or (name == "smooth_l1" and loss[1]["beta"] == 0):
        if alpha > 0:
            return None
        k = A.shape[1]
        # min c^T (u + w) subject to A v + u - w = y, u, w >= 0
        res = scipy.optimize.linprog(
            np.concatenate([np.zeros(k), c, c]),
            A_eq=np.hstack([A, np.eye(n), -np.eye(n)]),
            b_eq=y,
            bounds=[(None, None)] * k + [(0, None)] * (2 * n),
            method="highs",
        )
        if res.status != 0:  # the oracle fails on some hostile designs (HiGHS status 15)
            return None
        return _objective(loss, to_theta(res.x[:k]), X, y, c, alpha, fit_intercept, 1)

    def fun(v):
        return _objective(loss, to_theta(v), X, y, c, alpha, fit_intercept, n_params)

    # start from sklik's solution mapped to the standardised columns, and from zero
    starts = []
    W0 = theta_start[: n_params * p].reshape(n_params, p) * s
    v0 = [W0.ravel()]
    if fit_intercept:
        v0.append(
            theta_start[n_params * p :] + (theta_start[: n_params * p].reshape(n_params, p) @ m)
        )
    starts.append(np.concatenate(v0))
    best = np.inf
    for v in starts:
        # (the oracle's finite differences may step into an overflowing objective: its
        # NumPy warnings are the oracle's, not sklik's)
        with np.errstate(all="ignore"):
            res = scipy.optimize.minimize(
                fun, v, method="L-BFGS-B", options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 5000}
            )
        best = min(best, float(res.fun))
    return best


# -- strategies ------------------------------------------------------------------------------


@st.composite
def linear_problems(draw):
    loss_name = draw(st.sampled_from(list(SOLVERS)))
    solver = draw(st.sampled_from(SOLVERS[loss_name]))
    n = draw(st.integers(1, 14))
    p = draw(st.sampled_from([1, 2, 3, 5, 20]))
    fit_intercept = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    # per-column units 1e-8 ... 1e8 and origins up to 1e9 (within 1e6 spreads, so that the
    # column still carries its digits), mixed in one design
    log_scale = np.array(draw(st.lists(st.integers(-8, 8), min_size=p, max_size=p)), float)
    scale = 10.0**log_scale
    shift = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 1e3, 1e6]), min_size=p, max_size=p)))
    if not fit_intercept:
        # without an intercept a shift is no invariance: an offset column is nearly collinear
        # with a constant one, an ill-conditioned problem no gradient tolerance resolves
        shift = np.zeros(p)
    X = X * scale + shift * scale
    if fit_intercept and draw(st.booleans()):
        X[:, 0] = X[:, 0] * 0 + 1e9 if draw(st.booleans()) else X[:, 0]
    degenerate = draw(st.sampled_from(["none", "constant", "duplicate", "zero"]))
    if degenerate == "constant":
        X[:, -1] = 3.5 * scale[-1]
    elif degenerate == "duplicate" and p > 1:
        X[:, 1] = X[:, 0]
    elif degenerate == "zero":
        X[:, -1] = 0.0
    eta = X @ (rng.normal(size=p) / scale) * 0.5
    y_scale = 10.0 ** draw(st.integers(-8, 10))
    if loss_name == "poisson_nll":
        y = rng.poisson(np.exp(np.clip(eta, -3, 3))).astype(float)
    else:
        y = (eta + rng.standard_t(3, size=n)) * y_scale
        if draw(st.integers(0, 9)) == 0:
            y[:] = 2.5 * y_scale  # constant y
    weights = None
    if draw(st.booleans()):
        weights = rng.uniform(0.0, 3.0, size=n)
        weights[0] = 1.0
        # in any finite units: weights of 1e200 made dask's moments overflow (zero coefficients)
        # and weights of 1e-200 huber's dispersion factor
        weights *= 10.0 ** draw(st.sampled_from([0, 0, 0, -200, -100, 100, 200]))
    alpha = draw(st.sampled_from([0.0, 0.0, 0.3]))
    param = draw(st.sampled_from([1e-12, 1.0, 1e12]))
    loss = {
        "huber": HuberLoss(delta=param * y_scale),
        "smooth_l1": SmoothL1Loss(beta=param * y_scale if draw(st.booleans()) else 0.0),
        "gaussian_nll": GaussianNLLLoss(eps=1e-6 * y_scale**2),
        "poisson_nll": PoissonNLLLoss(),
    }.get(loss_name, loss_name)
    return loss_name, loss, solver, X, y, weights, alpha, fit_intercept


def _loss_spec(est):
    loss = est.loss_
    params = {k: getattr(loss, k) for k in ("delta", "beta", "eps") if hasattr(loss, k)}
    return loss.name, params


def _assert_clear_error(exc):
    assert isinstance(exc, ValueError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert len(message) > 20 and not any(bad in message for bad in FORBIDDEN), message


def _fit_or_clear_error(est, X, y, weights, *, floor=False):
    """Fit ``est``; the ConvergenceWarnings it gave (with ``floor``, also the report that a
    loss's floor holds at the solution: GaussianNLL's variance at eps, where the objective is
    flat and the fit not certified), or None after a clear ValueError."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", UserWarning)
        try:
            _bounded(lambda: est.fit(X, y, sample_weight=weights))
        except ValueError as exc:
            _assert_clear_error(exc)
            return None
    return [
        w
        for w in caught
        if issubclass(w.category, ConvergenceWarning) or (floor and "floor holds" in str(w.message))
    ]


def _assert_finite_outputs(est, X, y):
    arrays = [*est._fitted_params().values(), est.objective_]
    if est.scale_ is not None:
        arrays.append(est.scale_)
    mean, std = est.predict(X, return_std=True)
    arrays += [mean, std]
    for a in arrays:
        for part in a if isinstance(a, list) else [a]:
            assert np.all(np.isfinite(part)), arrays
    if est.loss_.name == "poisson_nll" and np.max(mean) > 1e15:
        # (the Poisson distribution's quantities are promised finite up to rates of 1e15)
        return
    dist = est.predict_dist(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's own, not sklik's
        quantities = [dist.mean(), dist.std(), dist.ppf(0.9), *dist.interval(0.8), dist.cdf(y)]
    for q in quantities:
        assert np.all(np.isfinite(q)), quantities
    assert np.isfinite(est.log_likelihood(X, y))


@settings(max_examples=60 if os.environ.get("SKLIK_FUZZ_PROFILE") != "deep" else 3000)
@given(linear_problems())
def test_linear_fit_is_the_optimum_or_a_clear_error(problem):
    loss_name, loss, solver, X, y, weights, alpha, fit_intercept = problem
    # alpha_var=0: the reference objective below has no extra penalty on a variance head
    est = LinearRegressor(
        loss, solver=solver, alpha=alpha, fit_intercept=fit_intercept, alpha_var=0.0
    )
    # (a fit at GaussianNLL's variance floor warns that it is not certified: a kink where a
    # 5-row fit with constant y = 2500, eps=1 and no intercept stopped 1.2e-5 of the span
    # above the optimum)
    caught = _fit_or_clear_error(est, X, y, weights, floor=True)
    if caught is None:
        return
    converged = not caught
    _assert_finite_outputs(est, X, y)
    n, p = X.shape
    n_params = est.loss_.n_params
    sw = np.ones(n) if weights is None else weights
    c = sw / sw.sum()
    coef = np.vstack(
        [np.atleast_2d(est.coef_)] + ([np.atleast_2d(est.log_var_coef_)] if n_params == 2 else [])
    )
    theta = coef.ravel()
    if fit_intercept:
        icpt = [est.intercept_] + ([est.log_var_intercept_] if n_params == 2 else [])
        theta = np.concatenate([theta, np.ravel(icpt)])
    spec = _loss_spec(est)
    ours = _objective(spec, theta, X, y, c, alpha, fit_intercept, n_params)
    # the zero model's objective: the size of the objective's values on this problem
    zero = _objective(spec, np.zeros(theta.size), X, y, c, 0, fit_intercept, n_params)
    size = abs(zero) if np.isfinite(zero) else abs(ours)
    # objective_ is the objective at the fitted parameters (independently evaluated), up to
    # what rounding the user-unit parameters' outputs can change
    rounding = _rounding_change(spec, theta, X, y, c, fit_intercept, n_params)
    if not converged and not np.isfinite(ours):
        # a fit that warned while diverging where no optimum exists (constant y = 2500, no
        # intercept, eps=1): log variances beyond 709, which sklik's loss clips and this
        # independent objective lets overflow
        return
    assert np.isclose(ours, est.objective_, rtol=1e-6, atol=1e-9 * size + 2 * rounding), (
        ours,
        size,
        rounding,
    )
    exists = spec[0] in ("mse", "l1", "huber", "smooth_l1") or (
        alpha > 0 or n >= 3 * n_params * (p + 1)
    )
    if not converged or not exists:
        return  # (some optima do not exist)
    if (
        spec[0] == "huber"
        and spec[1]["delta"] < 1e-6 * np.std(y)
        or (spec[0] == "smooth_l1" and 0 < spec[1]["beta"] < 1e-6 * np.std(y))
    ):
        return  # next to l1: tested in test_invariance against the LP
    ref = _reference(spec, X, y, c, alpha, fit_intercept, n_params, theta)
    if ref is None:
        return
    # the best constant model's objective: the gap is measured against the decrease from it
    const = _objective(
        spec,
        np.concatenate([np.zeros(n_params * p), np.zeros(n_params)]),
        X,
        y,
        c,
        0,
        False,
        n_params,
    )
    span = max(abs(const - ref), abs(ref), 1e-300) if np.isfinite(const) else max(abs(ref), 1e-300)
    assert ours <= ref + 1e-6 * span + 1e-12 * abs(ref), (ours, ref, span)


# -- the elastic net ------------------------------------------------------------------------------

ENET_LOSSES = (
    "mse",
    "huber",
    "smooth_l1",
    "poisson_nll",
    "gaussian_nll",
    "negative_binomial_nll",
)


@st.composite
def enet_problems(draw):
    """Random elastic-net problems: badly scaled, shifted columns, weights, any penalty."""
    loss = draw(st.sampled_from(ENET_LOSSES))
    two_heads = get_loss(loss).n_params > 1
    n = draw(st.integers(3, 120))
    p = draw(st.integers(1, 12 if two_heads else 25))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.normal(size=(n, p)) * 10.0 ** rng.uniform(-3, 3, p) + rng.normal(
        size=p
    ) * 10.0 ** rng.uniform(-3, 3, p)
    Z = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    eta = Z @ np.where(rng.random(p) < 0.5, 0.0, rng.normal(size=p)) * 0.3
    if loss == "poisson_nll":
        y = rng.poisson(np.exp(0.5 + eta)).astype(float)
    elif loss == "negative_binomial_nll":  # gamma-mixed Poisson counts
        y = rng.poisson(np.exp(0.5 + eta) * rng.gamma(2.0, 0.5, size=n)).astype(float)
    else:  # heavy tails, and a spread that varies with the first column
        y = 10.0 ** rng.uniform(-3, 3) * (eta + rng.standard_t(3, size=n) * np.exp(0.3 * Z[:, 0]))
    weights = rng.uniform(0.1, 3.0, n) if draw(st.booleans()) else None
    alpha = 10.0 ** draw(st.floats(-4, 0.5))
    l1_ratio = draw(st.sampled_from([0.05, 0.5, 0.9, 1.0]))
    # the second head of the negative binomial is an intercept alone
    fit_intercept = True if two_heads else draw(st.booleans())
    return loss, X, y, weights, alpha, l1_ratio, fit_intercept


def _enet_reference(est, X, y, c, alpha, l1_ratio, fit_intercept):
    """The elastic-net objective's minimum by L-BFGS-B on split variables, run independently
    on standardised columns (tight tolerances) from sklik's solution and, for a convex loss,
    from zero coefficients; with the objective function it minimised. Every head's
    coefficients carry the penalty (with ``alpha_var=0``); a head the loss models as a
    constant keeps them at 0. A non-convex loss (the two-head ones) can have several local
    minima, and sklik promises one: from its solution nothing lower must be found."""
    loss = est.loss_
    n, p = X.shape
    k = loss.n_params
    m = c @ X if fit_intercept else np.zeros(p)
    s = np.sqrt(c @ (X - m) ** 2)
    s[s <= 1e-12 * np.maximum(np.abs(m), 1e-300)] = 1.0
    Z = (X - m) / s
    Y = y[:, None]
    n_b = k if fit_intercept else 0

    def unpack(x):
        V = (x[: k * p] - x[k * p : 2 * k * p]).reshape(k, p)
        return V, (x[2 * k * p :] if fit_intercept else np.zeros(k))

    def fun(x):
        V, b = unpack(x)
        # (the reference's own arithmetic, where L-BFGS-B tries a far point: inf, not a
        # RuntimeWarning)
        with np.errstate(all="ignore"):
            raw = (V @ Z.T + b[:, None])[:, :, np.newaxis]
            ell, g = loss.raw_loss_gradient(Y, raw)
            W = V / s  # user-unit coefficients
            value = float(c @ ell[:, 0]) + alpha * (
                l1_ratio * np.abs(W).sum() + 0.5 * (1 - l1_ratio) * float(np.sum(W * W))
            )
            gr = c * g[:, :, 0]
            gV = (gr @ Z + alpha * (1 - l1_ratio) * W / s).ravel()
        lam = np.tile(alpha * l1_ratio / s, k)
        grad = np.concatenate([gV + lam, lam - gV] + ([gr.sum(axis=1)] if fit_intercept else []))
        finite = np.isfinite(value) and np.all(np.isfinite(grad))
        return (value, grad) if finite else (np.inf, np.zeros_like(grad))

    params = est._fitted_params()
    W0, b0 = params["coef"], params["intercept"]
    V0 = (W0 * s).ravel()
    start = np.concatenate(
        [np.maximum(V0, 0), np.maximum(-V0, 0)] + ([b0 + W0 @ m] if fit_intercept else [])
    )
    free = [(0, None) if j not in loss.constant_params else (0, 0) for j in range(k)]
    head_bounds = [bound for bound in free for _ in range(p)]
    bounds = head_bounds * 2 + [(None, None)] * n_b
    starts = [start]
    if loss.convex:
        starts.append(np.concatenate([np.zeros(2 * k * p), start[2 * k * p :]]))
    best = min(
        scipy.optimize.minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-12, "maxls": 100},
        ).fun
        for x0 in starts
    )
    zero = fun(np.zeros_like(start))[0]
    return best, fun(start)[0], zero


@settings(max_examples=30 if os.environ.get("SKLIK_FUZZ_PROFILE") != "deep" else 1000)
@given(enet_problems())
def test_elastic_net_fit_is_the_optimum_or_warns(problem):
    """An elastic-net fit (L-BFGS-B screening for the zeros, Newton steps certifying the
    optimum, or L-BFGS-B to tol) ends at the minimum of its objective, or warns, or raises a
    clear error: an independent L-BFGS-B from its solution finds nothing lower.

    The fits run at ``tol=1e-8``: ``tol`` bounds the gradient, and the objective's gap is
    about the gradient times the distance to the optimum, which can reach ``tol`` times the
    span where that distance is large: an optimum at infinity (the negative binomial's
    dispersion tending to 0 on under-dispersed counts: a gap of 1.2e-6 of the span at the
    default ``tol=1e-6``, 8e-9 at 1e-8), or a lasso on 3 rows and 16 features of scales
    1e-3 to 3e2 (1.2e-6 at 1e-6; at 1e-8 the fit warns that its optimality conditions hold to
    3.7e-5 only). A
    Gaussian NLL fit whose variance ends at its floor ``eps`` warns (the objective is flat
    there and kinked at the floor): on 3 rows and 2 features it stopped 2.5e-4 of the span
    above the optimum, a log-variance weight the L1 penalty should have zeroed. Their
    objectives are not convex: a weighted 3-row negative binomial lasso has a local minimum
    at dispersion 1.06 (objective 1.553, where sklik's fit from the constant model ends) and
    the global one in the Poisson limit (1.297), so the check is local for them.
    """
    loss, X, y, weights, alpha, l1_ratio, fit_intercept = problem
    extra = {"alpha_var": 0.0} if get_loss(loss).n_params > 1 else {}
    est = LinearRegressor(
        loss, alpha=alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept, tol=1e-8, **extra
    )
    caught = _fit_or_clear_error(est, X, y, weights, floor=True)
    if caught is None or caught:
        return
    sw = np.ones(X.shape[0]) if weights is None else weights
    c = sw / sw.sum()
    ref, ours, zero = _enet_reference(est, X, y, c, alpha, l1_ratio, fit_intercept)
    # the gap is measured against the decrease from the zero model
    span = max(abs(zero - ref), abs(ref), 1e-300) if np.isfinite(zero) else max(abs(ref), 1e-300)
    assert est.objective_ == pytest.approx(ours, rel=1e-6, abs=1e-9 * span)
    assert ours <= ref + 1e-6 * span + 1e-12 * abs(ref), (ours, ref, span)


@pytest.mark.parametrize("seed", [0, 1, 3, 4, 5, 6])
def test_elastic_net_with_more_features_than_rows_reaches_the_optimum(seed):
    """3 rows, 14 features whose scales span 1e-3 to 1e3, a small L1 share: the L2 penalty on
    the user's coefficients leaves the problem so badly conditioned that L-BFGS-B stops by
    its relative-reduction test, and the Newton polish needs the optimum's zeros. Proximal
    Newton (with the exact minimiser of each quadratic model) reaches the optimum; before it,
    14 of 20 such problems (these 6 among them) ended up to 6e-5 of the objective's span
    above it, without a warning."""
    rng = np.random.default_rng(seed)
    n, p = 3, 14
    X = rng.normal(size=(n, p)) * 10.0 ** rng.uniform(-3, 3, p)
    X += rng.normal(size=p) * 10.0 ** rng.uniform(-3, 3, p)
    y = rng.standard_t(3, size=n) * 3
    alpha, l1_ratio = 0.02, 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = LinearRegressor("mse", alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False)
        est.fit(X, y)
    c = np.full(n, 1.0 / n)
    ref, ours, zero = _enet_reference(est, X, y, c, alpha, l1_ratio, False)
    assert ours <= ref + 1e-9 * abs(zero - ref), (ours, ref)


# -- bad inputs ----------------------------------------------------------------------------------


BAD = [
    "nan_X",
    "inf_X",
    "nan_y",
    "inf_y",
    "nan_weight",
    "inf_weight",
    "negative_weight",
    "zero_weights",
    "overflowing_weights",
    "nan_offset",
    "inf_offset",
    "short_y",
    "short_weights",
    "short_offset",
    "3d_X",
    "empty",
    "string_X",
    "huge_y",
    "huge_X",
    "negative_poisson_y",
]


@pytest.mark.parametrize("estimator", ["linear", "mlp"])
@pytest.mark.parametrize("bad", BAD)
@settings(max_examples=6 if os.environ.get("SKLIK_FUZZ_PROFILE") != "deep" else 100)
@given(loss=st.sampled_from(list(SOLVERS)), seed=st.integers(0, 1000))
def test_bad_input_gets_a_clear_error(bad, estimator, loss, seed):
    rng = np.random.default_rng(seed)
    n, p = 12, 3
    X = rng.normal(size=(n, p))
    y = rng.poisson(2.0, size=n).astype(float)
    sw, off = None, None
    expect_error = True
    if bad == "nan_X":
        X[rng.integers(n), rng.integers(p)] = np.nan
    elif bad == "inf_X":
        X[rng.integers(n), rng.integers(p)] = -np.inf
    elif bad == "nan_y":
        y[rng.integers(n)] = np.nan
    elif bad == "inf_y":
        y[rng.integers(n)] = np.inf
    elif bad in ("nan_weight", "inf_weight", "negative_weight"):
        sw = np.ones(n)
        sw[rng.integers(n)] = {"nan_weight": np.nan, "inf_weight": np.inf}.get(bad, -1.0)
    elif bad == "zero_weights":
        sw = np.zeros(n)
    elif bad == "overflowing_weights":
        sw = np.full(n, 1e308)
    elif bad in ("nan_offset", "inf_offset"):
        off = np.zeros(n)
        off[rng.integers(n)] = np.nan if bad == "nan_offset" else np.inf
    elif bad == "short_y":
        y = y[:-1]
    elif bad == "short_weights":
        sw = np.ones(n - 1)
    elif bad == "short_offset":
        off = np.zeros(n + 2)
    elif bad == "3d_X":
        X = X[:, :, None]
    elif bad == "empty":
        X, y = X[:0], y[:0]
    elif bad == "string_X":
        X = np.array([["a", "b", "c"]] * n, dtype=object)
    elif bad == "huge_y":
        y = y * 1e300 + 1e300
        expect_error = None  # a finite fit or a clear error
    elif bad == "huge_X":
        X = X * 1e300
        expect_error = None
    elif bad == "negative_poisson_y":
        y = y - 5.0
        expect_error = loss == "poisson_nll"
    est = (
        LinearRegressor(loss)
        if estimator == "linear"
        else MLPRegressor(loss, hidden_layer_sizes=(3,), max_iter=30, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            _bounded(lambda: est.fit(X, y, sample_weight=sw, offset=off))
        except ValueError as exc:
            assert expect_error is not False, f"unexpected error: {exc}"
            _assert_clear_error(exc)
            return
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{type(exc).__name__} instead of a ValueError: {exc}")
    assert expect_error is not True, f"{bad} was accepted"
    _assert_finite_outputs(est, X, y)


# -- dtypes, MLP on adversarial designs ----------------------------------------------------------


@given(
    dtype=st.sampled_from(["float32", "int64", "bool", "object"]),
    estimator=st.sampled_from(["linear", "mlp"]),
    loss=st.sampled_from(list(SOLVERS)),
    n=st.integers(1, 10),
    p=st.sampled_from([1, 2, 4, 15]),
    seed=st.integers(0, 1000),
)
def test_dtypes_and_small_designs_fit_or_fail_clearly(dtype, estimator, loss, n, p, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * 3
    X = X > 0 if dtype == "bool" else X.astype(dtype if dtype != "object" else float)
    if dtype == "object":
        X = X.astype(object)
    y = rng.poisson(2.0, size=n).astype(float)
    _assert_finite_fit_or_clear_error(estimator, loss, X, y)


def _assert_finite_fit_or_clear_error(estimator, loss, X, y):
    """The default linear model or a small MLP fits ``X, y`` finitely, or raises clearly."""
    est = (
        LinearRegressor(loss)
        if estimator == "linear"
        else MLPRegressor(loss, hidden_layer_sizes=(4,), max_iter=40, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            _bounded(lambda: est.fit(X, y))
        except ValueError as exc:
            _assert_clear_error(exc)
            return
    _assert_finite_outputs(est, np.asarray(X, dtype=float), y)


ALL_LOSSES = [*SOLVERS, "negative_binomial_nll"]


@settings(max_examples=30 if os.environ.get("SKLIK_FUZZ_PROFILE") != "deep" else 1500)
@given(
    estimator=st.sampled_from(["linear", "mlp"]),
    loss=st.sampled_from(ALL_LOSSES),
    n=st.integers(2, 14),
    p=st.sampled_from([1, 2, 5, 20]),
    log_scale=st.integers(-8, 8),
    shift=st.sampled_from([0.0, 1.0, 1e3, 1e6]),
    y_log_scale=st.integers(-8, 10),
    degenerate=st.sampled_from(["none", "constant", "duplicate", "zero", "constant_y"]),
    seed=st.integers(0, 2**16),
)
def test_every_estimator_and_loss_fits_finitely_or_fails_clearly(
    estimator, loss, n, p, log_scale, shift, y_log_scale, degenerate, seed
):
    """Both estimators, all seven losses (negative_binomial_nll included), on the scale
    families of the optimum test (units 1e-8 ... 1e8, origins up to 1e6 spreads, y from 1e-8
    to 1e10, degenerate designs): a fit with finite parameters, predictions and distribution
    quantities, or a clear ValueError; never a hang or a leaked RuntimeWarning (an error
    here, see pyproject.toml). The MLP's optimum has no independent reference: its
    finiteness and the clear errors are what is asserted."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * 10.0**log_scale + shift * 10.0**log_scale
    if degenerate == "constant":
        X[:, -1] = 3.5
    elif degenerate == "duplicate" and p > 1:
        X[:, 1] = X[:, 0]
    elif degenerate == "zero":
        X[:, -1] = 0.0
    counts = loss in ("poisson_nll", "negative_binomial_nll")
    if counts:
        y = rng.poisson(np.exp(rng.normal(size=n))).astype(float) * 10.0 ** max(0, y_log_scale)
        y = np.round(y)
    else:
        y = rng.standard_t(3, size=n) * 10.0**y_log_scale
    if degenerate == "constant_y":
        y[:] = y[0]
    _assert_finite_fit_or_clear_error(estimator, loss, X, y)


HUBER_DELTA_INF_REJECTED = True
try:
    HuberLoss(delta=np.inf).check_params()
    HUBER_DELTA_INF_REJECTED = False
except ValueError:
    pass


@pytest.mark.xfail(
    not HUBER_DELTA_INF_REJECTED,
    reason="HuberLoss.check_params rejects delta=inf on the losses branch (not merged here)",
    strict=True,
)
@pytest.mark.parametrize("loss", [HuberLoss(delta=np.inf), SmoothL1Loss(beta=np.inf)])
def test_infinite_loss_parameter_is_a_clear_error(loss):
    X = np.arange(12.0).reshape(6, 2)
    with pytest.raises(ValueError, match="delta|beta"):
        LinearRegressor(loss).fit(X, np.arange(6.0))
