r"""Inference for the linear model: coefficient covariances and honest predictive distributions.

Everything is computed per target on the standardised design :math:`Z` of
:mod:`sklik._design` (well conditioned whatever the units of X) and mapped to the user's
coefficients with the Jacobian of the back-transform :math:`w = v / s`,
:math:`b = b_Z - w^\top m`:

.. math::

    \Sigma_{\text{user}} = T\, \Sigma_Z\, T^\top, \qquad
    T = \begin{pmatrix} 1 & -(m/s)^\top \\ 0 & \operatorname{diag}(1/s) \end{pmatrix}

per head, parameters ordered ``[intercept, coef_1, ..., coef_p]``.

Conventions. With frequency weights :math:`s_i` (``n = sum s``), the per-sample raw gradient
:math:`\psi_i` (``loss.raw_loss_gradient``) and curvature :math:`\psi'_i`
(``loss.raw_hessian``), :math:`\tilde z_i = (1, z_i)` and
:math:`G(d) = \sum_i d_i \tilde z_i \tilde z_i^\top`, every model-based covariance has the form

.. math::

    \Sigma = \phi\, (H + P)^{-1}

with :math:`P` the penalty's curvature on the summed scale (``n K alpha pi``; intercepts are
never penalised, so :math:`P = 0` at ``alpha = 0``) and, per loss,

=================  ====================================  =========================================
loss               :math:`H`                             :math:`\phi`
=================  ====================================  =========================================
mse, huber,        :math:`\bar\psi' G(s)`,               :math:`k^2 \frac{\sum s\psi^2}{n - p}
smooth_l1          :math:`\bar\psi' = \sum s\psi'/n`     / \bar\psi'` (statsmodels RLM "H1"; OLS
                                                         for mse)
poisson_nll        :math:`G(s\mu)`                       1 (GLM Fisher information)
gaussian_nll       blocks :math:`G(s/v)`, :math:`G(s/2)` 1 (expected information of both heads)
negative_binomial  blocks :math:`G(s\,h_{ab})` of the    1 (observed information; statsmodels
                   per-sample Hessian :math:`h`          NegativeBinomial "nb2")
l1                 :math:`2 \hat f\, G(s)`               :math:`1 / (2 \hat f)` (median regression:
                                                         statsmodels QuantReg ``vcov="iid"``, and
                                                         its default ``"robust"``, the same at
                                                         the median)
=================  ====================================  =========================================

where :math:`k = 1 + \frac{p}{n}\operatorname{var}(\psi') / \bar\psi'^2` and :math:`\hat f` is
the Epanechnikov kernel estimate of the residual density at zero with the Hall-Sheather
bandwidth (:func:`_median_sparsity`). The sandwich (``robust="HC0"``) is :math:`B^{-1} M B^{-1}`
with :math:`B = G(s\psi') + P` (the exact Hessian; Fisher for gaussian_nll) and
:math:`M = \sum_i s_i g_i g_i^\top` the outer product of the per-sample scores; ``"HC1"``
multiplies it by :math:`n / (n - p)`. For l1, :math:`B = 2 G(s \hat f_i) + P` with Powell's
kernel estimates :math:`\hat f_i = K(e_i/h)/h` of the conditional densities (the kernel and
bandwidth of :math:`\hat f`) and :math:`M = G(s)` (the score :math:`\operatorname{sign}(e)` has
variance 1). Unweighted and unpenalised, that is
:math:`\tfrac14 (X^\top F X)^{-1} X^\top X (X^\top F X)^{-1}`, :math:`F = \operatorname{diag}(\hat
f_i)`: the form of R quantreg's ``se="ker"`` (which uses a Gaussian kernel and the residuals'
standard deviation in :math:`h`). It is not statsmodels' ``vcov="robust"``,
:math:`(X^\top X)^{-1} X^\top D X (X^\top X)^{-1}` with :math:`D_{ii} = \tau^2 / \hat f^2` for
positive residuals and :math:`(1-\tau)^2 / \hat f^2` otherwise, which at :math:`\tau = \tfrac12`
is the model-based covariance. ``robust="nid"`` (l1 only) is the same sandwich with
Hendricks and Koenker's difference-quotient estimates
:math:`\hat f_i = \max(0, 2h_n / (\tilde x_i^\top(\hat\beta(\tfrac12 + h_n) - \hat\beta(\tfrac12 -
h_n)) - \epsilon))` from two further quantile regressions (:func:`_hendricks_koenker`): R
quantreg's ``summary.rq(se="nid")``.

Computation: :func:`covariance_sums` collects the sums over rows (:math:`G(\cdot)`,
:math:`\sum s\psi'`, :math:`\sum s\psi'^2`, :math:`\sum s\psi^2`, :math:`M`) and
:func:`covariance_from_sums` assembles :math:`\Sigma`. The sums of row blocks add up, so the
training data (:mod:`sklik._data`) computes them in memory or per dask chunk; only l1's
:math:`\hat f` and the smoothed curvature of the predictive huber/smooth_l1 covariance need
quantiles of all residuals (:func:`additive_covariance`).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy import stats
from sklearn.linear_model import QuantileRegressor

from sklik.losses import (
    BaseLoss,
    GaussianNLLLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NegativeBinomialNLLLoss,
    SmoothL1Loss,
)

__all__ = [
    "CovarianceResult",
    "predictive_uses_covariance",
    "additive_covariance",
    "covariance_from_sums",
    "model_based_sums",
    "covariance_sums",
    "predictive_distribution",
    "predictive_sample_step",
    "quadratic_form",
    "to_user_coordinates",
]

ROBUST_OPTIONS = (False, True, "HC0", "HC1", "nid")
_BLOCK_ROWS = 8192


@dataclass
class CovarianceResult:
    r"""Coefficient covariance of one target, in the standardised design's coordinates.

    Attributes
    ----------
    cov : ndarray of shape (n_params * (p + 1), n_params * (p + 1))
        Per head ``[intercept, v_1..v_p]`` (no intercept entry without ``fit_intercept``).
    df_resid : float
        ``n - p_eff``: the residual degrees of freedom of the mean head.
    p_eff : float
        Effective number of parameters of the mean head, ``tr((H + P)^{-1} H)``.
    n : float
        ``sum(sample_weight)``.
    k : float
        The M-estimators' small-sample factor :math:`k` (1 for the likelihood losses).
    null : ndarray of shape (n_params * (p + 1), r)
        A basis of the directions in which the coefficients are not identified (the null
        space of the information, see :func:`_generalised_inverse`); ``r = 0`` for a design
        of full rank. ``cov`` is then a generalised inverse: right for every estimable
        combination of the coefficients (a prediction at a row like the training rows).
    no_dispersion : bool
        An M-estimator (mse, huber, smooth_l1) with no residual degree of freedom left
        (:math:`n - p_\text{eff} < 1`, a saturated fit): its dispersion, and so ``cov``, is
        not estimable.
    """

    cov: np.ndarray
    df_resid: float
    p_eff: float
    n: float
    k: float = 1.0
    null: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    no_dispersion: bool = False


def _is_l1(loss: BaseLoss) -> bool:
    return isinstance(loss, L1Loss) or (isinstance(loss, SmoothL1Loss) and loss.beta == 0)


def _gram(design: Any, d: np.ndarray, fit_intercept: bool) -> np.ndarray:
    r""":math:`[1, Z]^\top \operatorname{diag}(d) [1, Z]` for d of any sign."""
    if d.size and d.min() >= 0:  # (the common case: no split into two signs)
        zz = design.sandwich(d)
    else:
        zz = design.sandwich(np.maximum(d, 0.0)) - design.sandwich(np.maximum(-d, 0.0))
    if not fit_intercept:
        return zz
    p = zz.shape[0]
    out = np.empty((p + 1, p + 1))
    out[0, 0] = d.sum()
    out[0, 1:] = out[1:, 0] = design.rmatvec(d)
    out[1:, 1:] = zz
    return out


def _inv(A: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive semi-definite matrix (pseudo-inverse if singular)."""
    A = 0.5 * (A + A.T)
    try:
        c = scipy.linalg.cho_factor(A)
        inv = scipy.linalg.cho_solve(c, np.eye(A.shape[0]))
        if np.all(np.isfinite(inv)):
            return 0.5 * (inv + inv.T)
    except (np.linalg.LinAlgError, ValueError):
        pass
    return scipy.linalg.pinvh(A)


