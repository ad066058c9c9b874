r"""Metrics, proper scoring rules and scorers for likelihood-based regression.

Three layers, as in scikit-learn:

- **Loss metrics** ``f(y_true, y_pred, ..., sample_weight=None)``: the weighted mean of torch's
  elementwise loss at the estimators' parameterisation (``y_pred`` is the predicted mean, the
  rate for Poisson; :func:`mean_gaussian_nll` also takes the predicted variance):
  :func:`mean_squared_error`, :func:`mean_absolute_error`, :func:`mean_huber_loss`,
  :func:`mean_smooth_l1_loss`, :func:`mean_gaussian_nll`, :func:`mean_poisson_nll`, and
  :func:`mean_loss` for any loss instance.
- **Proper scoring rules** ``f(y_true, dist, ..., sample_weight=None)`` on a predictive
  distribution (a frozen ``scipy.stats`` distribution, e.g. from ``est.predict_dist(X)``):
  :func:`log_score`, :func:`crps`, :func:`pinball_loss`, :func:`interval_score`,
  :func:`interval_coverage`.
- **Scorers** for ``scoring=`` in ``GridSearchCV``, ``cross_validate`` etc.:
  :func:`get_scorer` by name and :func:`make_loss_scorer` for a loss instance. Loss scorers use
  ``predict`` and work with any regressor; distribution scorers obtain the predictive
  distribution with :func:`predictive_distribution` (``predict_dist``, through a ``Pipeline``,
  or a Normal from ``predict(X, return_std=True)``).

Calibration helpers: :func:`pit`, :func:`pit_values` and :func:`coverage_table`.

With several targets, a sample's score is the mean over its targets; ``sample_weight``
weights samples.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.metrics import make_scorer
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

from sklik._validation import _BaseScorer, check_sample_weight
from sklik.distributions import (
    crps_huber,
    crps_laplace,
    crps_nbinom,
    crps_normal,
    crps_poisson,
)
from sklik.losses import (
    LOSSES,
    BaseLoss,
    GaussianNLLLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    get_loss,
)

__all__ = [
    "coverage_table",
    "crps",
    "get_scorer",
    "get_scorer_names",
    "interval_coverage",
    "interval_score",
    "log_score",
    "make_loss_scorer",
    "mean_absolute_error",
    "mean_gaussian_nll",
    "mean_huber_loss",
    "mean_loss",
    "mean_poisson_nll",
    "mean_smooth_l1_loss",
    "mean_squared_error",
    "pinball_loss",
    "pit",
    "pit_values",
    "predictive_distribution",
]


def _weighted_mean(values: np.ndarray, sample_weight: Any) -> float:
    """Mean over targets per sample, then the sample-weighted mean over samples."""
    values = np.asarray(values, dtype=np.float64)
    per_sample = values.reshape(values.shape[0], -1).mean(axis=1)
    sw = check_sample_weight(sample_weight, per_sample.shape[0])
    return float(sw @ per_sample / sw.sum())


def _targets(y_true: Any, shape: tuple) -> np.ndarray:
    y = np.asarray(y_true, dtype=np.float64)
    if y.shape != shape:
        raise ValueError(
            f"y_true of shape {y.shape} does not match the predictions of shape {shape}."
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("y_true contains NaN or infinity.")
    return y


# -- loss metrics --------------------------------------------------------------------------------


def mean_loss(
    y_true: Any,
    y_pred: Any,
    loss: str | BaseLoss,
    *,
    var: Any = None,
    sample_weight: Any = None,
) -> float:
    r"""Weighted mean of a loss's torch elementwise loss at predictions ``y_pred``.

    .. math:: \frac{\sum_i s_i \ell(\mathrm{link}(\hat y_i), y_i)}{\sum_i s_i}

    where the link maps the predicted mean to the loss's raw input: identity, the log for
    ``"poisson_nll"``; ``"gaussian_nll"`` also takes the predicted variance ``var``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
        Observed targets.
    y_pred : array-like of the same shape
        Predicted means (rates for Poisson).
    loss : str or BaseLoss
        The loss, by name or instance (its parameters apply, its reduction does not).
    var : array-like of the same shape, default=None
        Predicted variances, for ``"gaussian_nll"`` only.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    float
    """
    loss = get_loss(loss)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y = _targets(y_true, y_pred.shape)
    raw = loss.link(y_pred, var) if loss.n_params == 2 else loss.link(y_pred)
    return _weighted_mean(loss.raw_loss(y, raw), sample_weight)


def mean_squared_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    r"""Weighted mean of torch's ``MSELoss``, :math:`(\hat y - y)^2`."""
    return mean_loss(y_true, y_pred, MSELoss(), sample_weight=sample_weight)


