"""sklik: scikit-learn-compatible probabilistic regression with PyTorch's regression losses.

- :mod:`sklik.losses`: PyTorch's six regression losses, exact, in NumPy.
- :class:`LinearRegressor` and :class:`MLPRegressor`: scikit-learn estimators fitted to any of
  them with ``scipy.optimize``, with predictive distributions (``predict_dist``) and
  likelihoods (``log_likelihood``, ``aic``, ``bic``).
- :mod:`sklik.metrics`: loss metrics, proper scoring rules and scorers for model selection.
- :mod:`sklik.distributions`: the Huber density and closed-form CRPS.
"""

from sklik import distributions, losses, metrics
from sklik._estimators import LinearRegressor, MLPRegressor, OverdispersionWarning
from sklik.losses import get_loss

__version__ = "0.1.0.dev0"

__all__ = [
    "LinearRegressor",
    "MLPRegressor",
    "OverdispersionWarning",
    "distributions",
    "get_loss",
    "losses",
    "metrics",
    "__version__",
]
