r"""scikit-learn estimators that fit a linear model or an MLP to any of sklik's losses.

Both estimators minimise the same objective (see :mod:`sklik._objective`)

.. math::

    J(\theta) = \frac{\sum_i s_i \, \bar\ell_i}{\sum_i s_i} + \frac{\alpha}{2} \lVert W \rVert^2

with :math:`\bar\ell_i` the torch elementwise loss of sample :math:`i` averaged over targets,
:math:`s_i` the sample weights and :math:`W` all weights but intercepts and biases.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from sklik import _solver
from sklik._design import column_moments, make_design
from sklik._models import ACTIVATIONS, LinearModel, MLPModel
from sklik._objective import Objective
from sklik._validation import (
    Interval,
    StrOptions,
    _fit_context,
    check_offset,
    check_sample_weight,
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

_LOSS_CONSTRAINT = [StrOptions(set(LOSSES)), BaseLoss]
# "auto" uses a dense Newton method up to this many coefficients; beyond, an L-BFGS iteration
# (two passes over the data) is far cheaper than forming and factorising the Hessian.
_NEWTON_MAX_COEF = 500


def _loss_class(loss: Any) -> type[BaseLoss] | None:
    if isinstance(loss, BaseLoss):
        return type(loss)
    return LOSSES.get(loss) if isinstance(loss, str) else None


def _is_absolute_error(loss: BaseLoss) -> bool:
    return isinstance(loss, L1Loss) or (isinstance(loss, SmoothL1Loss) and loss.beta == 0)


class _BaseRegressor(RegressorMixin, BaseEstimator):
    """Validation, fitting and prediction shared by the linear model and the MLP."""

    _parameter_constraints: dict = {
        "loss": _LOSS_CONSTRAINT,
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    # -- hooks for subclasses -------------------------------------------------------------------

    def _make_model(self, n_features: int, n_outputs: int) -> Any:
        raise NotImplementedError

    def _choose_solver(self, loss: BaseLoss) -> str:
        raise NotImplementedError

    def _set_fitted_params(self, params: dict, one_target: bool) -> None:
        raise NotImplementedError

    def _fitted_params(self) -> dict:
        raise NotImplementedError

    # -- scikit-learn protocol -------------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        cls = _loss_class(self.loss)
        tags.target_tags.positive_only = cls is not None and cls.y_domain[0] >= 0
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, *, offset: Any = None
    ) -> _BaseRegressor:
        """Fit the model by minimising the penalised weighted mean loss.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets; must lie in the loss's domain (``y >= 0`` for ``"poisson_nll"``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative, finite weights ``s_i`` of the objective, with a finite positive
            sum; None gives equal weights.
        offset : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            A fixed term added to the mean head's raw output (the link scale): for
            ``"poisson_nll"``, ``offset=np.log(exposure)`` models counts with rate
            ``exposure * exp(X @ coef_ + intercept_)``. Route it with
            ``set_fit_request(offset=True)`` inside meta-estimators.

        Returns
        -------
        self
            The fitted estimator.
        """
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=("csr", "csc"),
            dtype=np.float64,
            y_numeric=True,
            multi_output=True,
        )
        y = np.asarray(y, dtype=np.float64)
        one_target = y.ndim == 1
        Y = y.reshape(y.shape[0], -1)
        sw = check_sample_weight(sample_weight, X.shape[0])
        off = check_offset(offset, Y.shape)
        loss = get_loss(self.loss)
        loss.check_params()
        loss.check_y(Y)
        self.loss_ = loss
        owner = type(self).__name__

        c = sw / sw.sum()
        design, x_mean, x_scale = self._design(X, c)
        model = self._make_model(X.shape[1], loss.n_params * Y.shape[1])
        penalty_weights = self._penalty_weights(model, x_scale)
        objective = Objective(
            model, loss, design, Y, sw, self.alpha, offset=off, penalty_weights=penalty_weights
        )
        solver = self._choose_solver(loss, X.shape[0], model.n_coef)
        if solver in ("lstsq", "highs"):
            target = Y if off is None else Y - off
            if solver == "lstsq":
                coef, intercept = _solver.least_squares(
                    design.toarray(),
                    target,
                    sw,
                    self.alpha,
                    self.fit_intercept,
                    penalty_weights=x_scale**-2.0,
                )
            else:
                coef, intercept = _solver.least_absolute_deviations(
                    design.toarray(), target, sw, self.fit_intercept
                )
            theta = model.pack({"coef": coef, "intercept": intercept})
            n_iter = 1
        else:
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                theta_cold = self._cold_start(model, loss, Y, sw, off)
            value0, grad0 = objective(theta_cold)
            if not (
                np.all(np.isfinite(theta_cold))
                and np.isfinite(value0)
                and np.all(np.isfinite(grad0))
            ):
                raise ValueError(
                    f"{owner}: the {loss.name} loss overflows float64 at the starting point "
                    f"(|y| up to {np.max(np.abs(Y)):.3g}). Rescale y (e.g. divide it by a power "
                    f"of 10) so that the loss of a constant prediction is finite."
                )
            theta0 = self._warm_start(model, x_mean, x_scale)
            if theta0 is None:
                theta0 = theta_cold
            # the parameters of a head in y's units are solved for in units of y's spread, so
            # that the iterations do not depend on y's units
            # (not for L-BFGS-B on a kinked loss: there the gradient's size does not scale
            # with y, and the unscaled problem stops closer to the kink)
            param_scale = (
                _y_unit_scale(model, loss, Y, c)
                if loss.differentiable or solver != "lbfgs"
                else None
            )
            result = _solver.minimize(
                objective,
                theta0,
                method=solver,
                max_iter=self.max_iter,
                tol=self.tol,
                gradient_scale=float(
                    np.max(np.abs(grad0 if param_scale is None else grad0 * param_scale))
                ),
                param_scale=param_scale,
                verbose=self.verbose,
                owner=owner,
            )
            theta, n_iter = result.theta, result.n_iter
            constant = _constant_objective(objective, loss, Y, sw, off)
            if result.converged and result.fun > constant + 1e-8 * abs(constant):
                # e.g. an MLP whose units all died on un-centred inputs: a stationary point
                # worse than the best constant model
                warnings.warn(
                    f"{owner}: the {solver} solver stopped at a point worse than the best "
                    f"constant model (objective {result.fun:.6g} > {constant:.6g}): the model is "
                    f"stuck at a stationary point. Standardise X (e.g. with a StandardScaler "
                    f"in a pipeline) or change random_state.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        out, _ = objective.forward(theta, need_cache=False)
        objective_value = objective.value(theta, out=out)
        if not (np.all(np.isfinite(theta)) and np.isfinite(objective_value)):
            raise ValueError(
                f"{owner}: the {loss.name} loss overflows float64 at the solution (|y| up to "
                f"{np.max(np.abs(Y)):.3g}): rescale y (e.g. divide it by a power of 10) or "
                f"increase alpha."
            )
        self.n_iter_ = n_iter
        self.n_outputs_ = Y.shape[1]
        self._y_is_1d = one_target
        self.objective_ = objective_value
        params = self._to_user_units(model.unpack(theta), x_mean, x_scale)
        self._set_fitted_params(params, one_target)
        self.scale_ = None
        if loss.needs_scale:  # ML scale of the residual density, per target
            mean_out = out[:, : Y.shape[1]]
            with np.errstate(over="ignore", invalid="ignore"):
                resid = Y - mean_out
                spread = c @ (resid * resid)
            if not np.all(np.isfinite(spread)):
                raise ValueError(
                    f"{owner}: the residuals' mean square overflows float64 (|y| up to "
                    f"{np.max(np.abs(Y)):.3g}), so the scale of the {loss.name} residual "
                    f"density is not representable: rescale y (e.g. divide it by a power of 10)."
                )
            scale = np.array(
                [loss.fit_scale(Y[:, k] - mean_out[:, k], sw) for k in range(Y.shape[1])]
            )
            # residuals below y's rounding level are zero: an interpolating fit gets the scale
            # of y's last digits, not an underflowing one (which makes the likelihood infinite)
            with np.errstate(over="ignore"):
                floor = 4 * np.finfo(np.float64).eps * np.max(np.abs(Y[sw > 0]), axis=0)
            scale = np.maximum(scale, np.maximum(floor, np.finfo(np.float64).tiny))
            if not np.all(np.isfinite(scale) & (scale > 0)):
                raise ValueError(
                    f"{owner}: the scale of the residuals is not a finite positive number "
                    f"({scale}); rescale y."
                )
            self.scale_ = float(scale[0]) if one_target else scale
        return self

    # -- fitting helpers -------------------------------------------------------------------------

    def _design(self, X: Any, c: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        """The design the objective reduces over, and the column shift and scale it used."""
        raise NotImplementedError

    def _penalty_weights(self, model: Any, x_scale: np.ndarray) -> np.ndarray | None:
        return None

    def _to_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        return params

    def _warm_start(self, model: Any, x_mean: np.ndarray, x_scale: np.ndarray):
        """The previous solution in the design's units, or None (no warm start)."""
        if not (self.warm_start and hasattr(self, "n_iter_")):
            return None
        try:
            return model.pack(self._from_user_units(self._fitted_params(), x_mean, x_scale))
        except (ValueError, AttributeError):  # the shapes or the loss changed: start afresh
            return None

    def _from_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        return params

    def _cold_start(
        self, model: Any, loss: BaseLoss, Y: np.ndarray, sw: np.ndarray, off: np.ndarray | None
    ) -> np.ndarray:
        """The best constant model (shifted by the mean offset), or the MLP's random start.

        The relative stopping rule measures the gradient against its value here.
        """
        out_init = np.array(loss.init_raw(Y, sw), dtype=np.float64)
        if off is not None:  # the mean head's start, shifted by the mean offset
            out_init[0] -= (sw / sw.sum()) @ off
        rng = check_random_state(getattr(self, "random_state", None))
        return model.init_params(rng, np.asarray(out_init).ravel())

    def _fitted_model(self) -> Any:
        return self._make_model(self.n_features_in_, self.loss_.n_params * self.n_outputs_)

    def _raw(self, X: Any, offset: Any = None) -> np.ndarray:
        """Raw outputs of shape ``(n_params, n_samples, n_targets)``, offset included.

        The target axis is dropped when ``y`` was 1-D.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=np.float64, reset=False)
        model = self._fitted_model()
        theta = model.pack(self._fitted_params())
        with np.errstate(over="ignore", invalid="ignore"):
            out, _ = model.forward(theta, self._prediction_input(X), need_cache=False)
        raw = out.reshape(X.shape[0], self.loss_.n_params, -1).transpose(1, 0, 2)
        off = check_offset(offset, (X.shape[0], self.n_outputs_))
        if off is not None:
            raw[0] += off
        return raw[..., 0] if self._y_is_1d else raw

    def _prediction_input(self, X: Any) -> Any:
        """What the fitted model multiplies: ``X`` itself (the MLP densifies sparse input)."""
        return X

    def predict_dist(self, X: Any, *, offset: Any = None) -> Any:
        """Predictive distribution of y given each row of X, as a frozen scipy distribution.

        The distribution is the one whose negative log-density is the loss (see the user
        guide): Normal for ``"mse"`` and ``"gaussian_nll"`` (with the learned variance),
        Laplace for ``"l1"`` (and ``"smooth_l1"`` with ``beta=0``), Poisson for
        ``"poisson_nll"``, and :data:`sklik.distributions.huber` (Gaussian core, Laplace
        tails) for ``"huber"`` and ``"smooth_l1"``. Constant scales are the maximum-likelihood
        estimates from the training residuals (``scale_``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        offset : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Added to the mean head's raw output, as in :meth:`fit` (e.g. ``np.log(exposure)``
            for counts over an exposure).

        Returns
        -------
        scipy.stats frozen distribution
            Vectorised over the rows of X (shape ``(n_samples,)``, or ``(n_samples,
            n_targets)`` for a 2-D y): ``mean``, ``std``, ``pdf``/``pmf``,
            ``logpdf``/``logpmf``, ``cdf``, ``ppf``, ``interval``, ``rvs``.
        """
        return self.loss_.predictive_distribution(self._raw(X, offset), self.scale_)

    def log_likelihood(
        self, X: Any, y: Any, sample_weight: Any = None, *, offset: Any = None
    ) -> float:
        r"""Log-likelihood of ``y`` under the predictive distribution.

        :math:`\log L = \sum_i s_i \sum_k \log p(y_{ik} \mid x_i)` with the density of
        :meth:`predict_dist`, or for the count losses (``"poisson_nll"``) the probability mass
        of the count; the full density, including the constants that the torch losses omit
        (``log 2``, ``log y!``, ``0.5 log 2 pi``, the Huber normaliser), so that models fitted
        with different losses can be compared. Weights act as frequency weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets: finite, one per row of X, in the loss's domain; integers for a count
            likelihood.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights :math:`s_i`; None means 1.
        offset : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            As in :meth:`fit`.

        Returns
        -------
        float
            The (weighted) total log-likelihood.

        Raises
        ------
        ValueError
            If ``y`` is not finite, has the wrong length or lies outside the likelihood's
            support (e.g. non-integer targets for a count likelihood: fit the counts with
            ``offset=np.log(exposure)`` instead of rates).
        """
        dist = self.predict_dist(X, offset=offset)
        y = self._check_likelihood_target(y, dist)
        logp = dist.logpmf(y) if hasattr(dist, "logpmf") else dist.logpdf(y)
        logp = logp.reshape(logp.shape[0], -1).sum(axis=1)
        sw = check_sample_weight(sample_weight, logp.shape[0])
        return float(sw @ logp)

    def _check_likelihood_target(self, y: Any, dist: Any) -> np.ndarray:
        n = dist.mean().shape[0]
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} rows; X has {n}: pass one target per row of X.")
        y = y.reshape(y.shape[0], -1)
        if y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} targets; the model was fitted on {self.n_outputs_}."
            )
        self.loss_.check_y(y)
        if hasattr(dist, "logpmf") and np.any(y != np.round(y)):
            raise ValueError(
                f"{self.loss_.name} is a likelihood for counts, but y has non-integer values "
                f"(e.g. {y[y != np.round(y)][0]:.6g}). For rates (counts / exposure), fit and "
                f"score the counts with offset=np.log(exposure)."
            )
        return y[:, 0] if self._y_is_1d else y

    def n_parameters(self) -> int:
        """Number of estimated parameters.

        All coefficients and biases, plus one scale per target for the constant-scale losses
        (``scale_``).
        """
        check_is_fitted(self)
        n_scales = self.n_outputs_ if self.loss_.needs_scale else 0
        return int(self._fitted_model().n_coef) + n_scales

    def aic(self, X: Any, y: Any, sample_weight: Any = None, *, offset: Any = None) -> float:
        r"""Akaike information criterion :math:`2k - 2\log L` on (X, y).

        ``k`` is :meth:`n_parameters` (the estimated scale counts), ``log L`` is
        :meth:`log_likelihood` (with frequency weights ``sample_weight``). Lower is better.
        """
        return 2.0 * self.n_parameters() - 2.0 * self.log_likelihood(
            X, y, sample_weight, offset=offset
        )

    def bic(self, X: Any, y: Any, sample_weight: Any = None, *, offset: Any = None) -> float:
        r"""Bayesian information criterion :math:`k \log n - 2\log L` on (X, y).

        ``n`` is the number of observations, :math:`\sum_i s_i` with frequency weights
        ``sample_weight`` (the number of rows without); see :meth:`aic`. Lower is better.
        """
        loglik = self.log_likelihood(X, y, sample_weight, offset=offset)
        sw = check_sample_weight(sample_weight, np.shape(X)[0])
        return math.log(float(sw.sum())) * self.n_parameters() - 2.0 * loglik

    def predict(
        self, X: Any, return_std: bool = False, *, offset: Any = None
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predict the mean (the median for ``"l1"``) and, optionally, its spread.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        return_std : bool, default=False
            Also return the standard deviation of the predictive distribution
            (:meth:`predict_dist`): the learned standard deviation for ``"gaussian_nll"``,
            ``sqrt(rate)`` for ``"poisson_nll"``, and otherwise that of the loss's own residual
            density (Normal for ``"mse"``, Laplace for ``"l1"``, the Gaussian-core/Laplace-tail
            density for ``"huber"`` and ``"smooth_l1"``).
        offset : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Added to the mean head's raw output, as in :meth:`fit`: with
            ``offset=np.log(exposure)`` a Poisson model predicts the expected count.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions on the response scale (the rate for ``"poisson_nll"``).
        y_std : ndarray of the same shape
            Only with ``return_std=True``.
        """
        raw = self._raw(X, offset)
        with np.errstate(over="ignore"):
            mean = self.loss_.inverse_link(raw)
        if return_std:
            std = self.loss_.predictive_distribution(raw, self.scale_).std()
            return mean, np.broadcast_to(std, mean.shape).copy()
        return mean

    def score(self, X: Any, y: Any, sample_weight: Any = None, *, offset: Any = None) -> float:
        """Coefficient of determination :math:`R^2` of :meth:`predict` on (X, y).

        As :meth:`sklearn.base.RegressorMixin.score`, with the ``offset`` of :meth:`fit`.
        """
        return float(r2_score(y, self.predict(X, offset=offset), sample_weight=sample_weight))


