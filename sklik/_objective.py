r"""The penalised, weighted objective: the only place where a model meets a loss.

.. math::

    J(\theta) = \frac{\sum_i s_i \, \bar\ell_i(\theta)}{\sum_i s_i}
              + \frac{\alpha}{2} \lVert W \rVert^2,
    \qquad \bar\ell_i = \frac1K \sum_{k=1}^K \ell(y_{ik}, \mathrm{raw}_{ik}(\theta))

where :math:`\ell` is the torch elementwise loss, :math:`s_i` the sample weights, :math:`K` the
number of targets, and :math:`W` the entries ``theta[:model.n_weights]`` (all weights, no
intercepts or biases).

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

from typing import Any

import numpy as np

from sklik.losses import BaseLoss


class Objective:
    """Value and exact gradient of the penalised weighted mean loss of a model.

    Parameters
    ----------
    model : LinearModel or MLPModel
        Maps ``theta`` and ``X`` to raw outputs (see ``sklik._models``).
    loss : BaseLoss
        The resolved loss.
    X : ndarray of shape (n_samples, n_features)
        Training inputs, float64.
    y : ndarray of shape (n_samples, n_targets)
        Training targets, float64.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights with a positive sum.
    alpha : float
        L2 penalty strength on the model's weights.
    """

    def __init__(
        self,
        model: Any,
        loss: BaseLoss,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray,
        alpha: float,
    ) -> None:
        self.model = model
        self.loss = loss
        self.X = X
        self.y = y
        self.alpha = float(alpha)
        n, k = y.shape
        # weight of each elementwise loss in the objective: s_i / (sum s * K)
        self._w = (sample_weight / (sample_weight.sum() * k))[:, np.newaxis]
        self._shape = (n, loss.n_params, k)
        self._hess_cache: tuple[np.ndarray, Any, np.ndarray] | None = None
        # (theta, value, gradient, out, forward cache) of the last evaluation
        self._last: tuple | None = None

    def raw(self, out: np.ndarray) -> np.ndarray:
        """View model outputs ``(n, n_params * K)`` as loss raw outputs ``(n_params, n, K)``."""
        return out.reshape(self._shape).transpose(1, 0, 2)

    def _out(self, grad_raw: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`raw` for gradients: ``(n_params, n, K)`` to ``(n, n_params * K)``."""
        return grad_raw.transpose(1, 0, 2).reshape(self._shape[0], -1)

    def _penalty(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = theta[: self.model.n_weights]
        return 0.5 * self.alpha * float(weights @ weights), self.alpha * weights

    def value(self, theta: np.ndarray, out: np.ndarray | None = None) -> float:
        """Objective value at ``theta`` (``out``: the model's outputs there, if known)."""
        if out is None:
            out, _ = self.model.forward(theta, self.X, need_cache=False)
        loss = self.loss.raw_loss(self.y, self.raw(out))
        return float(np.sum(self._w * loss)) + self._penalty(theta)[0]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective value and gradient at ``theta`` (the ``jac=True`` form of scipy).

        The last evaluation is remembered: solvers often ask for the same point twice (the
        estimator's finiteness check of the start, a rejected trust-region step).
        """
        last = self._last
        if last is not None and np.array_equal(last[0], theta):
            return last[1], last[2].copy()
        out, cache = self.model.forward(theta, self.X)
        loss, grad_raw = self.loss.raw_loss_gradient(self.y, self.raw(out))
        grad_raw *= self._w
        grad = self.model.backward(theta, cache, self._out(grad_raw))
        penalty, penalty_grad = self._penalty(theta)
        grad[: self.model.n_weights] += penalty_grad
        value = float(np.sum(self._w * loss)) + penalty
        # the forward cache is kept only where a Hessian may be asked for at the same point
        keep = (out, cache) if self.has_hessian else (None, None)
        self._last = (theta.copy(), value, grad.copy(), *keep)
        return value, grad

    @property
    def has_hessian(self) -> bool:
        """Whether :meth:`hessian` is available.

        It is for one-parameter convex smooth losses on a model that builds its Gauss-Newton
        matrix (the linear model).
        """
        return (
            self.loss.n_params == 1
            and self.loss.convex
            and self.loss.differentiable
            and hasattr(self.model, "gauss_newton")
        )

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        r"""Exact Hessian :math:`J^\top D J + \alpha P` at ``theta`` (see :attr:`has_hessian`)."""
        last = self._last
        if last is not None and np.array_equal(last[0], theta):
            out, fwd = last[3], last[4]
        else:
            out, fwd = self.model.forward(theta, self.X)
        hess = self._out(self.loss.raw_hessian(self.y, self.raw(out)) * self._w)
        H = self.model.gauss_newton(theta, fwd, hess)
        H[np.diag_indices(self.model.n_weights)] += self.alpha
        return H

    def hessp(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        r"""Gauss-Newton product :math:`(J^\top D J + \alpha P)\,v` at ``theta``.

        ``J`` is the Jacobian of the raw outputs, ``D`` the weighted per-sample loss Hessian
        and ``P`` the projection on the penalised weights. For a linear model this is the exact
        Hessian-vector product. Requires a one-parameter loss with ``raw_hessian``; the
        forward pass and loss Hessian are cached for repeated products at the same ``theta``.
        """
        cache = self._hess_cache
        if cache is None or not np.array_equal(cache[0], theta):
            out, fwd = self.model.forward(theta, self.X)
            hess = self.loss.raw_hessian(self.y, self.raw(out)) * self._w
            cache = self._hess_cache = (theta.copy(), fwd, self._out(hess))
        _, fwd, hess_out = cache
        hv = self.model.backward(theta, fwd, hess_out * self.model.jvp(theta, fwd, v))
        hv[: self.model.n_weights] += self.alpha * v[: self.model.n_weights]
        return hv
