"""NIST StRD certified linear regression problems.

On NIST's Statistical Reference Datasets for linear least squares (Norris, Pontius, NoInt1,
NoInt2, Filip, Longley, Wampler1-5), ``LinearRegressor("mse")`` must reproduce the certified
coefficients to at least 7 significant digits, measured by the log relative error
LRE = -log10(|estimate - certified| / |certified|) of the worst coefficient.

Where scikit-learn's ``LinearRegression`` itself gets fewer than 7 digits (Pontius, Filip,
Wampler1-5: its lstsq cut-off discards small singular values of these ill-conditioned
polynomial designs), the requirement falls back to sklik's LRE >= sklearn's - 0.5, as the claim
is "about as close as sklearn". As sklearn is far below 7 on Wampler1-5 (0.2 digits), that
bar is vacuous there, so a second test also holds sklik to what a plain backward-stable
float64 solve achieves on the same problem: Householder QR of the centred, column-scaled
design, the textbook method.

Data and certified values: ``tests/data/nist_*.csv`` and ``tests/data/nist_certified.json``
(provenance in their headers). Wampler1 and Wampler2 are generated exactly from their
defining polynomials. A first test proves the transcription: exact rational least squares on
the stored data reproduces every certified value to all of its 15 printed digits.
"""

import csv
import json
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from sklearn.linear_model import LinearRegression

from sklik import LinearRegressor

DATA = Path(__file__).parent / "data"
CERTIFIED = json.loads((DATA / "nist_certified.json").read_text(), parse_float=Decimal)["datasets"]
NAMES = list(CERTIFIED)
MIN_DIGITS = 7.0
MAX_LRE = 15.0  # NIST prints 15 significant digits


# -- data -------------------------------------------------------------------------------------


def _exact_data(name):
    """Response and predictor columns as exact rationals, from the CSV's decimal strings."""
    if name in ("Wampler1", "Wampler2"):
        c = Fraction(1) if name == "Wampler1" else Fraction(1, 10)
        x = [Fraction(i) for i in range(21)]
        y = [sum(c**k * xi**k for k in range(6)) for xi in x]
        return y, [x]
    with open(DATA / f"nist_{name.lower()}.csv", newline="") as f:
        rows = list(csv.reader(line for line in f if not line.startswith("#")))
    values = [[Fraction(v) for v in row] for row in rows[1:]]
    return [r[0] for r in values], [list(col) for col in zip(*(r[1:] for r in values), strict=True)]


def _exact_design(name):
    y, columns = _exact_data(name)
    degree = CERTIFIED[name]["degree"]
    if degree is not None:  # polynomial: columns x, x^2, ..., x^degree
        columns = [[xi**k for xi in columns[0]] for k in range(1, degree + 1)]
    return y, columns


def _float_problem(name):
    """The float64 problem any program sees: X (n, p), y (n,), certified (intercept first)."""
    y, columns = _exact_data(name)
    y = np.array([float(v) for v in y])
    X = np.array([[float(v) for v in col] for col in columns]).T.copy()  # C order
    degree = CERTIFIED[name]["degree"]
    if degree is not None:
        X = X[:, [0]] ** np.arange(1, degree + 1)
    certified = np.array([float(v) for v in CERTIFIED[name]["certified"]])
    return X, y, CERTIFIED[name]["fit_intercept"], certified


def _lre(estimate, certified):
    """Correct significant digits of the worst coefficient (NIST's log relative error)."""
    err = np.abs(np.asarray(estimate, float) - certified) / np.abs(certified)
    with np.errstate(divide="ignore"):
        digits = np.where(err == 0, MAX_LRE, -np.log10(err))
    return float(np.min(np.minimum(digits, MAX_LRE)))


def _params(est, fit_intercept):
    coef = np.atleast_1d(est.coef_)
    return np.r_[est.intercept_, coef] if fit_intercept else coef


# -- references -------------------------------------------------------------------------------


