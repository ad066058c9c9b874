"""Properties of every loss in the registry, and the errors bad input must raise."""

import math
import pickle
import warnings

import numpy as np
import pytest
from loss_cases import LOSS_INSTANCES, loss_id, targets_for
from numpy.testing import assert_allclose
from sklearn.base import clone

import sklik.losses as losses_module
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

each_loss = pytest.mark.parametrize("loss", LOSS_INSTANCES, ids=loss_id)


def _raw(loss, y, rng):
    """Raw outputs away from every kink of the loss (|d| far from 0, delta and beta)."""
    raw = np.empty((loss.n_params, *y.shape))
    raw[0] = y + rng.choice([-1, 1], size=y.shape) * rng.uniform(0.05, 4.0, size=y.shape)
    if loss.y_domain[0] >= 0:  # Poisson: log rates
        raw[0] = rng.normal(size=y.shape)
    for kink in (getattr(loss, "delta", None), getattr(loss, "beta", None)):
        if kink:
            d = raw[0] - y
            near = np.abs(np.abs(d) - kink) < 0.02
            raw[0][near] += 0.05 * np.sign(d[near])
    if loss.n_params == 2:
        raw[1] = rng.normal(size=y.shape)
    return raw


def _five_point(f, raw, h=1e-4):
    """Elementwise 5-point central difference of an elementwise function of each raw array."""
    grads = np.empty_like(raw)
    for k in range(raw.shape[0]):

        def at(step, k=k):
            r = raw.copy()
            r[k] += step
            return f(r)

        grads[k] = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)
    return grads


@each_loss
@pytest.mark.parametrize("shape", [(40,), (25, 3)])
def test_raw_gradient_matches_finite_differences(loss, shape):
    rng = np.random.default_rng(0)
    y = targets_for(loss, shape, rng)
    raw = _raw(loss, y, rng)
    value, grad = loss.raw_loss_gradient(y, raw)
    assert value.shape == y.shape and grad.shape == raw.shape
    assert_allclose(value, loss.raw_loss(y, raw), rtol=1e-14)
    fd = _five_point(lambda r: loss.raw_loss(y, r), raw)
    assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


@each_loss
def test_floored_rows_are_flat_in_a_parameter(loss):
    """``floored`` marks where the loss is held at a floor: there it is flat in a raw
    parameter (its derivative is exactly 0), which is why a fit ending there warns."""
    rng = np.random.default_rng(0)
    y = targets_for(loss, (60,), rng)
    raw = _raw(loss, y, rng)
    raw[1:, ::3] -= 80.0  # far down every further parameter on a third of the rows
    floored = loss.floored(raw)
    assert floored.shape == y.shape and floored.dtype == bool
    assert loss.has_floor == bool(floored.any())
    _, grad = loss.raw_loss_gradient(y, raw)
    assert np.all(np.any(grad[:, floored] == 0.0, axis=0))
    if loss.has_floor:
        assert loss.floor_advice(1.0)  # what the floor is, and how to stay off it


@each_loss
def test_raw_hessian_matches_finite_differences(loss):
    rng = np.random.default_rng(8)
    y = targets_for(loss, (40,), rng)
    raw = _raw(loss, y, rng)
    try:
        hess = loss.raw_hessian(y, raw)
    except NotImplementedError:  # only losses a Newton solver cannot use may omit it
        assert loss.n_params > 1 or not loss.differentiable
        return
    if loss.fisher:
        # the expected information: the exact Hessian's diagonal where the residual is at its
        # expected size (Gaussian: (y - mean)^2 = var)
        assert hess.shape == raw.shape and np.all(hess >= 0)
        y = raw[0] + np.sqrt(loss.variance(raw))
        for k in range(loss.n_params):
            fd = _five_point(lambda r, k=k: loss.raw_loss_gradient(y, r)[1][k], raw)[k]
            assert_allclose(hess[k], fd, rtol=1e-6, atol=1e-8)
        return
    assert hess.shape == raw.shape and np.all(hess >= 0) == loss.convex
    fd = _five_point(lambda r: loss.raw_loss_gradient(y, r)[1][0], raw)
    assert_allclose(hess, fd, rtol=1e-6, atol=1e-8)


