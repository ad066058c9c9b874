"""Input validation, and the only module that imports private scikit-learn helpers.

scikit-learn's own estimators validate their hyper-parameters declaratively with
``_parameter_constraints`` checked by the ``_fit_context`` decorator; sklik does the same so that
its errors read exactly like scikit-learn's. sklik's distribution scorers subclass
``_BaseScorer``, which gives them scikit-learn's metadata routing (``set_score_request``),
``sample_weight`` forwarding and repr. Those pieces live in private scikit-learn modules (stable
since 1.4 and used the same way by scikit-learn-contrib projects), so they are imported here and
nowhere else.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import _fit_context  # noqa: F401  (re-exported)
from sklearn.metrics._scorer import _BaseScorer  # noqa: F401  (re-exported)
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions  # noqa: F401  (re-exported)

__all__ = [
    "Interval",
    "StrOptions",
    "_BaseScorer",
    "_fit_context",
    "check_offset",
    "check_sample_weight",
]


def check_sample_weight(sample_weight: object, n_samples: int) -> np.ndarray:
    """Validate sample weights: finite, non-negative, shape (n_samples,), not all zero.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), float or None
        None means equal weights; a number is used for every sample.
    n_samples : int
        Number of samples in X.

    Returns
    -------
    ndarray of shape (n_samples,)
        A new float64 array (never the caller's).

    Raises
    ------
    ValueError
        For NaN/inf, negative values, a wrong shape, or all-zero weights.
    """
    if sample_weight is None:
        return np.ones(n_samples)
    if hasattr(sample_weight, "compute") and hasattr(sample_weight, "chunks"):
        sample_weight = sample_weight.compute()  # a dask array: one vector, gathered
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    sw = check_array(
        sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight", copy=True
    )
    if sw.ndim != 1 or sw.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {sw.shape}, expected {(n_samples,)}: pass one weight per "
            f"sample."
        )
    if np.any(sw < 0):
        raise ValueError("Negative values in data passed to sample_weight: weights must be >= 0.")
    if not np.any(sw > 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    with np.errstate(over="ignore"):
        total = sw.sum()
    if not np.isfinite(total):
        raise ValueError(
            f"The sample weights sum to {total} (largest weight {sw.max():.3g}): divide them by "
            f"a common factor so that their sum is a finite number."
        )
    return sw


def check_offset(offset: object, shape: tuple[int, int]) -> np.ndarray | None:
    """Validate an offset: finite, one value per sample (and target).

    Parameters
    ----------
    offset : array-like of shape (n_samples,) or (n_samples, n_targets), or None
        A fixed term added to the mean head's raw output; a scalar is used for every sample.
    shape : tuple of int
        ``(n_samples, n_targets)``.

    Returns
    -------
    ndarray of shape (n_samples, n_targets) or None
        A new float64 array (None if ``offset`` is None).

    Raises
    ------
    ValueError
        For NaN/inf values or a shape that is not one value per sample (and target).
    """
    if offset is None:
        return None
    n, k = shape
    if isinstance(offset, numbers.Number):
        offset = np.full(n, offset, dtype=np.float64)
    off = check_array(offset, ensure_2d=False, dtype=np.float64, input_name="offset", copy=True)
    if off.ndim == 1:
        off = off[:, np.newaxis]
    if off.ndim != 2 or off.shape[0] != n or off.shape[1] not in (1, k):
        raise ValueError(
            f"offset.shape == {np.shape(offset)}, expected ({n},) or ({n}, {k}): pass one "
            f"offset per sample (e.g. np.log(exposure))."
        )
    return np.ascontiguousarray(np.broadcast_to(off, (n, k)))
