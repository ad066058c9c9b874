r"""Solvers: thin wrappers around ``scipy.optimize`` (and ``scipy.linalg`` for least squares).

Conventions:

- :func:`minimize` works on any :class:`~sklik._objective.Objective` and a flat float64
  ``theta``: ``"lbfgs"`` is L-BFGS-B with the exact gradient; ``"newton"`` is a trust-region
  Newton method for convex smooth one-parameter losses: ``trust-exact`` with the exact
  Hessian matrix when the model builds it (the linear model), else ``trust-ncg`` with exact
  Hessian-vector products.
- :func:`least_squares` and :func:`least_absolute_deviations` solve the linear model's
  ``mse`` and ``l1`` objectives exactly; they return ``coef`` of shape
  ``(n_targets, n_features)`` and ``intercept`` of shape ``(n_targets,)``.
- ``tol`` is *relative*: the solvers work on ``u = theta / param_scale`` (the estimators pass
  y's standard deviation for the parameters of a head in y's units, 1 for the others) and
  stop when the gradient :math:`D \nabla f`, divided by ``gradient_scale`` (the largest entry
  of :math:`D \nabla f` at the estimator's cold start, the best constant model), falls below
  ``tol`` (its largest entry for L-BFGS-B, its norm for the trust-region Newton methods). So
  ``tol`` means the same on every dataset whatever the units of y and of the loss's
  parameters; the estimators fit on standardised designs (:mod:`sklik._design`), which makes
  it independent of the units of X too. The scipy solvers see ``f / G`` with
  ``G = min(gradient_scale, |f(theta0)|)`` and ``gtol = tol * gradient_scale / G`` (the same
  test), so that L-BFGS-B's ``ftol`` test, relative to ``max(|f|, 1)``, stays relative. When
  that test stops L-BFGS-B before the gradient meets ``tol`` on a loss with a Hessian, a few
  trust-region Newton steps finish the fit. Non-convergence is a :class:`ConvergenceWarning`
  naming ``max_iter`` and ``tol`` and the reason; the last (best) iterate is returned.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from sklik._lad import frisch_newton
from sklik._objective import Objective

METHODS = ("lbfgs", "newton")
# From this many rows on, exact l1 fits use the Frisch-Newton method (10x faster than HiGHS at
# 1e4 rows and above); HiGHS keeps the small problems, where it takes milliseconds.
_LAD_FRISCH_NEWTON_ROWS = 5000
_FTOL = 64 * np.finfo(np.float64).eps
# An L-BFGS-B run that stops on its ftol test before meeting tol is polished by trust-region
# Newton steps up to this many parameters (a dense Hessian beyond that costs too much).
_POLISH_MAX_COEF = 500
# The scaled Gram matrix is solved by Cholesky only below this condition number (forward
# error ~ cond * eps ~ 1e-12); above it the weighted least-squares problem goes to an SVD-based
# solver (LAPACK gelsd), which keeps the certified digits of the NIST StRD problems.
_CHOLESKY_MAX_COND = 1e4


@dataclass
class SolverResult:
    """Outcome of a solver run.

    Attributes
    ----------
    theta : ndarray
        The solution (the last iterate if the run did not converge).
    n_iter : int
        Number of iterations, at least 1.
    converged : bool
        Whether the stopping criterion was met.
    fun : float
        Objective value at ``theta``.
    """

    theta: np.ndarray
    n_iter: int
    converged: bool
    fun: float


class _Scaled:
    r"""What the scipy solvers see: :math:`u \mapsto f(D u) / g`.

        ``g`` is the gradient scale and :math:`D` = ``param_scale`` a diagonal reparametrisation
        (the parameters in the units of their natural size, e.g. a mean head in y's units), so
        that the gradient :math:`D
    abla f / g`, the Hessian :math:`D H D / g` and the trust
        radius all have the same meaning whatever the units of y.
    """

    def __init__(
        self, objective: Objective, scale: float, param_scale: np.ndarray | None = None
    ) -> None:
        self.objective = objective
        self.inv = 1.0 / scale
        self.d = None if param_scale is None else np.asarray(param_scale, dtype=np.float64)
        self.has_hessian = objective.has_hessian

    def theta(self, u: np.ndarray) -> np.ndarray:
        return u if self.d is None else u * self.d

    def u(self, theta: np.ndarray) -> np.ndarray:
        return theta if self.d is None else theta / self.d

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = self.objective(self.theta(u))
        if self.d is not None:
            grad = grad * self.d
        return value * self.inv, grad * self.inv

    def hessian(self, u: np.ndarray) -> np.ndarray:
        H = self.objective.hessian(self.theta(u))
        if self.d is None:
            return H * self.inv
        ds = self.d * np.sqrt(self.inv)  # D H D / g without forming D D^T, which may overflow
        return H * np.outer(ds, ds)

    def hessp(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        if self.d is None:
            return self.objective.hessp(u, v) * self.inv
        return self.objective.hessp(self.theta(u), v * self.d) * self.d * self.inv


def minimize(
    objective: Objective,
    theta0: np.ndarray,
    *,
    method: str,
    max_iter: int,
    tol: float,
    gradient_scale: float = 1.0,
    param_scale: np.ndarray | None = None,
    verbose: int = 0,
    owner: str = "",
) -> SolverResult:
    """Minimise ``objective`` from ``theta0`` with ``scipy.optimize.minimize``.

    Parameters
    ----------
    objective : Objective
        Callable returning ``(value, gradient)``; ``objective.hessian``/``hessp`` are used by
        ``"newton"``.
    theta0 : ndarray
        Starting point.
    method : {"lbfgs", "newton"}
        ``"lbfgs"``: L-BFGS-B (``gtol=tol``, ``ftol=64 eps``, ``maxls=50``, as scikit-learn's
        GLMs). ``"newton"``: ``trust-exact`` with the exact Hessian, or ``trust-ncg`` with
        exact Hessian-vector products.
    max_iter : int
        Maximum number of iterations.
    tol : float
        Relative gradient tolerance (see the module docstring).
    gradient_scale : float, default=1.0
        The gradient's reference size (of the gradient with respect to ``theta / param_scale``);
        the solvers see the objective divided by it. Zero or a non-finite value means 1.
    param_scale : ndarray of shape theta0.shape, default=None
        Positive natural sizes of the parameters: the solvers work on ``theta / param_scale``
        (None: on ``theta``). The estimators pass y's scale for the parameters of a head in y's
        units, which makes the iterations independent of the units of y.
    verbose : int, default=0
        Print the objective every iteration if > 0.
    owner : str, default=""
        Name of the estimator, for the warning message.

    Returns
    -------
    SolverResult
    """
    if not (np.isfinite(gradient_scale) and gradient_scale > 0):
        gradient_scale = 1.0
    if param_scale is not None and not np.all(np.isfinite(param_scale) & (param_scale > 0)):
        param_scale = None
    # the solvers see f / G with G = min(gradient scale, |f(theta0)|) and stop on a gradient
    # below tol * gradient_scale / G: the same relative gradient test, but with |f / G| >= 1 at
    # the start, so that L-BFGS-B's ftol test (relative to max(|f|, 1)) stays relative to f
    value0 = float(objective(np.asarray(theta0, dtype=np.float64))[0])  # cached by the objective
    divisor = gradient_scale
    if np.isfinite(value0) and 0.0 < abs(value0) < gradient_scale:
        divisor = abs(value0)
    gtol = tol * gradient_scale / divisor
    scaled = _Scaled(objective, divisor, param_scale)
    theta0 = scaled.u(np.asarray(theta0, dtype=np.float64))
    callback = None
    if verbose:
        counter = iter(range(1, max_iter + 2))

        def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
            fun = intermediate_result.fun * divisor
            print(f"{owner} {method} iteration {next(counter)}: objective {fun:.10g}")

    try:
        res = _run(scaled, theta0, method, max_iter, gtol, callback, objective)
    except (ValueError, np.linalg.LinAlgError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("method must be"):
            raise
        # scipy's own checks (e.g. "array must not contain infs or NaNs" in a trust-region
        # subproblem) on a problem whose curvature overflows float64
        raise ValueError(
            f"{owner}: the {method} solver met a non-finite objective, gradient or Hessian "
            f"(the loss overflows float64 near the solution). Rescale y (e.g. divide it by a "
            f"power of 10), standardise X, or increase alpha."
        ) from exc
    if (
        method == "lbfgs"
        and res.success
        and res.jac is not None
        and np.max(np.abs(res.jac), initial=0.0) > gtol
        and objective.has_hessian
        and res.x.size <= _POLISH_MAX_COEF
        and res.nit < max_iter
    ):
        # L-BFGS-B stopped on its ftol test (no decrease float64 resolves) before the gradient
        # met tol: finish with a few trust-region Newton steps, which converge quadratically
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                more = _run(scaled, res.x, "newton", max_iter - res.nit, gtol, None, objective)
            except (ValueError, np.linalg.LinAlgError):
                more = None
        if more is not None and more.success and more.fun <= res.fun:
            more.nit += res.nit
            res = more
    n_iter = max(1, int(res.nit))
    res.x = scaled.theta(np.asarray(res.x))
    fun = float(res.fun) * divisor
    if not res.success:
        advice = (
            "Increase max_iter or tol"
            if objective.loss.differentiable
            else f"Increase max_iter or tol (the {objective.loss.name} loss has a kink at zero "
            f"residual, which a gradient method only approaches)"
        )
        overflow = (
            f" The loss overflowed at {objective.n_nonfinite} trial point(s); rescale y or "
            f"increase alpha."
            if objective.n_nonfinite
            else ""
        )
        warnings.warn(
            f"{owner}: the {method} solver did not converge after {n_iter} iteration(s) "
            f"(max_iter={max_iter}, tol={tol}): {str(res.message).rstrip('.')}. {advice}."
            f"{overflow}",
            ConvergenceWarning,
            stacklevel=4,
        )
    return SolverResult(np.asarray(res.x), n_iter, bool(res.success), fun)


def _run(scaled, theta0, method, max_iter, tol, callback, objective):
    """Dispatch to the scipy method; the result's ``x`` is in the solver's (scaled) units."""
    if method == "lbfgs":
        res = _lbfgs(scaled, theta0, max_iter=max_iter, tol=tol, callback=callback)
    elif method == "newton":
        # with the explicit Hessian (linear models): trust-region Newton whose subproblems are
        # solved by Cholesky factorisations (trust-exact), robust to ill-conditioned features;
        # otherwise Newton-CG with Hessian-vector products (trust-ncg)
        curvature = (
            {"hess": scaled.hessian, "method": "trust-exact"}
            if objective.has_hessian
            else {"hessp": scaled.hessp, "method": "trust-ncg"}
        )
        with warnings.catch_warnings():
            # trust-exact's subproblem factorises indefinite shifted matrices on purpose
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            try:
                res = scipy.optimize.minimize(
                    scaled,
                    theta0,
                    jac=True,
                    callback=callback,
                    options={"maxiter": max_iter, "gtol": tol},
                    **curvature,
                )
            except (UnboundLocalError, np.linalg.LinAlgError):
                # scipy's trust-exact subproblem can fail on a singular Hessian (e.g. one
                # sample; an UnboundLocalError in scipy 1.17): L-BFGS-B needs no Hessian
                return _lbfgs(scaled, theta0, max_iter=max_iter, tol=tol, callback=callback)
        if res.status == 2 and _at_float_precision(objective, scaled.theta(res.x)):
            res.success, res.status = True, 0
        elif res.status == 2:
            # the trust-region methods stop when float64 can no longer resolve the predicted
            # improvement, which happens next to the optimum when tol is tiny; polish with
            # L-BFGS-B from there and let it decide convergence (scikit-learn's Newton solver
            # falls back the same way)
            nit = res.nit
            res = _lbfgs(scaled, res.x, max_iter=max(1, max_iter - nit), tol=tol)
            res.nit += nit
    else:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    return res


def _at_float_precision(objective: Objective, theta: np.ndarray) -> bool:
    """Whether no Newton step can change the objective by more than float64 resolves.

    Uses the Newton decrement: half of g^T H^-1 g, the decrease a Newton step predicts, below
    64 eps |f| (the criterion of scikit-learn's Newton-Cholesky solver, at machine precision).
    """
    if not objective.has_hessian:
        return False
    value, grad = objective(theta)
    if not np.isfinite(value):
        return False
    with warnings.catch_warnings():
        # a numerically singular Hessian gives no trustworthy decrement: polish instead
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            step = scipy.linalg.solve(objective.hessian(theta), grad, assume_a="pos")
        except (np.linalg.LinAlgError, ValueError, scipy.linalg.LinAlgWarning):
            return False
    return 0.5 * float(grad @ step) <= 64 * np.finfo(np.float64).eps * max(1.0, abs(value))


def _lbfgs(objective, theta0, *, max_iter, tol, callback=None) -> scipy.optimize.OptimizeResult:
    return scipy.optimize.minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={
            "maxiter": max_iter,
            "maxfun": max(15000, 2 * max_iter),
            "gtol": tol,
            "ftol": _FTOL,
            "maxls": 50,
        },
    )


def _center(
    X: np.ndarray, y: np.ndarray, c: np.ndarray, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted means of X and y (zeros without an intercept) and the centred arrays."""
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1]), np.zeros(y.shape[1])
    x_mean, y_mean = c @ X, c @ y
    return X - x_mean, y - y_mean, x_mean, y_mean


