"""Parity cases for sklik's losses against PyTorch 2.13, and the reference file that stores them.

``build_cases()`` is the single, deterministic list of cases.
``scripts/generate_torch_reference.py`` runs torch on every case (``torch_result``) and stores
inputs and torch's outputs with ``save_reference``; ``tests/test_torch_parity.py`` reads them
back with ``load_reference`` and compares sklik with them, without torch.

A case is a dict with keys ``id`` (unique, readable), ``loss`` (class name, the same in
``torch.nn`` and ``sklik.losses``), ``params`` (constructor kwargs, ``reduction`` included),
``input``, ``target`` (float64 arrays), ``var`` (Gaussian only: a float64 array, or a 0-d array
holding a Python-float var when ``var_is_float``) and ``var_is_float``.

Every case is valid for torch (no RuntimeError/ValueError); the expected values may hold NaN
or inf where a case says so (``nonfinite``, ``edges_*``, ``empty`` with ``reduction="mean"``).
The ``edges_*`` scenarios and the extreme kinks (``EXTREME_DELTAS``, ``EXTREME_BETAS``, Gaussian
``eps`` of 0 and 1e-300) probe overflow and underflow: there sklik must give torch's values and
gradients to rtol 1e-10 with NaN and inf (of the same sign) in the same places.
"""

from __future__ import annotations

import json
import warnings
import zlib
from pathlib import Path

import numpy as np

REFERENCE_PATH = Path(__file__).resolve().parent / "data" / "torch_reference.npz"
TORCH_SERIES = "2.13."
REDUCTIONS = ("none", "mean", "sum")
SHORT_NAMES = {
    "L1Loss": "l1",
    "MSELoss": "mse",
    "HuberLoss": "huber",
    "SmoothL1Loss": "smooth_l1",
    "GaussianNLLLoss": "gaussian_nll",
    "PoissonNLLLoss": "poisson_nll",
}
# Losses that warn when target.shape != input.shape (Poisson and Gaussian broadcast silently).
WARNS_ON_SHAPE_MISMATCH = frozenset({"L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss"})

HUBER_DELTAS = (1.0, 0.5, 0.3, 2.5, 10.0)
SMOOTH_L1_BETAS = (1.0, 0.0, 0.5, 0.3, 2.5, 1e-3)
GAUSSIAN_EPS = (1e-6, 1e-3, 0.1)
POISSON_EPS = (1e-8, 1e-3, 0.5)
POISSON_TARGETS = (0.0, 0.5, 1.0, 1.0 + 2.0**-40, 1.5, 2.0, 3.0, 7.0, 50.0, 1000.0)

# Overflow and underflow edges: extreme kinks (run on every scenario) and the magnitudes that the
# edge scenarios combine (huge, the square-overflow threshold ~1.34e154, tiny, subnormal).
EXTREME_DELTAS = (1e-300, 1e-160, 1e154, 1e300)
EXTREME_BETAS = (1e-310, 1e-300, 1e-160, 1e154, 1e300)
EDGE_MAGNITUDES = (
    1.7e308,
    1e300,
    1e200,
    1.5e154,
    1e154,
    1e3,
    1.0,
    1e-160,
    1e-300,
    2.2e-308,
    1e-310,
    5e-324,
    0.0,
)
GAUSSIAN_EDGE_EPS = (0.0, 1e-300)
GAUSSIAN_EDGE_VARS = (0.0, 5e-324, 1e-310, 1e-300, 1e-160, 1e-10, 1.0, 1e154, 1e300, 1.7e308)
POISSON_EDGE_LOG_INPUTS = (-1e300, -800.0, -745.2, 0.0, 700.0, 709.78, 710.0, 1e154, 1e300)
POISSON_EDGE_RATES = (0.0, 5e-324, 1e-310, 1e-300, 1.0, 1e154, 1e300, 1.7e308)
POISSON_EDGE_TARGETS = (0.0, 1e-300, 0.5, 1.0, 2.0, 1e154, 1e300, 1.7e308)