def _constant_objective(
    objective: Objective, loss: BaseLoss, Y: np.ndarray, sw: np.ndarray, off: np.ndarray | None
) -> float:
    """The objective of the best constant model (the loss's ``init_raw``), penalty excluded."""
    init = np.asarray(loss.init_raw(Y, sw), dtype=np.float64).reshape(loss.n_params, 1, -1)
    raw = np.repeat(init, Y.shape[0], axis=1)
    if off is not None:
        raw[0] += off - (sw / sw.sum()) @ off
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.sum(objective._w * loss.raw_loss(Y, raw)))
    return value if math.isfinite(value) else math.inf


def _y_unit_scale(model: Any, loss: BaseLoss, Y: np.ndarray, c: np.ndarray) -> np.ndarray | None:
    """Natural size of each parameter for the solvers: y's spread for a head in y's units.

    The linear model's mean head is in y's units for every loss but the log-rate Poisson
    head; its coefficients (on the standardised design) and intercept then scale with y, so
    the solvers work on them divided by the weighted standard deviation of y (per target).
    Every other parameter has size 1; None for a model other than the linear one.
    """
    ones = np.ones(model.n_coef) if isinstance(model, LinearModel) else None
    in_y_units = isinstance(loss, (MSELoss, L1Loss, HuberLoss, SmoothL1Loss, GaussianNLLLoss)) or (
        isinstance(loss, PoissonNLLLoss) and not loss.log_input
    )
    if ones is None or not in_y_units:
        return ones
    _, y_scale = column_moments(Y, c, center=True)
    outputs = np.ones(model.n_outputs)
    outputs[: Y.shape[1]] = y_scale
    coef = np.repeat(outputs[:, np.newaxis], model.n_features, axis=1)
    params = {"coef": coef}
    if model.fit_intercept:
        params["intercept"] = outputs
    try:
        scale = model.pack(params)
    except (KeyError, ValueError):
        return ones
    return scale if scale.shape == ones.shape else ones


