"""sklik's six losses against PyTorch 2.13: values, gradients, reductions and warnings.

The cases come from ``tests/torch_cases.py``. ``test_matches_torch_reference`` compares sklik with
torch's results stored in ``tests/data/torch_reference.npz`` and needs no torch;
``test_matches_torch_live`` recomputes torch's results when torch 2.13 is installed. After
changing the cases, regenerate the file with ``python scripts/generate_torch_reference.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from torch_cases import (
    SHORT_NAMES,
    TORCH_SERIES,
    WARNS_ON_SHAPE_MISMATCH,
    build_cases,
    is_shape_warning,
    load_reference,
    torch_result,
)

import sklik.losses

RTOL = 1e-10
REFERENCE_VERSION, REFERENCE_CASES = load_reference()
LIVE_CASES = build_cases()
LOSS_NAMES = list(SHORT_NAMES)


def _ids(cases):
    return [case["id"] for case in cases]


# ---------------------------------------------------------------------------------------------
# helpers


def call_sklik(case: dict) -> dict:
    """sklik's value (from both ``value_and_grad`` and ``__call__``) and gradients."""
    loss = getattr(sklik.losses, case["loss"])(**case["params"])
    args = [case["input"], case["target"]]
    if "var" in case:
        args.append(float(case["var"]) if case["var_is_float"] else case["var"])
    value, grad_input, *grad_var = loss.value_and_grad(*args)
    return {
        "value": value,
        "called": loss(*args),
        "grad_input": grad_input,
        "grad_var": grad_var[0] if grad_var else None,
    }


def sklik_result(case: dict) -> dict:
    """``call_sklik`` plus ``warned``: whether sklik emitted the shape-mismatch warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call_sklik(case)
    return {**result, "warned": any(map(is_shape_warning, caught))}


def assert_close(actual, expected, what: str) -> None:
    """rtol 1e-10 plus an atol of 1e-12 times the largest finite expected magnitude, with NaN
    and inf (of the same sign) in the same places.

    The atol has no floor, so that cases whose values are all tiny are compared relatively too;
    it covers cancellation (Gaussian's var gradient) and the last bits of subnormal results.
    """
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: NaN")
    inf = np.isinf(expected)
    np.testing.assert_array_equal(np.isinf(actual), inf, err_msg=f"{what}: inf")
    np.testing.assert_array_equal(actual[inf], expected[inf], err_msg=f"{what}: sign of inf")
    scale = np.abs(expected[np.isfinite(expected)]).max(initial=0.0)
    np.testing.assert_allclose(
        actual, expected, rtol=RTOL, atol=1e-12 * scale, equal_nan=True, err_msg=what
    )


def assert_matches(case: dict, expected: dict, torch_warned: bool) -> None:
    got = sklik_result(case)
    if case["params"]["reduction"] == "none":
        assert isinstance(got["value"], np.ndarray)
    else:
        assert isinstance(got["value"], float)
    assert_close(got["value"], expected["value"], "value")
    assert_close(got["called"], expected["value"], "value from __call__")
    assert isinstance(got["grad_input"], np.ndarray)
    assert_close(got["grad_input"], expected["grad_input"], "grad_input")
    if expected["grad_var"] is None:
        assert got["grad_var"] is None
    else:
        assert isinstance(got["grad_var"], np.ndarray)
        assert_close(got["grad_var"], expected["grad_var"], "grad_var")
    assert got["warned"] == torch_warned


def require_torch():
    torch = pytest.importorskip("torch")
    if not torch.__version__.startswith(TORCH_SERIES):
        pytest.skip(f"the parity target is torch {TORCH_SERIES}x, not {torch.__version__}")
    return torch


def mismatch_case(loss: str, reduction: str = "mean") -> dict:
    """Input (3,) against target (3, 1): a (3, 3) loss; Gaussian gets a (3,) var."""
    case = {
        "id": f"{SHORT_NAMES[loss]}-mismatch-{reduction}",
        "loss": loss,
        "params": {"reduction": reduction},
        "input": np.array([0.2, -0.4, 1.1]),
        "target": np.array([[0.0], [1.0], [3.0]]),
        "var_is_float": False,
    }
    if loss == "GaussianNLLLoss":
        case["var"] = np.array([0.5, 1.0, 2.0])
    return case


# ---------------------------------------------------------------------------------------------
# parity with torch


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=_ids(REFERENCE_CASES))
def test_matches_torch_reference(case):
    assert_matches(case, case["expected"], case["torch_warned"])


@pytest.mark.parametrize("case", LIVE_CASES, ids=_ids(LIVE_CASES))
def test_matches_torch_live(case):
    require_torch()
    result = torch_result(case)
    assert_matches(case, result, result["warned"])


def test_reference_file_is_current():
    """The stored cases are ``build_cases()``: regenerate the file after editing them.

    The inputs agree to a few ulps, not bit for bit: some are made with ``np.exp``, whose last
    bit depends on the CPU's vector instructions (AVX2 or AVX-512 kernels).
    """
    assert REFERENCE_VERSION.startswith(TORCH_SERIES)
    assert _ids(REFERENCE_CASES) == _ids(LIVE_CASES)
    for stored, built in zip(REFERENCE_CASES, LIVE_CASES, strict=True):
        for key in ("loss", "params", "var_is_float"):
            assert stored[key] == built[key], (built["id"], key)
        for key in ("input", "target", "var"):
            assert (key in stored) == (key in built), (built["id"], key)
            if key in built:
                np.testing.assert_allclose(
                    stored[key],
                    built[key],
                    rtol=4 * np.finfo(np.float64).eps,
                    atol=0,
                    err_msg=built["id"],
                )


# ---------------------------------------------------------------------------------------------
# shape-mismatch warnings


@pytest.mark.parametrize("loss", LOSS_NAMES, ids=SHORT_NAMES.values())
def test_shape_mismatch_warning(loss):
    case = mismatch_case(loss)
    if loss in WARNS_ON_SHAPE_MISMATCH:
        for shape in ("(3, 1)", "(3,)"):
            with pytest.warns(UserWarning, match="different to the input") as record:
                call_sklik(case)
            assert any(shape in str(w.message) for w in record), shape
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            call_sklik(case)


@pytest.mark.parametrize("loss", LOSS_NAMES, ids=SHORT_NAMES.values())
def test_shape_mismatch_warning_matches_torch_live(loss):
    require_torch()
    case = mismatch_case(loss)
    assert torch_result(case)["warned"] == (loss in WARNS_ON_SHAPE_MISMATCH)
    assert sklik_result(case)["warned"] == (loss in WARNS_ON_SHAPE_MISMATCH)


# ---------------------------------------------------------------------------------------------
# reductions: "none" differentiates the sum, "mean" divides by the broadcast size


@pytest.mark.parametrize("loss", LOSS_NAMES, ids=SHORT_NAMES.values())
def test_reduction_gradients(loss):
    none, total, mean = (sklik_result(mismatch_case(loss, r)) for r in ("none", "sum", "mean"))
    n = 9  # (3,) against (3, 1) broadcasts to (3, 3)
    assert none["value"].shape == (3, 3)
    np.testing.assert_allclose(total["value"], none["value"].sum(), rtol=1e-15)
    np.testing.assert_allclose(mean["value"], total["value"] / n, rtol=1e-15)
    for grad in ("grad_input", "grad_var"):
        if loss != "GaussianNLLLoss" and grad == "grad_var":
            continue
        assert none[grad].shape == (3,)
        np.testing.assert_array_equal(none[grad], total[grad])
        np.testing.assert_allclose(mean[grad] * n, total[grad], rtol=1e-15)
