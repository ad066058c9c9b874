r"""The data seam: what the objective reduces over.

A *design* is the matrix :math:`Z` that a linear model multiplies: the user's ``X`` after
sklik's internal standardisation

.. math::

    Z = (X - \mathbf 1 m^\top)\,\operatorname{diag}(1/s),

with :math:`m` the weighted column means (zero without an intercept) and :math:`s` the
weighted column standard deviations (root mean squares without an intercept; 1 for a column
that is constant). Fitting on :math:`Z` and mapping the coefficients back
(:math:`w = v / s`, :math:`b = b_Z - w^\top m`) makes a fit independent of the units and the
origin of the features, and gives every iterative solver a well-scaled problem.

Where the design lives changes only *how* the products below are computed, never the model,
the loss, the objective or the solver::

    estimator ── validates X, picks the kind ──▶ make_design(X, ...) ─▶ ShiftedDenseDesign
                                                                     ├▶ DenseDesign
                                                                     └▶ SparseDesign
    LinearModel.forward / backward / gauss_newton ── Z @ C.T, G.T @ Z, Z.T diag(d) Z
    Objective(model, loss, design, y, weights, offset, penalty)
    solvers ── see only the Objective ──▶ scipy.optimize

- :class:`ShiftedDenseDesign` references a dense ``X`` without copying it and applies the
  shift and the scale inside every product, when that cancels no digits: every column's
  mean within 16 standard deviations of 0 (most features, and every standardised one).
- :class:`DenseDesign` stores the standardised copy of a dense ``X`` otherwise (an offset
  column such as a timestamp or a year, a constant column, more columns than rows): the
  centring is done once, in float64, which keeps the digits that an implicit shift would
  cancel.
- :class:`SparseDesign` keeps a scipy sparse ``X`` as it is and applies the shift and the
  scale inside every product (as tabmat's ``StandardizedMatrix`` and scikit-learn's sparse
  ``_preprocess_data`` do), so the design is never densified.

Every design provides ``shape``, ``matmat(C, bias=None)`` (:math:`Z C^\top`, plus a bias
in the same pass), ``rmatmat(G)`` (:math:`G^\top Z`), ``rmatvec(d)`` (:math:`Z^\top d`),
``sandwich(d)`` (:math:`Z^\top \operatorname{diag}(d) Z`), ``rows(start, stop)`` (a dense
block of rows, for the MLP), ``rows_every(step)`` (the design of every ``step``-th row: a
sampled Hessian) and ``toarray()``; the dense designs also ``block(start, stop)`` (the design
of a block of rows, a view: the objective reduces over cache-sized blocks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DenseDesign",
    "ShiftedDenseDesign",
    "SparseDesign",
    "column_moments",
    "make_design",
    "is_equal_weights",
    "weighted_column_sums",
]

# Rows per block when a dense design accumulates Z^T diag(d) Z (measured on 10^5 x 20:
# 8192-16384 rows is fastest with syrk).
_GRAM_BLOCK_ROWS = 8192


def column_moments(X: Any, c: np.ndarray, center: bool) -> tuple[np.ndarray, np.ndarray]:
    r"""Weighted column means and standard deviations, robust to huge and tiny values.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
        Finite data.
    c : ndarray of shape (n_samples,)
        Non-negative weights summing to 1.
    center : bool
        Whether to centre: the means are the weighted means, else zeros and the "standard
        deviations" are root mean squares.

    Returns
    -------
    mean : ndarray of shape (n_features,)
    scale : ndarray of shape (n_features,)
        Positive; 1 for a column that is constant (zero after centring) on the positively
        weighted rows. Each column is divided by its largest absolute value before squaring,
        so values up to the float64 maximum neither overflow nor underflow.
    """
    mean, scale, _ = _column_moments(X, c, center)
    return mean, scale


# A column whose spread is within this factor of its magnitude is checked for being exactly
# constant (the rounding of its weighted mean leaves a residue that grows with the number of
# rows: 200 ulps at 6000 rows)
_NEARLY_CONSTANT = 1e-9


def _constant_columns(X: Any, c: np.ndarray, std: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Mask of the columns that are constant on the positively weighted rows.

    A column's spread at rounding level of its magnitude marks it constant; a column whose
    spread is below ``_NEARLY_CONSTANT`` of its magnitude is compared value by value (rare:
    only those columns are read).
    """
    magnitude = np.maximum(np.abs(mean), 1e-300)
    constant = std <= 16 * np.finfo(np.float64).eps * magnitude
    check = np.flatnonzero(~constant & (std <= _NEARLY_CONSTANT * magnitude))
    if check.size:
        rows = np.flatnonzero(c > 0)
        block = X[rows][:, check]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        constant[check] = np.all(block == block[:1], axis=0)
    return constant


