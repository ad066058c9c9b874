r"""scikit-learn estimators that fit a linear model or an MLP to any of sklik's losses.

Both estimators minimise the same objective (see :mod:`sklik._objective`)

.. math::

    J(\theta) = \frac{\sum_i s_i \, \bar\ell_i}{\sum_i s_i} + \frac{\alpha}{2} \lVert W \rVert^2

with :math:`\bar\ell_i` the torch elementwise loss of sample :math:`i` averaged over targets,
:math:`s_i` the sample weights and :math:`W` all weights but intercepts and biases.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from sklik import _solver
from sklik._models import ACTIVATIONS, LinearModel, MLPModel
from sklik._objective import Objective
from sklik._validation import Interval, StrOptions, _fit_context, check_sample_weight
from sklik.losses import LOSSES, BaseLoss, L1Loss, MSELoss, SmoothL1Loss, get_loss

_LOSS_CONSTRAINT = [StrOptions(set(LOSSES)), BaseLoss]


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
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BaseRegressor:
        """Fit the model by minimising the penalised weighted mean loss.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets; must lie in the loss's domain (``y >= 0`` for ``"poisson_nll"``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative, finite weights ``s_i`` of the objective; None gives equal weights.

        Returns
        -------
        self
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        y = np.asarray(y, dtype=np.float64)
        one_target = y.ndim == 1
        Y = y.reshape(y.shape[0], -1)
        sw = check_sample_weight(sample_weight, X.shape[0])
        loss = get_loss(self.loss)
        loss.check_y(Y)
        self.loss_ = loss

        model = self._make_model(X.shape[1], loss.n_params * Y.shape[1])
        objective = Objective(model, loss, X, Y, sw, self.alpha)
        solver = self._choose_solver(loss)
        if solver in ("lstsq", "highs"):
            if solver == "lstsq":
                coef, intercept = _solver.least_squares(X, Y, sw, self.alpha, self.fit_intercept)
            else:
                coef, intercept = _solver.least_absolute_deviations(X, Y, sw, self.fit_intercept)
            theta = model.pack({"coef": coef, "intercept": intercept})
            n_iter = 1
        else:
            theta0 = self._initial_theta(model, loss, Y, sw)
            value0, grad0 = objective(theta0)
            if not (np.isfinite(value0) and np.all(np.isfinite(grad0))):
                raise ValueError(
                    f"{type(self).__name__}: the objective is not finite at the starting point "
                    f"(the loss overflows). Standardise X (e.g. with StandardScaler) or rescale y."
                )
            result = _solver.minimize(
                objective,
                theta0,
                method=solver,
                max_iter=self.max_iter,
                tol=self.tol,
                verbose=self.verbose,
                owner=type(self).__name__,
            )
            theta, n_iter = result.theta, result.n_iter
        if not np.all(np.isfinite(theta)):
            raise ValueError(
                f"{type(self).__name__}: the fit diverged to non-finite parameters. Standardise "
                f"X, rescale y or increase alpha."
            )
        self.n_iter_ = n_iter
        self.n_outputs_ = Y.shape[1]
        self._y_is_1d = one_target
        out, _ = model.forward(theta, X, need_cache=False)
        self.objective_ = objective.value(theta, out=out)
        self._set_fitted_params(model.unpack(theta), one_target)
        self.scale_ = None
        if loss.needs_scale:  # ML scale of the residual density, per target
            scale = np.array([loss.fit_scale(Y[:, k] - out[:, k], sw) for k in range(Y.shape[1])])
            self.scale_ = float(scale[0]) if one_target else scale
        return self

    def _initial_theta(self, model: Any, loss: BaseLoss, Y: np.ndarray, sw: np.ndarray):
        if self.warm_start and hasattr(self, "n_iter_"):
            try:
                return model.pack(self._fitted_params())
            except (ValueError, AttributeError):  # the shapes or the loss changed: start afresh
                pass
        out_init = loss.init_raw(Y, sw).ravel()
        return model.init_params(check_random_state(getattr(self, "random_state", None)), out_init)

    def _fitted_model(self) -> Any:
        return self._make_model(self.n_features_in_, self.loss_.n_params * self.n_outputs_)

    def _raw(self, X: Any) -> np.ndarray:
        """Raw outputs of shape ``(n_params, n_samples, n_targets)``.

        The target axis is dropped when ``y`` was 1-D.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        model = self._fitted_model()
        out, _ = model.forward(model.pack(self._fitted_params()), X, need_cache=False)
        raw = out.reshape(X.shape[0], self.loss_.n_params, -1).transpose(1, 0, 2)
        return raw[..., 0] if self._y_is_1d else raw

    def predict_dist(self, X: Any) -> Any:
        """Predictive distribution of y given each row of X, as a frozen scipy distribution.

        The distribution is the one whose negative log-density is the loss (see the user
        guide): Normal for ``"mse"`` and ``"gaussian_nll"`` (with the learned variance),
        Laplace for ``"l1"`` (and ``"smooth_l1"`` with ``beta=0``), Poisson for
        ``"poisson_nll"``, and :data:`sklik.distributions.huber` (Gaussian core, Laplace
        tails) for ``"huber"`` and ``"smooth_l1"``. Constant scales are the maximum-likelihood
        estimates from the training residuals (``scale_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scipy.stats frozen distribution
            Vectorised over the rows of X (shape ``(n_samples,)``, or ``(n_samples,
            n_targets)`` for a 2-D y): ``mean``, ``std``, ``pdf``/``pmf``,
            ``logpdf``/``logpmf``, ``cdf``, ``ppf``, ``interval``, ``rvs``.
        """
        return self.loss_.predictive_distribution(self._raw(X), self.scale_)

    def log_likelihood(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        r"""Log-likelihood of ``y`` under the predictive distribution, on the density scale.

        :math:`\log L = \sum_i s_i \sum_k \log p(y_{ik} \mid x_i)` with the density (the
        probability mass for ``"poisson_nll"``) of :meth:`predict_dist`; the full density,
        including the constants that the torch losses omit (``log 2``, ``log y!``,
        ``0.5 log 2 pi``, the Huber normaliser), so that models fitted with different losses can
        be compared. Weights act as frequency weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights :math:`s_i`; None means 1.

        Returns
        -------
        float
            The (weighted) total log-likelihood.
        """
        dist = self.predict_dist(X)
        y = np.asarray(y, dtype=np.float64)
        logp = dist.logpmf(y) if hasattr(dist, "logpmf") else dist.logpdf(y)
        logp = logp.reshape(logp.shape[0], -1).sum(axis=1)
        sw = check_sample_weight(sample_weight, logp.shape[0])
        return float(sw @ logp)

    def n_parameters(self) -> int:
        """Number of estimated parameters.

        All coefficients and biases, plus one scale per target for the constant-scale losses
        (``scale_``).
        """
        check_is_fitted(self)
        n_scales = self.n_outputs_ if self.loss_.needs_scale else 0
        return int(self._fitted_model().n_coef) + n_scales

    def aic(self, X: Any, y: Any) -> float:
        r"""Akaike information criterion :math:`2k - 2\log L` on (X, y).

        ``k`` is :meth:`n_parameters` (the estimated scale counts), ``log L`` is
        :meth:`log_likelihood`. Lower is better.
        """
        return 2.0 * self.n_parameters() - 2.0 * self.log_likelihood(X, y)

    def bic(self, X: Any, y: Any) -> float:
        r"""Bayesian information criterion :math:`k \log n - 2\log L` on (X, y).

        ``n`` is the number of samples in X; see :meth:`aic`. Lower is better.
        """
        n = np.shape(X)[0]
        return math.log(n) * self.n_parameters() - 2.0 * self.log_likelihood(X, y)

    def predict(
        self, X: Any, return_std: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predict the mean (the median for ``"l1"``) and, optionally, its spread.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        return_std : bool, default=False
            Also return the standard deviation of the predictive distribution: the learned
            standard deviation for ``"gaussian_nll"``, ``sqrt(rate)`` for ``"poisson_nll"``,
            and otherwise that of the loss's own residual density (Normal for ``"mse"``,
            Laplace for ``"l1"``, the Gaussian-core/Laplace-tail density for ``"huber"`` and
            ``"smooth_l1"``) with the scale fitted by maximum likelihood to the training
            residuals (``scale_``).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions on the response scale (the rate for ``"poisson_nll"``).
        y_std : ndarray of the same shape
            Only with ``return_std=True``.
        """
        raw = self._raw(X)
        mean = self.loss_.inverse_link(raw)
        if return_std:
            std = self.loss_.predictive_distribution(raw, self.scale_).std()
            return mean, np.broadcast_to(std, mean.shape).copy()
        return mean


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
        # the loss's constant_params: column j * K + k is parameter j of target k
        loss = self.loss_
        constant = np.repeat(
            np.isin(np.arange(loss.n_params), loss.constant_params), n_outputs // loss.n_params
        )
        if constant.any() and not self.fit_intercept:
            raise ValueError(
                f"{loss!r} models its {[loss.param_names[j] for j in loss.constant_params]} as "
                f"a constant, an intercept alone, which needs fit_intercept=True."
            )
        return LinearModel(
            n_features, n_outputs, fit_intercept=self.fit_intercept, constant_outputs=constant
        )

    def _choose_solver(self, loss: BaseLoss) -> str:
        has_hessian = loss.n_params == 1 and loss.convex and loss.differentiable
        if self.solver == "auto":
            if isinstance(loss, MSELoss):
                return "lstsq"
            if _is_absolute_error(loss) and self.alpha == 0:
                return "highs"
            return "newton" if has_hessian else "lbfgs"
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

    def _choose_solver(self, loss: BaseLoss) -> str:
        return "lbfgs"

    def _set_fitted_params(self, params: dict, one_target: bool) -> None:
        self.coefs_ = [np.array(c) for c in params["coefs"]]
        self.intercepts_ = [np.array(b) for b in params["intercepts"]]

    def _fitted_params(self) -> dict:
        return {"coefs": self.coefs_, "intercepts": self.intercepts_}
