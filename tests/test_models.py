"""Property tests of the model layer (sklik._models), generated from MODELS and ACTIVATIONS."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import sklik._models as models_module
from sklik._models import ACTIVATIONS, MODELS, LinearModel, MLPModel, _tanh_exp

N_SAMPLES, N_FEATURES, HIDDEN = 7, 3, (4, 3)
N_OUTPUTS = [1, 3]

# Constructor variants per registered model; a model missing here is tested with its defaults.
MODEL_VARIANTS = {
    "linear": [{"fit_intercept": True}, {"fit_intercept": False}],
    "mlp": [{"hidden_layer_sizes": HIDDEN, "activation": a} for a in ACTIVATIONS]
    + [{"hidden_layer_sizes": (), "activation": "relu"}, {"hidden_layer_sizes": 5}],
}


def _case_id(name, kwargs):
    return "-".join([name] + [f"{k}={v}" for k, v in kwargs.items()]).replace(" ", "")


MODEL_CASES = [
    pytest.param(name, kwargs, id=_case_id(name, kwargs))
    for name in MODELS
    for kwargs in MODEL_VARIANTS.get(name, [{}])
]


def make_model(name, kwargs, n_outputs, n_features=N_FEATURES):
    return MODELS[name](n_features, n_outputs, **kwargs)


def preactivations(model, theta, X):
    """Hidden pre-activations z_l, by a plain reference implementation ([] for other models)."""
    if not isinstance(model, MLPModel):
        return []
    params = model.unpack(theta)
    a, zs = X, []
    for W, b in zip(params["coefs"][:-1], params["intercepts"][:-1], strict=True):
        z = a @ W + b
        zs.append(z)
        a = z.copy()
        ACTIVATIONS[model.activation].function(a)
    return zs


def smooth_point(model, n_samples=N_SAMPLES, n_features=N_FEATURES, margin=1e-2):
    """(theta, X) with every pre-activation at least `margin` away from 0 (relu's kink).

    Finite differences below move pre-activations by far less than `margin`, so the relu net is
    differentiable on the whole stencil. The first seed that qualifies is used (deterministic).
    """
    for seed in range(100):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n_samples, n_features))
        out_init = rng.standard_normal(model.n_outputs)
        theta = model.init_params(seed, out_init) + 0.3 * rng.standard_normal(model.n_coef)
        zs = preactivations(model, theta, X)
        if all(np.abs(z).min() > margin for z in zs):
            return theta, X
    raise AssertionError("no kink-free point found")  # pragma: no cover


def five_point(f, x, direction, h):
    """5-point central difference of f at x along direction (f may return an array)."""
    return (
        f(x - 2 * h * direction)
        - 8 * f(x - h * direction)
        + 8 * f(x + h * direction)
        - f(x + 2 * h * direction)
    ) / (12 * h)


# ---------------------------------------------------------------------------------------------
# derivatives


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_backward_matches_finite_differences(name, kwargs, n_outputs):
    model = make_model(name, kwargs, n_outputs)
    theta, X = smooth_point(model)
    G = np.random.default_rng(1).standard_normal((N_SAMPLES, n_outputs))

    def f(t):
        return np.sum(G * model.forward(t, X)[0])

    _, cache = model.forward(theta, X)
    grad = model.backward(theta, cache, G)
    assert grad.shape == (model.n_coef,)
    assert grad.dtype == np.float64
    numerical = np.array([five_point(f, theta, e, 1e-4) for e in np.eye(model.n_coef)])
    assert_allclose(grad, numerical, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_jvp_matches_finite_differences(name, kwargs, n_outputs):
    model = make_model(name, kwargs, n_outputs)
    theta, X = smooth_point(model)
    rng = np.random.default_rng(2)
    for _ in range(3):
        v = rng.standard_normal(model.n_coef)
        v /= np.linalg.norm(v)
        _, cache = model.forward(theta, X)
        jv = model.jvp(theta, cache, v)
        assert jv.shape == (N_SAMPLES, n_outputs)
        numerical = five_point(lambda t: model.forward(t, X)[0], theta, v, 1e-4)
        assert_allclose(jv, numerical, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_jvp_is_adjoint_of_backward(name, kwargs, n_outputs):
    # <G, J v> == <J^T G, v> exactly up to rounding (no finite differences involved).
    model = make_model(name, kwargs, n_outputs)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, N_FEATURES))
    theta = model.init_params(0, np.zeros(n_outputs)) + rng.standard_normal(model.n_coef)
    G = rng.standard_normal((50, n_outputs))
    v = rng.standard_normal(model.n_coef)
    _, cache = model.forward(theta, X)
    lhs = np.sum(G * model.jvp(theta, cache, v))
    rhs = model.backward(theta, cache, G) @ v
    assert_allclose(lhs, rhs, rtol=1e-10)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activation_derivative_in_terms_of_output(activation):
    act = ACTIVATIONS[activation]
    z = np.linspace(-4, 4, 41)
    z = z[np.abs(z) > 1e-3]  # away from relu's kink

    def f(x):
        out = x.copy()
        act.function(out)
        return out

    a = f(z)
    delta = np.ones_like(z)
    act.derivative(a, delta)
    assert_allclose(delta, five_point(f, z, np.ones_like(z), 1e-4), rtol=1e-7, atol=1e-10)
    assert_array_equal(a, f(z))  # derivative must not modify a


def test_tanh_exp_matches_numpy_within_its_documented_error():
    # exp-based: 2 ulp relative for |z| > 1/2, 2.3e-16 absolute, 5e-13 relative where 1 - e
    # cancels, the series below 2^-13 (subnormals kept, signs and zeros kept), every chunk
    mag = np.concatenate([np.linspace(0, 20, 40001), np.logspace(-320, 1.5, 4000)])
    z = np.concatenate([mag, -mag, [np.inf, -np.inf, 2.0**-13, np.nextafter(2.0**-13, 0)]])
    z = np.random.default_rng(0).permutation(z)
    for shape in [z.shape, (z.size // 4, 4), (0, 3)]:
        out = z[: int(np.prod(shape))].reshape(shape).copy()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _tanh_exp(out)
        ref = np.tanh(z[: out.size].reshape(shape))
        assert_array_equal(np.signbit(out), np.signbit(ref))
        assert np.all(np.abs(out - ref) <= 2.3e-16)
        assert np.all(np.abs(out - ref) <= 5e-13 * np.abs(ref))
        big = np.abs(ref) > np.tanh(0.5)
        assert np.all(np.abs(out - ref)[big] <= 2 * np.spacing(np.abs(ref[big])))
    nan = np.array([np.nan, 1.0, -np.nan])
    _tanh_exp(nan)
    assert np.isnan(nan[[0, 2]]).all() and nan[1] == np.tanh(1.0)


@pytest.mark.parametrize("vectorised", [True, False])
def test_tanh_activation_is_numpys_or_the_exp_form(monkeypatch, vectorised):
    # NumPy's loop where it is vectorised (AVX-512), else the exp form; in place either way
    monkeypatch.setattr(models_module, "_NUMPY_TANH_IS_VECTORISED", vectorised)
    z = np.linspace(-30, 30, 4001).reshape(-1, 1)
    expected = z.copy()
    if vectorised:
        np.tanh(expected, out=expected)
    else:
        _tanh_exp(expected)
    out = z.copy()
    ACTIVATIONS["tanh"].function(out)
    assert_array_equal(out, expected)
    assert_allclose(out, np.tanh(z), rtol=1e-15, atol=2.3e-16)
    strided = np.linspace(-3, 3, 40).reshape(8, 5).T  # not C-contiguous: still in place
    expected = np.tanh(strided)
    ACTIVATIONS["tanh"].function(strided)
    assert_allclose(strided, expected, rtol=1e-15)


def test_relu_derivative_is_a_select():
    # Dead units pass exactly 0, even for non-finite upstream deltas, and nothing warns.
    a = np.array([[0.0, 1.0, 0.0, 2.0, 0.0]])
    delta = np.array([[np.inf, np.inf, np.nan, -3.0, -0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ACTIVATIONS["relu"].derivative(a, delta)
    assert_array_equal(delta, [[0.0, np.inf, 0.0, -3.0, 0.0]])
    assert not np.signbit(delta[0, 4])


# ---------------------------------------------------------------------------------------------
# layout, pack / unpack


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_pack_unpack_roundtrip(name, kwargs, n_outputs):
    model = make_model(name, kwargs, n_outputs)
    theta = np.random.default_rng(4).standard_normal(model.n_coef)
    params = model.unpack(theta)
    assert_array_equal(model.pack(params), theta)
    # unpack returns copies: changing them leaves theta alone
    for value in params.values():
        for arr in value if isinstance(value, list) else [value]:
            arr[...] = 123.0
    assert not np.any(theta == 123.0)


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_weights_come_first_and_output_bias_last(name, kwargs, n_outputs):
    # Zeroing theta[:n_weights] removes every dependence on X: the output is then the output
    # bias, which is the last n_outputs entries of theta (0 without bias).
    model = make_model(name, kwargs, n_outputs)
    assert 0 <= model.n_weights <= model.n_coef
    rng = np.random.default_rng(5)
    theta = rng.standard_normal(model.n_coef)
    theta[: model.n_weights] = 0.0
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    out, _ = model.forward(theta, X)
    expected = theta[-n_outputs:] if model.n_coef > model.n_weights else np.zeros(n_outputs)
    assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
def test_linear_layout_and_formula(fit_intercept, n_outputs):
    model = LinearModel(N_FEATURES, n_outputs, fit_intercept=fit_intercept)
    assert model.n_weights == n_outputs * N_FEATURES
    assert model.n_coef == model.n_weights + (n_outputs if fit_intercept else 0)
    rng = np.random.default_rng(6)
    theta = rng.standard_normal(model.n_coef)
    params = model.unpack(theta)
    assert params["coef"].shape == (n_outputs, N_FEATURES)
    assert params["intercept"].shape == (n_outputs,)
    assert_array_equal(theta[: model.n_weights], params["coef"].ravel())
    if fit_intercept:
        assert_array_equal(theta[model.n_weights :], params["intercept"])
    else:
        assert_array_equal(params["intercept"], 0.0)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    out, _ = model.forward(theta, X)
    assert_allclose(out, X @ params["coef"].T + params["intercept"], rtol=1e-14)


def test_linear_pack_accepts_single_output_shapes():
    model = LinearModel(N_FEATURES, 1)
    theta = model.pack({"coef": [1.0, 2.0, 3.0], "intercept": 4.0})
    assert_array_equal(theta, [1.0, 2.0, 3.0, 4.0])
    no_intercept = LinearModel(N_FEATURES, 1, fit_intercept=False)
    assert_array_equal(no_intercept.pack({"coef": [1.0, 2.0, 3.0]}), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="fit_intercept"):
        no_intercept.pack({"coef": [1.0, 2.0, 3.0], "intercept": [1.0]})
    with pytest.raises(ValueError, match="coef"):
        model.pack({"coef": np.ones((N_FEATURES, 1))})  # transposed


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
def test_mlp_layout_is_sklearn_pack_order(activation, n_outputs):
    model = MLPModel(N_FEATURES, n_outputs, HIDDEN, activation)
    units = [N_FEATURES, *HIDDEN, n_outputs]
    assert model.layer_units == units
    assert model.n_weights == sum(a * b for a, b in zip(units[:-1], units[1:], strict=True))
    assert model.n_coef == model.n_weights + sum(units[1:])
    theta = np.random.default_rng(7).standard_normal(model.n_coef)
    params = model.unpack(theta)
    assert [W.shape for W in params["coefs"]] == list(zip(units[:-1], units[1:], strict=True))
    assert [b.shape for b in params["intercepts"]] == [(u,) for u in units[1:]]
    # sklearn's _pack: np.hstack([l.ravel() for i in coefs_ + intercepts_])
    packed = np.hstack([p.ravel() for p in params["coefs"] + params["intercepts"]])
    assert_array_equal(packed, theta)
    assert_array_equal(theta[: model.n_weights], np.hstack([W.ravel() for W in params["coefs"]]))


def test_mlp_pack_rejects_wrong_shapes():
    model = MLPModel(N_FEATURES, 1, HIDDEN)
    params = model.unpack(np.zeros(model.n_coef))
    with pytest.raises(ValueError, match="expected 3 coefs"):
        model.pack({"coefs": params["coefs"][:-1], "intercepts": params["intercepts"]})
    params["coefs"][1] = params["coefs"][1].T
    with pytest.raises(ValueError, match=r"coefs\[1\]"):
        model.pack(params)


def test_mlp_without_hidden_layer_is_linear():
    rng = np.random.default_rng(8)
    mlp, linear = MLPModel(N_FEATURES, 3, ()), LinearModel(N_FEATURES, 3)
    assert mlp.n_coef == linear.n_coef and mlp.n_weights == linear.n_weights
    theta_mlp = rng.standard_normal(mlp.n_coef)
    p = mlp.unpack(theta_mlp)
    theta_lin = linear.pack({"coef": p["coefs"][0].T, "intercept": p["intercepts"][0]})
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    expected = linear.forward(theta_lin, X)[0]
    # (the products may sum in another order: rounding of the terms, not of the result)
    atol = 1e-14 * np.max(np.abs(expected))
    assert_allclose(mlp.forward(theta_mlp, X)[0], expected, rtol=1e-14, atol=atol)


# ---------------------------------------------------------------------------------------------
# initialisation


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_init_params_reproducible_and_output_bias(name, kwargs, n_outputs):
    model = make_model(name, kwargs, n_outputs)
    out_init = np.arange(1.0, n_outputs + 1.0)
    theta = model.init_params(0, out_init)
    assert theta.shape == (model.n_coef,)
    assert theta.dtype == np.float64
    assert_array_equal(model.init_params(0, out_init), theta)
    assert_array_equal(model.init_params(np.random.RandomState(0), out_init), theta)
    if model.n_coef > model.n_weights:
        assert_array_equal(theta[-n_outputs:], out_init)
        # a scalar out_init is broadcast
        assert_array_equal(model.init_params(0, 2.5)[-n_outputs:], np.full(n_outputs, 2.5))
    with pytest.raises(ValueError, match="out_init"):
        model.init_params(0, np.zeros(n_outputs + 1))


def test_linear_init_is_zero_coef_and_ignores_random_state():
    model = LinearModel(N_FEATURES, 3)
    theta = model.init_params(None, [1.0, 2.0, 3.0])
    assert_array_equal(theta, [0.0] * (3 * N_FEATURES) + [1.0, 2.0, 3.0])
    assert_array_equal(model.init_params(42, [1.0, 2.0, 3.0]), theta)
    assert_array_equal(LinearModel(N_FEATURES, 3, False).init_params(0, [1, 2, 3]), 0.0)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlp_init_glorot_uniform_as_sklearn(activation):
    hidden = (30, 20)
    model = MLPModel(10, 2, hidden, activation)
    theta = model.init_params(7, [0.5, -0.5])
    params = model.unpack(theta)
    factor = 2.0 if activation == "logistic" else 6.0
    assert ACTIVATIONS[activation].init_factor == factor
    # Same draws, same order as sklearn's MLP _init_coef: per layer, W then b, each uniform.
    rng = np.random.RandomState(7)
    units = model.layer_units
    for layer, (fan_in, fan_out) in enumerate(zip(units[:-1], units[1:], strict=True)):
        bound = np.sqrt(factor / (fan_in + fan_out))
        W, b = params["coefs"][layer], params["intercepts"][layer]
        assert np.all(np.abs(W) <= bound)
        assert np.abs(W).max() > 0.9 * bound  # the whole range is used
        assert_array_equal(W, rng.uniform(-bound, bound, (fan_in, fan_out)))
        expected_b = rng.uniform(-bound, bound, fan_out)
        if layer < len(units) - 2:
            assert np.all(np.abs(b) <= bound)
            assert_array_equal(b, expected_b)
    assert_array_equal(params["intercepts"][-1], [0.5, -0.5])


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlp_init_equals_sklearn_private_init_coef(activation):
    # Oracle against scikit-learn's own (private) initialiser; skipped if it changes.
    from sklearn.neural_network import MLPRegressor

    mlp = MLPRegressor(activation=activation)
    if not hasattr(mlp, "_init_coef"):  # pragma: no cover
        pytest.skip("MLPRegressor._init_coef is gone")
    model = MLPModel(5, 2, (8, 6), activation)
    params = model.unpack(model.init_params(3, [0.0, 0.0]))
    mlp._random_state = np.random.RandomState(3)
    units = model.layer_units
    for layer, (fan_in, fan_out) in enumerate(zip(units[:-1], units[1:], strict=True)):
        W, b = mlp._init_coef(fan_in, fan_out, np.float64)
        assert_array_equal(params["coefs"][layer], W)
        if layer < len(units) - 2:
            assert_array_equal(params["intercepts"][layer], b)


# ---------------------------------------------------------------------------------------------
# forward


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_forward_without_cache_gives_same_out(name, kwargs, n_outputs):
    model = make_model(name, kwargs, n_outputs)
    theta, X = smooth_point(model)
    out, cache = model.forward(theta, X)
    out_nc, cache_nc = model.forward(theta, X, need_cache=False)
    assert cache_nc is None
    assert out.shape == (N_SAMPLES, n_outputs)
    assert out.dtype == np.float64
    assert_array_equal(out, out_nc)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
def test_mlp_forward_equals_sklearn_predict(activation, n_outputs):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(9)
    X = rng.standard_normal((40, N_FEATURES))
    y = rng.standard_normal((40, n_outputs)) if n_outputs > 1 else rng.standard_normal(40)
    mlp = MLPRegressor(
        hidden_layer_sizes=HIDDEN, activation=activation, solver="lbfgs", max_iter=5, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    model = MLPModel(N_FEATURES, n_outputs, HIDDEN, activation)
    theta = model.pack({"coefs": mlp.coefs_, "intercepts": mlp.intercepts_})
    out, _ = model.forward(theta, X)
    assert_allclose(out, mlp.predict(X).reshape(40, n_outputs), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# re-entrancy, blocking, buffers


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_inputs_and_cache_are_not_modified(name, kwargs, n_outputs):
    model = make_model(name, kwargs, n_outputs)
    rng = np.random.default_rng(10)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    theta = rng.standard_normal(model.n_coef)
    G = rng.standard_normal((N_SAMPLES, n_outputs))
    v = rng.standard_normal(model.n_coef)
    copies = [a.copy() for a in (X, theta, G, v)]
    out, cache = model.forward(theta, X)
    g1, jv1 = model.backward(theta, cache, G), model.jvp(theta, cache, v)
    g2, jv2 = model.backward(theta, cache, G), model.jvp(theta, cache, v)
    assert_array_equal(g1, g2)
    assert_array_equal(jv1, jv2)
    for original, arr in zip(copies, (X, theta, G, v), strict=True):
        assert_array_equal(original, arr)


def test_live_cache_survives_later_forward_calls():
    model = MLPModel(N_FEATURES, 2, HIDDEN, "tanh")
    rng = np.random.default_rng(11)
    X = rng.standard_normal((30, N_FEATURES))
    t1, t2 = rng.standard_normal((2, model.n_coef))
    G = rng.standard_normal((30, 2))
    _, cache1 = model.forward(t1, X)
    expected = model.backward(t1, cache1, G)
    for _ in range(3):  # later calls must not recycle cache1's buffer
        model.forward(t2, X)
        _, cache2 = model.forward(t2, X)
    assert_array_equal(model.backward(t1, cache1, G), expected)
    del cache1, cache2
    _, cache3 = model.forward(t1, X)
    assert_array_equal(model.backward(t1, cache3, G), expected)


@pytest.mark.parametrize("n_features", [1, 4])
@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlp_blocked_passes_equal_single_block(monkeypatch, activation, n_outputs, n_features):
    # Many blocks (with a ragged last one) versus one block: same results up to summation order.
    # n_features=1 and n_outputs=1 take the BLAS outer-product path.
    model = MLPModel(n_features, n_outputs, (6, 5), activation)
    rng = np.random.default_rng(12)
    n = 103
    X = rng.standard_normal((n, n_features))
    theta = rng.standard_normal(model.n_coef)
    G = rng.standard_normal((n, n_outputs))
    v = rng.standard_normal(model.n_coef)

    def run():
        out, cache = model.forward(theta, X)
        out_nc, _ = model.forward(theta, X, need_cache=False)
        return out, out_nc, model.backward(theta, cache, G), model.jvp(theta, cache, v)

    monkeypatch.setattr(models_module, "_BLOCK_ELEMENTS", 10**9)
    assert model._block_rows(n) == n
    single = run()
    monkeypatch.setattr(models_module, "_BLOCK_ELEMENTS", 60)
    assert model._block_rows(n) == 60 // (6 + 5 + n_outputs)
    blocked = run()
    for a, b in zip(single, blocked, strict=True):
        assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_outputs", N_OUTPUTS)
@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_non_contiguous_inputs(name, kwargs, n_outputs):
    # Strided X and grad_out (e.g. column slices) give the same results as contiguous copies.
    for n_features in (1, N_FEATURES):
        model = make_model(name, kwargs, n_outputs, n_features=n_features)
        rng = np.random.default_rng(14)
        X_wide = rng.standard_normal((20, 2 * n_features))
        X = X_wide[:, ::2]
        G = rng.standard_normal((20, 2 * n_outputs))[:, ::2]
        theta = rng.standard_normal(model.n_coef)
        out, cache = model.forward(theta, X)
        out_c, cache_c = model.forward(theta, np.ascontiguousarray(X))
        assert_allclose(out, out_c, rtol=1e-14)
        assert_allclose(
            model.backward(theta, cache, G),
            model.backward(theta, cache_c, np.ascontiguousarray(G)),
            rtol=1e-13,
        )


def test_linear_single_feature_and_empty_input():
    model = LinearModel(1, 2)
    theta = np.array([2.0, 3.0, 1.0, -1.0])
    X = np.array([[1.0], [2.0]])
    out, cache = model.forward(theta, X)
    assert_array_equal(out, [[3.0, 2.0], [5.0, 5.0]])
    assert_array_equal(model.backward(theta, cache, np.ones((2, 2))), [3.0, 3.0, 2.0, 2.0])
    for m in (model, MLPModel(1, 2, (3,))):
        t = m.init_params(0, [0.0, 0.0])
        out, cache = m.forward(t, np.empty((0, 1)))
        assert out.shape == (0, 2)
        assert_array_equal(m.backward(t, cache, np.empty((0, 2))), 0.0)
        assert m.jvp(t, cache, t).shape == (0, 2)


def test_mlp_pickles_without_buffers():
    model = MLPModel(N_FEATURES, 2, HIDDEN, "relu")
    theta = model.init_params(0, [0.0, 1.0])
    X = np.random.default_rng(13).standard_normal((500, N_FEATURES))
    out, _ = model.forward(theta, X)
    blob = pickle.dumps(model)
    assert len(blob) < 2000  # the recycled activation buffer is not pickled
    clone = pickle.loads(blob)
    assert_array_equal(clone.forward(theta, X)[0], out)
    assert repr(clone) == repr(model)


# ---------------------------------------------------------------------------------------------
# validation


def test_constructor_validation():
    with pytest.raises(ValueError, match="activation must be one of"):
        MLPModel(3, 1, activation="softmax")
    with pytest.raises(ValueError, match="hidden layer size"):
        MLPModel(3, 1, hidden_layer_sizes=(4, 0))
    with pytest.raises(ValueError, match="n_features"):
        LinearModel(0, 1)
    with pytest.raises(ValueError, match="n_outputs"):
        MLPModel(3, 1.5)
    assert MLPModel(3, 1, hidden_layer_sizes=7).hidden_layer_sizes == (7,)


@pytest.mark.parametrize(("name", "kwargs"), MODEL_CASES)
def test_shape_validation(name, kwargs):
    model = make_model(name, kwargs, 2)
    theta = model.init_params(0, [0.0, 0.0])
    X = np.zeros((N_SAMPLES, N_FEATURES))
    with pytest.raises(ValueError, match="theta must have shape"):
        model.forward(theta[:-1], X)
    with pytest.raises(ValueError, match="X must have shape"):
        model.forward(theta, np.zeros((N_SAMPLES, N_FEATURES + 1)))
    _, cache = model.forward(theta, X)
    with pytest.raises(ValueError, match="grad_out must have shape"):
        model.backward(theta, cache, np.zeros((N_SAMPLES, 3)))
    with pytest.raises(ValueError, match="theta must have shape"):
        model.jvp(theta, cache, theta[:-1])


def test_workspace_cache_lifetime_and_results():
    # forward with a workspace writes the activations into it: the results equal those of a
    # cache owning its arrays, and the cache is valid until the next forward with that workspace
    model = MLPModel(N_FEATURES, 2, HIDDEN, "tanh")
    rng = np.random.default_rng(15)
    X = rng.standard_normal((30, N_FEATURES))
    t1, t2 = rng.standard_normal((2, model.n_coef))
    G = rng.standard_normal((30, 2))
    v = rng.standard_normal(model.n_coef)
    ws = model.workspace(X)
    _, own1 = model.forward(t1, X)
    _, own2 = model.forward(t2, X)
    out1, cache1 = model.forward(t1, X, workspace=ws)
    assert_array_equal(out1, model.forward(t1, X)[0])
    assert_array_equal(model.backward(t1, cache1, G), model.backward(t1, own1, G))
    assert_array_equal(model.jvp(t1, cache1, v), model.jvp(t1, own1, v))
    model.forward(t2, X, workspace=ws)  # cache1 now holds the activations at t2
    assert_array_equal(model.backward(t2, cache1, G), model.backward(t2, own2, G))
    assert model.forward(t1, X, need_cache=False, workspace=ws)[1] is None
    with pytest.raises(ValueError, match="another X"):
        model.forward(t1, X.copy(), workspace=ws)
    with pytest.raises(ValueError, match="another X"):
        MLPModel(N_FEATURES, 2, (3,), "tanh").forward(
            np.zeros(MLPModel(N_FEATURES, 2, (3,)).n_coef), X, workspace=ws
        )


def test_objective_reuses_one_workspace_during_a_fit():
    from sklik._objective import Objective
    from sklik.losses import get_loss

    model = MLPModel(N_FEATURES, 1, HIDDEN, "tanh")
    rng = np.random.default_rng(16)
    X = rng.standard_normal((40, N_FEATURES))
    y = rng.standard_normal((40, 1))
    obj = Objective(model, get_loss("mse"), X, y, np.ones(40), 1e-3)
    fresh = Objective(model, get_loss("mse"), X, y, np.ones(40), 1e-3)
    thetas = rng.standard_normal((3, model.n_coef))
    obj(thetas[0])
    ws = obj._workspace
    assert ws is not None and ws.hidden[0].shape == (40, HIDDEN[0])
    for theta in thetas:
        value, grad = obj(theta)
        fresh._last = None
        expected = fresh(theta)
        assert obj._workspace is ws
        assert value == expected[0]
        assert_array_equal(grad, expected[1])


@pytest.mark.parametrize(
    ("fit_intercept", "constant", "blocks"),
    [
        (True, None, False),
        (False, None, False),
        (True, [False, True], False),
        (True, [False, True], True),
        (False, None, True),
    ],
    ids=["intercept", "no_intercept", "constant_output", "blocks", "blocks-no_intercept"],
)
def test_linear_gauss_newton_solve_equals_the_dense_solve(fit_intercept, constant, blocks):
    """The Woodbury solve of a wide design equals the solve of the formed p-by-p system, with
    zero curvatures on some rows (zero weights), an intercept or a constant output, and
    per-row Hessian blocks (signed cross terms: the negative binomial's) where only a constant
    output couples to the output with weights."""
    from sklik._design import DenseDesign

    rng = np.random.default_rng(3)
    n, p, k = 6, 15, 2
    model = LinearModel(p, k, fit_intercept=fit_intercept, constant_outputs=constant)
    design = DenseDesign(rng.normal(size=(n, p)))
    _, cache = model.forward(rng.normal(size=model.n_coef), design)
    d = rng.uniform(0.1, 3.0, size=(n, k))
    d[:2] = 0.0
    if blocks:
        cross = rng.uniform(-0.5, 0.5, size=n) * np.sqrt(d[:, 0] * d[:, 1])
        d = np.stack([np.column_stack([d[:, 0], cross]), np.column_stack([cross, d[:, 1]])], 1)
        if constant is None:  # two outputs with weights, coupled: no block structure
            ridge = np.ones(model.n_weights)
            assert model.gauss_newton_solve(cache, d, ridge, np.ones(model.n_coef)) is None
            d[:, 0, 1] = d[:, 1, 0] = 0.0
    ridge = rng.uniform(0.5, 2.0, size=model.n_weights)
    g = rng.normal(size=model.n_coef)
    H = model.gauss_newton(None, cache, d)
    H[np.diag_indices(model.n_weights)] += ridge
    x = model.gauss_newton_solve(cache, d, ridge, g)
    assert_allclose(x, np.linalg.solve(H, g), rtol=1e-10, atol=1e-12 * np.abs(x).max())
    # where it does not apply: at least as many rows as features, an unpenalised weight
    assert model.gauss_newton_solve(cache, d, np.zeros_like(ridge), g) is None
    tall = LinearModel(3, k, fit_intercept=fit_intercept, constant_outputs=constant)
    _, tall_cache = tall.forward(np.zeros(tall.n_coef), DenseDesign(rng.normal(size=(n, 3))))
    assert tall.gauss_newton_solve(tall_cache, d, np.ones(tall.n_weights), g[: tall.n_coef]) is None