def _column_moments(X: Any, c: np.ndarray, center: bool) -> tuple[np.ndarray, ...]:
    """:func:`column_moments` and the mask of the constant columns."""
    n_features = X.shape[1]
    if sp.issparse(X):
        Xr = sp.csr_array(X)
        moments = _sparse_moments_direct(Xr, c, center)
        if moments is not None:
            mean_s, var_s = moments
            amax = np.ones(n_features)
        else:
            Xc = Xr.tocsc()
            amax = np.zeros(n_features)
            nonempty = np.flatnonzero(np.diff(Xc.indptr))
            if nonempty.size:  # column maxima of a CSC matrix: linear in nnz
                amax[nonempty] = np.maximum.reduceat(np.abs(Xc.data), Xc.indptr[nonempty])
            amax[amax == 0] = 1.0
            S = Xc @ sp.diags_array(1.0 / amax)
            mean_s = S.T @ c if center else np.zeros(n_features)
            sq = S.multiply(S).T @ c
            var_s = np.maximum(sq - mean_s**2, 0.0)
    else:
        amax = np.max(np.abs(X), axis=0) if X.shape[0] else np.ones(n_features)
        amax = np.where(amax > 0, amax, 1.0)
        S = X / amax
        mean_s = c @ S if center else np.zeros(n_features)
        R = S - mean_s if center else S
        var_s = c @ (R * R)
    std_s = np.sqrt(var_s)
    constant = _constant_columns(X, c, std_s, mean_s) if center else std_s == 0
    scale = np.where(constant, 1.0, std_s * amax)
    return mean_s * amax, scale, constant


# Sparse data whose non-zero magnitudes lie within [2^-400, 2^400] have squares far from
# float64's overflow and underflow: their moments need no scaling by the column maxima.
_DIRECT_MOMENTS_RANGE = (2.0**-400, 2.0**400)


