"""sklik: scikit-learn-compatible probabilistic regression with PyTorch's regression losses.

- :mod:`sklik.losses`: PyTorch's six regression losses, exact, in NumPy.
- :class:`LinearRegressor` and :class:`MLPRegressor`: scikit-learn estimators fitted to any of
  them with ``scipy.optimize``.
"""

from sklik import losses
from sklik._estimators import LinearRegressor, MLPRegressor
from sklik.losses import get_loss

__version__ = "0.1.0.dev0"

__all__ = ["LinearRegressor", "MLPRegressor", "get_loss", "losses", "__version__"]
