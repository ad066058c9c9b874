"""sklik: scikit-learn-compatible probabilistic regression with PyTorch's regression losses."""

from sklik import losses
from sklik.losses import get_loss

__version__ = "0.1.0.dev0"

__all__ = ["losses", "get_loss", "__version__"]