def mean_absolute_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    r"""Weighted mean of torch's ``L1Loss``, :math:`|\hat y - y|`."""
    return mean_loss(y_true, y_pred, L1Loss(), sample_weight=sample_weight)


def mean_huber_loss(
    y_true: Any, y_pred: Any, *, delta: float = 1.0, sample_weight: Any = None
) -> float:
    """Weighted mean of torch's ``HuberLoss(delta=delta)``."""
    return mean_loss(y_true, y_pred, HuberLoss(delta=delta), sample_weight=sample_weight)


def mean_smooth_l1_loss(
    y_true: Any, y_pred: Any, *, beta: float = 1.0, sample_weight: Any = None
) -> float:
    """Weighted mean of torch's ``SmoothL1Loss(beta=beta)``."""
    return mean_loss(y_true, y_pred, SmoothL1Loss(beta=beta), sample_weight=sample_weight)


def mean_gaussian_nll(
    y_true: Any,
    y_pred: Any,
    var: Any,
    *,
    full: bool = False,
    eps: float = 1e-6,
    sample_weight: Any = None,
) -> float:
    """Weighted mean of torch's ``GaussianNLLLoss(full=full, eps=eps)`` with variance ``var``."""
    loss = GaussianNLLLoss(full=full, eps=eps)
    return mean_loss(y_true, y_pred, loss, var=var, sample_weight=sample_weight)


def mean_poisson_nll(
    y_true: Any,
    y_pred: Any,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    sample_weight: Any = None,
) -> float:
    r"""Weighted mean of torch's ``PoissonNLLLoss`` at predicted rates ``y_pred``.

    With ``log_input=True`` (torch's default) the torch input is ``log(y_pred)``, so the loss
    is :math:`\hat y - y \log \hat y`; with ``log_input=False`` it is the rate itself.
    """
    loss = PoissonNLLLoss(log_input=log_input, full=full, eps=eps)
    return mean_loss(y_true, y_pred, loss, sample_weight=sample_weight)


# -- proper scoring rules on a predictive distribution ---------------------------------------


def _dist_params(dist: Any) -> tuple[str, dict]:
    """Family name and named parameters of a frozen scipy distribution."""
    family = dist.dist
    names = [n.strip() for n in family.shapes.split(",")] if family.shapes else []
    names += ["loc"] if isinstance(family, stats.rv_discrete) else ["loc", "scale"]
    params = dict(zip(names, dist.args, strict=False))
    params.update(dist.kwds)
    return family.name, params


def _check_dist_targets(y_true: Any, dist: Any) -> np.ndarray:
    return _targets(y_true, np.shape(dist.mean()))


def log_score(y_true: Any, dist: Any, *, sample_weight: Any = None) -> float:
    """Mean negative log-likelihood of ``y_true`` under ``dist`` (the logarithmic score).

    Uses the density for continuous and the probability mass for discrete distributions.

    Parameters
    ----------
    y_true : array-like
        Observed targets, of the distribution's shape.
    dist : scipy.stats frozen distribution
        The predictive distribution, vectorised over samples.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    float
        Lower is better.
    """
    y = _check_dist_targets(y_true, dist)
    logp = dist.logpmf(y) if hasattr(dist, "logpmf") else dist.logpdf(y)
    return _weighted_mean(-logp, sample_weight)


