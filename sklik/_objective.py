r"""The penalised, weighted objective: the only place where a model meets a loss.

.. math::

    J(\theta) = \frac{\sum_i s_i \, \bar\ell_i(\theta)}{\sum_i s_i}
              + \frac{\alpha}{2} \lVert W \rVert^2,
    \qquad \bar\ell_i = \frac1K \sum_{k=1}^K \ell(y_{ik}, \mathrm{raw}_{ik}(\theta))

where :math:`\ell` is the torch elementwise loss, :math:`s_i` the sample weights, :math:`K` the
number of targets, and :math:`W` the entries ``theta[:model.n_weights]`` (all weights, no
intercepts or biases). An ``offset`` :math:`o_{ik}` (fixed, per sample and target) is added to
the first raw output (the mean head, on the link scale) before the loss sees it. A per-weight
factor :math:`\pi_j` generalises the penalty to :math:`\tfrac{\alpha}{2}\sum_j \pi_j W_j^2`:
it is :math:`1/s_j^2` when the model is fitted on a design standardised by :math:`s`
(:mod:`sklik._design`), so that the penalty stays the one on the user's coefficients.

The model multiplies a *design* (:mod:`sklik._design`), never the user's array directly:
the objective reduces over whatever rows the design holds.

Conventions:

- ``y`` is 2-D, ``(n_samples, n_targets)``.
- The model produces ``out`` of shape ``(n_samples, n_params * n_targets)``; column
  ``j * n_targets + k`` is distribution parameter ``j`` (``loss.param_names[j]``) of target ``k``.
  So for Gaussian NLL the first ``n_targets`` columns are the means and the next ``n_targets`` the
  log variances.
- The loss sees ``raw = out.reshape(n, n_params, n_targets).transpose(1, 0, 2)``, of shape
  ``(n_params, n_samples, n_targets)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sklik.losses import BaseLoss

# A Newton solver's Hessian may come from every step-th row (:meth:`Objective.sampled_hessian`)
# when the data have at least _HESSIAN_SAMPLE_FACTOR times the sample's rows: a sample of
# max(_HESSIAN_SAMPLE_MIN_ROWS, _HESSIAN_SAMPLE_ROWS_PER_COEF * n_coef) rows.
_HESSIAN_SAMPLE_MIN_ROWS = 8192
_HESSIAN_SAMPLE_ROWS_PER_COEF = 64
_HESSIAN_SAMPLE_FACTOR = 4
# Value, gradient and Hessian are summed over row blocks of this many raw outputs (rows times
# the loss's parameters times the targets) when the design offers blocks: every temporary of
# the loss then has 256 kB, reused by the allocator from block to block, where whole-column
# temporaries are fresh memory (page faults) at every evaluation (measured at 10^5 x 20,
# Poisson: 1.6 ms per evaluation instead of 2.0; at 10^6, 15 ms instead of 24). A loss with two
# parameters has twice the temporaries per row: with blocks of as many rows as Poisson's, the
# negative binomial's kernels held so much memory at once that the allocator gave it back
# after each block (16 000-60 000 page faults per fit at 10^5 x 20 against none; Gaussian NLL
# 0.89 of the time).
_EVAL_BLOCK_ENTRIES = 32768


def normalised_weights(sample_weight: np.ndarray, total: float) -> np.ndarray:
    """``sample_weight / total``; for equal weights one number broadcast to every row.

    The broadcast is a read-only view of no memory: a fit with equal weights (the default)
    keeps no n-array of them alive while it runs. Every n-array a fit holds raises the peak of
    the process's heap, which the C allocator returns to the system when the fit frees it, so
    that the next fit pays a page fault per 4 kB page to grow it again (at 10^5 x 20, Poisson:
    749 faults per fit, about 3 ms of 13, with the normalised weights as arrays). Products
    with BLAS need a contiguous vector: see :func:`sklik._design.weighted_column_sums`.
    """
    n = sample_weight.shape[0]
    if n and np.all(sample_weight == sample_weight[0]):
        return np.broadcast_to(sample_weight[0] / total, (n,))
    return sample_weight / total


def hessian_sample_step(n_rows: int, n_coef: int) -> int:
    """Every how many rows a sampled Hessian takes one (1: the exact Hessian).

    A sample of ``max(_HESSIAN_SAMPLE_MIN_ROWS, _HESSIAN_SAMPLE_ROWS_PER_COEF * n_coef)``
    rows where the data have at least ``_HESSIAN_SAMPLE_FACTOR`` times as many.
    """
    rows = max(_HESSIAN_SAMPLE_MIN_ROWS, _HESSIAN_SAMPLE_ROWS_PER_COEF * n_coef)
    return n_rows // rows if n_rows >= _HESSIAN_SAMPLE_FACTOR * rows else 1


class Objective:
    r"""Value and exact gradient of the penalised weighted mean loss of a model.

    Parameters
    ----------
    model : LinearModel or MLPModel
        Maps ``theta`` and the design to raw outputs (see ``sklik._models``).
    loss : BaseLoss
        The resolved loss.
    X : ndarray or design of shape (n_samples, n_features)
        Training inputs: a float64 array or a design from :mod:`sklik._design`.
    y : ndarray of shape (n_samples, n_targets)
        Training targets, float64.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights with a positive, finite sum.
    alpha : float
        L2 penalty strength on the model's weights.
    offset : ndarray of shape (n_samples, n_targets), default=None
        Added to the mean head's raw output (link scale).
    penalty_weights : ndarray of shape (n_weights,), default=None
        The factors :math:`\pi_j` of the penalty (None: all 1).
    weight_total : float, default=None
        The normaliser :math:`\sum_i s_i` of the weights (None: ``sample_weight.sum()``).
        A block of rows of a larger data set passes the total over all rows, so that the
        objectives of the blocks (with ``alpha=0``) sum to the data set's loss term
        (:mod:`sklik._dask`).

    Attributes
    ----------
    n_nonfinite : int
        How many evaluations overflowed (a non-finite value or gradient). Such evaluations
        return ``inf`` with a zero gradient, which makes a line search step back.
    """

    def __init__(
        self,
        model: Any,
        loss: BaseLoss,
        X: Any,
        y: np.ndarray,
        sample_weight: np.ndarray,
        alpha: float,
        *,
        offset: np.ndarray | None = None,
        penalty_weights: np.ndarray | None = None,
        weight_total: float | None = None,
    ) -> None:
        self.model = model
        self.loss = loss
        self.X = X
        self.y = y
        self.alpha = float(alpha)
        n, k = y.shape
        self.offset = offset
        # alpha * pi_j: the curvature of the penalty per weight
        pw = np.ones(model.n_weights) if penalty_weights is None else penalty_weights
        self._ridge = self.alpha * np.asarray(pw, dtype=np.float64)
        # weight of each elementwise loss in the objective: s_i / (sum s * K)
        total = sample_weight.sum() if weight_total is None else weight_total
        self._w = normalised_weights(sample_weight, total * k)[:, np.newaxis]
        self._equal_w = bool(n and self._w.strides[0] == 0)
        self._shape = (n, loss.n_params, k)
        self._block_rows = max(1, _EVAL_BLOCK_ENTRIES // (loss.n_params * k))
        self._hess_cache: tuple[np.ndarray, Any, np.ndarray] | None = None
        # (theta, value, gradient, out, forward cache) of the last evaluation
        self._last: tuple | None = None
        # buffers the model's passes reuse for as long as this objective lives (one fit): made
        # on the first evaluation by models that offer them (the MLP, see MLPWorkspace)
        self._workspace: Any = None
        self.n_nonfinite = 0
        # the rows of a sampled Hessian, built on first use (see sampled_hessian)
        self._sample: tuple | None = None

    def forward(
        self, theta: np.ndarray, need_cache: bool = True, workspace: Any = None
    ) -> tuple[np.ndarray, Any]:
        """The model's outputs at ``theta``, offset included, and the forward cache.

        With a ``workspace`` the cache is valid only until the next forward with it.
        """
        if workspace is None:
            out, cache = self.model.forward(theta, self.X, need_cache=need_cache)
        else:
            out, cache = self.model.forward(
                theta, self.X, need_cache=need_cache, workspace=workspace
            )
        if self.offset is not None:
            out[:, : self._shape[2]] += self.offset
        return out, cache

    def raw(self, out: np.ndarray) -> np.ndarray:
        """View model outputs ``(n, n_params * K)`` as loss raw outputs ``(n_params, n, K)``."""
        return out.reshape(self._shape).transpose(1, 0, 2)

    def _out(self, grad_raw: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`raw` for gradients: ``(n_params, n, K)`` to ``(n, n_params * K)``."""
        return grad_raw.transpose(1, 0, 2).reshape(self._shape[0], -1)

    def _penalty(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = theta[: self.model.n_weights]
        grad = self._ridge * weights
        return 0.5 * float(weights @ grad), grad

    def value(self, theta: np.ndarray, out: np.ndarray | None = None) -> float:
        """Objective value at ``theta`` (``out``: the model's outputs there, if known)."""
        known = self.last_value(theta) if out is None else None
        if known is not None:
            return known
        if out is None:
            out, _ = self.forward(theta, need_cache=False)
        return self.data_value(self.raw(out)) + self._penalty(theta)[0]

    def last_value(self, theta: np.ndarray) -> float | None:
        """The value of the last evaluation if it was at ``theta`` and finite, else None."""
        last = self._last
        if last is not None and math.isfinite(last[1]) and np.array_equal(last[0], theta):
            return last[1]
        return None

    def last_outputs(self, theta: np.ndarray) -> np.ndarray | None:
        """The model's outputs (offset included) of the last evaluation if it was at ``theta``.

        None unless that evaluation kept them (an unblocked objective with a Hessian, see
        :meth:`__call__`). The array is the evaluation's own: read it, never write it.
        """
        last = self._last
        if last is not None and last[3] is not None and np.array_equal(last[0], theta):
            return last[3]
        return None

    def data_value(self, raw: np.ndarray) -> float:
        """The unpenalised data term of raw outputs ``raw`` of shape ``(n_params, n, K)``."""
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(self._w * self.loss.raw_loss(self.y, raw)))

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective value and gradient at ``theta`` (the ``jac=True`` form of scipy).

        The last evaluation is remembered: solvers often ask for the same point twice (the
        estimator's finiteness check of the start, a rejected trust-region step). Where the
        loss overflows the value is ``inf`` and the gradient zero (see ``n_nonfinite``).
        """
        last = self._last
        if last is not None and np.array_equal(last[0], theta):
            return last[1], last[2].copy()
        blocked = self._blocked
        # the forward cache is kept only where a Hessian may be asked for at the same point;
        # otherwise it is used once, here, and may live in the reusable workspace
        keep_cache = self.has_hessian and not blocked
        if self._workspace is None and not keep_cache and hasattr(self.model, "workspace"):
            self._workspace = self.model.workspace(self.X)
        with np.errstate(over="ignore", invalid="ignore"):
            if blocked:
                value, grad = 0.0, np.zeros(self.model.n_coef)
                for rows in self._row_blocks():
                    part, part_grad = self._block_term(theta, rows)
                    value += part
                    grad += part_grad
                out = cache = None
            else:
                out, cache = self.forward(theta, workspace=None if keep_cache else self._workspace)
                loss, grad_raw = self.loss.raw_loss_gradient(self.y, self.raw(out))
                value, grad = self._weighted_sums(theta, cache, loss, grad_raw, slice(None))
            penalty, penalty_grad = self._penalty(theta)
            grad[: self.model.n_weights] += penalty_grad
            value += penalty
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            self.n_nonfinite += 1
            value, grad = math.inf, np.zeros_like(grad)
        keep = (out, cache) if keep_cache else (None, None)
        self._last = (theta.copy(), value, grad.copy(), *keep)
        return value, grad

    @property
    def _blocked(self) -> bool:
        """Whether value, gradient and Hessian are summed over row blocks of the design."""
        return self._shape[0] > self._block_rows and hasattr(self.X, "block")

    def _row_blocks(self) -> Any:
        """The slices of the row blocks (see ``_EVAL_BLOCK_ENTRIES``)."""
        n, rows = self._shape[0], self._block_rows
        return (slice(lo, min(lo + rows, n)) for lo in range(0, n, rows))

    def _block_term(self, theta: np.ndarray, rows: slice) -> tuple[float, np.ndarray]:
        """The unpenalised data term of a block of rows and its gradient."""
        out, cache = self.model.forward(theta, self.X.block(rows.start, rows.stop))
        m = out.shape[0]
        if self.offset is not None:
            out[:, : self._shape[2]] += self.offset[rows]
        raw = out.reshape(m, *self._shape[1:]).transpose(1, 0, 2)
        loss, grad_raw = self.loss.raw_loss_gradient(self.y[rows], raw)
        return self._weighted_sums(theta, cache, loss, grad_raw, rows)

    def _weighted_sums(
        self, theta: np.ndarray, cache: Any, loss: np.ndarray, grad_raw: np.ndarray, rows: slice
    ) -> tuple[float, np.ndarray]:
        r""":math:`\sum_i w_i \ell_i` and its gradient over ``rows`` from the elementwise loss.

        With equal weights the common weight multiplies the two sums instead of every row (two
        passes over the rows fewer), unless a sum overflows where the weighted one may not.
        ``grad_raw`` (the loss's gradient, ``(n_params, m, K)``) is overwritten.
        """
        m = loss.shape[0]
        if self._equal_w:
            w = float(self._w[0, 0])
            grad = self.model.backward(theta, cache, grad_raw.transpose(1, 0, 2).reshape(m, -1))
            grad *= w
            value = w * float(np.sum(loss))
            if math.isfinite(value) and math.isfinite(float(grad.sum())):
                return value, grad
        w = self._w[rows]
        grad_raw *= w
        grad = self.model.backward(theta, cache, grad_raw.transpose(1, 0, 2).reshape(m, -1))
        return float(np.sum(w[:, 0] @ loss)), grad

    def data_term(
        self, theta: np.ndarray, *, hessian: bool = False
    ) -> tuple[float, np.ndarray] | tuple[float, np.ndarray, np.ndarray]:
        r"""The unpenalised data term at ``theta``, its gradient and (optionally) Hessian.

        :math:`\sum_i w_i \bar\ell_i(\theta)` with this objective's normalised weights, and
        :math:`J^\top D J` (the Gauss-Newton matrix, see :meth:`hessian`) when ``hessian``.
        This is what a blocked objective sums over row blocks of a larger data set (each block
        built with the data set's ``weight_total``, :mod:`sklik._dask`); non-finite results
        are returned as they are, for the caller to check after the reduction.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            out, cache = self.forward(theta)
            raw = self.raw(out)
            loss, grad_raw = self.loss.raw_loss_gradient(self.y, raw)
            value, grad = self._weighted_sums(theta, cache, loss, grad_raw, slice(None))
            if not hessian:
                return value, grad
            weights = self.curvature(self.y, raw, self._w)
        return value, grad, self.model.gauss_newton(theta, cache, weights)

    def curvature(self, y: np.ndarray, raw: np.ndarray, w: np.ndarray) -> np.ndarray:
        r"""The loss's weighted curvature per row in the model's output layout.

        ``(n, n_outputs)`` where the loss has a curvature per raw output
        (``loss.has_curvature``: the exact Hessian, or the Fisher information); otherwise its
        exact per-sample Hessian blocks, ``(n, n_outputs, n_outputs)``, with output
        ``j * K + t`` (parameter ``j``, target ``t``) coupled only to outputs of target ``t``.
        ``w`` of shape ``(n, 1)`` multiplies every row.
        """
        n, n_params, k = raw.shape[1], self._shape[1], self._shape[2]
        if self.loss.has_curvature:
            return (self.loss.raw_hessian(y, raw) * w).transpose(1, 0, 2).reshape(n, -1)
        h = self.loss.raw_hessian_blocks(y, raw) * w  # (n_params, n_params, n, K)
        blocks = np.zeros((n, n_params * k, n_params * k))
        for a in range(n_params):
            for b in range(n_params):
                for t in range(k):
                    blocks[:, a * k + t, b * k + t] = h[a, b, :, t]
        return blocks

    def constant_gradient(self, out_const: np.ndarray, theta: np.ndarray) -> np.ndarray:
        r"""The data term's gradient at ``theta``'s design, with constant raw outputs.

        Every row's raw outputs are ``out_const`` (shape ``(n_params, K)``; the offset is
        added), the gradient the model's :math:`J^\top g` at ``theta`` (for the linear model
        :math:`X^\top g`, whatever ``theta``): the gradient at the best constant model of a
        model that cannot represent it (a linear model without an intercept).
        """
        n, n_params, k = self._shape
        out = np.broadcast_to(np.ravel(out_const), (n, n_params * k)).copy()
        if self.offset is not None:
            out[:, :k] += self.offset
        _, cache = self.model.forward(theta, self.X)
        with np.errstate(over="ignore", invalid="ignore"):
            _, grad_raw = self.loss.raw_loss_gradient(self.y, self.raw(out))
            return self.model.backward(theta, cache, self._out(grad_raw * self._w))

    @property
    def row_weights(self) -> np.ndarray:
        r"""The weight :math:`s_i / (K \sum s)` of each row's loss in the objective."""
        return np.ascontiguousarray(self._w[:, 0])  # (equal weights: a copy of a broadcast)

    @property
    def penalty_curvature(self) -> np.ndarray:
        r"""The L2 penalty's curvature :math:`\alpha \pi_j` per weight."""
        return self._ridge

    @property
    def has_hessian(self) -> bool:
        """Whether :meth:`hessian` is available.

        It is for losses with second derivatives (``loss.second_order``: the exact Hessian
        of the convex smooth one-parameter losses, the Fisher information of the Gaussian
        NLL's two heads, the exact Hessian blocks of the negative binomial; see
        :meth:`curvature`) on a model that builds its Gauss-Newton matrix (the linear model).
        """
        return self.loss.second_order and hasattr(self.model, "gauss_newton")

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        r"""Exact Hessian :math:`J^\top D J + \alpha \operatorname{diag}(\pi)` at ``theta``.

        See :attr:`has_hessian`. On a design with row blocks (the evaluations' blocks) the
        matrix is summed over them: no n-row temporary (outputs, curvatures), which would
        cost fresh memory, and its page faults, on every Hessian.
        """
        if self._blocked:
            H = sum(self._block_hessian(theta, rows) for rows in self._row_blocks())
        else:
            fwd, hess = self._curvature_at(theta)
            H = self.model.gauss_newton(theta, fwd, hess)
        H[np.diag_indices(self.model.n_weights)] += self._ridge
        return H

    def _block_hessian(self, theta: np.ndarray, rows: slice) -> np.ndarray:
        """The data term's Gauss-Newton matrix over a block of rows."""
        out, fwd = self.model.forward(theta, self.X.block(rows.start, rows.stop))
        if self.offset is not None:
            out[:, : self._shape[2]] += self.offset[rows]
        raw = out.reshape(out.shape[0], *self._shape[1:]).transpose(1, 0, 2)
        with np.errstate(over="ignore", invalid="ignore"):
            hess = self.curvature(self.y[rows], raw, self._w[rows])
        return self.model.gauss_newton(theta, fwd, hess)

    def _curvature_at(self, theta: np.ndarray) -> tuple[Any, np.ndarray]:
        """The forward cache at ``theta`` (the last evaluation's if there) and the curvature."""
        last = self._last
        if self.last_outputs(theta) is not None:
            out, fwd = last[3], last[4]
        else:
            out, fwd = self.forward(theta)
        with np.errstate(over="ignore", invalid="ignore"):
            return fwd, self.curvature(self.y, self.raw(out), self._w)

    def hessian_solve(
        self, theta: np.ndarray, g: np.ndarray, ridge: np.ndarray | None = None
    ) -> np.ndarray | None:
        r"""Solve :math:`H x = g` for the :meth:`hessian` :math:`H` without forming it.

        For a model that offers ``gauss_newton_solve`` (the linear model on a design with
        fewer rows than features, every weight penalised): the Woodbury identity, an n-by-n
        factorisation instead of a p-by-p one. ``ridge`` replaces the penalty's curvature
        :attr:`penalty_curvature` (a smoothed L1 penalty adds its own). None where that does
        not apply (then form :meth:`hessian`).
        """
        solve = getattr(self.model, "gauss_newton_solve", None)
        if solve is None or not self.has_hessian or self._shape[0] >= self.model.n_coef:
            return None
        fwd, hess = self._curvature_at(theta)
        if not np.all(np.isfinite(hess)):
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            x = solve(fwd, hess, self._ridge if ridge is None else ridge, g)
        return x if x is not None and np.all(np.isfinite(x)) else None

    @property
    def hessian_sample_step(self) -> int:
        """Every how many rows :meth:`sampled_hessian` takes one (1: it is the Hessian)."""
        if not (self.has_hessian and hasattr(self.X, "rows_every")):
            return 1
        return hessian_sample_step(self._shape[0], self.model.n_coef)

    def sampled_hessian(self, theta: np.ndarray) -> np.ndarray:
        r"""The Hessian of :meth:`hessian` estimated on every ``step``-th row.

        :math:`\tilde H = \rho\, J_S^\top D_S J_S + \alpha \operatorname{diag}(\pi)`
        over the rows :math:`S` = every :attr:`hessian_sample_step`-th row, with
        :math:`\rho = \sum_i w_i / \sum_{i \in S} w_i` (the rows' weights). A sample of
        :math:`m` rows has a relative error of order :math:`\sqrt{q/m}` for :math:`q`
        coefficients: Newton's method with it converges linearly at about that rate per
        iteration (a sub-sampled Newton method; Byrd, Chin, Neveitt & Nocedal, SIAM J. Optim.
        21, 2011), while each Hessian costs :math:`m/n` of the exact one. The gradient, and so
        the optimum a solver stops at, stays exact.
        """
        step = self.hessian_sample_step
        if step == 1:
            return self.hessian(theta)
        if self._sample is None:
            rows = slice(None, None, step)
            w = self._w[rows]
            ratio = float(self._w.sum() / w.sum()) if w.sum() > 0 else 0.0
            offset = None if self.offset is None else self.offset[rows]
            self._sample = (self.X.rows_every(step), self.y[rows], w * ratio, offset)
        design, y, w, offset = self._sample
        if not w.any():  # no weight in the sample
            return self.hessian(theta)
        out, fwd = self.model.forward(theta, design)
        if offset is not None:
            out[:, : self._shape[2]] += offset
        raw = out.reshape(y.shape[0], *self._shape[1:]).transpose(1, 0, 2)
        with np.errstate(over="ignore", invalid="ignore"):
            hess = self.curvature(y, raw, w)
        H = self.model.gauss_newton(theta, fwd, hess)
        H[np.diag_indices(self.model.n_weights)] += self._ridge
        return H

    def at_kink(self, theta: np.ndarray) -> bool:
        """Whether a row of positive weight sits on a kink of the loss at ``theta``.

        See :meth:`sklik.losses.BaseLoss.kinked`; one forward pass unless the loss has none.
        """
        if not self.loss.has_kinks:
            return False
        out, _ = self.forward(theta, need_cache=False)
        kinked = self.loss.kinked(self.y, self.raw(out))
        return bool(np.any(kinked & (self._w > 0)))

    def n_floored(self, theta: np.ndarray) -> int:
        """The rows of positive weight where a parameter of the loss sits at its floor.

        See :meth:`sklik.losses.BaseLoss.floored`; one forward pass unless the loss has none.
        """
        if not self.loss.has_floor:
            return 0
        out, _ = self.forward(theta, need_cache=False)
        floored = self.loss.floored(self.raw(out))
        return int(np.count_nonzero(np.any(floored, axis=-1) & (self._w[:, 0] > 0)))

    def n_vanishing(self, theta: np.ndarray, mean_floor: float) -> int:
        """The rows of positive weight where the loss's mean vanishes at ``theta``.

        See :meth:`sklik.losses.BaseLoss.vanishing`; one forward pass for a log link.
        """
        if self.loss.link_name != "log":
            return 0
        if not self._blocked:
            out = self.last_outputs(theta)  # the solver's last evaluation: no pass
            if out is None:
                out, _ = self.forward(theta, need_cache=False)
            vanishing = self.loss.vanishing(self.y, self.raw(out), mean_floor)
            return int(np.count_nonzero(np.any(vanishing, axis=-1) & (self._w[:, 0] > 0)))
        count = 0  # by row blocks: no n-array (see _EVAL_BLOCK_ENTRIES)
        for rows in self._row_blocks():
            out, _ = self.model.forward(
                theta, self.X.block(rows.start, rows.stop), need_cache=False
            )
            if self.offset is not None:
                out[:, : self._shape[2]] += self.offset[rows]
            raw = out.reshape(out.shape[0], *self._shape[1:]).transpose(1, 0, 2)
            vanishing = self.loss.vanishing(self.y[rows], raw, mean_floor)
            count += int(np.count_nonzero(np.any(vanishing, axis=-1) & (self._w[rows, 0] > 0)))
        return count

    def hessp(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        r"""Gauss-Newton product :math:`(J^\top D J + \alpha \operatorname{diag}(\pi))\,v`.

        ``J`` is the Jacobian of the raw outputs, ``D`` the weighted per-sample loss Hessian
        (:meth:`curvature`: diagonal, or per-sample blocks) and :math:`\pi` the penalty
        factors (zero on the biases). For a linear model this is the exact Hessian-vector
        product. The forward pass and loss Hessian are cached for repeated products at the
        same ``theta``.
        """
        cache = self._hess_cache
        if cache is None or not np.array_equal(cache[0], theta):
            out, fwd = self.forward(theta)
            hess = self.curvature(self.y, self.raw(out), self._w)
            cache = self._hess_cache = (theta.copy(), fwd, hess)
        _, fwd, hess_out = cache
        jv = self.model.jvp(theta, fwd, v)
        mixed = hess_out * jv if hess_out.ndim == 2 else np.einsum("nkl,nl->nk", hess_out, jv)
        hv = self.model.backward(theta, fwd, mixed)
        hv[: self.model.n_weights] += self._ridge * v[: self.model.n_weights]
        return hv
