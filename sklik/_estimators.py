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
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite, check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from sklik import _inference, _solver
from sklik._data import ArrayData, magnitude, positive_rows, y_units
from sklik._models import ACTIVATIONS, LinearModel, MLPModel
from sklik._objective import hessian_sample_step
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
    L1Loss,
    MSELoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    get_loss,
)

_LOSS_CONSTRAINT = [StrOptions(set(LOSSES)), BaseLoss]

# a Poisson fit warns above this Pearson dispersion (see LinearRegressor._check_overdispersion)
_OVERDISPERSED = 1.5
# l1's and the negative binomial's Wald intervals warn beyond this ratio of coefficients to
# rows (see LinearRegressor._check_wald_ratio)
_WALD_MAX_RATIO = 0.1


class OverdispersionWarning(UserWarning):
    """A Poisson fit's counts vary more than the Poisson allows: its intervals are too narrow.

    ``dispersion``: the Pearson dispersion that raised it (1 under the model).
    """

    def __init__(self, message: str, dispersion: float = math.nan) -> None:
        super().__init__(message)
        self.dispersion = dispersion


def _aligned(a: np.ndarray) -> np.ndarray:
    """``a``, or an aligned copy of an unaligned ``a``.

    An unaligned buffer (an array received from a dask cluster is a view into a network
    frame) keeps numpy's products off BLAS: one copy makes every later pass fast (10^6 x 20:
    an mse fit took 0.32 s on the unaligned X, 0.12 s with the copy; Poisson 0.24 s and
    0.20 s).
    """
    return a if a.flags.aligned else a.copy()


# "auto" uses a dense Newton method up to this many coefficients; beyond, an L-BFGS iteration
# (two passes over the data) is far cheaper than forming and factorising the Hessian.
_NEWTON_MAX_COEF = 500
# An unpenalised fit by an iterative solver warns beyond this condition number of the
# standardised design's Gram matrix (correlation form; statsmodels notes 1e3 of the raw X)
_ILL_CONDITIONED = 1e10
# ... and a design the rank reads as deficient warns where its aliased directions cancel its
# columns to more than this fraction of their size (their spread plus their distance from 0),
# computed from the rows, or 64 eps sqrt(condition of the rest) if more: an exact aliasing
# leaves the rounding (2e-16 to 5e-15 over one-hot encodings and their interactions, columns
# 1e12 from 0 and linear combinations computed in float64, 10 to 1e6 rows), plus the null
# direction's error where the other directions are ill-conditioned (about eps sqrt(condition):
# 6e-13 at a condition of 5e6); a column 1e12 from 0 whose spread interacts with a one-hot
# encoding cancels to 2e-13
_NEARLY_ALIASED = 1e-13
# ... beyond which a fit with more coefficients per head than this fraction of its rows warns
# that its predictive intervals are too narrow
_PLUGIN_WARN_RATIO = 0.1
# The residual scale's floor at the predictions' rounding is computed (one pass over X) only
# where the scale is below this fraction of the terms' typical size: see _prediction_size
_PREDICTION_ROUNDING_SKIP = 1e-6
# MLPRegressor(alpha="auto"): the penalty of the losses that learn their spread (gaussian_nll,
# on the standardised target; chosen on real data sets with early stopping, see the user
# guide) and of the other losses
_AUTO_ALPHA_GAUSSIAN = 0.01
_AUTO_ALPHA = 1e-4
# the gradient's size that tol is relative to is at least this fraction of |objective| at
# the start (see _minimize)
_START_GRADIENT_FLOOR = 1e-8
# a log link's mean below this times max|y| at y = 0 is numerically 0 (R's glm.fit: 10 eps)
_VANISHING_MEAN = 10 * np.finfo(np.float64).eps
# ... and a fitted mean at y = 0 below this fraction of y's largest value is checked for
# separation by the data's certificate (a linear program's worth of work, only then)
_SEPARATION_SUSPECT = 1e-4
# A count model's Newton step in its log dispersion at the solution beyond this (toward -inf)
# marks a dispersion whose likelihood rises to the Poisson limit (see _check_dispersion_limit)
_BOUNDARY_STEP = 0.5
# A row of X whose design coordinates reach along the null space of a rank-deficient fit's
# information by more than this fraction of their size has no estimable mean
_NOT_ESTIMABLE = 1e-8
# the scale of a perfect fit, relative to y's magnitude (as the losses' fit_scale)
_PERFECT_FIT = 1e-12
# MLPRegressor warns when its targets' spreads (losses in y's units) differ by more
_TARGET_SPREAD_RATIO = 100.0


def _inverse_square(x_scale: np.ndarray, alpha: float) -> np.ndarray:
    r""":math:`1/s_j^2`, the L2 penalty factor of :math:`v_j = s_j w_j`, held finite.

    Where :math:`s_j^2` underflows (a column in units of 1e-160) the factor is held so that
    ``alpha`` times it stays below 1e300: the penalty then pins :math:`v_j` near 0, as the
    exact one would, and ``alpha = 0`` multiplies a finite number (it was ``0 * inf``).
    """
    with np.errstate(over="ignore", divide="ignore"):
        return np.minimum(x_scale**-2.0, 1e300 / max(alpha, 1.0))


def _per_weight(model: Any, per_feature: np.ndarray) -> np.ndarray:
    """A value per free weight of a linear model from a value per feature (every output)."""
    values = np.tile(per_feature, (model.n_outputs, 1))
    values[model.constant_outputs] = 0.0  # their weights are not parameters
    return model.pack({"coef": values, "intercept": 0.0})[: model.n_weights]


def _loss_class(loss: Any) -> type[BaseLoss] | None:
    if isinstance(loss, BaseLoss):
        return type(loss)
    return LOSSES.get(loss) if isinstance(loss, str) else None


def _is_dask(X: Any) -> bool:
    """Whether ``X`` is a dask collection (without importing dask; see :mod:`sklik._dask`)."""
    return type(X).__module__.startswith(("dask.", "dask_expr")) and hasattr(X, "__dask_graph__")


def _is_absolute_error(loss: BaseLoss) -> bool:
    return isinstance(loss, L1Loss) or (isinstance(loss, SmoothL1Loss) and loss.beta == 0)


def _finite_total(total: float, name: str, terms: np.ndarray | None = None) -> float:
    """``total``, or a ValueError where it overflows float64 (its ``terms`` finite, if given)."""
    if math.isfinite(total) or (terms is not None and not np.all(np.isfinite(terms))):
        return total
    detail = "" if terms is None else f" (its rows' terms reach {float(np.min(terms)):.3g})"
    raise ValueError(
        f"The {name} lies beyond float64's range{detail}: the model gives the targets a "
        f"probability of essentially 0, at rows far from the training data, with targets "
        f"orders of magnitude beyond the training targets or with an extreme offset (a count "
        f"model's predicted mean near 1.8e308, say); check those rows' units."
    )