@each_loss
def test_raw_loss_is_the_torch_elementwise_loss(loss):
    """raw_loss is loss(reduction="none") at the parameterisation the estimators use."""
    rng = np.random.default_rng(1)
    y = targets_for(loss, (30,), rng)
    raw = _raw(loss, y, rng)
    elementwise = clone(loss).set_params(reduction="none")
    if loss.n_params == 2:  # (input, target, second parameter on its natural scale)
        expected = elementwise(raw[0], y, np.exp(raw[1]))
    elif isinstance(loss, PoissonNLLLoss) and not loss.log_input:
        expected = elementwise(np.exp(raw[0]), y)
    else:
        expected = elementwise(raw[0], y)
    assert_allclose(loss.raw_loss(y, raw), expected, rtol=1e-13)
    assert_allclose(
        loss.inverse_link(raw), np.exp(raw[0]) if loss.y_domain[0] >= 0 else raw[0]
    )  # the count losses have a log link
    # ... and say so: the solver's units, offset starts and compare's exposure read link_name
    link = {"identity": lambda r: r, "log": np.exp}[loss.link_name]
    assert_allclose(loss.inverse_link(raw), link(raw[0]))


def _weighted_objective(loss, y, w):
    def f(c):
        raw = np.broadcast_to(
            np.asarray(c, float).reshape(-1, *([1] * y.ndim)), (loss.n_params, *y.shape)
        )
        return np.average(loss.raw_loss(y, raw), axis=0, weights=w)

    return f


@each_loss
@pytest.mark.parametrize("weighted", [False, True])
def test_init_raw_is_the_best_constant(loss, weighted):
    rng = np.random.default_rng(2)
    y = targets_for(loss, (60,), rng)
    w = rng.uniform(0.1, 3.0, size=60) if weighted else None
    c = loss.init_raw(y, w)
    assert c.shape == (loss.n_params,)
    f = _weighted_objective(loss, y, w)
    if loss.differentiable:
        # smooth: the weighted mean raw gradient vanishes at the optimum
        raw = np.broadcast_to(c[:, None], (loss.n_params, 60))
        g = np.average(loss.raw_loss_gradient(y, raw)[1], axis=1, weights=w)
        assert_allclose(g, 0.0, atol=1e-9)
    # and no constant on a fine grid (or a data point) does better
    candidates = np.concatenate([np.linspace(y.min(), y.max(), 2001), y])
    if loss.name == "poisson_nll":
        candidates = np.log(np.maximum(candidates, 1e-3))
    for k in range(loss.n_params):
        for cand in candidates:
            trial = c.copy()
            trial[k] = cand
            assert f(c) <= f(trial) + 1e-12


@each_loss
@pytest.mark.parametrize("weighted", [False, True])
def test_init_raw_over_many_row_blocks(loss, weighted):
    """The means behind init_raw are summed over row blocks: still the best constant."""
    if not loss.differentiable:
        pytest.skip("a median: no mean summed over blocks")
    n = 2 * losses_module._BLOCK + 123
    rng = np.random.default_rng(4)
    y = targets_for(loss, (n, 2), rng)
    w = rng.uniform(0.1, 3.0, size=n) if weighted else None
    c = loss.init_raw(y, w)
    raw = np.broadcast_to(c[:, None, :], (loss.n_params, n, 2))
    g = np.average(loss.raw_loss_gradient(y, raw)[1], axis=1, weights=w)
    assert_allclose(g, 0.0, atol=1e-9)


@each_loss
def test_init_raw_multioutput_and_integer_weights_equal_repeats(loss):
    rng = np.random.default_rng(3)
    y = targets_for(loss, (30, 2), rng)
    sw = rng.integers(0, 4, size=30)
    sw[0] = 1
    c = loss.init_raw(y, sw)
    assert c.shape == (loss.n_params, 2)
    repeated = loss.init_raw(np.repeat(y, sw, axis=0))
    assert_allclose(c, repeated, rtol=1e-9, atol=1e-12)
    assert_allclose(c[:, 1], loss.init_raw(y[:, 1], sw), rtol=1e-12)


