r"""Scale of the residual distribution of the constant-scale losses (mse, l1, huber, smooth_l1).

Each such loss :math:`\rho` (its torch elementwise loss as a function of the residual
:math:`u = y - \hat y`) defines a location-scale family of densities

.. math:: p(r \mid \sigma) = \frac{1}{\sigma Z} \exp\!\big(-\rho(r / \sigma)\big),
          \qquad Z = \int e^{-\rho(u)}\,du,

whose negative log-density at :math:`\sigma = 1` is the loss up to the constant
:math:`\log Z`: Normal for mse, Laplace for l1, and the Gaussian-core/Laplace-tail densities
for huber and smooth_l1. :func:`fit_scale` is the weighted maximum-likelihood estimate of
:math:`\sigma` from residuals, and :func:`unit_std` the standard deviation at
:math:`\sigma = 1`, so the predictive standard deviation is ``fit_scale(...) * unit_std(loss)``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq

from sklik.losses import BaseLoss


def _rho(loss: BaseLoss, u: np.ndarray) -> np.ndarray:
    """The loss as a function of the residual (a symmetric function)."""
    u = np.asarray(u, dtype=np.float64)
    return loss.raw_loss(np.zeros_like(u), u[np.newaxis])


def _psi(loss: BaseLoss, u: np.ndarray) -> np.ndarray:
    """Derivative of the loss in the residual."""
    return loss.raw_loss_gradient(np.zeros_like(u), u[np.newaxis])[1][0]


def fit_scale(loss: BaseLoss, residuals: np.ndarray, sample_weight: np.ndarray | None) -> float:
    r"""Weighted maximum-likelihood scale :math:`\sigma` of the residuals.

    Solves :math:`\sum_i s_i\, u_i \rho'(u_i) = \sum_i s_i` with :math:`u_i = r_i / \sigma`
    (the stationarity condition of :math:`\sum_i s_i [\log\sigma + \rho(r_i/\sigma)]`), whose
    left side decreases in :math:`\sigma`. Returns 0 if all residuals are 0.

    Parameters
    ----------
    loss : BaseLoss
        One of the identity-link, one-parameter losses.
    residuals : ndarray
        ``y - prediction``, any shape; weights apply along the first axis.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights.

    Returns
    -------
    float
        The scale estimate.
    """
    r = np.asarray(residuals, dtype=np.float64)
    w = np.ones(r.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    w = np.broadcast_to(w.reshape(-1, *([1] * (r.ndim - 1))), r.shape)
    keep = (w > 0) & (r != 0)
    if not keep.any():
        return 0.0
    r, w = r[keep], w[keep] / w[keep].sum()

    def stationarity(log_sigma: float) -> float:
        u = r / math.exp(log_sigma)
        return float(w @ (u * _psi(loss, u))) - 1.0

    lo = hi = math.log(math.sqrt(float(w @ r**2)))
    while stationarity(lo) < 0:
        lo -= 2.0
    while stationarity(hi) > 0:
        hi += 2.0
    return math.exp(brentq(stationarity, lo, hi, xtol=1e-13))


def unit_std(loss: BaseLoss) -> float:
    r"""Standard deviation of the density :math:`e^{-\rho(u)} / Z` (at unit scale).

    Computed by adaptive quadrature, split at the loss's kink (``delta`` or ``beta``).

    Parameters
    ----------
    loss : BaseLoss
        One of the identity-link, one-parameter losses.

    Returns
    -------
    float
    """
    kink = getattr(loss, "delta", None) or getattr(loss, "beta", None) or 1.0

    def integral(power: int) -> float:
        def f(u: float) -> float:
            return u**power * math.exp(-float(_rho(loss, np.array([u]))[0]))

        return (
            quad(f, 0.0, kink, epsabs=0, epsrel=1e-13)[0]
            + quad(f, kink, math.inf, epsabs=0, epsrel=1e-13)[0]
        )

    return math.sqrt(integral(2) / integral(0))