# (name, input shape, target shape): every pair broadcasts; only the same-shape ones are silent
# in L1/MSE/Huber/SmoothL1.
BROADCAST_SHAPES = (
    ("bcast_3_vs_3x1", (3,), (3, 1)),
    ("bcast_3x1_vs_3", (3, 1), (3,)),
    ("bcast_2x3_vs_0d", (2, 3), ()),
    ("bcast_0d_vs_4", (), (4,)),
    ("bcast_1x4_vs_3x4", (1, 4), (3, 4)),
    ("bcast_3x4_vs_1x4", (3, 4), (1, 4)),
    ("bcast_3x4_vs_4", (3, 4), (4,)),
    ("bcast_2x1x3_vs_4x1", (2, 1, 3), (4, 1)),
    ("same_0d", (), ()),
    ("empty", (0,), (0,)),
)
# (name, shape, scale) of the random same-shape cases.
RANDOM_SHAPES = (
    ("rand_7_scale1e-3", (7,), 1e-3),
    ("rand_4x5_scale1", (4, 5), 1.0),
    ("rand_2x3x4_scale1e3", (2, 3, 4), 1e3),
)


def _rng(name: str) -> np.random.Generator:
    """A generator seeded by the group name, so adding a group leaves the others unchanged."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def _f64(a) -> np.ndarray:
    return np.array(a, dtype=np.float64)


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _expand(loss: str, params: dict, scenarios) -> list[dict]:
    """One case per reduction for each ``(name, input, target[, var])`` scenario."""
    prefix = "-".join([SHORT_NAMES[loss], *(f"{k}={_fmt(v)}" for k, v in params.items())])
    cases = []
    for name, x, t, *rest in scenarios:
        var = rest[0] if rest else None
        for reduction in REDUCTIONS:
            case = {
                "id": f"{prefix}-{name}-{reduction}",
                "loss": loss,
                "params": {**params, "reduction": reduction},
                "input": _f64(x),
                "target": _f64(t),
                "var_is_float": isinstance(var, float),
            }
            if var is not None:
                case["var"] = _f64(var)
            cases.append(case)
    return cases


# ---------------------------------------------------------------------------------------------
# scenarios


def _random_scenarios(group: str, spread: float = 1.0):
    """Same-shape random inputs and targets, 1-D to 3-D, at several scales."""
    rng = _rng(group + "-random")
    for name, shape, scale in RANDOM_SHAPES:
        s = scale * spread
        yield name, s * rng.standard_normal(shape), s * rng.standard_normal(shape)


def _broadcast_scenarios(group: str, target_sampler=None):
    rng = _rng(group + "-bcast")
    sample = target_sampler or (lambda shape: rng.standard_normal(shape))
    for name, xs, ts in BROADCAST_SHAPES:
        yield name, rng.standard_normal(xs), sample(ts)


def _nonfinite_scenario():
    # d = NaN (from input, from target, inf - inf), +inf, -inf, and an ordinary element.
    x = [np.nan, 1.0, np.inf, -np.inf, 2.0, np.inf, 0.5]
    t = [1.0, np.nan, 0.0, 0.0, np.inf, np.inf, -0.25]
    return "nonfinite", x, t


def _signed_zero_scenario():
    x = [0.0, -0.0, 0.0, -0.0, 1.5, -2.0]
    t = [0.0, 0.0, -0.0, -0.0, 1.5, -2.0]
    return "zero_diff", x, t


def _kink_scenarios(k: float, group: str):
    """Differences at the kink ``|d| = k`` exactly, at its float neighbours, and at 0 / -0."""
    below, above = np.nextafter(k, 0.0), np.nextafter(k, np.inf)
    d = _f64([k, -k, below, -below, above, -above, 0.0, -0.0, 0.5 * k, -2.0 * k])
    yield "kink_in_input", d, np.zeros_like(d)  # x = d (x = -0.0 included), t = 0
    yield "kink_in_target", np.zeros_like(d), -d  # x = 0, t = -d: x - t == d exactly
    offset = 3.0 + _rng(group + "-kink").standard_normal(d.shape)
    yield "kink_offset", offset + d, offset  # near the kink after rounding


def _edge_scenarios():
    """Huge, tiny and subnormal inputs and targets, both signs, in every pairing: differences
    that overflow, squares that overflow or underflow, sums that overflow."""
    m = _f64(EDGE_MAGNITUDES)
    signed = np.concatenate([m, -m[:-1]])
    x, t = (a.ravel() for a in np.meshgrid(signed, signed))
    yield "edges_grid", x, t
    # one huge element among ordinary ones: the reduced sum (not the elements) may overflow
    yield (
        "edges_sum_overflow",
        _f64([1.7e308, 1.6e308, 1.0, -2.0]),
        _f64([-1e-300, 0.0, 0.5, 1e-300]),
    )
    yield (
        "edges_all_tiny",
        _f64([1e-300, -3e-301, 5e-324, 1e-310]),
        _f64([0.0, 1e-300, 0.0, -2e-310]),
    )


def _pointwise_cases(
    loss: str, params: dict, *, kinks: bool, broadcast: bool, edges_only: bool = False
) -> list[dict]:
    group = "-".join([loss, *map(_fmt, params.values())])
    k = next(iter(params.values()), 1.0)
    scenarios = list(_edge_scenarios())
    if edges_only:
        return _expand(loss, params, scenarios)
    scenarios += [*_random_scenarios(group, spread=max(k, 1e-2)), _nonfinite_scenario()]
    scenarios += list(_kink_scenarios(k, group)) if kinks else [_signed_zero_scenario()]
    if broadcast:
        scenarios += list(_broadcast_scenarios(group))
    return _expand(loss, params, scenarios)


def _gaussian_var_scenarios(eps: float, group: str):
    rng = _rng(group)

    def pos(shape):
        return rng.uniform(0.2, 3.0, shape)

    def normal(shape):
        return rng.standard_normal(shape)

    for name, xs, vs in (
        ("var_same_4x3", (4, 3), (4, 3)),
        ("var_4_for_4x3", (4, 3), (4,)),
        ("var_4x1_for_4x3", (4, 3), (4, 1)),
        ("var_1x3_for_4x3", (4, 3), (1, 3)),
        ("var_2x3_for_2x3x4", (2, 3, 4), (2, 3)),
        ("var_2x3x1_for_2x3x4", (2, 3, 4), (2, 3, 1)),
        ("var_1x3x4_for_2x3x4", (2, 3, 4), (1, 3, 4)),
        ("var_2x1x4_for_2x3x4", (2, 3, 4), (2, 1, 4)),
        ("var_0d_for_5", (5,), ()),
        ("var_1_for_5", (5,), (1,)),
        # Square input: a (3,) var is one variance per row, never per column.
        ("var_3_for_square_3x3", (3, 3), (3,)),
    ):
        yield name, normal(xs), normal(xs), pos(vs)
    for name, var in (
        ("var_float", 0.7),
        ("var_float_zero", 0.0),
        ("var_float_below_eps", eps / 4),
    ):
        yield name, normal((2, 3)), normal((2, 3)), var
    # var entries at 0, below, at and just above eps; the var gradient passes the clamp.
    edges = [0.0, eps / 4, np.nextafter(eps, 0.0), eps, np.nextafter(eps, np.inf), 2 * eps, 1.0]
    x = rng.standard_normal(len(edges)) * np.sqrt(eps)
    x[0] = 0.5  # r = 0.5 with var = 0 -> grad_var = 0.5 * (1/eps - 0.25/eps**2)
    x[3] = 0.0  # r = 0 at var = eps
    yield "var_eps_edges", x, np.zeros_like(x), _f64(edges)


def _gaussian_edge_scenarios():
    """Residuals from huge to subnormal against variances from 0 and subnormal to huge."""
    m = _f64(EDGE_MAGNITUDES)
    r = np.concatenate([m, -m[:-1], [np.inf]])
    x, v = (a.ravel() for a in np.meshgrid(r, _f64(GAUSSIAN_EDGE_VARS)))
    yield "edges_grid", x, np.zeros_like(x), v
    yield (
        "edges_huge_target",
        np.zeros(4),
        _f64([1e200, -1.7e308, 1e-300, 1e154]),
        _f64([1e300, 1.0, 1e-310, 5e-324]),
    )
    yield "edges_float_var_subnormal", _f64([0.0, 1e-160, 1.0]), np.zeros(3), 5e-324


def _gaussian_cases(
    full: bool, eps: float, *, broadcast: bool, edges_only: bool = False
) -> list[dict]:
    params = {"full": full, "eps": eps}
    group = f"GaussianNLLLoss-{full}-{eps}"
    scenarios = list(_gaussian_edge_scenarios())
    if edges_only:
        return _expand("GaussianNLLLoss", params, scenarios)
    scenarios += list(_gaussian_var_scenarios(eps, group))
    if broadcast:
        # target broadcasts silently against input; var has the input's shape.
        rng = _rng(group + "-bcast-var")
        scenarios += [
            (name, x, t, rng.uniform(0.2, 3.0, np.shape(x)))
            for name, x, t in _broadcast_scenarios(group)
        ]
    return _expand("GaussianNLLLoss", params, scenarios)


def _poisson_cases(log_input: bool, full: bool, eps: float, *, broadcast: bool) -> list[dict]:
    params = {"log_input": log_input, "full": full, "eps": eps}
    group = f"PoissonNLLLoss-{log_input}-{full}-{eps}"
    rng = _rng(group)

    def inputs(shape, mean=None):
        noise = 0.5 * rng.standard_normal(shape)
        log_rate = noise if mean is None else noise + np.log(np.maximum(mean, 0.1))
        return log_rate if log_input else np.exp(log_rate)

    def counts(shape):
        return rng.poisson(3.0, shape).astype(np.float64)

    t = _f64(POISSON_TARGETS)
    edge_x = _f64(POISSON_EDGE_LOG_INPUTS if log_input else POISSON_EDGE_RATES)
    ex, et = (a.ravel() for a in np.meshgrid(edge_x, _f64(POISSON_EDGE_TARGETS)))
    scenarios = [
        ("edges_grid", ex, et),
        ("targets", inputs(t.shape, t), t),
        # x = 0: a zero log rate, or (rate mode) a zero rate, where the loss is -t*log(eps).
        ("input_zero", np.zeros_like(t), t),
        ("rand_4x5", inputs((4, 5)), counts((4, 5))),
        ("rand_2x3x4", inputs((2, 3, 4)), counts((2, 3, 4))),
    ]
    if broadcast:
        scenarios += [
            (name, x if log_input else np.exp(x), t)
            for name, x, t in _broadcast_scenarios(group, counts)
        ]
    return _expand("PoissonNLLLoss", params, scenarios)


def build_cases() -> list[dict]:
    """All parity cases, in a fixed order, with unique ids."""
    cases = []
    for loss in ("L1Loss", "MSELoss"):
        cases += _pointwise_cases(loss, {}, kinks=False, broadcast=True)
    for delta in HUBER_DELTAS + EXTREME_DELTAS:
        cases += _pointwise_cases("HuberLoss", {"delta": delta}, kinks=True, broadcast=delta == 1)
    for beta in SMOOTH_L1_BETAS + EXTREME_BETAS:
        cases += _pointwise_cases("SmoothL1Loss", {"beta": beta}, kinks=True, broadcast=beta == 1)
    for full in (False, True):
        for eps in GAUSSIAN_EPS:
            cases += _gaussian_cases(full, eps, broadcast=(full, eps) == (False, 1e-6))
        for eps in GAUSSIAN_EDGE_EPS:
            cases += _gaussian_cases(full, eps, broadcast=False, edges_only=True)
    for log_input in (True, False):
        for full in (False, True):
            for eps in POISSON_EPS:
                cases += _poisson_cases(
                    log_input, full, eps, broadcast=(full, eps) == (False, 1e-8)
                )
    ids = [case["id"] for case in cases]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    return cases


# ---------------------------------------------------------------------------------------------
# torch oracle


def is_shape_warning(w: warnings.WarningMessage) -> bool:
    """Whether ``w`` is the target/input shape-mismatch UserWarning (torch's or sklik's)."""
    return issubclass(w.category, UserWarning) and "different to the input" in str(w.message)


def torch_result(case: dict) -> dict:
    """Run ``torch.nn.<loss>(**params)`` in float64 on a case.

    Returns ``value``, ``grad_input``, ``grad_var`` (None for a float var or no var) as float64
    arrays, and ``warned``: whether torch emitted the shape-mismatch warning.
    """
    import torch

    x = torch.tensor(case["input"], dtype=torch.float64, requires_grad=True)
    t = torch.tensor(case["target"], dtype=torch.float64)
    args = [x, t]
    v = None
    if "var" in case:
        if case["var_is_float"]:
            args.append(float(case["var"]))
        else:
            v = torch.tensor(case["var"], dtype=torch.float64, requires_grad=True)
            args.append(v)
    module = getattr(torch.nn, case["loss"])(**case["params"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = module(*args)
    out.backward(torch.ones_like(out))
    return {
        "value": out.detach().numpy().astype(np.float64),
        "grad_input": x.grad.numpy().astype(np.float64),
        "grad_var": None if v is None else v.grad.numpy().astype(np.float64),
        "warned": any(map(is_shape_warning, caught)),
    }


# ---------------------------------------------------------------------------------------------
# reference file: a JSON index plus one flat float64 buffer (identical arrays stored once)

_ARRAY_FIELDS = ("input", "target", "var", "value", "grad_input", "grad_var")


def save_reference(path: Path, cases: list[dict], results: list[dict], torch_version: str):
    """Write the cases and torch's results to ``path`` (a compressed ``.npz``)."""
    chunks, offsets, size = [], {}, 0
    index = []
    for case, result in zip(cases, results, strict=True):
        arrays = {}
        for field in _ARRAY_FIELDS:
            arr = result.get(field, case.get(field))
            if arr is None:
                continue
            arr = np.asarray(arr, dtype=np.float64)
            key = arr.tobytes()
            if key not in offsets:
                offsets[key] = size
                chunks.append(arr.ravel())
                size += arr.size
            arrays[field] = [offsets[key], list(arr.shape)]
        index.append(
            {
                "id": case["id"],
                "loss": case["loss"],
                "params": case["params"],
                "var_is_float": case["var_is_float"],
                "torch_warned": result["warned"],
                "arrays": arrays,
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        torch_version=np.array(torch_version),
        cases=np.array(json.dumps(index, separators=(",", ":"))),
        data=np.concatenate(chunks) if chunks else np.empty(0),
    )


def load_reference(path: Path = REFERENCE_PATH) -> tuple[str, list[dict]]:
    """Read a reference file: ``(torch_version, cases)``.

    Each case has the keys of ``build_cases()`` plus ``torch_warned`` and ``expected``, a dict
    with torch's ``value``, ``grad_input`` and ``grad_var`` (None when torch gives none).
    """
    with np.load(path, allow_pickle=False) as npz:
        version = str(npz["torch_version"])
        index = json.loads(str(npz["cases"]))
        data = npz["data"]
    cases = []
    for entry in index:
        arrays = {
            field: data[offset : offset + int(np.prod(shape))].reshape(tuple(shape)).copy()
            for field, (offset, shape) in entry.pop("arrays").items()
        }
        case = {**entry, "input": arrays["input"], "target": arrays["target"]}
        if "var" in arrays:
            case["var"] = arrays["var"]
        case["expected"] = {
            "value": arrays["value"],
            "grad_input": arrays["grad_input"],
            "grad_var": arrays.get("grad_var"),
        }
        cases.append(case)
    return version, cases