def least_squares(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    alpha: float,
    fit_intercept: bool,
    penalty_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact minimiser of the weighted, ridge-penalised mean squared error.

    The objective is :math:`\sum_i c_i \lVert y_i - W x_i - b \rVert^2 / K
    + \tfrac{\alpha}{2}\sum_j \pi_j \lVert W_{:j} \rVert^2` with
    ``c = sample_weight / sum(sample_weight)`` and :math:`\pi` = ``penalty_weights`` (1 by
    default). The data are centred (weighted) for the intercept and the columns scaled to unit
    norm. With at least as many rows as columns, the scaled normal equations are solved by
    Cholesky when their condition number is below 1e4 (forward error about 1e-12), and
    otherwise the augmented least-squares system is solved by SVD (LAPACK ``gelsd``), so
    ill-conditioned problems keep their accuracy. With more columns than rows the cost is
    kept at :math:`O(n^2 p)`: the minimum-norm SVD solution of the n-by-p system without a
    penalty, the dual (kernel) form :math:`v = A^\top (A A^\top + \Lambda)^{-1} B` (on
    columns rescaled so that the penalty is isotropic) with one.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples, n_targets)
    sample_weight : ndarray of shape (n_samples,)
    alpha : float
    fit_intercept : bool
    penalty_weights : ndarray of shape (n_features,), default=None

    Returns
    -------
    coef : ndarray of shape (n_targets, n_features)
    intercept : ndarray of shape (n_targets,)
    """
    c = sample_weight / sample_weight.sum()
    A, B, x_mean, y_mean = _center(X, y, c, fit_intercept)
    pw = np.ones(X.shape[1]) if penalty_weights is None else np.asarray(penalty_weights)
    if np.all(sample_weight == sample_weight[0]):
        weight = 1.0 / X.shape[0]  # c_i for every row: folded into the small matrices
    else:  # rows times sqrt(c_i); in place only on the centred copy, never on the caller's X
        root = np.sqrt(c)[:, np.newaxis]
        if fit_intercept:
            A *= root
        else:
            A = A * root
        B = B * root
        weight = 1.0
    if A.shape[1] > A.shape[0]:
        v = _wide_least_squares(A, B, weight, 0.5 * alpha * y.shape[1] * pw)
        coef = v.T
        return coef, y_mean - coef @ x_mean
    gram = (A.T @ A) * weight
    rhs = (A.T @ B) * weight
    norms = np.sqrt(np.diag(gram)).copy()  # column norms of the weighted, centred design
    norms[norms == 0] = 1.0
    # the objective is ||A_s v - B_s||^2 / K + alpha/2 sum pi_j (v_j / norms_j)^2, v = norms * w
    ridge = 0.5 * alpha * y.shape[1] * pw / norms**2
    gram /= np.outer(norms, norms)
    gram[np.diag_indices_from(gram)] += ridge
    eig = np.linalg.eigvalsh(gram)
    if eig[0] > 0 and eig[-1] / eig[0] < _CHOLESKY_MAX_COND:
        v = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), rhs / norms[:, np.newaxis])
    else:
        As = A * (np.sqrt(weight) / norms)
        Bs = B * np.sqrt(weight)
        if alpha > 0:
            As = np.vstack([As, np.diag(np.sqrt(ridge))])
            Bs = np.vstack([Bs, np.zeros((As.shape[1], Bs.shape[1]))])
        # numpy's rank cutoff: singular values below eps * max(shape) * s_max are zero, so
        # weighted and repeated-row versions of a rank-deficient problem give the same
        # minimum-norm solution
        cond = np.finfo(np.float64).eps * max(As.shape)
        v = scipy.linalg.lstsq(As, Bs, cond=cond, lapack_driver="gelsd")[0]
    coef = (v / norms[:, np.newaxis]).T
    return coef, y_mean - coef @ x_mean


def _wide_least_squares(
    A: np.ndarray, B: np.ndarray, weight: float, ridge: np.ndarray
) -> np.ndarray:
    r"""Minimise :math:`w\lVert A u - B\rVert^2 + \sum_j \rho_j u_j^2` for a wide ``A``.

    With :math:`u = D t`, :math:`D = \operatorname{diag}(\rho^{-1/2})`, the penalty is
    :math:`\lVert t\rVert^2` and :math:`t = (AD)^\top (w AD(AD)^\top + I)^{-1} w B`, an
    n-by-n solve. Without a penalty, the minimum-norm least-squares solution (SVD of the
    n-by-p matrix with unit-norm columns).
    """
    if np.all(ridge > 0):
        d = 1.0 / np.sqrt(ridge)
        AD = A * d
        K = weight * (AD @ AD.T)
        K[np.diag_indices_from(K)] += 1.0
        t = AD.T @ scipy.linalg.solve(K, weight * B, assume_a="pos")
        return d[:, np.newaxis] * t
    norms = np.sqrt(np.einsum("ij,ij->j", A, A))
    norms[norms == 0] = 1.0
    cond = np.finfo(np.float64).eps * max(A.shape)
    t = scipy.linalg.lstsq(A / norms, B, cond=cond, lapack_driver="gelsd")[0]
    return t / norms[:, np.newaxis]


def least_absolute_deviations(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    fit_intercept: bool,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact minimiser of :math:`\sum_i c_i |y_i - w^\top x_i - b|` by linear programming.

    From ``_LAD_FRISCH_NEWTON_ROWS`` rows on, by the Frisch--Newton interior-point method with
    a certified optimal vertex (:func:`sklik._lad.frisch_newton`, about 10 times faster than
    HiGHS from 10^4 rows on). Below that, or when that method cannot certify a vertex (a
    numerically rank-deficient design, a degenerate vertex), by the dual linear program
    :math:`\max_u y^\top u` subject to :math:`X^\top u = 0`, :math:`\mathbf 1^\top u = 0` (with
    an intercept) and :math:`|u_i| \le c_i`, solved with HiGHS's interior-point method
    (``scipy.optimize.linprog(method="highs-ipm")``). It has ``n_samples`` bounded variables
    and only ``n_features + 1`` equality constraints; the coefficients are the negated
    marginals of those constraints. Rows of zero weight are dropped. Each target is solved
    separately.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples, n_targets)
    sample_weight : ndarray of shape (n_samples,)
    fit_intercept : bool

    Returns
    -------
    coef : ndarray of shape (n_targets, n_features)
    intercept : ndarray of shape (n_targets,)
    """
    keep = sample_weight > 0
    X, y, c = X[keep], y[keep], sample_weight[keep] / sample_weight.sum()
    A = X.T if not fit_intercept else np.vstack([X.T, np.ones(X.shape[0])])
    bounds = np.column_stack([-c, c])
    n_features = X.shape[1]
    coef = np.empty((y.shape[1], n_features))
    intercept = np.zeros(y.shape[1])
    for k in range(y.shape[1]):
        # the LP solvers' tolerances are absolute: solve for (y - shift) / scale, of size 1
        yk, shift, scale = _unit_target(y[:, k], fit_intercept)
        if X.shape[0] >= _LAD_FRISCH_NEWTON_ROWS:
            try:
                coef[k], intercept[k] = frisch_newton(X, yk, c, fit_intercept)
                coef[k] *= scale
                intercept[k] = intercept[k] * scale + shift
                continue
            except (np.linalg.LinAlgError, ArithmeticError):
                pass  # the general LP solver below handles every case
        res = scipy.optimize.linprog(
            -yk, A_eq=A, b_eq=np.zeros(A.shape[0]), bounds=bounds, method="highs-ipm"
        )
        if res.status != 0:
            warnings.warn(
                f"The linear program for the l1 loss stopped early: {res.message}",
                ConvergenceWarning,
                stacklevel=3,
            )
        if res.eqlin is None or res.x is None:
            raise ValueError(f"The linear program for the l1 loss failed: {res.message}")
        marginals = -np.asarray(res.eqlin.marginals) * scale
        coef[k] = marginals[:n_features]
        intercept[k] = marginals[n_features] + shift if fit_intercept else 0.0
    return coef, intercept


def _unit_target(y: np.ndarray, fit_intercept: bool) -> tuple[np.ndarray, float, float]:
    """``(y - shift) / scale``, of size 1, and the shift and scale.

    The shift is the median (with an intercept, else 0) and the scale the largest absolute
    deviation from it, computed without overflow.
    """
    shift = float(np.median(y)) if fit_intercept and y.size else 0.0
    with np.errstate(over="ignore"):
        dev = y - shift
    if not np.all(np.isfinite(dev)):  # |y| near the float64 maximum: scale before shifting
        scale = float(np.max(np.abs(y)))
        ys = y / scale
        shift_s = float(np.median(ys)) if fit_intercept else 0.0
        return ys - shift_s, shift_s * scale, scale
    scale = float(np.max(np.abs(dev))) if dev.size else 0.0
    if not (scale > 0 and np.isfinite(scale)):
        scale = 1.0
    return dev / scale, shift, scale
