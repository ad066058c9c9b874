r"""PyTorch's six regression losses, exact, in NumPy.

Every class here reproduces the PyTorch 2.13 module of the same name (values, gradients,
reductions, broadcasting and edge cases) and, in addition, carries what a likelihood-based
estimator needs: the per-sample loss and its gradient with respect to the model's *raw*
outputs, the number of raw outputs per target, the target domain, the inverse link and the best
constant prediction.

Two interfaces
--------------
**The PyTorch interface.** ``loss(input, target)`` (``loss(input, target, var)`` for
:class:`GaussianNLLLoss`) returns the reduced loss, a Python float for ``reduction="mean"`` and
``"sum"`` and an ndarray for ``"none"``. ``loss.value_and_grad(...)`` returns the same value
together with the gradient of the reduced value with respect to ``input`` (and ``var``), which is
what ``torch.autograd`` gives for ``loss(...).backward()`` (for ``"none"``, the gradient of the sum
of the elementwise loss). All arithmetic is in float64.

**The estimator interface.** A model produces ``raw`` of shape ``(n_params, *y.shape)``: one
array per distribution parameter, in link space.

- ``raw_loss_gradient(y, raw)`` returns the elementwise loss (shape ``y.shape``) and its
  derivative with respect to ``raw`` (shape ``raw.shape``).
- ``inverse_link(raw)`` maps raw outputs to the predicted mean on the response scale.
- ``init_raw(y, sample_weight)`` is the constant ``raw`` minimising the weighted mean loss; it
  starts intercepts.
- ``n_params``, ``param_names``, ``y_domain`` and ``check_y`` describe the parameterisation and
  the valid targets.

The parameterisations are: identity link for :class:`MSELoss`, :class:`L1Loss`,
:class:`HuberLoss` and :class:`SmoothL1Loss`; ``(mean, log variance)`` for
:class:`GaussianNLLLoss`; the log rate for :class:`PoissonNLLLoss`.

Adding a loss
-------------
Subclass :class:`BaseLoss`, set ``name`` and implement ``_elementwise`` (and, where a closed form
exists, ``init_raw``); then add the class to ``_LOSS_CLASSES`` at the bottom of this module. The
estimators, scorers and the registry-driven tests pick it up from :data:`LOSSES`. Where torch
applies the ``1/N`` of ``reduction="mean"`` inside the gradient formula (before a division or a
subtraction), override ``_elementwise_normed`` too, so that overflow and underflow match.
The public numerical methods of every subclass run without NumPy floating-point warnings.
A loss that clamps a parameter at a floor (GaussianNLL's variance at ``eps``) sets
``has_floor`` and implements ``floored`` and ``floor_advice``: a fit that ends with rows at
the floor warns with that advice.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import special, stats
from scipy.optimize import brentq
from sklearn.base import BaseEstimator, clone

from sklik.distributions import (
    _NBINOM_MIN_ALPHA_MU,
    _flat_float_arrays,
    _log1pmx,
    _nb_gamma_terms,
    huber,
    laplace,
    nbinom,
    poisson,
)

__all__ = [
    "BaseLoss",
    "L1Loss",
    "MSELoss",
    "HuberLoss",
    "SmoothL1Loss",
    "GaussianNLLLoss",
    "PoissonNLLLoss",
    "NegativeBinomialNLLLoss",
    "LOSSES",
    "get_loss",
]

_REDUCTIONS = ("none", "mean", "sum")
# Elements per block of the blocked reductions in value_and_grad (128 KiB per float64 array).
_BLOCK = 16384
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# exp(x) overflows float64 above this; raw log-rates are clipped here before exp.
_MAX_EXP_ARG = math.log(np.finfo(np.float64).max)
# The Huber and SmoothL1 sums use sum(c * d) - sum(c * c) / 2 (two BLAS dots) when the kink is at
# least _FAST_SUM_MIN_KINK (so that kink**2 is a normal float) and sum(c * d) lies in
# (_FAST_SUM_LOW, inf): there the form agrees with torch's elementwise sum to a few ulps. Outside
# (overflow, a subnormal sum, NaN) they sum torch's elementwise loss, as torch does.
_FAST_SUM_MIN_KINK = 1e-100
# SmoothL1's elementwise loss takes a faster form (equal to torch's to rounding) for beta in
# [_FAST_SUM_MIN_KINK, _FAST_MAX_BETA]; outside, torch's two pieces are computed as torch does.
_FAST_MAX_BETA = 1e100
_FAST_SUM_LOW = 1e-280


# ---------------------------------------------------------------------------------------------
# array helpers


def _as_float_array(value: Any, name: str) -> np.ndarray:
    """Convert to a float64 ndarray, rejecting what cannot be read as real numbers.

    None (alone or in an object array) is no number: NumPy reads it as NaN, torch refuses it.
    """
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # a ragged nesting
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from exc
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real; got complex values.")
    if arr.dtype.kind not in "biuf":
        if arr.dtype == object and any(v is None for v in arr.flat):
            raise ValueError(f"{name} must be numeric; got None.")
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric; got an array of dtype {arr.dtype}.") from exc
    return arr.astype(np.float64, copy=False)


def _broadcast_shape(input_shape: tuple, other_shape: tuple, other: str) -> tuple:
    try:
        return np.broadcast_shapes(input_shape, other_shape)
    except ValueError:
        raise ValueError(
            f"input of shape {input_shape} and {other} of shape {other_shape} cannot be "
            f"broadcast together; pass arrays of the same shape."
        ) from None


def _sum_to_shape(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape`` (what autograd does for expanded tensors)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead:
        grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    # np.asarray: summing down to a 0-d shape gives a NumPy scalar, not an array
    return np.asarray(grad).reshape(shape)


def _subtract(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``x - t`` as a new ndarray that the kernels may update in place.

    NumPy returns a scalar, not a 0-d array, when both operands are 0-d.
    """
    d = np.subtract(x, t)
    return d if isinstance(d, np.ndarray) else np.asarray(d)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` over two arrays of one shape without the product array (a BLAS dot).

    The kernels use it only for sums of nonnegative terms, where the blocked BLAS sum is as
    accurate as ``np.sum``'s pairwise sum to far better than 1e-12. A NaN anywhere gives NaN.
    """
    if a.shape == b.shape and a.strides == b.strides:
        # the same layout: flat views (copies if not contiguous) in the same element order
        return float(np.dot(a.ravel(order="K"), b.ravel(order="K")))
    return float(np.vdot(a, b))


def _scaled_mean(y: np.ndarray, sample_weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of ``y / m`` over axis 0, and ``m``.

    ``m`` is the largest ``|y|`` of each column (1 where a column is 0): the mean is
    ``m * result``, computed without overflow.
    """
    m = np.maximum(y.max(axis=0, initial=0.0), -y.min(axis=0, initial=0.0))  # (no |y| array)
    m = np.where(m > 0, m, 1.0)
    # summed over row blocks: no temporary as long as y (fresh memory, page faults, per fit)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
    total = y.shape[0] if sample_weight is None else np.sum(sample_weight)
    if sample_weight is not None and total == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    acc = np.zeros(y.shape[1:])
    for start in range(0, y.shape[0], _BLOCK):
        rows = y[start : start + _BLOCK] / m
        if sample_weight is None:
            acc += rows.sum(axis=0)
        else:
            acc += sample_weight[start : start + _BLOCK] @ rows
    return acc / total, m


def _weighted_median(y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    return np.quantile(y, 0.5, axis=0, weights=sample_weight, method="inverted_cdf")


def _check_real(value: Any, name: str, cls_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{cls_name}: {name} must be a real number; got {value!r} of type "
            f"{type(value).__name__}."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{cls_name}: {name} must be finite; got {name}={value!r}.")
    return value


def _check_bool(value: Any, name: str, cls_name: str) -> None:
    """Refuse a flag that is not a bool (torch's TypeError; ``full="no"`` is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"{cls_name}: {name} must be True or False; got {value!r} of type "
            f"{type(value).__name__}."
        )


# The public numerical methods follow torch: where a value overflows it is inf or NaN, silently.
# They run under this error state, so that no NumPy RuntimeWarning reaches the user.
_QUIET_METHODS = frozenset(
    {
        "__call__",
        "value_and_grad",
        "raw_loss_gradient",
        "raw_loss",
        "raw_hessian",
        "inverse_link",
        "link",
        "predictive_distribution",
        "fit_scale",
        "init_raw",
        "variance",
    }
)


def _quiet(method):
    """Run ``method`` with NumPy's floating-point warnings off (overflow is handled)."""

    @functools.wraps(method)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return method(*args, **kwargs)

    quiet._sklik_quiet = True
    return quiet


def _check_sample(values: Any, sample_weight: Any, owner: str) -> None:
    """Check the samples and weights of ``init_raw`` and ``fit_scale`` (else ValueError).

    At least one sample; one weight per sample, finite, non-negative, with a positive sum.
    Negative weights gave a scale of 1.8e308, all-zero weights a ZeroDivisionError, 1e-12 or
    a constant at random, by method.
    """
    shape = np.shape(values)
    if len(shape) == 0 or shape[0] == 0:
        raise ValueError(f"{owner} needs at least one sample; got an array of shape {shape}.")
    if sample_weight is None:
        return
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (shape[0],):
        raise ValueError(
            f"{owner}: sample_weight has shape {w.shape}; expected ({shape[0]},), one weight "
            f"per sample."
        )
    if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        raise ValueError(f"{owner}: sample_weight must be finite and >= 0.")
    if not w.max() > 0:
        raise ValueError(f"{owner}: sample_weight must have a positive sum (not all 0).")


def _checked_sample(method):
    """``method(self, values, sample_weight=None, ...)`` after :func:`_check_sample`."""

    @functools.wraps(method)
    def checked(self, values, sample_weight=None, *args, **kwargs):
        _check_sample(values, sample_weight, f"{type(self).__name__}.{method.__name__}")
        return method(self, values, sample_weight, *args, **kwargs)

    return checked


def _quiet_methods(cls: type) -> None:
    for name in _QUIET_METHODS.intersection(vars(cls)):
        method = vars(cls)[name]
        if callable(method) and not getattr(method, "_sklik_quiet", False):
            if name in ("init_raw", "fit_scale"):
                method = _checked_sample(method)
            setattr(cls, name, _quiet(method))


# fit_scale: the scale of a perfect fit (every positively weighted residual 0) is
# _PERFECT_FIT_SCALE times the caller's y_scale; every scale is kept in [_SCALE_MIN, float max],
# so that log-densities and 1 / scale stay finite.
_PERFECT_FIT_SCALE = 1e-12
_SCALE_MIN = 1e-300
# MSELoss.fit_scale sums the squared residuals directly when their mean is at least this: a
# square that underflowed (below 1e-308) then changes it by less than n * 1e-208, relatively
_DIRECT_MIN_MEAN_SQUARE = 1e-100
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _l1_kinks(threshold: float, y: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Rows at l1's kink for a Huber-type loss whose ``threshold`` makes it l1 to 1e-6.

    Where the threshold is below 1e-6 of the largest residual, the loss is the absolute
    error (times the threshold) to the solvers' tolerance, and its optimum interpolates rows:
    those whose residual is within 1e-6 of the largest. Else none.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.abs(np.asarray(y, dtype=np.float64) - raw[0])
    top = float(np.max(r, initial=0.0))
    if not threshold < 1e-6 * top:
        return np.zeros(r.shape, dtype=bool)
    return r <= 1e-6 * top


def _clamp_scale(sigma: float) -> float:
    return min(max(sigma, _SCALE_MIN), _FLOAT_MAX)


# ---------------------------------------------------------------------------------------------
# base class


class BaseLoss(BaseEstimator):
    """Base class of sklik's losses.

    Subclasses define the elementwise loss in ``_elementwise`` and inherit the PyTorch call
    semantics (reduction, broadcasting, gradient summation over broadcast axes) and the
    estimator interface (raw outputs, inverse link, best constant, target domain).

    Loss objects follow scikit-learn's parameter protocol: ``get_params`` / ``set_params``
    work, so an estimator's ``loss__delta`` can be tuned in ``GridSearchCV``; two losses
    compare equal when they are of the same class with the same parameters; parameters are
    validated when the loss is used, not when it is built (as in PyTorch and scikit-learn).

    Attributes
    ----------
    name : str
        Registry key of the loss (``"mse"``, ``"l1"``, ...).
    metric_name : str
        Name of its metric: ``sklik.metrics.mean_<metric_name>`` and the scorer
        ``"neg_mean_<metric_name>"`` (``"squared_error"``, ``"huber_loss"``, ...).
    n_params : int
        Number of raw model outputs per target (2 for Gaussian NLL: mean and log variance).
    param_names : tuple of str
        What each raw output is, in order.
    y_domain : tuple of float
        Closed interval ``(low, high)`` of valid targets.
    differentiable : bool
        Whether the elementwise loss is continuously differentiable in the raw outputs.
    convex : bool
        Whether the elementwise loss is convex in the raw outputs.
    needs_scale : bool
        Whether the predictive distribution has a constant scale estimated from residuals
        (True for the identity-link losses; False where the model predicts the spread).
    link_name : str
        The link of the mean head: ``"identity"``, or ``"log"`` where the raw output is the log
        of the mean (an offset ``log(exposure)`` then multiplies the mean by the exposure).
    fisher : bool
        Whether ``raw_hessian`` is the expected (Fisher) information of each raw output rather
        than the exact second derivative: a positive curvature that makes second-order
        solvers (Fisher scoring) available for a non-convex multi-parameter loss.
    smooth_curvature : bool
        Whether the curvature (``raw_hessian``) changes continuously with the raw outputs:
        then Newton's method may keep a Hessian for its next step, updated by BFGS, instead
        of forming a new one. False for the piecewise-quadratic losses (Huber, SmoothL1),
        whose curvature jumps at the threshold: there the exact Hessian of the right active
        set ends the iteration in one step.
    """

    name: ClassVar[str] = ""
    metric_name: ClassVar[str] = ""
    n_params: ClassVar[int] = 1
    param_names: ClassVar[tuple[str, ...]] = ("mean",)
    y_domain: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    differentiable: ClassVar[bool] = True
    convex: ClassVar[bool] = True
    needs_scale: ClassVar[bool] = True
    fisher: ClassVar[bool] = False
    smooth_curvature: ClassVar[bool] = True
    # whether a differentiable loss has raw outputs where it is not (GaussianNLL's variance
    # floor): there a fit's gradient need not vanish at the optimum (see kinked)
    has_kinks: ClassVar[bool] = False
    # whether a parameter is clamped at a floor (GaussianNLL's variance at eps): see floored
    has_floor: ClassVar[bool] = False
    link_name: ClassVar[str] = "identity"
    # L1, MSE, Huber and SmoothL1 warn when target.shape != input.shape and accept the
    # deprecated alias reduction="elementwise_mean"; Poisson and Gaussian do neither.
    _torch_legacy_checks: ClassVar[bool] = True

    reduction: str

    def kinked(self, y: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Where ``raw`` sits on (or next to) a kink of the loss, per sample and target.

        At a kink the loss is not differentiable in the raw outputs, and a gradient method
        may stop at the optimum with a gradient that does not vanish (see ``has_kinks``).
        """
        return np.zeros(np.shape(y), dtype=bool)

    def floored(self, raw: np.ndarray) -> np.ndarray:
        """Where a parameter of the loss is held at a floor, per sample and target.

        Where a floor holds, the loss is flat in that parameter (see ``has_floor``): a fit
        that ends there has no likelihood information on it, and the estimators warn with
        :meth:`floor_advice`.
        """
        return np.zeros(np.shape(raw)[1:], dtype=bool)

    def floor_advice(self, y_spread: float) -> str:
        """What the floor is and how to keep a fit off it, for a target of spread ``y_spread``."""
        return ""

    def vanishing(self, y: np.ndarray, raw: np.ndarray, mean_floor: float) -> np.ndarray:
        r"""Rows with :math:`y = 0` whose mean a log link has driven below ``mean_floor``.

        Under a log link a fitted mean numerically 0 at :math:`y = 0` is the mark of
        (quasi-)complete separation: the likelihood rises as the mean goes to 0, so the
        maximum likelihood estimate does not exist and the coefficients diverge, stopping
        where float64 does (R's ``glm.fit``: "fitted rates numerically 0 occurred"). False
        everywhere for other links.
        """
        if self.link_name != "log" or not mean_floor > 0:
            return np.zeros(np.shape(y), dtype=bool)
        return (y == 0) & (raw[0] < math.log(mean_floor))

    @property
    def constant_params(self) -> tuple[int, ...]:
        """Indices of the raw parameters that depend on the intercept only.

        A parameter ``j`` listed here is constant across samples: the models fix the weights
        of its output columns (``j * n_targets + k``, see :mod:`sklik._objective`) to zero
        and keep only the intercept, so the column is one free number per target. Such a
        model needs an intercept. Default: ``()``, every parameter is a function of ``X``.
        """
        return ()

    # -- parameters ----------------------------------------------------------------------------

    def check_params(self) -> None:
        """Validate the loss's parameters.

        Raises
        ------
        ValueError
            If a parameter is invalid; the message names the parameter and the valid values.
        """
        self._reduction()

    def _reduction(self) -> str:
        reduction = self.reduction
        if reduction == "elementwise_mean" and self._torch_legacy_checks:
            warnings.warn(
                "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
                UserWarning,
                stacklevel=4,
            )
            return "mean"
        if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
            raise ValueError(
                f"{reduction!r} is not a valid value for reduction of {type(self).__name__}; "
                f"use one of 'none', 'mean' or 'sum'."
            )
        return reduction

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.get_params() == other.get_params()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_params().items()))))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # every loss's numerical methods are quiet (see _quiet), including new subclasses'
        super().__init_subclass__(**kwargs)
        _quiet_methods(cls)

    # -- the elementwise kernel (subclasses) ----------------------------------------------------

    def _elementwise(
        self, x: np.ndarray, t: np.ndarray, grad: bool | Literal["sum"]
    ) -> tuple[np.ndarray | float, np.ndarray | None]:
        """Elementwise loss of input ``x`` against target ``t`` and, if ``grad``, d loss/d x.

        ``x`` and ``t`` are float64 arrays that broadcast; the results have the broadcast shape
        and are new arrays (``x`` and ``t`` may be the caller's and are never written to).

        ``grad`` is False (loss only; the gradient is None), True (loss and gradient) or
        ``"sum"``: as True, but the first result may instead be the *sum* of the elementwise
        loss, which ``value_and_grad`` asks for when it reduces the loss anyway; kernels with a
        cheaper sum than building the loss array (a BLAS dot) return the sum as a float.
        """
        raise NotImplementedError

    # -- the PyTorch interface ------------------------------------------------------------------

    def _prepare(self, input: Any, target: Any) -> tuple[np.ndarray, np.ndarray, str]:
        self.check_params()
        reduction = self._reduction()
        x = _as_float_array(input, "input")
        t = _as_float_array(target, "target")
        if self._torch_legacy_checks and x.shape != t.shape:
            warnings.warn(
                f"Using a target shape {t.shape} that is different to the input shape "
                f"{x.shape}. This will likely lead to incorrect results due to broadcasting. "
                f"Please ensure they have the same shape.",
                UserWarning,
                stacklevel=3,
            )
        _broadcast_shape(x.shape, t.shape, "target")
        return x, t, reduction

    @staticmethod
    def _reduce(loss: np.ndarray, reduction: str) -> float | np.ndarray:
        if reduction == "none":
            return loss
        total = float(loss.sum())
        if reduction == "sum":
            return total
        return total / loss.size if loss.size else math.nan

    @staticmethod
    def _grad_scale(loss_size: int, reduction: str) -> float:
        return 1.0 / loss_size if reduction == "mean" and loss_size else 1.0

    def __call__(self, input: Any, target: Any) -> float | np.ndarray:
        """Compute the loss as ``torch.nn.<Loss>(...)(input, target)`` does.

        Parameters
        ----------
        input : array-like
            Predictions.
        target : array-like
            Targets; must broadcast with ``input``.

        Returns
        -------
        float or ndarray
            The reduced loss (a float for ``"mean"``/``"sum"``), or the elementwise loss of the
            broadcast shape for ``"none"``.
        """
        x, t, reduction = self._prepare(input, target)
        loss, _ = self._elementwise(x, t, grad=False)
        return self._reduce(loss, reduction)

    def value_and_grad(self, input: Any, target: Any) -> tuple[float | np.ndarray, np.ndarray]:
        """Loss and its gradient with respect to ``input``.

        Parameters
        ----------
        input : array-like
            Predictions.
        target : array-like
            Targets; must broadcast with ``input``.

        Returns
        -------
        value : float or ndarray
            As returned by ``__call__``.
        grad_input : ndarray of the shape of ``input``
            Gradient of the reduced value (of the sum of the elementwise loss for ``"none"``),
            summed over broadcast axes, equal to ``input.grad`` after ``backward()`` in torch.
        """
        x, t, reduction = self._prepare(input, target)
        size = x.size if x.shape == t.shape else math.prod(np.broadcast_shapes(x.shape, t.shape))
        norm = self._grad_scale(size, reduction)
        if reduction == "none":
            value, g = self._elementwise_normed(x, t, True, norm)
        elif x.shape == t.shape and x.size > 4 * _BLOCK:
            value, g = self._blocked_sum_and_grad(x, t, norm)
            if reduction == "mean":
                value = value / g.size
        else:
            # the kernel may return the sum of the elementwise loss, or the loss itself
            total, g = self._elementwise_normed(x, t, "sum", norm)
            value = float(np.sum(total))
            if reduction == "mean":
                value = value / g.size if g.size else math.nan
        return value, _sum_to_shape(g, x.shape)

    def _elementwise_normed(
        self, x: np.ndarray, t: np.ndarray, grad: bool | Literal["sum"], norm: float
    ) -> tuple[np.ndarray | float, np.ndarray]:
        """``_elementwise`` with the gradient multiplied by ``norm`` (1/N for ``"mean"``).

        Losses override it where torch applies ``norm`` inside the gradient formula (before a
        division or a subtraction), so that overflow, underflow and rounding follow torch's.
        """
        loss, g = self._elementwise(x, t, grad=grad)
        if norm != 1.0:
            g *= norm  # g is the kernel's new array
        return loss, g

    def _blocked_sum_and_grad(
        self, x: np.ndarray, t: np.ndarray, norm: float = 1.0
    ) -> tuple[float, np.ndarray]:
        """Sum of the loss and its gradient (times ``norm``), computed in cache-sized blocks.

        Every kernel makes several passes over its arrays; on blocks that fit in the CPU cache
        those passes cost a fraction of passes over main memory (a third faster for Huber on
        10^6 elements). Same-shape inputs only; the gradient is the kernel's, bit for bit.
        """
        xf, tf = x.reshape(-1), t.reshape(-1)
        g = np.empty(xf.shape)
        total = 0.0
        for start in range(0, xf.size, _BLOCK):
            block = slice(start, start + _BLOCK)
            part, g[block] = self._elementwise_normed(xf[block], tf[block], "sum", norm)
            total += float(np.sum(part))
        return total, g.reshape(x.shape)

    # -- the estimator interface ----------------------------------------------------------------

    def raw_loss_gradient(self, y: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Elementwise loss and its gradient with respect to the raw model outputs.

        Parameters
        ----------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        raw : ndarray of shape ``(n_params, *y.shape)``
            Raw model outputs in link space, one array per distribution parameter.

        Returns
        -------
        loss : ndarray of shape y.shape
            The torch elementwise loss (``reduction="none"``) of each target.
        grad : ndarray of shape raw.shape
            d loss / d raw, elementwise.
        """
        loss, g = self._elementwise(raw[0], y, grad=True)
        return loss, g[np.newaxis]

    def raw_loss(self, y: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Elementwise loss of raw model outputs ``raw`` (shape ``(n_params, *y.shape)``)."""
        return self._elementwise(raw[0], y, grad=False)[0]

    @property
    def has_curvature(self) -> bool:
        """Whether ``raw_hessian`` gives a usable positive curvature for Newton-type solvers.

        True for the convex, smooth one-parameter losses (the exact Hessian) and for the
        losses with a Fisher information (``fisher``).
        """
        return self.differentiable and ((self.n_params == 1 and self.convex) or self.fisher)

    @property
    def second_order(self) -> bool:
        """Whether Newton-type solvers can use this loss's second derivatives.

        True where :attr:`has_curvature` holds (``raw_hessian``: a positive curvature per raw
        output) and for the differentiable losses with exact per-sample Hessian blocks
        (``raw_hessian_blocks``, e.g. the negative binomial: exact Newton, whose steps a line
        search guards where the Hessian is not positive definite).
        """
        return self.has_curvature or (self.differentiable and hasattr(self, "raw_hessian_blocks"))

    def raw_hessian(self, y: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Second derivative of the elementwise loss in the raw output (one-parameter losses).

        Used by Newton-type solvers. Where the loss has a kink the one-sided value of the
        smooth piece is returned (a generalised Hessian).

        Parameters
        ----------
        y : ndarray
            Targets.
        raw : ndarray of shape ``(1, *y.shape)``
            Raw model outputs.

        Returns
        -------
        ndarray of shape raw.shape
            d^2 loss / d raw^2, elementwise.
        """
        raise NotImplementedError(f"{type(self).__name__} provides no Hessian.")

    def inverse_link(self, raw: np.ndarray) -> np.ndarray:
        """Predicted mean on the response scale from raw outputs ``(n_params, *y.shape)``."""
        return raw[0]

    def link(self, y_pred: np.ndarray) -> np.ndarray:
        """Raw output of a response-scale prediction: the inverse of ``inverse_link``.

        Parameters
        ----------
        y_pred : ndarray
            Predicted means (rates for Poisson).

        Returns
        -------
        ndarray of shape ``(1, *y_pred.shape)``
        """
        return np.asarray(y_pred, dtype=np.float64)[np.newaxis]

    def predictive_distribution(self, raw: np.ndarray, scale: Any = None) -> Any:
        r"""The distribution whose negative log-density is this loss, as a frozen scipy one.

        Parameters
        ----------
        raw : ndarray of shape ``(n_params, *shape)``
            Raw model outputs.
        scale : float or ndarray, default=None
            The scale :math:`\sigma` of the residual density
            :math:`e^{-\ell(r/\sigma)} / (\sigma Z)` for the losses with a constant scale
            (``needs_scale``); ignored by the losses that model their spread.

        Returns
        -------
        scipy.stats frozen distribution
            Vectorised over ``raw``'s trailing shape.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no predictive distribution.")

    def in_units(self, scale: float) -> tuple[BaseLoss, float] | None:
        r"""The loss of residuals measured in units of ``scale``, and its degree.

        For the losses of a residual in y's units: ``(loss_s, d)`` with
        :math:`\ell(s\,r) = s^d\,\ell_s(r)` (the loss's parameters in y's units divided by
        :math:`s`), so that a fit of :math:`y / s` minimises the same objective divided by
        :math:`s^d`. None for the other losses (the default).
        """
        return None

    def fit_scale(
        self,
        residuals: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        y_scale: float = 1.0,
    ) -> float:
        r"""Weighted maximum-likelihood scale of the residual density (constant-scale losses).

        The density is :math:`p(r \mid \sigma) = e^{-\ell(r/\sigma)} / (\sigma Z)` with
        :math:`\ell` the elementwise loss of the residual. The estimate solves the stationarity
        condition :math:`\sum_i c_i u_i \ell'(u_i) = 1`, :math:`u_i = r_i / \sigma`,
        :math:`c_i = s_i / \sum s`, whose left side decreases in :math:`\sigma`; losses with a
        closed form override it.

        The problem is solved on the residuals divided by their largest magnitude
        :math:`m` (:math:`\rho_i = r_i / m`, :math:`\tau = \sigma / m`), so that no square
        overflows or underflows, and the result is multiplied back. The root in
        :math:`\log\tau` is bracketed between :math:`\sqrt{\sum c \rho^2}` (where the left
        side is at most 1) and a downward search of at most 12 doubling steps, then found by
        Brent's method: the number of iterations is bounded whatever the data.

        Edge cases: if every positively weighted residual is 0 (a perfect fit) the scale is
        ``1e-12 * y_scale``; any scale is kept in ``[1e-300, float max]``, so that
        log-densities stay finite.

        Parameters
        ----------
        residuals : ndarray of shape (n_samples,)
            ``y - prediction``; must be finite.
        sample_weight : ndarray of shape (n_samples,), default=None
            Non-negative weights.
        y_scale : float, default=1.0
            A typical magnitude of the targets (finite, >= 0); it sets the scale of a perfect
            fit, ``1e-12 * y_scale`` (at least 1e-300).

        Returns
        -------
        float
            A finite positive scale.

        Raises
        ------
        ValueError
            If a residual or ``y_scale`` is not finite, or ``y_scale`` is negative.
        """
        rho, c, m = self._scaled_residuals(residuals, sample_weight, y_scale)
        if rho is None:
            return m

        def excess(log_tau: float) -> float:
            u = rho / math.exp(log_tau)
            value = float(c @ (u * self._elementwise(u, 0.0, grad=True)[1]))
            return min(value, 1e300) - 1.0  # an overflowing sum is far above 1

        # the left side is at most sum(c rho^2) / tau^2 (u l'(u) <= u^2 for these losses)
        hi = 0.5 * math.log(float(c @ (rho * rho)))
        floor = math.log(max(_SCALE_MIN / m, np.finfo(np.float64).tiny))
        if excess(hi) >= 0.0:
            return _clamp_scale(m * math.exp(hi))
        lo, step = hi, 1.0
        for _ in range(12):  # hi - lo reaches 4095 > the float range of log(tau)
            lo = max(hi - step, floor)
            if excess(lo) >= 0.0 or lo == floor:
                break
            hi, step = lo, 2.0 * step
        if excess(lo) < 0.0:  # the root lies below the smallest scale kept
            return _SCALE_MIN
        return _clamp_scale(m * math.exp(brentq(excess, lo, hi, xtol=1e-13, maxiter=200)))

    @staticmethod
    def _nonzero_residuals(residuals, sample_weight):
        """Residuals with positive weight, and their weights normalised to sum 1 over all."""
        r = np.asarray(residuals, dtype=np.float64)
        c = np.ones(r.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
        c = c / c.max(initial=0.0)  # first by the largest, so that the sum cannot overflow
        c /= c.sum()
        keep = (c > 0) & (r != 0)
        return r[keep], c[keep]

    @staticmethod
    def _check_y_scale(y_scale: Any) -> float:
        y_scale = float(y_scale)
        if not (math.isfinite(y_scale) and y_scale >= 0):
            raise ValueError(f"y_scale must be finite and >= 0; got y_scale={y_scale!r}.")
        return y_scale

    @classmethod
    def _scaled_residuals(cls, residuals, sample_weight, y_scale):
        """Nonzero residuals over their largest magnitude ``m``, their weights, and ``m``.

        Returns ``(rho, c, m)``, or ``(None, None, scale)`` for a perfect fit, ``scale`` being
        the documented perfect-fit scale.
        """
        y_scale = cls._check_y_scale(y_scale)
        r, c = cls._nonzero_residuals(residuals, sample_weight)
        if not np.all(np.isfinite(r)):
            raise ValueError(
                "The residuals are not finite (the predictions or the targets overflow); "
                "rescale y or standardise X."
            )
        if r.size == 0:
            return None, None, _clamp_scale(_PERFECT_FIT_SCALE * y_scale)
        m = float(np.abs(r).max())
        return r / m, c, m

    def _scale(self, scale: Any) -> np.ndarray:
        if scale is None:
            raise ValueError(
                f"{type(self).__name__} needs the scale of its residual density; pass the "
                f"fitted scale (an estimator's scale_)."
            )
        return np.asarray(scale, dtype=np.float64)

    def init_raw(self, y: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """Constant raw prediction minimising the weighted mean loss.

        The default solves ``sum_i w_i * d loss(y_i, c) / d c = 0`` by Brent's method on
        ``[min(y), max(y)]`` (in units of ``max|y|``, to ``1e-14 max|y|``), which is exact for
        any convex one-parameter loss; subclasses with a closed form override it.

        Parameters
        ----------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : ndarray of shape (n_samples,), default=None
            Non-negative weights; None means equal weights.

        Returns
        -------
        ndarray of shape ``(n_params, *y.shape[1:])``
            The optimal constant raw output for each parameter and target.
        """
        y = np.asarray(y, dtype=np.float64)
        w = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
        cols = y.reshape(y.shape[0], -1)
        out = np.empty(cols.shape[1])
        for j, col in enumerate(cols.T):
            lo, hi = float(col.min()), float(col.max())
            if lo == hi:
                out[j] = lo
                continue
            # search s = c / m in [lo / m, hi / m], m = max|y|: hi - lo may overflow in y's units
            m = max(abs(lo), abs(hi))

            def wgrad(
                s: float, col: np.ndarray = col, m: float = m, lo: float = lo, hi: float = hi
            ) -> float:
                c = min(max(s * m, lo), hi)  # s * m may round out of [lo, hi]
                return float(w @ self._elementwise(np.full_like(col, c), col, grad=True)[1])

            s = brentq(wgrad, lo / m, hi / m, xtol=1e-14, maxiter=500)
            out[j] = min(max(s * m, lo), hi)
        return out.reshape((1, *y.shape[1:]))

    def check_y(self, y: np.ndarray) -> None:
        """Raise a ValueError if a target lies outside ``y_domain``.

        Parameters
        ----------
        y : ndarray
            Targets.
        """
        low, high = self.y_domain
        y = np.asarray(y)
        if y.size and (y.min() < low or y.max() > high):
            raise ValueError(
                f"{type(self).__name__} requires targets in [{low}, {high}]; got values from "
                f"{y.min():.6g} to {y.max():.6g}. Use a loss whose domain contains the targets "
                f"(e.g. 'mse'), or transform y."
            )


_quiet_methods(BaseLoss)


# ---------------------------------------------------------------------------------------------
# the six losses


class L1Loss(BaseLoss):
    r"""Mean absolute error: the negative log-likelihood of a Laplace distribution.

    .. math:: \ell(x, t) = |x - t|

    - Domain: ``t`` real, ``x`` real. Link: identity (``raw`` is the prediction).
    - Likelihood: Laplace with location ``x`` and unit scale, up to the constant ``log 2``.
      The best constant prediction is the (weighted) median.
    - Gradient: ``sign(x - t)``, which is 0 at ``x == t`` and at a NaN difference (as in torch).
    - PyTorch: ``torch.nn.L1Loss(reduction=reduction)``.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides the sum by the number of elements after broadcasting.

    Examples
    --------
    >>> from sklik.losses import L1Loss
    >>> L1Loss()([1.0, 2.0, 4.0], [1.5, 2.0, 2.0])
    0.8333333333333334
    """

    smooth_curvature = False

    name = "l1"
    metric_name = "absolute_error"
    differentiable = False

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def _elementwise(self, x, t, grad):
        d = _subtract(x, t)
        if not grad:
            return np.abs(d, out=d), None
        g = np.sign(d, out=np.empty_like(d))
        if grad == "sum":
            # sign(d) * d == |d| exactly, so the sum needs no |d| array; it is NaN exactly when
            # some d is NaN, and only then is the (slow, masked) NaN fix of g needed
            total = _dot(g, d)
            if math.isnan(total):
                g[np.isnan(d)] = 0.0
            return total, g
        g[np.isnan(d)] = 0.0
        return np.abs(d, out=d), g

    def init_raw(self, y, sample_weight=None):  # noqa: D102 (documented on BaseLoss)
        return _weighted_median(np.asarray(y, float), sample_weight)[np.newaxis]

    def fit_scale(self, residuals, sample_weight=None, *, y_scale=1.0):  # noqa: D102
        # the Laplace scale: sum c |u| = 1 at u = r / sigma, so sigma = sum c |r|
        rho, c, m = self._scaled_residuals(residuals, sample_weight, y_scale)
        return m if rho is None else _clamp_scale(m * float(c @ np.abs(rho)))

    def predictive_distribution(self, raw, scale=None):  # noqa: D102
        return laplace(loc=raw[0], scale=self._scale(scale))

    def in_units(self, scale):  # noqa: D102
        return self, 1.0


class MSELoss(BaseLoss):
    r"""Mean squared error: the negative log-likelihood of a Gaussian with fixed variance.

    .. math:: \ell(x, t) = (x - t)^2

    - Domain: ``t`` real, ``x`` real. Link: identity.
    - Likelihood: Normal with mean ``x`` and variance 1/2, up to a constant. Note that this is
      twice scikit-learn's ``HalfSquaredError``. The best constant is the weighted mean.
    - Gradient: ``2 (x - t)``.
    - PyTorch: ``torch.nn.MSELoss(reduction=reduction)``.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides the sum by the number of elements after broadcasting.

    Examples
    --------
    >>> from sklik.losses import MSELoss
    >>> MSELoss()([1.0, 2.0, 4.0], [1.5, 2.0, 2.0])
    1.4166666666666667
    """

    name = "mse"
    metric_name = "squared_error"

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def _elementwise(self, x, t, grad):
        d = _subtract(x, t)
        if grad == "sum":
            total = _dot(d, d)
            d *= 2.0
            return total, d
        if not grad:
            return np.square(d, out=d), None
        loss = np.square(d, out=np.empty_like(d))
        d *= 2.0
        return loss, d

    def _elementwise_normed(self, x, t, grad, norm):
        # torch's kernel computes the gradient as (norm * d) * grad with norm = 2 / N for
        # "mean": 2 / N in one multiplication, so that 2 d cannot overflow on its own
        d = _subtract(x, t)
        if grad == "sum":
            total = _dot(d, d)
        else:
            total = np.square(d, out=np.empty_like(d))
        d *= 2.0 * norm  # == 2 / N exactly: doubling is exact
        return total, d

    def init_raw(self, y, sample_weight=None):  # noqa: D102
        # the weighted mean, on y / max|y| so that the sum cannot overflow
        mean, m = _scaled_mean(np.asarray(y, float), sample_weight)
        return (mean * m)[np.newaxis]

    def raw_hessian(self, y, raw):  # noqa: D102
        return np.full(np.broadcast_shapes(raw.shape, (1, *np.shape(y))), 2.0)

    def fit_scale(self, residuals, sample_weight=None, *, y_scale=1.0):  # noqa: D102
        # sum c u^2 = 1/2 at u = r / sigma: sigma^2 = 2 sum c r^2 (sigma / sqrt(2) is the sd)
        self._check_y_scale(y_scale)
        r = np.asarray(residuals, dtype=np.float64)
        if r.ndim == 1 and r.size:  # directly, where no square overflows and none that
            # underflows matters (their sum is far above the smallest normal float); else in
            # units of the largest residual (a seventh of the time at 10^4 rows)
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                if sample_weight is None:
                    mean_square = float(r @ r) / r.size
                else:
                    w = np.asarray(sample_weight, dtype=np.float64)
                    mean_square = float(w @ (r * r)) / float(w.sum())
            if math.isfinite(mean_square) and mean_square >= _DIRECT_MIN_MEAN_SQUARE:
                return _clamp_scale(math.sqrt(2.0 * mean_square))
        rho, c, m = self._scaled_residuals(residuals, sample_weight, y_scale)
        return m if rho is None else _clamp_scale(m * math.sqrt(2.0 * float(c @ (rho * rho))))

    def predictive_distribution(self, raw, scale=None):  # noqa: D102
        # exp(-(r / sigma)^2) is a normal density with standard deviation sigma / sqrt(2)
        return stats.norm(loc=raw[0], scale=self._scale(scale) / math.sqrt(2.0))

    def in_units(self, scale):  # noqa: D102
        return self, 2.0


class HuberLoss(BaseLoss):
    r"""Huber loss: Gaussian core, Laplace tails.

    .. math::

        \ell(x, t) = \begin{cases} \tfrac12 z^2 & z < \delta \\
                     \delta\,(z - \tfrac12 \delta) & z \ge \delta \end{cases},
        \qquad z = |x - t|

    - Domain: ``t`` real, ``x`` real. Link: identity.
    - Likelihood: the density proportional to :math:`e^{-\ell}`, quadratic within ``delta`` of
      the mean and exponential beyond. ``delta`` is in the units of ``y`` (unlike
      scikit-learn's ``HuberRegressor``, which also estimates a scale).
    - Gradient: ``clip(x - t, -delta, delta)``. Relation: ``huber_delta = delta *
      smooth_l1_{beta=delta}``.
    - PyTorch: ``torch.nn.HuberLoss(reduction=reduction, delta=delta)``.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides the sum by the number of elements after broadcasting.
    delta : float, default=1.0
        Where the loss turns from quadratic to linear; must be > 0.

    Examples
    --------
    >>> from sklik.losses import HuberLoss
    >>> HuberLoss(delta=0.5)([0.0, 0.0], [0.2, 3.0])
    0.6975
    """

    smooth_curvature = False

    name = "huber"
    metric_name = "huber_loss"

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        self.reduction = reduction
        self.delta = delta

    has_kinks = True  # l1's, where delta is below the residuals' rounding

    def kinked(self, y, raw):
        """Next to l1 (``delta`` below 1e-6 of the largest residual): the rows at its kink."""
        return _l1_kinks(float(self.delta), y, raw)

    def check_params(self) -> None:  # noqa: D102
        super().check_params()
        if not _check_real(self.delta, "delta", "HuberLoss") > 0:
            raise ValueError(
                f"HuberLoss: delta must be > 0; got delta={self.delta!r}. Use a positive "
                f"threshold, e.g. delta=1.0."
            )

    def _elementwise(self, x, t, grad):
        # With c = clip(d, -delta, delta) (the gradient), the loss is c * (d - c / 2): the same
        # floating-point operations as (z - q / 2) * q with z = |d|, q = min(z, delta).
        delta = float(self.delta)
        d = _subtract(x, t)
        c = np.clip(d, -delta, delta, out=np.empty_like(d))
        if grad == "sum" and delta >= _FAST_SUM_MIN_KINK:
            # sum(c * d) >= sum(c * c): no cancellation. Where this form could differ from
            # torch's elementwise sum (an overflowing or subnormal sum, a NaN) the loss array
            # is built instead.
            cd = _dot(c, d)
            if _FAST_SUM_LOW < cd < math.inf:
                return cd - 0.5 * _dot(c, c), c
        loss = np.multiply(c, -0.5, out=np.empty_like(d))
        loss += d
        loss *= c
        return loss, (c if grad else None)

    def raw_hessian(self, y, raw):  # noqa: D102
        return (np.abs(raw - y) < float(self.delta)).astype(np.float64)

    def predictive_distribution(self, raw, scale=None):  # noqa: D102
        return huber(float(self.delta), loc=raw[0], scale=self._scale(scale))

    def in_units(self, scale):  # noqa: D102
        # 1/2 (s r)^2 = s^2 1/2 r^2, delta (s|r| - delta/2) = s^2 (delta/s) (|r| - delta/(2s))
        return clone(self).set_params(delta=float(self.delta) / scale), 2.0


class SmoothL1Loss(BaseLoss):
    r"""Smooth L1 loss: Gaussian core, Laplace tails, slope 1.

    .. math::

        \ell(x, t) = \begin{cases} \tfrac12 z^2 / \beta & z < \beta \\
                     z - \tfrac12 \beta & z \ge \beta \end{cases},
        \qquad z = |x - t|

    - Domain: ``t`` real, ``x`` real. Link: identity.
    - Likelihood: the density proportional to :math:`e^{-\ell}`. With ``beta=0`` the loss is
      exactly :class:`L1Loss` (Laplace), as in torch.
    - Gradient: ``clip((x - t) / beta, -1, 1)``; ``sign(x - t)`` for ``beta=0``.
    - PyTorch: ``torch.nn.SmoothL1Loss(reduction=reduction, beta=beta)``.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides the sum by the number of elements after broadcasting.
    beta : float, default=1.0
        Where the loss turns from quadratic to linear; must be >= 0.

    Examples
    --------
    >>> from sklik.losses import SmoothL1Loss
    >>> SmoothL1Loss(beta=0.5)([0.0, 0.0], [0.2, 3.0])
    1.395
    """

    smooth_curvature = False

    name = "smooth_l1"
    metric_name = "smooth_l1_loss"

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        self.reduction = reduction
        self.beta = beta

    @property
    def differentiable(self) -> bool:  # type: ignore[override]
        """Whether the loss is smooth: False for ``beta == 0`` (then it is L1)."""
        return self.beta != 0

    has_kinks = True  # l1's, where beta is below the residuals' rounding

    def kinked(self, y, raw):
        """Next to l1 (``beta`` below 1e-6 of the largest residual): the rows at its kink."""
        return _l1_kinks(float(self.beta), y, raw)

    def check_params(self) -> None:  # noqa: D102
        super().check_params()
        if not _check_real(self.beta, "beta", "SmoothL1Loss") >= 0:
            raise ValueError(
                f"SmoothL1Loss: beta must be >= 0; got beta={self.beta!r}. Use beta=0 for L1 "
                f"or a positive threshold."
            )

    def _elementwise(self, x, t, grad):
        beta = float(self.beta)
        if beta == 0.0:
            return L1Loss._elementwise(self, x, t, grad)
        # torch's kernel: 0.5 * z * z / beta where z = |d| < beta, else z - 0.5 * beta (the
        # operations in this order, so that overflow and underflow happen where torch's do).
        # The gradient u = clip(d, -beta, beta) / beta is exactly clip(d / beta, -1, 1).
        d = _subtract(x, t)
        c = np.clip(d, -beta, beta, out=np.empty_like(d))
        if grad == "sum" and beta >= _FAST_SUM_MIN_KINK:
            # As for Huber with delta = beta, divided by beta, on sums (two BLAS dots).
            cd = _dot(c, d)
            if _FAST_SUM_LOW < cd < math.inf:
                loss = (cd - 0.5 * _dot(c, c)) / beta
                if beta != 1.0:
                    c /= beta
                return loss, c
        if _FAST_SUM_MIN_KINK <= beta <= _FAST_MAX_BETA:
            # u * (d - c / 2): torch's z - beta / 2 exactly where u = +-1; where |d| < beta,
            # (d / beta) * (d / 2) against torch's (d * d / 2) / beta, the same to rounding, as
            # d * d cannot overflow (|d| < beta <= 1e100) and beta >= 1e-100 keeps d / beta
            # from underflowing where d * d does not
            loss = np.multiply(c, -0.5, out=np.empty_like(d))
            loss += d
            if beta != 1.0:
                c /= beta
            loss *= c
            return loss, (c if grad else None)
        quad = np.multiply(c, 0.5, out=np.empty_like(d))
        quad *= c
        quad /= beta
        z = np.abs(d, out=d)
        linear = z >= beta  # False at NaN, which stays NaN in the quadratic piece
        np.subtract(z, 0.5 * beta, out=quad, where=linear)
        if not grad:
            return quad, None
        c /= beta
        return quad, c

    def raw_hessian(self, y, raw):  # noqa: D102
        beta = float(self.beta)
        if beta == 0.0:
            raise NotImplementedError("SmoothL1Loss(beta=0) is L1 and has no Hessian.")
        return (np.abs(raw - y) < beta) / beta

    def predictive_distribution(self, raw, scale=None):  # noqa: D102
        beta = float(self.beta)
        if beta == 0.0:
            return laplace(loc=raw[0], scale=self._scale(scale))
        # exp(-smooth_l1_beta(u)) = exp(-huber_{sqrt(beta)}(u / sqrt(beta)))
        root = math.sqrt(beta)
        return huber(root, loc=raw[0], scale=self._scale(scale) * root)

    def in_units(self, scale):  # noqa: D102
        # (s r)^2 / (2 beta) = s r^2 / (2 beta/s), s|r| - beta/2 = s (|r| - (beta/s)/2)
        return clone(self).set_params(beta=float(self.beta) / scale), 1.0


class PoissonNLLLoss(BaseLoss):
    r"""Poisson negative log-likelihood with a log link.

    With ``log_input=True`` the input is the log rate :math:`x = \log\lambda`:

    .. math:: \ell(x, t) = e^{x} - t\,x

    With ``log_input=False`` the input is the rate :math:`\lambda`:
    :math:`\ell(\lambda, t) = \lambda - t \log(\lambda + \varepsilon)`. With ``full=True`` the
    Stirling term :math:`t \log t - t + \tfrac12 \log(2\pi t)` is added where ``t > 1`` (only
    there, as in torch), approximating :math:`\log t!`.

    - Domain: ``t >= 0``. Link: log; in the estimators the model always outputs the log rate
      and ``predict`` returns :math:`e^{raw}`.
    - Likelihood: Poisson with rate :math:`\lambda`, up to :math:`\log t!` (``full=False``).
    - Gradient: :math:`e^x - t` (log input); :math:`1 - t / (\lambda + \varepsilon)` (rate).
    - PyTorch: ``torch.nn.PoissonNLLLoss(log_input, full, eps=eps, reduction=reduction)``.

    Parameters
    ----------
    log_input : bool, default=True
        Whether the loss's input is the log rate (True) or the rate (False).
    full : bool, default=False
        Add the Stirling approximation of :math:`\log t!` for targets > 1.
    eps : float, default=1e-8
        Added to the rate inside the log when ``log_input=False``; must be >= 0.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides the sum by the number of elements after broadcasting.

    Examples
    --------
    >>> from sklik.losses import PoissonNLLLoss
    >>> round(PoissonNLLLoss()([0.0, 1.0], [1.0, 2.0]), 10)
    0.8591409142
    """

    name = "poisson_nll"
    metric_name = "poisson_nll"
    param_names = ("log_rate",)
    needs_scale = False
    link_name = "log"
    y_domain = (0.0, math.inf)
    _torch_legacy_checks = False

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        eps: float = 1e-8,
        reduction: str = "mean",
    ) -> None:
        self.log_input = log_input
        self.full = full
        self.eps = eps
        self.reduction = reduction

    def check_params(self) -> None:  # noqa: D102
        super().check_params()
        if not _check_real(self.eps, "eps", "PoissonNLLLoss") >= 0:
            raise ValueError(f"PoissonNLLLoss: eps must be >= 0; got eps={self.eps!r}.")
        _check_bool(self.log_input, "log_input", "PoissonNLLLoss")
        _check_bool(self.full, "full", "PoissonNLLLoss")

    def _elementwise(self, x, t, grad):
        return self._elementwise_normed(x, t, grad, 1.0)

    def _elementwise_normed(self, x, t, grad, norm):
        # the gradients as torch's autograd forms them, with norm = 1/N for "mean":
        # norm * exp(x) + (-norm) * t, and norm + ((-norm) * t) / (x + eps)
        shape = x.shape if x.shape == t.shape else np.broadcast_shapes(x.shape, t.shape)
        g = None
        if self.log_input:
            rate = np.exp(x, out=np.empty(x.shape))
            loss = np.multiply(t, x, out=np.empty(shape))
            np.subtract(rate, loss, out=loss)  # rate - t * x
            if grad and norm == 1.0:
                g = np.subtract(rate, t, out=rate if rate.shape == shape else np.empty(shape))
            elif grad:
                rate *= norm
                g = np.multiply(t, -norm, out=np.empty(shape))
                g += rate
        else:
            xe = np.add(x, float(self.eps), out=np.empty(x.shape))
            loss = np.log(xe, out=np.empty(x.shape))
            if loss.shape != shape:
                loss = np.multiply(t, loss, out=np.empty(shape))
            else:
                loss *= t
            np.subtract(x, loss, out=loss)  # x - t * log(x + eps)
            if grad and norm == 1.0:
                g = np.divide(t, xe, out=xe if xe.shape == shape else np.empty(shape))
                np.subtract(1.0, g, out=g)  # 1 - t / (x + eps)
            elif grad:
                g = np.multiply(t, -norm, out=np.empty(shape))
                g /= xe
                g += norm
        if self.full:
            # Stirling's term where t > 1, computed everywhere and zeroed where t <= 1 (boolean
            # indexing of a scattered mask is several times slower). fmax maps t <= 1 and NaN
            # to 1, where the term is finite.
            tc = np.fmax(t, 1.0, out=np.empty(t.shape))
            s = np.log(tc, out=np.empty(t.shape))
            s *= tc
            s -= tc
            tc *= 2.0 * math.pi
            np.log(tc, out=tc)
            tc *= 0.5
            s += tc
            s *= t > 1
            loss += s
        return loss, g

    def raw_loss_gradient(self, y, raw):  # noqa: D102
        eta = raw[0]
        if self.log_input:
            loss, g = self._elementwise(eta, y, grad=True)
        else:
            rate = np.exp(np.minimum(eta, _MAX_EXP_ARG))
            loss, g = self._elementwise(rate, y, grad=True)
            g *= rate
        return loss, g[np.newaxis]

    def raw_loss(self, y, raw):  # noqa: D102
        return self.raw_loss_gradient(y, raw)[0]

    def inverse_link(self, raw):  # noqa: D102
        return np.exp(np.minimum(raw[0], _MAX_EXP_ARG))

    def link(self, y_pred):  # noqa: D102
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(y_pred, dtype=np.float64))[np.newaxis]

    def predictive_distribution(self, raw, scale=None):  # noqa: D102
        return poisson(mu=self.inverse_link(raw))

    def raw_hessian(self, y, raw):  # noqa: D102
        rate = np.exp(np.minimum(raw, _MAX_EXP_ARG))
        if self.log_input:
            return np.broadcast_to(rate, np.broadcast_shapes(rate.shape, (1, *np.shape(y)))).copy()
        # l = r - y log(r + eps), r = exp(raw): d2l/draw2 = r (1 - y/(r+eps)) + y r^2/(r+eps)^2
        re = rate + float(self.eps)
        return rate * (1.0 - y / re) + y * (rate / re) ** 2

    def init_raw(self, y, sample_weight=None):  # noqa: D102
        mean, m = _scaled_mean(np.asarray(y, float), sample_weight)
        mean = mean * m
        if not self.log_input:  # the optimum of rate - t log(rate + eps) is mean - eps
            mean = mean - float(self.eps)
        return np.log(np.maximum(mean, 1e-10))[np.newaxis]


class GaussianNLLLoss(BaseLoss):
    r"""Gaussian negative log-likelihood with a predicted variance.

    .. math::

        \ell(x, t, v) = \tfrac12 \left(\log \max(v, \varepsilon)
                        + \frac{(x - t)^2}{\max(v, \varepsilon)}\right)
                        \;[+\; \tfrac12 \log 2\pi \text{ if full}]

    - Domain: ``t`` real; ``x`` real; ``var >= 0``, clamped below at ``eps`` (a clamp, not an
      addition).
    - PyTorch call: ``loss(input, target, var)`` with var of the input's shape, of one dimension
      fewer, with one axis of size 1, or a Python float; the var gradient passes straight
      through the clamp, as in torch.
    - Estimators: two raw outputs, the mean and the log variance (:math:`v = e^{raw_1}`, so the
      variance is positive), with ``d loss / d raw_1 = 0`` where the clamp is active (the exact
      derivative of the clamped objective). With ``eps=0`` the estimators clamp at the smallest
      normal float (about 2.2e-308) instead, where :math:`e^{raw_1}` would underflow to 0.
    - Likelihood: Normal with mean ``x`` and variance ``max(v, eps)`` (exact with
      ``full=True``).
    - PyTorch: ``torch.nn.GaussianNLLLoss(full=full, eps=eps, reduction=reduction)``.

    Parameters
    ----------
    full : bool, default=False
        Add the constant :math:`\tfrac12 \log 2\pi`.
    eps : float, default=1e-6
        Lower clamp of the variance; must be >= 0.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides the sum by the number of elements after broadcasting.

    Examples
    --------
    >>> from sklik.losses import GaussianNLLLoss
    >>> GaussianNLLLoss()([0.0, 1.0], [0.5, 1.0], [1.0, 4.0])
    0.40907359027997264
    """

    name = "gaussian_nll"
    metric_name = "gaussian_nll"
    n_params = 2
    convex = False
    needs_scale = False
    param_names = ("mean", "log_var")
    fisher = True
    has_kinks = True  # the variance floor
    has_floor = True
    _torch_legacy_checks = False

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        self.full = full
        self.eps = eps
        self.reduction = reduction

    def check_params(self) -> None:  # noqa: D102
        super().check_params()
        if not _check_real(self.eps, "eps", "GaussianNLLLoss") >= 0:
            raise ValueError(f"GaussianNLLLoss: eps must be >= 0; got eps={self.eps!r}.")

    def _reduction(self) -> str:
        if self.reduction not in _REDUCTIONS:
            raise ValueError(
                f"{self.reduction!r} is not valid for reduction of GaussianNLLLoss; use one of "
                f"'none', 'mean' or 'sum'."
            )
        return self.reduction

    def _nll(self, r: np.ndarray, v: np.ndarray, grad: bool | Literal["sum"], norm: float = 1.0):
        """Loss and gradients in residual ``r`` and clamped variance ``v``.

        ``grad`` is False (loss only), True (loss, d loss/d r, d loss/d v) or ``"sum"``: as
        True but the first result is the sum of the elementwise loss. With a gradient, ``r`` is
        scratch space (the caller's new array, overwritten). ``v`` is never written to. The
        gradients are multiplied by ``norm`` (``1 / N`` for ``reduction="mean"``).

        The operations are torch's, in torch's order, so that overflow, underflow and NaN
        happen where torch's do: the loss is ``0.5 * (log(v) + (r * r) / v)``; with
        ``h = 0.5 * norm``, d/dr is ``(h / v) * (2 * r)`` and d/dv is
        ``h / v - h * (((r * r) / v) / v)`` (autograd's backward of ``pow`` and ``div``).
        """
        shape = np.broadcast_shapes(r.shape, v.shape)
        scratch = isinstance(r, np.ndarray) and r.shape == shape
        q = np.multiply(r, r, out=np.empty(shape))
        q /= v  # (r * r) / v
        a = np.log(v, out=np.empty(shape))
        a += q  # log(v) + (r * r) / v
        if grad == "sum":
            # sum(0.5 * a) == 0.5 * sum(a) exactly (halving is exact)
            loss = 0.5 * float(np.sum(a))
            if self.full:
                loss += _HALF_LOG_2PI * a.size
        else:
            loss = np.multiply(a, 0.5, out=a)
            if self.full:
                loss += _HALF_LOG_2PI
            if not grad:
                return loss, None, None
        h = 0.5 * norm
        hv = np.divide(h, v, out=a if grad == "sum" else np.empty(shape))
        gr = np.add(r, r, out=r if scratch else np.empty(shape))  # 2 r, exactly
        gr *= hv  # (h / v) * (2 r)
        q /= v
        q *= h
        np.subtract(hv, q, out=hv)  # h / v - h * ((r * r / v) / v)
        return loss, gr, hv

    def __call__(self, input: Any, target: Any, var: Any) -> float | np.ndarray:
        """Compute ``torch.nn.GaussianNLLLoss(...)(input, target, var)``.

        Parameters
        ----------
        input : array-like
            Predicted means.
        target : array-like
            Targets; broadcast silently with ``input``.
        var : array-like or float
            Predicted variances (>= 0): the input's shape, its shape without the last axis,
            that shape with one axis of size 1, or a Python float.

        Returns
        -------
        float or ndarray
            The reduced loss, or the elementwise loss for ``reduction="none"``.
        """
        x, t, v, _, reduction = self._prepare_var(input, target, var)
        loss, _, _ = self._nll(x - t, v, grad=False)
        return self._reduce(loss, reduction)

    def value_and_grad(  # type: ignore[override]
        self, input: Any, target: Any, var: Any
    ) -> tuple[float | np.ndarray, np.ndarray, np.ndarray | None]:
        """Loss and its gradients with respect to ``input`` and ``var``.

        Parameters
        ----------
        input, target, var
            As for ``__call__``.

        Returns
        -------
        value : float or ndarray
            As returned by ``__call__``.
        grad_input : ndarray of the shape of ``input``
            ``(x - t) / v`` scaled by the reduction.
        grad_var : ndarray of the shape of ``var``, or None
            ``(1/v - (x - t)^2 / v^2) / 2`` at the clamped ``v`` (straight through the clamp,
            as in torch), summed over broadcast axes; None when ``var`` is a Python float.
        """
        x, t, v, var_shape, reduction = self._prepare_var(input, target, var)
        r = _subtract(x, t)
        size = math.prod(np.broadcast_shapes(r.shape, v.shape))
        # torch divides the upstream gradient by N before the backward of the loss's
        # operations, so the 1 / N goes into _nll (it decides where h / v overflows)
        norm = self._grad_scale(size, reduction)
        if reduction == "none":
            value, gx, gv = self._nll(r, v, grad=True, norm=norm)
        else:
            value, gx, gv = self._nll(r, v, grad="sum", norm=norm)
            if reduction == "mean":
                value = value / gx.size if gx.size else math.nan
        gx = _sum_to_shape(gx, x.shape)
        if var_shape is None:
            return value, gx, None
        gv = _sum_to_shape(gv, v.shape).reshape(var_shape)
        return value, gx, gv

    def _prepare_var(self, input, target, var):
        self.check_params()
        reduction = self._reduction()
        x = _as_float_array(input, "input")
        t = _as_float_array(target, "target")
        if isinstance(var, numbers.Real) and not isinstance(var, bool):
            if var < 0:
                raise ValueError("var has negative entry/entries; variances must be >= 0.")
            v, var_shape = np.full(x.shape, float(var)), None
        else:
            v = _as_float_array(var, "var")
            var_shape = v.shape
            if np.any(v < 0):
                raise ValueError("var has negative entry/entries; variances must be >= 0.")
            if v.shape != x.shape:
                if v.shape == x.shape[:-1]:
                    v = v[..., np.newaxis]
                elif not (
                    v.ndim == x.ndim
                    and sum(n for n, m in zip(v.shape, x.shape, strict=True) if n != m) == 1
                ):
                    raise ValueError(
                        f"var is of incorrect size: got shape {v.shape} for input of shape "
                        f"{x.shape}. Use the input's shape, the input's shape without its last "
                        f"axis, or the input's shape with one axis set to 1."
                    )
        shape = _broadcast_shape(x.shape, t.shape, "target")
        _broadcast_shape(shape, v.shape, "var")
        v = np.maximum(v, float(self.eps))
        return x, t, v, var_shape, reduction

    def raw_loss_gradient(self, y, raw):  # noqa: D102
        mean, log_var = raw[0], raw[1]
        log_eps = math.log(self._raw_var_floor())
        # below the clamp the loss is flat: 0; at it, the derivative from above (as torch's
        # clamp passes the gradient at the bound), so that a start on the floor is not a
        # stationary point when the variance should grow
        clamped = log_var < log_eps
        v = np.exp(np.clip(log_var, log_eps, _MAX_EXP_ARG))
        loss, g_mean, g_var = self._nll(mean - y, v, grad=True)
        g_log_var = g_var * v
        g_log_var[clamped] = 0.0
        huge = log_var > _MAX_EXP_ARG
        if np.any(huge):
            # exp(log var) overflows: the loss is 0.5 (log var + r^2 exp(-log var)) in log
            # space, still increasing in log var (no flat plateau for a solver to stop on)
            s, r = np.broadcast_arrays(log_var, mean - y)
            s, r = s[huge], r[huge]
            q = (r * np.exp(-0.5 * s)) ** 2
            loss[huge] = 0.5 * (s + q) + (_HALF_LOG_2PI if self.full else 0.0)
            g_mean[huge] = r * np.exp(-s)
            g_log_var[huge] = 0.5 * (1.0 - q)
        return loss, np.stack([g_mean, g_log_var])

    def raw_loss(self, y, raw):  # noqa: D102
        return self.raw_loss_gradient(y, raw)[0]

    def link(self, y_pred, var=None):  # noqa: D102
        if var is None:
            raise ValueError("GaussianNLLLoss needs the predicted variance: link(y_pred, var).")
        with np.errstate(divide="ignore"):
            log_var = np.log(np.asarray(var, dtype=np.float64))
        return np.stack(np.broadcast_arrays(np.asarray(y_pred, dtype=np.float64), log_var))

    def predictive_distribution(self, raw, scale=None):  # noqa: D102
        return stats.norm(loc=raw[0], scale=np.sqrt(self.variance(raw)))

    def raw_hessian(self, y, raw):
        r"""Expected (Fisher) information of the raw outputs, per sample and target.

        For :math:`y \sim N(\mu, v)`, :math:`v = \max(e^{s}, \varepsilon)`:
        :math:`E[\partial^2 \ell / \partial\mu^2] = 1/v`,
        :math:`E[\partial^2 \ell / \partial s^2] = 1/2` (0 where the clamp is active) and the
        cross term is 0, so Fisher scoring on a linear model has a block-diagonal Hessian.

        Returns
        -------
        ndarray of shape ``(2, *y.shape)``
        """
        log_eps = math.log(self.eps) if self.eps > 0 else -math.inf
        d_log_var = np.where(raw[1] < log_eps, 0.0, 0.5)
        return np.stack(np.broadcast_arrays(1.0 / self.variance(raw), d_log_var))

    def kinked(self, y, raw):
        """Rows at the variance's floor or within 0.1% of it: the clamp is a kink."""
        return np.broadcast_to(raw[1] <= math.log(self._raw_var_floor()) + 1e-3, np.shape(y))

    def floored(self, raw):
        """Where the predicted variance is at or below ``eps``: the clamp holds it there."""
        return raw[1] <= math.log(self._raw_var_floor())

    def floor_advice(self, y_spread):  # noqa: D102
        eps = float(self.eps)
        interpolates = (
            "the fit interpolates those rows (too few rows for its parameters): use fewer "
            "features or a larger alpha (alpha_var for the linear model's variance head)."
        )
        if eps == 0.0:
            return (
                "With eps=0 the variance is floored at the smallest normal float, where it "
                f"underflows: {interpolates}"
            )
        var = y_spread * y_spread
        if not eps > 1e-4 * var:  # a floor this far below y's variance: not y's units
            return f"eps={eps:g} is {eps / var:.2g} of y's variance {var:.3g}: {interpolates}"
        return (
            f"GaussianNLLLoss's variance floor eps={eps:g} is in the squared units of y (as in "
            f"torch) and y's variance is {var:.3g}: pass a smaller eps, e.g. "
            f"loss=GaussianNLLLoss(eps={1e-6 * var:.1g}), or rescale y. If that does not help, "
            f"{interpolates}"
        )

    def variance(self, raw: np.ndarray) -> np.ndarray:
        """Predicted variance ``max(exp(raw[1]), eps)`` from raw outputs.

        With ``eps=0`` the floor is the smallest normal float instead, so that the variance of
        a raw output below about -708 is not 0 (which would make the likelihood NaN).
        """
        return np.maximum(np.exp(np.minimum(raw[1], _MAX_EXP_ARG)), self._raw_var_floor())

    def _raw_var_floor(self) -> float:
        return max(float(self.eps), float(np.finfo(np.float64).tiny))

    def check_y(self, y: np.ndarray) -> None:
        """Raise a ValueError if y's variance overflows float64 (see :meth:`BaseLoss.check_y`).

        The learned variance must hold the residuals' spread: beyond ``exp(709.78)``
        (targets spread over about 1e154) no variance is representable.
        """
        super().check_y(y)
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1) if np.ndim(y) else y
        if np.size(y) < 2 or not np.all(np.isfinite(y)):
            return
        log_var = self.init_raw(y)[1]
        if np.any(log_var > math.log(np.finfo(np.float64).max)):
            raise ValueError(
                f"{type(self).__name__}: the variance of the targets (e^{np.max(log_var):.0f}) "
                f"overflows float64; rescale y (e.g. divide it by a power of 10)."
            )

    def init_raw(self, y, sample_weight=None):  # noqa: D102
        # mean and variance of y / m, m = max|y|, so that nothing overflows; then
        # log var = 2 log m + log var(y / m)
        y = np.asarray(y, float)
        mean, m = _scaled_mean(y, sample_weight)
        var = np.average((y / m - mean) ** 2, axis=0, weights=sample_weight)
        log_var = np.maximum(2.0 * np.log(m) + np.log(var), math.log(self._raw_var_floor()))
        return np.stack([mean * m, log_var])

    def raw_hessian_blocks(self, y: np.ndarray, raw: np.ndarray) -> np.ndarray:
        r"""Exact per-sample 2x2 Hessian of the elementwise loss in ``(mean, log var)``.

        With :math:`d = m - y` and :math:`v = e^{s}`:
        :math:`\partial^2_{mm} = 1/v`, :math:`\partial^2_{ms} = -d/v`,
        :math:`\partial^2_{ss} = d^2 / (2v)`. Where the variance clamp is active
        (:math:`v < \varepsilon`) the loss does not depend on :math:`s`, so the entries in
        :math:`s` are 0 and :math:`\partial^2_{mm} = 1/\varepsilon`.

        Parameters
        ----------
        y : ndarray
            Targets.
        raw : ndarray of shape ``(2, *y.shape)``
            Means and log variances.

        Returns
        -------
        ndarray of shape ``(2, 2, *y.shape)``
            ``H[a, b]`` is :math:`\partial^2 \ell / \partial raw_a \partial raw_b`.
        """
        mean, log_var = raw[0], raw[1]
        log_eps = math.log(self.eps) if self.eps > 0 else -math.inf
        active = log_var >= log_eps
        v = np.exp(np.clip(log_var, log_eps, _MAX_EXP_ARG))
        inv = 1.0 / v
        d = mean - y
        h = np.empty((2, 2, *np.broadcast_shapes(d.shape, v.shape)))
        h[0, 0] = inv
        h[0, 1] = h[1, 0] = np.where(active, -d * inv, 0.0)
        h[1, 1] = np.where(active, 0.5 * d * d * inv, 0.0)
        return h


# ---------------------------------------------------------------------------------------------
# beyond torch: the negative binomial

# Raw log dispersions are clipped to [-_MAX_LOG_DISPERSION, _MAX_LOG_DISPERSION]: within it
# every term below is finite (r**2 * polygamma(1, r) <= 1 + r**2 * pi**2 / 6), and beyond it the
# loss equals its limit (Poisson below, a point mass at 0 above) to double precision.
_MAX_LOG_DISPERSION = 300.0
# the largest log variance and log odds alpha mu of the negative binomial's distributions
# (see NegativeBinomialNLLLoss.predictive_distribution)
_NB_LOG_VAR_MAX = 707.0
_NB_LOG_ODDS_MAX = 700.0


class NegativeBinomialNLLLoss(BaseLoss):
    r"""Negative binomial (NB2) negative log-likelihood with a log link.

    The count :math:`y` has mean :math:`\mu` and variance :math:`\mu + \alpha\mu^2` (NB2, the
    parameterisation of statsmodels' ``NegativeBinomial(loglike_method="nb2")`` and of R's
    ``MASS::glm.nb`` with ``theta = 1/alpha``). With :math:`r = 1/\alpha`, the loss is the
    full negative log probability mass, :math:`\log y!` included:

    .. math::

        \ell(y; \mu, \alpha) = -\log\Gamma(y + r) + \log\Gamma(r) + \log\Gamma(y + 1)
            + (r + y)\log(1 + \alpha\mu) - y \log(\alpha\mu) .

    - Domain: ``y >= 0`` (counts; the formula is continuous in real ``y``, as the Poisson
      loss). The model's two raw outputs are the log mean :math:`\eta = \log\mu` and the log
      dispersion :math:`\kappa = \log\alpha`; ``predict`` returns :math:`\mu = e^\eta`.
    - Likelihood: ``nbinom(n=1/alpha, p=1/(1 + alpha*mu))``, scipy's parameterisation
      (:data:`sklik.distributions.nbinom`, whose pmf stays accurate for small dispersions);
      ``exp(-loss)`` is its pmf, so :meth:`~sklik.LinearRegressor.log_likelihood` is the sum
      of losses. As :math:`\alpha \to 0` the loss tends to the full Poisson negative
      log-likelihood; the predictive distribution keeps :math:`\alpha \ge 10^{-8}/\max(\mu,
      1)`, the Poisson limit to 1e-8 (see :meth:`predictive_distribution`).
    - Gradient: :math:`\partial_\eta \ell = (\mu - y)/(1 + \alpha\mu)` and
      :math:`\partial_\kappa \ell = r(\psi(y + r) - \psi(r) - \log(1 + \alpha\mu))
      + (\mu - y)/(1 + \alpha\mu)`; the exact 2x2 Hessian per sample is
      :meth:`raw_hessian_blocks`. Every term is evaluated without cancellation or overflow
      (Stirling series with ``log1p`` for small dispersions, gamma functions shifted by one
      for large ones); their sum, of terms of size :math:`y \log y`, cancels for large
      counts: its relative error is about :math:`10^{-16}\, y \log y / \ell` (1e-8 at
      :math:`y = 10^8`, 1e-4 at :math:`10^{12}`, as SciPy's ``nbinom.logpmf``); ``kappa`` is
      clipped to ``[-300, 300]`` (where the loss equals its
      limits to double precision; the derivatives in ``kappa`` are 0 where the clip is
      active), ``eta`` above at ``log(max float)``.
    - Not convex in :math:`(\eta, \kappa)` jointly; fitted by Newton's method on the exact
      Hessian (:meth:`raw_hessian_blocks`), whose eigenvalues are taken by magnitude where it
      is indefinite, with a line search (:attr:`second_order`).
    - PyTorch has no negative binomial loss; the call ``loss(input, target, dispersion)``
      follows ``PoissonNLLLoss(log_input=True)`` (the input is the log mean) and
      ``GaussianNLLLoss`` (the second parameter, :math:`\alpha > 0`, on its natural scale).

    Parameters
    ----------
    dispersion : {"constant", "linear"}, default="constant"
        How the estimators model :math:`\log\alpha`. ``"constant"``: one dispersion per
        target, an intercept only (NB2 as in statsmodels, glum and ``MASS::glm.nb``; the log
        dispersion is in :attr:`constant_params`). ``"linear"``: a second head like
        ``gaussian_nll``'s log variance (linear in ``X`` for ``LinearRegressor``, a second
        output of the network for ``MLPRegressor``). It does not change the loss's values.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides the sum by the number of elements after broadcasting.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> from sklik.losses import NegativeBinomialNLLLoss
    >>> loss = NegativeBinomialNLLLoss(reduction="none")
    >>> mu, alpha, y = 2.0, 0.5, np.array([0.0, 3.0])
    >>> loss(np.log([mu, mu]), y, alpha).round(8)
    array([1.38629436, 2.07944154])
    >>> (-stats.nbinom.logpmf(y, 1 / alpha, 1 / (1 + alpha * mu))).round(8)
    array([1.38629436, 2.07944154])
    """

    name = "negative_binomial_nll"
    metric_name = "negative_binomial_nll"
    n_params = 2
    param_names = ("log_mean", "log_dispersion")
    y_domain = (0.0, math.inf)
    convex = False
    needs_scale = False
    # the mean head is the log mean: its coefficients are not in y's units (the solver's
    # theta_scale), an offset is a log exposure (offset starts, compare's exposure)
    link_name = "log"
    _torch_legacy_checks = False

    def __init__(self, *, dispersion: str = "constant", reduction: str = "mean") -> None:
        self.dispersion = dispersion
        self.reduction = reduction

    @property
    def constant_params(self) -> tuple[int, ...]:
        """``(1,)`` (the log dispersion) for ``dispersion="constant"``, else ``()``."""
        return (1,) if self.dispersion == "constant" else ()

    def check_params(self) -> None:  # noqa: D102
        super().check_params()
        if not isinstance(self.dispersion, str) or self.dispersion not in ("constant", "linear"):
            raise ValueError(
                f"NegativeBinomialNLLLoss: dispersion must be 'constant' or 'linear'; got "
                f"dispersion={self.dispersion!r}."
            )

    # -- the kernel ----------------------------------------------------------------------------

    def _nb(self, y: np.ndarray, eta: np.ndarray, kappa: np.ndarray, order: int) -> tuple:
        """Loss, gradient ``(2, *shape)`` if ``order >= 1``, Hessian ``(2, 2, *shape)`` if 2.

        ``y``, ``eta`` (log mean) and ``kappa`` (log dispersion) broadcast; nothing is
        written to them.
        """
        shape, (y, eta, kappa) = _flat_float_arrays(y, eta, kappa)
        clipped = np.abs(kappa) > _MAX_LOG_DISPERSION
        kappa = np.clip(kappa, -_MAX_LOG_DISPERSION, _MAX_LOG_DISPERSION)
        eta = np.minimum(eta, _MAX_EXP_ARG)
        with np.errstate(over="ignore", invalid="ignore"):
            mu = np.exp(eta)
            r = np.exp(-kappa)
            z = eta + kappa  # log(alpha * mu)
            softplus = np.logaddexp(0.0, z)  # log(1 + alpha * mu)
            G, B, C = _nb_gamma_terms(y, r, order)
            loss = -G + special.gammaln(y + 1.0) + (r + y) * softplus - y * eta
            if order == 0:
                return loss.reshape(shape), None, None
            p = special.expit(-z)  # 1 / (1 + alpha mu)
            q = special.expit(z)  # alpha mu / (1 + alpha mu)
            # The y-free parts of the derivatives in kappa, with t = alpha mu:
            #   D = -r (log1p(t) - t) - mu q       (= -r log1p(t) + mu p)
            #   E = r (log1p(t) - t) + mu q^2      (= r log1p(t) - mu p (1 + q)),
            # by the series of log1p(t) - t where t is small, else by the second form.
            small_t = z < math.log(0.25)
            t = np.exp(np.minimum(z, 0.0))
            r_lm_t = r * _log1pmx(t)
            mu_p = mu * p
            D = np.where(small_t, -r_lm_t - mu * q, mu_p - r * softplus)
            resid = mu - y
            grad = np.empty((2, y.size))
            grad[0] = resid * p
            grad[1] = B + D + y * q
            grad[1][clipped] = 0.0
            hess = None
            if order >= 2:
                E = np.where(small_t, r_lm_t + mu * q * q, r * softplus - mu_p * (1.0 + q))
                hess = np.empty((2, 2, y.size))
                hess[0, 0] = p * (mu_p + y * q)
                hess[0, 1] = -resid * q * p
                hess[1, 1] = C + E + y * q * p
                hess[0, 1][clipped] = 0.0
                hess[1, 1][clipped] = 0.0
                hess[1, 0] = hess[0, 1]
                hess = hess.reshape((2, 2, *shape))
        return loss.reshape(shape), grad.reshape((2, *shape)), hess

    # -- the torch-like interface --------------------------------------------------------------

    def _prepare_dispersion(self, input: Any, target: Any, dispersion: Any):
        self.check_params()
        reduction = self._reduction()
        x = _as_float_array(input, "input")
        t = _as_float_array(target, "target")
        if isinstance(dispersion, numbers.Real) and not isinstance(dispersion, bool):
            a, a_shape = np.asarray(float(dispersion)), None
        else:
            a = _as_float_array(dispersion, "dispersion")
            a_shape = a.shape
        if np.any(~(a > 0)):
            raise ValueError(
                "dispersion must be > 0 (the variance is mu + dispersion * mu^2); got "
                "non-positive or NaN entries. Use PoissonNLLLoss for dispersion 0."
            )
        shape = _broadcast_shape(x.shape, t.shape, "target")
        _broadcast_shape(shape, a.shape, "dispersion")
        return x, t, a, a_shape, reduction

    def __call__(self, input: Any, target: Any, dispersion: Any) -> float | np.ndarray:  # type: ignore[override]
        r"""Negative binomial negative log-likelihood of ``target``.

        Parameters
        ----------
        input : array-like
            Log means :math:`\eta = \log\mu`.
        target : array-like
            Counts (>= 0); broadcasts with ``input``.
        dispersion : array-like or float
            :math:`\alpha > 0`; broadcasts with ``input``.

        Returns
        -------
        float or ndarray
            The reduced loss, or the elementwise loss for ``reduction="none"``.
        """
        x, t, a, _, reduction = self._prepare_dispersion(input, target, dispersion)
        with np.errstate(divide="ignore"):
            loss, _, _ = self._nb(t, x, np.log(a), order=0)
        return self._reduce(loss, reduction)

    def value_and_grad(  # type: ignore[override]
        self, input: Any, target: Any, dispersion: Any
    ) -> tuple[float | np.ndarray, np.ndarray, np.ndarray | None]:
        r"""Loss and its gradients with respect to ``input`` and ``dispersion``.

        Parameters
        ----------
        input, target, dispersion
            As for ``__call__``.

        Returns
        -------
        value : float or ndarray
            As returned by ``__call__``.
        grad_input : ndarray of the shape of ``input``
            :math:`(\mu - y) / (1 + \alpha\mu)`, scaled by the reduction and summed over
            broadcast axes.
        grad_dispersion : ndarray of the shape of ``dispersion``, or None
            :math:`\partial\ell/\partial\alpha`, likewise; None when ``dispersion`` is a
            Python float.
        """
        x, t, a, a_shape, reduction = self._prepare_dispersion(input, target, dispersion)
        loss, grad, _ = self._nb(t, x, np.log(a), order=1)
        value = self._reduce(loss, reduction)
        scale = self._grad_scale(loss.size, reduction)
        gx = grad[0] * scale if scale != 1.0 else grad[0]
        gx = _sum_to_shape(gx, x.shape)
        if a_shape is None:
            return value, gx, None
        ga = grad[1] / a  # d loss / d alpha = (d loss / d kappa) / alpha
        if scale != 1.0:
            ga *= scale
        return value, gx, _sum_to_shape(ga, a.shape)

    # -- the estimator interface ---------------------------------------------------------------

    def raw_loss_gradient(self, y, raw):  # noqa: D102
        loss, grad, _ = self._nb(y, raw[0], raw[1], order=1)
        return loss, grad

    def raw_loss(self, y, raw):  # noqa: D102
        return self._nb(y, raw[0], raw[1], order=0)[0]

    def raw_hessian_blocks(self, y: np.ndarray, raw: np.ndarray) -> np.ndarray:
        r"""Exact per-sample 2x2 Hessian of the loss in ``(log mean, log dispersion)``.

        With :math:`p = 1/(1+\alpha\mu)`, :math:`q = 1 - p`, :math:`r = 1/\alpha`:

        .. math::

            \partial^2_{\eta\eta} = p(\mu p + y q), \quad
            \partial^2_{\eta\kappa} = -(\mu - y)\,pq, \quad
            \partial^2_{\kappa\kappa} = C + r(\log(1+\alpha\mu) - \alpha\mu) + \mu q
                - (\mu - y)\,pq,

        with :math:`C = -r(\psi(y+r) - \psi(r)) - r^2(\psi'(y+r) - \psi'(r))` (see the class
        notes for its stable evaluation). The matrix is not positive semi-definite everywhere
        (the loss is not convex).

        Parameters
        ----------
        y : ndarray
            Counts.
        raw : ndarray of shape ``(2, *y.shape)``
            Log means and log dispersions.

        Returns
        -------
        ndarray of shape ``(2, 2, *y.shape)``
            ``H[a, b]`` is :math:`\partial^2 \ell / \partial raw_a \partial raw_b`.
        """
        return self._nb(y, raw[0], raw[1], order=2)[2]

    def inverse_link(self, raw):  # noqa: D102
        return np.exp(np.minimum(raw[0], _MAX_EXP_ARG))

    def dispersion_value(self, raw: np.ndarray) -> np.ndarray:
        r"""Dispersion :math:`\alpha = e^{raw_1}` (clipped as in the loss) from raw outputs."""
        return np.exp(np.clip(raw[1], -_MAX_LOG_DISPERSION, _MAX_LOG_DISPERSION))

    def link(self, y_pred, var=None):  # noqa: D102
        if var is None:
            raise ValueError(
                "NegativeBinomialNLLLoss needs the predicted variance: link(y_pred, var); the "
                "dispersion is (var - mean) / mean^2."
            )
        mu = np.asarray(y_pred, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.maximum((np.asarray(var, dtype=np.float64) - mu) / (mu * mu), 0.0)
            return np.stack(np.broadcast_arrays(np.log(mu), np.log(alpha)))

    def predictive_distribution(self, raw, scale=None):
        r"""``sklik.distributions.nbinom(n=1/alpha, p=1/(1 + alpha*mu))`` per row.

        The parameterisation by ``p`` holds :math:`1 - p = \alpha\mu / (1 + \alpha\mu)`
        only to within :math:`10^{-16}` (absolute), so :math:`\alpha\mu` is kept at least
        :math:`\epsilon` = ``_NBINOM_MIN_ALPHA_MU`` (1e-8): a fit whose dispersion tends to 0
        (counts no more spread than Poisson's) gets the Poisson limit to that precision (the
        variance :math:`\mu(1 + \alpha\mu)` changes by at most 1e-8 relative, the
        probabilities of 0 and 1 as much), where a smaller :math:`\alpha\mu` would round
        ``p`` to 1 (a ``-inf`` log-probability for every positive count; a mean of 3e-8 had
        a log-probability of 1 off by 0.25). At means below about 1e-6 the floor raises the
        probability of 2 or more counts, events of probability below :math:`\mu^2 / 2`,
        by a factor up to :math:`1 + \epsilon / \mu` per count beyond the first.
        """
        eta = np.minimum(raw[0], _MAX_EXP_ARG)
        # far from the data the variance mu + alpha mu^2 (and alpha mu, the odds of p) would
        # overflow float64 and the interval reach inf: the dispersion is held where they
        # stay representable (a variance of about 1e307; an MLP's negative binomial had
        # inf means and intervals at rows 1e6 times the training scale)
        kappa = np.minimum(raw[1], np.minimum(_NB_LOG_VAR_MAX - 2.0 * eta, _NB_LOG_ODDS_MAX - eta))
        kappa = np.clip(kappa, -_MAX_LOG_DISPERSION, _MAX_LOG_DISPERSION)
        # (n = 1 / alpha >= e^-700 stays a normal float64: the floor holds down to a mean of
        # e^-718, below float64's smallest normal number)
        kappa = np.maximum(kappa, np.minimum(math.log(_NBINOM_MIN_ALPHA_MU) - eta, 700.0))
        return nbinom(n=np.exp(-kappa), p=special.expit(-(eta + kappa)))

    def init_raw(self, y, sample_weight=None):  # noqa: D102
        r"""Constant ``(log mean, log dispersion)`` minimising the weighted mean loss.

        The log mean is the log of the weighted mean (its score vanishes there for any
        dispersion); the log dispersion solves its score equation by Brent's method, started
        from the method-of-moments value :math:`(s^2 - \bar y)/\bar y^2`. The maximum
        likelihood dispersion is 0 when the weighted variance does not exceed the mean; the
        log dispersion is then floored at -30 (:math:`\alpha \approx 10^{-13}`, where the
        loss is the Poisson one to double precision).
        """
        y = np.asarray(y, dtype=np.float64)
        w = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
        cols = y.reshape(y.shape[0], -1)
        out = np.empty((2, cols.shape[1]))
        floor = -30.0
        for j, col in enumerate(cols.T):
            top = float(np.max(col)) if col.size else 0.0
            top = top if top > 0 else 1.0
            mean = top * float(np.average(col / top, weights=w))  # no overflow in the sum
            eta = math.log(max(mean, 1e-10))
            out[0, j] = eta
            # the score of a constant model depends on y only through its values: summed
            # over the distinct counts with their total weights (a few dozen, not n rows)
            values, inverse = np.unique(col, return_inverse=True)
            totals = np.bincount(inverse.ravel(), weights=w, minlength=values.size)

            def score(
                kappa: float,
                values: np.ndarray = values,
                totals: np.ndarray = totals,
                eta: float = eta,
            ) -> float:
                grad = self._nb(values, eta, kappa, order=1)[1]
                return float(np.average(grad[1], weights=totals))

            kappa = floor
            # all counts 0: the mean is 0 and the dispersion is immaterial; counts so large
            # that the score overflows keep the floor (a start, refined by the fit)
            if mean > 0 and math.isfinite(score(floor)) and score(floor) < 0:
                var = top * top * float(np.average(((col - mean) / top) ** 2, weights=w))
                hi = max(math.log(max(var - mean, 1e-300)) - 2.0 * math.log(mean), floor + 1.0)
                hi = min(hi, _MAX_LOG_DISPERSION)  # also for an overflowing variance
                while hi < _MAX_LOG_DISPERSION and score(hi) < 0:
                    hi = min(hi + 2.0, _MAX_LOG_DISPERSION)
                if not math.isfinite(score(hi)):
                    kappa = floor
                elif score(hi) < 0:
                    kappa = hi
                else:
                    try:
                        kappa = brentq(score, floor, hi, xtol=1e-13)
                    except ValueError:
                        # a score that is NaN inside the bracket: targets that are no counts
                        # (y less a log exposure, for an offset's start) keep the moments' value
                        kappa = hi
            out[1, j] = kappa
        return out.reshape((2, *y.shape[1:]))


# ---------------------------------------------------------------------------------------------
# registry

_LOSS_CLASSES: tuple[type[BaseLoss], ...] = (
    MSELoss,
    L1Loss,
    HuberLoss,
    SmoothL1Loss,
    GaussianNLLLoss,
    PoissonNLLLoss,
    NegativeBinomialNLLLoss,
)

#: Registry of the losses by name: ``{"mse": MSELoss, "l1": L1Loss, ...}``.
LOSSES: dict[str, type[BaseLoss]] = {cls.name: cls for cls in _LOSS_CLASSES}


def get_loss(loss: str | BaseLoss) -> BaseLoss:
    """Resolve a loss name or instance to a fresh, validated loss object.

    Parameters
    ----------
    loss : str or BaseLoss
        A key of :data:`LOSSES` (``"mse"``, ``"l1"``, ``"huber"``, ``"smooth_l1"``,
        ``"gaussian_nll"``, ``"poisson_nll"``, ``"negative_binomial_nll"``) or a loss
        instance such as
        ``HuberLoss(delta=2.0)``.

    Returns
    -------
    BaseLoss
        A new instance: default parameters for a name, an unfitted copy (``sklearn.clone``) for
        an instance, so the caller's object is never modified.

    Raises
    ------
    ValueError
        For an unknown name, an object that is not a loss, or invalid loss parameters.

    Examples
    --------
    >>> from sklik.losses import get_loss, HuberLoss
    >>> get_loss("huber")
    HuberLoss()
    >>> get_loss(HuberLoss(delta=2.0))
    HuberLoss(delta=2.0)
    """
    if isinstance(loss, BaseLoss):
        resolved = clone(loss)
    elif isinstance(loss, str) and loss in LOSSES:
        resolved = LOSSES[loss]()
    else:
        raise ValueError(
            f"loss must be one of {sorted(LOSSES)} or a loss instance from sklik.losses; "
            f"got {loss!r}."
        )
    resolved.check_params()
    return resolved
