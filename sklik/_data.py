r"""Training data: the one seam through which every fit sees its rows.

An estimator's ``fit`` (:mod:`sklik._estimators`) is a single flow: validate the input, build
the design, the objective, run a solver, store the result. Everything in that flow that touches
the rows themselves goes through a *training data* object, so the flow is the same whether the
rows live in one process (:class:`ArrayData`: NumPy, or SciPy sparse X) or in the chunks of a
dask collection (:class:`sklik._dask.DaskData`, imported only for dask input)::

    fit(X, y, sample_weight, offset)
      └─ data = ArrayData(...) | DaskData(...)       validation; n, K, weight total, y's units
           design, x_mean, x_scale = data.design(...)   standardised Z = (X - m) / s
           objective = data.objective(model, loss, design, ...)
                         ArrayData: sklik._objective.Objective over the design
                         DaskData: the same Objective per chunk, summed by a tree reduction
           data.least_squares / data.least_absolute_deviations   (closed-form solvers)
           sklik._solver.minimize(objective, ...)                (iterative solvers)
           data.residual_scale(...)                              (ML scale of the residuals)

Both implementations offer the attributes and methods of :class:`ArrayData`; only their
arithmetic over rows differs (in memory, or per chunk where the chunk lives).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from sklik import _inference, _solver
from sklik._design import gram_known, is_equal_weights, make_design, weighted_column_sums
from sklik._objective import Objective, normalised_weights
from sklik.losses import BaseLoss

__all__ = [
    "ArrayData",
    "magnitude",
    "minimise_constant",
    "offset_start",
    "positive_rows",
    "y_units",
]

# a spread at or below this fraction of its magnitude is rounding error (a constant y)
_ROUNDING = 16 * np.finfo(np.float64).eps


def _abs_max(Y: np.ndarray) -> np.ndarray:
    """The largest ``|y|`` of each column of ``Y`` (0 for no rows; no ``|Y|`` array)."""
    return np.maximum(Y.max(axis=0, initial=0.0), -Y.min(axis=0, initial=0.0))


def positive_rows(sample_weight: np.ndarray) -> np.ndarray | None:
    """The mask of the rows of positive weight, or None when every weight is positive.

    A row of weight 0 is no row at all (scikit-learn's convention: the fit equals the fit
    without it). It is dropped before anything is computed: its loss may overflow (a huge y,
    or a large x under a log link, once the coefficients move), and ``0 * inf`` is NaN in
    every weighted sum.
    """
    keep = sample_weight > 0
    return None if keep.all() else keep


def magnitude(y: np.ndarray) -> float:
    """The largest ``|y|``, or 1 for an all-zero target: the unit of a perfect fit's scale."""
    top = max(float(np.max(y)), -float(np.min(y))) if y.size else 0.0  # (no |y| array)
    return top if top > 0 else 1.0