def _solve_exactly(A, b):
    """Gauss-Jordan elimination in rationals."""
    n = len(A)
    M = [row[:] + [rhs] for row, rhs in zip(A, b, strict=True)]
    for i in range(n):
        pivot = next(r for r in range(i, n) if M[r][i] != 0)
        M[i], M[pivot] = M[pivot], M[i]
        for r in range(n):
            if r != i and M[r][i] != 0:
                f = M[r][i] / M[i][i]
                M[r] = [a - f * c for a, c in zip(M[r], M[i], strict=True)]
    return [M[i][n] / M[i][i] for i in range(n)]


def _exact_least_squares(name):
    y, columns = _exact_design(name)
    if CERTIFIED[name]["fit_intercept"]:
        columns = [[Fraction(1)] * len(y), *columns]
    gram = [[sum(a * b for a, b in zip(u, v, strict=True)) for v in columns] for u in columns]
    rhs = [sum(a * b for a, b in zip(u, y, strict=True)) for u in columns]
    return _solve_exactly(gram, rhs)


def _qr_reference(X, y, fit_intercept):
    """Householder QR of the centred, column-scaled design: a backward-stable float64 solve."""
    x_mean = X.mean(axis=0) if fit_intercept else np.zeros(X.shape[1])
    y_mean = y.mean() if fit_intercept else 0.0
    A = X - x_mean
    norms = np.linalg.norm(A, axis=0)
    Q, R = np.linalg.qr(A / norms)
    coef = scipy.linalg.solve_triangular(R, Q.T @ (y - y_mean)) / norms
    return np.r_[y_mean - coef @ x_mean, coef] if fit_intercept else coef


def _lres(name, solver="auto"):
    X, y, fit_intercept, certified = _float_problem(name)
    est = LinearRegressor("mse", fit_intercept=fit_intercept, solver=solver).fit(X, y)
    assert est.n_iter_ == 1, "not the exact least-squares path (lstsq)"
    ref = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    return {
        "sklik": _lre(_params(est, fit_intercept), certified),
        "sklearn": _lre(_params(ref, fit_intercept), certified),
        "qr": _lre(_qr_reference(X, y, fit_intercept), certified),
    }


def _table(name, lres):
    return f"{name}: LRE sklik {lres['sklik']:.2f}, sklearn {lres['sklearn']:.2f}, " + (
        f"float64 QR {lres['qr']:.2f}"
    )


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_data_reproduce_certified_values_exactly(name):
    """The stored data are NIST's: their exact least-squares solution is the certified one."""
    beta = _exact_least_squares(name)
    certified = [Fraction(v) for v in CERTIFIED[name]["certified"]]
    assert len(beta) == len(certified)
    for b, c in zip(beta, certified, strict=True):
        err = abs(b - c) / abs(c)
        assert err == 0 or -math.log10(err) >= 14, (name, float(b), float(c))


@pytest.mark.parametrize("solver", ["auto", "lstsq"])
@pytest.mark.parametrize("name", NAMES)
def test_certified_coefficients(name, solver):
    """At least 7 correct digits wherever float64 can deliver them, whatever sklearn gets.

    Every dataset but Wampler5 is within reach of a backward-stable float64 solve (QR gets
    >= 7 digits); there sklik must reach 7. Wampler5 is beyond it for standard methods (QR:
    6.5 digits; sklearn's LinearRegression gets 7.6 with scikit-learn 1.8 and 0.2 with 1.9 on
    the same data: rounding luck, as reordering rows moves any solver by ~1.5 digits), so
    there sklik must be within a digit of QR. sklearn's figure is reported, not required.
    """
    lres = _lres(name, solver)
    required = MIN_DIGITS if lres["qr"] >= MIN_DIGITS else lres["qr"] - 1.0
    assert lres["sklik"] >= required, _table(name, lres)


@pytest.mark.parametrize("name", NAMES)
def test_certified_digits_match_a_float64_qr_solve(name):
    """At least 7 digits wherever a backward-stable float64 solve gets them.

    The reference is Householder QR of the centred, column-scaled design. On the Wampler and
    Filip problems any float64 result moves by up to ~1.5 digits with mere rounding (e.g. the
    order of the rows), so the reference is given a full digit of slack: the requirement is
    min(7, LRE_qr - 1). Only Wampler5 is below 7 for every standard method (QR: 6.5).
    """
    lres = _lres(name)
    required = min(MIN_DIGITS, lres["qr"] - 1.0)
    assert lres["sklik"] >= required, _table(name, lres)
