"""Loss instances every registry-driven test runs over: each registered loss at its defaults,
plus parameter variants. A loss added to ``sklik.losses.LOSSES`` is covered automatically."""

import numpy as np

from sklik.losses import (
    LOSSES,
    GaussianNLLLoss,
    HuberLoss,
    NegativeBinomialNLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
)

LOSS_INSTANCES = [cls() for cls in LOSSES.values()] + [
    HuberLoss(delta=0.3),
    HuberLoss(delta=2.5),
    SmoothL1Loss(beta=0.5),
    SmoothL1Loss(beta=0.0),
    GaussianNLLLoss(full=True),
    GaussianNLLLoss(eps=1e-3),
    PoissonNLLLoss(full=True),
    PoissonNLLLoss(log_input=False),
    NegativeBinomialNLLLoss(dispersion="linear"),
]


def loss_id(loss) -> str:
    return repr(loss).replace(" ", "")


def targets_for(loss, shape, rng) -> np.ndarray:
    """Targets inside the loss's domain: counts for Poisson, reals otherwise."""
    if loss.y_domain[0] >= 0:
        return rng.poisson(3.0, size=shape).astype(float)
    return rng.normal(size=shape) * 2.0