def y_units(top: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Per target, the unit of an identity-link head: y's spread, or its magnitude.

    A constant y has a spread at rounding level of its magnitude: then its magnitude.
    """
    return np.where(spread > _ROUNDING * top, spread, top)


def offset_start(
    loss: BaseLoss,
    out_init: np.ndarray,
    shifted: np.ndarray,
    y_mean: np.ndarray,
    off_mean: np.ndarray,
    exp_offset: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    r"""The best constant raw outputs with an offset ``o_i`` on the mean head, or a start.

    ``out_init`` is the loss's best constant of ``y`` alone, ``shifted`` that of
    :math:`y - o` (``loss.init_raw(Y - offset)``), ``y_mean`` and ``off_mean`` the weighted
    means, ``exp_offset`` the pair :math:`(\log \sum_i c_i e^{o_i - M}, M)`. With an
    identity link (every such loss depends on :math:`x - y` only) the constant of
    :math:`y - o` is exact. With a log link the mean head is
    :math:`\log(\sum_i c_i y_i / \sum_i c_i e^{o_i})`, exact for the Poisson (where its
    score vanishes) and a start for the others (whose other heads keep ``out_init``'s).
    Shifting ``out_init``'s mean head by the mean offset, as a fallback where these are not
    finite, is not the best constant under a log link: with exposures over six decades its
    gradient was 16 000 times the best constant's, and so was the tolerance of a fit started
    there.
    """
    start = out_init.copy()
    start[0] -= off_mean
    if loss.link_name == "identity":
        best = shifted
    elif loss.link_name == "log":
        log_sum, top = exp_offset
        best = out_init.copy()
        with np.errstate(divide="ignore"):
            best[0] = np.log(np.maximum(y_mean, 1e-300)) - log_sum - top
    else:
        return start
    return np.where(np.isfinite(best), best, start)


def minimise_constant(
    start: np.ndarray, value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]]
) -> np.ndarray:
    """The constant raw outputs minimising a weighted mean loss, by L-BFGS-B from ``start``.

    ``value_and_grad(c)`` returns the weighted mean loss of the constant raw outputs ``c``
    (shape of ``start``) and its gradient (one pass over the rows: in memory, or over the
    chunks of a dask collection). A non-finite value is a rejected point. Returns ``start``
    if the minimiser ends anywhere not finite.
    """

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = value_and_grad(x.reshape(start.shape))
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            return math.inf, np.zeros(x.size)
        return value, np.asarray(grad, dtype=np.float64).ravel()

    res = scipy.optimize.minimize(
        fun, start.ravel(), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "maxiter": 200}
    )
    x = res.x.reshape(start.shape)
    return x if np.all(np.isfinite(x)) and fun(res.x)[0] <= fun(start.ravel())[0] else start


#: the rows a sampled rank test reads (at least; see ArrayData.rank_gram)
RANK_SAMPLE_ROWS = 1024


# A row sample represents the design's columns where each column's weighted mean square over
# it is within this fraction of the exact one (1: the design is standardised) ...
_SAMPLE_MEAN_SQUARE_RTOL = 0.15
# ... and the effective number of its rows in each column's information is at least this (the
# information's diagonal then within about 1 / sqrt of it, 10%; ordinary columns and counts
# have 250 to 500 in a sample of 2048 rows; a column that is 1 on 1% of the rows, 20)
_SAMPLE_MIN_ROWS = 100


def _sample_represents(sample: Any, weights: np.ndarray, loss: BaseLoss, raw: np.ndarray) -> bool:
    r"""Whether a row sample estimates the information of every column of the design.

    ``sample``: the design of every k-th row, ``weights`` their weights times k, ``raw`` their
    raw outputs. The columns of the standardised design :math:`Z` have weighted mean square 1
    over all rows (0 if constant); over a sample of :math:`m` rows a column of normal entries
    is within :math:`\sqrt{2 / m}` of it (3% at 2048 rows; ``_SAMPLE_MEAN_SQUARE_RTOL`` is
    5 of those). And the information of column
    :math:`j`, :math:`\sum_i v_i z_{ij}^2` with :math:`v_i` the weight times the mean under a
    log link (a count's curvature), must rest on at least ``_SAMPLE_MIN_ROWS`` effective
    rows, :math:`(\sum_i v_i z_{ij}^2)^2 / \sum_i v_i^2 z_{ij}^4`. A rare category (10 ones in
    20000 rows: 0 to 3 in the sample) or a heavy-tailed column (an exponential squared, a
    log-normal) fails, as means spread over decades do: a sampled information matrix had made
    a confidence interval of the mean 30 times too wide in log terms, and intervals 5 times
    too wide at rows with large values. A constant column (0 over both) fails too: the exact
    sums are taken, as for any doubt.
    """
    Z2 = np.square(sample.toarray())
    mean_squares = weights @ Z2
    if not np.all(np.abs(mean_squares - 1.0) <= _SAMPLE_MEAN_SQUARE_RTOL):
        return False
    v = weights[:, np.newaxis] * (np.exp(raw[0]) if loss.link_name == "log" else 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # (matrix products: the sums over a broadcast (m, K, p) array took 20 times as long)
        information = v.T @ Z2
        spread = np.square(v).T @ np.square(Z2)
        effective = information**2 / spread
    return bool(np.all(effective >= _SAMPLE_MIN_ROWS))


class ArrayData:
    r"""Training data held in memory.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Validated float64 inputs.
    Y : ndarray of shape (n_samples, n_targets)
        Validated float64 targets.
    sample_weight : ndarray of shape (n_samples,)
        Validated weights with a positive finite sum.
    offset : ndarray of shape (n_samples, n_targets) or None
        The mean head's offset.

    Attributes
    ----------
    n_samples, n_features, n_targets : int
    weight_total : float
        :math:`\sum_i s_i`.
    y_top : ndarray of shape (n_targets,)
        The largest ``|y|`` per target (1 for an all-zero target).
    y_zero : bool
        Whether y is 0 on every row of positive weight (every target).
    y_spread : ndarray of shape (n_targets,)
        The weighted standard deviation of each target (computed without overflow).
    is_sparse : bool
        Whether X is a SciPy sparse matrix.
    n_passes : None
        Passes over the data are not counted in memory (see :class:`sklik._dask.DaskData`).
    """

    n_passes = None

    def __init__(
        self,
        X: Any,
        Y: np.ndarray,
        sample_weight: np.ndarray,
        offset: np.ndarray | None,
        *,
        check_finite: Callable[[Any], None] | None = None,
    ) -> None:
        self.X, self.Y, self.sw, self.off = X, Y, sample_weight, offset
        # raises for NaN or inf in X, which the validation left to the design (see design())
        self._check_finite = check_finite
        # (objective, theta, raw outputs or None) of the fit's solution, see solution()
        self._solution: tuple | None = None
        # (theta, step, raw outputs) of the last row sample covariance_sums evaluated, which
        # pearson_sums reads again (one forward pass fewer)
        self._sample_raw: tuple | None = None
        self.n_samples, self.n_features = X.shape
        self.n_targets = Y.shape[1]
        self.weight_total = float(sample_weight.sum())
        self.is_sparse = sp.issparse(X)
        # s_i / sum(s), a broadcast of one number for equal weights (no n-array: see
        # normalised_weights)
        self._c = normalised_weights(sample_weight, self.weight_total)
        # the largest |y| per target on the rows of positive weight (a row of weight 0 is no
        # row at all; no |y| array with equal weights); y_top: 1 for an all-zero target
        equal = is_equal_weights(self._c)
        self._y_abs_max = _abs_max(Y if equal else Y[sample_weight > 0])
        self.y_top = np.where(self._y_abs_max > 0, self._y_abs_max, 1.0)
        self.y_zero = not np.any(self._y_abs_max)
        # the unit of the spread's sums: every row's largest |y| (a row of weight 0 adds
        # 0 * y / top, which must not overflow)
        every = self._y_abs_max if equal else _abs_max(Y)
        top = np.where(every > 0, every, 1.0)
        # in units of |y|'s largest: no overflow in the squares
        mean = weighted_column_sums(self._c, Y, lambda block: block / top)
        square = weighted_column_sums(self._c, Y, lambda block: np.square(block / top - mean))
        self.y_spread = top * np.sqrt(square)

    def design(
        self, standardise: bool, center: bool, gram: bool = False
    ) -> tuple[Any, np.ndarray, np.ndarray]:
        """The design the objective reduces over, and the column shift and scale it used.

        ``standardise``: :func:`sklik._design.make_design` (the linear model; ``gram``: build
        the Gram matrix with it, for least squares and the covariance); else X as given
        (densified if sparse: the MLP works on dense rows). This is the fit's first
        arithmetic on X: where the validation left the check for NaN and inf to it
        (``check_finite``), the implicit standardisation's column moments, finite only if every
        entry is, make it without a pass of its own; other designs call ``check_finite``
        first.
        """
        if standardise:
            return make_design(
                self.X, self._c, center=center, gram=gram, check_finite=self._check_finite
            )
        if self._check_finite is not None:
            self._check_finite(self.X)
        X = self.X.toarray() if self.is_sparse else self.X
        return X, np.zeros(self.n_features), np.ones(self.n_features)

    def objective(
        self,
        model: Any,
        loss: BaseLoss,
        design: Any,
        alpha: float,
        penalty_weights: np.ndarray | None,
        fuse_hessian: bool = False,
    ) -> Objective:
        """The penalised objective over the design (``fuse_hessian`` matters only on dask)."""
        return Objective(
            model,
            loss,
            design,
            self.Y,
            self.sw,
            alpha,
            offset=self.off,
            penalty_weights=penalty_weights,
        )

    def _target(self) -> np.ndarray:
        return self.Y if self.off is None else self.Y - self.off

    def least_squares(
        self,
        design: Any,
        alpha: float,
        center: bool,
        penalty_weights: np.ndarray,
        tol: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`sklik._solver.least_squares` on the standardised design.

        Centred if ``center``; a sparse design is not densified (``tol``: for conjugate
        gradients on a wide sparse design).
        """
        return _solver.least_squares(
            design,
            self._target(),
            self.sw,
            alpha,
            center,
            penalty_weights=penalty_weights,
            x_centered=center,  # the design is centred (weighted)
            tol=tol,
        )

    def least_absolute_deviations(
        self, design: Any, center: bool, owner: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`sklik._solver.least_absolute_deviations` (the exact l1 fit)."""
        if self.is_sparse and self.n_samples * self.n_features > _solver.LAD_MAX_DENSE:
            raise ValueError(
                f"{owner}: the exact l1 solver needs a dense design and this sparse X has "
                f"{self.n_samples} x {self.n_features} entries. Use SmoothL1Loss(beta=...) or "
                f"HuberLoss(delta=...) with a small threshold, or alpha > 0 (L-BFGS)."
            )
        return _solver.least_absolute_deviations(design.toarray(), self._target(), self.sw, center)

    def init_raw(self, loss: BaseLoss) -> np.ndarray:
        """The loss's best constant raw outputs, offset included (see :func:`offset_start`)."""
        out_init = np.array(loss.init_raw(self.Y, self.sw), dtype=np.float64)
        if self.off is None:
            return out_init
        with np.errstate(over="ignore", invalid="ignore"):
            shifted = np.array(loss.init_raw(self.Y - self.off, self.sw), dtype=np.float64)
        start = offset_start(
            loss, out_init, shifted, self._c @ self.Y, self._c @ self.off, self._exp_offset_sums()
        )
        if loss.link_name == "identity" or not loss.differentiable:
            return start
        return minimise_constant(start, lambda c: self._constant_loss(loss, c))

    def _exp_offset_sums(self) -> tuple[np.ndarray, np.ndarray]:
        r"""``(log sum_i c_i e^{o_i - M}, M)`` per target, ``M`` the largest offset: no overflow."""
        top = self.off.max(axis=0)
        return np.log(self._c @ np.exp(self.off - top)), top

    def _constant_loss(self, loss: BaseLoss, c: np.ndarray) -> tuple[float, np.ndarray]:
        """The weighted mean loss of the constant raw outputs ``c`` (offset added), gradient."""
        raw = np.repeat(c[:, np.newaxis, :], self.n_samples, axis=1)
        raw[0] += self.off
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, grad = loss.raw_loss_gradient(self.Y, raw)
            return float(np.sum(self._c @ value)), np.einsum("i,pik->pk", self._c, grad)

    def constant_objective(self, objective: Objective, out_init: np.ndarray) -> float:
        """The data term of the best constant model (``out_init``, offset added), or inf."""
        raw = np.repeat(out_init.reshape(objective.loss.n_params, 1, -1), self.n_samples, axis=1)
        if self.off is not None:
            raw[0] += self.off
        value = objective.data_value(raw)
        return value if math.isfinite(value) else math.inf

    def solution(self, objective: Objective, theta: np.ndarray) -> tuple[float, None]:
        """The objective's value at ``theta``; the raw outputs there come when asked (None).

        :meth:`residual_scale` and :meth:`covariance_sums` compute them (offset included) on
        first use with ``raw=None``: a fit that needs neither saves the pass.
        """
        value = objective.last_value(theta)
        if value is not None:  # the solver's last evaluation
            self._solution = (objective, theta, None)
            return value, None
        out, _ = objective.forward(theta, need_cache=False)
        raw = objective.raw(out)
        self._solution = (objective, theta, raw)
        return objective.value(theta, out=out), None

    def _solution_raw(self) -> np.ndarray:
        objective, theta, raw = self._solution
        if raw is None:
            out = objective.last_outputs(theta)  # kept by the solver's last evaluation
            if out is None:
                out, _ = objective.forward(theta, need_cache=False)
            raw = objective.raw(out)
            self._solution = (objective, theta, raw)
        return raw

    def largest_terms(self, W: np.ndarray) -> np.ndarray:
        r"""Per row of ``W`` (k, n_features): :math:`\max_i \sum_j |x_{ij} W_{kj}|`.

        The size of the terms a prediction sums: its rounding error is of order eps times it.
        """
        if not self.n_samples:
            return np.zeros(W.shape[0])
        with np.errstate(over="ignore"):
            return np.asarray(abs(self.X) @ np.abs(W).T).max(axis=0)

    def rank_gram(self, design: Any, fit_intercept: bool, sample: bool) -> np.ndarray:
        r"""The weighted Gram matrix :math:`[1, Z]^\top C [1, Z]` whose rank is the design's.

        With normalised weights :math:`c` (rows of weight 0 add nothing); the leading row and
        column are the intercept's, if any. ``sample``: over every ``step``-th row, at least
        ``RANK_SAMPLE_ROWS`` of them and 8 per column (rank(sample) <= rank(all), so a sample
        of full rank settles it; else the caller asks for the exact one), unless the design
        holds its Gram matrix already (least squares) and the weights are equal.
        """
        c = self._c
        if sample and not (gram_known(design) and is_equal_weights(c)):
            rows = max(RANK_SAMPLE_ROWS, 8 * (self.n_features + 1))
            step = max(1, self.n_samples // rows)
            if step > 1:
                design, c = design.rows_every(step), c[::step]
        return _inference._gram(design, c, fit_intercept)

    def null_residuals(self, design: Any, fit_intercept: bool, N: np.ndarray) -> np.ndarray:
        r"""Per column :math:`v` of ``N``, the root weighted mean square of :math:`[1, Z] v`.

        Computed from the rows, not from the Gram matrix, whose rounding (its eigenvalues
        are :math:`\|[1, Z] v\|^2`) hides a cancellation below about 1e-8 of the columns'
        size. ``N`` has a row per column of :math:`[1, Z]` (the intercept's first, if any).
        """
        coef, bias = (N[1:], N[0]) if fit_intercept else (N, None)
        A = np.asarray(design.matmat(coef.T, bias))
        return np.sqrt(self._c @ (A * A))

    def n_separated(self, design: Any, fit_intercept: bool) -> int:
        """The most rows of ``y = 0`` that the features separate, over the targets (0: none).

        Per target: the null space :math:`N` of the Gram matrix of the rows of positive ``y``
        (the directions that change none of their means), then
        :func:`sklik._inference.n_separated` on the rows of ``y = 0`` in those directions.
        Rows of weight 0 are no rows.
        """
        found = 0
        positive_weight = self.sw > 0
        for k in range(self.n_targets):
            zero = positive_weight & (self.Y[:, k] == 0)
            if not zero.any():
                continue
            indicator = (positive_weight & (self.Y[:, k] > 0)).astype(np.float64)
            gram = _inference._gram(design, indicator, fit_intercept)
            N = _inference.null_space(gram)
            if N.shape[1] == 0:
                continue
            coef, bias = (N[1:], N[0]) if fit_intercept else (N, None)
            A = np.asarray(design.matmat(coef.T, bias))[zero]
            found = max(found, _inference.n_separated(A))
        return found

    def residual_scale(self, loss: BaseLoss, raw: np.ndarray | None, owner: str) -> np.ndarray:
        """Per target, the loss's ML scale (``fit_scale``) of the residuals ``y - raw[0]``."""
        if raw is None:
            raw = self._solution_raw()
        Y, sw = self.Y, self.sw
        with np.errstate(over="ignore", invalid="ignore"):
            resid = Y - raw[0]
            # the weighted mean square is finite if and only if every square is (a square
            # that overflows on a row of weight 0 makes it NaN)
            largest = np.maximum(resid.max(axis=0), -resid.min(axis=0))
            representable = np.all(np.isfinite(largest * largest))
        if not representable:
            raise ValueError(
                f"{owner}: the residuals' mean square overflows float64 (|y| up to "
                f"{np.max(np.abs(Y)):.3g}), so the scale of the {loss.name} residual "
                f"density is not representable: rescale y (e.g. divide it by a power of 10)."
            )
        equal = is_equal_weights(self._c)  # equal weights: the losses' unweighted sums
        # y's magnitude on the rows of positive weight (a row of weight 0 is no row at all):
        # the unit of a perfect fit's scale, and its rounding floor
        top, unit = self._y_abs_max, self.y_top
        scale = np.array(
            [
                loss.fit_scale(resid[:, k], None if equal else sw, y_scale=unit[k])
                for k in range(self.n_targets)
            ]
        )
        # residuals below y's rounding level are zero: an interpolating fit gets the scale
        # of y's last digits, not an underflowing one (which makes the likelihood infinite)
        with np.errstate(over="ignore"):
            floor = 4 * np.finfo(np.float64).eps * top
        return np.maximum(scale, np.maximum(floor, np.finfo(np.float64).tiny))

    def _raw_of(
        self, loss: BaseLoss, model: Any, theta: np.ndarray, design: Any, off: Any, rows: slice
    ) -> np.ndarray:
        """The raw outputs ``(n_params, m, n_targets)`` of ``design``, the design of ``rows``."""
        out, _ = model.forward(theta, design, need_cache=False)
        if off is not None:
            out[:, : self.n_targets] += off[rows]
        return out.reshape(out.shape[0], loss.n_params, -1).transpose(1, 0, 2)

    def pearson_sums(
        self, loss: BaseLoss, design: Any, model: Any, theta: np.ndarray, step: int
    ) -> tuple[np.ndarray, np.ndarray, float]:
        r"""Per target, :math:`\sum_i s_i (y_i - \mu_i)^2 / \mu_i` over every ``step``-th row.

        A count model's Pearson statistic (rows whose mean is not positive or overflows add
        nothing); its variance under the Poisson, :math:`\sum_i s_i (2 + 1/\mu_i)` (the
        terms' fourth moment: heavy-tailed at small means) for unit weights; with weights
        :math:`\sum_i s_i^2 (2 + 1/\mu_i)`, one draw per row scaled by its weight, which
        does not change with the weights' units (:math:`\sum_i s_i (2 + 1/\mu_i)` had
        raised 8 false alarms in 300 fits with lognormal weights, 2 with 3% of rows at
        weight 1000); and those rows' total weight.
        """
        rows = slice(None, None, step)
        cached = self._sample_raw
        if step == 1 and self._solution is not None and self._solution[1] is theta:
            raw = self._solution_raw()
        elif cached is not None and cached[0] is theta and cached[1] == step:
            raw = cached[2]
        else:
            sample = design if step == 1 else design.rows_every(step)
            raw = self._raw_of(loss, model, theta, sample, self.off, rows)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mu = loss.inverse_link(raw)
            terms = np.square(self.Y[rows] - mu) / mu
            spread = 2.0 + 1.0 / mu
        ok = (mu > 0) & np.isfinite(terms) & np.isfinite(spread)
        sw = self.sw[rows]
        return sw @ np.where(ok, terms, 0.0), (sw * sw) @ np.where(ok, spread, 0.0), float(sw.sum())

    def covariance_sums(
        self,
        loss: BaseLoss,
        design: Any,
        model: Any,
        theta: np.ndarray,
        raw: np.ndarray | None,
        fit_intercept: bool,
        *,
        robust: Any = False,
        predictive: bool = False,
        sample_step: int = 1,
    ) -> list[dict]:
        """Per target, :func:`sklik._inference.covariance_sums` at ``theta`` (or ``raw``).

        ``sample_step > 1``: over every ``sample_step``-th row, their weights times the step
        (an estimate of the sums; the total weight ``n`` stays exact), where that sample
        represents every column (:func:`_sample_represents`); else over every row.
        """
        Y, sw, off = self.Y, self.sw, self.off
        if sample_step > 1:
            rows = slice(None, None, sample_step)
            sample = design.rows_every(sample_step)
            raw_sample = self._raw_of(loss, model, theta, sample, off, rows)
            self._sample_raw = (theta, sample_step, raw_sample)
            if _sample_represents(sample, self._c[rows] * sample_step, loss, raw_sample):
                design, Y, sw, raw = sample, Y[rows], sw[rows] * sample_step, raw_sample
                off = None if off is None else off[rows]
            else:
                sample_step = 1
        if sample_step == 1 and raw is None:
            if self._solution is not None and self._solution[1] is theta:
                raw = self._solution_raw()  # the fit's solution: its raw outputs, once
            else:
                raw = self._raw_of(loss, model, theta, design, off, slice(None))
        sums = [
            _inference.covariance_sums(
                loss,
                design,
                fit_intercept,
                Y[:, k],
                raw[:, :, k],
                sw,
                offset=None if off is None else off[:, k],
                robust=robust,
                predictive=predictive,
            )
            for k in range(self.n_targets)
        ]
        for part in sums:
            part["n"] = self.weight_total
        return sums