@each_loss
def test_inputs_are_not_modified(loss):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 4))
    t = np.abs(targets_for(loss, (6, 4), rng))
    args = [x, t] + ([np.full((6, 4), 0.5)] if loss.n_params == 2 else [])
    copies = [a.copy() for a in args]
    for reduction in ("none", "mean", "sum"):
        loss_r = clone(loss).set_params(reduction=reduction)
        loss_r(*args)
        loss_r.value_and_grad(*args)
    raw = np.stack([x] * loss.n_params)
    raw_copy = raw.copy()
    loss.raw_loss_gradient(t, raw)
    for a, c in zip(args + [raw], copies + [raw_copy], strict=True):
        assert_allclose(a, c, rtol=0, atol=0)


@each_loss
def test_reductions(loss):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5, 3))
    t = np.abs(rng.normal(size=(5, 3)))
    extra = [np.full((5, 3), 0.7)] if loss.n_params == 2 else []
    none = clone(loss).set_params(reduction="none")(x, t, *extra)
    total = clone(loss).set_params(reduction="sum")(x, t, *extra)
    mean = clone(loss).set_params(reduction="mean")(x, t, *extra)
    assert isinstance(none, np.ndarray) and none.shape == (5, 3)
    assert type(total) is float and type(mean) is float
    assert_allclose(total, none.sum(), rtol=1e-14)
    assert_allclose(mean, none.sum() / 15, rtol=1e-14)
    _, g_none, *_ = clone(loss).set_params(reduction="none").value_and_grad(x, t, *extra)
    _, g_mean, *_ = clone(loss).set_params(reduction="mean").value_and_grad(x, t, *extra)
    assert_allclose(g_mean, g_none / 15, rtol=1e-14)


@each_loss
@pytest.mark.parametrize("shape", [(100_003,), (301, 333)])
def test_large_reductions_equal_the_elementwise_path(loss, shape):
    """Large same-shape inputs take the cache-blocked reduction; it must match "none"."""
    rng = np.random.default_rng(9)
    x = rng.uniform(0.01, 4.0, size=shape)  # positive: also valid rates for Poisson
    t = np.abs(targets_for(loss, shape, rng))
    extra = [rng.uniform(0.1, 3, size=shape)] if loss.n_params == 2 else []
    value_none, *grads_none = clone(loss).set_params(reduction="none").value_and_grad(x, t, *extra)
    for reduction, scale in (("sum", 1.0), ("mean", 1.0 / x.size)):
        value, *grads = clone(loss).set_params(reduction=reduction).value_and_grad(x, t, *extra)
        assert value == pytest.approx(value_none.sum() * scale, rel=1e-12)
        for g, g_none in zip(grads, grads_none, strict=True):
            # Gaussian's var gradient h/v - h (r^2/v)/v cancels, and the 1/N enters h (as in
            # torch): equal to rounding relative to the gradient's size
            expected = g_none * scale
            assert_allclose(g, expected, rtol=1e-15, atol=1e-15 * np.abs(expected).max())


@each_loss
def test_empty_input(loss):
    extra = [np.empty(0)] if loss.n_params == 2 else []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(loss(np.empty(0), np.empty(0), *extra))
        assert clone(loss).set_params(reduction="sum")(np.empty(0), np.empty(0), *extra) == 0.0


@each_loss
def test_parameter_protocol(loss):
    params = loss.get_params()
    twin = type(loss)(**params)
    assert twin == loss and hash(twin) == hash(loss)
    assert clone(loss) == loss and clone(loss) is not loss
    assert pickle.loads(pickle.dumps(loss)) == loss
    assert get_loss(loss) == loss and get_loss(loss) is not loss
    assert type(loss).__name__ in repr(loss)
    other = clone(loss).set_params(reduction="sum")
    assert other != loss and other.reduction == "sum" and loss.reduction == "mean"
    assert loss != "mse" and loss != MSELoss() or isinstance(loss, MSELoss)


@each_loss
def test_invalid_reduction_raises_when_called(loss):
    bad = clone(loss).set_params(reduction="average")  # building it must not raise
    args = [np.zeros(3), np.ones(3)] + ([np.ones(3)] if loss.n_params == 2 else [])
    with pytest.raises(ValueError, match="reduction"):
        bad(*args)
    with pytest.raises(ValueError, match="reduction"):
        get_loss(bad)