def crps(y_true: Any, dist: Any, *, sample_weight: Any = None) -> float:
    r"""Mean continuous ranked probability score :math:`\int (F(x) - 1\{y \le x\})^2 dx`.

    Closed forms for the Normal, Laplace and Poisson distributions, an exact sum for the negative
    binomial, and exact for sklik's Huber density (:mod:`sklik.distributions`). Same units as
    ``y``; lower is better.

    Parameters
    ----------
    y_true : array-like
        Observed targets, of the distribution's shape.
    dist : scipy.stats frozen distribution
        ``norm``, ``laplace``, ``poisson``, ``nbinom`` or ``sklik.distributions.huber``.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For another distribution family.
    """
    y = _check_dist_targets(y_true, dist)
    name, p = _dist_params(dist)
    loc, scale = p.get("loc", 0.0), p.get("scale", 1.0)
    if name == "norm":
        values = crps_normal(y, loc, scale)
    elif name == "laplace":
        values = crps_laplace(y, loc, scale)
    elif name == "poisson":
        values = crps_poisson(y - loc, p["mu"])
    elif name == "huber":
        values = crps_huber(y, p["delta"], loc, scale)
    elif name == "nbinom":
        values = crps_nbinom(y - loc, p["n"], p["p"])
    else:
        raise ValueError(
            f"crps supports the norm, laplace, poisson, nbinom and huber distributions; got "
            f"{name!r}."
        )
    return _weighted_mean(values, sample_weight)


