"""The designs of ``sklik._design``: every kind computes the products of the standardised
matrix it stands for, the objective's blocked evaluation equals the whole-column one, and
Newton's method with a sampled Hessian reaches the same optimum as with the exact one."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from loss_cases import LOSS_INSTANCES, loss_id, targets_for
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from sklik import LinearRegressor, _design, _objective
from sklik._design import (
    DenseDesign,
    ShiftedDenseDesign,
    SparseDesign,
    make_design,
    weighted_column_sums,
)
from sklik._models import LinearModel
from sklik._objective import Objective
from sklik.losses import PoissonNLLLoss


def _X(kind, n=300, p=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * [1.0, 3.0, 0.2, 10.0, 1.0] + [0.5, -2.0, 0.1, 30.0, 0.0]
    if kind == "offset":  # a timestamp-like column: the centred copy
        X[:, 3] += 1e7
    if kind == "sparse":
        X[rng.random(X.shape) < 0.7] = 0.0
        return sp.csr_array(X)
    return X


DESIGN_KINDS = {"shifted": ShiftedDenseDesign, "offset": DenseDesign, "sparse": SparseDesign}


@pytest.mark.parametrize("center", [True, False], ids=["centred", "uncentred"])
@pytest.mark.parametrize("weighted", ["equal", "broadcast", "weighted"])
@pytest.mark.parametrize("kind", DESIGN_KINDS)
def test_design_products_are_those_of_the_standardised_matrix(kind, weighted, center):
    """matmat, rmatmat, rmatvec, sandwich, gram, rows, block and rows_every against Z itself.

    ``broadcast``: equal weights as the estimators pass them, one number broadcast to n rows.
    """
    X = _X(kind)
    n, p = X.shape
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.2, 3.0, n) if weighted == "weighted" else np.ones(n)
    c = sw / sw.sum()
    c_design = _objective.normalised_weights(sw, sw.sum()) if weighted == "broadcast" else c
    assert (c_design.strides[0] == 0) == (weighted == "broadcast")
    design, mean, scale = make_design(X, c_design, center=center, gram=True)
    if center or kind != "offset":  # (without centring nothing cancels: no copy needed)
        assert type(design) is DESIGN_KINDS[kind]
    dense = X.toarray() if sp.issparse(X) else X
    Z = (dense - mean) / scale
    if center:  # (to the rounding of the column's mean, large for the offset column)
        assert_allclose(c @ Z, 0.0, atol=1e-12 * max(1.0, np.max(np.abs(mean / scale))))
        assert_allclose(c @ Z**2, 1.0, rtol=1e-12)
    assert_allclose(design.toarray(), Z, rtol=1e-12, atol=1e-12)
    for k in (1, 2, 3, 5):  # (2 and 3 vectors: one matrix-vector product each)
        C = rng.normal(size=(k, p))
        G = rng.normal(size=(n, k))
        assert_allclose(design.matmat(C), Z @ C.T, rtol=1e-11, atol=1e-11)
        assert_allclose(design.rmatmat(G), G.T @ Z, rtol=1e-11, atol=1e-11)
        out = np.empty((k, p))
        assert design.rmatmat(G, out=out) is out
        assert_allclose(out, G.T @ Z, rtol=1e-11, atol=1e-11)
    d = rng.uniform(0.0, 2.0, n)
    assert_allclose(design.rmatvec(d), Z.T @ d, rtol=1e-11, atol=1e-11)
    assert_allclose(design.sandwich(d), Z.T @ (d[:, None] * Z), rtol=1e-11, atol=1e-11)
    assert_allclose(design.sandwich(np.full(n, 0.5)), 0.5 * Z.T @ Z, rtol=1e-11, atol=1e-11)
    assert_allclose(design.rows(10, 20), Z[10:20], rtol=1e-12, atol=1e-12)
    assert_allclose(design.rows_every(7).toarray(), Z[::7], rtol=1e-12, atol=1e-12)
    if kind != "sparse":
        assert_allclose(design.block(50, 90).toarray(), Z[50:90], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 7, _design._GRAM_BLOCK_ROWS + 5, 3 * _design._GRAM_BLOCK_ROWS])
@pytest.mark.parametrize("equal", [True, False], ids=["broadcast", "vector"])
def test_weighted_column_sums_are_the_weighted_sums(n, equal):
    """Over row blocks, with a broadcast of one weight or a vector, with and without a map."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(n, 3)) * 1e3
    sw = np.full(n, 2.5) if equal else rng.uniform(0.0, 2.0, n)
    c = _objective.normalised_weights(sw, sw.sum() if n else 1.0)
    if n > 1:
        assert (c.strides[0] == 0) == equal
    assert_allclose(c, sw / (sw.sum() if n else 1.0), rtol=0)
    dense = np.array(c)
    assert_allclose(weighted_column_sums(c, A), dense @ A, rtol=1e-13, atol=1e-13)
    assert_allclose(
        weighted_column_sums(c, A, lambda rows: np.square(rows / 7.0 - 1.0)),
        dense @ np.square(A / 7.0 - 1.0),
        rtol=1e-13,
        atol=1e-13,
    )
    assert_allclose(
        _design._mean_squares(A, c, True), (dense @ A, dense @ A**2), rtol=1e-13, atol=1e-13
    )