@each_loss
def test_unbroadcastable_shapes_raise(loss):
    extra = [1.0] if loss.n_params == 2 else []
    with pytest.raises(ValueError, match="cannot be broadcast"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loss(np.zeros(3), np.zeros(4), *extra)


@each_loss
@pytest.mark.parametrize("bad", [np.array([1 + 2j, 3.0]), np.array(["a", "b"])])
def test_non_real_input_raises(loss, bad):
    extra = [1.0] if loss.n_params == 2 else []
    with pytest.raises(ValueError, match="input must be"):
        loss(bad, np.zeros(2), *extra)


@each_loss
def test_check_y(loss):
    y = np.array([0.0, 2.0, 5.0])
    loss.check_y(y)
    if loss.y_domain[0] >= 0:
        with pytest.raises(ValueError, match=rf"{type(loss).__name__} requires targets in \[0.0"):
            loss.check_y(np.array([1.0, -0.5]))
    else:
        loss.check_y(-y)


# --- loss-specific behaviour and errors (not parametrized over the registry) ---------------


def test_registry():
    assert set(LOSSES) == {
        "mse",
        "l1",
        "huber",
        "smooth_l1",
        "gaussian_nll",
        "poisson_nll",
        "negative_binomial_nll",
    }
    for name, cls in LOSSES.items():
        assert issubclass(cls, BaseLoss) and cls.name == name
        assert get_loss(name) == cls() and get_loss(name) is not get_loss(name)
    assert GaussianNLLLoss.n_params == 2 and GaussianNLLLoss.param_names == ("mean", "log_var")
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss(42)


@pytest.mark.parametrize("delta", [0, -1.0, "1", None])
def test_huber_bad_delta(delta):
    bad = HuberLoss(delta=delta)
    with pytest.raises(ValueError, match="delta"):
        bad(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="delta"):
        get_loss(bad)


@pytest.mark.parametrize("beta", [-1e-3, "x"])
def test_smooth_l1_bad_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        SmoothL1Loss(beta=beta)(np.zeros(2), np.ones(2))


@pytest.mark.parametrize("cls", [GaussianNLLLoss, PoissonNLLLoss])
def test_negative_eps(cls):
    args = [np.zeros(2), np.ones(2)] + ([np.ones(2)] if cls is GaussianNLLLoss else [])
    with pytest.raises(ValueError, match="eps must be >= 0"):
        cls(eps=-1e-6)(*args)


def test_gaussian_var_errors():
    g = GaussianNLLLoss()
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="var has negative"):
        g(x, x, -1.0)
    with pytest.raises(ValueError, match="var has negative"):
        g(x, x, np.full((4, 3), -1.0))
    with pytest.raises(ValueError, match="var has negative"):  # checked before the shape
        g(x, x, -np.ones(7))
    for shape in [(4, 1, 1), (3,), (2, 3), (1, 1), ()]:
        with pytest.raises(ValueError, match="var is of incorrect size"):
            g(x, x, np.ones(shape))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        g(np.zeros(4), np.zeros(4), np.ones((4, 1)))


def test_gaussian_var_shapes_and_float_var():
    g = GaussianNLLLoss(reduction="none")
    rng = np.random.default_rng(6)
    x, t = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    per_row = rng.uniform(0.5, 2, size=4)
    # a (N,) var on an (N, N) input is one variance per row, as in torch
    assert_allclose(g(x, t, per_row), g(x, t, np.repeat(per_row[:, None], 4, axis=1)))
    _, _, gv = g.value_and_grad(x, t, per_row)
    assert gv.shape == (4,)
    value, gx, gv = g.value_and_grad(x, t, 0.8)
    assert gv is None
    assert_allclose(value, g(x, t, np.full((4, 4), 0.8)))


def test_gaussian_raw_gradient_is_zero_where_clamped():
    g = GaussianNLLLoss(eps=1e-3)
    y = np.array([0.0, 1.0])
    raw = np.array([[0.5, 0.2], [math.log(1e-3) - 1.0, 0.0]])
    _, grad = g.raw_loss_gradient(y, raw)
    assert grad[1, 0] == 0.0 and grad[1, 1] != 0.0
    assert_allclose(g.variance(raw), [1e-3, 1.0])


def test_legacy_elementwise_mean_alias():
    x, t = np.array([0.0, 2.0]), np.array([1.0, 1.0])
    for cls in (L1Loss, MSELoss, HuberLoss, SmoothL1Loss):
        with pytest.warns(UserWarning, match="elementwise_mean"):
            assert cls(reduction="elementwise_mean")(x, t) == cls()(x, t)
    with pytest.raises(ValueError, match="reduction"):
        PoissonNLLLoss(reduction="elementwise_mean")(x, t)
    with pytest.raises(ValueError, match="reduction"):
        GaussianNLLLoss(reduction="elementwise_mean")(x, t, 1.0)


