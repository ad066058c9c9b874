r"""Solvers: thin wrappers around ``scipy.optimize`` (and ``scipy.linalg`` for least squares).

Conventions:

- :func:`minimize` works on any :class:`~sklik._objective.Objective` and a flat float64
  ``theta``: ``"lbfgs"`` is L-BFGS-B with the exact gradient; ``"newton"`` is a damped
  Newton method (Cholesky solves of the explicit Hessian, or of the Fisher information for
  ``gaussian_nll``, and an Armijo line search: :func:`_newton_cholesky`) when the model builds
  that matrix (the linear model), else ``trust-ncg`` with exact Hessian-vector products.
- :func:`least_squares` and :func:`least_absolute_deviations` solve the linear model's
  ``mse`` and ``l1`` objectives exactly; they return ``coef`` of shape
  ``(n_targets, n_features)`` and ``intercept`` of shape ``(n_targets,)``.
- ``tol`` is *relative*: the solvers stop when the gradient of the objective, divided by
  ``gradient_scale`` (the largest entry of the gradient at the estimator's cold start, the
  best constant model), falls below ``tol`` (its largest entry; its norm for ``trust-ncg``),
  or when no step can decrease the objective by more than float64 resolves. So ``tol``
  means the same on every dataset whatever the units of y and of the loss's parameters; the
  estimators fit on standardised designs (:mod:`sklik._design`), which makes it independent
  of the units of X too. Non-convergence
  is a :class:`ConvergenceWarning` naming ``max_iter`` and ``tol`` and the reason; the last
  (best) iterate is returned.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from sklik._lad import certified_vertex, frisch_newton, penalised_vertex
from sklik._models import _WOODBURY_MAX_ENTRIES, LinearModel
from sklik._objective import Objective
from sklik.losses import HuberLoss

METHODS = ("lbfgs", "newton")
# From this many rows on, exact l1 fits use the Frisch-Newton method (10x faster than HiGHS at
# 1e4 rows and above); HiGHS keeps the small problems, where it takes milliseconds.
_LAD_FRISCH_NEWTON_ROWS = 5000
_FTOL = 64 * np.finfo(np.float64).eps
# The largest entry of a Newton step, in the solver's units (standardised features, heads in
# units of y's spread): far above the steps of a well-started convex fit.
_NEWTON_MAX_STEP = 10.0
# L-BFGS-B that stops short of tol is polished by Newton steps up to this many coefficients
# (the p-by-p Hessian costs n p^2 + p^3: 72 s at n = 10, p = 3000 for gaussian_nll's two heads);
# beyond, by restarts with a fresh memory.
_POLISH_MAX_COEF = 500
# An L1-penalised fit with a Hessian and at most _L1_SCREEN_MAX_COEF coefficients runs
# L-BFGS-B to this tol only (where its own tol is tighter): enough to find which weights are
# zero, which Newton steps on the others then polish to tol (see _polish_l1); a tight L-BFGS-B
# continues only if the polished point does not satisfy the optimality conditions. It saves
# L-BFGS-B's last 3-5 evaluations for one or two more Hessians: 0.90 of the time on average
# over 16 Poisson problems (10^4 and 10^5 rows, 20 and 50 features; 0.55 to 1.23), a loss
# where a Hessian costs many evaluations (a sparse 10^6 x 10^3 design: 3.4 -> 5.9 s).
_L1_SCREEN_TOL = 1e-3
_L1_SCREEN_MAX_COEF = 64
# The Newton decrement's float64-precision stop counts as converged only where the largest
# gradient entry (in the solver's units, 1 at the cold start) is at most this: a gradient left
# near its starting size means the step vanished in a nearly singular Hessian.
_DECREMENT_MAX_GRADIENT = 1e-3
# Newton's method with a sampled Hessian (Objective.sampled_hessian) switches to the exact one
# once a full step reduces the largest gradient entry by less than this factor.
_SAMPLED_RATE = 0.25
# After a full Newton step that reduced the largest gradient entry at least this much, the next
# step uses the same Hessian updated by BFGS (no new Hessian): near the optimum the Hessian
# changes little, and the secant pair corrects what changed and a sampled Hessian's error.
_REUSE_RATE = 0.1
# Full Newton (Fisher scoring) steps that reduce the largest gradient entry by less than this
# factor, this many times in a row, switch to the secant-updated matrix for good: Fisher
# scoring on a learned variance (n = 100, p = 10) reduced the gradient by 0.6% per step and
# hit max_iter = 1000 in about 1% of ordinary fits.
_SLOW_RATE = 0.9
_SLOW_STEPS = 10
# ... and with the exact Hessian, which costs about two evaluations on tall data, after one that
# halved it. Time against 0.1, interleaved medians at 10^4 and 2 x 10^4 rows, p = 20: Poisson
# 0.87 and 0.67, negative binomial 0.96 and 0.94, Gaussian NLL 0.79 and 1.12 (one or two more
# gradients each). With the sampled Hessian, a fraction of a gradient, the same rate cost
# 6-14% at 5 x 10^4.
_REUSE_RATE_EXACT = 0.5
# The scaled Gram matrix is solved by Cholesky only below this condition number (forward
# error ~ cond * eps ~ 1e-12); above it the weighted least-squares problem goes to an SVD-based
# solver (LAPACK gelsd), which keeps the certified digits of the NIST StRD problems.
_CHOLESKY_MAX_COND = 1e4
# With more columns than rows, least squares uses the n-by-n (dual, kernel) form only beyond this
# many columns; below, the p-by-p normal equations cost little and keep the SVD fallback of an
# ill-conditioned problem (a column whose penalty is 1e-16 of the others').
_WIDE_PRIMAL_MAX_FEATURES = 256


# A Hessian whose smallest eigenvalue is below -_INDEFINITE times its largest magnitude is
# indefinite (not a rounding of a positive semi-definite one): _newton_direction modifies it.
_INDEFINITE = 1e-10
# Newton's method on a wide design (fewer rows than features, every weight penalised) takes
# its steps by the Woodbury identity (LinearModel.gauss_newton_solve), n^2 p each: "auto" and
# the l1 continuation use it up to this many rows, and for a learned variance on any number
# (Fisher scoring; L-BFGS-B stalls there). Measured at p = 3000: Newton 7-36 ms where L-BFGS
# takes 30-80 ms at n = 10 and 100, and 0.11-0.13 s against 0.04-0.09 s at n = 300.
_WIDE_NEWTON_MAX_ROWS = 128


def wide_newton(n_samples: int, n_features: int, fisher: bool) -> bool:
    """Whether Newton's method by the Woodbury identity suits a penalised wide design."""
    return (
        n_samples < n_features
        and n_samples * n_features <= _WOODBURY_MAX_ENTRIES
        and (n_samples <= _WIDE_NEWTON_MAX_ROWS or fisher)
    )


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
    stopped : bool
        Whether the ``callback`` ended the run (by raising ``StopIteration``), which counts as
        converged.
    """

    theta: np.ndarray
    n_iter: int
    converged: bool
    fun: float
    stopped: bool = False


class _Scaled:
    r"""What the scipy solvers see: :math:`\phi \mapsto J(u \odot \phi) / g`.

    ``u`` (``theta_scale``) puts the parameters in the units they naturally have (a mean
    head's coefficients in the units of y), and ``g`` (``gradient_scale``) makes the
    gradient at the cold start of order 1, so that step sizes, tolerances and float-precision
    tests mean the same whatever the units of the data.
    """

    def __init__(
        self, objective: Objective, scale: float, theta_scale: np.ndarray, theta0: np.ndarray
    ) -> None:
        self.objective = objective
        # divided by, never multiplied by its inverse: a gradient scale of 5e-309 (a subnormal:
        # y of 1e-150 with constant features) has an infinite inverse, and u * inf * 0 = NaN
        self.scale = scale
        self.root = math.sqrt(scale)
        self.u_scaled = theta_scale / scale  # u / g
        self.u = theta_scale
        self.has_hessian = objective.has_hessian
        self.smooth_curvature = objective.loss.smooth_curvature
        # the start in these units; u * phi0 may round off theta0, which the solver's first
        # evaluation uses instead (the objective remembers the caller's check of the start)
        self.phi0 = theta0 / theta_scale
        self._theta0 = theta0

    def _theta(self, phi: np.ndarray) -> np.ndarray:
        if np.array_equal(phi, self.phi0):
            return self._theta0
        with np.errstate(over="ignore"):  # an overflowing trial point: the objective says inf
            return self.u * phi

    def __call__(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = self.objective(self._theta(phi))
        return value / self.scale, grad * self.u_scaled

    def hessian(self, phi: np.ndarray) -> np.ndarray:
        w = self.u / self.root  # u_i u_j / g without overflowing u_i u_j
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite: no Newton step
            return self.objective.hessian(self._theta(phi)) * np.outer(w, w)

    def newton_direction(
        self, phi: np.ndarray, grad: np.ndarray, sampled: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        r"""The Newton direction :math:`-H_\phi^{-1} g_\phi` at ``phi`` (``grad`` = :math:`g_\phi`).

        In the objective's units it is :math:`d_\phi = -(H^{-1} g)/u` with :math:`g` the
        gradient in ``theta``: the objective's own solve (:meth:`Objective.hessian_solve`, a
        wide design's Woodbury form) where it offers one, else Cholesky on the (sampled)
        Hessian. Also returns that Hessian (None for the objective's own solve, which forms
        none).
        """
        solve = getattr(self.objective, "hessian_solve", None)
        if solve is not None and not sampled:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                x = solve(self._theta(phi), grad / self.u_scaled)
                if x is not None:
                    d = -x / self.u
                    if np.all(np.isfinite(d)):
                        return d, None
        H = self.sampled_hessian(phi) if sampled else self.hessian(phi)
        return _newton_direction(H, grad), H

    @property
    def samples_hessian(self) -> bool:
        """Whether the objective offers a sampled Hessian (see :meth:`sampled_hessian`)."""
        return getattr(self.objective, "hessian_sample_step", 1) > 1

    def sampled_hessian(self, phi: np.ndarray) -> np.ndarray:
        """The objective's sampled Hessian, in these units."""
        w = self.u / self.root
        with np.errstate(over="ignore", invalid="ignore"):
            return self.objective.sampled_hessian(self._theta(phi)) * np.outer(w, w)

    def hessp(self, phi: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.objective.hessp(self._theta(phi), self.u * v) * self.u_scaled


class _SplitL1:
    r"""The objective plus an L1 penalty, on split variables (what L-BFGS-B sees).

    With :math:`W = W^+ - W^-`, :math:`W^\pm \ge 0`, the penalty
    :math:`\sum_j \lambda_j |W_j|` becomes the linear term :math:`\lambda^\top (W^+ + W^-)`,
    so the problem is smooth with bound constraints, which L-BFGS-B solves; a coefficient is
    exactly 0 when both its parts sit at their bound. The variables are
    ``[W+ (n_weights), W- (n_weights), biases]``.
    """

    def __init__(self, smooth: Any, l1: np.ndarray, n_weights: int) -> None:
        self.smooth = smooth
        self.l1 = l1
        self.n = n_weights

    def theta(self, x: np.ndarray) -> np.ndarray:
        n = self.n
        return np.concatenate([x[:n] - x[n : 2 * n], x[2 * n :]])

    def split(self, theta: np.ndarray) -> np.ndarray:
        w = theta[: self.n]
        return np.concatenate([np.maximum(w, 0.0), np.maximum(-w, 0.0), theta[self.n :]])

    def bounds(self, size: int) -> list[tuple[float | None, float | None]]:
        return [(0.0, None)] * (2 * self.n) + [(None, None)] * (size - 2 * self.n)

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        n = self.n
        value, grad = self.smooth(self.theta(x))
        if not np.isfinite(value):
            return value, np.zeros_like(x)
        gw = grad[:n]
        value += float(self.l1 @ (x[:n] + x[n : 2 * n]))
        return value, np.concatenate([gw + self.l1, self.l1 - gw, grad[n:]])


def minimize(
    objective: Objective,
    theta0: np.ndarray,
    *,
    method: str,
    max_iter: int,
    tol: float,
    gradient_scale: float = 1.0,
    theta_scale: np.ndarray | None = None,
    l1_weights: np.ndarray | None = None,
    verbose: int = 0,
    owner: str = "",
    callback: Callable[[np.ndarray], None] | None = None,
) -> SolverResult:
    r"""Minimise ``objective`` from ``theta0`` with ``scipy.optimize.minimize``.

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
        The reference size of the gradient (with respect to ``theta / theta_scale``) at the
        cold start; the solvers see the objective divided by it. Zero or a non-finite value
        means 1.
    theta_scale : ndarray of shape theta0.shape, default=None
        Positive units of the parameters: the solvers work on ``theta / theta_scale`` (see
        :class:`_Scaled`). None means 1.
    l1_weights : ndarray of shape (objective.model.n_weights,), default=None
        Per-weight L1 penalty :math:`\lambda_j` added to the objective (elastic net): solved by
        L-BFGS-B on split variables (:class:`_SplitL1`); ``method`` must be ``"lbfgs"``.
    verbose : int, default=0
        Print the objective every iteration if > 0.
    owner : str, default=""
        Name of the estimator, for the warning message.
    callback : callable, default=None
        Called with the current iterate after every iteration. Raising ``StopIteration``
        ends the run (scipy's new-style callbacks, scipy >= 1.11) without a warning; the
        result's ``stopped`` is then True.

    Returns
    -------
    SolverResult
    """
    if not (np.isfinite(gradient_scale) and gradient_scale > 0):
        gradient_scale = 1.0
    u = np.ones_like(theta0) if theta_scale is None else np.asarray(theta_scale, dtype=float)
    scaled = _Scaled(objective, gradient_scale, u, theta0)
    theta0 = scaled.phi0
    user_callback = callback
    callback = None
    if verbose or user_callback is not None:
        counter = iter(range(1, max_iter + 2))

        def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
            if verbose:
                fun = intermediate_result.fun * gradient_scale
                print(f"{owner} {method} iteration {next(counter)}: objective {fun:.10g}")
            if user_callback is not None:
                user_callback(u * intermediate_result.x)

    certify = not objective.loss.differentiable and _certifiable(objective)
    if certify:
        exact = _lad_by_huber_continuation(objective, scaled._theta0, l1_weights, max_iter, u)
        if exact is not None:
            theta, nit, fun = exact
            return SolverResult(theta, nit, True, fun)
    if l1_weights is not None and np.any(l1_weights > 0):
        if method != "lbfgs":
            raise ValueError(f"an L1 penalty needs method='lbfgs'; got {method!r}.")
        n_weights = objective.model.n_weights
        l1 = l1_weights * u[:n_weights] / gradient_scale
        split = _SplitL1(scaled, l1, n_weights)
        x0 = split.split(theta0)
        bounds = split.bounds(x0.size)
        screen = (
            objective.has_hessian and tol < _L1_SCREEN_TOL and theta0.size <= _L1_SCREEN_MAX_COEF
        )
        res = _lbfgs(
            split,
            x0,
            max_iter=max_iter,
            tol=_L1_SCREEN_TOL if screen else tol,
            callback=callback,
            bounds=bounds,
        )
        theta = split.theta(res.x)
        if objective.has_hessian:
            theta, certified = _polish_l1(scaled, theta, l1, n_weights, tol)
            proximal = theta.size <= _POLISH_MAX_COEF
            if not certified and proximal:
                # L-BFGS-B's zeros are not the optimum's, or it stopped short of tol (its
                # relative-reduction test, on a badly conditioned problem): proximal Newton
                theta, certified, steps = _proximal_newton_l1(
                    scaled, theta, l1, n_weights, tol, max(1, min(100, max_iter - res.nit))
                )
                res.nit += steps
            if certified:
                res.success, res.status = True, 0
                res.message = "the optimality conditions hold to tol after Newton steps"
            elif screen and res.nit < max_iter:
                # the screening run's zeros were not the optimum's: L-BFGS-B to tol from there
                nit = res.nit
                res = _lbfgs(
                    split,
                    split.split(theta),
                    max_iter=max_iter - nit,
                    tol=tol,
                    callback=callback,
                    bounds=bounds,
                )
                res.nit += nit
                theta, certified = _polish_l1(scaled, split.theta(res.x), l1, n_weights, tol)
            if proximal and not certified and res.success:
                _, grad = scaled(theta)
                res.success, res.status = False, 2
                res.message = (
                    f"the L1-penalised optimality conditions hold to "
                    f"{_l1_residual(grad, theta, l1, n_weights):.2g} only (tol={tol:g})"
                )
            res.fun = split(split.split(theta))[0]
        res.x = theta
    elif method == "lbfgs":
        res = _lbfgs(scaled, theta0, max_iter=max_iter, tol=tol, callback=callback)
        if not objective.loss.differentiable:
            res = _restart_at_kinks(scaled, res, max_iter=max_iter, tol=tol)
        elif res.success and np.max(np.abs(res.jac)) > tol:
            # stopped by the relative reduction of the objective (about 1e-7 in the
            # parameters) short of tol: Newton steps reach what tol asks for
            if objective.has_hessian and theta0.size <= _POLISH_MAX_COEF:
                polished = _newton_cholesky(scaled, res.x, max_iter=max_iter, tol=tol)
                # kept where it lowers the objective, even if its line search ended at
                # float64's resolution short of tol (the negative binomial's dispersion at
                # counts of 1e8: L-BFGS-B's stop left it where it started, 18.3 against 10.6),
                # and where it converged to a value equal up to rounding (summed over dask
                # chunks, the certified point came out 1 ulp above L-BFGS-B's, which then
                # warned)
                rounding = 64 * np.finfo(np.float64).eps * abs(res.fun)
                if polished.fun < res.fun or (
                    polished.success and polished.fun <= res.fun + rounding
                ):
                    polished.nit += res.nit
                    res = polished
            if np.max(np.abs(res.jac)) > tol:
                # still short (no Hessian, or a kink such as GaussianNLL's variance floor):
                # restarts with a fresh memory, while they lower the objective
                res = _restart_at_kinks(scaled, res, max_iter=max_iter, tol=tol)
    elif method == "newton" and objective.has_hessian:
        res = _newton_cholesky(scaled, theta0, max_iter=max_iter, tol=tol, callback=callback)
        if not res.success and res.status == 2:
            # the line search found no decrease that float64 resolves while the gradient is
            # still above tol (a tiny tol), or the Hessian is numerically singular (a Huber
            # threshold far below the residuals makes the loss almost linear): continue with
            # L-BFGS-B from there and let it decide convergence (scikit-learn's Newton solver
            # falls back the same way)
            nit = res.nit
            res = _lbfgs(scaled, res.x, max_iter=max(1, max_iter - nit), tol=tol)
            res.nit += nit
            # a singular Hessian is a loss next to a kink (Huber's delta far below the
            # residuals): L-BFGS-B's relative-reduction test stops it early there, as at l1's
            res = _restart_at_kinks(scaled, res, max_iter=max_iter, tol=tol)
    elif method == "newton":
        # without the explicit Hessian: Newton-CG with Hessian-vector products
        res = scipy.optimize.minimize(
            scaled,
            theta0,
            jac=True,
            callback=callback,
            hessp=scaled.hessp,
            method="trust-ncg",
            options={"maxiter": max_iter, "gtol": tol},
        )
    else:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    stall_advice = None
    if l1_weights is not None and np.any(l1_weights > 0):
        violation = _stalled_l1(objective, scaled, res, l1, n_weights)
        if violation is not None:
            stall_advice = (
                "Standardise X (e.g. with a StandardScaler in a pipeline: the penalty is on "
                "the coefficients of X as given) or increase alpha"
            )
            res.success = False
            res.message = (
                f"L-BFGS-B stopped with the L1-penalised optimality conditions violated by "
                f"{violation:.2g} of the gradient's size at the start (a badly conditioned "
                f"problem: more features than rows, or feature scales orders of magnitude "
                f"apart under an L2 penalty)"
            )
    elif _stalled(objective, scaled, res):
        stall_advice = (
            "The problem is badly scaled for float64 (e.g. residuals many orders of magnitude "
            "below the targets' units): rescale y or increase alpha"
        )
        res.success = False
        res.message = (
            f"the objective's decrease fell below float64 resolution with the largest "
            f"gradient entry still {float(np.max(np.abs(res.jac))):.2g} of its size at the "
            f"start"
        )
    n_iter = max(1, int(res.nit))
    fun = float(res.fun) * gradient_scale
    theta = u * np.asarray(res.x)
    if certify and res.success:
        res.success = False
        res.message = (
            "no optimality certificate for the absolute error's kinked optimum, which "
            "L-BFGS-B only approaches (to about 1e-4 relative)"
        )
    # status 99: the callback raised StopIteration (e.g. early stopping): not a failure
    stopped = res.status == 99 and user_callback is not None
    if stopped:
        res.success = True
    if not res.success:
        advice = (
            stall_advice
            if stall_advice is not None
            else "Increase max_iter or tol"
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
            stacklevel=5,
        )
    return SolverResult(theta, n_iter, bool(res.success), fun, stopped)


def _stalled(objective: Any, scaled: _Scaled, res: scipy.optimize.OptimizeResult) -> bool:
    """Whether a fit that reports convergence stopped with its gradient far from zero.

    L-BFGS-B's relative-reduction test (and Newton's vanishing decrement, then L-BFGS-B)
    can stop where float64 no longer resolves the objective's decrease, on a badly scaled
    problem, with the largest scaled gradient entry above ``_DECREMENT_MAX_GRADIENT`` (it
    is 1 at the start): that is not an optimum, unless a row sits on a kink of the loss
    (``objective.at_kink``: GaussianNLL's variance floor, where the gradient need not
    vanish). Only for a linear model of a differentiable loss: l1's kinks have their own
    certificate, and an MLP's objective has local optima and (relu) kinks of its own.
    """
    if not (res.success and objective.loss.differentiable) or objective.n_nonfinite:
        return False  # (an overflowing loss has its own message)
    at_kink = getattr(objective, "at_kink", None)  # (None: an internal smoothed problem)
    if at_kink is None or not isinstance(objective.model, LinearModel):
        return False
    if not float(np.max(np.abs(res.jac))) > _DECREMENT_MAX_GRADIENT:
        return False
    return not at_kink(scaled._theta(res.x))


def _stalled_l1(
    objective: Any, scaled: _Scaled, res: scipy.optimize.OptimizeResult, l1: np.ndarray, n: int
) -> float | None:
    """:func:`_stalled` for an L1-penalised fit: its optimality conditions' violation if large.

    None where the fit converged or the test does not apply.

    L-BFGS-B on the split variables stops by its relative-reduction test where the problem is
    badly conditioned (more features than rows, columns whose scales differ by orders of
    magnitude, which an L2 penalty on the user's coefficients keeps apart), and the Newton
    polish needs the optimum's zeros: the largest violation (:func:`_l1_residual`, in the
    solver's units, where the gradient is 1 at the start) must be at most
    ``_DECREMENT_MAX_GRADIENT``.
    """
    if not (res.success and objective.loss.differentiable) or objective.n_nonfinite:
        return None
    at_kink = getattr(objective, "at_kink", None)
    if at_kink is None or not isinstance(objective.model, LinearModel):
        return None
    _, grad = scaled(res.x)
    violation = _l1_residual(grad, res.x, l1, n)
    if not violation > _DECREMENT_MAX_GRADIENT or at_kink(scaled._theta(res.x)):
        return None
    return violation


def _certifiable(objective: Any) -> bool:
    """Whether :func:`_penalised_lad` applies: a linear model on an in-memory design."""
    return isinstance(objective.model, LinearModel) and hasattr(
        getattr(objective, "X", None), "take"
    )


class _HuberisedL1:
    r"""An objective plus an L1 penalty smoothed at its kink, for Newton's method.

    :math:`J(\theta) + \sum_j \lambda_j h_\epsilon(\theta_j) / \epsilon`, Huber's
    :math:`h_\epsilon` (``epsilon``), over the model's weights: the penalty is
    :math:`\lambda_j |\theta_j| - \lambda_j \epsilon / 2` beyond :math:`\epsilon`, and its
    curvature :math:`\lambda_j / \epsilon` within.
    """

    hessian_sample_step = 1

    def __init__(self, objective: Any, l1: np.ndarray, epsilon: float) -> None:
        self.objective, self.l1, self.epsilon = objective, l1, epsilon
        self.model, self.loss = objective.model, objective.loss
        self.has_hessian = objective.has_hessian
        self._n = objective.model.n_weights

    @property
    def n_nonfinite(self) -> int:
        return self.objective.n_nonfinite

    def _inside(self, theta: np.ndarray) -> np.ndarray:
        return np.abs(theta[: self._n]) <= self.epsilon

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = self.objective(theta)
        w = theta[: self._n]
        inside = self._inside(theta)
        a = np.abs(w)
        value += float(self.l1 @ np.where(inside, w * w / (2 * self.epsilon), a - self.epsilon / 2))
        grad = grad.copy()
        grad[: self._n] += self.l1 * np.where(inside, w / self.epsilon, np.sign(w))
        return value, grad

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        H = self.objective.hessian(theta).copy()
        index = np.arange(self._n)
        H[index, index] += self.l1 * self._inside(theta) / self.epsilon
        return H

    def hessian_solve(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray | None:
        curvature = self.l1 * self._inside(theta) / self.epsilon
        return self.objective.hessian_solve(
            theta, g, ridge=self.objective.penalty_curvature + curvature
        )

    def hessp(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = self.objective.hessp(theta, v).copy()
        out[: self._n] += self.l1 * self._inside(theta) / self.epsilon * v[: self._n]
        return out


def _lad_by_huber_continuation(
    objective: Objective,
    theta: np.ndarray,
    l1_weights: np.ndarray | None,
    max_iter: int,
    theta_scale: np.ndarray,
) -> tuple[np.ndarray, int, float] | None:
    r"""The exact optimum of a linear model's (penalised) absolute error, or None.

    The absolute error is the limit of :math:`h_\delta(r) / \delta` (Huber's loss) as
    :math:`\delta \to 0`, and an L1 penalty that of its Huber-smoothed form
    (:class:`_HuberisedL1`); both smoothed problems are minimised by Newton's method. Below
    some :math:`\delta` the rows with :math:`|r_i| \le \delta` are the rows the exact
    solution interpolates, the signs of the others its residuals', and the weights beyond
    :math:`\delta` its non-zero ones (Madsen and Nielsen, 1993). So :math:`\delta` starts at a
    tenth of the mean absolute residual of ``theta`` and shrinks tenfold, each Huber fit
    starting from the last, until the sets it suggests are certified optimal by
    :func:`_penalised_lad`; at most 12 times.

    Returns
    -------
    (theta, n_iter, value) or None
        The certified optimum, the Newton (or L-BFGS-B) iterations it took and its objective
        (L1 penalty included).
    """
    model = objective.model
    l1 = None if l1_weights is None or not np.any(l1_weights > 0) else l1_weights
    value = objective(theta)[0]
    if l1 is not None:
        value += float(l1 @ np.abs(theta[: model.n_weights]))
    delta = 0.1 * value
    nit = 0
    wide = theta.size > _POLISH_MAX_COEF
    n_rows, n_features = objective.X.shape
    # Newton steps on an n-by-n system; the smoothed L1 penalty adds to the ridge, so a lasso
    # (no ridge) stays with L-BFGS-B
    woodbury = (
        wide
        and np.all(objective.penalty_curvature > 0)
        and wide_newton(n_rows, n_features, fisher=False)
    )
    if wide and not np.any(objective.penalty_curvature):
        # a linear program with many columns: HiGHS on its dual (n + p variables) at once
        exact = _penalised_lad(objective, theta, l1, 0.0, vertex=False)
        if exact is not None:
            return exact, 1, _l1_value(objective, exact, l1)
    for _ in range(12):
        if not (math.isfinite(delta) and delta > 0):
            return None
        huber = Objective(
            model,
            HuberLoss(delta=delta),
            objective.X,
            objective.y,
            objective.row_weights,
            delta,
            offset=objective.offset,
            penalty_weights=objective.penalty_curvature,
        )
        if l1 is not None and (not wide or woodbury):
            # the L1 penalty smoothed alike (the weights are in y's units), for Newton's
            # method; L-BFGS-B takes it as it is, on split variables
            huber = _HuberisedL1(huber, delta * l1, delta)
        grad = huber(theta)[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = minimize(
                huber,
                theta,
                method="lbfgs" if wide and not woodbury else "newton",  # (p^3 for p-by-p)
                max_iter=max_iter,
                tol=1e-10,
                gradient_scale=float(np.max(np.abs(theta_scale * grad))),
                theta_scale=theta_scale,
                l1_weights=None if l1 is None or not wide or woodbury else delta * l1,
            )
        theta, nit = result.theta, nit + result.n_iter
        exact = _penalised_lad(objective, theta, l1, delta)
        if exact is not None:
            return exact, nit, _l1_value(objective, exact, l1)
        delta /= 10.0
    return None


def _l1_value(objective: Objective, theta: np.ndarray, l1: np.ndarray | None) -> float:
    """The objective at ``theta`` plus the L1 penalty (if any)."""
    value = objective(theta)[0]
    if l1 is not None:
        value += float(l1 @ np.abs(theta[: objective.model.n_weights]))
    return value


def _penalised_lad(
    objective: Objective,
    theta: np.ndarray,
    l1_weights: np.ndarray | None,
    delta: float,
    vertex: bool = True,
) -> np.ndarray | None:
    """The exact optimum of the (penalised) absolute error near ``theta``, per target, or None.

    See :func:`sklik._lad.penalised_vertex` (``delta``: the residuals taken as zero); the
    objective's rows weigh ``s_i / (K sum s)``. Without a ridge part the linear program is
    handed to HiGHS when no vertex is certified (at once if not ``vertex``).
    """
    model = objective.model
    n, p, k = objective.y.shape[0], model.n_features, model.n_outputs
    coef = theta[: k * p].reshape(k, p)
    intercept = theta[k * p :] if model.fit_intercept else np.zeros(k)
    ridge = objective.penalty_curvature
    l1 = np.zeros(k * p) if l1_weights is None else l1_weights
    exact = []
    for j in range(k):
        y = (
            objective.y[:, j]
            if objective.offset is None
            else objective.y[:, j] - objective.offset[:, j]
        )
        part = slice(j * p, (j + 1) * p)
        found = None
        if vertex:
            found = penalised_vertex(
                objective.X,
                y,
                objective.row_weights,
                model.fit_intercept,
                ridge[part],
                l1[part],
                coef[j],
                float(intercept[j]),
                delta,
            )
        if found is None and not np.any(ridge[part]) and n * p <= LAD_MAX_DENSE:
            # no curvature: a vertex of the linear program, which HiGHS finds (the rows'
            # weights sum to 1/K, those of least_absolute_deviations to 1)
            beta, b = least_absolute_deviations(
                objective.X.toarray(),
                y[:, np.newaxis],
                objective.row_weights,
                model.fit_intercept,
                l1[part] * k,
            )
            found = beta[0], float(b[0])
        if found is None:
            return None
        exact.append(found)
    out = np.concatenate([beta for beta, _ in exact])
    if model.fit_intercept:
        out = np.concatenate([out, [b for _, b in exact]])
    return out


def _restricted_hessian(objective: Any, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The Hessian's rows and columns ``free``: by Hessian-vector products when they are few.

    The full Hessian of a wide design costs :math:`p^2` memory (80 GB at :math:`p = 10^5`)
    and most of an elastic-net fit's time, where a sparse solution has few non-zeros. With
    more than :math:`p/8` free coefficients it is formed whole: one weighted Gram product
    (:math:`n p^2/2` flops) costs less than :math:`k` products (:math:`2 n p` flops and a
    Python round trip each; Poisson at 10^4 x 20 with 21 free coefficients: 21 products took
    40% of the fit).
    """
    index = np.flatnonzero(free)
    if index.size > theta.size // 8:
        return objective.hessian(theta)[np.ix_(index, index)]
    H = np.empty((index.size, index.size))
    unit = np.zeros(theta.size)
    for k, j in enumerate(index):
        unit[j] = 1.0
        H[:, k] = objective.hessp(theta, unit)[index]
        unit[j] = 0.0
    return 0.5 * (H + H.T)


def _polish_l1(
    objective: Any,
    theta: np.ndarray,
    l1: np.ndarray,
    n_weights: int,
    tol: float,
    max_steps: int = 20,
) -> tuple[np.ndarray, bool]:
    r"""Newton steps on the non-zero coefficients of an L1-penalised solution.

    With the signs :math:`\sigma` of the non-zero weights fixed, the objective is smooth on
    them: :math:`J(\theta) + \sum_{j \in A} \lambda_j \sigma_j \theta_j`. Newton's method
    on that set reaches ``tol`` in a step or two where L-BFGS-B converges linearly (none is
    taken where the gradient is already within ``tol``: its Hessian can cost hundreds of
    passes on a wide design). The polished point
    is kept only if no sign changed, the objective did not increase, and the zero weights
    still satisfy the optimality condition :math:`|\nabla_j J| \le \lambda_j`; otherwise the
    L-BFGS-B solution is returned unchanged.

    Also returns whether the point returned satisfies the optimality conditions to ``tol``:
    :math:`|\nabla_j J + \lambda_j \sigma_j| \le` ``tol`` on the non-zero weights and the
    biases, and the condition above on the zero weights (of a convex objective: its minimum).
    """
    free = np.ones(theta.size, dtype=bool)
    free[:n_weights] = theta[:n_weights] != 0
    sign = np.zeros(theta.size)
    sign[:n_weights] = np.sign(theta[:n_weights]) * l1
    start = theta

    def total(th: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective(th)
        return value + float(np.abs(th[:n_weights]) @ l1), grad

    best, _ = total(theta)
    for _ in range(max_steps):
        value, grad = objective(theta)
        g = (grad + sign)[free]
        if np.max(np.abs(g), initial=0.0) <= tol:  # no Hessian for a step not needed
            break
        H = _restricted_hessian(objective, theta, free)
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            try:
                step = scipy.linalg.solve(H, g, assume_a="pos")
            except (np.linalg.LinAlgError, ValueError, scipy.linalg.LinAlgWarning):
                return start, False
        trial = theta.copy()
        trial[free] -= step
        if np.any(np.sign(trial[:n_weights]) != np.sign(theta[:n_weights])):
            return start, False
        new, _ = total(trial)
        if not new <= best:
            break
        theta, best = trial, new
        if 0.5 * float(g @ step) <= 64 * np.finfo(np.float64).eps * max(1.0, abs(best)):
            break
    _, grad = objective(theta)
    zeros = ~free[:n_weights]
    if np.any(np.abs(grad[:n_weights][zeros]) > l1[zeros] * (1 + 1e-8) + 1e-14):
        return start, False
    return theta, _l1_residual(grad, theta, l1, n_weights) <= tol


def _proximal_newton_l1(
    objective: Any, theta: np.ndarray, l1: np.ndarray, n_weights: int, tol: float, max_steps: int
) -> tuple[np.ndarray, bool, int]:
    r"""Proximal Newton's method on :math:`F(\theta) = J(\theta) + \sum_j \lambda_j |\theta_j|`.

    Each step minimises the quadratic model of :math:`J` plus the penalty,
    :math:`g^\top d + \tfrac12 d^\top H d + \sum_j \lambda_j |\theta_j + d_j|`, by cyclic
    coordinate descent (:func:`_lasso_quadratic`: glmnet's and glum's inner solver), then
    backtracks on :math:`F` until :math:`F(\theta + t d) \le F(\theta) + 10^{-4} t \Delta`,
    :math:`\Delta = g^\top d + \sum_j \lambda_j (|\theta_j + d_j| - |\theta_j|) < 0`
    (Lee, Sun and Saunders, SIAM J. Optim. 24, 2014). Unlike the polish it changes signs and
    zeros, and unlike L-BFGS-B its steps do not shrink on a badly conditioned problem (more
    features than rows with feature scales orders of magnitude apart). Stops when the
    optimality conditions hold to ``tol`` (:func:`_l1_residual`), or, as Newton's method,
    when the model's decrease is below the objective's rounding (:math:`64\,\varepsilon
    |F|`) with them holding to ``_DECREMENT_MAX_GRADIENT``; returns the point, whether it
    converged, and the number of steps.
    """

    def total(th: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective(th)
        return value + float(l1 @ np.abs(th[:n_weights])), grad

    value, grad = total(theta)
    steps = 0
    for steps in range(1, max_steps + 1):  # noqa: B007 (returned)
        if _l1_residual(grad, theta, l1, n_weights) <= tol:
            return theta, True, steps - 1
        H = objective.hessian(theta)
        if not np.all(np.isfinite(H)):
            break
        d = _lasso_quadratic(H, grad, theta, l1, n_weights) - theta
        penalty = l1 @ (np.abs(theta[:n_weights] + d[:n_weights]) - np.abs(theta[:n_weights]))
        decrease = float(grad @ d) + float(penalty)
        if not decrease < 0:
            break
        if -decrease <= _FTOL * abs(value):
            # as Newton's decrement at float64 precision: nothing left that the objective
            # resolves (a tol far below it, 1e-10 on a Gaussian NLL)
            residual = _l1_residual(grad, theta, l1, n_weights)
            return theta, residual <= max(tol, _DECREMENT_MAX_GRADIENT), steps - 1
        found = _backtrack(total, theta, d, value, decrease)
        if found is None:
            break
        theta, value, grad, _ = found
    return theta, _l1_residual(grad, theta, l1, n_weights) <= tol, steps


def _lasso_quadratic(
    H: np.ndarray, g: np.ndarray, theta: np.ndarray, l1: np.ndarray, n_weights: int
) -> np.ndarray:
    r"""Minimise the L1-penalised quadratic model of a proximal Newton step over ``z``.

    The model is :math:`q(z) = g^\top (z - \theta) + \tfrac12 (z-\theta)^\top H (z-\theta)
    + \sum_{j < n_w} \lambda_j |z_j|`. Cyclic coordinate descent (up to 100 sweeps) sets
    each coordinate to its exact minimiser given the others (a soft threshold for a weight,
    a Newton step for a bias), keeping the model's gradient :math:`g + H(z-\theta)` up to
    date; from there the feature-sign search (:func:`_feature_sign`) finds the exact
    minimiser, which coordinate descent alone approaches only slowly on an ill-conditioned
    ``H`` (more features than rows).
    """
    z = theta.copy()
    r = g.copy()  # the model's gradient at z
    diag = np.diag(H).copy()
    for _ in range(100):
        largest = 0.0
        for j in range(z.size):
            if not diag[j] > 0:
                continue
            old = z[j]
            u = old - r[j] / diag[j]
            new = math.copysign(max(abs(u) - l1[j] / diag[j], 0.0), u) if j < n_weights else u
            if new != old:
                r += H[:, j] * (new - old)
                z[j] = new
                largest = max(largest, abs(new - old))
        if largest <= 1e-12 * max(float(np.max(np.abs(z))), 1e-300):
            break
    exact = _feature_sign(H, g, theta, l1, n_weights, z)
    return z if exact is None else exact


def _feature_sign(
    H: np.ndarray, g: np.ndarray, theta: np.ndarray, l1: np.ndarray, n_weights: int, z: np.ndarray
) -> np.ndarray | None:
    r"""The exact minimiser of :func:`_lasso_quadratic`'s model, by feature-sign search.

    From ``z``: with the weights' signs :math:`\sigma` fixed (zeros held at 0), the model is
    a quadratic whose minimiser solves :math:`H_{AA}(z_A - \theta_A) = -(g_A + \lambda_A
    \sigma_A) - H_{AZ}(z_Z - \theta_Z)` on the other coordinates :math:`A`; the step towards
    it stops at the best of its end and the points where a weight crosses zero (that weight
    leaves :math:`A`). Once the signs hold, the zero weight whose model gradient exceeds its
    :math:`\lambda_j` most joins :math:`A` with the sign that lowers the model; none left:
    the minimum (Lee, Battle, Raina and Ng, NIPS 2006). Each step lowers the model, so the
    search ends. None where :math:`H_{AA}` is singular or after ``p + 20`` steps (from
    coordinate descent's signs, a few).
    """
    p = theta.size

    def model(v: np.ndarray) -> float:
        step = v - theta
        return float(g @ step + 0.5 * step @ (H @ step) + l1 @ np.abs(v[:n_weights]))

    signs = np.sign(z[:n_weights])
    for _ in range(p + 20):
        free = np.ones(p, dtype=bool)
        free[:n_weights] = signs != 0
        target = z.copy()
        target[:n_weights][signs == 0] = 0.0
        step = target - theta
        lam = np.zeros(p)
        lam[:n_weights] = signs * l1
        rhs = -(g + lam)[free] - H[np.ix_(free, ~free)] @ step[~free]
        solved = _restricted_solve(H[np.ix_(free, free)], rhs)
        if solved is None:
            return None
        step[free] = solved
        new = theta + step
        if not np.all(np.isfinite(new)):
            return None
        kept = np.sign(new[:n_weights]) == signs
        if np.all(kept[signs != 0]):
            z = new
            gradient = g + H @ (z - theta)
            excess = np.where(signs == 0, np.abs(gradient[:n_weights]) - l1, -np.inf)
            if not np.any(excess > 1e-9 * l1 + 1e-15):
                return z
            j = int(np.argmax(excess))
            signs[j] = -np.sign(gradient[j])
            continue
        # the best of the end and the zero crossings on the segment from z to the solution
        d = new - z
        best, best_value = new, model(new)
        for j in np.flatnonzero((signs != 0) & ~kept):
            t = -z[j] / d[j] if d[j] != 0 else -1.0
            if 0.0 <= t < 1.0:
                point = z + t * d
                point[j] = 0.0
                value = model(point)
                if value < best_value:
                    best, best_value = point, value
        z = best
        signs = np.sign(z[:n_weights])
    return None


def _restricted_solve(H: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    r"""Solve :math:`H s = r` for the feature-sign search's step on its free set.

    A singular :math:`H` (more free coordinates than the data's rank: more features than
    rows) gets the solution of :math:`(H + \epsilon I) s = r`, :math:`\epsilon = 10^{-10}
    \max_j H_{jj}`: its component in :math:`H`'s null space is large where the model
    decreases without bound along it (the penalty's linear term there), so the step crosses
    zero in some coordinate, which the search then drops (each of its steps lowers the
    model); where the model is bounded it is the minimiser up to that ridge's effect. (It
    had given up, and proximal Newton's steps fell back on coordinate descent's iterate:
    lasso fits with 100 features on 60 rows in units 100 times apart stopped 0.1-0.3%
    above the optimum.) None if that fails too.
    """
    for ridge in (0.0, 1e-10 * float(np.max(np.abs(np.diag(H)), initial=0.0))):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
                return scipy.linalg.solve(
                    H + ridge * np.eye(H.shape[0]), rhs, assume_a="pos", check_finite=False
                )
        except (np.linalg.LinAlgError, ValueError, scipy.linalg.LinAlgWarning):
            continue
    return None


def _l1_residual(grad: np.ndarray, theta: np.ndarray, l1: np.ndarray, n_weights: int) -> float:
    r"""The largest violation of the optimality conditions of an L1-penalised objective.

    :math:`|\nabla_j J + \lambda_j \operatorname{sign}\theta_j|` for a non-zero weight,
    :math:`\max(|\nabla_j J| - \lambda_j, 0)` for a zero one and :math:`|\nabla_j J|` for a
    bias (``grad`` = :math:`\nabla J` of the smooth part at ``theta``): 0 at the minimum of a
    convex objective.
    """
    out = np.abs(grad)
    w, gw = theta[:n_weights], grad[:n_weights]
    out[:n_weights] = np.where(
        w != 0, np.abs(gw + l1 * np.sign(w)), np.maximum(np.abs(gw) - l1, 0.0)
    )
    return float(np.max(out, initial=0.0))


def _newton_direction(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    r"""Solve ``H d = -g`` by Cholesky; a singular ``H`` gets the minimum-norm solution.

    An indefinite ``H`` (the exact Hessian of a non-convex loss, the negative binomial's, away
    from the optimum) is modified: its eigenvalues :math:`\lambda` are replaced by
    :math:`\max(|\lambda|, 10^{-8} \max|\lambda|)`, which gives a descent direction that is
    Newton's along the positive curvatures (Nocedal and Wright, *Numerical Optimization*,
    2nd ed., section 3.4).
    """
    # LAPACK's Cholesky factorisation and solve, called directly: scipy's cho_factor and
    # cho_solve cost 17 us for 21 x 21 with their checks, these 5 us (Newton's iterations on
    # 10^4 x 20 take 0.2 ms each)
    factor, info = _potrf(H, lower=False, clean=False)
    if info == 0:
        d, info = _potrs(factor, g, lower=False)
        if info == 0 and np.all(np.isfinite(d)):
            return -d
    if not np.all(np.isfinite(H)):
        return np.zeros_like(g)  # no Newton direction: the caller falls back to L-BFGS-B
    try:
        eig, vec = np.linalg.eigh(H)
    except np.linalg.LinAlgError:
        return np.zeros_like(g)
    top = float(np.max(np.abs(eig))) if eig.size else 0.0
    if top > 0 and eig[0] < -_INDEFINITE * top:
        return -vec @ ((vec.T @ g) / np.maximum(np.abs(eig), 1e-8 * top))
    try:
        return -scipy.linalg.lstsq(H, g, cond=1e-12, check_finite=False)[0]
    except (np.linalg.LinAlgError, ValueError):
        return np.zeros_like(g)


_potrf, _potrs = scipy.linalg.get_lapack_funcs(("potrf", "potrs"), dtype=np.float64)


def _secant_update(H: np.ndarray | None, s: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    r"""The BFGS update of ``H`` by the step ``s`` and the gradient change ``y``.

    :math:`H_+ = H - \frac{H s s^\top H}{s^\top H s} + \frac{y y^\top}{y^\top s}`, the
    symmetric matrix closest to ``H`` (in the weighted norm of Nocedal and Wright, section
    6.1) that satisfies the secant equation :math:`H_+ s = y`: it keeps positive
    definiteness, and the iteration that uses it converges superlinearly from a Hessian
    close to the optimum's (Dennis and More, Math. Comp. 28, 1974). None when ``H`` is
    None (no explicit Hessian: a wide design's Woodbury solve) or either curvature is not
    clearly positive.
    """
    if H is None:
        return None
    Hs = H @ s
    sHs, ys = float(s @ Hs), float(y @ s)
    tiny = 1e-12 * float(s @ s)
    if not (H.size and sHs > tiny * float(np.abs(H.diagonal()).max()) and ys > 0):
        return None
    # u u^T - v v^T by broadcasting: exactly symmetric, as H is (a third of np.outer's time)
    u, v = Hs / math.sqrt(sHs), y / math.sqrt(ys)
    out = H - u[:, np.newaxis] * u
    out += v[:, np.newaxis] * v
    return out if math.isfinite(float(out.sum())) else None


def _newton_cholesky(
    objective: Any, theta0: np.ndarray, *, max_iter: int, tol: float, callback: Any = None
) -> scipy.optimize.OptimizeResult:
    r"""Damped Newton's method with the explicit Hessian and an Armijo backtracking line search.

    Each iteration evaluates the gradient, stops if its largest entry is at most ``tol`` (no
    Hessian is built for a step that is not taken), else solves :math:`H d = -g` by Cholesky
    and backtracks from the full step until
    :math:`f(\theta + t d) \le f(\theta) + 10^{-4}\, t\, g^\top d`. It also stops, converged,
    once the Newton decrement :math:`-\tfrac12 g^\top d` is below what float64 resolves in
    the objective (:math:`64\,\varepsilon\,|f|`, as scikit-learn's ``newton-cholesky``).
    No entry of a step exceeds a bound, ``_NEWTON_MAX_STEP`` in the solver's scaled units at
    first (a crude trust region: Fisher scoring on a learned variance can propose log-variance
    steps of 1e5 far from the optimum, which a line search alone would accept into the region
    where the variance overflows); like a trust region's radius it grows fourfold after a
    bounded full step that decreased the objective by at least 3/4 of the quadratic model's
    prediction, and returns to ``_NEWTON_MAX_STEP`` after a damped step.
    With the Fisher information (a positive definite approximation of the Hessian) this is
    Fisher scoring with a line search.

    On tall data the objective offers a Hessian estimated on a sample of the rows
    (``objective.sampled_hessian``, a sub-sampled Newton method): it is used while it
    works, since it costs a fraction of the exact one and the gradient, hence the optimum the
    iteration stops at, stays exact. The exact Hessian takes over, for quadratic convergence,
    once full steps reduce the largest gradient entry by less than ``_SAMPLED_RATE`` and no
    faster than the step before, after three damped steps in a row, or when the sample gives no
    descent direction or no decrease (measured at 10^6 x 20, Poisson: 6 iterations with
    sampled Hessians take half the time of 4 with exact ones).

    For a loss whose curvature changes continuously (``loss.smooth_curvature``), a full step
    that reduced the largest gradient entry by at least ``_REUSE_RATE`` (``_REUSE_RATE_EXACT``
    with the exact Hessian, which costs more) is followed by one
    with the same Hessian updated by the step's secant pair (BFGS, :func:`_secant_update`)
    rather than a new one: near the optimum the Hessian changes little and the secant pair
    corrects that change and a sampled Hessian's error (Poisson at 10^4 x 20: 2 Hessians
    instead of 4 for one more gradient; at 10^5 x 20, 2 sampled Hessians instead of 6 and
    one gradient fewer). A fresh Hessian takes over if the update gives no descent, no
    decrease or no decrement left. Where the decrement is below the objective's rounding
    but the gradient still above ``tol`` (a tight ``tol``), full Newton steps continue while
    they halve the largest gradient entry.

    Returns an ``OptimizeResult`` with ``status`` 0 (converged), 1 (``max_iter``) or 2 (the
    line search found no decrease, or the Hessian is numerically singular and gives no descent
    direction: the caller continues with L-BFGS-B).
    """
    theta = np.array(theta0, dtype=np.float64)
    value, grad = objective(theta)
    eps = np.finfo(np.float64).eps
    status, message, nit = 1, "maximum number of iterations reached", 0
    sampled = getattr(objective, "sampled_hessian", None)
    sampling = sampled is not None and getattr(objective, "samples_hessian", False)
    previous_rate, damped = math.inf, 0  # the last full step's gradient reduction; damped steps
    quasi = None  # the Hessian of the next step if it is not formed afresh
    reuse = getattr(objective, "smooth_curvature", False)
    slow = 0  # full steps in a row that barely reduced the gradient
    bound = _NEWTON_MAX_STEP  # the largest entry of a step (see below)
    for nit in range(1, max_iter + 1):  # noqa: B007 (nit is the result's iteration count)
        largest = float(np.max(np.abs(grad)))
        if largest <= tol:
            status, message, nit = 0, "the largest gradient entry is below tol", nit - 1
            break
        if quasi is not None:  # the last Hessian, updated by the last step's secant pair
            H, d = quasi, _newton_direction(quasi, grad)
        elif hasattr(objective, "newton_direction"):
            d, H = objective.newton_direction(theta, grad, sampling)
        else:
            H = sampled(theta) if sampling else objective.hessian(theta)
            d = _newton_direction(H, grad)
        slope = float(grad @ d)
        if quasi is not None and (not slope < 0 or -0.5 * slope <= 64 * eps * abs(value)):
            quasi = None  # no descent, or no decrement left, by the update: a fresh Hessian
            continue
        if not slope < 0:  # a numerically singular Hessian: no Newton step to take
            if sampling:  # the sample's Hessian may be singular where the exact one is not
                sampling = False
                continue
            status, message = 2, "the Hessian gives no descent direction"
            break
        # the Newton decrement of the full step (not of the bounded one below): nothing left
        # that float64 resolves in the objective. With the gradient still far above tol that
        # is a nearly singular Hessian's tiny step (more features than rows), not an optimum:
        # L-BFGS-B continues from here
        if -0.5 * slope <= 64 * eps * abs(value) and not sampling:
            # the decrease is below the objective's rounding, but the gradient still resolves
            # progress (a decrement at 64 eps leaves the parameters at about sqrt(eps) of
            # their size): the full step is kept while it reduces the gradient
            if largest <= _DECREMENT_MAX_GRADIENT and float(np.max(np.abs(d))) <= 1.0:
                trial = theta + d
                new_value, new_grad = objective(trial)
                new_largest = float(np.max(np.abs(new_grad)))
                if new_largest < 0.5 * largest and new_value <= value + 64 * eps * abs(value):
                    theta, value, grad = trial, new_value, new_grad
                    if callback is not None:
                        callback(scipy.optimize.OptimizeResult(x=theta, fun=value))
                    continue
            if largest <= _DECREMENT_MAX_GRADIENT:
                status, message = 0, "the Newton decrement is at float64 precision"
            else:
                status, message = 2, "the Newton step vanishes at a large gradient"
            break
        longest = float(np.max(np.abs(d)))
        capped = longest > bound
        if capped:  # a bound on the step, as a trust region would
            d *= bound / longest
            slope = float(grad @ d)
        found = _backtrack(objective, theta, d, value, slope)
        if found is None:
            if quasi is not None:  # retry from here with a fresh Hessian
                quasi = None
                continue
            if sampling:  # retry from here with the exact Hessian
                sampling = False
                continue
            status, message = 2, "the line search found no decrease"
            break
        trial, new_value, new_grad, t = found
        # the bound grows (x4) after a bounded full step that the quadratic model predicted
        # well (at least 3/4 of its decrease -slope (1 - tau / 2), tau the step's fraction of
        # Newton's), as a trust region's radius does, and is reset by a damped step: Newton's
        # step along a nearly collinear pair of columns (condition 1e9) is 1e4 long, and
        # steps held at 10 took 1000 iterations to max_iter, 5.5 times above the optimum
        if capped and t == 1.0:
            predicted = -slope * (1.0 - 0.5 * bound / longest)
            if value - new_value >= 0.75 * predicted:
                bound *= 4.0
        elif t < 1.0:
            bound = _NEWTON_MAX_STEP
        rate = float(np.max(np.abs(new_grad))) / largest if t == 1.0 else math.inf
        # Fisher scoring converges only linearly, at the rate the expected information
        # misses the Hessian by: full steps that keep the gradient above _SLOW_RATE of the
        # last make the secant pairs (BFGS) correct the matrix from then on
        slow = slow + 1 if t == 1.0 and rate > _SLOW_RATE else 0
        # a full step that reduced the gradient well: the next step keeps this Hessian,
        # corrected by the step's secant pair (BFGS), instead of forming a new one
        quasi = (
            _secant_update(H, trial - theta, new_grad - grad)
            if reuse
            and (rate <= (_REUSE_RATE if sampling else _REUSE_RATE_EXACT) or slow >= _SLOW_STEPS)
            else None
        )
        if sampling:
            # the exact Hessian from now on (quadratic convergence) once the sample's error
            # shows: full steps that reduce the gradient by less than a good sample does near
            # the optimum and no faster than the step before, or three damped steps in a row
            damped = damped + 1 if t < 1.0 else 0
            if damped >= 3 or (t == 1.0 and _SAMPLED_RATE < rate and previous_rate <= rate):
                sampling = False
            previous_rate = rate
        theta, value, grad = trial, new_value, new_grad
        if callback is not None:
            callback(scipy.optimize.OptimizeResult(x=theta, fun=value))
    return scipy.optimize.OptimizeResult(
        x=theta,
        fun=value,
        jac=grad,
        nit=max(nit, 1),
        status=status,
        success=status == 0,
        message=message,
    )


def _backtrack(
    fun: Callable, theta: np.ndarray, d: np.ndarray, value: float, slope: float
) -> tuple[np.ndarray, float, np.ndarray, float] | None:
    r"""Armijo backtracking along the step ``d`` (``fun``: the value and gradient).

    The first :math:`t = 2^{-k}`, :math:`k < 40`, with :math:`f(\theta + t d) \le f(\theta)
    + 10^{-4} t s` (``slope`` :math:`s < 0`, the step's predicted decrease). A shortened step
    must also lower the value: one that leaves it equal (where float64 no longer resolves the
    sufficient decrease) is no progress (a constant y of 1e18 took 1000 such steps of 2^-31
    per continuation stage, 45 s on 9 rows). Returns the point, its value and gradient and
    ``t``, or None.
    """
    t = 1.0
    for _ in range(40):
        trial = theta + t * d
        new_value, new_grad = fun(trial)
        if new_value <= value + 1e-4 * t * slope and (t == 1.0 or new_value < value):
            return trial, new_value, new_grad, t
        t *= 0.5
    return None


def _restart_at_kinks(
    objective: Any, res: scipy.optimize.OptimizeResult, *, max_iter: int, tol: float
) -> scipy.optimize.OptimizeResult:
    """Restart L-BFGS-B with a fresh memory while that still lowers a kinked objective.

    At a kink (l1) the curvature pairs L-BFGS-B has stored describe the other side, and its
    relative-reduction test stops it early; a restart from the same point with an empty
    memory usually makes further progress. At most 20 restarts, each within what is left of
    ``max_iter``; stops when a restart lowers the objective by less than 64 eps relative.
    """
    nit = res.nit
    for _ in range(20):
        if not res.success or nit >= max_iter:
            break
        new = _lbfgs(objective, res.x, max_iter=max_iter - nit, tol=tol)
        nit += new.nit
        improved = res.fun - new.fun > _FTOL * max(abs(res.fun), abs(new.fun), 1.0)
        if new.fun <= res.fun:
            res = new
        if not improved:
            break
    res.nit = nit
    return res


def _lbfgs(
    objective, theta0, *, max_iter, tol, callback=None, bounds=None
) -> scipy.optimize.OptimizeResult:
    return scipy.optimize.minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        bounds=bounds,
        options={
            "maxiter": max_iter,
            "maxfun": max(15000, 2 * max_iter),
            "gtol": tol,
            "ftol": _FTOL,
            "maxls": 50,
        },
    )


def _column_magnitudes(y: np.ndarray) -> np.ndarray:
    """Per target, the largest ``|y|`` rounded to a power of 2 (exact scaling); 1 if all 0."""
    top = np.max(np.abs(y), axis=0) if y.shape[0] else np.zeros(y.shape[1])
    with np.errstate(divide="ignore"):
        unit = np.exp2(np.floor(np.log2(np.where(top > 0, top, 1.0))))
    return np.where((top > 0.5) & (top < 2.0), 1.0, unit)


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
    x_centered: bool = False,
    gram: np.ndarray | None = None,
    tol: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact minimiser of the weighted, ridge-penalised mean squared error.

    The objective is :math:`\sum_i c_i \lVert y_i - W x_i - b \rVert^2 / K
    + \tfrac{\alpha}{2}\sum_j \pi_j \lVert W_{:j} \rVert^2` with
    ``c = sample_weight / sum(sample_weight)`` and :math:`\pi` = ``penalty_weights`` (1 by
    default). The data are centred (weighted) for the intercept and the columns scaled to unit
    norm. With at least as many rows as columns, the scaled normal equations are solved by
    Cholesky when their condition number is below 1e4 (forward error about 1e-12), and
    otherwise the augmented least-squares system is solved by SVD (LAPACK ``gelsd``), so
    ill-conditioned problems keep their accuracy. With more columns than rows and more than
    ``_WIDE_PRIMAL_MAX_FEATURES`` columns the cost is kept at :math:`O(n^2 p)`: the
    minimum-norm SVD solution of the n-by-p system without a penalty, the dual (kernel) form
    :math:`v = A^\top (A A^\top + \Lambda)^{-1} B` (on columns rescaled so that the penalty
    is isotropic) with one, unless that n-by-n system is numerically singular.

    A sparse design (:class:`~sklik._design.SparseDesign`) is never densified: see
    :func:`_design_least_squares`.

    Parameters
    ----------
    X : ndarray, DenseDesign or SparseDesign of shape (n_samples, n_features)
        The data, or a design of :mod:`sklik._design` (a ``SparseDesign`` is centred and
        scaled implicitly, so ``x_centered`` and ``gram`` are ignored for it).
    y : ndarray of shape (n_samples, n_targets)
    sample_weight : ndarray of shape (n_samples,)
    alpha : float
    fit_intercept : bool
    penalty_weights : ndarray of shape (n_features,), default=None
    x_centered : bool, default=False
        Whether ``X``'s columns already have weighted mean 0 (the estimators' standardised
        design): ``X`` is then used as it is, without a centred copy.
    gram : ndarray of shape (n_features, n_features), default=None
        ``X.T @ X`` if already known (used with ``x_centered`` and equal weights).
    tol : float, default=None
        Only for a sparse design with more than ``_SPARSE_EXPLICIT_MAX_FEATURES`` columns
        (solved by conjugate gradients): the relative gradient tolerance, as for the iterative
        solvers (:func:`minimize`); None means ``_CG_RTOL``.

    Returns
    -------
    coef : ndarray of shape (n_targets, n_features)
    intercept : ndarray of shape (n_targets,)
    """
    kind = getattr(X, "kind", None)
    if kind is not None and not X.explicit:  # a sparse or an implicitly shifted dense design
        return _design_least_squares(
            X, y, sample_weight, alpha, fit_intercept, penalty_weights, tol=tol
        )
    wide = X.shape[1] > max(X.shape[0], _WIDE_PRIMAL_MAX_FEATURES)  # no p-by-p Gram matrix
    if kind == "dense":  # a DenseDesign: its array, and its cached Gram matrix with equal weights
        if gram is None and x_centered and not wide and np.all(sample_weight == sample_weight[0]):
            gram = X.gram()
        X = X.toarray()
    # the solution is linear in y: solve for y / max|y| (no overflow in X^T y) and scale back
    y_unit = _column_magnitudes(y)
    if np.any(y_unit != 1.0):
        coef, intercept = least_squares(
            X, y / y_unit, sample_weight, alpha, fit_intercept, penalty_weights, x_centered, gram
        )
        return coef * y_unit[:, np.newaxis], intercept * y_unit
    c = sample_weight / sample_weight.sum()
    A, B, x_mean, y_mean = _center(X, y, c, fit_intercept and not x_centered)
    if fit_intercept and x_centered:
        y_mean = c @ y
        B = y - y_mean
    copied = fit_intercept and not x_centered  # A is a centred copy, not the caller's X
    pw = np.ones(X.shape[1]) if penalty_weights is None else np.asarray(penalty_weights)
    if np.all(sample_weight == sample_weight[0]):
        weight = 1.0 / X.shape[0]  # c_i for every row: folded into the small matrices
    else:  # rows times sqrt(c_i); in place only on the centred copy, never on the caller's X
        root = np.sqrt(c)[:, np.newaxis]
        if copied:
            A *= root
        else:
            A = A * root
        B = B * root
        weight = 1.0
    if wide:
        v = _wide_least_squares(A, B, weight, 0.5 * alpha * y.shape[1] * pw)
        if v is not None:
            coef = v.T
            return coef, y_mean - coef @ x_mean
    known = gram is not None and A is X and weight == 1.0 / X.shape[0]
    gram = (gram if known else A.T @ A) * weight
    rhs = (A.T @ B) * weight
    v, norms, ridge = gram_solve(gram, rhs, 0.5 * alpha * y.shape[1] * pw)
    if v is None:
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


def gram_solve(
    gram: np.ndarray, rhs: np.ndarray, ridge: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    r"""Solve the ridge normal equations :math:`(G + \operatorname{diag}(\rho))\,w = R`.

    The columns are scaled to a unit diagonal, :math:`v = \nu \odot w` with
    :math:`\nu = \sqrt{\operatorname{diag} G + \rho}` (the penalty's curvature included: a
    column in units of 1e-20 has a ridge of 1e40 times its norm, and with :math:`\nu` the norm
    alone the scaled system's condition number of 1e40 sent it to the SVD, whose rank cutoff
    relative to that ridge then zeroed every other coefficient), and the scaled system is
    solved by Cholesky
    when its condition number (LAPACK's 1-norm estimate from the Cholesky factor) is below
    ``_CHOLESKY_MAX_COND``. ``gram`` is modified in place.

    Parameters
    ----------
    gram : ndarray of shape (n_features, n_features)
        :math:`A^\top A` of the weighted, centred design.
    rhs : ndarray of shape (n_features, n_targets)
        :math:`A^\top B`.
    ridge : ndarray of shape (n_features,)
        The penalty's curvature :math:`\rho_j` on the unscaled coefficients.

    Returns
    -------
    v : ndarray of shape (n_features, n_targets) or None
        The scaled solution, None when the scaled system is too ill-conditioned for the
        normal equations (then solve the least-squares problem of ``A`` itself, by SVD).
    norms : ndarray of shape (n_features,)
        :math:`\nu` (1 for unpenalised zero columns): the solution is ``v / norms[:, None]``.
    ridge_scaled : ndarray of shape (n_features,)
        :math:`\rho / \nu^2`, the penalty's curvature on ``v``.
    """
    # column norms of the weighted, centred design, with the penalty's curvature
    norms = np.sqrt(np.diag(gram) + ridge)
    norms[norms == 0] = 1.0
    # the objective is ||A_s v - B_s||^2 / K + alpha/2 sum pi_j (v_j / norms_j)^2, v = norms * w
    ridge = ridge / norms**2
    gram /= np.outer(norms, norms)
    gram.flat[:: gram.shape[0] + 1] += ridge  # the diagonal
    if not np.all(np.isfinite(gram)):
        return None, norms, ridge
    # Cholesky, and LAPACK's estimate of the 1-norm condition number from the factor (at
    # least the 2-norm one; a third of an eigendecomposition's time at p = 20)
    factor, info = scipy.linalg.lapack.dpotrf(gram, lower=False, clean=True)
    if info != 0:  # not positive definite
        return None, norms, ridge
    rcond, info = scipy.linalg.lapack.dpocon(factor, np.abs(gram).sum(axis=0).max())
    if info != 0 or not rcond * _CHOLESKY_MAX_COND > 1.0:
        return None, norms, ridge
    v, info = scipy.linalg.lapack.dpotrs(factor, rhs / norms[:, np.newaxis])
    return (v, norms, ridge) if info == 0 else (None, norms, ridge)


# Sparse least squares: up to this many columns the normal equations are formed explicitly
# (Z^T C Z, a sparse product with a dense p-by-p result, which the estimators' coefficient
# covariance needs too up to 500 coefficients) and solved by Cholesky; beyond, conjugate
# gradients on the implicit normal equations.
_SPARSE_EXPLICIT_MAX_FEATURES = 499
# Conjugate gradients stop at the relative gradient tolerance ``tol`` of the iterative solvers
# (``_CG_RTOL`` when none is given; never below ``_CG_MIN_RTOL``, where the recurrence's
# residual no longer tracks the true one), after at most ``_CG_MAX_ITER`` iterations.
_CG_RTOL = 1e-10
_CG_MIN_RTOL = 1e-13
_CG_MAX_ITER = 2000
# Beyond this many columns a CG that did not converge is not replaced by the explicit p-by-p
# normal equations (their memory): it returns its last iterate with a ConvergenceWarning.
_SPARSE_FALLBACK_MAX_FEATURES = 5000


def _design_least_squares(
    design: Any,
    y: np.ndarray,
    sample_weight: np.ndarray,
    alpha: float,
    fit_intercept: bool,
    penalty_weights: np.ndarray | None = None,
    tol: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r""":func:`least_squares` on an implicit design :math:`Z`, without forming it.

    For a :class:`~sklik._design.SparseDesign` or a
    :class:`~sklik._design.ShiftedDenseDesign`, whose columns have weighted mean zero with an
    intercept (the implicit centring), so the intercept is the weighted mean of ``y`` and,
    per target :math:`k`, the coefficients solve the ridge normal equations

    .. math::

        (Z^\top C Z + \operatorname{diag}(\rho))\, v_k = Z^\top C (y_k - \bar y_k),
        \qquad C = \operatorname{diag}(c),\ \rho = \tfrac{\alpha K}{2}\pi.

    A dense design, and a sparse one up to ``_SPARSE_EXPLICIT_MAX_FEATURES`` columns, has the
    matrix formed (``design.sandwich``)
    and solved by :func:`gram_solve` (Cholesky; the SVD of the densified design when it is
    ill-conditioned). Beyond, conjugate gradients with the Jacobi preconditioner run on the
    implicit matrix (one ``Z u`` and one ``Z^T d`` per iteration, each linear in the
    non-zeros), as scikit-learn's ``Ridge(solver="sparse_cg")``, from :math:`v = 0` (the
    estimators' cold start, the best constant model), until the largest entry of the residual
    :math:`R - (Z^\top C Z + \operatorname{diag}(\rho)) v` (the gradient of the objective up
    to the factor :math:`-2/K`) is ``tol`` times its largest entry at :math:`v = 0`: the
    iterative solvers' relative gradient tolerance (:func:`minimize`). The objective's excess
    over the optimum is then of order ``tol**2`` times the reduction from the best constant
    model to the optimum (about 1e-12 relative at the default ``tol=1e-6``). If CG does not
    get there in ``min(10 p, _CG_MAX_ITER)`` iterations (a numerically singular problem), the
    explicit path decides (up to ``_SPARSE_FALLBACK_MAX_FEATURES`` columns, else a
    ConvergenceWarning).
    """
    y_unit = _column_magnitudes(y)  # solve for y / max|y|: no overflow in Z^T C y
    Y = y / y_unit
    c = sample_weight / sample_weight.sum()
    n_targets = Y.shape[1]
    if fit_intercept:
        y_mean = c @ Y
        B = Y - y_mean
    else:
        y_mean, B = np.zeros(n_targets), Y
    p = design.shape[1]
    pw = np.ones(p) if penalty_weights is None else np.asarray(penalty_weights, dtype=np.float64)
    ridge = 0.5 * alpha * n_targets * pw
    rhs = design.rmatmat(c[:, np.newaxis] * B).T  # Z^T C B, shape (p, K)
    v = None
    if design.kind == "sparse" and p > _SPARSE_EXPLICIT_MAX_FEATURES:
        rtol = _CG_RTOL if tol is None else max(float(tol), _CG_MIN_RTOL)
        v, converged = _conjugate_gradients(design, c, ridge, rhs, rtol)
        if not converged and p <= _SPARSE_FALLBACK_MAX_FEATURES:
            v = None
        elif not converged:
            warnings.warn(
                f"least squares: conjugate gradients did not reach tol={rtol:g} in "
                f"{min(10 * p, _CG_MAX_ITER)} iterations (the sparse design is numerically "
                f"rank-deficient); increase alpha or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
    if v is None:
        v = _explicit_normal_equations(design, c, B, ridge, rhs)
    coef = (v * y_unit).T
    return coef, y_mean * y_unit


def _conjugate_gradients(
    design: Any, c: np.ndarray, ridge: np.ndarray, rhs: np.ndarray, rtol: float
) -> tuple[np.ndarray, bool]:
    r"""Jacobi-preconditioned CG on :math:`(Z^\top C Z + \operatorname{diag}(\rho)) v = R`.

    One column of ``rhs`` at a time, from zero, until every residual entry is at most ``rtol``
    times the largest entry of ``rhs``. Returns the solution and whether all converged.
    """
    p = design.shape[1]
    equal = bool(np.all(c == c[0]))
    diag = design.column_sq
    if diag is None:  # diag(Z^T C Z) = (X o X)^T c / s^2 - 2 (m/s) (X^T c) / s + (m/s)^2 sum c
        X = design.X
        squares = sp.csr_array((X.data * X.data, X.indices, X.indptr), shape=X.shape)
        diag = (squares.T @ c) * design.inv_scale**2
        diag -= 2.0 * design.shift * design.inv_scale * (X.T @ c)
        diag = np.maximum(diag + design.shift**2 * c.sum(), 0.0)
    precond = diag + ridge
    precond = np.where(precond > 0, 1.0 / np.where(precond > 0, precond, 1.0), 1.0)
    threshold = rtol * float(np.max(np.abs(rhs))) if rhs.size else 0.0
    max_iter = min(10 * p, _CG_MAX_ITER)

    def normal(u: np.ndarray) -> np.ndarray:
        zu = design.matmat(u[np.newaxis])[:, 0]
        if equal:  # the common weight after the product: no pass over the n-vector
            return design.rmatvec(zu) * c[0] + ridge * u
        return design.rmatvec(zu * c) + ridge * u

    out = np.zeros_like(rhs)
    all_converged = True
    for k in range(rhs.shape[1]):
        v = np.zeros(p)
        r = rhs[:, k].copy()
        z = precond * r
        rz = float(r @ z)
        d = z.copy()
        converged = bool(np.max(np.abs(r), initial=0.0) <= threshold)
        for _ in range(max_iter):
            if converged:
                break
            hd = normal(d)
            curvature = float(d @ hd)
            if not curvature > 0:
                break
            step = rz / curvature
            v += step * d
            r -= step * hd
            converged = bool(np.max(np.abs(r)) <= threshold)
            z = precond * r
            rz_new = float(r @ z)
            d *= rz_new / rz
            d += z
            rz = rz_new
        out[:, k] = v
        all_converged &= converged
    return out, all_converged


def _explicit_normal_equations(
    design: Any, c: np.ndarray, B: np.ndarray, ridge: np.ndarray, rhs: np.ndarray
) -> np.ndarray:
    """The normal equations of an implicit design formed and solved by :func:`gram_solve`."""
    gram = design.sandwich(c)
    v, norms, ridge_scaled = gram_solve(gram, rhs, ridge)
    if v is None:  # ill-conditioned: the SVD of the (densified) weighted least-squares problem
        root = np.sqrt(c)[:, np.newaxis]
        As = design.toarray() * (root / norms)
        Bs = B * root
        if np.any(ridge_scaled > 0):
            As = np.vstack([As, np.diag(np.sqrt(ridge_scaled))])
            Bs = np.vstack([Bs, np.zeros((As.shape[1], Bs.shape[1]))])
        cond = np.finfo(np.float64).eps * max(As.shape)
        v = scipy.linalg.lstsq(As, Bs, cond=cond, lapack_driver="gelsd")[0]
    return v / norms[:, np.newaxis]


def _wide_least_squares(
    A: np.ndarray, B: np.ndarray, weight: float, ridge: np.ndarray
) -> np.ndarray | None:
    r"""Minimise :math:`w\lVert A u - B\rVert^2 + \sum_j \rho_j u_j^2` for a wide ``A``.

    With :math:`u = D t`, :math:`D = \operatorname{diag}(\rho^{-1/2})`, the penalty is
    :math:`\lVert t\rVert^2` and :math:`t = (AD)^\top (w AD(AD)^\top + I)^{-1} w B`, an
    n-by-n solve. Without a penalty, the minimum-norm least-squares solution (SVD of the
    n-by-p matrix with unit-norm columns). None when the n-by-n system is numerically singular
    (penalties of very different sizes on the columns: the caller solves the p-by-p normal
    equations instead).
    """
    if np.all(ridge > 0):
        d = 1.0 / np.sqrt(ridge)
        AD = A * d
        K = weight * (AD @ AD.T)
        K[np.diag_indices_from(K)] += 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            try:
                t = AD.T @ scipy.linalg.solve(K, weight * B, assume_a="pos")
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
                return None  # penalties of very different sizes: the p-by-p normal equations
        return d[:, np.newaxis] * t
    norms = np.sqrt(np.einsum("ij,ij->j", A, A))
    norms[norms == 0] = 1.0
    cond = np.finfo(np.float64).eps * max(A.shape)
    t = scipy.linalg.lstsq(A / norms, B, cond=cond, lapack_driver="gelsd")[0]
    return t / norms[:, np.newaxis]


# Columns of the standardised design with a weighted mean square below this are constant
# columns (centred to rounding noise and left unscaled); every other column has mean square 1.
LAD_CONSTANT_COLUMN = 1e-6
# The exact l1 solvers work on a dense design: a sparse X is densified up to this many entries
# (160 MB), and refused beyond.
LAD_MAX_DENSE = 20_000_000


def least_absolute_deviations(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    fit_intercept: bool,
    l1: np.ndarray | None = None,
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
        The standardised design (columns of weighted mean square 1; with an intercept, a
        column whose weighted mean square is below ``LAD_CONSTANT_COLUMN`` is a constant
        column centred to rounding noise, and gets coefficient 0).
    y : ndarray of shape (n_samples, n_targets)
    sample_weight : ndarray of shape (n_samples,)
    fit_intercept : bool
    l1 : ndarray of shape (n_features,), default=None
        An L1 penalty :math:`\sum_j \lambda_j |w_j|` added to the objective, whose rows are
        weighed by :math:`c_i = s_i / \sum s`. It is the absolute error of a row
        :math:`e_j` with target 0, weight :math:`\lambda_j` and no intercept: the dual
        gains the variables :math:`|\mu_j| \le \lambda_j` and the constraints become
        :math:`X^\top u + \mu = 0` (by HiGHS, whatever the number of rows).

    Returns
    -------
    coef : ndarray of shape (n_targets, n_features)
    intercept : ndarray of shape (n_targets,)
    """
    keep = sample_weight > 0
    X, y, c = X[keep], y[keep], sample_weight[keep] / sample_weight.sum()
    # the solution is linear in y: solve for y / max|y| over the rows kept (HiGHS fails on
    # values near 1e200, and its absolute tolerances on y much smaller than the rows dropped)
    y_unit = _column_magnitudes(y)
    if np.any(y_unit != 1.0):
        coef, intercept = least_absolute_deviations(X, y / y_unit, c, fit_intercept, l1)
        return coef * y_unit[:, np.newaxis], intercept * y_unit
    if fit_intercept and X.shape[0]:
        # constant columns, which the standardised design centres to rounding noise, are in
        # the intercept's span: coefficient 0 (as on dask input), not an arbitrary one
        cols = np.einsum("i,ij,ij->j", c, X, X) / c.sum() >= LAD_CONSTANT_COLUMN
        if not np.all(cols):
            coef = np.zeros((y.shape[1], X.shape[1]))
            coef[:, cols], intercept = least_absolute_deviations(
                X[:, cols], y, c, True, None if l1 is None else l1[cols]
            )
            return coef, intercept
    A = X.T if not fit_intercept else np.vstack([X.T, np.ones(X.shape[0])])
    # the dual's bounds in units of the smallest weight (at most 1e15 wide; the solution does
    # not depend on the weights' unit): HiGHS's tolerances are absolute, and weights that sum
    # to 1 put the bounds of every row but a heavy one below them (weights [1e10, 1, ...]:
    # "infeasible")
    unit = max(float(c.min()), 1e-15 * float(c.max())) if c.size else 1.0
    bounds = np.column_stack([-c, c]) / unit
    n_features = X.shape[1]
    if l1 is not None:
        mu = np.zeros((A.shape[0], n_features))
        mu[:n_features] = np.eye(n_features)
        A = np.hstack([A, mu])
        bounds = np.vstack([bounds, np.column_stack([-l1, l1]) / unit])
    coef = np.empty((y.shape[1], n_features))
    intercept = np.zeros(y.shape[1])
    for k in range(y.shape[1]):
        if X.shape[0] >= _LAD_FRISCH_NEWTON_ROWS and l1 is None:
            try:
                coef[k], intercept[k] = frisch_newton(X, y[:, k], c, fit_intercept)
                continue
            except (np.linalg.LinAlgError, ArithmeticError):
                pass  # the general LP solver below handles every case
        cost = -y[:, k] if l1 is None else np.concatenate([-y[:, k], np.zeros(n_features)])
        res = scipy.optimize.linprog(
            cost, A_eq=A, b_eq=np.zeros(A.shape[0]), bounds=bounds, method="highs-ipm"
        )
        solved = res.eqlin is not None and res.x is not None
        if solved:
            marginals = -np.asarray(res.eqlin.marginals)
            coef[k] = marginals[:n_features]
            intercept[k] = marginals[n_features] if fit_intercept else 0.0
        if l1 is None and X.shape[0]:
            # HiGHS's solution is as exact as its tolerances: move to a certified optimal
            # vertex (exact), from it or, if HiGHS failed, from the constant 0
            start = (coef[k], intercept[k]) if solved else (np.zeros(n_features), 0.0)
            vertex = certified_vertex(X, y[:, k], c, fit_intercept, *start)
            if vertex is not None:
                coef[k], intercept[k] = vertex
                continue
        if res.status != 0:
            warnings.warn(
                f"The linear program for the l1 loss stopped early: {res.message}",
                ConvergenceWarning,
                stacklevel=3,
            )
        if not solved:
            raise ValueError(f"The linear program for the l1 loss failed: {res.message}")
    return coef, intercept