def test_equal_weights_hold_no_n_array_during_a_fit():
    """A fit with equal weights keeps no n-array of weights alive (one number, broadcast).

    Each n-array alive during a fit raises the peak of the heap, which the C allocator gives
    back when the fit ends, so that the next fit pays a page fault per page to grow it again.
    The Poisson fit at this size holds sample_weight itself and the solution's outputs: the
    normalised weights of the data and of the objective were two more.
    """
    import tracemalloc

    n = 60_000
    X = _X("shifted", n=n)
    y = np.random.default_rng(2).poisson(np.exp(0.2 * X[:, 0] + 0.5)).astype(float)
    est = LinearRegressor("poisson_nll").fit(X, y)
    tracemalloc.start()
    try:
        est.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 8 * n


def test_shifted_design_is_chosen_only_where_the_shift_cancels_no_digits():
    """A column whose mean is far from its spread, a wide X, a constant column: the copy."""
    c = np.full(300, 1 / 300)
    assert isinstance(make_design(_X("shifted"), c, center=True)[0], ShiftedDenseDesign)
    assert isinstance(make_design(_X("offset"), c, center=True)[0], DenseDesign)
    wide = np.random.default_rng(0).normal(size=(10, 30))
    assert isinstance(make_design(wide, np.full(10, 0.1), center=True)[0], DenseDesign)
    constant = _X("shifted")
    constant[:, 2] = 4.0
    assert isinstance(make_design(constant, c, center=True)[0], DenseDesign)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["shifted", "offset", "huge", "wide", "sparse"])
@pytest.mark.parametrize("loss", ["mse", "poisson_nll", "huber"])
def test_nan_and_inf_in_x_are_rejected_by_every_design(kind, bad, loss):
    """The linear model checks X for NaN and inf in its design's pass (not in the validation).

    The implicit standardisation's moments reveal them; every other design (a centred copy,
    the careful path for huge magnitudes, a wide or a sparse X) checks first.
    """
    X = _X("offset" if kind == "offset" else "shifted", n=60)
    if kind == "huge":
        X = X * 1e300
    if kind == "wide":
        X = np.tile(X[:4], (1, 3))
    X[2, 1] = bad
    if kind == "sparse":
        X = sp.csr_array(X)
    y = np.arange(X.shape[0], dtype=float) % 5
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        LinearRegressor(loss, alpha=1.0).fit(X, y)


def test_fitting_never_writes_to_x():
    """The shifted design references the user's X: a read-only X fits, and stays as it was."""
    X = _X("shifted", n=40_000)
    X.setflags(write=False)
    before = X.copy()
    y = np.random.default_rng(2).poisson(np.exp(0.2 * X[:, 0] + 0.5)).astype(float)
    for loss in ("mse", "poisson_nll", "huber", "gaussian_nll"):
        LinearRegressor(loss).fit(X, y)
    assert np.array_equal(X, before)


# -- the objective over row blocks ----------------------------------------------------------


@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("loss", LOSS_INSTANCES, ids=loss_id)
def test_blocked_objective_equals_the_whole_columns(loss, n_targets):
    """Beyond ``_EVAL_BLOCK_ENTRIES`` raw outputs a design's row blocks are summed: the same
    value, gradient and Hessian as one pass over whole columns (an array X is not blocked),
    offset and weights included."""
    rng = np.random.default_rng(3)
    n, p = _objective._EVAL_BLOCK_ENTRIES + 1234, 3
    X = rng.normal(size=(n, p)) + 0.5
    y = targets_for(loss, (n, n_targets), rng)
    sw = rng.uniform(0.2, 2.0, n)
    offset = rng.normal(scale=0.1, size=(n, n_targets))
    design, _, _ = make_design(X, sw / sw.sum(), center=True)
    model = LinearModel(p, loss.n_params * n_targets)
    theta = model.init_params(0, loss.init_raw(y, sw).ravel()) + rng.normal(
        scale=0.1, size=model.n_coef
    )
    blocked = Objective(model, loss, design, y, sw, 0.3, offset=offset)
    whole = Objective(model, loss, design.toarray(), y, sw, 0.3, offset=offset)
    assert blocked._blocked and not whole._blocked
    value, grad = blocked(theta)
    value_ref, grad_ref = whole(theta)
    assert_allclose(value, value_ref, rtol=1e-12)
    assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-12 * np.max(np.abs(grad_ref)))
    if blocked.has_hessian:
        H, H_ref = blocked.hessian(theta), whole.hessian(theta)
        assert_allclose(H, H_ref, rtol=1e-9, atol=1e-12 * np.max(np.abs(H_ref)))