def test_relations_between_losses():
    rng = np.random.default_rng(7)
    x, t = rng.normal(size=50), rng.normal(size=50)
    x[:5] = t[:5]  # d = 0 exactly
    x[5] = -0.0
    t[5] = 0.0
    l1 = L1Loss().value_and_grad(x, t)
    sl0 = SmoothL1Loss(beta=0.0).value_and_grad(x, t)
    assert l1[0] == sl0[0] and np.array_equal(l1[1], sl0[1])
    assert np.all(l1[1][:6] == 0.0)
    for delta in (0.3, 1.0, 2.5):
        hv, hg = HuberLoss(delta=delta).value_and_grad(x, t)
        sv, sg = SmoothL1Loss(beta=delta).value_and_grad(x, t)
        assert_allclose(hv, delta * sv, rtol=1e-15)
        assert_allclose(hg, delta * sg, rtol=1e-15)


def test_l1_gradient_at_nan_and_inf():
    value, grad = L1Loss(reduction="sum").value_and_grad([np.nan, np.inf, -np.inf], [0.0, 0.0, 0.0])
    assert math.isnan(value)
    assert np.array_equal(grad, [0.0, 1.0, -1.0])


def test_poisson_inverse_link_never_overflows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rate = PoissonNLLLoss().inverse_link(np.array([[1e4, 0.0, -1e4]]))
    assert np.all(np.isfinite(rate)) and rate[1] == 1.0


# ---------------------------------------------------------------------------------------------
# overflow and underflow edges (torch parity at the edges is in test_torch_parity.py)

SCALE_LOSSES = [loss for loss in LOSS_INSTANCES if loss.needs_scale] + [
    HuberLoss(delta=1e-12),
    HuberLoss(delta=1e6),
    SmoothL1Loss(beta=1e12),
]
scale_losses = pytest.mark.parametrize("loss", SCALE_LOSSES, ids=loss_id)


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (HuberLoss, "delta"),
        (SmoothL1Loss, "beta"),
        (GaussianNLLLoss, "eps"),
        (PoissonNLLLoss, "eps"),
    ],
)
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_parameters_raise(cls, name, value):
    bad = cls(**{name: value})
    with pytest.raises(ValueError, match=f"{name} must be finite|{name} must be >= 0"):
        get_loss(bad)
    args = [np.zeros(2), np.ones(2)] + ([np.ones(2)] if cls is GaussianNLLLoss else [])
    with pytest.raises(ValueError, match=name):
        bad(*args)
    if value == math.inf:
        with pytest.raises(ValueError, match=f"{name} must be finite; got {name}=inf"):
            bad.check_params()


@pytest.mark.parametrize("name", list(LOSSES))
def test_init_raw_and_fit_scale_check_their_weights(name):
    """Negative weights gave a scale of 1.8e308, all-zero ones a ZeroDivisionError, 1e-12 or
    a constant at random, depending on the loss; an empty y a reshape error."""
    loss = LOSSES[name]()
    y = np.array([1.0, 2.0, 4.0])
    methods = [loss.init_raw] + ([loss.fit_scale] if loss.needs_scale else [])
    for method in methods:
        for weights, message in [
            (np.array([-1.0, 1.0, 1.0]), "finite and >= 0"),
            (np.array([np.nan, 1.0, 1.0]), "finite and >= 0"),
            (np.zeros(3), "positive sum"),
            (np.ones(2), "one weight per sample"),
        ]:
            with pytest.raises(ValueError, match=message):
                method(y, weights)
        with pytest.raises(ValueError, match="at least one sample"):
            method(np.array([]))


def test_none_and_ragged_inputs_are_clear_errors():
    """NumPy reads None as NaN (a NaN loss, silently); torch refuses it."""
    with pytest.raises(ValueError, match="input must be numeric; got None"):
        MSELoss()(None, [2.0])
    with pytest.raises(ValueError, match="input must be numeric; got None"):
        L1Loss()(np.array([1.0, None]), [1.0, 2.0])
    with pytest.raises(ValueError, match="var must be numeric; got None"):
        GaussianNLLLoss()([1.0], [2.0], None)
    with pytest.raises(ValueError, match="target must be a rectangular array"):
        L1Loss()([1.0, 2.0], [[1.0, 2.0], [1.0]])


