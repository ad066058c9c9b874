"""scikit-learn's estimator checks on every estimator x every registered loss."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklik import LinearRegressor, MLPRegressor
from sklik.losses import LOSSES

# The checks fit the MLPs with max_iter=100 on data they cannot always fit that fast; the
# resulting ConvergenceWarnings are expected and say nothing about the API being checked.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# A small network keeps the ~60 checks per MLP instance fast; the checks only exercise the API.
ESTIMATORS = [LinearRegressor(loss) for loss in LOSSES] + [
    MLPRegressor(loss, hidden_layer_sizes=(5,), max_iter=100) for loss in LOSSES
]

_MULTIOUTPUT_NEGATIVE_Y = (
    "check_regressor_multioutput fits make_regression targets without applying the "
    "positive_only tag (unlike the other regressor checks), and counts (Poisson, negative "
    "binomial) cannot be negative: sklik rejects them with a ValueError by design."
)
_MLP_WEIGHT_EQUIVALENCE = (
    "L-BFGS on a non-convex MLP objective: the weighted and the repeated-rows fits start from "
    "the same point but take different iterates (the objectives agree only up to rounding) and "
    "stop at different local solutions. sklearn's own MLPRegressor passes only because it stops "
    "early (see the scikit-learn notes on this check)."
)


_WEIGHT_CHECKS = (
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
)


def expected_failed_checks(estimator) -> dict[str, str]:
    failures = {}
    if LOSSES[estimator.loss].y_domain[0] >= 0:  # the count losses
        failures["check_regressor_multioutput"] = _MULTIOUTPUT_NEGATIVE_Y
    # early stopping (on by default) holds out different rows of the weighted and the
    # repeated-rows data, and L-BFGS may stop at different local solutions
    if isinstance(estimator, MLPRegressor):
        failures.update(dict.fromkeys(_WEIGHT_CHECKS, _MLP_WEIGHT_EQUIVALENCE))
    return failures


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=expected_failed_checks, xfail_strict=True
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
