r"""Model layer: parametrisations mapping a flat parameter vector and data to raw outputs.

A model turns a flat float64 parameter vector ``theta`` and a design matrix ``X`` into raw
outputs ``out`` (link space, one column per raw output) and back-propagates a gradient with
respect to ``out`` into a gradient with respect to ``theta``. It knows nothing about losses,
targets, sample weights or penalties; the objective combines it with a loss.

Conventions
-----------
Shapes and dtypes:

- ``X``: float64, shape ``(n_samples, n_features)``, C-contiguous (the estimator guarantees it;
  the models do not copy or convert ``X``).
- ``theta``: float64, shape ``(n_coef,)``.
- ``out``, ``grad_out`` and the result of ``jvp``: float64, shape ``(n_samples, n_outputs)``.
- ``out_init`` (``init_params``): shape ``(n_outputs,)``, usually the loss's best constant
  ``init_raw`` arranged as one value per raw output.

Layout of ``theta``: **all penalised weights first, all biases (intercepts) last**::

    theta = [ weights (n_weights entries) | biases (n_coef - n_weights entries) ]

so the objective's penalty is ``0.5 * alpha * ||theta[:n_weights]||^2`` for every model, and
the *last* ``n_outputs`` entries of ``theta`` are always the output layer's bias when the model
has one.

- :class:`LinearModel`: ``theta = [coef.ravel(), intercept]`` with ``coef`` of shape
  ``(n_outputs, n_features)`` raveled in C order (row ``k`` holds the coefficients of output
  ``k``) and ``intercept`` of shape ``(n_outputs,)``, present only if ``fit_intercept``.
- :class:`MLPModel`: ``theta = [W_0.ravel(), ..., W_L.ravel(), b_0, ..., b_L]`` with ``W_l`` of
  shape ``(fan_in, fan_out)`` raveled in C order. This is exactly the vector built by
  scikit-learn's ``_pack(coefs_, intercepts_)`` in ``sklearn.neural_network``, so an MLP's
  ``coefs_``/``intercepts_`` and sklik's ``theta`` convert into each other without reordering.

The protocol (every entry of :data:`MODELS` implements it):

- ``n_coef``: ``len(theta)``; ``n_weights``: ``theta[:n_weights]`` are the penalised weights.
- ``init_params(random_state, out_init) -> theta``: starting point.
- ``forward(theta, X, *, need_cache=True) -> (out, cache)``; ``cache`` is opaque, is only
  valid together with the same ``theta`` and ``X``, and is never modified afterwards, so
  ``backward`` and ``jvp`` may be called any number of times with it (``None`` when
  ``need_cache=False``).
- ``backward(theta, cache, grad_out) -> grad_theta``: the vector-Jacobian product
  :math:`J^\top g`, i.e. the gradient of ``sum(grad_out * out)`` with respect to ``theta``.
- ``jvp(theta, cache, v) -> d_out``: the Jacobian-vector product :math:`J v`, the directional
  derivative of ``out`` along ``v`` (forward mode), used for Gauss-Newton products
  :math:`J^\top H J v`.
- ``unpack(theta) -> dict`` of named arrays (copies) and ``pack(params) -> theta``, its inverse.

Every method is re-entrant: no result depends on earlier calls, and the inputs ``theta``,
``X``, ``grad_out``, ``v`` and ``cache`` are never written to. A model keeps no state between
calls. For the repeated evaluations of a fit, :meth:`MLPModel.workspace` makes buffers that the
caller owns (the :class:`~sklik._objective.Objective`, for as long as it lives) and passes to
``forward(..., workspace=ws)``: the activations are then written into them instead of newly
allocated arrays, and such a cache is valid only until the next ``forward`` with the same
workspace (see :class:`MLPWorkspace`).

Performance
-----------
The MLP's forward, backward and jvp passes run over blocks of rows sized to stay in the L2
cache (``_BLOCK_ELEMENTS``): deltas and forward-mode tangents only ever exist one block at a
time, the weight gradients are accumulated block by block straight into the flat gradient
vector (through views, no concatenation), and the delta with respect to ``X`` is never formed.
Activations are applied in place; biases are added as pre-tiled blocks; the relu derivative is
a bitwise select rather than boolean indexing; outer products (one output, or one feature) go
to BLAS ``dgemm``, which NumPy's ``matmul`` does not use for an inner dimension of 1.

Adding an activation is one entry in :data:`ACTIVATIONS`; adding a model is one class that
implements the protocol plus one entry in :data:`MODELS`. The tests are generated from both
registries.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.linalg import blas
from sklearn.utils import check_random_state

from sklik._design import DenseDesign, ShiftedDenseDesign, SparseDesign

__all__ = ["Activation", "ACTIVATIONS", "LinearModel", "MLPModel", "MODELS"]

# Rows per block in the MLP's passes are chosen so that one block of all layers' outputs holds
# about this many float64 values (256 KiB): the per-block activations, deltas and temporaries
# then stay in the L2 cache, and the deltas never need a full (n_samples, width) buffer.
# Measured best (2 cores, 2 MiB L2 each) between 16384 and 32768 for (100,) and (50, 50).
_BLOCK_ELEMENTS = 32768
# LinearModel.gauss_newton_solve: the Woodbury form holds a wide design densely up to this many
# entries (160 MB), and gives up (the caller forms the p-by-p matrix) when an intercept's Schur
# complement is below this fraction of its diagonal entry (numerically singular).
_WOODBURY_MAX_ENTRIES = 20_000_000
_WOODBURY_MIN_SCHUR = 1e-12


def _signed_sandwich(design: object, d: np.ndarray) -> np.ndarray:
    r""":math:`X^\top \operatorname{diag}(d)\, X` for signed ``d``.

    The difference of the design's sandwiches of the positive and the negative part (its
    square-root form needs ``d >= 0``).
    """
    if np.all(d >= 0):
        return design.sandwich(d)
    positive, negative = np.maximum(d, 0.0), np.maximum(-d, 0.0)
    return design.sandwich(positive) - design.sandwich(negative)


# ---------------------------------------------------------------------------------------------
# activations


def _identity(z: np.ndarray) -> None:
    """Leave ``z`` unchanged: :math:`f(z) = z`."""


def _identity_derivative(a: np.ndarray, delta: np.ndarray) -> None:
    """Multiply by :math:`f'(z) = 1`: leave ``delta`` unchanged."""


def _relu(z: np.ndarray) -> None:
    r"""Apply :math:`f(z) = \max(z, 0)` in place."""
    np.maximum(z, 0.0, out=z)


def _relu_derivative(a: np.ndarray, delta: np.ndarray) -> None:
    """Multiply ``delta`` in place by :math:`f'(z) = [a > 0]` (0 at the kink, as sklearn).

    Implemented as a select, not a product: entries of dead units become exactly 0 even if
    ``delta`` is inf or nan there (as sklearn's ``delta[Z == 0] = 0`` and torch's relu
    backward), without floating-point warnings. The select is a bitwise AND of ``delta``'s
    bits with an all-ones/all-zeros mask, as fast as multiplying by a boolean mask and
    several times faster than boolean indexing or ``np.copyto(..., where=...)``.
    """
    keep = (a > 0.0).view(np.int8)
    np.negative(keep, out=keep)  # 1 -> -1: all 64 bits set after sign extension to int64
    bits = delta.view(np.int64)
    np.bitwise_and(bits, keep, out=bits)


# row-major chunks of this many entries: the tanh's temporaries stay in the CPU's cache
_TANH_CHUNK = 16384
# below this |z|, tanh z = z - z^3/3 to within an ulp (the next term is 2 z^5 / 15)
_TANH_SERIES = 2.0**-13


def _numpy_tanh_is_vectorised() -> bool:
    """Whether NumPy's float64 ``tanh`` loop is dispatched to AVX-512, where it is vectorised.

    Read from NumPy's public dispatch table (:func:`numpy.lib.introspect.opt_func_info`); a
    fixed property of the machine and the NumPy build, so every fit in a process takes the
    same path.
    """
    try:
        from numpy.lib.introspect import opt_func_info
    except ImportError:  # NumPy 2.0
        return False
    loop = opt_func_info(func_name="^tanh$", signature="float64").get("tanh", {}).get("dd", {})
    current = str(loop.get("current", ""))
    return "AVX512" in current or current == "X86_V4"


_NUMPY_TANH_IS_VECTORISED = _numpy_tanh_is_vectorised()


def _tanh(z: np.ndarray) -> None:
    r"""Apply :math:`f(z) = \tanh z` in place.

    NumPy's float64 ``tanh`` is vectorised only on AVX-512 (one thread, a network's
    activations: 2.0 ns per entry there against 3.6 ns for :func:`_tanh_exp`); elsewhere its
    scalar loop took 14 ns per entry against 9 ns for :func:`_tanh_exp` (AVX2). Each machine
    takes the faster one (:data:`_NUMPY_TANH_IS_VECTORISED`).
    """
    if _NUMPY_TANH_IS_VECTORISED or not z.flags.c_contiguous:  # (activations always are)
        np.tanh(z, out=z)
    else:
        _tanh_exp(z)


def _tanh_exp(z: np.ndarray) -> None:
    r"""Apply :math:`\tanh` in place to a C-contiguous ``z`` through ``exp``.

    Computed as :math:`\operatorname{sign}(z)\,(1 - e)/(1 + e)` with :math:`e = e^{-2|z|}`,
    and as :math:`z - z^3/3` where :math:`|z| < 2^{-13}`. The error is at most
    :math:`2.3 \cdot 10^{-16}` absolute and 2 ulp relative for :math:`|z| > 1/2` (relative at
    most :math:`5 \cdot 10^{-13}` near :math:`|z| = 2^{-13}`, where :math:`1 - e` cancels).
    """
    flat = z.reshape(-1)
    n = flat.size
    e = np.empty(min(n, _TANH_CHUNK))
    d = np.empty_like(e)
    for start in range(0, n, _TANH_CHUNK):
        zc = flat[start : start + _TANH_CHUNK]
        ec, dc = e[: zc.size], d[: zc.size]
        np.abs(zc, out=ec)
        small = np.flatnonzero(ec < _TANH_SERIES)  # a few entries, if any
        ec *= -2.0
        np.exp(ec, out=ec)
        np.add(ec, 1.0, out=dc)
        np.subtract(1.0, ec, out=ec)
        np.divide(ec, dc, out=ec)
        if small.size:
            a = np.abs(zc[small])
            ec[small] = a - a * a * a / 3.0
        np.copysign(ec, zc, out=zc)


def _tanh_derivative(a: np.ndarray, delta: np.ndarray) -> None:
    """Multiply ``delta`` in place by :math:`f'(z) = 1 - a^2`."""
    t = np.multiply(a, a)
    np.subtract(1.0, t, out=t)
    np.multiply(delta, t, out=delta)


def _logistic(z: np.ndarray) -> None:
    """Apply :math:`f(z) = 1 / (1 + e^{-z})` in place.

    Written with ``exp`` rather than ``scipy.special.expit``, which is several times slower;
    the result is within an ulp or two of ``expit`` (``exp(-z)`` overflowing to inf gives the
    correct 0).
    """
    np.negative(z, out=z)
    with np.errstate(over="ignore"):
        np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)


def _logistic_derivative(a: np.ndarray, delta: np.ndarray) -> None:
    """Multiply ``delta`` in place by :math:`f'(z) = a (1 - a)`."""
    t = np.subtract(1.0, a)
    np.multiply(t, a, out=t)
    np.multiply(delta, t, out=delta)


class Activation(NamedTuple):
    r"""A hidden-layer activation :math:`a = f(z)`, applied elementwise and in place.

    The derivative is expressed through the *output* :math:`a`, which is what the forward pass
    keeps, so no pre-activation has to be stored.

    Attributes
    ----------
    function : callable
        ``function(z)`` overwrites ``z`` with :math:`f(z)`.
    derivative : callable
        ``derivative(a, delta)`` multiplies ``delta`` in place by :math:`f'(z)`, written as a
        function of :math:`a = f(z)`; ``a`` is not modified. Used both for back-propagation
        (``delta`` is :math:`\partial L / \partial a`) and for forward-mode tangents.
    init_factor : float
        Glorot-uniform factor: weights are drawn from :math:`U(-r, r)` with
        :math:`r = \sqrt{\text{init\_factor} / (\text{fan\_in} + \text{fan\_out})}`
        (scikit-learn's ``_init_coef``: 2 for logistic, 6 otherwise).
    """

    function: Callable[[np.ndarray], None]
    derivative: Callable[[np.ndarray, np.ndarray], None]
    init_factor: float = 6.0


#: Hidden-layer activations by name. The output layer of an :class:`MLPModel` is always the
#: identity (it produces raw, link-space outputs).
ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(_identity, _identity_derivative),
    "logistic": Activation(_logistic, _logistic_derivative, init_factor=2.0),
    "tanh": Activation(_tanh, _tanh_derivative),
    "relu": Activation(_relu, _relu_derivative),
}


# ---------------------------------------------------------------------------------------------
# helpers


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` for 2-D float64 arrays, with a BLAS outer product.

    NumPy does not call BLAS when the inner dimension is 1 (an outer product, e.g. the first
    back-propagated delta of a single-output network, or the first layer for one feature) and
    is then about 8x slower than ``dgemm``. Falls back to ``np.matmul`` unless every operand
    is float64 and contiguous, so that ``dgemm`` copies nothing and writes into ``out``.
    """
    if (
        a.shape[1] == 1
        and a.flags.f_contiguous
        and b.flags.c_contiguous
        and out.flags.c_contiguous
        and a.dtype == b.dtype == out.dtype == np.float64
    ):
        # out.T (Fortran order) = b.T @ a.T; all three are contiguous, so nothing is copied.
        blas.dgemm(1.0, b.T, a.T, beta=0.0, c=out.T, overwrite_c=1)
        return out
    return np.matmul(a, b, out=out)


def _bias_tiles(intercepts: list[np.ndarray], rows: int) -> list[np.ndarray]:
    """Each bias repeated over ``rows`` rows, so adding it to a block is a same-shape add.

    Broadcasting a ``(width,)`` vector over a ``(rows, width)`` block runs NumPy's inner loop
    once per row and is about twice as slow as adding a contiguous block of the same shape.
    """
    return [np.broadcast_to(b, (rows, b.size)).copy() for b in intercepts]


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _check_theta(theta: np.ndarray, n_coef: int, cls_name: str) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (n_coef,):
        raise ValueError(
            f"{cls_name}: theta must have shape ({n_coef},); got an array of shape {theta.shape}."
        )
    return theta


def _as_design(
    X: object, n_features: int, cls_name: str
) -> DenseDesign | ShiftedDenseDesign | SparseDesign:
    """``X`` as a design: a design is used as it is, an array is wrapped (not copied)."""
    if isinstance(X, (DenseDesign, ShiftedDenseDesign, SparseDesign)):
        if X.shape[1] != n_features:
            raise ValueError(
                f"{cls_name}: the design has {X.shape[1]} features; expected {n_features}."
            )
        return X
    if sp.issparse(X):
        if X.ndim != 2 or X.shape[1] != n_features:
            raise ValueError(
                f"{cls_name}: X must have shape (n_samples, {n_features}); got {X.shape}."
            )
        return SparseDesign(X, np.zeros(n_features), np.ones(n_features))
    return DenseDesign(_check_X(X, n_features, cls_name))


def _check_X(X: np.ndarray, n_features: int, cls_name: str) -> np.ndarray:
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"{cls_name}: X must have shape (n_samples, {n_features}); got {X.shape}.")
    return X