@pytest.mark.parametrize("name", ["full", "log_input"])
@pytest.mark.parametrize("value", ["no", None, 1])
def test_poisson_flags_must_be_bools(name, value):
    """torch refuses a non-bool full or log_input (TypeError); "no" is truthy and added the
    Stirling term silently."""
    with pytest.raises(ValueError, match=f"{name} must be True or False"):
        PoissonNLLLoss(**{name: value})([1.0], [5.0])
    assert PoissonNLLLoss(**{name: np.True_})([1.0], [5.0]) == PoissonNLLLoss(**{name: True})(
        [1.0], [5.0]
    )


def test_known_torch_edges():
    """The four formulas that used to differ from torch 2.13 (values from torch)."""
    # MSE: the mean gradient is (2/N) d, finite where 2 d overflows
    _, g = MSELoss().value_and_grad([1.5e308, 0.0], [0.0, 0.0])
    assert g[0] == 1.5e308 and g[1] == 0.0
    # Gaussian: (r * r) / v, which overflows where r * (r / v) would not; and subnormal var
    # with eps=0 and r = 0 is a finite 0.5 log(v), not NaN
    loss = GaussianNLLLoss(eps=0.0, reduction="none")
    value = loss([1e200, 0.0], [0.0, 0.0], [1e300, 5e-324])
    assert value[0] == math.inf and value[1] == 0.5 * math.log(5e-324)
    # SmoothL1: z - beta / 2 in the linear zone, finite for a huge beta
    assert SmoothL1Loss(beta=1e300, reduction="sum")([1.7e308], [0.0]) == 1.7e308 - 0.5e300
    # Huber / SmoothL1 sums: an overflowing element gives inf, not inf - inf
    for loss in (HuberLoss(delta=1e200, reduction="sum"), SmoothL1Loss(beta=1e200)):
        assert loss([1e160, 1.0], [0.0, 0.0]) == math.inf


@scale_losses
@pytest.mark.parametrize("magnitude", [1e200, 1e300, 1.7e308, 1e-300, 5e-324])
def test_fit_scale_is_finite_and_bounded_at_extreme_residuals(loss, magnitude):
    rng = np.random.default_rng(3)
    r = magnitude * rng.uniform(-1, 1, size=50)
    r[0] = magnitude
    calls = []
    counting = clone(loss)
    kernel = counting._elementwise
    counting._elementwise = lambda *a, **k: calls.append(1) or kernel(*a, **k)
    sigma = counting.fit_scale(r)
    assert math.isfinite(sigma) and sigma >= 1e-300
    assert len(calls) < 250  # a bounded search, whatever the magnitude
    if 1e-250 < magnitude < 1e300:  # the stationarity condition holds at the scale found
        u = r / sigma
        stationarity = np.mean(u * loss._elementwise(u, 0.0, grad=True)[1])
        assert stationarity == pytest.approx(1.0, rel=1e-9)


@scale_losses
def test_fit_scale_matches_the_unscaled_solution(loss):
    rng = np.random.default_rng(4)
    r = rng.standard_t(3, size=200)
    w = rng.uniform(0, 2, size=200)
    sigma = loss.fit_scale(r, w)
    u = r / sigma
    stationarity = np.average(u * loss._elementwise(u, 0.0, grad=True)[1], weights=w)
    assert stationarity == pytest.approx(1.0, rel=1e-10)
    # huge weights: normalised by the largest first, so their sum does not overflow
    assert loss.fit_scale(r, w * 1e306) == pytest.approx(sigma, rel=1e-12)