def _r2_score(y: np.ndarray, pred: np.ndarray, sample_weight: np.ndarray | None) -> float:
    r"""scikit-learn's ``r2_score``, each target in units of its largest :math:`|y|, |\hat y|`.

    :math:`R^2` does not change with the units, and in these the squares neither overflow (a
    target of 1e300 had given NaN and RuntimeWarnings) nor, where :math:`R^2` is
    representable, underflow; beyond float64's range (residuals more than 1e150 times the
    targets' spread) a ValueError.
    """
    y2, p2 = y.reshape(y.shape[0], -1), pred.reshape(pred.shape[0], -1)
    with np.errstate(over="ignore", invalid="ignore"):
        top = np.maximum(np.max(np.abs(y2), axis=0), np.max(np.abs(p2), axis=0))
        top = np.where((top > 0) & np.isfinite(top), top, 1.0)
        # (a power of two: an exact division, which a large mean's rounding would magnify)
        top = np.ldexp(1.0, np.frexp(top)[1])
        y2, p2 = y2 / top, p2 / top
        residual = np.max(np.abs(y2 - p2), axis=0)
        spread = np.max(np.abs(y2 - np.mean(y2, axis=0)), axis=0)
    if np.any((spread > 0) & ~(residual <= 1e150 * spread)):
        raise ValueError(
            "R^2 lies beyond float64's range: the predictions miss the targets by more than "
            "1e150 times the targets' spread (rows far from the training data, or an extreme "
            "offset); check those rows' units."
        )
    return float(r2_score(y2, p2, sample_weight=sample_weight))


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

    def _choose_solver(
        self, loss: BaseLoss, n_samples: int = 0, n_coef: int = 0, n_features: int = 0
    ) -> str:
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
            sum; None gives equal weights. A row of weight 0 is no row at all: it is dropped
            before anything is computed (its ``y`` and ``X`` must still be finite and in
            the loss's domain).
        offset : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            A fixed term added to the mean head's raw output (the link scale): for
            ``"poisson_nll"``, ``offset=np.log(exposure)`` models counts with rate
            ``exposure * exp(X @ coef_ + intercept_)``. Route it with
            ``set_fit_request(offset=True)`` inside meta-estimators.

        Returns
        -------
        self
            The fitted estimator.

        Notes
        -----
        A dask array or DataFrame ``X`` (with ``y``, ``sample_weight`` and ``offset`` as dask
        or in-memory arrays) is fitted without gathering it: see "Data larger than memory" in
        the README (:mod:`sklik._dask`).
        """
        owner = type(self).__name__
        loss = get_loss(self.loss)
        loss.check_params()
        data, fit_loss, monitor, one_target = self._training_data(X, y, sample_weight, offset, loss)
        self._check_y_spread(data, loss)
        self._check_weight_total(data)
        self.loss_ = loss
        center = bool(getattr(self, "fit_intercept", False))
        design, x_mean, x_scale = data.design(
            self._standardises_design, center, gram=self._design_gram(loss, data)
        )
        self._check_x_scale(x_scale)
        model = self._make_model(data.n_features, loss.n_params * data.n_targets)
        alpha_l2, penalty_weights, l1_weights = self._penalties(
            model, x_scale, loss, data.weight_total
        )
        solver = self._choose_solver(loss, data.n_samples, model.n_coef, data.n_features)
        objective = data.objective(
            model, fit_loss, design, alpha_l2, penalty_weights, fuse_hessian=solver == "newton"
        )
        self._converged = True  # (the exact solvers; an iterative one sets it)
        if solver == "lstsq":
            coef, intercept = data.least_squares(
                design, self.alpha, center, _inverse_square(x_scale, self.alpha), tol=self.tol
            )
        elif solver == "highs":
            coef, intercept = data.least_absolute_deviations(design, center, owner)
        if solver in ("lstsq", "highs"):
            theta = model.pack({"coef": coef, "intercept": intercept})
            n_iter = 1
        else:
            theta, n_iter = self._minimize(
                data, model, fit_loss, objective, solver, l1_weights, monitor, x_mean, x_scale
            )
        objective_value, raw = data.solution(objective, theta)
        if l1_weights is not None:
            objective_value += float(l1_weights @ np.abs(theta[: model.n_weights]))
        objective_value *= self._objective_factor  # (in the user's units)
        if not np.all(np.isfinite(theta)):
            raise ValueError(
                f"{owner}: the fit diverged to non-finite parameters. Rescale y or increase alpha."
            )
        if not np.isfinite(objective_value):
            raise ValueError(
                f"{owner}: the {loss.name} loss overflows float64 at the solution (|y| up to "
                f"{self._y_magnitude(data):.3g}): rescale y (e.g. divide it by a power of 10) or "
                f"increase alpha."
            )
        self.n_iter_ = n_iter
        self.n_outputs_ = data.n_targets
        self._y_is_1d = one_target
        self.objective_ = objective_value
        params = self._to_user_units(model.unpack(theta), x_mean, x_scale)
        self._set_fitted_params(params, one_target)
        self.scale_ = None
        if loss.needs_scale:  # ML scale of the residual density, per target
            scale = self._residual_scale(data, loss, raw, owner, model, theta, monitor)
            scale = np.maximum(
                scale,
                4 * np.finfo(np.float64).eps * self._prediction_size(data, params, x_mean, scale),
            )
            if not np.all(np.isfinite(scale) & (scale > 0)):
                raise ValueError(
                    f"{owner}: the scale of the residuals is not a finite positive number "
                    f"({scale}); rescale y."
                )
            self.scale_ = float(scale[0]) if one_target else scale
        self._fit_rank(data, design, model, theta, solver, x_mean / x_scale)
        self._fit_inference(data, design, model, x_mean, x_scale, theta, raw)
        n_floored = objective.n_floored(theta)
        if n_floored:
            # (the MLP fits a standardised y: its spread in the user's units)
            spread = float(np.min(data.y_spread * getattr(self, "_y_scale", 1.0)))
            warnings.warn(
                f"{owner}: at the solution, the {loss.name} loss's floor holds on "
                f"{n_floored} of {data.n_samples} training rows, where the objective is flat "
                f"in the floored parameter: those rows carry no information on it, and the fit "
                f"is not certified as the optimum. "
                f"{loss.floor_advice(spread)}",
                UserWarning,
                stacklevel=3,
            )
        separated = self._check_separation(data, objective, loss, theta, l1_weights)
        if self._converged and not separated:
            # (with separated rows the dispersion is moot: no estimate exists at all; a fit
            # that stopped early, at max_iter, may be anywhere on its way)
            self._check_dispersion_limit(objective, loss, theta)
        if data.n_passes is not None:  # passes over the design (dask input)
            self.n_passes_ = objective.n_passes + data.n_passes
        else:
            self.__dict__.pop("n_passes_", None)
        self._finish_fit(X, sample_weight)
        return self

    # -- fitting helpers -------------------------------------------------------------------------

    def _check_y_spread(self, data: Any, loss: BaseLoss) -> None:
        """Refuse a y whose spread squares to below the smallest normal float64 (about 1e-154).

        The continuous losses' residual variances (and the covariance, which scales with them)
        are squares of y's units: below this they underflow, and the predictive standard
        deviation came out nan (mse), 0 (l1) or 1e167 times too wide (gaussian_nll).
        """
        if loss.link_name == "log":
            return
        spread = float(np.max(data.y_spread * getattr(self, "_y_scale", 1.0)))
        if 0.0 < spread and spread * spread < np.finfo(np.float64).tiny:
            raise ValueError(
                f"{type(self).__name__}: y's spread ({spread:.3g}) is so small that its "
                f"square underflows float64, so the variance of the {loss.name} residuals is "
                f"not representable: rescale y (e.g. multiply it by a power of 10)."
            )

    def _check_weight_total(self, data: Any) -> None:
        """Warn when frequency weights leave no residual degree of freedom (LinearRegressor)."""

    def _fit_rank(
        self,
        data: Any,
        design: Any,
        model: Any,
        theta: np.ndarray,
        solver: str,
        x_offset: np.ndarray,
    ) -> None:
        """Set what :meth:`n_parameters` counts beyond the parameters (LinearRegressor)."""
        self._n_free = None

    def _check_x_scale(self, x_scale: np.ndarray) -> None:
        """Refuse a feature whose spread squares outside float64 (below 1e-154, above 1e154).

        Its coefficient is in the inverse units: the coefficient's variance (and the
        penalty's curvature) are the inverse square, not representable, and the predictive
        standard deviation, the standard errors and the penalised fits came out as inf or
        NaN with RuntimeWarnings.
        """
        with np.errstate(over="ignore", under="ignore"):
            square = np.asarray(x_scale, dtype=np.float64) ** 2
        bad = (square < np.finfo(np.float64).tiny) | ~np.isfinite(square)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{type(self).__name__}: feature {j} of X has a spread of {x_scale[j]:.3g}, "
                f"whose square is outside float64 (1e-154 to 1e154 is representable), so its "
                f"coefficient's variance is not representable: rescale that column (e.g. "
                f"multiply it by a power of 10, or use a StandardScaler)."
            )

    def _check_dispersion_limit(self, objective: Any, loss: BaseLoss, theta: np.ndarray) -> None:
        r"""Warn where a count model's dispersion has no maximum likelihood estimate above 0.

        With no overdispersion in the data the negative binomial's likelihood rises as its
        (constant) dispersion :math:`\alpha` goes to 0, the Poisson model, which the log
        dispersion :math:`\eta` reaches only at :math:`-\infty`, and the fit stops on its
        tolerance at an arbitrary :math:`\eta` (Newton at -9.7, L-BFGS-B at -21.7 on the
        same equidispersed data). Near :math:`\alpha = 0` the objective is
        :math:`f_0 + A\alpha + B\alpha^2` (:math:`A` is minus half the weighted mean of
        :math:`(y - \mu)^2 - y`, the score test of overdispersion), so
        :math:`f' = A\alpha + 2B\alpha^2` and :math:`f'' = A\alpha + 4B\alpha^2` in
        :math:`\eta`: :math:`A > 0`, the likelihood rising to the Poisson limit, is
        :math:`2f' > f''`, a Newton step in :math:`\eta` above ``_BOUNDARY_STEP`` = 1/2 (1
        far out; 0 at an optimum above 0). One Hessian-vector product per target.
        """
        if not (
            isinstance(objective.model, LinearModel)
            and loss.link_name == "log"
            and "log_dispersion" in loss.param_names
            and "log_dispersion" in [loss.param_names[j] for j in loss.constant_params]
        ):
            return
        model, K = objective.model, objective.model.n_outputs // loss.n_params
        j = loss.param_names.index("log_dispersion")
        _, grad = objective(theta)
        for k in range(K):
            index = model.n_weights + j * K + k
            unit = np.zeros_like(theta)
            unit[index] = 1.0
            with np.errstate(over="ignore", invalid="ignore"):
                curvature = float(objective.hessp(theta, unit)[index])
            step = grad[index] / curvature if curvature > 0 else 0.0
            if not step > _BOUNDARY_STEP:
                continue
            target = f" (target {k})" if K > 1 else ""
            warnings.warn(
                f"{type(self).__name__}: the data show no overdispersion{target}: the "
                f"{loss.name} likelihood keeps rising as the dispersion goes to 0 (the "
                f"Poisson model), so its maximum likelihood estimate is 0, which the log "
                f"dispersion reaches only at -inf; the fit stopped at log dispersion "
                f"{theta[index]:.3g}, where the tolerance did. Fit loss='poisson_nll' (the "
                f"same means), or keep this fit knowing its dispersion is the Poisson limit.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _check_separation(self, data, objective, loss, theta, l1_weights) -> bool:
        """Warn where an unpenalised log-link fit has no maximum likelihood estimate.

        Rows of ``y = 0`` whose fitted mean fell below ``_SEPARATION_SUSPECT`` of y's largest
        value (the solver stops on the relative tolerance long before float64 does: a rare
        category with only zero counts ended at means of 1e-6) are the suspects; the data's
        separation certificate (in memory: :meth:`sklik._data.ArrayData.n_separated`, exact)
        decides. On dask input, which has no certificate, means numerically 0
        (``_VANISHING_MEAN``) warn (one pass). Returns whether it warned.
        """
        if loss.link_name != "log":
            return False
        if data.y_zero:  # (whatever alpha: the intercept is not penalised)
            warnings.warn(
                f"{type(self).__name__}: y is 0 on every training row, so the maximum "
                f"likelihood mean is 0, which the log link reaches only as the intercept "
                f"goes to -inf: the fit stopped where the solver did, and its coefficients, "
                f"standard errors and predictive spread mean nothing. Check the target.",
                ConvergenceWarning,
                stacklevel=4,
            )
            return True
        if self.alpha != 0 or l1_weights is not None:
            return False
        if not isinstance(objective.model, LinearModel):
            return False  # (an MLP's outputs are not a separating hyperplane's)
        top = float(np.max(data.y_top))
        certify = getattr(data, "n_separated", None)
        if certify is None:  # (dask input: means numerically 0 are taken for separation)
            n_rows = objective.n_vanishing(theta, _VANISHING_MEAN * top)
        elif objective.n_vanishing(theta, _SEPARATION_SUSPECT * top):
            # the certificate alone: means numerically 0 also come with a maximum likelihood
            # estimate that exists, where the means span 16 decades (exposures over many
            # decades, a strong covariate): 112 of 1000 rows had warned
            n_rows = certify(objective.X, self.fit_intercept)
        else:
            n_rows = 0
        if n_rows:
            warnings.warn(
                f"{type(self).__name__}: the features separate {n_rows} training row(s) with "
                f"y = 0 from the others (quasi-complete separation): a direction of the "
                f"coefficients drives their fitted means to 0 and raises the likelihood of "
                f"every row, so the maximum likelihood estimate does not exist: the "
                f"coefficients grow without bound and stopped where the solver did, and "
                f"neither they nor their standard errors mean anything. Use alpha > 0, or "
                f"drop the features (e.g. a rare category) that separate those rows.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return bool(n_rows)

    def _residual_scale(self, data, loss, raw, owner, model, theta, monitor) -> np.ndarray:
        """Per target, the ML scale of the residual density: on the training rows."""
        return data.residual_scale(loss, raw, owner)

    def _prediction_size(
        self, data: Any, params: dict, x_mean: np.ndarray, scale: np.ndarray
    ) -> np.ndarray:
        """Per target, the size of the terms a prediction on the training rows sums (0: none).

        A residual scale below its rounding (an interpolating fit, whose residuals in the
        user's units are that rounding) would make the likelihood infinite. ``x_mean`` (the
        columns' means) and ``scale`` (the fitted residual scale) allow skipping the pass
        where the rounding cannot matter.
        """
        return np.zeros(data.n_targets)

    def _finish_fit(self, X: Any, sample_weight: Any) -> None:
        """Store what prediction needs from the training inputs ``X`` (nothing by default).

        Rows of ``sample_weight`` 0 are no rows: they must not count.
        """

    def _training_data(self, X, y, sample_weight, offset, loss):
        """Validate the input: the training data, the loss to fit, a monitor, y is 1-D.

        Dask input becomes a :class:`sklik._dask.DaskData` (one validation pass); in-memory
        input an :class:`sklik._data.ArrayData` after :meth:`_training_problem`.
        """
        if _is_dask(X):
            from sklik import _dask

            # least squares: its Gram matrix comes with the validation pass
            gram = isinstance(loss, MSELoss) and self._choose_solver(loss) == "lstsq"
            y, offset, fit_loss = self._dask_training_problem(y, sample_weight, offset, loss)
            data = _dask.DaskData(self, X, y, sample_weight, offset, loss, gram=gram)
            return data, fit_loss, None, data.one_target
        # the linear model checks X for NaN and inf in its design's pass over X (one pass
        # fewer, see ArrayData.design); the MLP's validation rows never reach a design
        defer = self._standardises_design
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=("csr", "csc"),
            dtype=np.float64,
            y_numeric=True,
            multi_output=True,
            ensure_all_finite=not defer,
        )
        if isinstance(X, np.ndarray):
            X = _aligned(X)
        y = _aligned(np.asarray(y, dtype=np.float64))
        Y = y.reshape(y.shape[0], -1)
        sw = check_sample_weight(sample_weight, X.shape[0])
        off = check_offset(offset, Y.shape)
        loss.check_y(Y)
        owner = type(self).__name__
        keep = positive_rows(sw)
        if keep is not None:  # rows of weight 0 are no rows (NaN or inf in them still raise)
            if defer:
                assert_all_finite(X, input_name="X", estimator_name=owner)
            X, Y, sw = X[keep], Y[keep], sw[keep]
            off = None if off is None else off[keep]
        # the MLP may hold out validation rows and standardise y (by default nothing changes)
        X, Y, sw, off, fit_loss, monitor = self._training_problem(X, Y, sw, off, loss)
        check = (
            (lambda A: assert_all_finite(A, input_name="X", estimator_name=owner))
            if defer
            else None
        )
        return ArrayData(X, Y, sw, off, check_finite=check), fit_loss, monitor, y.ndim == 1

    def _dask_training_problem(self, y: Any, sample_weight: Any, offset: Any, loss: BaseLoss):
        """``(y, offset, loss)`` to fit on dask input (all rows; by default as given).

        Sets the state :meth:`_training_problem` sets in memory.
        """
        return y, offset, loss

    def _minimize(
        self, data, model, loss, objective, solver, l1_weights, monitor, x_mean, x_scale
    ) -> tuple[np.ndarray, int]:
        """The iterative solvers: cold start, checks, ``_solver.minimize``, the stuck check."""
        owner = type(self).__name__
        out_init = data.init_raw(loss)
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            theta_cold = self._cold_start(model, loss, out_init)
        value0, grad0 = objective(theta_cold)
        top = self._y_magnitude(data)
        if value0 == 0 and np.any(grad0 != 0):
            raise ValueError(
                f"{owner}: the {loss.name} loss underflows float64 at the starting point "
                f"(|y| up to {top:.3g}): rescale y (e.g. multiply it by a power of 10)."
            )
        if not (
            np.all(np.isfinite(theta_cold)) and np.isfinite(value0) and np.all(np.isfinite(grad0))
        ):
            x_too = (
                ""
                if isinstance(model, LinearModel)
                else " The MLP's start also multiplies X by its random weights: standardise X "
                "(e.g. with a StandardScaler in a pipeline) if its values are large."
            )
            raise ValueError(
                f"{owner}: the {loss.name} loss overflows float64 at the starting point "
                f"(|y| up to {top:.3g}). Rescale y (e.g. divide it by a power of 10) so that "
                f"the loss of a constant prediction is finite.{x_too}"
            )
        # the parameters of a head in y's units are solved for in units of y's spread, so that
        # the iterations do not depend on y's units (not for L-BFGS-B on a kinked loss: there
        # the gradient's size does not scale with y, and the unscaled problem stops closer to
        # the kink)
        theta_scale = (
            self._theta_scale(model, loss, y_units(data.y_top, data.y_spread))
            if loss.differentiable or solver != "lbfgs"
            else np.ones(model.n_coef)
        )
        theta0 = self._warm_start(model, x_mean, x_scale)
        if theta0 is None:
            theta0 = theta_cold
        gradient_scale = float(np.max(np.abs(theta_scale * grad0)))
        if self._cold_start_is_constant and not getattr(self, "fit_intercept", True):
            # without an intercept the cold start (all raw outputs 0) is not the best constant
            # model, and its gradient is as large as y is far from 0 (a Gaussian NLL with
            # y = 2500 and a unit variance: 6e6): tol is relative to the gradient at the best
            # constant outputs instead, where smaller (the tol of the same data centred)
            at_constant = getattr(objective, "constant_gradient", None)
            if at_constant is not None:
                g_const = float(np.max(np.abs(theta_scale * at_constant(out_init, theta_cold))))
                if 0 < g_const < gradient_scale:
                    gradient_scale = g_const
        # a start whose gradient is below 1e-8 of the objective's size is the optimum but for
        # rounding (a constant y: 1e-16), and a tol relative to it would ask the solver for
        # digits float64 does not have (the fit ends "stalled", with a ConvergenceWarning)
        gradient_scale = max(gradient_scale, _START_GRADIENT_FLOOR * abs(value0))
        result = _solver.minimize(
            objective,
            theta0,
            method=solver,
            max_iter=self.max_iter,
            tol=self.tol,
            gradient_scale=gradient_scale,
            theta_scale=theta_scale,
            l1_weights=l1_weights,
            verbose=self.verbose,
            owner=owner,
            callback=(
                None
                if monitor is None
                else monitor.bind(model, None if theta0 is theta_cold else theta0)
            ),
        )
        theta, fun = result.theta, result.fun
        self._converged = bool(result.converged)
        if monitor is not None:  # early stopping: the best parameters seen
            theta = monitor.finish(self, theta)
            fun = objective(theta)[0]
        # (only where the constant model is in the family: with an intercept or biases)
        if getattr(self, "fit_intercept", True):
            # the linear model's cold start is the constant model itself (zero coefficients,
            # no penalty): its objective was evaluated there; the MLP's is a random network
            constant = (
                value0
                if self._cold_start_is_constant
                else data.constant_objective(objective, out_init)
            )
            if not fun <= constant + 1e-8 * abs(constant):
                # e.g. an MLP whose units all died on un-centred inputs: a stationary point
                # worse than the best constant model (its predictions may overflow), which
                # is returned instead: no weights, the output biases at the constant. (A
                # constant y: the constant model is the exact fit, and no failure.)
                if np.any(data.y_spread > 0):
                    self._warn_stuck(owner, solver, fun, constant)
                theta = theta_cold.copy()
                theta[: model.n_weights] = 0.0
        return theta, result.n_iter

    @staticmethod
    def _warn_stuck(owner: str, solver: str, fun: float, constant: float) -> None:
        """Warn that the solver stopped worse than the best constant model (returned)."""
        warnings.warn(
            f"{owner}: the {solver} solver stopped at a point worse than the best constant "
            f"model (objective {fun:.6g} > {constant:.6g}): the model is stuck at a stationary "
            f"point, and the best constant model is returned. Standardise X (e.g. with a "
            f"StandardScaler in a pipeline) or change random_state.",
            ConvergenceWarning,
            stacklevel=5,
        )

    def _fit_inference(self, data, design, model, x_mean, x_scale, theta, raw) -> None:
        """Store what the predictive distribution needs beyond the noise (linear model only)."""
        self._predictive_ = None

    def _predictive_state(self) -> dict | None:
        """What the predictive distribution needs beyond the noise (None: the plug-in one)."""
        return self._predictive_

    def set_params(self, **params: Any) -> _BaseRegressor:
        """Set the parameters (scikit-learn's), nested ones of a loss instance included.

        ``loss__delta`` and the like need ``loss`` to be an instance (``HuberLoss()``), not a
        name: a ValueError says so (scikit-learn's own error is an AttributeError of ``str``).
        """
        nested = sorted(key for key in params if key.startswith("loss__"))
        if nested and isinstance(params.get("loss", self.loss), str):
            name = params.get("loss", self.loss)
            cls = _loss_class(name)
            example = f"{cls.__name__}()" if cls is not None else "an instance from sklik.losses"
            raise ValueError(
                f"{type(self).__name__}: {nested[0]} sets a parameter of the loss, but "
                f"loss={name!r} is a name: pass the loss as an instance, e.g. loss={example} "
                f"(in a grid: the estimator's loss, or loss=[{example}, ...])."
            )
        return super().set_params(**params)

    def _effective_alpha(self, loss: BaseLoss) -> float:
        """The penalty strength used for ``loss`` (the MLP resolves ``alpha="auto"``)."""
        return self.alpha

    def _training_problem(
        self,
        X: Any,
        Y: np.ndarray,
        sw: np.ndarray,
        off: np.ndarray | None,
        loss: BaseLoss,
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray | None, BaseLoss, Any]:
        """The rows and loss the objective is built on, and an iteration monitor (or None).

        The default fits all rows with the loss as given and monitors nothing.
        """
        return X, Y, sw, off, loss, None

    # whether the objective reduces over the internally standardised design (the linear
    # model) or over X as given (the MLP): see ArrayData.design
    _standardises_design = False
    # whether _cold_start returns the best constant model itself (its objective is then known)
    _cold_start_is_constant = False

    def _design_gram(self, loss: BaseLoss, data: Any) -> bool:
        """Whether the design should build its Gram matrix with it (see ArrayData.design)."""
        return False

    def _penalties(
        self, model: Any, x_scale: np.ndarray, loss: BaseLoss, weight_total: float
    ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """The L2 strength, its per-weight factors and the per-weight L1 penalty (or None)."""
        return self._effective_alpha(loss), None, None

    @property
    def _objective_factor(self) -> float:
        """The fitted objective times this is the documented one (the MLP's fitted target)."""
        return 1.0

    def _y_magnitude(self, data: Any) -> float:
        """The largest ``|y|`` of the training data, in the user's units (for messages)."""
        return float(np.max(data.y_top))

    def _to_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        return params

    def _theta_scale(self, model: Any, loss: BaseLoss, y_units: np.ndarray):
        """The units of the parameters the solver works in (see ``_solver.minimize``).

        ``y_units``: the unit of each target (its spread).
        """
        return np.ones(model.n_coef)

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

    def _cold_start(self, model: Any, loss: BaseLoss, out_init: np.ndarray) -> np.ndarray:
        """The best constant model ``out_init`` (the MLP: its random start with those biases).

        The relative stopping rule measures the gradient against its value here.
        """
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

    def predict_dist(self, X: Any, *, offset: Any = None, uncertainty: str = "predictive") -> Any:
        """Predictive distribution of y given each row of X, as a frozen scipy distribution.

        With ``uncertainty="noise"`` (the plug-in distribution) it is the distribution whose
        negative log-density is the loss (see the user guide): Normal for ``"mse"`` and
        ``"gaussian_nll"`` (with the learned variance), Laplace for ``"l1"`` (and
        ``"smooth_l1"`` with ``beta=0``), Poisson for ``"poisson_nll"``, and
        :data:`sklik.distributions.huber` (Gaussian core, Laplace tails) for ``"huber"`` and
        ``"smooth_l1"``, with the maximum-likelihood scale of the training residuals
        (``scale_``). The default, ``uncertainty="predictive"``, also accounts for the
        estimation of the coefficients for :class:`LinearRegressor` (the user guide gives the
        formulas): for ``"mse"`` the exact Student-t predictive distribution, for the count
        losses a negative binomial whose dispersion carries the variance of the fitted log
        mean, for the other losses the noise distribution with a degrees-of-freedom-corrected
        scale, widened by the variance of the fitted mean. The MLP's predictive distribution
        is the plug-in one, except for ``"mse"`` with early stopping: the Student t with the
        validation rows' degrees of freedom, whose residuals give its scale.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        offset : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Added to the mean head's raw output, as in :meth:`fit` (e.g. ``np.log(exposure)``
            for counts over an exposure).
        uncertainty : {"predictive", "noise", "mean"}, default="predictive"
            ``"predictive"``: noise plus parameter uncertainty; ``"noise"``: the plug-in
            distribution at the fitted parameters (what :meth:`log_likelihood` uses);
            ``"mean"``: not of y but of the fitted mean, its sampling distribution
            (:class:`LinearRegressor` only), whose ``interval(0.95)`` is the 95% confidence
            interval of the mean as statsmodels' ``get_prediction(...).conf_int()`` gives it:
            the Wald interval of the linear predictor mapped through the inverse link
            (Student t for ``"mse"``, Normal for the other identity-link losses, log-normal
            with median the prediction for the log link).

        Returns
        -------
        scipy.stats frozen distribution
            Vectorised over the rows of X (shape ``(n_samples,)``, or ``(n_samples,
            n_targets)`` for a 2-D y): ``mean``, ``std``, ``pdf``/``pmf``,
            ``logpdf``/``logpmf``, ``cdf``, ``ppf``, ``interval``, ``rvs``. For a dask ``X``,
            a lazily evaluated ``DaskDistribution`` with the same methods (but ``rvs``), each
            returning dask arrays with ``X``'s row chunks.
        """
        if _is_dask(X):
            from sklik import _dask

            return _dask.predict_dist(self, X, offset, uncertainty)
        return self._dist_from_raw(X, self._raw(X, offset), uncertainty)

    @staticmethod
    def _check_uncertainty(uncertainty: Any) -> None:
        if not (isinstance(uncertainty, str) and uncertainty in ("predictive", "noise", "mean")):
            raise ValueError(
                f"uncertainty must be 'predictive' (noise and parameter uncertainty), 'noise' "
                f"(the plug-in distribution) or 'mean' (the fitted mean's sampling "
                f"distribution); got {uncertainty!r}."
            )

    def _dist_from_raw(self, X: Any, raw: np.ndarray, uncertainty: str) -> Any:
        self._check_uncertainty(uncertainty)
        state = self._predictive_state() if hasattr(self, "_predictive_") else None
        if uncertainty == "mean":
            return self._mean_distribution(X, raw, state)
        if uncertainty == "noise" or state is None:
            return self.loss_.predictive_distribution(raw, self.scale_)
        return self._predictive_distribution(X, raw, state)

    def _mean_distribution(self, X: Any, raw: np.ndarray, state: dict | None) -> Any:
        raise ValueError(
            f"{type(self).__name__} has no covariance of its parameters, so no sampling "
            f"distribution of its fitted mean: uncertainty='mean' needs a LinearRegressor."
        )

    def _predictive_distribution(self, X: Any, raw: np.ndarray, state: dict) -> Any:
        return self.loss_.predictive_distribution(raw, self.scale_)

    def log_likelihood(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        offset: Any = None,
        uncertainty: str = "noise",
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
        uncertainty : {"noise", "predictive"}, default="noise"
            The distribution of :meth:`predict_dist`: by default the plug-in one at the
            fitted parameters (the likelihood of :meth:`aic` and :meth:`bic`);
            ``"predictive"`` scores held-out data as the scorers and ``sklik compare`` do.

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
        if uncertainty == "mean":
            raise ValueError(
                "uncertainty='mean' is the distribution of the fitted mean, not of y: the "
                "log-likelihood of y takes uncertainty='noise' or 'predictive'."
            )
        if _is_dask(X):
            from sklik import _dask

            return _dask.log_likelihood(self, X, y, sample_weight, offset, uncertainty)[0]
        dist = self.predict_dist(X, offset=offset, uncertainty=uncertainty)
        y = self._check_likelihood_target(y, dist)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            logp = dist.logpmf(y) if hasattr(dist, "logpmf") else dist.logpdf(y)
            sw = check_sample_weight(sample_weight, logp.shape[0])
            logp = logp.reshape(logp.shape[0], -1).sum(axis=1)
            keep = positive_rows(sw)  # rows of weight 0 are no rows (their density may be 0)
            if keep is not None:
                sw, logp = sw[keep], logp[keep]
            if not np.all(np.isfinite(logp)):
                bad = np.flatnonzero(~np.isfinite(logp))
                raise ValueError(
                    f"{bad.size} row(s) of y have probability (density) 0 under the model, "
                    f"e.g. row {int(bad[0])}: the target lies outside the distribution's "
                    f"support or so far from the prediction (a target orders of magnitude "
                    f"beyond the training targets) that its density underflows float64; the "
                    f"log-likelihood is -inf. Check those targets' units."
                )
            return _finite_total(float(sw @ logp), "log-likelihood", logp)

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

        The free coefficients, plus one scale per target for the constant-scale losses
        (``scale_``). For :class:`MLPRegressor` every weight and bias is free. For
        :class:`LinearRegressor` the free coefficients of each head are the rank of its
        design (``rank_``): aliased columns (an intercept with a full one-hot encoding)
        count once, as in R's ``lm``/``glm`` and statsmodels, and a coefficient an L1
        penalty set to exactly 0 not at all (glum's count, the lasso's degrees of freedom).
        """
        check_is_fitted(self)
        n_scales = self.n_outputs_ if self.loss_.needs_scale else 0
        n_free = self._fitted_model().n_coef if self._n_free is None else self._n_free
        return int(n_free) + n_scales

    def aic(self, X: Any, y: Any, sample_weight: Any = None, *, offset: Any = None) -> float:
        r"""Akaike information criterion :math:`2k - 2\log L` on (X, y).

        ``k`` is :meth:`n_parameters` (the estimated scale counts), ``log L`` is
        :meth:`log_likelihood` (with frequency weights ``sample_weight``). Lower is better.
        """
        loglik = self.log_likelihood(X, y, sample_weight, offset=offset)
        return _finite_total(2.0 * self.n_parameters() - 2.0 * loglik, "AIC")

    def bic(self, X: Any, y: Any, sample_weight: Any = None, *, offset: Any = None) -> float:
        r"""Bayesian information criterion :math:`k \log n - 2\log L` on (X, y).

        ``n`` is the number of observations, :math:`\sum_i s_i` with frequency weights
        ``sample_weight`` (the number of rows without); see :meth:`aic`. Lower is better.
        """
        if _is_dask(X):
            from sklik import _dask

            loglik, total = _dask.log_likelihood(self, X, y, sample_weight, offset)
            return math.log(total) * self.n_parameters() - 2.0 * loglik
        loglik = self.log_likelihood(X, y, sample_weight, offset=offset)
        sw = check_sample_weight(sample_weight, np.shape(X)[0])
        return _finite_total(math.log(float(sw.sum())) * self.n_parameters() - 2.0 * loglik, "BIC")

    def predict(
        self,
        X: Any,
        return_std: bool = False,
        *,
        offset: Any = None,
        uncertainty: str = "predictive",
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        r"""Predict the mean (the median for ``"l1"``) and, optionally, its spread.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        return_std : bool, default=False
            Also return the standard deviation of the predictive distribution
            (:meth:`predict_dist`): with ``uncertainty="noise"`` the learned standard
            deviation for ``"gaussian_nll"``, ``sqrt(rate)`` for ``"poisson_nll"``, and
            otherwise that of the loss's own residual density (Normal for ``"mse"``, Laplace
            for ``"l1"``, the Gaussian-core/Laplace-tail density for ``"huber"`` and
            ``"smooth_l1"``); by default (``"predictive"``) the linear model's standard
            deviation also includes the uncertainty of the fitted coefficients, so it grows
            away from the training data.
        offset : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Added to the mean head's raw output, as in :meth:`fit`: with
            ``offset=np.log(exposure)`` a Poisson model predicts the expected count.
        uncertainty : {"predictive", "noise", "mean"}, default="predictive"
            As in :meth:`predict_dist`; used only with ``return_std=True``. With ``"mean"``
            the standard deviation of the fitted mean's sampling distribution (for
            ``"mse"`` the Student t's: the standard error times
            :math:`\sqrt{\nu / (\nu - 2)}`; for a log link the log-normal's).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions on the response scale (the rate for ``"poisson_nll"``).
        y_std : ndarray of the same shape
            Only with ``return_std=True``.

            For a dask ``X`` both are dask arrays with ``X``'s row chunks.
        """
        # (checked even where unused: a misspelt uncertainty or a return_std of "no" would
        # otherwise pass silently, or return the tuple)
        self._check_uncertainty(uncertainty)
        if not (isinstance(return_std, (bool, np.bool_, Integral)) and return_std in (0, 1)):
            raise ValueError(f"return_std must be True or False; got {return_std!r}.")
        if _is_dask(X):
            from sklik import _dask

            return _dask.predict(self, X, return_std, offset, uncertainty)
        raw = self._raw(X, offset)
        with np.errstate(over="ignore"):
            mean = self.loss_.inverse_link(raw)
        if return_std:
            dist = self._dist_from_raw(X, raw, uncertainty)
            with np.errstate(invalid="ignore", over="ignore"):
                std = dist.std()
            if uncertainty == "mean" and not np.all(np.isfinite(std)):
                # (the predictive distributions' degrees of freedom are floored at 3)
                df = float(np.min(dist.kwds.get("df", np.nan)))
                raise ValueError(
                    f"The fitted mean's Student t has {df:.3g} residual degree(s) of freedom: "
                    f"its standard deviation is infinite (at most 2 degrees of freedom). Use "
                    f"predict_dist(X, uncertainty='mean').interval(confidence) instead, or "
                    f"fit on more rows."
                )
            return mean, np.broadcast_to(std, mean.shape).copy()
        return mean

    def score(self, X: Any, y: Any, sample_weight: Any = None, *, offset: Any = None) -> float:
        """Coefficient of determination :math:`R^2` of :meth:`predict` on (X, y).

        As :meth:`sklearn.base.RegressorMixin.score`, with the ``offset`` of :meth:`fit`.
        """
        if _is_dask(X):
            from sklik import _dask

            return _dask.score(self, X, y, sample_weight, offset)
        pred = self.predict(X, offset=offset)
        y = np.asarray(y)
        if sample_weight is not None:  # rows of weight 0 are no rows (their error may overflow)
            sample_weight = check_sample_weight(sample_weight, pred.shape[0])
            keep = positive_rows(sample_weight)
            if keep is not None:
                y, pred, sample_weight = y[keep], pred[keep], sample_weight[keep]
        return _r2_score(y, pred, sample_weight)


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
        Penalty strength (>= 0) on the coefficients.
    l1_ratio : float, default=0.0
        Elastic-net mixing in [0, 1]: the penalty is
        ``alpha * (l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 * ||w||^2)`` (glum's and
        scikit-learn's convention; intercepts are never penalised). With ``l1_ratio > 0`` the
        fit uses L-BFGS-B on split variables ``w = w+ - w-``, which gives exact zeros.
    alpha_var : float or "auto", default="auto"
        ``"gaussian_nll"`` only: an extra L2 penalty (>= 0),
        :math:`\tfrac{\alpha_{var}}{2} \lVert v \rVert^2`, on the log-variance head's
        coefficients of the *standardised* features (:math:`v_j = s_j w_j`, :math:`s_j` the
        feature's standard deviation), which shrinks the variance head toward a constant.
        ``"auto"`` is ``2 p / ((n - p) K)`` (``p`` features, ``n = sum(sample_weight)``, ``K``
        targets): it keeps the learned variance from collapsing onto the training residuals
        when there are many features and vanishes as ``n`` grows (chosen by the calibration
        simulations of the user guide). ``0`` gives the maximum-likelihood fit.
    fit_intercept : bool, default=True
        Whether to fit intercepts (never penalised).
    solver : {"auto", "lbfgs", "newton", "lstsq", "highs"}, default="auto"
        ``"lstsq"``: exact least squares (``"mse"`` only). ``"highs"``: the exact linear
        program of least absolute deviations (``"l1"``, or ``"smooth_l1"`` with ``beta=0``,
        and ``alpha=0``), solved with HiGHS below 5000 rows and by the Frisch-Newton
        interior-point method with a certified optimal vertex from 5000 rows on.
        ``"newton"``: Newton's method with a line search, on the exact Hessian of the convex
        smooth losses (``"mse"``, ``"huber"``, ``"smooth_l1"`` with ``beta > 0``,
        ``"poisson_nll"``), the Fisher information of ``"gaussian_nll"``'s two heads (Fisher
        scoring) or the exact Hessian of ``"negative_binomial_nll"`` (its eigenvalues by
        magnitude where it is indefinite). With fewer rows than features and ``alpha > 0``
        each step solves an n-by-n system (the Woodbury identity) instead of the p-by-p one.
        ``"lbfgs"``: L-BFGS-B, any loss. ``"auto"`` picks ``"lstsq"`` for mse, ``"highs"`` for
        l1 without penalty, ``"newton"`` for the losses with a Hessian up to 500 coefficients,
        and beyond on a wide ``X`` (fewer rows than features, ``alpha > 0``, up to 128 rows,
        any number for ``"gaussian_nll"``; not ``NegativeBinomialNLLLoss(dispersion="linear")``,
        whose two heads with weights are coupled), and ``"lbfgs"`` otherwise.
    max_iter : int, default=1000
        Maximum number of solver iterations (iterative solvers).
    tol : float, default=1e-6
        Relative gradient tolerance of the iterative solvers: they stop when the largest
        entry of the gradient on the standardised design (the heads in units of y's spread)
        is ``tol`` times its value at the best constant model (without an intercept: at the
        all-zero start, or at the best constant outputs where smaller), whatever the units of
        ``X`` and ``y`` (see the user guide's "Units and tolerance"). For ``lstsq`` with conjugate
        gradients (a wide sparse ``X``) the same relative bound; the exact solvers ignore it.
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
    rank_ : int
        Numerical rank of the design :math:`[1, X]` (of ``X`` if not ``fit_intercept``)
        over the rows of positive weight: less than ``n_features + 1`` where columns are
        aliased (an intercept with a full one-hot encoding). :meth:`n_parameters`, hence
        AIC and BIC, counts it, as R and statsmodels do. Beyond 500 columns it is not
        computed: ``n_features + fit_intercept``.
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
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "solver": [StrOptions({"auto", "lbfgs", "newton", "lstsq", "highs"})],
        "alpha_var": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        loss: str | BaseLoss = "mse",
        *,
        alpha: float = 0.0,
        alpha_var: float | str = "auto",
        l1_ratio: float = 0.0,
        fit_intercept: bool = True,
        solver: str = "auto",
        max_iter: int = 1000,
        tol: float = 1e-6,
        warm_start: bool = False,
        verbose: int = 0,
    ) -> None:
        self.loss = loss
        self.alpha = alpha
        self.alpha_var = alpha_var
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose

    def _make_model(self, n_features: int, n_outputs: int) -> LinearModel:
        # the loss's constant_params: column j * K + k is parameter j of target k
        loss = self.loss_
        params = np.array([j in loss.constant_params for j in range(loss.n_params)])
        constant = np.repeat(params, n_outputs // loss.n_params)
        if constant.any() and not self.fit_intercept:
            raise ValueError(
                f"{loss!r} models its {[loss.param_names[j] for j in loss.constant_params]} as "
                f"a constant, an intercept alone, which needs fit_intercept=True."
            )
        return LinearModel(
            n_features, n_outputs, fit_intercept=self.fit_intercept, constant_outputs=constant
        )

    _standardises_design = True
    _cold_start_is_constant = True

    def _design_gram(self, loss: BaseLoss, data: Any) -> bool:
        # least squares and the covariance of these losses use the Gram matrix Z^T Z: with
        # equal weights it is built with the design (its diagonal gives the variances)
        covariance = data.n_features + int(self.fit_intercept) <= _NEWTON_MAX_COEF
        if data.n_samples < data.n_features:
            return False
        if loss.name == "mse" or (loss.name in ("huber", "smooth_l1", "l1") and covariance):
            return True
        # Newton's first Hessian, at the cold start: its raw outputs are constant, so with equal
        # weights and no offset the curvature is the same on every row and the Hessian is the
        # Gram matrix times it (Poisson at 10^4 x 20: the design's syrk replaces its mean
        # squares pass and the Hessian's weighted syrk). Only where Newton forms the exact
        # Hessian: on tall data it samples the rows
        n_coef = (data.n_features + int(self.fit_intercept)) * loss.n_params * data.n_targets
        return (
            isinstance(data, ArrayData)
            and data.off is None
            and not self.warm_start
            and self._choose_solver(loss, data.n_samples, n_coef, data.n_features) == "newton"
            and hessian_sample_step(data.n_samples, n_coef) == 1
        )

    def _penalties(
        self, model: Any, x_scale: np.ndarray, loss: BaseLoss, weight_total: float
    ) -> tuple[float, np.ndarray, np.ndarray | None]:
        # the penalty is on the user's coefficients w = v / s: alpha/2 sum (v_j / s_j)^2 and
        # alpha l1_ratio sum |v_j| / s_j
        l2 = self.alpha * (1.0 - self.l1_ratio)
        l1 = self.alpha * self.l1_ratio
        l1_weights = _per_weight(model, l1 / x_scale) if l1 > 0 else None
        pw = _per_weight(model, _inverse_square(x_scale, self.alpha))
        self._alpha_var_ = 0.0
        if loss.n_params == 1:
            return l2, pw, l1_weights
        # gaussian_nll: alpha_var on the variance head's standardised coefficients, added to
        # the L2 penalty; the objective gets alpha = 1 and the products as factors
        k = model.n_outputs // loss.n_params
        p = x_scale.shape[0]
        self._alpha_var_ = self._alpha_var(weight_total, p, k)
        factors = l2 * pw
        factors[k * p :] += self._alpha_var_
        return 1.0, factors, l1_weights

    def _fit_rank(
        self,
        data: Any,
        design: Any,
        model: Any,
        theta: np.ndarray,
        solver: str,
        x_offset: np.ndarray,
    ) -> None:
        """Set ``rank_`` and the free coefficients :meth:`n_parameters` counts.

        ``rank_``: the numerical rank of :math:`[1, X]` (without the 1 if not
        ``fit_intercept``) over the rows of positive weight, read from the weighted Gram
        matrix of the standardised design as the standard errors read it
        (:func:`sklik._inference.rank`). Per output of the model (head and target), its free
        coefficients are the rank of the columns it uses: those of non-zero coefficients and
        the intercept (a constant output: its intercept alone). A sample of the rows settles
        a design of full rank (a sample's rank is at most the data's); otherwise one exact
        pass. Beyond ``_NEWTON_MAX_COEF`` columns (where no fit forms a Gram matrix or
        Hessian, and a sparse design is never sandwiched) no rank is computed: every column
        counts.
        """
        q0 = int(self.fit_intercept)
        q = data.n_features + q0
        coef = model.unpack(theta)["coef"]
        used = [
            np.concatenate([np.arange(q0), q0 + np.flatnonzero(row)]).astype(int) for row in coef
        ]
        if q > _NEWTON_MAX_COEF:
            self.rank_ = q
            self._n_free = sum(len(u) for u in used)
            return
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            gram = data.rank_gram(design, self.fit_intercept, sample=True)
            self.rank_, condition = _inference.rank_and_condition(gram)
            if self.rank_ < q or condition > _ILL_CONDITIONED:
                gram = data.rank_gram(design, self.fit_intercept, sample=False)
                self.rank_, condition = _inference.rank_and_condition(gram)
        if self.rank_ == q:  # every subset of the columns has full rank too
            self._n_free = sum(len(u) for u in used)
        else:
            self._n_free = sum(_inference.rank(gram[np.ix_(u, u)]) for u in used)
        if self.alpha != 0 or solver in ("lstsq", "highs"):
            return
        if condition > _ILL_CONDITIONED:
            found = f"its Gram matrix's condition number is {condition:.1e}"
        elif self.rank_ < q:
            # directions the rank reads as aliased: exactly (their columns cancel to the
            # rounding of the rows) or nearly, where the optimum lies far along them
            N = _inference.null_space(gram)
            size = np.abs(N).T @ np.concatenate(
                [np.ones(q0), np.sqrt(np.diag(gram)[q0:]) + np.abs(x_offset)]
            )
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                residual = data.null_residuals(design, self.fit_intercept, N)
            # (a column that is 0 on every row has size 0: an exact aliasing)
            cancel = np.divide(residual, size, out=np.zeros_like(size), where=size > 0)
            rounding = max(_NEARLY_ALIASED, 64 * np.finfo(np.float64).eps * math.sqrt(condition))
            if not np.max(cancel, initial=0.0) > rounding:
                return
            found = (
                f"its columns cancel along {q - self.rank_} direction(s) to "
                f"{np.max(cancel):.1e} of their size, not exactly: rank_ and the standard "
                f"errors count those directions as aliased"
            )
        else:
            return
        far = "" if self.fit_intercept else ", or columns far from 0 without an intercept"
        warnings.warn(
            f"{type(self).__name__}: the standardised design is ill-conditioned ({found}: "
            f"nearly collinear columns{far}), so the {solver} solver's relative gradient "
            f"tolerance does not bound the distance to the optimum (such fits stopped 1e-3 "
            f"to 50% above it). Drop or combine the nearly collinear columns, centre X, or "
            f"use alpha > 0.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _check_weight_total(self, data: Any) -> None:
        """Warn when sample weights summing to less than ``p + 1`` make the fit saturated.

        Weights are frequency weights (``n = sum(sample_weight)``, the scikit-learn
        convention): weights normalised to sum to 1 describe one observation, whose standard
        errors are undefined and whose predictive intervals are those of a saturated fit.
        """
        q = data.n_features + int(self.fit_intercept)
        if data.weight_total < q + 1 <= data.n_samples:
            warnings.warn(
                f"{type(self).__name__}: sample_weight sums to {data.weight_total:.3g}, fewer "
                f"observations than the {q} coefficients plus one: sample weights are "
                f"frequency weights, so the standard errors and predictive intervals are "
                f"those of a saturated fit (the coefficients are unaffected). If only the "
                f"weights' ratios matter, rescale them to sum to the number of rows "
                f"(sample_weight * n / sample_weight.sum()).",
                UserWarning,
                stacklevel=3,
            )

    def _alpha_var(self, n: float, n_features: int, n_targets: int) -> float:
        """The penalty of the log-variance head's standardised coefficients."""
        if isinstance(self.alpha_var, str):  # "auto": see the class docstring
            # divided by K, as the data term is a mean over the targets: each target of a
            # joint fit gets the penalty of its separate fit
            return 2.0 * n_features / max(n - n_features, 1.0) / n_targets
        return float(self.alpha_var)

    def _to_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        coef = params["coef"] / x_scale
        return {"coef": coef, "intercept": params["intercept"] - coef @ x_mean}

    def _theta_scale(self, model: Any, loss: BaseLoss, y_units: np.ndarray):
        # on the standardised design, an identity-link mean head's coefficients are in the
        # units of y: the solver works on them divided by y's spread
        units = np.ones(model.n_outputs)
        if loss.link_name == "identity":
            units[: y_units.shape[0]] = y_units
        coef_units = np.repeat(units[:, np.newaxis], model.n_features, axis=1)
        coef_units[getattr(model, "constant_outputs", np.zeros(len(units), bool))] = 0.0
        theta = model.pack({"coef": coef_units, "intercept": units if self.fit_intercept else 0.0})
        return np.where(theta > 0, theta, 1.0)

    def _from_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        coef = np.atleast_2d(params["coef"])
        return {"coef": coef * x_scale, "intercept": params["intercept"] + coef @ x_mean}

    def _prediction_size(self, data, params, x_mean, scale):
        k = data.n_targets
        coef = np.asarray(params["coef"], dtype=np.float64).reshape(-1, data.n_features)[:k]
        intercept = np.abs(np.ravel(params["intercept"])[:k]) if self.fit_intercept else 0.0
        # the terms at the mean row, or y's size: the largest row's terms exceed them by more
        # than 1e9 only for rows 1e9 times beyond the mean, so a scale above 1e-6 of them is
        # far above the rounding (4 eps times the terms) and the pass over X is saved
        typical = np.maximum(np.abs(coef) @ np.abs(x_mean) + intercept, data.y_top)
        if np.all(scale > _PREDICTION_ROUNDING_SKIP * typical):
            return np.zeros(k)
        return data.largest_terms(coef) + intercept

    def _choose_solver(
        self, loss: BaseLoss, n_samples: int = 0, n_coef: int = 0, n_features: int = 0
    ) -> str:
        has_hessian = loss.second_order
        if self.l1_ratio > 0 and self.alpha > 0:  # elastic net: L-BFGS-B on split variables
            if self.solver not in ("auto", "lbfgs"):
                raise ValueError(
                    f"solver={self.solver!r} cannot minimise an L1 penalty (l1_ratio="
                    f"{self.l1_ratio}, alpha={self.alpha}); use solver='auto' or 'lbfgs'."
                )
            return "lbfgs"
        if self.solver == "auto":
            if isinstance(loss, MSELoss):
                return "lstsq"
            if _is_absolute_error(loss) and self.alpha == 0:
                return "highs"
            # a dense Newton step costs n p^2 + p^3 where an L-BFGS step costs 2 n p
            small = n_coef <= _NEWTON_MAX_COEF
            # fewer rows than features, every weight penalised: a Newton step by the Woodbury
            # identity costs n^2 p (LinearModel.gauss_newton_solve). That beats L-BFGS's
            # hundreds of iterations on few rows, and a learned variance (Fisher scoring)
            # needs it on any number: L-BFGS stalls there (n = 10 to 1000, p = 3000)
            # (the Woodbury form needs heads with weights that are not coupled: a curvature
            # per output, or coupled only to constant outputs, as a constant dispersion)
            uncoupled = loss.has_curvature or len(loss.constant_params) >= loss.n_params - 1
            wide = (
                self.alpha > 0
                and uncoupled
                and _solver.wide_newton(n_samples, n_features, loss.fisher)
            )
            return "newton" if has_hessian and (small or wide) else "lbfgs"
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
                f"only the losses with second derivatives (not l1). Use solver='auto' or 'lbfgs'."
            )
        return self.solver

    # -- inference -------------------------------------------------------------------------------

    def _penalty_user(self, n_features: int) -> np.ndarray:
        """Penalty curvature per user coefficient, per head: shape (n_params, n_features)."""
        # the L2 part of the penalty (the L1 part has no curvature away from zero)
        out = np.full((self.loss_.n_params, n_features), self.alpha * (1.0 - self.l1_ratio))
        if self.loss_.n_params == 2:  # alpha_var on v = s w, with the training s
            out[1] += getattr(self, "_alpha_var_", 0.0) * self._x_scale_fit**2
        return out

    def _covariances(
        self, sums: list, ridge: np.ndarray, robust: Any, predictive: bool = False
    ) -> list:
        """Per target, the coefficient covariance in the design's coordinates.

        From the sums and the penalty's curvature of :meth:`_covariance_sums`.
        """
        return [
            _inference.covariance_from_sums(
                self.loss_, s, ridge, self.fit_intercept, robust=robust, predictive=predictive
            )
            for s in sums
        ]

    def _covariance_sums(
        self,
        data: Any,
        design: Any,
        model: LinearModel,
        x_scale: np.ndarray,
        theta: np.ndarray,
        raw: np.ndarray | None,
        robust: Any,
        predictive: bool,
        sample_step: int = 1,
    ) -> tuple[list, np.ndarray]:
        """The covariance's sums over the data, per target, and the penalty's curvature.

        ``model``: the fitted model; ``theta``: the fitted parameters in the design's
        coordinates; ``raw``: the raw outputs there when already known (in memory), else None;
        ``sample_step``: sums over every such row (see ``ArrayData.covariance_sums``).
        """
        ridge = self._penalty_user(data.n_features) * (data.weight_total * data.n_targets)
        ridge = ridge / x_scale**2
        sums = data.covariance_sums(
            self.loss_,
            design,
            model,
            theta,
            raw,
            self.fit_intercept,
            robust=robust,
            predictive=predictive,
            sample_step=sample_step,
        )
        return sums, ridge

    def _fit_inference(self, data, design, model, x_mean, x_scale, theta, raw) -> None:
        """Store the mean head's coefficient covariance for the predictive distribution.

        Up to ``_NEWTON_MAX_COEF`` coefficients per target (on dask input: where the
        covariance is a sum over chunks, see ``_inference.additive_covariance``); beyond, only
        the residual degrees of freedom (the predictive distribution is then the plug-in one
        with a df-corrected scale).
        """
        self._predictive_ = None
        self._x_scale_fit = x_scale
        q = data.n_features + int(self.fit_intercept)
        n = data.weight_total
        state: dict = {"x_mean": x_mean, "x_scale": x_scale, "cov": None, "n": n}
        computable = isinstance(data, ArrayData) or _inference.additive_covariance(
            self.loss_, predictive=True
        )
        used = _inference.predictive_uses_covariance(self.loss_)
        state["df"] = np.full(data.n_targets, n - min(q, n - 1.0))
        if used and q * self.loss_.n_params > _NEWTON_MAX_COEF and q > _PLUGIN_WARN_RATIO * n:
            warnings.warn(
                f"{type(self).__name__}: with {q * self.loss_.n_params} coefficients (more "
                f"than {_NEWTON_MAX_COEF}) the predictive distribution leaves out the "
                f"coefficients' uncertainty (only a degrees-of-freedom correction), which at "
                f"p/n = {q / n:.2g} is not small: its intervals are too narrow (90% intervals "
                f"covered 0.75 at p/n = 0.5 for mse). Use at most {_NEWTON_MAX_COEF} "
                f"coefficients, or more rows.",
                UserWarning,
                stacklevel=3,
            )
        if used and computable and q * self.loss_.n_params <= _NEWTON_MAX_COEF:
            try:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    # the sums need the data; the small matrix algebra that turns them into
                    # the covariance waits for the first predictive distribution
                    step = _inference.predictive_sample_step(self.loss_, data.n_samples)
                    state["sums"] = self._covariance_sums(
                        data, design, model, x_scale, theta, raw, False, True, step
                    )
            except (ValueError, IndexError, ZeroDivisionError, np.linalg.LinAlgError):
                pass  # e.g. a single row: the plug-in distribution
        self._predictive_ = state
        if isinstance(self.loss_, PoissonNLLLoss) and isinstance(data, ArrayData):
            self._check_overdispersion(data, design, model, theta)

    def _check_overdispersion(self, data: ArrayData, design: Any, model: Any, theta: Any) -> None:
        r"""Warn where a Poisson fit's counts are overdispersed (``OverdispersionWarning``).

        The Pearson dispersion :math:`\hat\phi = X^2 / \nu`, :math:`X^2 = \sum_i s_i
        (y_i - \mu_i)^2/\mu_i` on :math:`\nu = n - \mathrm{rank}` residual degrees of
        freedom (over the predictive covariance's row sample), is 1 under the model; the
        warning needs :math:`\hat\phi > 1.5` and :math:`X^2` four standard deviations above
        :math:`\nu` (its variance under the Poisson, :math:`\sum_i s_i^2 (2 + 1/\mu_i)`,
        counts the heavy tail of small means).
        """
        step = _inference.predictive_sample_step(self.loss_, data.n_samples)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            chi2, spread, weight = data.pearson_sums(self.loss_, design, model, theta, step)
        df = weight * (1.0 - self.rank_ / data.weight_total)
        if not df >= 10:
            return
        dispersion = chi2 / df
        alarm = (dispersion > _OVERDISPERSED) & (chi2 - df > 4.0 * np.sqrt(spread))
        if alarm.any():
            phi = float(np.max(dispersion[alarm]))
            message = (
                f"{type(self).__name__}: the counts are overdispersed for a Poisson model "
                f"(Pearson dispersion {phi:.3g} on {data.weight_total - self.rank_:.0f} "
                f"residual degrees of freedom; 1 under the model): its predictive intervals "
                f"are too narrow (90% intervals covered 0.81, 0.73 and 0.52 of counts of "
                f"dispersion 2.2, 3.4 and 10) and its model-based standard errors too small, "
                f"by about sqrt({phi:.3g}). Fit loss='negative_binomial_nll', or use robust "
                f"standard errors (robust='HC0')."
            )
            warnings.warn(OverdispersionWarning(message, phi), stacklevel=5)

    def _predictive_state(self) -> dict | None:
        """The predictive distribution's state, its covariance computed from the sums.

        A new dict replaces the fitted one (never modified in place), so concurrent calls
        from threads each see a complete state.
        """
        state = self._predictive_
        if state is None or "sums" not in state:
            return state
        done = {key: value for key, value in state.items() if key != "sums"}
        sums, ridge = state["sums"]
        q = ridge.shape[1] + int(self.fit_intercept)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                res = self._covariances(sums, ridge, False, predictive=True)
        except (ValueError, IndexError, ZeroDivisionError, np.linalg.LinAlgError):
            res = None  # e.g. no huber residual in the quadratic zone: plug-in
        if res is not None and all(np.all(np.isfinite(r.cov)) for r in res):
            done["cov"] = np.stack([r.cov[:q, :q] for r in res])
            if self.loss_.n_params == 2:  # the log-variance head's covariance
                done["cov_var"] = np.stack([r.cov[q:, q:] for r in res])
            done["df"] = np.array([r.df_resid for r in res])
            done["k"] = np.array([r.k for r in res])
            # the fitted mean's covariance is covariance_matrix's where the predictive one
            # adjusts the sums (l1's sparsity without the interpolated rows: 1.6 times the
            # Wald standard error on stackloss, 0.96-0.98 coverage of 90% intervals at n = 21)
            if any("s_smooth" in part or "fhat_all" in part for part in sums):
                model_based = [_inference.model_based_sums(part) for part in sums]
                try:
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        mean_res = self._covariances(model_based, ridge, False, predictive=False)
                    done["cov_mean"] = np.stack([r.cov[:q, :q] for r in mean_res])
                    done["df_mean"] = np.array([r.df_resid for r in mean_res])
                except (ValueError, IndexError, ZeroDivisionError, np.linalg.LinAlgError):
                    pass  # (the predictive covariance stands in)
            # the mean head's part of the information's null space (design coordinates):
            # rows with a component along it have no estimable mean
            null = [r.null[:q] for r in res if r.null.size and np.any(r.null[:q])]
            if null:
                null = np.hstack(null)
                norms = np.linalg.norm(null, axis=0)
                null = null[:, norms > 0] / norms[norms > 0]  # (unit directions)
                done["null"] = null
        self._predictive_ = done
        return done

    def _check_estimable(self, X: Any, state: dict) -> None:
        """Warn at rows of X whose mean a rank-deficient fit does not identify (R's warning).

        Such a row (e.g. one with no category of a full one-hot encoding next to the
        intercept) lies off the training design's row space: its mean depends on which of the
        aliased columns carries the effect, and the generalised inverse gives the minimum-norm
        choice's.
        """
        null = state.get("null")
        if null is None:
            return
        X = check_array(X, accept_sparse=("csr", "csc"), dtype=np.float64)
        q0 = int(self.fit_intercept)
        scale, mean = state["x_scale"], state["x_mean"]
        coef = null[q0:] / scale[:, np.newaxis]
        constant = (null[0] if q0 else 0.0) - mean @ coef
        with np.errstate(over="ignore", invalid="ignore"):
            along = np.abs(np.asarray(X @ coef) + constant)
            # (a bound on the size of the row's design coordinates |x - m| / s, summed)
            size = 1.0 + np.asarray(abs(X) @ (1.0 / scale)) + float(np.sum(np.abs(mean) / scale))
        off = np.flatnonzero(np.any(along > _NOT_ESTIMABLE * size[:, np.newaxis], axis=1))
        if off.size:
            warnings.warn(
                f"{type(self).__name__}: the fit is rank deficient, and {off.size} row(s) of "
                f"X (e.g. row {int(off[0])}) lie off the training design's row space (e.g. no "
                f"category of a full one-hot encoding): their mean is not estimable (it depends "
                f"on which aliased column carries the effect); their distribution is the "
                f"minimum-norm solution's.",
                UserWarning,
                stacklevel=5,
            )

    def _mean_distribution(self, X: Any, raw: np.ndarray, state: dict | None) -> Any:
        if state is None or state.get("cov") is None:
            raise ValueError(
                f"{type(self).__name__}: this fit stored no covariance of its coefficients "
                f"(beyond {_NEWTON_MAX_COEF} coefficients; on dask input for l1, huber and "
                f"smooth_l1, whose covariance needs residual quantiles; or a covariance that "
                f"is not finite), so no sampling distribution of its fitted mean: "
                f"uncertainty='mean' is not available. covariance_matrix(X, y) computes the "
                f"coefficients' covariance from the training data."
            )
        self._check_estimable(X, state)
        self._check_wald_ratio(state["n"], stacklevel=5)
        exact = state.get("cov_mean")
        key = "cov_mean" if exact is not None and np.all(np.isfinite(exact)) else "cov"
        forms = self._quadratic_forms(X, state, (key,))
        df = state["df_mean"] if key == "cov_mean" else state["df"]
        df = float(df[0]) if self._y_is_1d else df
        return _inference.mean_distribution(self.loss_, raw, forms[key], df)

    def _check_wald_ratio(self, n: float, stacklevel: int) -> None:
        """Warn where l1's or the negative binomial's Wald intervals are known to under-cover.

        Their standard errors (statsmodels' QuantReg kernel sparsity; the negative binomial's
        maximum-likelihood dispersion, biased low) are too small once the coefficients are
        more than ``_WALD_MAX_RATIO`` of the rows (measured, 90% intervals of the mean).
        """
        if not (_inference._is_l1(self.loss_) or self.loss_.name == "negative_binomial_nll"):
            return
        q = getattr(self, "rank_", 0)  # (the mean head's coefficients, the intercept's too)
        if q <= _WALD_MAX_RATIO * n:
            return
        l1 = _inference._is_l1(self.loss_)
        figures = (
            "0.83 at n = 100, p = 20 and 0.45 at p = 40 (Laplace noise)"
            if l1
            else "0.83 at n = 30, p = 6 and 0.78 at n = 100, p = 40 (NB2 counts)"
        )
        warnings.warn(
            f"{type(self).__name__}: {self.loss_.name}'s Wald standard errors (statsmodels' "
            f"{'QuantReg' if l1 else 'NegativeBinomial'}) are too small with {q} coefficients "
            f"on {n:.0f} rows (more than {_WALD_MAX_RATIO:.0%}): 90% intervals of the mean "
            f"covered {figures}. Read them as lower bounds (a bootstrap gives honest ones), or "
            f"fit on more rows per coefficient.",
            UserWarning,
            stacklevel=stacklevel,
        )

    def _predictive_distribution(self, X: Any, raw: np.ndarray, state: dict) -> Any:
        if self.loss_.link_name == "identity":
            # (the information's null space is the design's; under a log link it also holds
            # the directions of rows whose means vanish, whose distribution is a point mass)
            self._check_estimable(X, state)
        forms = self._quadratic_forms(X, state, ("cov", "cov_var"))
        df = float(state["df"][0]) if self._y_is_1d else state["df"]
        kfac = state.get("k", np.ones(1))
        kfac = float(kfac[0]) if self._y_is_1d else kfac
        shape = raw.shape[1:]
        return _inference.predictive_distribution(
            self.loss_,
            raw,
            self.scale_,
            forms.get("cov", np.zeros(shape)),
            df,
            state["n"],
            qf_var=forms.get("cov_var"),
            k=kfac,
        )

    def _quadratic_forms(self, X: Any, state: dict, keys: tuple) -> dict:
        r""":math:`\tilde x^\top \Sigma \tilde x` per row of X and target, per covariance.

        ``keys``: ``"cov"``, the mean head's (``"cov_mean"``: covariance_matrix's, where the
        predictive one differs); ``"cov_var"``, the log-variance head's (where the fit has them).
        """
        X = check_array(X, accept_sparse=("csr", "csc"), dtype=np.float64)
        n_targets = self.n_outputs_
        forms = {}
        for key in keys:
            if state.get(key) is None:
                continue
            qf = np.zeros((X.shape[0], n_targets))
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                for k in range(n_targets):
                    qf[:, k] = _inference.quadratic_form(
                        X, state[key][k], state["x_mean"], state["x_scale"], self.fit_intercept
                    )
            bad = ~np.isfinite(qf).all(axis=1)
            if bad.any():
                raise ValueError(
                    f"{type(self).__name__}: the variance of the fitted "
                    f"{'log variance' if key == 'cov_var' else 'mean'} overflows float64 at "
                    f"{int(bad.sum())} row(s) of X (e.g. row {int(np.flatnonzero(bad)[0])}), "
                    f"whose features lie about 1e150 or more training standard deviations "
                    f"from the training data: no predictive distribution is representable "
                    f"there (predict(X) still gives the mean, and uncertainty='noise' the "
                    f"plug-in distribution). Check those rows' units."
                )
            forms[key] = qf[:, 0] if self._y_is_1d else qf
        return forms

    def _inference_data(self, X: Any, y: Any, sample_weight: Any, offset: Any):
        check_is_fitted(self)
        raw = self._raw(X, offset)
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=np.float64, reset=False)
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"y has {y.shape[0]} rows; X has {X.shape[0]}: pass the training data."
            )
        Y = y.reshape(y.shape[0], -1)
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} targets; the model was fitted on {self.n_outputs_}."
            )
        self.loss_.check_y(Y)
        sw = check_sample_weight(sample_weight, X.shape[0])
        off = check_offset(offset, Y.shape)
        raw3 = raw[..., np.newaxis] if self._y_is_1d else raw
        keep = positive_rows(sw)
        if keep is not None:  # rows of weight 0 are no rows, as in fit
            X, Y, sw, raw3 = X[keep], Y[keep], sw[keep], raw3[:, keep]
            off = None if off is None else off[keep]
        return X, Y, sw, off, raw3

    def covariance_matrix(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        offset: Any = None,
        robust: bool | str = False,
    ) -> np.ndarray:
        r"""Covariance matrix of the fitted coefficients (intercept first, then ``coef_``).

        The model-based covariance is the inverse (penalised) information of the fit at the
        fitted coefficients on the training data ``(X, y)`` (see the user guide for each
        loss): for ``"mse"`` the OLS covariance :math:`s^2 (\tilde X^\top W \tilde X)^{-1}`,
        :math:`s^2 = \sum w r^2 / (n - p)`; for ``"poisson_nll"`` the GLM covariance
        :math:`(\tilde X^\top \operatorname{diag}(w\mu) \tilde X)^{-1}`; for ``"huber"`` and
        ``"smooth_l1"`` the M-estimator covariance of statsmodels' RLM (``cov="H1"``); for
        ``"l1"`` the asymptotic covariance of median regression with a kernel estimate of the
        sparsity (statsmodels' ``QuantReg``: Epanechnikov kernel, Hall-Sheather bandwidth);
        for ``"gaussian_nll"`` the inverse expected information of both heads; for
        ``"negative_binomial_nll"`` the inverse observed information of the mean coefficients
        and the log dispersion (statsmodels' ``NegativeBinomial``, ``nb2``; the dispersion
        head's coefficients other than its intercept are fixed at 0, with variance 0). With
        ``alpha > 0`` the penalty's curvature is added to the information (the Laplace
        approximation of the posterior under the Gaussian prior the penalty implies).
        Sample weights act as frequency weights (``n = sum(sample_weight)``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights of the fit (frequency weights).
        offset : array-like, default=None
            The offset of the fit.
        robust : {False, True, "HC0", "HC1", "nid"}, default=False
            False: model-based. True or ``"HC0"``: the sandwich :math:`B^{-1} M B^{-1}` with
            the Hessian :math:`B` and the outer product :math:`M` of the per-sample scores
            (White's heteroscedasticity-consistent covariance, as statsmodels'
            ``cov_type="HC0"``; for ``"l1"`` Powell's kernel estimate of :math:`B`);
            ``"HC1"``: times :math:`n / (n - p)`. ``"nid"`` (``"l1"`` only): the
            Hendricks-Koenker sandwich of R quantreg's ``summary.rq(se="nid")``,
            :math:`\tfrac14 (\tilde X^\top S F \tilde X)^{-1} \tilde X^\top S \tilde X\,
            (\tilde X^\top S F \tilde X)^{-1}` with
            :math:`F_{ii} = \max(0, 2h / (\tilde x_i^\top(\hat\beta(\tfrac12 + h) -
            \hat\beta(\tfrac12 - h)) - \epsilon))` from two unpenalised quantile regressions
            at :math:`\tfrac12 \pm h` (Hall-Sheather :math:`h`; see the user guide).

        Returns
        -------
        ndarray of shape (n_coef, n_coef), or (n_targets, n_coef, n_coef) for a 2-D y
            ``n_coef = n_params * (n_features + fit_intercept)``; per head (mean, then log
            variance for ``"gaussian_nll"``) the intercept and then the coefficients. For a
            2-D y, one matrix per target (the cross-target covariances are not computed).
        """
        return self._covariance(X, y, sample_weight, offset, robust, stacklevel=4)

    def _covariance(
        self, X: Any, y: Any, sample_weight: Any, offset: Any, robust: Any, stacklevel: int
    ) -> np.ndarray:
        """:meth:`covariance_matrix`, its warning ``stacklevel`` frames above its raise."""
        if (
            robust not in _inference.ROBUST_OPTIONS
            or isinstance(robust, (int, float))
            and (not isinstance(robust, bool))
        ):
            raise ValueError(
                f"robust must be False (model-based), True or 'HC0' (sandwich), 'HC1' or, for "
                f"loss='l1', 'nid'; got {robust!r}."
            )
        if robust == "nid" and not _inference._is_l1(self.loss_):
            raise ValueError(
                f"robust='nid' (Hendricks-Koenker) is for loss='l1' (median regression); "
                f"got loss={self.loss!r}. Use robust='HC0' or 'HC1'."
            )
        robust = "HC0" if robust is True else robust
        if self.alpha > 0 and self.l1_ratio > 0:
            warnings.warn(
                f"{type(self).__name__}: an L1 penalty (alpha={self.alpha}, "
                f"l1_ratio={self.l1_ratio}) selected the columns, which this covariance does "
                f"not account for: the standard errors, tests and intervals of an "
                f"L1-penalised fit are not valid (post-selection inference). Refit the "
                f"selected columns without the L1 penalty, or bootstrap the whole fit.",
                UserWarning,
                stacklevel=stacklevel - 1,
            )
        if _is_dask(X):
            from sklik import _dask

            data = _dask.DaskData(self, X, y, sample_weight, offset, self.loss_, reset=False)
            raw = None
        else:
            X, Y, sw, off, raw = self._inference_data(X, y, sample_weight, offset)
            data = ArrayData(X, Y, sw, off)
        design, x_mean, x_scale = data.design(True, self.fit_intercept)
        self._check_x_scale(x_scale)  # (as fit: inf or NaN standard errors otherwise)
        model = self._fitted_model()
        theta = model.pack(self._from_user_units(self._fitted_params(), x_mean, x_scale))
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            sums, ridge = self._covariance_sums(
                data, design, model, x_scale, theta, raw, robust, False
            )
        for part in sums:
            numbers = [v for v in part.values() if isinstance(v, (float, np.ndarray))]
            if not all(np.all(np.isfinite(v)) for v in numbers):
                raise ValueError(
                    f"{type(self).__name__}: the information of the coefficients overflows "
                    f"float64 on these data (the fitted model's outputs or their curvature are "
                    f"beyond float64 on some rows): pass the training data, or rows in its "
                    f"units."
                )
        res = self._covariances(sums, ridge, robust)
        if robust is False:
            self._check_wald_ratio(res[0].n, stacklevel)
        covs = np.stack(
            [
                _inference.to_user_coordinates(
                    r.cov, x_mean, x_scale, self.loss_.n_params, self.fit_intercept
                )
                for r in res
            ]
        )
        for cov, r in zip(covs, res, strict=True):
            self._mark_unidentified(cov, r, x_mean, x_scale, stacklevel)
        self._last_df_resid = np.array([r.df_resid for r in res])
        return covs[0] if self._y_is_1d else covs

    def _mark_unidentified(
        self, cov: np.ndarray, res: Any, x_mean: np.ndarray, x_scale: np.ndarray, stacklevel: int
    ) -> None:
        """Set NaN, with a warning, where the data do not identify the covariance."""
        n_params = self.loss_.n_params
        if res.no_dispersion:
            bad = np.ones(cov.shape[0], dtype=bool)
            why = (
                f"no residual degree of freedom is left (n - p = {res.df_resid:.3g} < 1: a "
                f"saturated fit), so the dispersion of the {self.loss_.name} residuals is not "
                f"estimable"
            )
            advice = (
                "Fit fewer coefficients than rows (the predictive intervals of such a fit "
                "are not calibrated either)."
            )
        else:
            bad = _inference.unidentified(res.null, x_mean, x_scale, n_params, self.fit_intercept)
            if not bad.any():
                return
            rank = cov.shape[0] - res.null.shape[1]
            why = (
                f"the design is rank deficient (the information has rank {rank} for "
                f"{cov.shape[0]} coefficients: collinear columns, e.g. an intercept with a "
                f"full one-hot encoding), so the data do not identify these coefficients"
            )
            advice = (
                "Drop redundant columns (e.g. OneHotEncoder(drop='first')) or use alpha > 0; "
                "predictions and their intervals at rows like the training rows stay valid."
            )
        cov[bad, :] = np.nan
        cov[:, bad] = np.nan
        terms = self._term_names()
        names = [
            terms[i % len(terms)]
            if n_params == 1
            else f"{self.loss_.param_names[i // len(terms)]}:{terms[i % len(terms)]}"
            for i in np.flatnonzero(bad)
        ]
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        warnings.warn(
            f"{type(self).__name__}: {why}; their standard errors are NaN: {shown}. {advice}",
            UserWarning,
            stacklevel=stacklevel,
        )

    def std_errors(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        offset: Any = None,
        robust: bool | str = False,
    ) -> np.ndarray:
        """Standard errors of the coefficients, in the order of :meth:`covariance_matrix`.

        The square roots of its diagonal; same arguments.
        """
        return self._std_errors(X, y, sample_weight, offset, robust, stacklevel=5)

    def _std_errors(
        self, X: Any, y: Any, sample_weight: Any, offset: Any, robust: Any, stacklevel: int
    ) -> np.ndarray:
        cov = self._covariance(X, y, sample_weight, offset, robust, stacklevel)
        return np.sqrt(np.maximum(np.diagonal(cov, axis1=-2, axis2=-1), 0.0))

    def _term_names(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{j}" for j in range(self.n_features_in_)]
        names = [str(v) for v in names]
        return (["intercept"] if self.fit_intercept else []) + names

    def coef_table(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        offset: Any = None,
        robust: bool | str = False,
        alpha: float = 0.05,
    ) -> Any:
        """Coefficient table: estimates, standard errors, tests and confidence intervals.

        As statsmodels' ``summary``: ``z = coef / se``, the two-sided ``p_value`` and the
        ``1 - alpha`` confidence interval ``coef -/+ q se``, with ``q`` the normal quantile,
        or for ``"mse"`` with the model-based covariance the Student-t quantile with
        ``n - p`` degrees of freedom (statsmodels' OLS ``t`` and ``P>|t|``).

        Parameters
        ----------
        X, y, sample_weight, offset, robust
            As in :meth:`covariance_matrix`.
        alpha : float, default=0.05
            One minus the confidence level of the intervals (statsmodels' convention).

        Returns
        -------
        pandas.DataFrame
            Indexed by ``"intercept"`` and the feature names (``feature_names_in_``, else
            ``x0, x1, ...``); for ``"gaussian_nll"`` a MultiIndex ``(head, term)`` with heads
            ``"mean"`` and ``"log_var"``; for a 2-D y a leading ``target`` level. Columns
            ``coef``, ``se``, ``z``, ``p_value``, ``ci_lower``, ``ci_upper``.
        """
        import pandas as pd

        if not (isinstance(alpha, Real) and 0 < alpha < 1):
            raise ValueError(
                f"alpha must be in (0, 1), e.g. 0.05 for 95% intervals; got {alpha!r}."
            )
        se = np.atleast_2d(self._std_errors(X, y, sample_weight, offset, robust, stacklevel=5))
        df = self._last_df_resid
        params = self._fitted_params()
        n_params, K = self.loss_.n_params, self.n_outputs_
        terms = self._term_names()
        frames = []
        for k in range(K):
            est = []
            for j in range(n_params):
                row = j * K + k
                head = list(np.atleast_1d(params["coef"][row]))
                est += ([float(params["intercept"][row])] if self.fit_intercept else []) + head
            est = np.asarray(est, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(se[k] > 0, est / se[k], np.nan)
            if isinstance(self.loss_, MSELoss) and robust is False:
                ref = stats.t(df=max(float(df[k]), 1.0))
            else:
                ref = stats.norm()
            crit = ref.ppf(1.0 - alpha / 2.0)
            table = pd.DataFrame(
                {
                    "coef": est,
                    "se": se[k],
                    "z": z,
                    "p_value": 2.0 * ref.sf(np.abs(z)),
                    "ci_lower": est - crit * se[k],
                    "ci_upper": est + crit * se[k],
                }
            )
            if n_params == 1:
                table.index = pd.Index(terms, name="term")
            else:
                table.index = pd.MultiIndex.from_product(
                    [list(self.loss_.param_names), terms], names=["head", "term"]
                )
                # a constant head (the negative binomial's dispersion) has only its intercept
                n_terms = len(terms)
                fixed = np.zeros(len(table), dtype=bool)
                for j in getattr(self.loss_, "constant_params", ()):
                    fixed[j * n_terms + int(self.fit_intercept) : (j + 1) * n_terms] = True
                table = table[~fixed]
            frames.append(table)
        if self._y_is_1d:
            return frames[0]
        return pd.concat(frames, keys=list(range(K)), names=["target"])

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
        # a refit: drop the heads of a previous loss, then name the further heads after the
        # loss's parameters (log_var_coef_ for gaussian_nll, log_dispersion_coef_, ...)
        for attr in getattr(self, "_head_attrs", ()):
            self.__dict__.pop(attr, None)
        self._head_attrs = []
        for j in range(1, self.loss_.n_params):
            name = self.loss_.param_names[j]
            setattr(self, f"{name}_coef_", squeeze(heads[j][0]))
            intercept = squeeze(heads[j][1])
            setattr(self, f"{name}_intercept_", float(intercept) if one_target else intercept)
            self._head_attrs += [f"{name}_coef_", f"{name}_intercept_"]

    def _fitted_params(self) -> dict:
        coefs = [np.atleast_2d(self.coef_)]
        intercepts = [np.atleast_1d(self.intercept_)]
        for name in self.loss_.param_names[1:]:
            coefs.append(np.atleast_2d(getattr(self, f"{name}_coef_")))
            intercepts.append(np.atleast_1d(getattr(self, f"{name}_intercept_")))
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
    its ``alpha=a`` on ``n`` samples corresponds to sklik's ``loss="mse", alpha=2 * a / n,
    early_stopping=False``.

    By default the fit stops early on the loss of a held-out validation set and keeps the
    best parameters (scikit-learn's ``early_stopping`` interface, evaluated after every
    L-BFGS iteration). For ``"gaussian_nll"`` the target is standardised internally (the fitted
    output layer is mapped back exactly to the units of ``y``) and the log-variance head starts
    at the marginal variance of ``y``: without these a flexible mean drives the training
    residuals, and with them the learned variance, towards zero (see the user guide). The
    losses in the units of ``y`` (``"mse"``, ``"l1"``, ``"huber"``, ``"smooth_l1"``) are fitted
    to ``y`` in units of its spread, the objective (and ``alpha``'s meaning) unchanged: the
    fit does not depend on the units of ``y`` at ``alpha=0``.

    Not to be confused with :class:`sklearn.neural_network.MLPRegressor`, which supports only
    the squared error and Poisson losses.

    Parameters
    ----------
    loss : str or BaseLoss, default="mse"
        The loss: one of ``"mse"``, ``"l1"``, ``"huber"``, ``"smooth_l1"``,
        ``"gaussian_nll"``, ``"poisson_nll"``, or an instance from :mod:`sklik.losses`.
    hidden_layer_sizes : array-like of int or int, default=(100,)
        Width of each hidden layer (an int: one hidden layer), as scikit-learn's.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Hidden-layer activation.
    alpha : float or "auto", default="auto"
        L2 penalty strength (>= 0) on the weights. ``"auto"``: 0.01 for ``"gaussian_nll"``,
        1e-4 for the other losses, acting on the standardised problem where y is standardised
        (``"gaussian_nll"`` and the losses in y's units: the weights of the network fitted to
        the standardised target, so the default does not depend on y's units), on the
        documented objective for the count losses. A number is the documented objective's.
    solver : {"auto", "lbfgs"}, default="auto"
        The optimiser; ``"auto"`` is ``"lbfgs"`` (L-BFGS-B on the flat parameter vector).
    max_iter : int, default=200
        Maximum number of L-BFGS-B iterations.
    tol : float, default=1e-4
        Tolerance on the largest entry of the projected gradient (relative to its value at the
        start), and with early stopping the least improvement of the validation score that
        counts (in nats per sample for the likelihood losses).
    random_state : int, RandomState instance or None, default=None
        Seeds the Glorot-uniform initialisation of the weights and the validation split.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows (with their sample weights; split by
        ``train_test_split`` seeded with ``random_state``), evaluate the validation score after
        every L-BFGS iteration, stop once it has not improved by at least ``tol`` for more
        than ``n_iter_no_change`` iterations, and keep the parameters with the best score.
        ``"auto"``: on whenever the validation set has at least 2 rows. A stop by this rule
        is not a convergence failure (no warning).
    validation_fraction : float, default=0.1
        Fraction of the rows held out for early stopping, in (0, 1).
    n_iter_no_change : int, default=10
        Number of iterations without an improvement of at least ``tol`` tolerated before
        stopping.
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
        the count losses), with early stopping on the held-out validation rows: a network
        can nearly interpolate its training rows, whose residuals then understate those of
        new targets (at n = 100, p = 30, mean 90% coverage over 40 fits 0.64 -> 0.82 for
        ``"mse"``, 0.63 -> 0.84 for ``"huber"``); without early stopping on the training rows.
    loss_ : BaseLoss
        The resolved loss object.
    objective_ : float
        Objective value at the solution, on the training rows (for ``"gaussian_nll"``, of the
        standardised problem).
    n_iter_ : int
        Number of L-BFGS-B iterations run.
    validation_scores_ : list of float or None
        With early stopping, the validation score after each iteration: minus the weighted
        mean loss (the torch elementwise loss, in the units of ``y``) on the validation rows;
        higher is better. None without early stopping.
    best_validation_score_ : float or None
        The validation score of the kept parameters: the best of ``validation_scores_``, or
        a warm start's when no iteration beat it (the start is kept). None without early
        stopping.
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
    ...                    activation="tanh", random_state=0).fit(X, y)
    >>> mean, std = est.predict(X[:3], return_std=True)
    >>> bool(np.all(std > 0))
    True
    """

    _parameter_constraints: dict = {
        **_BaseRegressor._parameter_constraints,
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "solver": [StrOptions({"auto", "lbfgs"})],
        "random_state": ["random_state"],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        loss: str | BaseLoss = "mse",
        *,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        alpha: float | str = "auto",
        solver: str = "auto",
        max_iter: int = 200,
        tol: float = 1e-4,
        random_state: Any = None,
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
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
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.verbose = verbose

    def _make_model(self, n_features: int, n_outputs: int) -> MLPModel:
        sizes = self.hidden_layer_sizes
        if hasattr(sizes, "__iter__") and np.ndim(sizes) != 1:
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive integers; got {sizes!r}."
            )
        sizes = tuple(np.ravel(sizes)) if hasattr(sizes, "__iter__") else (sizes,)
        if not all(isinstance(h, Integral) and not isinstance(h, bool) and h > 0 for h in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive integers; got "
                f"{self.hidden_layer_sizes!r}."
            )
        loss = self.loss_  # its constant_params: column j * K + k is parameter j of target k
        constant = np.repeat(
            np.isin(np.arange(loss.n_params), loss.constant_params), n_outputs // loss.n_params
        )
        return MLPModel(
            n_features,
            n_outputs,
            hidden_layer_sizes=sizes,
            activation=self.activation,
            constant_outputs=constant,
        )

    def _choose_solver(
        self, loss: BaseLoss, n_samples: int = 0, n_coef: int = 0, n_features: int = 0
    ) -> str:
        return "lbfgs"

    def _standardise_target(self, loss: BaseLoss, shift: np.ndarray, scale: np.ndarray):
        r"""Set the map of y to the fitted target, ``(y - _y_shift) / _y_scale``; its loss.

        The MLP's start has outputs of order 1 whatever y's units, and L-BFGS is not
        equivariant in them: in y's units, y in hundredths stopped at a test RMSE of 0.90
        against 0.34 in units of 1 (the same data). So y is standardised:

        - ``gaussian_nll``, per target: the loss of :math:`(y - \mu)/\sigma` is the loss of y
          minus :math:`\log\sigma` when ``eps`` is divided by :math:`\sigma^2`; ``alpha`` acts on
          the standardised problem.
        - The losses in y's units (``mse``, ``l1``, ``huber``, ``smooth_l1``: see
          :meth:`~sklik.losses.BaseLoss.in_units`), by one scale :math:`s` for every target
          (the largest spread), with the loss's parameters in units of :math:`s`: the data
          term is the user's divided by :math:`s^d`, and the penalty's factors (see
          :meth:`_penalties`) keep the objective exactly the documented one, divided by
          :math:`s^d` (``objective_`` is reported in the user's units).
        """
        K = shift.shape[0]
        self._y_shift, self._y_scale, self._y_degree = np.zeros(K), np.ones(K), 0.0
        if isinstance(loss, GaussianNLLLoss):
            self._y_shift, self._y_scale = shift, scale
            return clone(loss).set_params(eps=loss.eps / float(np.max(scale)) ** 2)
        common = float(np.max(scale))
        units = loss.in_units(common)
        if units is None or loss.link_name != "identity":
            return loss
        self._y_shift, self._y_scale, self._y_degree = shift, np.full(K, common), units[1]
        self._y_spreads = scale  # (per target: the start's output weights, see _cold_start)
        if K > 1 and common > _TARGET_SPREAD_RATIO * float(np.min(scale)):
            warnings.warn(
                f"{type(self).__name__}: the targets' spreads differ by a factor of "
                f"{common / float(np.min(scale)):.3g}: the {loss.name} objective is a mean "
                f"over the targets in their own units, so the smaller ones barely count and "
                f"may be fitted worse than by a constant (R^2 -0.95 at a factor of 1000). "
                f"Standardise y (e.g. TransformedTargetRegressor(regressor, "
                f"transformer=StandardScaler())) or fit the targets separately.",
                UserWarning,
                stacklevel=5,
            )
        return units[0]

    def _training_problem(self, X, Y, sw, off, loss):
        # the fitted output layer is mapped back exactly in _to_user_units. The moments are
        # those of what the network fits, y less an identity-link offset (with the offset's
        # spread in the scale, an offset of spread 500 left gaussian_nll's network nothing
        # to fit: a test RMSE of 0.8 against the signal, stds of 0.85 for noise of 0.3)
        T = Y if off is None or loss.link_name != "identity" else Y - off
        c = sw / sw.sum()
        shift = c @ T
        top = np.array([magnitude(column) for column in T.T])
        scale = top * np.sqrt(c @ ((T - shift) / top) ** 2)  # no overflow in the squares
        scale[~(np.isfinite(scale) & (scale > 0))] = 1.0
        fit_loss = self._standardise_target(loss, shift, scale)
        Y = (Y - self._y_shift) / self._y_scale
        if off is not None:
            off = off / self._y_scale
        self.validation_scores_ = None
        self.best_validation_score_ = None
        X = self._prediction_input(X)  # the MLP works on dense rows
        if not self._early_stopping(X.shape[0]):
            return X, Y, sw, off, fit_loss, None
        rng = check_random_state(self.random_state)
        train, val = train_test_split(
            np.arange(X.shape[0]), test_size=self.validation_fraction, random_state=rng
        )
        if val.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small ({val.shape[0]} row(s) of {X.shape[0]}): "
                f"increase validation_fraction (now {self.validation_fraction}) or use more "
                f"rows, or set early_stopping=False."
            )
        pick = (lambda a: None) if off is None else (lambda a: off[a])
        monitor = _EarlyStopping(
            fit_loss,
            X[val],
            Y[val],
            sw[val],
            pick(val),
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            # the validation score in the user's units: gaussian_nll's is shifted by
            # log sigma, the losses in y's units are scaled by s^d
            shift=float(np.mean(np.log(self._y_scale))) if self._y_degree == 0 else 0.0,
            factor=self._objective_factor,
        )
        return X[train], Y[train], sw[train], pick(train), fit_loss, monitor

    def _residual_scale(self, data, loss, raw, owner, model, theta, monitor) -> np.ndarray:
        """Per target, the ML scale of the residual density: on the validation rows if any.

        A network fitted to its training rows can come close to interpolating them, and the
        scale of its training residuals is then far below that of new targets (at n = 100,
        p = 30: 0.0087 against a held-out RMSE of 1.48, 90% intervals covering 0% of new
        targets; over 40 fits, mean coverage 0.64 for mse). The held-out validation rows of
        early stopping give the scale of residuals the fit has not seen.
        """
        # the fitted target is y in units of _y_scale: the residuals' scale in those units
        # times _y_scale. The density's shape is the user's loss (delta and beta act on the
        # residual in units of the scale, e^{-l(r / sigma)}, whatever y's units), not the
        # fitted loss's (whose delta / s is the objective's; with it huber's scale_ stayed
        # 0.34 for y, 10 y and 100 y)
        self._validation_df = None
        # a perfect fit's scale is 1e-12 of y's magnitude in the user's units (the shift took
        # it from the fitted target: a constant y of 3 got 1.8e-27, and a target one ulp off
        # the fit a log-likelihood of -2.5e24)
        floor = _PERFECT_FIT * (np.abs(self._y_shift) + self._y_scale * data.y_top)
        if monitor is None:
            scale = super()._residual_scale(data, loss, raw, owner, model, theta, monitor)
            return np.maximum(scale * self._y_scale, floor)
        c = monitor.w[:, 0] / monitor.w[:, 0].sum()
        self._validation_df = 1.0 / float(c @ c)  # (Kish's effective number of rows)
        out, _ = model.forward(theta, monitor.X, need_cache=False)
        K = monitor.Y.shape[1]
        if monitor.off is not None:
            out[:, :K] += monitor.off
        raw_val = out.reshape(out.shape[0], -1, K).transpose(1, 0, 2)
        held_out = ArrayData(monitor.X, monitor.Y, monitor.w[:, 0], monitor.off)
        return np.maximum(held_out.residual_scale(loss, raw_val, owner) * self._y_scale, floor)

    def _fit_inference(self, data, design, model, x_mean, x_scale, theta, raw) -> None:
        """For ``mse`` with a validation scale: its rows' degrees of freedom (else plug-in).

        The mean squared residual of ``m`` held-out rows estimates the variance of a new
        target around the network's prediction (noise and the fit's error together) with
        ``m`` degrees of freedom, so the predictive distribution is the Student t with ``m``
        (Kish's effective number with weights; at least 3) degrees of freedom and that scale:
        the Normal at the estimated scale covered 0.65 of new targets at n = 25 (3 rows) and
        0.80 at n = 100 (10 rows) with 90% intervals.
        """
        df = getattr(self, "_validation_df", None)
        use_t = df is not None and isinstance(self.loss_, MSELoss)
        self._predictive_ = {"df": max(df, _inference.MIN_DF)} if use_t else None

    def _predictive_distribution(self, X: Any, raw: np.ndarray, state: dict) -> Any:
        # exp(-(r / sigma)^2): a normal of standard deviation sigma / sqrt(2), here with the
        # validation rows' degrees of freedom (see _fit_inference)
        scale = np.asarray(self.scale_, dtype=np.float64) / math.sqrt(2.0)
        return stats.t(df=state["df"], loc=raw[0], scale=scale)

    def _dask_training_problem(self, y: Any, sample_weight: Any, offset: Any, loss: BaseLoss):
        # on dask input: every row is fitted (no validation split); gaussian_nll's y is
        # standardised as in memory, from its moments (one pass over y alone)
        if self.early_stopping is True:
            raise ValueError(
                "MLPRegressor: early_stopping=True needs a validation split of the rows, "
                "which is not available on dask input; set early_stopping=False (or 'auto', "
                "off on dask input)."
            )
        self.validation_scores_ = self.best_validation_score_ = None
        K = 1 if len(y.shape) == 1 else y.shape[1]
        self._y_shift, self._y_scale, self._y_degree = np.zeros(K), np.ones(K), 0.0
        if not isinstance(loss, GaussianNLLLoss) and (
            loss.link_name != "identity" or loss.in_units(1.0) is None
        ):
            return y, offset, loss
        from sklik import _dask

        # (one pass over y alone, less the offset: see _training_problem)
        target = y
        if offset is not None:
            off = offset[:, np.newaxis] if len(offset.shape) == 1 and len(y.shape) == 2 else offset
            target = y - off
        fit_loss = self._standardise_target(loss, *_dask.target_moments(target, sample_weight))
        shift, scale = self._y_shift, self._y_scale
        if len(y.shape) == 1:
            shift, scale = shift[0], scale[0]
        y = (y - shift) / scale
        if offset is not None:
            offset = offset / scale
        return y, offset, fit_loss

    def _cold_start(self, model, loss, out_init):
        theta = super()._cold_start(model, loss, out_init)
        if getattr(self, "_y_degree", 0.0) and self._y_scale.shape[0] > 1:
            K = self._y_scale.shape[0]
            # targets fitted in units of the largest target's spread: each target's output
            # weights start in units of its own spread (Glorot's draw times spread / s), so
            # that its random start is of its size (a target 1000 times smaller started 1000
            # of its spreads off and ended far worse than a constant, R^2 -1832)
            start, stop, shape = model._w_index[-1]
            weights = theta[start:stop].reshape(shape)
            weights[:, :K] *= self._y_spreads / self._y_scale
        if loss.n_params == 2 and not model.constant_outputs.any():
            # the log-variance heads start with zero output weights: the network starts at the
            # best constant variance (the marginal variance of y), whatever the random
            # hidden layer, so the variance moves away from it only as far as the data ask.
            # (The negative binomial's dispersion heads are constant outputs: no weights in
            # theta, whose last layer holds the mean heads' alone.)
            start, stop, shape = model._w_index[-1]
            theta[start:stop].reshape(shape)[:, shape[1] // 2 :] = 0.0
        return theta

    def _y_magnitude(self, data: Any) -> float:
        # (the fitted target is (y - _y_shift) / _y_scale: at most this in the user's units)
        return float(np.max(data.y_top * self._y_scale + np.abs(self._y_shift)))

    @property
    def _objective_factor(self) -> float:
        degree = getattr(self, "_y_degree", 0.0)
        with np.errstate(over="ignore"):  # (inf: the objective overflows, refused by fit)
            return float(np.float64(self._y_scale[0]) ** degree) if degree else 1.0

    def _penalties(self, model, x_scale, loss, weight_total):
        # y in units of s: the data term is the user's over s^d, and the output layer's
        # weights are the user's over s, so alpha/2 ||W||^2 over s^d is alpha/2 s^-d ||W||^2
        # on the hidden layers and alpha/2 s^(2-d) ||W_L||^2 on the output layer
        alpha = self._effective_alpha(loss)
        degree = getattr(self, "_y_degree", 0.0)
        if not degree or self.alpha == "auto":
            # ("auto" acts on the standardised problem, as gaussian_nll's: with 1e-4 on the
            # documented objective, y in millionths or l1 on y in millions was fitted by a
            # near-constant network, R^2 0.0)
            return alpha, None, None
        s = np.float64(self._y_scale[0])
        with np.errstate(under="ignore"):
            factors = np.full(model.n_weights, s**-degree)
        start, stop, _ = model._w_index[-1]  # (no constant outputs: the full layout)
        factors[start:stop] = s ** (2.0 - degree)
        return alpha, factors, None

    def _effective_alpha(self, loss: BaseLoss) -> float:
        if self.alpha == "auto":
            return _AUTO_ALPHA_GAUSSIAN if loss.n_params > 1 else _AUTO_ALPHA
        return self.alpha

    def _early_stopping(self, n_samples: int) -> bool:
        if self.early_stopping == "auto":  # on whenever a validation set of 2 rows exists
            return math.ceil(self.validation_fraction * n_samples) >= 2
        return bool(self.early_stopping)

    def _to_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        return self._rescale_output(params, self._y_shift, self._y_scale)

    def _from_user_units(self, params: dict, x_mean: np.ndarray, x_scale: np.ndarray) -> dict:
        return self._rescale_output(params, -self._y_shift / self._y_scale, 1.0 / self._y_scale)

    def _rescale_output(self, params: dict, shift: np.ndarray, scale: np.ndarray) -> dict:
        """Map the output layer to the target ``shift + scale * y`` (identity link heads).

        The mean heads become ``scale * mean + shift`` and the log-variance heads (if any)
        ``log_var + 2 log scale``.
        """
        if np.all(shift == 0) and np.all(scale == 1):
            return params
        coefs = [np.array(c) for c in params["coefs"]]
        intercepts = [np.array(b) for b in params["intercepts"]]
        K = shift.shape[0]
        coefs[-1][:, :K] *= scale
        intercepts[-1][:K] = intercepts[-1][:K] * scale + shift
        if intercepts[-1].shape[0] > K:
            intercepts[-1][K : 2 * K] += 2.0 * np.log(scale)
        return {"coefs": coefs, "intercepts": intercepts}

    def _prediction_input(self, X: Any) -> Any:
        return X.toarray() if sp.issparse(X) else X

    def _finish_fit(self, X: Any, sample_weight: Any) -> None:
        # the smallest log variance the variance heads predict on the training inputs (of
        # positive weight: two rows of weight 0 at x = +-30 moved it from -4.5 to -92): away
        # from them the network may extrapolate its log variance to -1e3 (a star98 row 30
        # standard deviations out got a std of 1.6% of y's and a log density of -1201), and
        # the predicted variance is floored there, never more confident than on its data
        self._log_var_floor_ = None
        if self.loss_.n_params == 2:
            if _is_dask(X):
                from sklik import _dask

                # (the second head's raw output: gaussian_nll's log variance, the negative
                # binomial's log dispersion; 2 log of the noise std was the former's only)
                self._log_var_floor_ = _dask.smallest_raw(self, X, sample_weight, head=1)
            else:
                with np.errstate(over="ignore", invalid="ignore"):  # (rows of weight 0)
                    log_var = self._raw(X)[1]
                if sample_weight is not None:
                    keep = positive_rows(check_sample_weight(sample_weight, log_var.shape[0]))
                    log_var = log_var if keep is None else log_var[keep]
                self._log_var_floor_ = np.min(log_var, axis=0)

    def _raw(self, X: Any, offset: Any = None) -> np.ndarray:
        raw = super()._raw(X, offset)
        floor = getattr(self, "_log_var_floor_", None)
        if floor is not None:
            raw[1] = np.maximum(raw[1], floor)
        return raw

    def _set_fitted_params(self, params: dict, one_target: bool) -> None:
        self.coefs_ = [np.array(c) for c in params["coefs"]]
        self.intercepts_ = [np.array(b) for b in params["intercepts"]]

    def _fitted_params(self) -> dict:
        return {"coefs": self.coefs_, "intercepts": self.intercepts_}


class _EarlyStopping:
    """Validation-loss monitor for :class:`MLPRegressor` (``early_stopping=True``).

    Called with the parameters after every solver iteration: records the validation score
    (minus the weighted mean loss on the held-out rows, plus ``-shift`` to express it in the
    units of y), keeps the best parameters, and raises ``StopIteration`` once the score has not
    improved by at least ``tol`` for more than ``n_iter_no_change`` consecutive iterations
    (scikit-learn's rule). ``factor``: the validation loss is the fitted target's, in the
    user's units once multiplied by it (:meth:`MLPRegressor._standardise_target`); ``tol``
    counts in the fitted target's units.
    """

    def __init__(self, loss, X, Y, sw, off, *, tol, n_iter_no_change, shift, factor=1.0):
        self.loss, self.X, self.Y, self.off = loss, X, Y, off
        self.w = (sw / sw.sum() / Y.shape[1])[:, np.newaxis]
        self.tol, self.n_iter_no_change, self.shift = tol, n_iter_no_change, shift
        self.factor = factor

    def bind(self, model: Any, warm: np.ndarray | None = None) -> _EarlyStopping:
        """Start monitoring ``model``'s fit; ``warm``: a warm start, itself a candidate.

        A warm start counts as the best so far (not as a score of an iteration), so that it
        is not replaced by parameters that score worse (repeated warm-started fits drifted
        to worse validation scores: -0.16675, -0.16779, -0.16928).
        """
        self.model = model
        self.scores: list[float] = []
        self.best, self.best_theta, self.count = -np.inf, None, 0
        if warm is not None:
            self.best, self.best_theta = self.score(warm), warm.copy()
        return self

    def score(self, theta: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out, _ = self.model.forward(theta, self.X, need_cache=False)
            K = self.Y.shape[1]
            if self.off is not None:
                out[:, :K] += self.off
            raw = out.reshape(out.shape[0], -1, K).transpose(1, 0, 2)
            value = -(self.factor * float(np.sum(self.w * self.loss.raw_loss(self.Y, raw))))
            value -= self.shift
        return value if math.isfinite(value) else -math.inf

    def __call__(self, theta: np.ndarray) -> None:
        value = self.score(theta)
        self.scores.append(value)
        self.count = self.count + 1 if value < self.best + self.tol * self.factor else 0
        if value > self.best:
            self.best, self.best_theta = value, theta.copy()
        if self.count > self.n_iter_no_change:
            raise StopIteration

    def finish(self, estimator: Any, theta: np.ndarray) -> np.ndarray:
        """Set ``validation_scores_``/``best_validation_score_``; return the best parameters."""
        if self.best_theta is None or np.array_equal(theta, self.best_theta):
            best = theta
            if not self.scores:  # the solver stopped before its first iteration
                self.scores.append(self.score(theta))
                self.best = self.scores[-1]
        else:
            best = self.best_theta
        estimator.validation_scores_ = list(self.scores)
        estimator.best_validation_score_ = float(self.best)
        return best