def _sparse_moments_direct(
    X: sp.csr_array, c: np.ndarray, center: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Weighted means and variances of a CSR ``X`` without scaling, or None if unsafe.

    :math:`m = X^\top c` and :math:`v = (X \circ X)^\top c - m^2` (a few passes over the
    non-zeros, no Python loop over the columns), when every non-zero magnitude lies in
    ``_DIRECT_MOMENTS_RANGE``; otherwise the caller scales each column by its maximum first.
    """
    data = X.data
    with np.errstate(over="ignore", under="ignore"):  # detected just below
        squares = data * data
    if data.size:
        low, high = _DIRECT_MOMENTS_RANGE
        if not np.max(squares) <= high * high:
            return None
        # (the masked minimum only when some square is small: explicit zeros, or tiny values)
        if not np.min(squares) >= low * low and not (
            np.min(squares, where=data != 0, initial=high * high) >= low * low
        ):
            return None
    n_features = X.shape[1]
    mean = X.T @ c if center else np.zeros(n_features)
    sq = sp.csr_array((squares, X.indices, X.indptr), shape=X.shape).T @ c
    return mean, np.maximum(sq - mean**2, 0.0)


class DenseDesign:
    """A dense standardised design :math:`Z`, stored as a C-contiguous float64 array.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        The standardised data (owned by the design).
    """

    kind = "dense"
    explicit = True  # Z is stored (least squares may factor it)

    def __init__(self, Z: np.ndarray) -> None:
        self.Z = np.ascontiguousarray(Z, dtype=np.float64)
        self.shape = self.Z.shape
        # Z^T Z, computed once when first needed: a fit and its covariance both use it
        self._gram: np.ndarray | None = None

    def gram(self) -> np.ndarray:
        r""":math:`Z^\top Z` (computed once per design, then reused; not to be modified)."""
        if self._gram is None:
            self._gram = self._sandwich(None)
        return self._gram

    def matmat(self, C: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        r""":math:`Z C^\top + \mathbf 1 b^\top`: shape (n_samples, k).

        ``C`` has shape (k, n_features), the ``bias`` :math:`b` shape (k,) (None: 0).
        """
        out = _times(self.Z, C)
        if bias is not None:
            out += bias
        return out

    def rmatmat(
        self, G: np.ndarray, out: np.ndarray | None = None, column_sums: np.ndarray | None = None
    ) -> np.ndarray:
        r""":math:`G^\top Z` for ``G`` of shape (n_samples, k): shape (k, n_features).

        ``column_sums``: ``G.sum(axis=0)`` where the caller has it (an implicitly
        standardised design needs it for the shift; the model's intercept gradient is it).
        """
        return _times_transposed(G, self.Z, out)

    def rmatvec(self, d: np.ndarray) -> np.ndarray:
        r""":math:`Z^\top d`: shape (n_features,)."""
        return self.Z.T @ d

    def sandwich(self, d: np.ndarray) -> np.ndarray:
        r""":math:`Z^\top \operatorname{diag}(d)\, Z` for ``d >= 0`` of shape (n_samples,).

        Summed over cache-sized row blocks of :math:`A_b = \sqrt{d_b}\,Z_b`, which never
        materialises the n-by-p product (half the time of ``Z.T @ (d[:, None] * Z)`` at
        n = 10^6). Equal weights use the cached :meth:`gram`.
        """
        if d.size and np.all(d == d[0]):
            return self.gram() * d[0]
        return self._sandwich(d)

    def _sandwich(self, d: np.ndarray | None) -> np.ndarray:
        if d is None:  # the plain Gram matrix
            return _syrk(self.Z)
        return _weighted_sandwich(self.Z, d)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Dense rows ``start:stop`` of :math:`Z` (a view)."""
        return self.Z[start:stop]

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Dense rows ``indices`` of :math:`Z` (a copy)."""
        return self.Z[indices]

    def block(self, start: int, stop: int) -> DenseDesign:
        """The design of rows ``start:stop`` (a view)."""
        return DenseDesign(self.Z[start:stop])

    def rows_every(self, step: int) -> DenseDesign:
        """The design of every ``step``-th row (a strided view), for a sampled Hessian."""
        return DenseDesign(self.Z[::step])

    def toarray(self) -> np.ndarray:
        """:math:`Z` as a dense array (no copy)."""
        return self.Z


# Products with 2 or 3 vectors are done one matrix-vector product at a time: OpenBLAS's gemm
# with so few columns is 2x slower than that many gemv (measured on 32768 x 20 blocks).
_MAX_VECTOR_LOOP = 3


def _times(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    r""":math:`X C^\top` for ``C`` of shape (k, p): shape (n, k)."""
    k = C.shape[0]
    if not C.any():  # a constant model (the cold start): no pass over the finite X
        return np.zeros((X.shape[0], k))
    if 1 < k <= _MAX_VECTOR_LOOP:
        out = np.empty((k, X.shape[0]))
        for j in range(k):
            np.matmul(X, C[j], out=out[j])
        return out.T
    return X @ C.T


def _times_transposed(G: np.ndarray, X: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    r""":math:`G^\top X` for ``G`` of shape (n, k): shape (k, p), into ``out`` if given."""
    k = G.shape[1]
    if 1 < k <= _MAX_VECTOR_LOOP:
        res = np.empty((k, X.shape[1])) if out is None else out
        for j in range(k):
            res[j] = G[:, j] @ X
        return res
    return np.matmul(G.T, X, out=out)


def _syrk(Z: np.ndarray) -> np.ndarray:
    r""":math:`Z^\top Z`, exactly symmetric, by BLAS ``syrk`` (half a general product's flops).

    numpy's product of an array with its own transpose is ``syrk`` with the other triangle
    mirrored; at 10^5 x 20 it took 2.4-3.1 ms against 3.3-5.4 ms for scipy's ``dsyrk``
    wrapper (OpenBLAS 0.3.31, one thread).
    """
    return Z.T @ Z


def _weighted_sandwich(X: np.ndarray, d: np.ndarray) -> np.ndarray:
    r""":math:`X^\top \operatorname{diag}(d)\, X` for ``d >= 0``, by ``syrk`` on row blocks.

    Summed over cache-sized row blocks of :math:`A_b = \sqrt{d_b}\,X_b`, which never
    materialises the n-by-p product (half the time of ``X.T @ (d[:, None] * X)`` at
    n = 10^6).
    """
    n, p = X.shape
    root = np.sqrt(d)[:, np.newaxis]
    H = np.zeros((p, p))
    block = np.empty((min(_GRAM_BLOCK_ROWS, n), p))
    for start in range(0, n, _GRAM_BLOCK_ROWS):
        stop = min(start + _GRAM_BLOCK_ROWS, n)
        A = np.multiply(X[start:stop], root[start:stop], out=block[: stop - start])
        H += _syrk(A)
    return H


class ShiftedDenseDesign:
    r"""A dense design standardised implicitly: :math:`Z = (X - \mathbf 1 m^\top) / s`.

    The user's ``X`` is referenced, never copied nor written: the shift and the scale enter
    every product, as in :class:`SparseDesign`. :func:`make_design` chooses it only when the
    shift cancels no significant digits, i.e. every column's mean is within
    ``_IMPLICIT_MAX_SHIFT`` of its standard deviation (then
    :math:`Z^\top D Z = S^{-1}(X^\top D X - x_d m^\top - m x_d^\top + (\textstyle\sum d)\,
    m m^\top)S^{-1}` loses at most a factor ``_IMPLICIT_MAX_SHIFT**2`` of the rounding of
    its terms), and with at least as many rows as columns. It saves the n-by-p copy: the
    memory of a second X, and about five passes' time.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, float64 (referenced).
    mean, scale : ndarray of shape (n_features,)
        The shift :math:`m` and the positive scale :math:`s`.
    """

    kind = "dense"
    explicit = False

    def __init__(self, X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> None:
        self.X = X
        self.mean = mean
        self.scale = scale
        self.inv_scale = 1.0 / scale
        self.shift = mean * self.inv_scale  # m / s
        self._shifted = bool(self.shift.any())
        self.shape = X.shape
        self._gram: np.ndarray | None = None
        # Z^T 1 where known without a pass: 0 when m is X's unweighted column mean
        self._column_sums: np.ndarray | None = None

    def gram(self) -> np.ndarray:  # noqa: D102 (see DenseDesign)
        if self._gram is None:
            self._gram = self._sandwich(None)
        return self._gram

    def matmat(self, C: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:  # noqa: D102
        out = _times(self.X, C * self.inv_scale)
        constant = -(C @ self.shift) if bias is None else bias - C @ self.shift
        if constant.any():  # the shift and the bias in one pass
            out += constant
        return out

    def rmatmat(  # noqa: D102
        self, G: np.ndarray, out: np.ndarray | None = None, column_sums: np.ndarray | None = None
    ) -> np.ndarray:
        res = _times_transposed(G, self.X, out)
        res *= self.inv_scale
        if self._shifted:
            sums = G.sum(axis=0) if column_sums is None else column_sums
            res -= sums[:, np.newaxis] * self.shift
        return res

    def rmatvec(self, d: np.ndarray) -> np.ndarray:  # noqa: D102
        if self._column_sums is not None and d.size and np.all(d == d[0]):
            return self._column_sums * d[0]
        return (self.X.T @ d) * self.inv_scale - self.shift * d.sum()

    def sandwich(self, d: np.ndarray) -> np.ndarray:  # noqa: D102
        if d.size and np.all(d == d[0]):
            return self.gram() * d[0]
        return self._sandwich(d)

    def _sandwich(self, d: np.ndarray | None) -> np.ndarray:
        X, m = self.X, self.mean
        if d is None:  # the plain Gram matrix
            H = _syrk(X)
            # (a product with ones: X.sum(axis=0) reduces along the strided axis, 3x slower)
            xd, total = np.ones(X.shape[0]) @ X, float(X.shape[0])
        else:
            H = _weighted_sandwich(X, d)
            xd, total = X.T @ d, float(d.sum())
        if m.any():
            cross = np.outer(xd, m)
            H -= cross + cross.T
            H += total * np.outer(m, m)
        return H * np.outer(self.inv_scale, self.inv_scale)

    def rows(self, start: int, stop: int) -> np.ndarray:  # noqa: D102
        return (self.X[start:stop] - self.mean) * self.inv_scale

    def take(self, indices: np.ndarray) -> np.ndarray:  # noqa: D102
        return (self.X[indices] - self.mean) * self.inv_scale

    def block(self, start: int, stop: int) -> ShiftedDenseDesign:  # noqa: D102
        return ShiftedDenseDesign(self.X[start:stop], self.mean, self.scale)

    def rows_every(self, step: int) -> ShiftedDenseDesign:  # noqa: D102
        return ShiftedDenseDesign(self.X[::step], self.mean, self.scale)

    def toarray(self) -> np.ndarray:  # noqa: D102
        return self.rows(0, self.shape[0])


class SparseDesign:
    r"""A sparse design standardised implicitly: :math:`Z = (X - \mathbf 1 m^\top) / s`.

    ``X`` stays sparse (CSR); the shift and scale enter every product:
    :math:`Z C^\top = X (C/s)^\top - \mathbf 1\, (m/s)^\top C^\top`,
    :math:`G^\top Z = (X^\top G)^\top / s - (\mathbf 1^\top G)^\top (m/s)^\top`.

    Parameters
    ----------
    X : scipy sparse matrix or array of shape (n_samples, n_features)
        The data, float64.
    mean, scale : ndarray of shape (n_features,)
        The shift :math:`m` and the scale :math:`s`.
    """

    kind = "sparse"
    explicit = False

    def __init__(self, X: Any, mean: np.ndarray, scale: np.ndarray) -> None:
        self.X = sp.csr_array(X, dtype=np.float64)
        self.inv_scale = 1.0 / scale
        self.shift = mean * self.inv_scale  # m / s
        self.shape = self.X.shape
        # Z^T Z, once computed (a constant d in sandwich: least squares and its covariance)
        self._gram: np.ndarray | None = None
        # the weighted mean squares of Z's columns under the weights of the standardisation
        # (1, or 0 for a constant column), when make_design knows them; an estimate is enough
        # (a preconditioner of the sparse least squares), None means unknown
        self.column_sq: np.ndarray | None = None

    def matmat(self, C: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:  # noqa: D102
        Cs = C * self.inv_scale
        out = np.asarray(self.X @ Cs.T)
        out += -(C @ self.shift) if bias is None else bias - C @ self.shift
        return out

    def rmatmat(  # noqa: D102
        self, G: np.ndarray, out: np.ndarray | None = None, column_sums: np.ndarray | None = None
    ) -> np.ndarray:
        res = np.asarray(self.X.T @ G).T * self.inv_scale
        res -= np.outer(G.sum(axis=0) if column_sums is None else column_sums, self.shift)
        if out is not None:
            out[...] = res
            return out
        return res

    def rmatvec(self, d: np.ndarray) -> np.ndarray:  # noqa: D102
        return np.asarray(self.X.T @ d) * self.inv_scale - self.shift * d.sum()

    def sandwich(self, d: np.ndarray) -> np.ndarray:  # noqa: D102
        if d.size and d[0] == d[-1] and np.all(d == d[0]):  # equal weights: Z^T Z, cached
            if self._gram is None:
                self._gram = self._sandwich(np.ones(d.size))
            return self._gram * d[0]
        return self._sandwich(d)

    def _sandwich(self, d: np.ndarray) -> np.ndarray:
        # X^T D X - (X^T d) m'^T - m' (X^T d)^T + (sum d) m' m'^T, all over s s^T
        Xd = self.X.multiply(d[:, np.newaxis]).tocsr()
        XtDX = (self.X.T @ Xd).toarray() * np.outer(self.inv_scale, self.inv_scale)
        xd = np.asarray(self.X.T @ d) * self.inv_scale
        m = self.shift
        return XtDX - np.outer(xd, m) - np.outer(m, xd) + d.sum() * np.outer(m, m)

    def rows(self, start: int, stop: int) -> np.ndarray:  # noqa: D102
        return self.take(slice(start, stop))

    def take(self, indices: Any) -> np.ndarray:  # noqa: D102
        block = self.X[indices].toarray() * self.inv_scale
        block -= self.shift
        return block

    def rows_every(self, step: int) -> SparseDesign:  # noqa: D102
        sample = SparseDesign(self.X[::step], np.zeros(self.shape[1]), np.ones(self.shape[1]))
        sample.inv_scale, sample.shift = self.inv_scale, self.shift
        return sample

    def toarray(self) -> np.ndarray:  # noqa: D102
        return self.rows(0, self.shape[0])


# The implicit standardisation is used when every column's |mean| is at most this many standard
# deviations: the centred Gram matrix X^T D X - ... then loses at most 2^8 ulps of its terms.
_IMPLICIT_MAX_SHIFT = 16.0


def _block_weights(c: np.ndarray, start: int, stop: int, equal: np.ndarray | None) -> np.ndarray:
    """``c[start:stop]`` as a contiguous vector (``equal``: the broadcast's block of it)."""
    return c[start:stop] if equal is None else equal[: stop - start]


def gram_known(design: Any) -> bool:
    r"""Whether ``design`` holds its Gram matrix :math:`Z^\top Z` (no pass to ask for it)."""
    return getattr(design, "_gram", None) is not None


def is_equal_weights(c: np.ndarray) -> bool:
    """Whether the normalised weights ``c`` are one number broadcast to the rows (stride 0).

    See :func:`sklik._objective.normalised_weights`.
    """
    return bool(c.size) and c.strides[0] == 0


def _equal_block(c: np.ndarray) -> np.ndarray | None:
    """For weights broadcast from one number, a contiguous block of it (else None).

    BLAS takes no vector of stride 0, and NumPy's product without BLAS is 5x slower: the
    blocked sums multiply by a block-sized copy instead of an n-vector.
    """
    if is_equal_weights(c):
        return np.full(min(_GRAM_BLOCK_ROWS, c.shape[0]), c[0])
    return None


def weighted_column_sums(
    c: np.ndarray, A: np.ndarray, transform: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
    r""":math:`\sum_i c_i f(a_i)_j` per column, for ``c`` an n-vector or a broadcast of one number.

    ``transform`` :math:`f` (None: the identity) maps a block of rows of ``A`` to as many rows:
    the sum is taken over row blocks, so that no n-row temporary is made. The broadcast (equal
    weights, see :func:`sklik._objective.normalised_weights`) multiplies by a block-sized
    vector of its value, never an n-vector.
    """
    equal = _equal_block(c)
    if equal is None and transform is None:
        return c @ A
    out = np.zeros(A.shape[1:])
    for start in range(0, A.shape[0], _GRAM_BLOCK_ROWS):
        stop = min(start + _GRAM_BLOCK_ROWS, A.shape[0])
        rows = A[start:stop] if transform is None else transform(A[start:stop])
        out += _block_weights(c, start, stop, equal) @ rows
    return out


def _mean_squares(X: np.ndarray, c: np.ndarray, center: bool) -> tuple[np.ndarray, np.ndarray]:
    r"""The weighted means :math:`\sum_i c_i x_{ij}` (0 unless ``center``) and mean squares.

    :math:`\sum_i c_i x_{ij}^2` per column, in one pass over cache-sized row blocks (each
    block is read from memory once, for both sums; no n-by-p copy). ``c`` may be a broadcast
    of one number (equal weights).
    """
    n, p = X.shape
    mean, out = np.zeros(p), np.zeros(p)
    block = np.empty((min(_GRAM_BLOCK_ROWS, n), p))
    equal = _equal_block(c)
    for start in range(0, n, _GRAM_BLOCK_ROWS):
        stop = min(start + _GRAM_BLOCK_ROWS, n)
        rows, cb = X[start:stop], _block_weights(c, start, stop, equal)
        if center:
            mean += cb @ rows
        out += cb @ np.multiply(rows, rows, out=block[: stop - start])
    return mean, out


def _shifted_design(
    X: np.ndarray, c: np.ndarray, center: bool, gram: bool = False
) -> tuple[ShiftedDenseDesign, np.ndarray, np.ndarray] | None:
    r""":func:`make_design` without a copy of ``X``: a :class:`ShiftedDenseDesign`.

    The moments come from the raw mean squares, :math:`v = \overline{x^2} - m^2` (with
    ``gram`` and equal weights, the diagonal of :math:`X^\top X`, kept as the design's Gram
    matrix once centred and scaled), which is accurate when :math:`|m| \le 16 s`. None when
    that fails for a column (an offset column such as a timestamp, a constant column), when
    squares overflow or underflow, for a wide ``X`` (more columns than rows: the wide least
    squares works on the explicit design) or for a dtype other than float64: then the centred
    copy (:func:`_dense_standardized`) or the careful path decides.
    """
    n, p = X.shape
    if n == 0 or n < p or X.dtype != np.float64:
        return None
    equal = gram and bool(np.all(c == c[0]))
    raw_gram = None
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if equal:
            mean = weighted_column_sums(c, X) if center else np.zeros(p)
            raw_gram = _syrk(X)
            squares = np.diag(raw_gram) * c[0]
        else:
            mean, squares = _mean_squares(X, c, center)
        var = squares - mean * mean
        ok = (
            np.all(np.isfinite(squares))
            and np.all(var > 1e-280)
            and np.all(mean * mean <= _IMPLICIT_MAX_SHIFT**2 * var)
        )
    if not ok:
        return None
    scale = np.sqrt(var)
    design = ShiftedDenseDesign(X, mean, scale)
    if raw_gram is not None:  # Z^T Z = S^-1 (X^T X - n m m^T) S^-1 (equal weights: X^T 1 = n m)
        centred = raw_gram - n * np.outer(mean, mean)
        design._gram = centred * np.outer(design.inv_scale, design.inv_scale)
        if center:  # the columns are centred at their plain means: Z^T 1 = 0
            design._column_sums = np.zeros(p)
    return design, mean, scale


def _dense_standardized(
    X: np.ndarray, c: np.ndarray, center: bool, gram: bool = False
) -> tuple[DenseDesign, np.ndarray, np.ndarray] | None:
    r""":func:`make_design` for a dense ``X`` of moderate magnitude, with a single copy.

    The centred copy is both the design and the two-pass variance's residual (what
    :func:`column_moments` computes on the max-scaled copy). With ``gram`` and equal weights
    the variances are the diagonal of the centred copy's Gram matrix :math:`G` (one ``syrk``,
    no separate pass: 20% less time than a variance pass and a Gram matrix of the scaled
    copy), and the design's Gram matrix :math:`D G D`, :math:`D = \operatorname{diag}(1/s)`,
    is cached for the least-squares solve and the covariance. None when ``|X|`` is so large
    or so small that the squares overflow or underflow, or when a column is constant: then
    :func:`column_moments` scales first and decides.
    """
    if X.shape[0] == 0:
        return None
    equal = gram and bool(np.all(c == c[0]))
    gram = None
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        mean = c @ X if center else np.zeros(X.shape[1])
        Z = np.subtract(X, mean, dtype=np.float64) if center else np.array(X, dtype=np.float64)
        if equal:  # the Gram matrix of the centred copy: its diagonal gives the variances
            gram = _syrk(Z)
            var = np.diag(gram) * c[0]
        else:
            var = np.einsum("i,ij,ij->j", c, Z, Z)
    std = np.sqrt(var)
    if not np.all(np.isfinite(std) & (std > 1e-140)):
        return None  # overflow, underflow or a constant column: the careful path decides
    constant = _constant_columns(X, c, std, mean) if center else std == 0
    scale = np.where(constant, 1.0, std)
    Z /= scale
    if center:
        Z[:, constant] = 0.0
    design = DenseDesign(Z)
    if gram is not None:  # the scaled design's Gram matrix is D G D, D = diag(1 / scale)
        inv = np.where(constant, 0.0, 1.0 / scale) if center else 1.0 / scale
        design._gram = gram * np.outer(inv, inv)
    return design, mean, scale


def make_design(
    X: Any,
    c: np.ndarray,
    *,
    center: bool,
    standardize: bool = True,
    gram: bool = False,
    check_finite: Callable[[Any], None] | None = None,
) -> tuple[DenseDesign | SparseDesign, np.ndarray, np.ndarray]:
    r"""Build the standardised design of ``X``.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
        Validated, finite float64 data.
    c : ndarray of shape (n_samples,)
        Sample weights normalised to sum 1.
    center : bool
        Centre the columns (only with an intercept, which absorbs the shift).
    standardize : bool, default=True
        If False the design is ``X`` itself (mean 0, scale 1).
    gram : bool, default=False
        Whether the fit will use the Gram matrix :math:`Z^\top Z` (least squares and the
        covariance of mse, huber, smooth_l1 and l1): a dense design with equal weights then
        gets it while it is standardised, its diagonal replacing the variance pass.
    check_finite : callable, default=None
        For an ``X`` not yet checked for NaN and inf: raises if it has any. The implicit
        standardisation (:class:`ShiftedDenseDesign`) does not call it: its column moments,
        over every entry, are finite only if every entry is (one pass over X fewer than a
        separate check). Every other design calls it before its arithmetic.

    Returns
    -------
    design : DenseDesign or SparseDesign
    mean, scale : ndarray of shape (n_features,)
        Map the coefficients back: ``coef = coef_Z / scale``,
        ``intercept = intercept_Z - coef @ mean``.
    """
    n_features = X.shape[1]
    if check_finite is not None and not (standardize and not sp.issparse(X)):
        check_finite(X)
    if sp.issparse(X):
        X = sp.csr_array(X, dtype=np.float64)  # once, for the moments and the design
    if standardize and not sp.issparse(X):
        fast = _shifted_design(X, c, center, gram)
        if fast is None and check_finite is not None:
            check_finite(X)
        if fast is None:
            # the copies below multiply by c: the n-vector (equal weights are a broadcast)
            c = np.ascontiguousarray(c)
            fast = _dense_standardized(X, c, center, gram)
        if fast is not None:
            return fast
    if standardize:
        mean, scale, constant = _column_moments(X, np.ascontiguousarray(c), center)
    else:
        mean, scale = np.zeros(n_features), np.ones(n_features)
        constant = np.zeros(n_features, dtype=bool)
    # a constant column is exactly zero once centred (its weighted mean may round off its value
    # and leave a constant 1e-16 relative residue, collinear with the intercept)
    constant &= center
    if sp.issparse(X):
        design = SparseDesign(X, mean, scale)
        design.inv_scale[constant] = 0.0
        design.shift[constant] = 0.0
        if standardize:  # unit variance (root mean square without centring), or zero
            design.column_sq = np.where(constant | (design.inv_scale == 0), 0.0, 1.0)
        return design, mean, scale
    Z = np.subtract(X, mean, dtype=np.float64) if center else np.array(X, dtype=np.float64)
    Z /= scale
    Z[:, constant] = 0.0
    return DenseDesign(Z), mean, scale