# An information matrix's eigenvalue below this fraction of its largest, in its correlation
# form (unit diagonal, so that the units of the columns and of the heads do not matter), is
# zero: the coefficients are not identified along its eigenvector. Exactly collinear columns
# (an intercept and a full one-hot encoding) leave 1e-17 to 5e-15 there (10^2 to 10^5 rows,
# six losses); a design that is merely ill-conditioned to 1e-12 has standard errors 10^6
# times those of orthogonal columns, and is left as it is.
_RANK_RTOL = 1e-12
# A user coefficient is not identified when the null space's projector has more than this on
# its diagonal entry (0 for an identified one, up to rounding).
_UNIDENTIFIED = 1e-8


def _generalised_inverse(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""The inverse of a symmetric PSD information matrix, or a generalised one, and its null space.

    With :math:`A = D^{1/2} C D^{1/2}` (:math:`D` its diagonal, :math:`C` the correlation
    form), eigenvalues of :math:`C` below ``_RANK_RTOL`` of the largest are zero. Of full
    rank: :func:`_inv`, and an empty null space. Otherwise
    :math:`D^{-1/2} C^{+} D^{-1/2}`, a generalised inverse of :math:`A` (equal to any other
    on the estimable combinations :math:`c^\top\theta`, :math:`c` in :math:`A`'s range, which
    is what a variance of such a combination needs), and the basis
    :math:`D^{-1/2} V_0` of :math:`A`'s null space (:math:`V_0`: the null eigenvectors of
    :math:`C`). A zero row and column (a coefficient the data do not touch: a column that is
    0 on every row of positive weight, or constant next to an intercept) keeps a zero entry
    and is a null direction too (its standard error was 0, "known exactly", with no
    warning; R gives NA).
    """
    A = 0.5 * (A + A.T)
    m = A.shape[0]
    live = np.diag(A) > 0
    dead = np.eye(m)[:, ~live]  # (unit null directions)
    if not (live.any() and np.all(np.isfinite(A))):
        return _inv(A), dead if np.all(np.isfinite(A)) else np.zeros((m, 0))
    C, live, s = _correlation_form(A)
    values = np.linalg.eigvalsh(C)
    if values[0] > _RANK_RTOL * values[-1]:
        if live.all():
            return _inv(A), dead
        inv = np.zeros_like(A)
        inv[np.ix_(live, live)] = _inv(A[np.ix_(live, live)])
        return inv, dead
    values, vectors = np.linalg.eigh(C)
    keep = values > _RANK_RTOL * values[-1]
    kept = vectors[:, keep]
    inv = np.zeros_like(A)
    inv[np.ix_(live, live)] = ((kept / values[keep]) @ kept.T) * np.outer(s, s)
    null = np.zeros((m, int(np.count_nonzero(~keep))))
    null[live] = vectors[:, ~keep] * s[:, np.newaxis]
    return 0.5 * (inv + inv.T), np.hstack([null, dead])


def _correlation_form(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The correlation form of a symmetric PSD ``A`` on its rows of positive diagonal.

    Returns ``(C, live, s)``: ``C`` on the rows ``live``, whose inverse square-root diagonal
    is ``s``.
    """
    A = 0.5 * (A + A.T)
    live = np.diag(A) > 0
    s = 1.0 / np.sqrt(np.diag(A)[live])
    return A[np.ix_(live, live)] * np.outer(s, s), live, s


def rank(A: np.ndarray) -> int:
    """The numerical rank of a symmetric PSD matrix, as :func:`null_space` reads it.

    Eigenvalues of the correlation form above ``_RANK_RTOL`` of the largest; a zero row and
    column counts nothing. ``A.shape[0] - rank(A)`` is ``null_space(A).shape[1]``.
    """
    return rank_and_condition(A)[0]


def rank_and_condition(A: np.ndarray) -> tuple[int, float]:
    """:func:`rank`, and the condition number of the correlation form on the rank's directions.

    The ratio of its largest eigenvalue to its smallest above the rank's threshold (the
    directions :func:`null_space` leaves out do not count); 1 for an empty or all-zero ``A``.
    """
    C, live, _ = _correlation_form(A)
    if not live.any():
        return 0, 1.0
    values = np.linalg.eigvalsh(C)
    kept = values[values > _RANK_RTOL * values[-1]]
    return kept.size, float(values[-1] / kept[0])


def null_space(A: np.ndarray) -> np.ndarray:
    """A basis (unit columns) of the null space of a symmetric PSD matrix.

    The rank is read as in :func:`_generalised_inverse` (correlation form, ``_RANK_RTOL``); a
    zero row and column (a column that is 0 on every row summed) is a null direction too.
    """
    m = A.shape[0]
    C, live, s = _correlation_form(A)
    dead = np.eye(m)[:, ~live]
    if not live.any():
        return dead
    values, vectors = np.linalg.eigh(C)
    zero = values <= _RANK_RTOL * values[-1]
    basis = np.zeros((m, int(np.count_nonzero(zero))))
    basis[live] = vectors[:, zero] * s[:, np.newaxis]
    basis /= np.linalg.norm(basis, axis=0)
    return np.hstack([basis, dead])


# Entries of the separation certificate's rows below this fraction of the largest are 0
# (the rounding of products that vanish exactly).
_SEPARATION_RTOL = 1e-9


def n_separated(A: np.ndarray) -> int:
    r"""Rows that a direction :math:`t` with :math:`A t \le 0` makes negative (0: none).

    ``A``'s rows are the rows of :math:`y = 0` in the directions :math:`N` that leave every
    row of :math:`y > 0` unchanged (:math:`\tilde x_i^\top N = 0` there): a :math:`t` with
    :math:`A t \le 0`, negative somewhere, drives those means to 0 while raising the
    likelihood of every row, so no maximum likelihood estimate exists (quasi-complete
    separation, as R's ``detectseparation`` finds by a linear program). One direction: the
    signs of its column; several: the linear program
    :math:`\min_t \mathbf 1^\top A t` subject to :math:`A t \le 0`, :math:`|t| \le 1`
    (HiGHS, through ``scipy.optimize.linprog``).
    """
    if A.size == 0:
        return 0
    top = float(np.max(np.abs(A)))
    if not top > 0:
        return 0
    A = A / top
    A[np.abs(A) < _SEPARATION_RTOL] = 0.0
    if A.shape[1] == 1:
        col = A[:, 0]
        if np.all(col <= 0):
            return int(np.count_nonzero(col < 0))
        if np.all(col >= 0):
            return int(np.count_nonzero(col > 0))
        return 0
    from scipy.optimize import linprog

    res = linprog(
        A.sum(axis=0),
        A_ub=A,
        b_ub=np.zeros(A.shape[0]),
        bounds=[(-1.0, 1.0)] * A.shape[1],
        method="highs",
    )
    if res.status != 0 or not res.fun < -_SEPARATION_RTOL:
        return 0
    return int(np.count_nonzero(A @ res.x < -_SEPARATION_RTOL))