@scale_losses
def test_fit_scale_of_a_perfect_fit(loss):
    zeros = np.zeros(5)
    assert loss.fit_scale(zeros) == 1e-12
    assert loss.fit_scale(zeros, y_scale=1e6) == pytest.approx(1e-6, rel=1e-15)
    assert loss.fit_scale(zeros, y_scale=0.0) == 1e-300
    # residuals that are nonzero only where the weight is 0: still a perfect fit
    r, w = np.array([0.0, 3.0, 0.0, -2.0]), np.array([1.0, 0.0, 2.0, 0.0])
    assert loss.fit_scale(r, w, y_scale=10.0) == pytest.approx(1e-11, rel=1e-15)
    # zero-weight residuals do not count otherwise either
    r2, w2 = np.array([1.0, 3.0, -0.5, -2.0]), np.array([1.0, 0.0, 2.0, 0.0])
    assert loss.fit_scale(r2, w2) == pytest.approx(loss.fit_scale(r2[w2 > 0], w2[w2 > 0]))
    # the likelihood of the perfect fit is finite
    sigma = loss.fit_scale(zeros, y_scale=3.0)
    dist = loss.predictive_distribution(np.zeros((1, 5)), sigma)
    assert np.all(np.isfinite(dist.logpdf(zeros)))


@scale_losses
def test_fit_scale_rejects_non_finite_input(loss):
    with pytest.raises(ValueError, match="residuals are not finite"):
        loss.fit_scale(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="residuals are not finite"):
        loss.fit_scale(np.array([1.0, np.nan]))
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="y_scale"):
            loss.fit_scale(np.ones(3), y_scale=bad)


EXTREME_LOSSES = LOSS_INSTANCES + [
    HuberLoss(delta=1e300),
    HuberLoss(delta=1e-300),
    SmoothL1Loss(beta=1e300),
    SmoothL1Loss(beta=1e-300),
    GaussianNLLLoss(eps=0.0),
    PoissonNLLLoss(log_input=False, eps=0.0),
]


@pytest.mark.parametrize("loss", EXTREME_LOSSES, ids=loss_id)
def test_no_runtime_warning_at_extreme_inputs(loss):
    """raw up to +-1e300, y up to 1e300: torch's inf/NaN where values overflow, and no
    RuntimeWarning from any method; the best constant and the scale stay finite."""
    magnitudes = np.array([0.0, 1e-300, 1.0, 800.0, 1e154, 1e300])
    raw_values = np.concatenate([magnitudes, -magnitudes[1:]])
    y_values = magnitudes if loss.y_domain[0] >= 0 else raw_values
    grid = np.meshgrid(y_values, *([raw_values] * loss.n_params), indexing="ij")
    y, raw = grid[0].ravel(), np.stack([g.ravel() for g in grid[1:]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        value, grad = loss.raw_loss_gradient(y, raw)
        assert grad.shape == raw.shape
        np.testing.assert_array_equal(loss.raw_loss(y, raw), value)
        try:
            assert loss.raw_hessian(y, raw).shape == raw.shape
        except NotImplementedError:
            pass
        loss.inverse_link(raw)
        loss.predictive_distribution(raw, 1.0 if loss.needs_scale else None)
        for reduction in ("none", "mean", "sum"):
            args = (
                (raw[0], y, np.exp(np.clip(raw[1], -700, 700)))
                if loss.n_params == 2
                else (
                    raw[0],
                    y,
                )
            )
            clone(loss).set_params(reduction=reduction).value_and_grad(*args)
        for targets in (y_values, np.full(4, y_values.max()), np.array([-1.7e308, 1.7e308, 0.0])):
            if loss.y_domain[0] >= 0:
                targets = np.abs(targets)
            init = loss.init_raw(targets)
            assert np.all(np.isfinite(init)), (targets, init)
            if loss.needs_scale:
                sigma = loss.fit_scale(targets - init[0])
                assert math.isfinite(sigma) and sigma > 0


def test_gaussian_raw_variance_never_underflows_to_zero():
    """eps=0: a raw log variance far below -708 is clamped at the smallest normal float, so the
    loss is finite and the predictive distribution proper, never NaN."""
    loss = GaussianNLLLoss(eps=0.0)
    y = np.array([0.0, 1.0, 0.0])
    raw = np.array([[0.0, 0.0, 0.0], [-800.0, -800.0, 0.0]])
    value, grad = loss.raw_loss_gradient(y, raw)
    tiny = np.finfo(np.float64).tiny
    assert value[0] == pytest.approx(0.5 * math.log(tiny))
    assert value[1] == pytest.approx(0.5 * (math.log(tiny) + 1.0 / tiny))
    assert np.all(grad[1, :2] == 0.0) and not np.any(np.isnan(grad))
    assert np.all(loss.variance(raw) >= tiny)
    assert np.isfinite(loss.predictive_distribution(raw).logpdf(y)[0])