# -- Newton's method with a sampled Hessian ---------------------------------------------------

CURVED = [loss for loss in LOSS_INSTANCES if loss.has_curvature]


def _tall(loss, n, seed=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    eta = X @ [0.4, -0.3, 0.2, 0.1] + 0.5
    if loss.y_domain[0] >= 0:
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = eta + rng.standard_t(4, size=n) * np.exp(0.3 * X[:, 0])
    return X, y


def _exact_fit(monkeypatch, est, X, y, **kw):
    with monkeypatch.context() as m:
        m.setattr(Objective, "hessian_sample_step", property(lambda self: 1))
        return est.fit(X, y, **kw)


@pytest.mark.parametrize("loss", CURVED, ids=loss_id)
def test_sampled_hessian_newton_reaches_the_exact_optimum(loss, monkeypatch):
    """On tall data Newton starts with a sampled Hessian: the optimum is the exact Newton's."""
    n = 4 * _objective._HESSIAN_SAMPLE_MIN_ROWS + 100
    X, y = _tall(loss, n)
    sw = np.random.default_rng(5).uniform(0.5, 2.0, n)
    est = LinearRegressor(loss, solver="newton", alpha=1e-3, tol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sampled = est.fit(X, y, sample_weight=sw)
        theta_sampled = (sampled.coef_.copy(), sampled.objective_)
        exact = _exact_fit(monkeypatch, est, X, y, sample_weight=sw)
    assert_allclose(theta_sampled[1], exact.objective_, rtol=1e-12)
    assert_allclose(theta_sampled[0], exact.coef_, rtol=1e-6, atol=1e-8)


def test_sampled_hessian_estimates_the_hessian():
    """The sample's Hessian is the exact one up to a few percent; small data: the exact one."""
    n = 4 * _objective._HESSIAN_SAMPLE_MIN_ROWS + 100
    X, y = _tall(PoissonNLLLoss(), n)
    design, _, _ = make_design(X, np.full(n, 1 / n), center=True)
    model = LinearModel(4, 1)
    theta = np.array([0.3, -0.2, 0.1, 0.1, 0.4])
    objective = Objective(model, PoissonNLLLoss(), design, y[:, None], np.ones(n), 1e-3)
    assert objective.hessian_sample_step == 4
    H, Hs = objective.hessian(theta), objective.sampled_hessian(theta)
    L = np.linalg.cholesky(H)
    E = np.linalg.solve(L, np.linalg.solve(L, Hs).T) - np.eye(5)  # L^-1 Hs L^-T - I
    assert np.max(np.abs(np.linalg.eigvalsh(E))) < 0.1
    sample, ys = design.rows_every(8), y[::8, None]
    small = Objective(model, PoissonNLLLoss(), sample, ys, np.ones(len(ys)), 1e-3)
    assert small.hessian_sample_step == 1
    assert_allclose(small.sampled_hessian(theta), small.hessian(theta))


def test_a_sample_blind_to_a_feature_falls_back_to_the_exact_hessian(monkeypatch):
    """Every sampled row has the indicator at 0 (its column is constant in the sample): the
    sampled Hessian misleads, and the exact one takes over; the optimum is the exact Newton's."""
    n = 4 * _objective._HESSIAN_SAMPLE_MIN_ROWS + 100
    rng = np.random.default_rng(6)
    X = rng.normal(size=(n, 3))
    step = n // _objective._HESSIAN_SAMPLE_MIN_ROWS
    X[:, 2] = (np.arange(n) % step != 0) * 1.0  # 0 on every sampled row
    y = rng.poisson(np.exp(0.3 * X[:, 0] + 1.5 * X[:, 2] - 0.5)).astype(float)
    est = LinearRegressor("poisson_nll", solver="newton", tol=1e-9)
    exact_hessians = []
    hessian = Objective.hessian
    with warnings.catch_warnings(), monkeypatch.context() as m:
        warnings.simplefilter("error", ConvergenceWarning)
        m.setattr(
            Objective, "hessian", lambda self, th: exact_hessians.append(1) or hessian(self, th)
        )
        sampled = est.fit(X, y)
        coef, value, n_iter = sampled.coef_.copy(), sampled.objective_, sampled.n_iter_
    assert exact_hessians  # the fallback ran
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        exact = _exact_fit(monkeypatch, est, X, y)
    assert_allclose(value, exact.objective_, rtol=1e-12)
    assert_allclose(coef, exact.coef_, rtol=1e-6)
    assert n_iter <= 30