def unidentified(
    null: np.ndarray, x_mean: np.ndarray, x_scale: np.ndarray, n_params: int, fit_intercept: bool
) -> np.ndarray:
    """Which of the user's coefficients the data do not identify.

    In the order of :func:`to_user_coordinates`: those the null space ``null`` (design
    coordinates) moves.
    """
    size = n_params * (x_scale.shape[0] + int(fit_intercept))
    if null.size == 0:
        return np.zeros(size, dtype=bool)
    directions = _user_transform(x_mean, x_scale, n_params, fit_intercept) @ null
    basis, _ = np.linalg.qr(directions)
    return np.sum(basis * basis, axis=1) > _UNIDENTIFIED


def _weighted_percentiles(x: np.ndarray, w: np.ndarray, qs: list[float]) -> list[float]:
    r"""``np.percentile(x, qs)`` (linear interpolation) of the sample with frequency weights.

    The row :math:`i` counts :math:`w_i` times: with the weights :math:`c_k` cumulated in the
    order of ``x``, the expanded sample's order statistic at the 0-based position :math:`j` is
    the ``x`` of the first row with :math:`c_k > j`, and the percentile interpolates linearly
    between the positions around :math:`(\sum w - 1)\, q / 100`, as ``np.percentile`` (R's
    type 7). For integer weights it equals ``np.percentile`` of the rows repeated ``w`` times;
    for unit weights, ``np.percentile(x, qs)``. One partition (unit weights) or one sort
    for all of ``qs``.
    """
    if np.all(w == 1.0):
        return [float(v) for v in np.percentile(x, qs)]
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    keep = ws > 0
    xs, cum = xs[keep], np.cumsum(ws[keep])
    last = xs.size - 1
    out = []
    for q in qs:
        t = max(cum[-1] - 1.0, 0.0) * q / 100.0
        lo = math.floor(t)
        a = xs[min(int(np.searchsorted(cum, lo, side="right")), last)]
        b = xs[min(int(np.searchsorted(cum, lo + 1, side="right")), last)]
        out.append(float(a + (t - lo) * (b - a)))
    return out


def _hall_sheather(n: float, q: float, alpha: float = 0.05) -> float:
    z = stats.norm.ppf(q)
    num = 1.5 * stats.norm.pdf(z) ** 2
    den = 2.0 * z**2 + 1.0
    return n ** (-1.0 / 3) * stats.norm.ppf(1.0 - alpha / 2.0) ** (2.0 / 3) * (num / den) ** (1 / 3)


def _epanechnikov(u: np.ndarray) -> np.ndarray:
    return 0.75 * (1.0 - u**2) * (np.abs(u) <= 1)


def _bandwidth(resid: np.ndarray, target: np.ndarray, sw: np.ndarray) -> float:
    """The bandwidth of statsmodels' QuantReg at the median (Hall-Sheather, Stata 12)."""
    n = float(sw.sum())
    q = 0.5
    q25, q75 = _weighted_percentiles(resid, sw, [25.0, 75.0])
    iqr = q75 - q25
    mean_t = float(sw @ target) / n
    sd = math.sqrt(float(sw @ (target - mean_t) ** 2) / n)
    hn = _hall_sheather(n, q)
    spread = min(sd, iqr / 1.34)
    if not spread > 0:
        spread = max(sd, float(np.max(np.abs(resid))), np.finfo(float).tiny)
    if hn < 1e-6:  # (q +- hn rounds: the difference's first-order term, exact to hn^2)
        return spread * 2.0 * hn / stats.norm.pdf(stats.norm.ppf(q))
    return spread * (stats.norm.ppf(q + hn) - stats.norm.ppf(q - hn))


def _epanechnikov_cdf(u: np.ndarray) -> np.ndarray:
    r""":math:`\tfrac12 + \tfrac34 u - \tfrac14 u^3` on ``u`` clipped to [-1, 1].

    In Horner form, two products (``u**3`` is NumPy's general power: 100 times slower).
    """
    u = np.clip(u, -1.0, 1.0)
    out = u * u
    out *= -0.25
    out += 0.75
    out *= u
    out += 0.5
    return out


def _median_sparsity(
    resid: np.ndarray, target: np.ndarray, sw: np.ndarray
) -> tuple[float, np.ndarray]:
    r"""Kernel estimate :math:`\hat f` of the residual density at 0, as statsmodels' QuantReg.

    Bandwidth :math:`h = \min(\mathrm{sd}(y), \mathrm{IQR}(e)/1.34)\,
    (\Phi^{-1}(q + h_n) - \Phi^{-1}(q - h_n))` at :math:`q = \tfrac12` with the Hall-Sheather
    :math:`h_n = n^{-1/3} z_{0.975}^{2/3} \bigl(1.5\,\varphi(\Phi^{-1}(q))^2 /
    (2\Phi^{-1}(q)^2 + 1)\bigr)^{1/3}`, :math:`\mathrm{sd}(y)` the (weighted, ``ddof=0``)
    standard deviation of the target (``y - offset``) and :math:`\mathrm{IQR}(e)` that of the
    residuals by linear interpolation (:func:`_weighted_percentiles`); then
    :math:`\hat f = \sum_i s_i K(e_i / h) / (n h)` with the Epanechnikov kernel
    :math:`K(u) = \tfrac34 (1 - u^2)_+`. Returns :math:`\hat f` and the per-sample kernel
    weights :math:`K(e_i/h)/h` (Powell's estimates of the conditional densities).
    """
    n = float(sw.sum())
    h = max(_bandwidth(resid, target, sw), np.finfo(float).tiny)
    with np.errstate(over="ignore"):  # (beyond the kernel's support either way)
        k = _epanechnikov(resid / h) / h
    fhat = float(sw @ k) / n
    if not fhat > 0:  # no residual within the bandwidth: the widest honest choice
        fhat = 1.0 / (2.0 * max(float(np.max(np.abs(resid))), np.finfo(float).tiny))
    return fhat, k


#: R quantreg's ``summary.rq``: ``eps <- .Machine$double.eps^(1/2)`` (since quantreg 5.19;
#: ``^(2/3)`` before), in the units of y
_NID_EPS = math.sqrt(np.finfo(float).eps)


