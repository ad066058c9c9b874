"""The assembled objective's exact gradient (and Hessian products) against finite differences,
for every loss instance x every model x every activation, generated from the registries."""

import numpy as np
import pytest
from loss_cases import LOSS_INSTANCES, loss_id, targets_for
from numpy.testing import assert_allclose

from sklik._models import ACTIVATIONS, MODELS
from sklik._objective import Objective
from sklik.losses import HuberLoss

MODEL_CASES = [("linear", {"fit_intercept": True}), ("linear", {"fit_intercept": False})] + [
    ("mlp", {"hidden_layer_sizes": (4, 3), "activation": name}) for name in ACTIVATIONS
]


def _model_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def _problem(loss, model_case, n_targets, seed=0):
    rng = np.random.default_rng(seed)
    n, p = 23, 3
    X = rng.normal(size=(n, p))
    y = targets_for(loss, (n, n_targets), rng)
    sw = rng.uniform(0.2, 2.0, size=n)
    name, kwargs = model_case
    model = MODELS[name](p, loss.n_params * n_targets, **kwargs)
    objective = Objective(model, loss, X, y, sw, alpha=0.3)
    theta = model.init_params(seed, loss.init_raw(y, sw).ravel())
    theta = theta + rng.normal(scale=0.3, size=theta.shape)
    return objective, theta, sw


def _fd_gradient(f, theta, h=1e-6):
    grad = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        grad[i] = (f(theta - 2 * e) - 8 * f(theta - e) + 8 * f(theta + e) - f(theta + 2 * e)) / (
            12 * h
        )
    return grad


@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("model_case", MODEL_CASES, ids=_model_id)
@pytest.mark.parametrize("loss", LOSS_INSTANCES, ids=loss_id)
def test_objective_gradient_matches_finite_differences(loss, model_case, n_targets):
    objective, theta, _ = _problem(loss, model_case, n_targets)
    value, grad = objective(theta)
    assert value == pytest.approx(objective.value(theta), rel=1e-14)
    fd = _fd_gradient(objective.value, theta)
    # non-smooth losses (L1) have kinks only at exact zero residuals, away from these points
    assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "loss",
    [loss for loss in LOSS_INSTANCES if loss.n_params == 1 and loss.convex and loss.differentiable],
    ids=loss_id,
)
def test_linear_hessian_product_matches_finite_differences(loss):
    objective, theta, _ = _problem(loss, ("linear", {"fit_intercept": True}), 2)
    v = np.random.default_rng(1).normal(size=theta.shape)
    h = 1e-6
    fd = (objective(theta + h * v)[1] - objective(theta - h * v)[1]) / (2 * h)
    assert_allclose(objective.hessp(theta, v), fd, rtol=1e-5, atol=1e-7)


EXACT_HESSIAN = [loss for loss in LOSS_INSTANCES if loss.second_order and not loss.fisher]
HESSIAN_CASES = [
    pytest.param(loss, fit_intercept, constant, id=f"{loss_id(loss)}-{name}")
    for loss in EXACT_HESSIAN
    for fit_intercept, constant, name in [
        (True, False, "intercept"),
        (False, False, "no_intercept"),
        (True, True, "constant_params"),
    ]
    if not constant or loss.constant_params
]


@pytest.mark.parametrize(("loss", "fit_intercept", "constant"), HESSIAN_CASES)
def test_linear_hessian_matches_finite_differences(loss, fit_intercept, constant):
    """The explicit Hessian Newton's method factorises (per-output curvatures, or the exact
    per-sample blocks of a multi-parameter loss such as the negative binomial, whose constant
    dispersion couples to the mean head's weights) against differences of the gradient."""
    objective, theta, sw = _problem(loss, ("linear", {"fit_intercept": fit_intercept}), 2)
    if constant:  # the loss's constant parameters as intercept-only outputs, as fitted
        mask = np.zeros((loss.n_params, 2), dtype=bool)
        mask[list(loss.constant_params)] = True
        model = MODELS["linear"](3, mask.size, constant_outputs=mask.ravel())
        objective = Objective(model, loss, objective.X, objective.y, sw, alpha=0.3)
        rng = np.random.default_rng(2)
        theta = model.init_params(0, loss.init_raw(objective.y, sw).ravel())
        theta = theta + rng.normal(scale=0.3, size=theta.shape)
    assert objective.has_hessian
    H = objective.hessian(theta)
    h = 1e-6
    fd = np.column_stack(
        [
            (objective(theta + h * e)[1] - objective(theta - h * e)[1]) / (2 * h)
            for e in np.eye(theta.size)
        ]
    )
    assert_allclose(H, fd, rtol=1e-5, atol=1e-7)
    v = np.random.default_rng(1).normal(size=theta.shape)
    assert_allclose(objective.hessp(theta, v), H @ v, rtol=1e-10, atol=1e-12)


def test_objective_is_the_documented_formula():
    """J = sum_i s_i mean_k l_ik / sum_i s_i + alpha/2 ||W||^2, checked by hand for one case."""
    loss = HuberLoss(delta=0.7, reduction="none")
    objective, theta, sw = _problem(loss, ("linear", {"fit_intercept": True}), 2)
    X, y = objective.X, objective.y
    params = objective.model.unpack(theta)
    coef, intercept = params["coef"], params["intercept"]
    elementwise = loss(X @ coef.T + intercept, y)
    expected = np.sum(sw * elementwise.mean(axis=1)) / sw.sum() + 0.15 * np.sum(coef**2)
    assert objective.value(theta) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("loss", LOSS_INSTANCES, ids=loss_id)
def test_last_outputs_are_the_last_evaluations(loss):
    """The outputs an evaluation keeps (offset included) are the model's at that theta, and
    only there; the separation check and the solution's raw outputs read them without a pass."""
    objective, theta, _ = _problem(loss, ("linear", {"fit_intercept": True}), 2)
    objective.offset = np.linspace(-0.5, 0.5, objective.X.shape[0])[:, np.newaxis]
    assert objective.last_outputs(theta) is None  # nothing evaluated yet
    objective(theta)
    expected, _ = objective.forward(theta, need_cache=False)
    kept = objective.last_outputs(theta)
    if objective.has_hessian:
        assert_allclose(kept, expected, rtol=0, atol=0)
    else:  # no Hessian: the evaluation keeps nothing
        assert kept is None
    assert objective.last_outputs(theta + 1e-3) is None
    floor = 1e300  # every mean at y = 0 is below it: the count is the rows with y = 0
    vanishing = objective.n_vanishing(theta, floor)
    calls = []
    forward = objective.forward
    objective.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    assert objective.n_vanishing(theta, floor) == vanishing
    if loss.link_name == "log":
        assert vanishing == np.count_nonzero(np.any(objective.y == 0, axis=1))
        assert calls == ([] if objective.has_hessian else [1])