class LinearRegressor(_BaseRegressor):
    r"""Linear model fitted to any sklik loss: a likelihood-based GLM.

    The model's raw output is linear in ``X``: ``raw = X @ coef_.T + intercept_``. For
    ``"poisson_nll"`` the raw output is the log rate and :meth:`predict` returns the rate; for
    ``"gaussian_nll"`` a second linear head gives the log variance,
    ``log var = X @ log_var_coef_.T + log_var_intercept_``.

    ``fit`` minimises

    .. math::

        \frac{\sum_i s_i \ell_i}{\sum_i s_i} + \frac{\alpha}{2} \lVert w \rVert^2

    where :math:`\ell_i` is the torch elementwise loss of sample :math:`i` (averaged over
    targets), :math:`s_i` the sample weight and :math:`w` all coefficients (never the
    intercepts). Relation to scikit-learn: ``loss="mse"`` with ``alpha=a`` on ``n`` samples
    equals ``Ridge(alpha=a * n / 2)`` (sklik averages the full squared error, Ridge sums it;
    with sample weights, ``Ridge(alpha=a * sum(sample_weight) / 2)``, times ``n_targets`` for
    a 2-D ``y``);
    ``loss="poisson_nll"`` with ``alpha=a`` equals ``PoissonRegressor(alpha=a)``.

    Parameters
    ----------
    loss : str or BaseLoss, default="mse"
        The loss: one of ``"mse"``, ``"l1"``, ``"huber"``, ``"smooth_l1"``,
        ``"gaussian_nll"``, ``"poisson_nll"``, or an instance from :mod:`sklik.losses` (e.g.
        ``HuberLoss(delta=2.0)``), whose parameters can then be tuned as ``loss__delta``.
    alpha : float, default=0.0
        L2 penalty strength (>= 0) on the coefficients.
    fit_intercept : bool, default=True
        Whether to fit intercepts (never penalised).
    solver : {"auto", "lbfgs", "newton", "lstsq", "highs"}, default="auto"
        ``"lstsq"``: exact least squares (``"mse"`` only). ``"highs"``: the exact linear
        program of least absolute deviations (``"l1"``, or ``"smooth_l1"`` with ``beta=0``,
        and ``alpha=0``), solved with HiGHS below 5000 rows and by the Frisch-Newton
        interior-point method with a certified optimal vertex from 5000 rows on.
        ``"newton"``: trust-region Newton with the exact Hessian (convex smooth losses:
        ``"mse"``, ``"huber"``, ``"smooth_l1"`` with ``beta > 0``, ``"poisson_nll"``).
        ``"lbfgs"``: L-BFGS-B, any loss. ``"auto"`` picks ``"lstsq"`` for mse, ``"highs"`` for
        l1 without penalty, ``"newton"`` for the other convex smooth losses and ``"lbfgs"``
        otherwise.
    max_iter : int, default=1000
        Maximum number of solver iterations (iterative solvers).
    tol : float, default=1e-6
        Gradient tolerance of the iterative solvers.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    verbose : int, default=0
        Print the objective at every iteration if > 0.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients of the mean (for ``"poisson_nll"``: log-rate) head.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept of the mean head.
    log_var_coef_, log_var_intercept_ : ndarray or float
        Coefficients and intercept of the log-variance head (``"gaussian_nll"`` only).
    scale_ : float, ndarray of shape (n_targets,) or None
        Maximum-likelihood scale of the residual density (None for ``"gaussian_nll"`` and
        ``"poisson_nll"``, whose spread the model itself predicts).
    loss_ : BaseLoss
        The resolved loss object (``loss`` itself is never modified).
    objective_ : float
        Objective value at the solution.
    n_iter_ : int
        Number of solver iterations (1 for the exact solvers).
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (n_features_in\_,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    MLPRegressor : The same losses with a multi-layer perceptron.
    sklearn.linear_model.Ridge, sklearn.linear_model.PoissonRegressor,
    sklearn.linear_model.QuantileRegressor, sklearn.linear_model.HuberRegressor

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklik import LinearRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> est = LinearRegressor(loss="huber").fit(X, y)
    >>> mean, std = est.predict(X[:2], return_std=True)
    >>> mean.shape, std.shape
    ((2,), (2,))
    """

    _parameter_constraints: dict = {
        **_BaseRegressor._parameter_constraints,
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "lbfgs", "newton", "lstsq", "highs"})],
    }

    def __init__(
        self,
        loss: str | BaseLoss = "mse",
        *,
        alpha: float = 0.0,
        fit_intercept: bool = True,
        solver: str = "auto",
        max_iter: int = 1000,
        tol: float = 1e-6,
        warm_start: bool = False,
        verbose: int = 0,
    ) -> None:
        self.loss = loss
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose

    def _make_model(self, n_features: int, n_outputs: int) -> LinearModel:
        return LinearModel(n_features, n_outputs, fit_intercept=self.fit_intercept)

    def _design(self, X: Any, c: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        return make_design(X, c, center=self.fit_intercept)

    def _penalty_weights(self, model: Any, x_scale: np.ndarray) -> np.ndarray:
        # the penalty is on the user's coefficients w = v / s: alpha/2 sum (v_j / s_j)^2
        return np.tile(x_scale**-2.0, model.n_outputs)

    def _to_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        coef = params["coef"] / x_scale
        return {"coef": coef, "intercept": params["intercept"] - coef @ x_mean}

    def _from_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        coef = np.atleast_2d(params["coef"])
        return {"coef": coef * x_scale, "intercept": params["intercept"] + coef @ x_mean}

    def _choose_solver(self, loss: BaseLoss, n_samples: int = 0, n_coef: int = 0) -> str:
        has_hessian = loss.has_curvature
        if self.solver == "auto":
            if isinstance(loss, MSELoss):
                return "lstsq"
            if _is_absolute_error(loss) and self.alpha == 0:
                return "highs"
            # a dense Newton step costs n p^2 + p^3 where an L-BFGS step costs 2 n p
            small = n_coef <= _NEWTON_MAX_COEF
            return "newton" if has_hessian and small else "lbfgs"
        allowed = {
            "lbfgs": True,
            "newton": has_hessian,
            "lstsq": isinstance(loss, MSELoss),
            "highs": _is_absolute_error(loss) and self.alpha == 0,
        }
        if not allowed[self.solver]:
            raise ValueError(
                f"solver={self.solver!r} cannot minimise {loss!r} with alpha={self.alpha}: "
                f"'lstsq' solves only loss='mse', 'highs' only loss='l1' with alpha=0, 'newton' "
                f"only the convex smooth losses. Use solver='auto' or 'lbfgs'."
            )
        return self.solver

    def _set_fitted_params(self, params: dict, one_target: bool) -> None:
        coef, intercept = params["coef"], params["intercept"]
        k = coef.shape[0] // self.loss_.n_params
        heads = [
            (coef[j * k : (j + 1) * k], intercept[j * k : (j + 1) * k])
            for j in range(self.loss_.n_params)
        ]
        squeeze = (lambda a: a[0]) if one_target else (lambda a: a)
        self.coef_ = squeeze(heads[0][0])
        self.intercept_ = squeeze(heads[0][1])
        if one_target:
            self.intercept_ = float(self.intercept_)
        if self.loss_.n_params == 2:
            self.log_var_coef_ = squeeze(heads[1][0])
            self.log_var_intercept_ = squeeze(heads[1][1])
            if one_target:
                self.log_var_intercept_ = float(self.log_var_intercept_)
        else:  # a refit with a one-parameter loss: drop a previous variance head
            self.__dict__.pop("log_var_coef_", None)
            self.__dict__.pop("log_var_intercept_", None)

    def _fitted_params(self) -> dict:
        coefs = [np.atleast_2d(self.coef_)]
        intercepts = [np.atleast_1d(self.intercept_)]
        if self.loss_.n_params == 2:
            coefs.append(np.atleast_2d(self.log_var_coef_))
            intercepts.append(np.atleast_1d(self.log_var_intercept_))
        return {"coef": np.vstack(coefs), "intercept": np.concatenate(intercepts)}


class MLPRegressor(_BaseRegressor):
    r"""Multi-layer perceptron fitted to any sklik loss with L-BFGS-B.

    The hidden layers are shared; the output layer (identity activation) has one raw output per
    target and distribution parameter: the mean, the log rate (``"poisson_nll"``, so
    :meth:`predict` returns ``exp(raw)``), or the mean and the log variance
    (``"gaussian_nll"``: two heads on shared hidden layers). ``fit`` minimises

    .. math::

        \frac{\sum_i s_i \ell_i}{\sum_i s_i} + \frac{\alpha}{2} \sum_l \lVert W_l \rVert^2

    over all weight matrices :math:`W_l` (biases are not penalised) with exact gradients by
    back-propagation from the loss's gradient. Relation to scikit-learn: sklearn's
    ``MLPRegressor`` minimises half the mean squared error plus ``alpha / (2 n) * ||W||^2``, so
    its ``alpha=a`` on ``n`` samples corresponds to sklik's ``loss="mse", alpha=2 * a / n``.

    Not to be confused with :class:`sklearn.neural_network.MLPRegressor`, which supports only
    the squared error and Poisson losses.

    Parameters
    ----------
    loss : str or BaseLoss, default="mse"
        The loss: one of ``"mse"``, ``"l1"``, ``"huber"``, ``"smooth_l1"``,
        ``"gaussian_nll"``, ``"poisson_nll"``, or an instance from :mod:`sklik.losses`.
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Hidden-layer activation.
    alpha : float, default=1e-4
        L2 penalty strength (>= 0) on the weights.
    solver : {"auto", "lbfgs"}, default="auto"
        The optimiser; ``"auto"`` is ``"lbfgs"`` (L-BFGS-B on the flat parameter vector).
    max_iter : int, default=200
        Maximum number of L-BFGS-B iterations.
    tol : float, default=1e-4
        Tolerance on the largest entry of the projected gradient.
    random_state : int, RandomState instance or None, default=None
        Seeds the Glorot-uniform initialisation of the weights.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    verbose : int, default=0
        Print the objective at every iteration if > 0.

    Attributes
    ----------
    coefs_ : list of ndarray
        Weight matrix of each layer, of shape ``(fan_in, fan_out)``.
    intercepts_ : list of ndarray
        Bias vector of each layer.
    scale_ : float, ndarray of shape (n_targets,) or None
        Maximum-likelihood scale of the residual density (None for ``"gaussian_nll"`` and
        ``"poisson_nll"``).
    loss_ : BaseLoss
        The resolved loss object.
    objective_ : float
        Objective value at the solution.
    n_iter_ : int
        Number of L-BFGS-B iterations.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (n_features_in\_,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    LinearRegressor : The same losses with a linear model.

    Examples
    --------
    >>> import numpy as np
    >>> from sklik import MLPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(300, 1))
    >>> y = np.sin(2 * X[:, 0]) + rng.normal(scale=0.1 + 0.2 * np.abs(X[:, 0]))
    >>> est = MLPRegressor("gaussian_nll", hidden_layer_sizes=(20,),
    ...                    activation="tanh", max_iter=1000, tol=1e-3,
    ...                    random_state=0).fit(X, y)
    >>> mean, std = est.predict(X[:3], return_std=True)
    >>> bool(np.all(std > 0))
    True
    """

    _parameter_constraints: dict = {
        **_BaseRegressor._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"auto", "lbfgs"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        loss: str | BaseLoss = "mse",
        *,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        alpha: float = 1e-4,
        solver: str = "auto",
        max_iter: int = 200,
        tol: float = 1e-4,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
    ) -> None:
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    def _make_model(self, n_features: int, n_outputs: int) -> MLPModel:
        sizes = tuple(self.hidden_layer_sizes)
        if not all(isinstance(h, Integral) and not isinstance(h, bool) and h > 0 for h in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive integers; got "
                f"{self.hidden_layer_sizes!r}."
            )
        return MLPModel(n_features, n_outputs, hidden_layer_sizes=sizes, activation=self.activation)

    def _choose_solver(self, loss: BaseLoss, n_samples: int = 0, n_coef: int = 0) -> str:
        return "lbfgs"

    def _design(self, X: Any, c: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        # the MLP multiplies X as given (standardise it in a pipeline); sparse is densified
        X = self._prediction_input(X)
        return X, np.zeros(X.shape[1]), np.ones(X.shape[1])

    def _prediction_input(self, X: Any) -> Any:
        return X.toarray() if sp.issparse(X) else X

    def _set_fitted_params(self, params: dict, one_target: bool) -> None:
        self.coefs_ = [np.array(c) for c in params["coefs"]]
        self.intercepts_ = [np.array(b) for b in params["intercepts"]]

    def _fitted_params(self) -> dict:
        return {"coefs": self.coefs_, "intercepts": self.intercepts_}