def _check_out_like(
    arr: np.ndarray, n_samples: int, n_outputs: int, name: str, cls_name: str
) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape != (n_samples, n_outputs):
        raise ValueError(
            f"{cls_name}: {name} must have shape ({n_samples}, {n_outputs}) like the model's "
            f"output; got {arr.shape}."
        )
    return arr


def _check_out_init(out_init: np.ndarray, n_outputs: int, cls_name: str) -> np.ndarray:
    arr = np.asarray(out_init, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n_outputs, float(arr))
    if arr.shape != (n_outputs,):
        raise ValueError(f"{cls_name}: out_init must have shape ({n_outputs},); got {arr.shape}.")
    return arr


def _check_param(value: object, shape: tuple[int, ...], name: str, cls_name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{cls_name}: {name} must have shape {shape}; got {arr.shape}.")
    return arr


# ---------------------------------------------------------------------------------------------
# linear model


class _ConstantOutputs:
    """Support for ``constant_outputs``: output columns whose weights are fixed at zero.

    A constant output is its bias (intercept) alone. Its weights are not in ``theta``: the
    public ``theta`` is the full parameter vector (the layout in the module docstring) with
    those entries removed, so ``n_coef`` and ``n_weights`` count free parameters only. The
    methods expand ``theta`` to the full vector (zeros inserted) on entry and shrink
    gradients and Gauss-Newton matrices on exit; ``unpack`` returns the full arrays (zero
    weights for constant outputs) and ``pack`` requires those weights to be zero.
    """

    n_outputs: int
    n_coef: int
    n_weights: int

    def _init_constant_outputs(
        self, constant_outputs: object, weight_output: np.ndarray, n_full_coef: int
    ) -> None:
        """Set ``constant_outputs``, ``n_weights`` and ``n_coef``.

        ``weight_output[i]`` is the output column that full weight ``i`` feeds directly, or
        -1 (hidden-layer weights); the full weights are ``theta_full[:len(weight_output)]``.
        """
        name = type(self).__name__
        if constant_outputs is None:
            mask = np.zeros(self.n_outputs, dtype=bool)
        else:
            mask = np.asarray(constant_outputs)
            if mask.dtype != bool or mask.shape != (self.n_outputs,):
                raise ValueError(
                    f"{name}: constant_outputs must be None or a boolean array of shape "
                    f"({self.n_outputs},), one entry per output; got {constant_outputs!r}."
                )
            mask = mask.copy()
        self.constant_outputs = mask
        drop = np.zeros(n_full_coef, dtype=bool)
        drop[: weight_output.size] = np.append(mask, False)[weight_output]
        self._full_coef = n_full_coef
        self._full_weights = weight_output.size
        self._drop = np.flatnonzero(drop)
        self._keep = np.flatnonzero(~drop) if self._drop.size else None
        self.n_weights = self._full_weights - self._drop.size
        self.n_coef = n_full_coef - self._drop.size

    def _constant_outputs_repr(self) -> str:
        if not self.constant_outputs.any():
            return ""
        return f", constant_outputs={self.constant_outputs.tolist()}"

    def _expand(self, theta: np.ndarray) -> np.ndarray:
        """Check the free ``theta`` and return the full vector (itself if nothing is fixed)."""
        theta = _check_theta(theta, self.n_coef, type(self).__name__)
        if self._keep is None:
            return theta
        full = np.zeros(self._full_coef)
        full[self._keep] = theta
        return full

    def _shrink(self, full: np.ndarray) -> np.ndarray:
        """The free entries of a full-layout vector (a gradient, a starting point)."""
        return full if self._keep is None else full[self._keep]

    def _shrink_packed(self, full: np.ndarray) -> np.ndarray:
        if self._drop.size and np.any(full[self._drop] != 0.0):
            raise ValueError(
                f"{type(self).__name__}: the weights of the constant outputs "
                f"{np.flatnonzero(self.constant_outputs).tolist()} must be 0."
            )
        return self._shrink(full)


class LinearModel(_ConstantOutputs):
    r"""Linear model: :math:`\text{out} = X\,\text{coef}^\top + \text{intercept}`.

    Each raw output ``k`` is an affine function of the features,

    .. math::

        \text{out}_{ik} = \sum_j X_{ij}\,\text{coef}_{kj} + \text{intercept}_k .

    Parameters
    ----------
    n_features : int
        Number of input features (columns of ``X``).
    n_outputs : int
        Number of raw outputs (columns of ``out``).
    fit_intercept : bool, default=True
        Whether ``theta`` holds an intercept per output. If False the intercept is fixed at 0.
    constant_outputs : array-like of bool of shape (n_outputs,), default=None
        Outputs that are their intercept alone: their rows of ``coef`` are fixed at 0 and are
        not in ``theta`` (a loss's ``constant_params``, e.g. a constant dispersion). Needs
        ``fit_intercept=True``. None: no constant output.

    Attributes
    ----------
    n_coef : int
        Length of ``theta``: ``n_weights`` plus ``n_outputs`` if ``fit_intercept``.
    n_weights : int
        ``n_outputs * n_features`` less ``n_features`` per constant output:
        ``theta[:n_weights]`` is ``coef`` without its constant rows, raveled in C order (the
        penalised part); the intercept, if any, is ``theta[n_weights:]``.

    Notes
    -----
    With :math:`G` = ``grad_out`` and a direction :math:`v = (V, v_b)` in ``theta``-layout,

    .. math::

        \frac{\partial}{\partial\,\text{coef}} \sum G \odot \text{out} = G^\top X, \qquad
        \frac{\partial}{\partial\,\text{intercept}} \sum G \odot \text{out} = \mathbf 1^\top G,
        \qquad J v = X V^\top + \mathbf 1 v_b^\top .
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        fit_intercept: bool = True,
        constant_outputs: object = None,
    ) -> None:
        self.n_features = _check_positive_int(n_features, "n_features")
        self.n_outputs = _check_positive_int(n_outputs, "n_outputs")
        self.fit_intercept = bool(fit_intercept)
        n_full_weights = self.n_outputs * self.n_features
        self._init_constant_outputs(
            constant_outputs,
            np.repeat(np.arange(self.n_outputs), self.n_features),
            n_full_weights + (self.n_outputs if self.fit_intercept else 0),
        )
        if self.constant_outputs.any() and not self.fit_intercept:
            raise ValueError(
                "LinearModel: constant outputs are intercepts alone and need "
                "fit_intercept=True (without an intercept they would be identically 0)."
            )

    def __repr__(self) -> str:
        return (
            f"LinearModel(n_features={self.n_features}, n_outputs={self.n_outputs}, "
            f"fit_intercept={self.fit_intercept}{self._constant_outputs_repr()})"
        )

    def _coef(self, theta: np.ndarray) -> np.ndarray:
        """View of ``coef`` (n_outputs, n_features) inside a full-layout ``theta``."""
        return theta[: self._full_weights].reshape(self.n_outputs, self.n_features)

    def init_params(
        self, random_state: int | np.random.RandomState | None, out_init: np.ndarray
    ) -> np.ndarray:
        """Return the starting ``theta``: zero coefficients, intercept ``out_init``.

        Parameters
        ----------
        random_state : int, RandomState instance or None
            Ignored (the start is deterministic); accepted for protocol compatibility.
        out_init : array-like of shape (n_outputs,)
            Raw outputs of the best constant model (the loss's ``init_raw``); becomes the
            intercept. A scalar is broadcast. Ignored if ``fit_intercept=False``.

        Returns
        -------
        theta : ndarray of shape (n_coef,)
            Starting parameters; with them ``out`` equals ``out_init`` on every row.
        """
        out_init = _check_out_init(out_init, self.n_outputs, type(self).__name__)
        theta = np.zeros(self._full_coef)
        if self.fit_intercept:
            theta[self._full_weights :] = out_init
        return self._shrink(theta)

    def forward(
        self, theta: np.ndarray, X: np.ndarray, *, need_cache: bool = True
    ) -> tuple[np.ndarray, object]:
        """Compute the raw outputs ``out = X @ coef.T + intercept``.

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            Parameters in the layout described in the module docstring.
        X : ndarray of shape (n_samples, n_features)
            Input data, float64.
        need_cache : bool, default=True
            Whether to return what ``backward`` and ``jvp`` need.

        Returns
        -------
        out : ndarray of shape (n_samples, n_outputs)
            Raw outputs (a new array).
        cache : object
            Opaque data for ``backward``/``jvp`` (a reference to ``X``), or None if
            ``need_cache=False``.
        """
        theta = self._expand(theta)
        design = _as_design(X, self.n_features, type(self).__name__)
        bias = theta[self._full_weights :] if self.fit_intercept else None
        out = design.matmat(self._coef(theta), bias)
        return out, (design if need_cache else None)

    def backward(self, theta: np.ndarray, cache: object, grad_out: np.ndarray) -> np.ndarray:
        r"""Back-propagate ``grad_out`` into the gradient with respect to ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            The parameters ``forward`` was called with (unused by the linear model).
        cache : object
            The cache returned by ``forward(theta, X)``.
        grad_out : ndarray of shape (n_samples, n_outputs)
            :math:`G`, typically the derivative of the objective with respect to ``out``.

        Returns
        -------
        grad_theta : ndarray of shape (n_coef,)
            :math:`\nabla_\theta \sum_{ik} G_{ik}\,\text{out}_{ik}`: ``[(G.T @ X).ravel(),
            G.sum(axis=0)]``.
        """
        design = cache
        grad_out = _check_out_like(
            grad_out, design.shape[0], self.n_outputs, "grad_out", type(self).__name__
        )
        grad = np.empty(self._full_coef)
        sums = None
        if self.fit_intercept:  # (also the shift's term of an implicitly standardised design)
            sums = grad_out.sum(axis=0, out=grad[self._full_weights :])
        design.rmatmat(grad_out, out=self._coef(grad), column_sums=sums)
        return self._shrink(grad)

    def jvp(self, theta: np.ndarray, cache: object, v: np.ndarray) -> np.ndarray:
        r"""Jacobian-vector product: the derivative of ``out`` along the direction ``v``.

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            The parameters ``forward`` was called with (unused by the linear model).
        cache : object
            The cache returned by ``forward(theta, X)``.
        v : ndarray of shape (n_coef,)
            Direction in parameter space, in ``theta``'s layout.

        Returns
        -------
        d_out : ndarray of shape (n_samples, n_outputs)
            :math:`J v = X V^\top + v_b`, where :math:`V` and :math:`v_b` are the coef and
            intercept parts of ``v``.
        """
        design = cache
        v = self._expand(v)
        d_out = design.matmat(self._coef(v))
        if self.fit_intercept:
            d_out += v[self._full_weights :]
        return d_out

    def gauss_newton(self, theta: np.ndarray, cache: object, d: np.ndarray) -> np.ndarray:
        r"""The matrix :math:`J^\top D J` for per-output curvatures or per-row Hessian blocks.

        :math:`J` is the Jacobian of ``out`` with respect to ``theta``. With ``d`` of shape
        ``(n, n_outputs)`` (:math:`D` diagonal per row) output ``k`` depends only on row ``k``
        of ``coef`` and intercept ``k``, so the matrix is block-diagonal with blocks
        :math:`[X, 1]^\top \operatorname{diag}(d_{:,k}) [X, 1]`. With ``d`` of shape
        ``(n, n_outputs, n_outputs)`` (a symmetric block per row, e.g. the negative
        binomial's exact Hessian in its two parameters) block :math:`(k, l)` is
        :math:`[X, 1]^\top \operatorname{diag}(d_{:,k,l}) [X, 1]`. With ``d`` the second
        derivatives of a loss in ``out`` this is the exact Hessian of the loss in ``theta``;
        Newton solvers factorise it.

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            The parameters ``forward`` was called with (unused).
        cache : object
            The cache returned by ``forward``.
        d : ndarray of shape (n_samples, n_outputs) or (n_samples, n_outputs, n_outputs)
            Curvatures; signed entries are allowed (a signed weight's product is the
            difference of the products of its positive and negative parts).

        Returns
        -------
        ndarray of shape (n_coef, n_coef)
        """
        design = cache
        p, w = self.n_features, self._full_weights
        H = np.zeros((self._full_coef, self._full_coef))
        blocks = d.ndim == 3
        const = self.constant_outputs
        for k in range(self.n_outputs):
            for m in range(k, self.n_outputs) if blocks else (k,):
                dkm = np.ascontiguousarray(d[:, k, m] if blocks else d[:, k])
                if not dkm.any():
                    continue
                rk, rm = slice(k * p, (k + 1) * p), slice(m * p, (m + 1) * p)
                if not (const[k] or const[m]):  # (a constant output's weights are dropped)
                    H[rk, rm] = _signed_sandwich(design, dkm)
                    H[rm, rk] = H[rk, rm].T
                if self.fit_intercept:
                    xd = design.rmatvec(dkm)
                    H[w + m, rk] = H[rk, w + m] = xd
                    H[w + k, rm] = H[rm, w + k] = xd
                    H[w + k, w + m] = H[w + m, w + k] = dkm.sum()
        return H if self._keep is None else H[np.ix_(self._keep, self._keep)]

    def gauss_newton_solve(
        self, cache: object, d: np.ndarray, ridge: np.ndarray, g: np.ndarray
    ) -> np.ndarray | None:
        r"""Solve the penalised Gauss-Newton system of a wide design by the Woodbury identity.

        The system is :math:`(J^\top D J + \operatorname{diag}(\rho))\,x = g` (``d`` as
        for :meth:`gauss_newton`), solved without forming its matrix when the design has
        fewer rows than features. Split :math:`x` into the weights :math:`x_k` of each output
        with weights and the intercepts :math:`x_U` (a constant output's intercept among
        them). Where no two outputs with weights are coupled (``d`` diagonal, or coupled only
        to constant outputs: the negative binomial's constant dispersion), the matrix is

        .. math::

            \begin{pmatrix} A_1 & & C_1 \\ & \ddots & \vdots \\
            C_1^\top & \cdots & H_{UU} \end{pmatrix}, \quad
            A_k = R_k + X^\top S_k^2 X, \quad C_{k,l} = X^\top d_{:,k,l}, \quad
            (H_{UU})_{k,l} = \textstyle\sum_i d_{ikl},

        with :math:`R_k = \operatorname{diag}(\rho_k)` and
        :math:`S_k = \operatorname{diag}(\sqrt{d_{:,k,k}})`. By the Woodbury identity

        .. math::

            A_k^{-1} = R_k^{-1} - R_k^{-1} X^\top S_k \,(I_n + S_k X R_k^{-1} X^\top S_k)^{-1}
            S_k X R_k^{-1},

        an n-by-n Cholesky factorisation (positive definite for any :math:`d_{:,k,k} \ge 0`),
        and the intercepts solve the Schur complement
        :math:`(H_{UU} - \sum_k C_k^\top A_k^{-1} C_k)\, x_U
        = g_U - \sum_k C_k^\top A_k^{-1} g_k`; then
        :math:`x_k = A_k^{-1}(g_k - C_k x_U)`. The cost is :math:`O(n^2 p)` per output where
        forming and factorising the p-by-p blocks costs :math:`O(n p^2 + p^3)`.

        Parameters
        ----------
        cache : object
            The cache returned by ``forward`` (the design).
        d : ndarray of shape (n_samples, n_outputs) or (n_samples, n_outputs, n_outputs)
            Curvatures, as for :meth:`gauss_newton`.
        ridge : ndarray of shape (n_weights,)
            The penalty's curvature on the free weights.
        g : ndarray of shape (n_coef,)
            Right-hand side.

        Returns
        -------
        ndarray of shape (n_coef,) or None
            The solution; None where the identity does not apply (at least as many rows as
            features, a weight without penalty, a negative curvature on an output with
            weights, two outputs with weights coupled, a design too large to hold densely, or
            a numerically singular Schur complement): the caller forms the matrix instead. An
            intercept without curvature (all of its ``d`` zero) gets no step, as the
            minimum-norm solution would give it. An indefinite Schur complement (the exact
            Hessian of a non-convex loss) has its eigenvalues replaced by their magnitudes,
            which makes the matrix positive definite and the solution a descent direction.
        """
        design = cache
        n, p = design.shape
        if n >= p or n * p > _WOODBURY_MAX_ENTRIES or not np.all(ridge > 0):
            return None
        if d.ndim == 2:
            blocks = np.zeros((n, self.n_outputs, self.n_outputs))
            blocks[:, np.arange(self.n_outputs), np.arange(self.n_outputs)] = d
        else:
            blocks = d
        weighted = np.flatnonzero(~self.constant_outputs)
        coupled = blocks[:, weighted][:, :, weighted]
        if np.any(coupled[:, ~np.eye(weighted.size, dtype=bool)] != 0.0):
            return None  # outputs with weights coupled to each other: no block structure
        Z = design.toarray()
        rho = np.zeros(self._full_weights)  # zero on the constant outputs' absent weights
        if self._keep is None:
            rho[:] = ridge
        else:
            rho[self._keep[self._keep < self._full_weights]] = ridge
        gf = self._expand(np.asarray(g, dtype=np.float64))
        x = np.zeros(self._full_coef)
        w = self._full_weights
        a_inv = {}  # per output with weights: V -> A_k^{-1} V
        for k in weighted:
            dk = blocks[:, k, k]
            if np.any(dk < 0):
                return None
            rows = slice(k * p, (k + 1) * p)
            rinv = 1.0 / rho[rows]
            SZ = np.sqrt(dk)[:, np.newaxis] * Z
            SZR = SZ * rinv
            M = SZR @ SZ.T
            M[np.diag_indices_from(M)] += 1.0
            try:  # positive definite in exact arithmetic; not always in float64 (d of 1e22)
                factor = scipy.linalg.cho_factor(M, check_finite=False)
            except np.linalg.LinAlgError:
                return None

            def solve(V: np.ndarray, SZ=SZ, SZR=SZR, rinv=rinv, factor=factor) -> np.ndarray:
                RV = rinv[:, np.newaxis] * V
                return RV - SZR.T @ scipy.linalg.cho_solve(factor, SZ @ RV, check_finite=False)

            a_inv[k] = solve
        if not self.fit_intercept:
            for k in weighted:
                rows = slice(k * p, (k + 1) * p)
                x[rows] = a_inv[k](gf[rows, np.newaxis])[:, 0]
            return self._shrink(x)
        H_uu = blocks.sum(axis=0)
        rhs = gf[w:].copy()
        solved = {}
        for k in weighted:
            rows = slice(k * p, (k + 1) * p)
            C = Z.T @ blocks[:, k, :]  # (p, n_outputs): the weights of k against intercepts
            sol = a_inv[k](np.column_stack([gf[rows], C]))
            solved[k] = (sol[:, 0], sol[:, 1:])
            H_uu -= C.T @ sol[:, 1:]
            rhs -= C.T @ sol[:, 0]
        # intercepts without curvature (a variance at its floor) get no step
        # (l1's smoothed curvature can vanish on every row: no intercept moves; it had failed
        # on an empty eigenvalue array, an l1 elastic net on 15 rows by 30 columns)
        live = np.flatnonzero(np.diag(blocks.sum(axis=0)) > 0)
        x_u = np.zeros(self.n_outputs)
        if live.size:
            S = 0.5 * (H_uu[np.ix_(live, live)] + H_uu[np.ix_(live, live)].T)
            scale = np.sqrt(np.abs(np.diag(blocks.sum(axis=0))[live]))
            eig, vec = np.linalg.eigh(S / np.outer(scale, scale))
            top = float(np.max(np.abs(eig)))
            if eig[0] < -_WOODBURY_MIN_SCHUR * top:
                # indefinite (a non-convex loss away from its optimum): the eigenvalues by
                # their magnitudes, as _solver._newton_direction does with a formed Hessian
                eig = np.maximum(np.abs(eig), 1e-8 * top)
            elif eig[0] <= _WOODBURY_MIN_SCHUR * top:  # numerically singular
                return None
            x_u[live] = vec @ ((vec.T @ (rhs[live] / scale)) / eig) / scale
        x[w:] = x_u
        for k in weighted:
            rows = slice(k * p, (k + 1) * p)
            x[rows] = solved[k][0] - solved[k][1] @ x_u
        return self._shrink(x)

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Split ``theta`` into named arrays (copies, safe to store as fitted attributes).

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            Parameters.

        Returns
        -------
        params : dict
            ``"coef"``: ndarray of shape (n_outputs, n_features); ``"intercept"``: ndarray of
            shape (n_outputs,), zeros if ``fit_intercept=False``.
        """
        theta = self._expand(theta)
        coef = self._coef(theta).copy()
        if self.fit_intercept:
            intercept = theta[self._full_weights :].copy()
        else:
            intercept = np.zeros(self.n_outputs)
        return {"coef": coef, "intercept": intercept}

    def pack(self, params: dict) -> np.ndarray:
        """Build ``theta`` from named arrays; the inverse of :meth:`unpack`.

        Parameters
        ----------
        params : dict
            ``"coef"``: array-like of shape (n_outputs, n_features), or (n_features,) when
            ``n_outputs == 1``; ``"intercept"`` (optional, default 0): array-like of shape
            (n_outputs,), or a scalar when ``n_outputs == 1``.

        Returns
        -------
        theta : ndarray of shape (n_coef,)
            A new parameter vector.

        Raises
        ------
        ValueError
            If a shape does not match, or a non-zero intercept is given to a model with
            ``fit_intercept=False``.
        """
        name = type(self).__name__
        coef = np.asarray(params["coef"], dtype=np.float64)
        if self.n_outputs == 1 and coef.ndim == 1:
            coef = coef[np.newaxis, :]
        coef = _check_param(coef, (self.n_outputs, self.n_features), "coef", name)
        intercept = np.asarray(params.get("intercept", 0.0), dtype=np.float64)
        if intercept.ndim == 0 and self.n_outputs == 1:
            intercept = intercept.reshape(1)
        if intercept.ndim == 0 and float(intercept) == 0.0:
            intercept = np.zeros(self.n_outputs)
        intercept = _check_param(intercept, (self.n_outputs,), "intercept", name)
        theta = np.empty(self._full_coef)
        theta[: self._full_weights] = coef.ravel()
        if self.fit_intercept:
            theta[self._full_weights :] = intercept
        elif np.any(intercept != 0.0):
            raise ValueError(f"{name}: a non-zero intercept needs fit_intercept=True.")
        return self._shrink_packed(theta)


# ---------------------------------------------------------------------------------------------
# multi-layer perceptron


class _MLPCache(NamedTuple):
    """What :meth:`MLPModel.forward` keeps for ``backward`` and ``jvp``."""

    X: np.ndarray
    hidden: list[np.ndarray]  # post-activation outputs a_1..a_L of the hidden layers
    workspace: MLPWorkspace | None  # where ``hidden`` lives, or None: the cache owns it


class MLPWorkspace:
    r"""Buffers that :class:`MLPModel`'s passes over one ``X`` write into, for a whole fit.

    An :class:`~sklik._objective.Objective` creates one (``model.workspace(X)``) on its first
    value-and-gradient evaluation and keeps it for as long as it lives, i.e. for the duration
    of a fit; it is released with the objective. ``forward(theta, X, workspace=ws)`` then
    writes the hidden activations into ``ws`` instead of allocating them (freshly allocated
    large arrays are page-faulted in on every call, which costs as much as the arithmetic:
    3 of 9 ms for a (50, 50) network on 10^4 samples), and ``backward`` takes its per-block
    scratch from it.

    Lifetime rule: **a cache returned by** ``forward(..., workspace=ws)`` **is valid until the
    next** ``forward`` **with the same** ``ws``; afterwards it refers to the later call's
    activations. A workspace serves one ``X`` (the same object) and one thread at a time.
    Without a workspace (the default) every cache owns its arrays, stays valid for as long as
    it is referenced, and every method is re-entrant.

    Memory: ``n_samples * sum(hidden_layer_sizes)`` floats for the activations, plus one
    block of rows of scratch per hidden layer and one parameter-sized vector.

    Parameters
    ----------
    model : MLPModel
        The model whose passes use the workspace.
    X : ndarray of shape (n_samples, n_features)
        The input every ``forward`` with this workspace must be called with.
    """

    def __init__(self, model: MLPModel, X: np.ndarray) -> None:
        n = X.shape[0]
        rows = model._block_rows(n)
        self.X = X
        self.layer_units = list(model.layer_units)
        self.hidden = [np.empty((n, h)) for h in model.hidden_layer_sizes]
        self.deltas = [np.empty((rows, h)) for h in model.hidden_layer_sizes]
        self.ones = np.ones(rows)
        self.part = np.empty(model._full_coef)  # the full layout, constant outputs included

    def check(self, model: MLPModel, X: np.ndarray) -> None:
        """Raise a ValueError unless the workspace was made for ``model``'s layout and ``X``."""
        if self.X is not X or self.layer_units != list(model.layer_units):
            raise ValueError(
                "MLPModel: this workspace was made for another X or network; create one with "
                "model.workspace(X) for the X passed to forward."
            )


class MLPModel(_ConstantOutputs):
    r"""Fully connected feed-forward network with an identity output layer.

    With :math:`a_0 = X` and :math:`L` hidden layers,

    .. math::

        z_l = a_{l-1} W_{l-1} + b_{l-1}, \quad a_l = f(z_l) \quad (l = 1, \dots, L), \qquad
        \text{out} = a_L W_L + b_L ,

    where :math:`f` is the hidden activation, :math:`W_l` has shape
    ``(layer_units[l], layer_units[l + 1])`` and the output layer is the identity, so ``out``
    is the raw (link-space) prediction. This is scikit-learn's ``MLPRegressor`` network.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_outputs : int
        Number of raw outputs.
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Width of each hidden layer. An empty sequence gives a linear model (no hidden layer).
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Hidden-layer activation; any key of :data:`ACTIVATIONS`.
    constant_outputs : array-like of bool of shape (n_outputs,), default=None
        Outputs that are their output bias alone: their columns of ``W_L`` are fixed at 0 and
        are not in ``theta``. None: no constant output.

    Attributes
    ----------
    hidden_layer_sizes : tuple of int
        The hidden widths.
    layer_units : list of int
        ``[n_features, *hidden_layer_sizes, n_outputs]``.
    n_weights : int
        :math:`\sum_l` ``layer_units[l] * layer_units[l + 1]`` less ``layer_units[-2]`` per
        constant output; ``theta[:n_weights]`` holds ``W_0, ..., W_L`` raveled in C order
        (without the constant columns of ``W_L``).
    n_coef : int
        ``n_weights`` plus the number of biases, ``sum(layer_units[1:])``.

    Notes
    -----
    Back-propagation, with :math:`\delta_{L+1} = G` (``grad_out``):

    .. math::

        \nabla_{W_l} = a_l^\top \delta_{l+1}, \quad \nabla_{b_l} = \mathbf 1^\top \delta_{l+1},
        \quad \delta_l = (\delta_{l+1} W_l^\top) \odot f'(z_l) ,

    for :math:`l = L, \dots, 0`; :math:`\delta_0` (with respect to ``X``) is never formed.
    Forward mode (``jvp``), for a direction :math:`(\dot W_l, \dot b_l)` and :math:`\dot a_0 = 0`:

    .. math::

        \dot z_{l+1} = \dot a_l W_l + a_l \dot W_l + \dot b_l, \quad
        \dot a_{l+1} = f'(z_{l+1}) \odot \dot z_{l+1}, \qquad J v = \dot z_{L+1} .

    Samples are processed in blocks of rows so that per-block intermediates stay in cache;
    the result does not depend on the block size up to floating-point summation order.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden_layer_sizes: int | Sequence[int] = (100,),
        activation: str = "relu",
        constant_outputs: object = None,
    ) -> None:
        self.n_features = _check_positive_int(n_features, "n_features")
        self.n_outputs = _check_positive_int(n_outputs, "n_outputs")
        if isinstance(hidden_layer_sizes, numbers.Integral):
            hidden_layer_sizes = (hidden_layer_sizes,)
        self.hidden_layer_sizes = tuple(
            _check_positive_int(h, "each hidden layer size") for h in hidden_layer_sizes
        )
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}."
            )
        self.activation = activation
        self._act = ACTIVATIONS[activation]
        self.layer_units = [self.n_features, *self.hidden_layer_sizes, self.n_outputs]
        self.n_layers = len(self.layer_units)

        # (start, stop, shape) of every W_l, then (start, stop) of every b_l, in theta.
        self._w_index: list[tuple[int, int, tuple[int, int]]] = []
        self._b_index: list[tuple[int, int]] = []
        start = 0
        for fan_in, fan_out in zip(self.layer_units[:-1], self.layer_units[1:], strict=True):
            self._w_index.append((start, start + fan_in * fan_out, (fan_in, fan_out)))
            start += fan_in * fan_out
        n_full_weights = start
        for fan_out in self.layer_units[1:]:
            self._b_index.append((start, start + fan_out))
            start += fan_out
        # hidden weights feed no output directly (-1); W_L's entry (i, k) feeds output k
        weight_output = np.full(n_full_weights, -1)
        fan_in = self.layer_units[-2]
        weight_output[n_full_weights - fan_in * self.n_outputs :] = np.tile(
            np.arange(self.n_outputs), fan_in
        )
        self._init_constant_outputs(constant_outputs, weight_output, start)

    def __repr__(self) -> str:
        return (
            f"MLPModel(n_features={self.n_features}, n_outputs={self.n_outputs}, "
            f"hidden_layer_sizes={self.hidden_layer_sizes}, activation={self.activation!r}"
            f"{self._constant_outputs_repr()})"
        )

    def _views(self, theta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Views ``W_0..W_L`` and ``b_0..b_L`` into ``theta`` (writes go to ``theta``)."""
        coefs = [theta[s:e].reshape(shape) for s, e, shape in self._w_index]
        intercepts = [theta[s:e] for s, e in self._b_index]
        return coefs, intercepts

    def _block_rows(self, n_samples: int) -> int:
        return max(1, min(n_samples, _BLOCK_ELEMENTS // sum(self.layer_units[1:])))

    def init_params(
        self, random_state: int | np.random.RandomState | None, out_init: np.ndarray
    ) -> np.ndarray:
        r"""Return a Glorot-uniform starting ``theta``, with the output bias at ``out_init``.

        As scikit-learn's ``MLPRegressor._init_coef``: for each layer in turn, ``W_l`` and then
        ``b_l`` are drawn from :math:`U(-r_l, r_l)`,
        :math:`r_l = \sqrt{c / (\text{fan\_in} + \text{fan\_out})}` with :math:`c` = 2 for the
        logistic activation and 6 otherwise, from
        ``sklearn.utils.check_random_state(random_state)`` in the same order and with the
        same calls as scikit-learn, so all weights and hidden biases equal those of an
        ``MLPRegressor`` with the same ``random_state``. The output bias ``b_L`` is still drawn
        (to keep the random stream aligned) but then replaced by ``out_init``, so that the
        initial network predicts roughly the loss's best constant.

        Parameters
        ----------
        random_state : int, RandomState instance or None
            Seed or generator; an instance is advanced, None uses NumPy's global generator.
        out_init : array-like of shape (n_outputs,)
            Raw outputs of the best constant model (the loss's ``init_raw``); becomes
            ``b_L``. A scalar is broadcast.

        Returns
        -------
        theta : ndarray of shape (n_coef,)
            Starting parameters.
        """
        out_init = _check_out_init(out_init, self.n_outputs, type(self).__name__)
        rng = check_random_state(random_state)
        theta = np.empty(self._full_coef)
        coefs, intercepts = self._views(theta)
        factor = self._act.init_factor
        for W, b in zip(coefs, intercepts, strict=True):
            fan_in, fan_out = W.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            W[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
            b[...] = rng.uniform(-bound, bound, fan_out)
        intercepts[-1][...] = out_init
        return self._shrink(theta)

    def workspace(self, X: np.ndarray) -> MLPWorkspace:
        """Buffers for the passes over ``X`` during a fit; see :class:`MLPWorkspace`.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            The input that ``forward`` will be called with (the same object).

        Returns
        -------
        MLPWorkspace
        """
        return MLPWorkspace(self, _check_X(X, self.n_features, type(self).__name__))

    def forward(
        self,
        theta: np.ndarray,
        X: np.ndarray,
        *,
        need_cache: bool = True,
        workspace: MLPWorkspace | None = None,
    ) -> tuple[np.ndarray, object]:
        """Compute the raw outputs of the network.

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            Parameters in the layout described in the module docstring.
        X : ndarray of shape (n_samples, n_features)
            Input data, float64.
        need_cache : bool, default=True
            Whether to keep the hidden activations for ``backward``/``jvp``. Without the cache
            only one block of rows per hidden layer is kept in memory (prediction).
        workspace : MLPWorkspace, default=None
            Buffers from :meth:`workspace` (made for this ``X``) that the hidden activations
            are written into; the cache is then valid until the next ``forward`` with the
            same workspace (see :class:`MLPWorkspace`). None: the cache owns newly allocated
            arrays.

        Returns
        -------
        out : ndarray of shape (n_samples, n_outputs)
            Raw outputs (a new array).
        cache : object
            Opaque data for ``backward``/``jvp`` (``X`` and every hidden layer's activations,
            ``n_samples * sum(hidden_layer_sizes)`` floats), or None if ``need_cache=False``.
        """
        theta = self._expand(theta)
        X = _check_X(X, self.n_features, type(self).__name__)
        coefs, intercepts = self._views(theta)
        act = self._act.function
        n = X.shape[0]
        rows = self._block_rows(n)
        if not need_cache:
            workspace = None  # prediction keeps one block per layer, no workspace needed
        if workspace is not None:
            workspace.check(self, X)
            hidden = workspace.hidden
        elif need_cache:
            hidden = [np.empty((n, h)) for h in self.hidden_layer_sizes]
        else:
            hidden = [np.empty((rows, h)) for h in self.hidden_layer_sizes]
        out = np.empty((n, self.n_outputs))
        bias = _bias_tiles(intercepts, rows)
        n_hidden = len(hidden)
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            m = stop - start
            a = X[start:stop]
            for i in range(n_hidden):
                z = hidden[i][start:stop] if need_cache else hidden[i][:m]
                _matmul(a, coefs[i], out=z)
                z += bias[i][:m]
                act(z)
                a = z
            o = out[start:stop]
            _matmul(a, coefs[-1], out=o)
            o += bias[-1][:m]
        return out, (_MLPCache(X, hidden, workspace) if need_cache else None)

    def backward(self, theta: np.ndarray, cache: object, grad_out: np.ndarray) -> np.ndarray:
        r"""Back-propagate ``grad_out`` into the gradient with respect to ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            The parameters ``forward`` was called with.
        cache : object
            The cache returned by ``forward(theta, X)``.
        grad_out : ndarray of shape (n_samples, n_outputs)
            :math:`G`, typically the derivative of the objective with respect to ``out``.

        Returns
        -------
        grad_theta : ndarray of shape (n_coef,)
            :math:`\nabla_\theta \sum_{ik} G_{ik}\,\text{out}_{ik}` in ``theta``'s layout (see
            the class Notes for the recursion).
        """
        theta = self._expand(theta)
        X, hidden, ws = cache
        n = X.shape[0]
        grad_out = np.ascontiguousarray(
            _check_out_like(grad_out, n, self.n_outputs, "grad_out", type(self).__name__)
        )
        coefs, _ = self._views(theta)
        deriv = self._act.derivative
        rows = self._block_rows(n)
        grad = np.zeros(self._full_coef)
        # With several blocks, each block's gradient goes to `part` and is added into `grad`.
        if ws is None:  # scratch of its own: calls on one cache stay independent
            ones = np.ones(rows)
            deltas = [np.empty((rows, h)) for h in self.hidden_layer_sizes]
            part = grad if n <= rows else np.empty(self._full_coef)
        else:
            ones, deltas, part = ws.ones, ws.deltas, grad if n <= rows else ws.part
        p_coefs, p_intercepts = self._views(part)
        n_hidden = len(hidden)
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            d = grad_out[start:stop]
            for i in range(n_hidden, -1, -1):
                a = hidden[i - 1][start:stop] if i else X[start:stop]
                np.matmul(a.T, d, out=p_coefs[i])
                np.matmul(ones[: stop - start], d, out=p_intercepts[i])
                if i:
                    d_prev = deltas[i - 1][: stop - start]
                    _matmul(d, coefs[i].T, out=d_prev)
                    deriv(a, d_prev)
                    d = d_prev
            if part is not grad:
                grad += part
        return self._shrink(grad)

    def jvp(self, theta: np.ndarray, cache: object, v: np.ndarray) -> np.ndarray:
        r"""Jacobian-vector product: the derivative of ``out`` along the direction ``v``.

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            The parameters ``forward`` was called with.
        cache : object
            The cache returned by ``forward(theta, X)``.
        v : ndarray of shape (n_coef,)
            Direction in parameter space, in ``theta``'s layout.

        Returns
        -------
        d_out : ndarray of shape (n_samples, n_outputs)
            :math:`J v`, computed in forward mode (see the class Notes).
        """
        theta = self._expand(theta)
        v = self._expand(v)
        X, hidden, _ = cache
        n = X.shape[0]
        coefs, _ = self._views(theta)
        d_coefs, d_intercepts = self._views(v)
        deriv = self._act.derivative
        rows = self._block_rows(n)
        dz_buf = [np.empty((rows, h)) for h in self.hidden_layer_sizes]
        tmp_buf = [np.empty((rows, h)) for h in self.layer_units[2:]]
        d_out = np.empty((n, self.n_outputs))
        d_bias = _bias_tiles(d_intercepts, rows)
        n_hidden = len(hidden)
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            m = stop - start
            a = X[start:stop]
            da = None
            for i in range(n_hidden + 1):
                dz = dz_buf[i][:m] if i < n_hidden else d_out[start:stop]
                _matmul(a, d_coefs[i], out=dz)
                dz += d_bias[i][:m]
                if da is not None:
                    t = tmp_buf[i - 1][:m]
                    _matmul(da, coefs[i], out=t)
                    dz += t
                if i < n_hidden:
                    a = hidden[i][start:stop]
                    deriv(a, dz)
                    da = dz
        return d_out

    def unpack(self, theta: np.ndarray) -> dict[str, list[np.ndarray]]:
        """Split ``theta`` into per-layer arrays (copies, safe to store as fitted attributes).

        Parameters
        ----------
        theta : ndarray of shape (n_coef,)
            Parameters.

        Returns
        -------
        params : dict
            ``"coefs"``: list of ``W_l``, ndarrays of shape (layer_units[l],
            layer_units[l + 1]); ``"intercepts"``: list of ``b_l``, ndarrays of shape
            (layer_units[l + 1],). These match ``MLPRegressor.coefs_`` and ``intercepts_``.
        """
        theta = self._expand(theta)
        coefs, intercepts = self._views(theta)
        return {
            "coefs": [W.copy() for W in coefs],
            "intercepts": [b.copy() for b in intercepts],
        }

    def pack(self, params: dict) -> np.ndarray:
        """Build ``theta`` from per-layer arrays; the inverse of :meth:`unpack`.

        Parameters
        ----------
        params : dict
            ``"coefs"`` and ``"intercepts"``: sequences of ``n_layers - 1`` array-likes with
            the shapes returned by :meth:`unpack` (e.g. an ``MLPRegressor``'s ``coefs_`` and
            ``intercepts_``).

        Returns
        -------
        theta : ndarray of shape (n_coef,)
            A new parameter vector.

        Raises
        ------
        ValueError
            If the number of layers or a shape does not match.
        """
        name = type(self).__name__
        coefs_in, intercepts_in = list(params["coefs"]), list(params["intercepts"])
        n_layers = self.n_layers - 1
        if len(coefs_in) != n_layers or len(intercepts_in) != n_layers:
            raise ValueError(
                f"{name}: expected {n_layers} coefs and intercepts; got {len(coefs_in)} and "
                f"{len(intercepts_in)}."
            )
        theta = np.empty(self._full_coef)
        coefs, intercepts = self._views(theta)
        for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
            W[...] = _check_param(coefs_in[i], W.shape, f"coefs[{i}]", name)
            b[...] = _check_param(intercepts_in[i], b.shape, f"intercepts[{i}]", name)
        return self._shrink_packed(theta)


#: Models by name; the estimators build one from its name and the tests run over all of them.
MODELS: dict[str, type] = {"linear": LinearModel, "mlp": MLPModel}