def pinball_loss(
    y_true: Any, dist: Any, *, quantile: float = 0.5, sample_weight: Any = None
) -> float:
    r"""Mean pinball (quantile) loss of the predictive ``quantile``.

    :math:`\rho_\tau(y - q) = \max(\tau (y - q), (\tau - 1)(y - q))` with :math:`q` the
    ``quantile`` :math:`\tau` of ``dist``. Lower is better.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1); got {quantile!r}.")
    y = _check_dist_targets(y_true, dist)
    diff = y - dist.ppf(quantile)
    return _weighted_mean(np.maximum(quantile * diff, (quantile - 1) * diff), sample_weight)


def _interval(dist: Any, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1); got {coverage!r}.")
    return dist.interval(coverage)


def interval_score(
    y_true: Any, dist: Any, *, coverage: float = 0.9, sample_weight: Any = None
) -> float:
    r"""Mean interval score of the central ``coverage`` interval :math:`[l, u]`.

    :math:`(u - l) + \frac{2}{\alpha}(l - y)1\{y < l\} + \frac{2}{\alpha}(y - u)1\{y > u\}` with
    :math:`\alpha = 1 - \text{coverage}` (Gneiting & Raftery, 2007): width plus a penalty for
    misses. A proper score; lower is better.
    """
    y = _check_dist_targets(y_true, dist)
    low, high = _interval(dist, coverage)
    alpha = 1.0 - coverage
    values = (high - low) + 2.0 / alpha * (np.maximum(low - y, 0.0) + np.maximum(y - high, 0.0))
    return _weighted_mean(values, sample_weight)


def interval_coverage(
    y_true: Any, dist: Any, *, coverage: float = 0.9, sample_weight: Any = None
) -> float:
    """Fraction of ``y_true`` inside the central ``coverage`` interval of ``dist``.

    A calibration diagnostic, not a score to maximise: a calibrated model gives ``coverage``
    (at least ``coverage`` for discrete distributions, whose intervals are integer-valued).
    """
    y = _check_dist_targets(y_true, dist)
    low, high = _interval(dist, coverage)
    return _weighted_mean((low <= y) & (y <= high), sample_weight)


# -- predictive distributions of arbitrary estimators ------------------------------------------


def predictive_distribution(estimator: Any, X: Any) -> Any:
    """Predictive distribution of a fitted estimator, as a frozen scipy distribution.

    - An estimator with ``predict_dist`` (sklik's): its distribution.
    - A ``Pipeline`` whose last step has one: ``X`` goes through the other steps first.
    - Any other estimator whose ``predict`` accepts ``return_std=True`` (e.g. scikit-learn's
      ``BayesianRidge`` or ``GaussianProcessRegressor``): a Normal with that mean and std.
      With metadata routing enabled, a Pipeline ending in such an estimator needs
      ``set_predict_request(return_std=True)`` on it.

    Parameters
    ----------
    estimator : fitted estimator
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    scipy.stats frozen distribution

    Raises
    ------
    ValueError
        If the estimator offers no predictive distribution.
    """
    if hasattr(estimator, "predict_dist"):
        return estimator.predict_dist(X)
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        if hasattr(final, "predict_dist") or isinstance(final, Pipeline):
            Xt = estimator[:-1].transform(X) if len(estimator.steps) > 1 else X
            return predictive_distribution(final, Xt)
    try:
        mean, std = estimator.predict(X, return_std=True)
    except TypeError as exc:
        raise ValueError(
            f"This scorer needs a predictive distribution, but {type(estimator).__name__} has "
            f"no predict_dist and its predict does not accept return_std=True. Use a sklik "
            f"estimator, or a point-prediction scorer such as 'neg_mean_squared_error'."
        ) from exc
    return stats.norm(loc=mean, scale=std)


# -- scorers -------------------------------------------------------------------------------------


class _DistributionScorer(_BaseScorer):
    """Scorer applying ``score_func(y_true, dist, **kwargs)`` to the predictive distribution."""

    def __init__(self, score_func: Any, sign: int, kwargs: dict) -> None:
        # what predictive_distribution calls: predict_dist, or predict(X, return_std=True);
        # scikit-learn's multi-metric scorer checks that the estimator has one of them
        super().__init__(score_func, sign, kwargs, response_method=("predict_dist", "predict"))

    def _score(self, method_caller: Any, estimator: Any, X: Any, y_true: Any, **kwargs: Any):
        dist = predictive_distribution(estimator, X)
        return self._sign * self._score_func(y_true, dist, **{**self._kwargs, **kwargs})


def _mean_loss_of_dist(
    y_true: Any, dist: Any, *, loss: BaseLoss, sample_weight: Any = None
) -> float:
    """:func:`mean_loss` of a two-parameter (mean, variance) loss at a distribution."""
    return mean_loss(y_true, dist.mean(), loss, var=dist.var(), sample_weight=sample_weight)


def make_loss_scorer(loss: str | BaseLoss) -> Any:
    """Scorer for a loss, parameters included: ``-mean_loss`` (greater is better).

    Losses of the mean alone use ``predict`` and work with any regressor; ``"gaussian_nll"``
    uses the predictive distribution's mean and variance.

    Parameters
    ----------
    loss : str or BaseLoss
        E.g. ``HuberLoss(delta=2.0)`` or ``GaussianNLLLoss(full=True)``.

    Returns
    -------
    scorer
        Callable as ``scorer(estimator, X, y, sample_weight=None)``.

    Examples
    --------
    >>> from sklik.losses import HuberLoss
    >>> from sklik.metrics import make_loss_scorer
    >>> make_loss_scorer(HuberLoss(delta=2.0))
    make_scorer(mean_loss, greater_is_better=False, response_method='predict',
                loss=HuberLoss(delta=2.0))
    """
    loss = get_loss(loss)
    if loss.n_params == 1:
        return make_scorer(mean_loss, greater_is_better=False, loss=loss)
    return _DistributionScorer(_mean_loss_of_dist, -1, {"loss": loss})


def _scorers() -> dict[str, Any]:
    scorers = {f"neg_mean_{cls.metric_name}": make_loss_scorer(cls()) for cls in LOSSES.values()}
    scorers["neg_log_score"] = _DistributionScorer(log_score, -1, {})
    scorers["neg_crps"] = _DistributionScorer(crps, -1, {})
    scorers["neg_interval_score_90"] = _DistributionScorer(interval_score, -1, {"coverage": 0.9})
    scorers["coverage_90"] = _DistributionScorer(interval_coverage, 1, {"coverage": 0.9})
    return scorers


_SCORERS = _scorers()


def get_scorer_names() -> list[str]:
    """Names :func:`~sklik.metrics.get_scorer` knows besides scikit-learn's own."""
    return sorted(_SCORERS)


def get_scorer(scoring: str | Any) -> Any:
    """A scorer by name: sklik's, else scikit-learn's.

    =========================== ====================================================== =======
    name                        score                                                  needs
    =========================== ====================================================== =======
    ``neg_mean_squared_error``  ``-mean_squared_error`` (torch ``MSELoss``)            predict
    ``neg_mean_absolute_error`` ``-mean_absolute_error`` (torch ``L1Loss``)            predict
    ``neg_mean_huber_loss``     ``-mean_huber_loss`` (``delta=1``)                     predict
    ``neg_mean_smooth_l1_loss`` ``-mean_smooth_l1_loss`` (``beta=1``)                  predict
    ``neg_mean_poisson_nll``    ``-mean_poisson_nll`` at the predicted rate            predict
    ``neg_mean_gaussian_nll``   ``-mean_gaussian_nll`` at the predicted mean, variance dist
    ``neg_log_score``           ``-log_score``: mean negative log-likelihood           dist
    ``neg_crps``                ``-crps``                                              dist
    ``neg_interval_score_90``   ``-interval_score`` of the central 90% interval        dist
    ``coverage_90``             empirical coverage of the central 90% interval         dist
    =========================== ====================================================== =======

    "dist" scorers use :func:`predictive_distribution`. Greater is better for all but
    ``coverage_90``, a diagnostic whose target is 0.9. Any other name is passed to
    :func:`sklearn.metrics.get_scorer`; a callable is returned as is.

    Parameters
    ----------
    scoring : str or callable

    Returns
    -------
    scorer
        A new scorer object, usable as ``scoring=`` in scikit-learn's model selection.
    """
    if isinstance(scoring, str) and scoring in _SCORERS:
        return copy.deepcopy(_SCORERS[scoring])
    return _sklearn_get_scorer(scoring)


# -- calibration -----------------------------------------------------------------------------------


def pit_values(estimator: Any, X: Any, y: Any, *, random_state: Any = None) -> np.ndarray:
    r"""Probability integral transform :math:`F(y \mid x)` of held-out targets.

    Uniform on [0, 1] for a calibrated model. For discrete predictive distributions (Poisson)
    the randomised PIT :math:`F(y - 1) + V (F(y) - F(y - 1))`, :math:`V \sim U(0, 1)`, which is
    uniform too.

    Parameters
    ----------
    estimator : fitted estimator
        Anything :func:`predictive_distribution` accepts.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    random_state : int, RandomState instance or None, default=None
        For the randomised PIT of discrete distributions.

    Returns
    -------
    ndarray of y's shape
    """
    return pit(y, predictive_distribution(estimator, X), random_state=random_state)


def pit(y_true: Any, dist: Any, *, random_state: Any = None) -> np.ndarray:
    r"""Probability integral transform :math:`F(y)` of targets under a predictive distribution.

    The randomised PIT :math:`F(y - 1) + V (F(y) - F(y - 1))`, :math:`V \sim U(0, 1)`, for a
    discrete ``dist``. :func:`pit_values` applies it to an estimator's predictions.

    Parameters
    ----------
    y_true : array-like
        Observed targets, of the distribution's shape.
    dist : scipy.stats frozen distribution
        The predictive distribution, vectorised over samples.
    random_state : int, RandomState instance or None, default=None
        For the randomised PIT of discrete distributions.

    Returns
    -------
    ndarray of y_true's shape
    """
    y = _check_dist_targets(y_true, dist)
    if hasattr(dist, "pmf"):
        low, high = dist.cdf(y - 1), dist.cdf(y)
        u = check_random_state(random_state).uniform(size=y.shape)
        return low + u * (high - low)
    return dist.cdf(y)


def coverage_table(
    estimator: Any,
    X: Any,
    y: Any,
    levels: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95),
    *,
    sample_weight: Any = None,
) -> pd.DataFrame:
    """Empirical coverage of the central predictive intervals at several nominal levels.

    Parameters
    ----------
    estimator : fitted estimator
        Anything :func:`predictive_distribution` accepts.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    levels : tuple of float, default=(0.5, 0.8, 0.9, 0.95)
        Nominal coverages, each in (0, 1).
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    pandas.DataFrame
        Columns ``level``, ``coverage`` and ``mean_width`` (the mean interval width).
    """
    dist = predictive_distribution(estimator, X)
    rows = []
    for level in levels:
        low, high = _interval(dist, level)
        rows.append(
            {
                "level": level,
                "coverage": interval_coverage(y, dist, coverage=level, sample_weight=sample_weight),
                "mean_width": _weighted_mean(high - low, sample_weight),
            }
        )
    return pd.DataFrame(rows)
