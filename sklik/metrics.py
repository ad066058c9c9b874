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
from sklearn.compose import TransformedTargetRegressor
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.metadata_routing import UNUSED

from sklik._data import positive_rows
from sklik._validation import _BaseScorer, check_sample_weight
from sklik.distributions import (
    TransformedDistribution,
    crps_huber,
    crps_laplace,
    crps_nbinom,
    crps_normal,
    crps_poisson,
    crps_t,
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
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(
            f"A metric needs at least one sample: y_true and the predictions must be arrays "
            f"of shape (n_samples,) or (n_samples, n_targets) with n_samples >= 1; got "
            f"{'a scalar' if values.ndim == 0 else 'no samples'}."
        )
    values = values.reshape(values.shape[0], -1)
    sw = check_sample_weight(sample_weight, values.shape[0])
    keep = positive_rows(sw)  # rows of weight 0 are no rows (their value may not be finite)
    if keep is not None:
        sw, values = sw[keep], values[keep]
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(sw @ values.mean(axis=1) / sw.sum())
        if np.isfinite(mean) or not np.all(np.isfinite(values)):
            return mean
        # finite values near float64's largest (a count model's CRPS far from the data) have
        # a finite mean where their sum overflows: in units of the largest |value|
        top = float(np.max(np.abs(values)))
        return float((sw / sw.sum()) @ (values / top).mean(axis=1)) * top


def _targets(y_true: Any, shape: tuple) -> np.ndarray:
    """``y_true`` as floats of the predictions' shape, finite, else a ValueError."""
    try:
        y = np.asarray(y_true, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y_true must be numeric; got {type(y_true).__name__}: {exc}") from exc
    if y.shape != shape:
        if len(shape) and (not y.ndim or y.shape[0] != shape[0]):
            got = y.shape[0] if y.ndim else "a scalar"
            raise ValueError(
                f"y_true has {got} samples, which does not match the {shape[0]} predictions: "
                f"pass the targets of the rows that were predicted (expected length "
                f"{shape[0]})."
            )
        raise ValueError(
            f"y_true of shape {y.shape} does not match the predictions of shape {shape}."
        )
    if not np.all(np.isfinite(y)):
        n_bad = int(np.sum(~np.isfinite(y)))
        raise ValueError(
            f"y_true contains {n_bad} NaN or infinite value(s); drop or impute those rows."
        )
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
    if sample_weight is not None and y_pred.ndim:
        sample_weight = check_sample_weight(sample_weight, y_pred.shape[0])
        keep = positive_rows(sample_weight)
        if keep is not None:  # rows of weight 0 are no rows (their loss may not be finite)
            y_pred, y, sample_weight = y_pred[keep], y[keep], sample_weight[keep]
            if var is not None and np.ndim(var) and np.shape(var)[0] == keep.shape[0]:
                var = np.asarray(var)[keep]
    if not np.all(np.isfinite(y_pred)):
        raise ValueError("y_pred contains NaN or infinite values.")
    loss.check_y(y)  # (a target outside the loss's domain is named as such)
    if loss.n_params == 2:
        if var is None:
            raise ValueError(f"{type(loss).__name__} needs the predicted variance var.")
        var = np.asarray(var, dtype=np.float64)
        if not np.all(np.isfinite(var)):
            raise ValueError("var contains NaN or infinite values.")
        if np.any(var < 0):  # (torch: "var has negative entry/entries")
            raise ValueError(
                f"var has {int(np.sum(var < 0))} negative entry(ies) (e.g. "
                f"{float(var[var < 0][0])!r}): predicted variances must be >= 0."
            )
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        raw = loss.link(y_pred, var) if loss.n_params == 2 else loss.link(y_pred)
        values = loss.raw_loss(y, raw)
    if not np.all(np.isfinite(values)):
        bad = ~np.isfinite(values)
        example = float(np.broadcast_to(y_pred, np.shape(values))[bad][0])
        target = float(np.broadcast_to(y, np.shape(values))[bad][0])
        raise ValueError(
            f"{type(loss).__name__} is not finite at some rows (e.g. y_true = {target!r}, "
            f"y_pred = {example!r}): a Poisson rate must be > 0, a variance > 0, and the "
            f"loss of every row within float64's range (the squared error of a target of "
            f"1e300 is not: rescale y)."
        )
    return _weighted_mean(values, sample_weight)


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
    if isinstance(dist, TransformedDistribution):
        return "transformed", {}
    family = dist.dist
    names = [n.strip() for n in family.shapes.split(",")] if family.shapes else []
    names += ["loc"] if isinstance(family, stats.rv_discrete) else ["loc", "scale"]
    params = dict(zip(names, dist.args, strict=False))
    params.update(dist.kwds)
    return family.name, params


def _dist_shape(dist: Any) -> tuple:
    if isinstance(dist, TransformedDistribution):
        return np.shape(dist.base.mean())
    return np.shape(dist.mean())


def _check_dist_targets(y_true: Any, dist: Any) -> np.ndarray:
    return _targets(y_true, _dist_shape(dist))


def _is_discrete(dist: Any) -> bool:
    return hasattr(dist, "pmf")


def log_score(y_true: Any, dist: Any, *, sample_weight: Any = None) -> float:
    r"""Mean negative log-likelihood of ``y_true`` under ``dist`` (the logarithmic score).

    Uses the density for continuous and the probability mass for discrete distributions
    (for a Poisson model: :math:`-\log P(Y = y)`, on the scale of probabilities, not
    densities).

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

    Raises
    ------
    ValueError
        If a target lies outside the distribution's support (its probability is 0, the score
        infinite): e.g. a non-integer or negative count under a Poisson distribution.
    """
    y = _check_dist_targets(y_true, dist)
    discrete = _is_discrete(dist)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # (refused below)
        logp = np.asarray(dist.logpmf(y) if discrete else dist.logpdf(y), dtype=np.float64)
    # (rows of weight 0 are no rows: their log-probability may underflow, unchecked)
    keep = None
    if sample_weight is not None and logp.ndim:
        keep = positive_rows(check_sample_weight(sample_weight, logp.shape[0]))
    y_b = np.broadcast_to(y, logp.shape)
    _check_log_probability(
        y_b if keep is None else y_b[keep], logp if keep is None else logp[keep], discrete
    )
    return _weighted_mean(-logp, sample_weight)


def _check_log_probability(y: np.ndarray, logp: np.ndarray, discrete: bool) -> None:
    """A ValueError that explains a log-probability of -inf (or NaN) instead of returning it."""
    bad = ~np.isfinite(logp)
    if not bad.any():
        return
    example = float(np.broadcast_to(y, logp.shape)[bad][0])
    n_bad = int(bad.sum())
    if discrete:
        raise ValueError(
            f"{n_bad} target(s) have probability 0 under the discrete predictive distribution "
            f"(e.g. y_true = {example!r}): a Poisson model gives probability only to the "
            f"counts 0, 1, 2, ..., so its log score is infinite at a negative or non-integer "
            f"target. For rates (counts per exposure), fit the counts with the exposure as an "
            f"offset/sample weight instead of the rate, or use a continuous loss (e.g. "
            f'"mse" or "gaussian_nll").'
        )
    raise ValueError(
        f"{n_bad} target(s) have density 0 (or an undefined density) under the predictive "
        f"distribution (e.g. y_true = {example!r}): the target lies outside the "
        f"distribution's support (for a log-transformed target: y <= 0), so far from the "
        f"prediction that its density underflows float64 (a target orders of magnitude beyond "
        f"the training targets), or the predictive scale has collapsed to 0. The log score "
        f"is infinite there."
    )


def crps(y_true: Any, dist: Any, *, sample_weight: Any = None) -> float:
    r"""Mean continuous ranked probability score :math:`\int (F(x) - 1\{y \le x\})^2 dx`.

    Closed forms for the Normal, Student-t, Laplace and Poisson distributions, an exact sum
    for the negative binomial, and exact for sklik's Huber density
    (:mod:`sklik.distributions`); for a
    :class:`~sklik.distributions.TransformedDistribution` (a ``TransformedTargetRegressor``),
    exact for an affine map (:math:`|b|\,\mathrm{CRPS}_T((y - a)/b)`) and by quadrature for
    another monotone map. Same units as ``y``; lower is better.

    Parameters
    ----------
    y_true : array-like
        Observed targets, of the distribution's shape.
    dist : scipy.stats frozen distribution
        ``norm``, ``t``, ``laplace``, ``poisson``, ``nbinom``, ``sklik.distributions.huber``, or a
        :class:`~sklik.distributions.TransformedDistribution` of one.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For another distribution family, or a Student-t with ``df <= 1`` (infinite CRPS).
    """
    y = _check_dist_targets(y_true, dist)
    with np.errstate(invalid="ignore", divide="ignore"):  # (an undefined value: refused below)
        values = np.asarray(_crps_values(y, dist), dtype=np.float64)
    bad = np.isnan(values)
    if sample_weight is not None and values.ndim:  # (rows of weight 0 are no rows)
        keep = positive_rows(check_sample_weight(sample_weight, values.shape[0]))
        if keep is not None:
            bad[~keep] = False
    if bad.any():
        raise ValueError(
            f"The CRPS is undefined at {int(bad.sum())} target(s): the predictive "
            f"distribution's parameters are invalid there (e.g. a scale <= 0, a predictive "
            f"scale that collapsed to 0)."
        )
    return _weighted_mean(values, sample_weight)


def _crps_values(y: np.ndarray, dist: Any) -> np.ndarray:
    """Elementwise CRPS of ``dist`` at ``y``."""
    if hasattr(dist, "map_chunks"):  # a predictive distribution of dask input, per chunk
        return np.asarray(dist.map_chunks(_crps_values, y))
    if isinstance(dist, TransformedDistribution):
        if dist.affine is None:
            return dist.crps(y)
        a, b = dist.affine
        return abs(b) * _crps_values((y - a) / b, dist.base)
    name, p = _dist_params(dist)
    loc, scale = p.get("loc", 0.0), p.get("scale", 1.0)
    if name == "t":
        df = np.asarray(p["df"], dtype=np.float64)
        if np.any(df <= 1):
            raise ValueError(
                "The CRPS of a Student-t predictive distribution with df <= 1 is infinite "
                f"(min df = {float(np.min(df))!r}): the distribution has no mean. Fit with "
                "more samples than parameters, or score with log_score."
            )
        # (df = inf is the normal, which SciPy accepts: crps_t's forms are NaN there)
        normal = np.isinf(df)
        values = crps_t(y, np.where(normal, 2.0, df), loc, scale)
        if normal.any():
            values = np.where(normal, crps_normal(y, loc, scale), values)
    elif name == "norm":
        values = crps_normal(y, loc, scale)
    elif name == "laplace":
        values = crps_laplace(y, loc, scale)
    elif name == "poisson":
        values = crps_poisson(y - loc, p["mu"])
    elif name == "nbinom":
        values = crps_nbinom(y - loc, p["n"], p["p"])
    elif name == "huber":
        values = crps_huber(y, p["delta"], loc, scale)
    else:
        raise ValueError(
            f"crps supports the norm, t, laplace, poisson, nbinom and huber distributions; got "
            f"{name!r}."
        )
    return values


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


def predictive_distribution(estimator: Any, X: Any, *, offset: Any = None) -> Any:
    r"""Predictive distribution of a fitted estimator, as a frozen scipy distribution.

    - An estimator with ``predict_dist`` (sklik's): its distribution.
    - A ``Pipeline``: ``X`` goes through all steps but the last (their ``transform``), then
      the last step is asked, by these same rules.
    - A fitted ``GridSearchCV`` / ``RandomizedSearchCV`` (any search with ``best_estimator_``,
      so ``refit=True``): its ``best_estimator_``.
    - A ``TransformedTargetRegressor`` with a single target: the regressor's distribution of
      the transformed target, mapped through the transformer's inverse :math:`g`, as a
      :class:`~sklik.distributions.TransformedDistribution`. A ``StandardScaler`` is affine
      by construction (:math:`g(t) = \mathrm{mean} + \mathrm{scale}\cdot t`); any other
      transformer is probed: :math:`g` is evaluated at quantiles of the predictive
      distributions and points beyond them, and is treated as affine when
      :math:`g(t) = g(0) + (g(1) - g(0))\,t` there to 1e-9 relative (the distribution is
      then transformed exactly), else as monotone when it strictly increases or decreases
      over the central quantiles (1% to 99%) of the predictive distributions (cdf,
      quantiles and log density mapped exactly, moments and CRPS by quadrature), else
      refused. A discrete distribution (Poisson) is only transformed by an affine map.
      ``TransformedTargetRegressor.predict(X, return_std=True)`` itself is scikit-learn's and
      fails; use this function (or the distribution scorers, which use it) instead.
    - Any other estimator whose ``predict`` accepts ``return_std=True`` (e.g. scikit-learn's
      ``BayesianRidge`` or ``GaussianProcessRegressor``): a Normal with that mean and std.

    Parameters
    ----------
    estimator : fitted estimator
    X : array-like of shape (n_samples, n_features)
    offset : array-like of shape (n_samples,), default=None
        Passed to the sklik estimator's ``predict_dist`` (through the wrappers above), e.g.
        ``np.log(exposure)`` for counts over an exposure. Other estimators refuse it.

    Returns
    -------
    scipy.stats frozen distribution or TransformedDistribution

    Raises
    ------
    ValueError
        If the estimator (or a wrapped one, e.g. a ``VotingRegressor``, a non-monotone or
        multi-output target transformer) offers no predictive distribution; the message names
        it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.compose import TransformedTargetRegressor
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklik import LinearRegressor
    >>> from sklik.metrics import predictive_distribution
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 2))
    >>> y = 1000.0 + 100.0 * (X @ [1.0, -1.0] + rng.normal(size=50))
    >>> model = TransformedTargetRegressor(LinearRegressor(), transformer=StandardScaler())
    >>> dist = predictive_distribution(model.fit(X, y), X[:3])
    >>> bool(np.allclose(dist.mean(), model.predict(X[:3])))
    True
    """
    if hasattr(estimator, "predict_dist"):
        if offset is None:
            return estimator.predict_dist(X)
        return estimator.predict_dist(X, offset=offset)
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        Xt = estimator[:-1].transform(X) if len(estimator.steps) > 1 else X
        return predictive_distribution(final, Xt, offset=offset)
    if isinstance(estimator, (GridSearchCV, RandomizedSearchCV)) or hasattr(
        estimator, "cv_results_"
    ):
        if not hasattr(estimator, "best_estimator_"):
            raise ValueError(
                f"{type(estimator).__name__} has no best_estimator_ (fitted with refit=False, "
                f"or not fitted): refit the search with refit=True to get a predictive "
                f"distribution."
            )
        return predictive_distribution(estimator.best_estimator_, X, offset=offset)
    if isinstance(estimator, TransformedTargetRegressor):
        return _transformed_target_distribution(estimator, X, offset)
    name = type(estimator).__name__
    if offset is not None:
        raise ValueError(
            f"offset was given, but {name} has no predict_dist that takes one: only sklik's "
            f"estimators (also inside Pipeline, searches and TransformedTargetRegressor) do."
        )
    try:
        out = estimator.predict(X, return_std=True)
    except (TypeError, AttributeError) as exc:
        raise ValueError(
            f"This scorer needs a predictive distribution, but {name} has no predict_dist and "
            f"its predict does not accept return_std=True (supported wrappers: Pipeline, "
            f"GridSearchCV/RandomizedSearchCV, TransformedTargetRegressor). Use a sklik "
            f"estimator, or a point-prediction scorer such as 'neg_mean_squared_error'."
        ) from exc
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(
            f"{name}.predict(X, return_std=True) did not return a (mean, std) pair; it offers "
            f"no predictive distribution."
        )
    mean, std = out
    return stats.norm(loc=mean, scale=std)


def _column_map(fn: Any) -> Any:
    """An elementwise map of arrays of any shape from a transformer method on one column."""

    def apply(v: Any) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        out = np.asarray(fn(v.reshape(-1, 1)), dtype=np.float64)
        if out.size != v.size:
            raise ValueError(
                "The TransformedTargetRegressor's transformer does not map one target column "
                "to one column; only single-output, elementwise transformers are supported."
            )
        return out.reshape(v.shape)

    return apply


def _transformed_target_distribution(
    ttr: Any, X: Any, offset: Any = None
) -> TransformedDistribution:
    """The predictive distribution of a fitted ``TransformedTargetRegressor``."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(ttr)
    base = predictive_distribution(ttr.regressor_, X, offset=offset)
    shape = _dist_shape(base)
    if len(shape) != 1:
        raise ValueError(
            f"TransformedTargetRegressor: only a single target is supported (the regressor "
            f"predicts shape {shape}); fit one model per target."
        )
    transformer = ttr.transformer_
    inverse = _column_map(transformer.inverse_transform)
    forward = _column_map(transformer.transform)
    if isinstance(transformer, StandardScaler) and transformer.n_features_in_ == 1:
        a = float(transformer.mean_[0]) if transformer.with_mean else 0.0
        b = float(transformer.scale_[0]) if transformer.with_std else 1.0
        return TransformedDistribution(base, inverse, forward, True, affine=(a, b))
    # probe the inverse at quantiles of the predictive distributions and beyond them
    with np.errstate(all="ignore"):
        core = np.concatenate([np.ravel(base.ppf(q)) for q in (0.01, 0.25, 0.5, 0.75, 0.99)])
    core = np.unique(core[np.isfinite(core)])
    if core.size > 64:
        core = core[np.linspace(0, core.size - 1, 64).astype(int)]
    span = max(float(core.max() - core.min()), 1.0) if core.size else 1.0
    lo, hi = (float(core.min()), float(core.max())) if core.size else (0.0, 0.0)
    extra = np.array([lo - span, lo - 0.5 * span, hi + 0.5 * span, hi + span, 0.0, 1.0])
    name = f"TransformedTargetRegressor's transformer {type(transformer).__name__}"
    with np.errstate(all="ignore"):
        g_core = inverse(core)
        g_extra = inverse(extra)
    if not np.all(np.isfinite(g_core)):
        raise ValueError(
            f"The {name} gives non-finite inverse values in the range of the predictions; "
            f"its inverse must be finite and monotone there."
        )
    t = np.concatenate([core, extra[np.isfinite(g_extra)]])
    g = np.concatenate([g_core, g_extra[np.isfinite(g_extra)]])
    order = np.argsort(t, kind="stable")
    t, g = t[order], g[order]
    keep = np.concatenate([[True], np.diff(t) > 0])
    t, g = t[keep], g[keep]
    g0, g1 = g_extra[4], g_extra[5]
    if np.isfinite(g0) and np.isfinite(g1) and g1 != g0:
        b = float(g1 - g0)
        tol = 1e-9 * max(float(np.max(np.abs(g))), abs(float(g0)), abs(b))
        if np.max(np.abs(g - (g0 + b * t))) <= tol:
            return TransformedDistribution(base, inverse, forward, b > 0, affine=(float(g0), b))
    # monotone over the central quantiles (the probes beyond them only decide affinity: a map
    # like 1/t may be monotone where the predictions lie and not across a pole beyond)
    steps = np.diff(g_core[np.argsort(core, kind="stable")])
    if steps.size and np.all(steps > 0):
        return TransformedDistribution(base, inverse, forward, True)
    if steps.size and np.all(steps < 0):
        return TransformedDistribution(base, inverse, forward, False)
    raise ValueError(
        f"The {name} is not strictly monotone over the range of the predictions: the "
        f"predictive distribution of the original target is not available. Use a monotone "
        f"transformer (e.g. StandardScaler, log/exp)."
    )


# -- scorers -------------------------------------------------------------------------------------


class _KeptRequests:
    """``set_score_request`` that updates the scorer's requests instead of replacing them.

    scikit-learn's replaces them all: ``set_score_request(offset=True)`` dropped the unset
    ``sample_weight`` request, so that a routed ``sample_weight`` was silently left out of
    the score (weighted cross-validation scored unweighted, no error), and a second call
    for ``sample_weight`` dropped the offset. Parameters not named keep their request.
    """

    def set_score_request(self, **kwargs: Any) -> Any:  # noqa: D102 (scikit-learn's)
        previous = self.get_metadata_routing().score.requests
        super().set_score_request(**kwargs)
        for param, alias in previous.items():
            if param not in kwargs:
                self._metadata_request.score.add_request(param=param, alias=alias)
        return self


class _DistributionScorer(_KeptRequests, _BaseScorer):
    """Scorer applying ``score_func(y_true, dist, **kwargs)`` to the predictive distribution.

    Its metadata requests (routing): ``sample_weight`` from the score function, and
    ``offset``, routed to the model's ``predict_dist``; both unset by default, so that
    passing one to a meta-estimator without ``set_score_request`` is scikit-learn's
    ``UnsetMetadataPassedError``, not a score silently computed without it. ``dist`` is the
    prediction, not metadata.
    """

    __metadata_request__score = {"offset": None, "dist": UNUSED}

    def __init__(self, score_func: Any, sign: int, kwargs: dict) -> None:
        # what predictive_distribution calls: predict_dist, or predict(X, return_std=True);
        # scikit-learn's multi-metric scorer checks that the estimator has one of them
        super().__init__(score_func, sign, kwargs, response_method=("predict_dist", "predict"))

    def _score(self, method_caller: Any, estimator: Any, X: Any, y_true: Any, **kwargs: Any):
        # an offset routed to the scorer (set_score_request(offset=True)) goes to the model
        offset = kwargs.pop("offset", None)
        dist = predictive_distribution(estimator, X, offset=offset)
        return self._sign * self._score_func(y_true, dist, **{**self._kwargs, **kwargs})


def _prediction(estimator: Any, X: Any, offset: Any) -> np.ndarray:
    """``estimator.predict(X)`` with ``offset`` given to the sklik estimator it wraps.

    The wrappers of :func:`predictive_distribution`: Pipeline, the searches and
    TransformedTargetRegressor (the inverse transform of the wrapped prediction).
    """
    if hasattr(estimator, "predict_dist"):
        return estimator.predict(X, offset=offset)
    if isinstance(estimator, Pipeline):
        Xt = estimator[:-1].transform(X) if len(estimator.steps) > 1 else X
        return _prediction(estimator.steps[-1][1], Xt, offset)
    if hasattr(estimator, "cv_results_") and hasattr(estimator, "best_estimator_"):
        return _prediction(estimator.best_estimator_, X, offset)
    if isinstance(estimator, TransformedTargetRegressor):
        inner = np.asarray(_prediction(estimator.regressor_, X, offset))
        out = estimator.transformer_.inverse_transform(inner.reshape(inner.shape[0], -1))
        return out.reshape(inner.shape) if out.size == inner.size else out
    raise ValueError(
        f"offset was given, but {type(estimator).__name__}'s predict takes none: only sklik's "
        f"estimators (also inside Pipeline, searches and TransformedTargetRegressor) do."
    )


class _PredictionScorer(_KeptRequests, _BaseScorer):
    """``make_scorer(score_func)`` on ``predict``, with ``offset`` routed to the model.

    As scikit-learn's scorer of a prediction, plus the metadata request ``offset`` (unset by
    default, as ``sample_weight``): an offset routed to the scorer reaches the sklik model's
    ``predict`` (it reached the score function, which failed: every fold NaN).
    """

    __metadata_request__score = {"offset": None}

    def __init__(self, score_func: Any, sign: int, kwargs: dict) -> None:
        super().__init__(score_func, sign, kwargs, response_method="predict")

    def _score(self, method_caller: Any, estimator: Any, X: Any, y_true: Any, **kwargs: Any):
        offset = kwargs.pop("offset", None)
        if offset is None:
            y_pred = method_caller(estimator, "predict", X)
        else:
            y_pred = _prediction(estimator, X, offset)
        return self._sign * self._score_func(y_true, y_pred, **{**self._kwargs, **kwargs})


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
        return _PredictionScorer(mean_loss, -1, {"loss": loss})
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


def pit_values(
    estimator: Any, X: Any, y: Any, *, random_state: Any = None, offset: Any = None
) -> np.ndarray:
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
    offset : array-like of shape (n_samples,), default=None
        See :func:`predictive_distribution`.

    Returns
    -------
    ndarray of y's shape
    """
    dist = predictive_distribution(estimator, X, offset=offset)
    return pit(y, dist, random_state=random_state)


def pit(y_true: Any, dist: Any, *, random_state: Any = None) -> np.ndarray:
    r"""Probability integral transform :math:`F(y)` of targets under a predictive distribution.

    The randomised PIT :math:`F(y^-) + V (F(y) - F(y^-))`, :math:`V \sim U(0, 1)`, for a
    discrete ``dist``, with :math:`F(y^-) = F(y) - f(y)` (:math:`F(y - 1)` for counts).
    :func:`pit_values` applies it to an estimator's predictions.

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
    if _is_discrete(dist):  # P(Y < y) = F(y) - f(y), on any lattice
        high = np.asarray(dist.cdf(y), dtype=np.float64)
        low = np.maximum(high - dist.pmf(y), 0.0)
        u = check_random_state(random_state).uniform(size=y.shape)
        return low + u * (high - low)
    return np.asarray(dist.cdf(y), dtype=np.float64)


def coverage_table(
    estimator: Any,
    X: Any,
    y: Any,
    levels: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95),
    *,
    sample_weight: Any = None,
    offset: Any = None,
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
    offset : array-like of shape (n_samples,), default=None
        See :func:`predictive_distribution`.

    Returns
    -------
    pandas.DataFrame
        Columns ``level``, ``coverage`` and ``mean_width`` (the mean interval width).
    """
    dist = predictive_distribution(estimator, X, offset=offset)
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