def _outside_sklik() -> int:
    """The ``stacklevel`` of a warning from the caller that names the user's code.

    The number of frames up to the first one outside the ``sklik`` package (whichever public
    method was called, and however many frames the interpreter gives a comprehension).
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _nid_bandwidth(n: float, q: float = 0.5) -> float:
    r"""The quantile step :math:`h_n` of ``robust="nid"``: R's ``bandwidth.rq(q, n, hs=TRUE)``.

    The Hall-Sheather rule with ``alpha = 0.05`` (:func:`_hall_sheather`), halved while
    :math:`q \pm h_n` leaves :math:`(0, 1)` (quantreg's ``summary.rq`` since 5.41; at the median
    only for :math:`n \le 7`).
    """
    h = _hall_sheather(n, q)
    while q - h <= 0.0 or q + h >= 1.0:
        h /= 2.0
    return h


def _nid_design(design: Any, fit_intercept: bool) -> Any:
    """The standardised design as a matrix for the quantile fits of :func:`_hendricks_koenker`.

    A sparse design stays sparse: its columns scaled, not centred (the intercept absorbs the
    shift, and without an intercept there is none), which leaves the fitted values unchanged.
    """
    if design.kind == "sparse" and (fit_intercept or not np.any(design.shift)):
        return sp.csr_array(design.X @ sp.diags(design.inv_scale))
    return design.toarray()


def _hendricks_koenker(
    design: Any, fit_intercept: bool, target: np.ndarray, sw: np.ndarray, q: float = 0.5
) -> tuple[np.ndarray, float, int]:
    r"""Hendricks-Koenker estimates of the conditional densities at the median (quantreg "nid").

    With :math:`h_n` of :func:`_nid_bandwidth` at :math:`n = \sum s`, the linear quantile
    regressions :math:`\hat\beta(q \pm h_n)` of the target (``y - offset``) on the design, with
    the frequency weights :math:`s` and no penalty (scikit-learn's ``QuantileRegressor``,
    HiGHS), give the difference quotients of the conditional quantile functions

    .. math::

        \hat f_i = \max\Bigl(0, \frac{2 h_n}{\widehat{\Delta y}_i - \epsilon}\Bigr), \qquad
        \widehat{\Delta y}_i = \tilde x_i^\top \bigl(\hat\beta(q + h_n) - \hat\beta(q - h_n)\bigr),

    :math:`\epsilon = \sqrt{\epsilon_{\text{mach}}}` (R's ``.Machine$double.eps^(1/2)``), so
    that rows where the two fits cross or touch (:math:`\widehat{\Delta y}_i \le \epsilon`) get
    :math:`\hat f_i = 0`, as in R. The fitted values, hence :math:`\hat f`, do not depend on the
    parametrisation of the design (the standardisation).

    Returns
    -------
    dens : ndarray of shape (n_samples,)
        :math:`\hat f_i`.
    h : float
        :math:`h_n`.
    n_zero : int
        The number of rows of positive weight with :math:`\hat f_i = 0`.
    """
    h = _nid_bandwidth(float(sw.sum()), q)
    A = _nid_design(design, fit_intercept)
    fitted = []
    for tau in (q + h, q - h):
        reg = QuantileRegressor(
            quantile=tau, alpha=0.0, fit_intercept=fit_intercept, solver="highs-ipm"
        )
        reg.fit(A, target, sample_weight=sw)
        fitted.append(np.asarray(reg.predict(A), dtype=np.float64))
    dyhat = fitted[0] - fitted[1]
    positive = dyhat > _NID_EPS
    dens = np.zeros_like(dyhat)
    dens[positive] = 2.0 * h / (dyhat[positive] - _NID_EPS)
    return dens, h, int(np.count_nonzero(~positive & (sw > 0)))


def predictive_uses_covariance(loss: BaseLoss) -> bool:
    """Whether :func:`predictive_distribution` uses the coefficient covariance of ``loss``.

    It does for ``mse``, the losses with a residual scale, ``gaussian_nll`` and the count
    likelihoods (a log link): every loss of the registry.
    """
    return isinstance(loss, (MSELoss, GaussianNLLLoss)) or loss.needs_scale or _is_count(loss)


# The count likelihoods' predictive covariance is summed over a strided sample of at least
# this many rows (see predictive_sample_step).
_PREDICTIVE_SAMPLE_ROWS = 2048


def predictive_sample_step(loss: BaseLoss, n_samples: int) -> int:
    r"""Every how many rows the predictive distribution's covariance sums take one.

    1 (every row) but for the count likelihoods on at least ``2 * _PREDICTIVE_SAMPLE_ROWS``
    rows: their information :math:`\sum_i s_i \mu_i \tilde z_i \tilde z_i^\top` is a
    weighted Gram matrix, a fifth of a Poisson fit's time at 1e5 rows, and what the
    predictive distribution takes from it, the variance of the fitted log mean, widens the
    count's variance by a relative :math:`\mu\, \tilde x^\top\Sigma\tilde x`, of order
    :math:`p / n`: a sample of 2048 to 4096 rows (weights times the step) estimates it to
    about :math:`\sqrt{p / 2048}` of that (10% at p = 20), where the sample represents every
    column (``sklik._data._sample_represents``; else the fit sums every row).
    :meth:`covariance_matrix` and the standard errors sum every row.
    """
    if not _is_count(loss):
        return 1
    return max(1, n_samples // _PREDICTIVE_SAMPLE_ROWS)


def _is_count(loss: BaseLoss) -> bool:
    """A count likelihood: a log link on the mean, no residual scale (Poisson, NB)."""
    return loss.link_name == "log" and not loss.needs_scale


def additive_covariance(loss: BaseLoss, predictive: bool) -> bool:
    """Whether :func:`covariance_sums` of ``loss`` is a sum over rows (blocks may be added).

    Not for l1 (a kernel estimate of the sparsity from quantiles of the residuals), nor for the
    predictive covariance of huber/smooth_l1 (a bandwidth from quantiles).
    """
    if _is_l1(loss):
        return False
    if isinstance(loss, (HuberLoss, SmoothL1Loss)):
        return not predictive
    # (a loss with neither has no covariance)
    return isinstance(loss, MSELoss) or loss.has_curvature or hasattr(loss, "raw_hessian_blocks")


def covariance_sums(
    loss: BaseLoss,
    design: Any,
    fit_intercept: bool,
    y: np.ndarray,
    raw: np.ndarray,
    sample_weight: np.ndarray,
    *,
    offset: np.ndarray | None = None,
    robust: Any = False,
    predictive: bool = False,
) -> dict:
    r"""The sums over rows that the coefficient covariance of one target is made of.

    With :math:`\tilde z_i = (1, z_i)`, :math:`G(d) = \sum_i d_i \tilde z_i \tilde z_i^\top`
    (see :func:`_gram`), the per-row loss derivatives :math:`\psi_i` and
    :math:`\psi'_i`: ``n`` :math:`=\sum s_i`; ``H``: the information (the Fisher blocks
    :math:`G(s\,d_j)` of each head for the likelihood losses; :math:`G(s)` for the
    M-estimators, scaled by the mean curvature at assembly); ``B``: the exact Hessian for the
    sandwich; ``M``: :math:`\sum_i s_i g_i g_i^\top` of the scores; and the scalars
    :math:`\sum s\psi'`, :math:`\sum s\psi'^2`, :math:`\sum s\psi^2`. Where
    :func:`additive_covariance` holds, the sums of row blocks add up to the sums of the whole
    data set (:mod:`sklik._dask` reduces them over chunks).

    Parameters
    ----------
    loss : BaseLoss
        The fitted loss.
    design : DenseDesign or SparseDesign
        The standardised design of the rows.
    fit_intercept : bool
        Whether the model has intercepts.
    y : ndarray of shape (n_samples,)
        Targets of this target column.
    raw : ndarray of shape (n_params, n_samples)
        Raw outputs at the fitted coefficients, offset included.
    sample_weight : ndarray of shape (n_samples,)
        Frequency weights.
    offset : ndarray of shape (n_samples,), default=None
        The offset of the mean head (l1 uses the spread of ``y - offset``).
    robust : {False, True, "HC0", "HC1", "nid"}, default=False
        Model-based covariance, or the sandwich (then ``B`` and ``M`` are summed too; for l1,
        Powell's kernel sandwich, or with ``"nid"`` (l1 only) the Hendricks-Koenker one of
        :func:`_hendricks_koenker`, see the module docstring).
    predictive : bool, default=False
        For the predictive distribution: l1 then estimates the sparsity without the rows that
        the exact fit interpolates (their residuals are exactly zero), and huber/smooth_l1
        smooth the share of residuals in the quadratic zone.

    Returns
    -------
    dict
        The sums (and, for l1, its non-additive sparsity estimate).
    """
    if robust == "nid" and not _is_l1(loss):
        raise ValueError(
            f"robust='nid' (Hendricks-Koenker) is the median regression's sandwich: it needs "
            f"loss='l1', not {type(loss).__name__}; use robust='HC0' or 'HC1'."
        )
    sw = np.asarray(sample_weight, dtype=np.float64)
    if isinstance(loss, MSELoss) and robust is False:
        with np.errstate(over="ignore", invalid="ignore"):
            resid = y - raw[0]
            rss = float(sw @ (resid * resid))
        return mse_covariance_sums(_gram(design, sw, fit_intercept), float(sw.sum()), rss)
    n_params = loss.n_params

    def scores() -> np.ndarray:
        """The per-row loss gradients (only the M-estimators and the sandwich use them)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _, grad = loss.raw_loss_gradient(y, raw)
        return np.asarray(grad).reshape(n_params, -1)

    out: dict = {"n": float(sw.sum())}
    if _is_l1(loss):
        target = y if offset is None else y - offset
        resid = y - raw[0]
        if predictive:  # the exact fit's p interpolated rows (zero residuals) inflate f-hat
            # (relative to the largest residual of a row of positive weight: a row of weight 0
            # is no row at all)
            positive = sw > 0
            largest = float(np.max(np.abs(resid[positive]))) if positive.any() else 0.0
            keep = np.abs(resid) > 1e-9 * max(largest, 1e-300)
            keep &= positive
            if np.count_nonzero(keep) < 2:
                keep = sw > 0
            fhat, _ = _median_sparsity(resid[keep], target[keep], sw[keep])
            kern = np.zeros_like(resid)
            # (and over every row, for the covariance of the fitted mean: model_based_sums)
            out["fhat"], out["fhat_all"] = fhat, _median_sparsity(resid, target, sw)[0]
        else:
            fhat, kern = _median_sparsity(resid, target, sw)
        out["H"] = 2.0 * fhat * _gram(design, sw, fit_intercept)
        out["phi"] = 1.0 / (2.0 * fhat)
        if robust == "nid":
            # R quantreg's summary.rq(se="nid"): tau (1 - tau) (X'FX)^-1 X'X (X'FX)^-1 at
            # tau = 1/2 is (B + P)^-1 M (B + P)^-1 with B = 2 X'SFX, M = X'SX (P = 0)
            dens, h, n_zero = _hendricks_koenker(design, fit_intercept, target, sw)
            if n_zero:
                # R warns "k non-positive fis"; the rows keep f_i = 0 (R's pmax(0, .))
                warnings.warn(
                    f"l1 robust='nid': the quantile regressions at 0.5 +/- {h:.4g} cross or "
                    f"touch at {n_zero} of {np.count_nonzero(sw > 0)} rows, whose density "
                    f'estimates are set to 0 (R quantreg\'s "non-positive fis"). Many such '
                    f"rows suggest a misspecified linear median (e.g. a missing nonlinear "
                    f"term).",
                    UserWarning,
                    stacklevel=_outside_sklik(),
                )
            out["B"] = 2.0 * _gram(design, sw * dens, fit_intercept)
            out["M"] = _gram(design, sw, fit_intercept)
        elif robust is not False:
            # Powell's kernel sandwich: B = 2 X'FX with F = diag(K(e/h)/h), the conditional
            # densities at the fit, with the kernel and bandwidth of f-hat (so that without
            # features it is the model-based covariance); the score of l1 is sign(e), of
            # variance 1 at the true median
            out["B"] = 2.0 * _gram(design, sw * kern, fit_intercept)
            out["M"] = _gram(design, sw, fit_intercept)
            if not np.all(np.isfinite(out["B"])):
                raise ValueError(
                    f"l1 robust={robust!r} (Powell's kernel sandwich) needs the residuals' "
                    f"density at the median, which these rows do not give: "
                    f"{int(np.count_nonzero(np.abs(resid) <= 1e-9 * np.max(np.abs(resid))))} "
                    f"of {resid.size} residuals are 0 (the exact fit interpolates as many "
                    f"rows as coefficients) and the kernel's bandwidth collapses. Use "
                    f"robust=False (the model-based covariance) or more rows."
                )
        return out
    if isinstance(loss, (MSELoss, HuberLoss, SmoothL1Loss)):
        with np.errstate(over="ignore", invalid="ignore"):
            dpsi = np.asarray(loss.raw_hessian(y, raw)).reshape(-1)
        psi = scores()[0]
        out["G"] = _gram(design, sw, fit_intercept)
        out["s_dpsi"] = float(sw @ dpsi)
        out["s_dpsi2"] = float(sw @ (dpsi * dpsi))
        out["s_psi2"] = float(sw @ (psi * psi))
        if predictive and not isinstance(loss, MSELoss):
            # the share of residuals in the quadratic zone, at least its kernel-smoothed value
            # (the raw share is noise when only a handful of residuals lie within delta)
            thr = float(loss.delta if isinstance(loss, HuberLoss) else loss.beta)
            level = 1.0 if isinstance(loss, HuberLoss) else 1.0 / thr
            resid = y - raw[0]
            h = _bandwidth(resid, y if offset is None else y - offset, sw)
            smooth = _epanechnikov_cdf((thr - resid) / h) - _epanechnikov_cdf((-thr - resid) / h)
            out["s_smooth"] = level * float(sw @ smooth)
        if robust is not False:
            out["B"] = (
                2.0 * out["G"]
                if isinstance(loss, MSELoss)
                else _gram(design, sw * dpsi, fit_intercept)
            )
            out["M"] = _gram(design, sw * psi * psi, fit_intercept)
        return out
    if loss.has_curvature:  # poisson_nll, gaussian_nll: the (Fisher) information
        with np.errstate(over="ignore", invalid="ignore"):
            d = np.asarray(loss.raw_hessian(y, raw)).reshape(n_params, -1)
        blocks = [_gram(design, sw * d[j], fit_intercept) for j in range(n_params)]
        out["H"] = blocks[0] if n_params == 1 else scipy.linalg.block_diag(*blocks)
        if robust is not False:
            q = design.shape[1] + int(fit_intercept)
            out["M"] = _score_outer(design, sw, scores(), fit_intercept, n_params, q)
        return out
    if hasattr(loss, "raw_hessian_blocks"):  # negative_binomial_nll: the observed information
        with np.errstate(over="ignore", invalid="ignore"):
            h = np.asarray(loss.raw_hessian_blocks(y, raw)).reshape(n_params, n_params, -1)
        q = design.shape[1] + int(fit_intercept)
        H = np.empty((n_params * q, n_params * q))
        for a in range(n_params):
            for b in range(a, n_params):
                block = _gram(design, sw * h[a, b], fit_intercept)
                H[a * q : (a + 1) * q, b * q : (b + 1) * q] = block
                H[b * q : (b + 1) * q, a * q : (a + 1) * q] = block.T
        out["H"] = H
        if robust is not False:
            out["M"] = _score_outer(design, sw, scores(), fit_intercept, n_params, q)
        return out
    raise ValueError(
        f"No coefficient covariance is implemented for {type(loss).__name__}; use one of "
        f"sklik's losses."
    )


def mse_covariance_sums(G: np.ndarray, n: float, rss: float) -> dict:
    r"""The sums of :func:`covariance_sums` for ``mse`` (model-based), from three totals.

    The squared error's curvature is 2 on every row and its score :math:`2 r_i`, so the sums
    are the weighted Gram matrix ``G`` (:func:`_gram`), :math:`n = \sum s_i` and the
    weighted residual sum of squares :math:`\sum s_i r_i^2`; a fit that has them (least
    squares on dask chunks) needs no pass over the rows.
    """
    return {"n": n, "G": G, "s_dpsi": 2.0 * n, "s_dpsi2": 4.0 * n, "s_psi2": 4.0 * rss}


def _score_outer(
    design: Any, sw: np.ndarray, grad: np.ndarray, fit_intercept: bool, n_params: int, q: int
) -> np.ndarray:
    r""":math:`M = \sum_i s_i g_i g_i^\top` of the per-sample scores of every head."""
    M = np.empty((n_params * q, n_params * q))
    for a in range(n_params):
        for b in range(a, n_params):
            block = _gram(design, sw * grad[a] * grad[b], fit_intercept)
            M[a * q : (a + 1) * q, b * q : (b + 1) * q] = block
            M[b * q : (b + 1) * q, a * q : (a + 1) * q] = block.T
    return M


def _rank(A: np.ndarray) -> int:
    """The numerical rank of a symmetric PSD matrix, scaled to a unit diagonal first."""
    d = np.sqrt(np.clip(np.diag(A), 0.0, None))
    d[d == 0] = 1.0
    return int(np.linalg.matrix_rank(A / np.outer(d, d), hermitian=True))


def _check_nid_rank(B: np.ndarray, M: np.ndarray) -> None:
    r"""Raise when the zero density estimates of "nid" leave :math:`X^\top F X` singular."""
    if _rank(B) < _rank(M):
        raise ValueError(
            "l1 robust='nid': the density estimates are zero on so many rows (the quantile "
            "regressions at 0.5 +/- h cross there) that X'FX is singular, so the Hendricks-"
            "Koenker covariance is undefined; use robust='HC0' (Powell's kernel estimate) or "
            "robust=False."
        )


def model_based_sums(sums: dict) -> dict:
    """The sums of :func:`covariance_sums` without its ``predictive`` adjustments.

    What ``covariance_matrix`` sums (the covariance of the fitted coefficients, hence of the
    fitted mean), from the predictive distribution's: l1's sparsity over every row rather than
    without the interpolated ones, and the M-estimators' raw share of residuals in the
    quadratic zone rather than its smoothed value.
    """
    out = {key: value for key, value in sums.items() if key not in ("s_smooth", "fhat", "fhat_all")}
    if "fhat_all" in sums:
        out["H"] = sums["H"] * (sums["fhat_all"] / sums["fhat"])
        out["phi"] = 1.0 / (2.0 * sums["fhat_all"])
    return out


def covariance_from_sums(
    loss: BaseLoss,
    sums: dict,
    ridge: np.ndarray,
    fit_intercept: bool,
    *,
    robust: Any = False,
    predictive: bool = False,
) -> CovarianceResult:
    r"""The coefficient covariance of one target from :func:`covariance_sums` (of all rows).

    With the penalty's curvature :math:`P` (``ridge``: ``n K alpha pi`` per coefficient in the
    design's coordinates; zeros without a penalty), the model-based covariance is
    :math:`\phi (H + P)^{-1}` (:math:`H` the information, :math:`\phi` the dispersion: 1 for
    the likelihood losses, statsmodels' RLM "H1" scale for the M-estimators) and the sandwich
    :math:`(B + P)^{-1} M (B + P)^{-1}`; ``df_resid`` is :math:`n - \operatorname{tr}((H +
    P)^{-1} H)` over the mean head.
    """
    n = sums["n"]
    n_params = loss.n_params
    pen = []
    for j in range(n_params):
        pj = np.concatenate([[0.0], ridge[j]]) if fit_intercept else np.asarray(ridge[j])
        pen.append(np.diag(pj))
    P = scipy.linalg.block_diag(*pen)
    q = P.shape[0] // n_params  # coefficients per head
    kfac = 1.0
    if "G" in sums:  # the M-estimators (mse, huber, smooth_l1)
        mbar = sums["s_dpsi"] / n
        if "s_smooth" in sums:
            mbar = max(mbar, sums["s_smooth"] / n)
        if not mbar > 0:
            raise ValueError(
                f"{type(loss).__name__}: no residual lies in the loss's quadratic zone, so the "
                f"coefficient covariance is undefined; increase the loss's threshold."
            )
        # statsmodels' k = 1 + p/n var(psi') / mean(psi')^2; for the predictive distribution the
        # ratio is capped at 1: it explodes when few residuals lie in the quadratic zone (delta
        # far below the noise scale), where the estimator is close to least absolute deviations
        raw_mean = sums["s_dpsi"] / n
        spread = sums["s_dpsi2"] / n - 2.0 * mbar * raw_mean + mbar * mbar
        ratio = max(spread, 0.0) / mbar**2
        if isinstance(loss, MSELoss):
            ratio = 0.0  # psi' = 2 everywhere
        if predictive:
            ratio = min(ratio, 1.0)
        H = mbar * sums["G"]
    else:
        H = sums["H"]
    # the coefficients of a constant head (the negative binomial's dispersion) other than its
    # intercept are fixed at 0: the covariance is that of the free coefficients, 0 elsewhere
    free = np.ones(P.shape[0], dtype=bool)
    for j in getattr(loss, "constant_params", ()):
        free[j * q + int(fit_intercept) : (j + 1) * q] = False
    B_inv = np.zeros_like(P)
    B_inv[np.ix_(free, free)], null_free = _generalised_inverse((H + P)[np.ix_(free, free)])
    # effective number of parameters of the mean head: the trace of the hat matrix
    p_eff = float(np.sum(B_inv[:q, :q] * H[:q, :q]))
    # unpenalised, the trace is the rank, an integer but for rounding (4.000000000000001 had
    # read one residual degree of freedom as none: a saturated fit, NaN standard errors)
    if abs(p_eff - round(p_eff)) <= 1e-9 * max(q, 1):
        p_eff = float(round(p_eff))
    if "G" in sums:  # statsmodels RLM "H1" (OLS for mse)
        # (n below p_eff, a saturated fit whose dispersion is not estimable: p_eff / n is
        # held at 1, which keeps kfac finite when frequency weights sum to almost nothing)
        kfac = 1.0 + p_eff / max(n, p_eff) * ratio
        phi = kfac**2 * sums["s_psi2"] / max(n - p_eff, 1.0) / mbar
    else:  # the dispersion: 1 for the likelihood losses
        phi = sums.get("phi", 1.0)
    if robust is False:
        cov = phi * B_inv
    else:
        if robust == "nid":
            _check_nid_rank(
                (sums["B"] + P)[np.ix_(free, free)], (sums["M"] + P)[np.ix_(free, free)]
            )
        Bx_inv = np.zeros_like(P)
        Bx_inv[np.ix_(free, free)], null_free = _generalised_inverse(
            (sums.get("B", H) + P)[np.ix_(free, free)]
        )
        cov = Bx_inv @ sums["M"] @ Bx_inv
        if robust == "HC1":
            cov *= n / max(n - (np.count_nonzero(free) - null_free.shape[1]), 1.0)
    cov = 0.5 * (cov + cov.T)
    null = np.zeros((P.shape[0], null_free.shape[1]))
    null[free] = null_free
    return CovarianceResult(
        cov=cov,
        df_resid=n - p_eff,
        p_eff=p_eff,
        n=n,
        k=kfac,
        null=null,
        no_dispersion="G" in sums and n - p_eff < 1.0,
    )


def to_user_coordinates(
    cov: np.ndarray, x_mean: np.ndarray, x_scale: np.ndarray, n_params: int, fit_intercept: bool
) -> np.ndarray:
    """Map a design-coordinate covariance to the user's ``[intercept, coef]`` per head."""
    T = _user_transform(x_mean, x_scale, n_params, fit_intercept)
    out = T @ cov @ T.T
    return 0.5 * (out + out.T)


def _user_transform(
    x_mean: np.ndarray, x_scale: np.ndarray, n_params: int, fit_intercept: bool
) -> np.ndarray:
    r"""The matrix :math:`T` with user coefficients :math:`= T\,\theta` (design coordinates)."""
    inv_s = 1.0 / x_scale
    if fit_intercept:
        p = x_scale.shape[0]
        T1 = np.zeros((p + 1, p + 1))
        T1[0, 0] = 1.0
        T1[0, 1:] = -x_mean * inv_s
        T1[1:, 1:] = np.diag(inv_s)
    else:
        T1 = np.diag(inv_s)
    return scipy.linalg.block_diag(*([T1] * n_params))


def quadratic_form(
    X: Any, cov: np.ndarray, x_mean: np.ndarray, x_scale: np.ndarray, fit_intercept: bool
) -> np.ndarray:
    r""":math:`\tilde z_i^\top \Sigma \tilde z_i` for every row, :math:`\tilde z = (1, (x-m)/s)`.

    Computed in row blocks (sparse X is densified one block at a time).
    """
    n = X.shape[0]
    out = np.empty(n)
    inv_s = 1.0 / x_scale
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        block = X[start:stop]
        block = block.toarray() if sp.issparse(block) else np.asarray(block, dtype=np.float64)
        Z = (block - x_mean) * inv_s if fit_intercept else block * inv_s
        if fit_intercept:
            Z = np.hstack([np.ones((Z.shape[0], 1)), Z])
        out[start:stop] = np.einsum("ij,ij->i", Z @ cov, Z)
    return np.maximum(out, 0.0)


#: The residual degrees of freedom are floored here, so that the predictive distributions keep
#: a finite variance when a model has almost as many coefficients as rows.
# predictive variances are capped here, so that scipy's var, std and intervals (which square
# the scale and multiply by df / (df - 2)) stay finite in float64
_VAR_MAX = 1e300
MIN_DF = 3.0
_VAR_MIX = 1.0


def predictive_distribution(
    loss: BaseLoss,
    raw: np.ndarray,
    scale: Any,
    qf: np.ndarray,
    df_resid: Any,
    n: float,
    qf_var: np.ndarray | None = None,
    k: Any = 1.0,
) -> Any:
    r"""The predictive distribution: noise plus the uncertainty of the fitted mean.

    Parameters
    ----------
    loss : BaseLoss
        The fitted loss.
    raw : ndarray of shape (n_params, *shape)
        Raw outputs at the fitted coefficients (offset included).
    scale : float, ndarray or None
        The maximum-likelihood scale of the residual density (``scale_``).
    qf : ndarray of shape ``shape``
        :math:`\tilde x^\top \Sigma \tilde x`, the variance of the fitted mean head (raw scale).
    df_resid : float or ndarray
        Residual degrees of freedom :math:`\nu = n - p_{\text{eff}}` (floored at ``MIN_DF``).
    n : float
        Number of (frequency-weighted) training observations.

    Returns
    -------
    scipy.stats frozen distribution

    Notes
    -----
    - ``mse``: Student t with :math:`\nu` degrees of freedom, location the prediction, scale
      :math:`\sqrt{s^2 + \tilde x^\top\Sigma\tilde x}` with :math:`s^2 = \sum w r^2 / \nu`:
      the exact predictive distribution of least squares with Gaussian noise.
    - ``l1``, ``huber``, ``smooth_l1``: the loss's noise density with the ML scale times
      :math:`\sqrt{n/\nu}`, its scale then widened so that its variance grows by
      :math:`\tilde x^\top\Sigma\tilde x`.
    - ``gaussian_nll``: Normal with variance :math:`v\, n / \nu + \tilde x^\top\Sigma\tilde x`.
    - ``poisson_nll``, ``negative_binomial_nll`` (a log link): the negative binomial with the
      fitted mean :math:`\mu` and dispersion
      :math:`\alpha' = (1 + \alpha_c)\, e^{\tilde x^\top\Sigma\tilde x} - 1`: the count
      distribution mixed over a mean-one log-normal factor of log-variance
      :math:`\tilde x^\top\Sigma\tilde x` (the fitted log mean's), matched in mean and
      variance. :math:`\alpha_c = 0` for the Poisson, whose variance is not estimated; for
      the negative binomial the maximum-likelihood variance :math:`\mu + \alpha\mu^2`,
      which the fitted means' overfitting shrinks as it shrinks a residual variance, is
      scaled by :math:`n/\nu`: :math:`\alpha_c = \alpha n/\nu + (n/\nu - 1)/\mu`.
    """
    df = np.maximum(np.asarray(df_resid, dtype=np.float64), MIN_DF)
    # the noise variance's degrees-of-freedom correction n / nu, never below 1 (with fewer
    # than MIN_DF frequency-weighted observations, n / MIN_DF would shrink the noise)
    correction = np.maximum(n / df, 1.0)
    if isinstance(loss, MSELoss):
        noise_var = 0.5 * np.asarray(scale, dtype=np.float64) ** 2 * correction
        return stats.t(df=df, loc=raw[0], scale=np.sqrt(noise_var + qf))
    if loss.needs_scale:
        scale_c = np.asarray(scale, dtype=np.float64) * np.sqrt(correction) * np.asarray(k)
        # a location-scale family: the variance at scale s is s^2 v1, so the scale whose
        # variance is s_c^2 v1 + qf is hypot(s_c, sqrt(qf / v1)) (no overflowing ratio)
        v1 = float(loss.predictive_distribution(np.zeros((raw.shape[0], 1)), 1.0).var()[0])
        return loss.predictive_distribution(raw, np.hypot(scale_c, np.sqrt(qf / v1)))
    if isinstance(loss, GaussianNLLLoss):
        with np.errstate(over="ignore"):  # a huge variance stays finite (capped)
            var = np.minimum(loss.variance(raw) * correction + qf, _VAR_MAX)
        if qf_var is None:
            return stats.norm(loc=raw[0], scale=np.sqrt(var))
        # the log variance is known up to a variance tau^2 = qf_var: a scale mixture of normals,
        # approximated by a Student t with the degrees of freedom of a variance estimated from
        # 2 / tau^2 observations (Var log(chi2_nu / nu) ~ 2 / nu)
        nu = np.maximum(2.0 / np.maximum(qf_var, 1e-12), MIN_DF)
        # (capped: a log variance this uncertain has the t's smallest df anyway, and the
        # factor must not overflow)
        inflate = np.exp(np.minimum(qf_var / 2, 200.0))
        with np.errstate(over="ignore"):
            scale_t = np.sqrt(np.minimum(var * _VAR_MIX * inflate, _VAR_MAX))
        return stats.t(df=nu, loc=raw[0], scale=scale_t)
    if _is_count(loss):
        return _count_predictive(loss, raw, qf, correction)
    return loss.predictive_distribution(raw, scale)


def mean_distribution(loss: BaseLoss, raw: np.ndarray, qf: np.ndarray, df_resid: Any) -> Any:
    r"""The sampling distribution of the fitted mean (the confidence distribution of the mean).

    Parameters
    ----------
    loss : BaseLoss
        The fitted loss.
    raw : ndarray of shape (n_params, *shape)
        Raw outputs at the fitted coefficients (offset included).
    qf : ndarray of shape ``shape``
        :math:`\tilde x^\top \Sigma \tilde x`, the variance of the fitted mean head (raw scale).
    df_resid : float or ndarray
        Residual degrees of freedom :math:`\nu` (floored at ``MIN_DF``).

    Returns
    -------
    scipy.stats frozen distribution

    Notes
    -----
    The Wald distribution of the linear predictor :math:`\hat\eta = \tilde x^\top
    \hat\theta`, mapped through the inverse link, as statsmodels' ``get_prediction``
    forms its confidence intervals of the mean:

    - identity link: Student t with :math:`\nu` degrees of freedom for ``mse`` (the exact
      distribution of least squares with Gaussian noise), else Normal, with location
      :math:`\hat\eta` and scale :math:`\sqrt{\tilde x^\top\Sigma\tilde x}`;
    - log link (``poisson_nll``, ``negative_binomial_nll``): log-normal with median
      :math:`e^{\hat\eta}` (the prediction) and log-scale
      :math:`\sqrt{\tilde x^\top\Sigma\tilde x}`, so that ``interval(c)`` is
      :math:`e^{\hat\eta \pm z\, \mathrm{se}}`; its mean lies above the prediction by
      :math:`e^{\mathrm{se}^2/2}`.

    A variance of 0 (a mean known exactly) is a point mass, held at the smallest positive
    scale. Where the log-normal's variance,
    :math:`e^{2\hat\eta + q}(e^{q} - 1)`, or its fourth moment overflows float64 (rows far
    from the training data) it is not representable: ``ValueError``; so is a saturated fit
    (no residual degree of freedom) of a loss with a residual scale.
    """
    se = np.maximum(np.sqrt(np.asarray(qf, dtype=np.float64)), np.finfo(np.float64).tiny)
    eta = raw[0]
    df = np.asarray(df_resid, dtype=np.float64)
    if (loss.needs_scale or isinstance(loss, MSELoss)) and np.any(df < 0.5):
        raise ValueError(
            "The fit has no residual degree of freedom (as many free coefficients as "
            "frequency-weighted rows: a saturated fit), so the residuals' scale, hence the "
            "fitted mean's spread, is not estimable (statsmodels gives NaN): fit on more rows "
            "or with fewer features."
        )
    if loss.link_name == "log":
        with np.errstate(over="ignore", divide="ignore"):
            log_var = 2.0 * eta + se * se + np.log(np.expm1(se * se))
        # (scipy's moments of the log-normal take exp(se^2) to the 4th power; a median that
        # underflows to 0 is no log-normal: NaN moments)
        bad = ~((log_var < _LOG_VAR_MAX) & (se * se < _LOG_NORMAL_MAX_S2) & (eta > _LOG_TINY))
        bad = np.reshape(bad, (log_var.shape[0], -1)).any(axis=1)
        if bad.any():
            raise ValueError(
                f"The sampling distribution of the fitted mean is not representable at "
                f"{int(bad.sum())} row(s) of X (e.g. row {int(np.flatnonzero(bad)[0])}): its "
                f"log-normal moments overflow or its median underflows float64 (fitted log "
                f"mean from {float(np.min(eta)):.3g} to {float(np.max(eta)):.3g}, its standard "
                f"error up to {float(np.max(se)):.3g}). Those rows lie far from the training "
                f"data or have an extreme offset, or the fit identifies the mean there poorly "
                f"(few rows per coefficient); check their units (predict(X) still gives the "
                f"mean)."
            )
        return stats.lognorm(s=se, scale=np.exp(eta))
    if isinstance(loss, MSELoss):  # (the exact t: its degrees of freedom are not floored)
        return stats.t(df=df, loc=eta, scale=se)
    return stats.norm(loc=eta, scale=se)


def _count_predictive(
    loss: BaseLoss, raw: np.ndarray, qf: np.ndarray, correction: np.ndarray
) -> Any:
    """The widened negative binomial of :func:`predictive_distribution` for a count loss."""
    eta = raw[0]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        if loss.n_params == 2:  # the negative binomial: log dispersion raw[1]
            alpha = np.exp(raw[1]) * correction + (correction - 1.0) * np.exp(-eta)
        else:
            alpha = np.zeros_like(eta)
        # no residual degree of freedom (a correction of inf times a dispersion of 0): the
        # dispersion is unbounded, held at the largest representable below; a correction
        # below 1 can leave the df-corrected dispersion below 0, Poisson's: held at 0
        alpha = np.where(np.isnan(alpha), np.inf, np.maximum(alpha, 0.0))
        # log((1 + alpha_c) e^q - 1) = q + log(alpha_c + 1 - e^-q): no cancellation at small
        # q, no overflow (nor 0 * inf for Poisson's alpha_c = 0) at large q
        q = np.asarray(qf, dtype=np.float64)
        log_alpha = q + np.log(alpha - np.expm1(-q))
    # (far from the data, where the widened variance would overflow float64, the negative
    # binomial holds the dispersion where it stays representable: the interval spans every
    # count float64 holds, the log pmf of a moderate count is about log(1 / alpha))
    return _COUNT_PREDICTIVE.predictive_distribution(np.stack([eta, log_alpha]))


# the largest squared log-scale of the fitted mean's log-normal (see mean_distribution)
_LOG_NORMAL_MAX_S2 = 170.0
# the largest log variance of the fitted mean's log-normal (see mean_distribution)
_LOG_VAR_MAX = 707.0
# below this log mean the fitted mean's log-normal has a subnormal or zero median
_LOG_TINY = math.log(np.finfo(np.float64).tiny)


# the predictive distribution of the count likelihoods (see _count_predictive)
_COUNT_PREDICTIVE = NegativeBinomialNLLLoss()
