r"""Exact least-absolute-deviations (median) regression by the Frisch--Newton method.

:func:`frisch_newton` solves :math:`\min_{\beta, b} \sum_i c_i |y_i - x_i^\top \beta - b|`
for one target with the primal--dual interior-point method of Portnoy and Koenker (1997)
(R quantreg's ``rq.fit.fnb``), then moves to an exact optimal vertex of the linear program
(a basis of observations that the fit interpolates) and certifies it by the subgradient
optimality condition, pivoting with exact line searches (Barrodale--Roberts-type steps) when
the first basis is not optimal.

The iterations are written once, for rows held in blocks: every per-row quantity is reduced
to sums and minima per block (see the section "the Frisch--Newton iterations, block by
block"), so that :mod:`sklik._dask` runs the same method over the row chunks of a dask array,
with the same arithmetic, three passes per iteration::

    _ipm_passes (client) ── yields a pass ──▶ _pass_state / _pass_affine / _pass_corrector
           ▲                                   (per block: the whole array, or one chunk)
           └──────── _Partial (sums, minima, candidate rows; blocks combined by +) ◀┘
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize

__all__ = ["certified_vertex", "frisch_newton"]

# Mehrotra's step-length damping (quantreg's ``beta``)
_STEP = 0.99995
# relative duality gap at which a vertex is first tried
_TRY_VERTEX_GAP = 1e-3
# tolerance on the multipliers |u_j| <= 1 of the optimality certificate
_CERT_TOL = 1e-10
# reciprocal condition number below which a basis or the Gram matrix counts as singular
_RCOND_MIN = 1e-13
_MAX_PIVOTS = 200
# residuals below this times max |v| count as exact ties with the fit
_ZERO_TOL = 1e-13
# largest number of tied observations for the degenerate optimality check
_MAX_TIED = 50_000


def _lad_objective(Z: np.ndarray, v: np.ndarray, beta: np.ndarray) -> float:
    return float(np.abs(v - Z @ beta).sum())


def _max_step(x: np.ndarray, dx: np.ndarray) -> float:
    """Largest ``t`` with ``x + t dx >= 0`` (``x > 0``)."""
    lo = float(np.min(dx / x))
    return -1.0 / lo if lo < 0 else np.inf


def _weighted_gram(A: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``A.T @ diag(q) @ A`` in cache-sized row blocks."""
    n, m = A.shape
    gram = np.zeros((m, m))
    step = max(1024, 2**16 // m)
    for start in range(0, n, step):
        blk = A[start : start + step]
        gram += blk.T @ (blk * q[start : start + step, np.newaxis])
    return gram


def _solve_basis(Z: np.ndarray, v: np.ndarray, h: np.ndarray) -> tuple | None:
    """LU factor of the basis rows ``Z[h]`` and the interpolating fit, or None if singular."""
    Zh = Z[h]
    lu_mat, piv, info = scipy.linalg.lapack.dgetrf(Zh)
    if info != 0 or not np.all(np.isfinite(lu_mat)):
        return None
    lu = (lu_mat, piv)
    diag = np.abs(np.diag(lu_mat))
    if diag.min() <= _RCOND_MIN * diag.max():
        return None
    # reciprocal condition number estimate in the 1-norm
    anorm = np.abs(Zh).sum(axis=0).max()
    rcond = scipy.linalg.lapack.dgecon(lu[0], anorm, norm="1")[0]
    if not rcond > _RCOND_MIN:
        return None
    return lu, scipy.linalg.lapack.dgetrs(lu_mat, piv, v[h])[0]


def _multipliers(Z: np.ndarray, r: np.ndarray, h: np.ndarray, lu: tuple) -> np.ndarray:
    r"""Multipliers :math:`u_h` with :math:`Z_h^\top u_h = -\sum_{i \notin h} s_i z_i`."""
    sgn = np.sign(r)
    sgn[h] = 0.0
    g = Z.T @ sgn
    return scipy.linalg.lapack.dgetrs(lu[0], lu[1], -g, trans=1)[0]


def _initial_basis(Z: np.ndarray, v: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
    """The ``m`` observations with the smallest ``|residual|`` (or a nonsingular nearby set)."""
    n, m = Z.shape
    absr = np.abs(v - Z @ beta)
    h = np.argpartition(absr, m - 1)[:m] if m < n else np.arange(n)
    if _solve_basis(Z, v, h) is not None:
        return h
    # singular: scan the observations in order of |residual| and keep each one that is
    # linearly independent of those kept (Gram--Schmidt), looking further if needed
    k = min(n, 8 * m)
    while True:
        cand = np.argpartition(absr, k - 1)[:k] if k < n else np.arange(n)
        cand = cand[np.argsort(absr[cand], kind="stable")]
        basis = np.zeros((0, m))
        kept = []
        for i in cand:
            zi = Z[i]
            rest = zi - basis.T @ (basis @ zi)
            rest -= basis.T @ (basis @ rest)
            nrm = np.linalg.norm(rest)
            if nrm > 1e-8 * np.linalg.norm(zi):
                basis = np.vstack([basis, rest / nrm])
                kept.append(i)
                if len(kept) == m:
                    h = np.array(kept)
                    return h if _solve_basis(Z, v, h) is not None else None
        if k == n:
            return None
        k = min(n, 8 * k)


def _vertex(
    Z: np.ndarray, v: np.ndarray, beta: np.ndarray, max_pivots: int
) -> tuple[np.ndarray, bool] | None:
    """Move from ``beta`` to a vertex and pivot until the optimality certificate holds.

    Returns ``(beta, certified)``, or None if no nonsingular basis was found.
    """
    h = _initial_basis(Z, v, beta)
    if h is None:
        return None
    lu, beta = _solve_basis(Z, v, h)  # type: ignore[misc]
    # residuals below ztol are rounding errors of exact ties with the fit
    ztol = _ZERO_TOL * float(np.abs(v).max())

    def residuals(beta: np.ndarray, h: np.ndarray) -> np.ndarray:
        r = v - Z @ beta
        r[h] = 0.0
        r[np.abs(r) <= ztol] = 0.0
        return r

    r = residuals(beta, h)
    obj = float(np.abs(r).sum())
    for it in range(max_pivots + 1):
        u = _multipliers(Z, r, h, lu)
        au = np.abs(u)
        if au.max() <= 1.0 + _CERT_TOL:
            return beta, True
        if it == max_pivots:
            return beta, False
        moved = False
        # leaving candidates by decreasing |u_j|
        for j in np.argsort(-au):
            if au[j] <= 1.0 + _CERT_TOL:
                break
            # descent direction keeping the other basis rows interpolated: Z_h d = sigma e_j
            e = np.zeros(len(h))
            e[j] = -np.sign(u[j])
            d = scipy.linalg.lapack.dgetrs(lu[0], lu[1], e)[0]
            a = Z @ d
            nz = a != 0
            nz[h] = False
            nz[h[j]] = True
            idx = np.flatnonzero(nz)
            t = r[idx] / a[idx]
            # exact line search: f(t) = sum_i |a_i| |t - t_i| + const is minimised at the
            # weighted median of the breakpoints t_i
            order = np.argsort(t, kind="stable")
            cw = np.cumsum(np.abs(a[idx])[order])
            k = int(np.searchsorted(cw, 0.5 * cw[-1]))
            if not t[order[k]] > 0.0:
                continue  # degenerate: no strict descent along this edge
            enter = idx[order[k]]
            h_new = h.copy()
            h_new[j] = enter
            sol = _solve_basis(Z, v, h_new)
            if sol is None:
                continue
            lu_new, beta_new = sol
            r_new = residuals(beta_new, h_new)
            obj_new = float(np.abs(r_new).sum())
            if obj_new < obj:
                h, lu, beta, r, obj = h_new, lu_new, beta_new, r_new, obj_new
                moved = True
                break
        if not moved:
            break
    # degenerate vertex (observations tied with the fit outside the basis): the subgradient
    # condition lets all tied observations carry a multiplier in [-1, 1]; check it by a small
    # feasibility linear program
    tied = np.flatnonzero(r == 0.0)
    if tied.size > len(h) and tied.size <= _MAX_TIED:
        sgn = np.sign(r)
        g = Z.T @ sgn
        res = scipy.optimize.linprog(
            np.zeros(tied.size),
            A_eq=Z[tied].T,
            b_eq=-g,
            bounds=(-1.0, 1.0),
            method="highs",
        )
        if res.status == 0:
            return beta, True
    return beta, False


# -- the Frisch--Newton iterations, block by block ----------------------------------------------
#
# An iteration needs the rows only through sums (the m x m matrix Z^T Q Z, m-vectors, the
# duality gap) and minima (the step-length ratios) of per-row quantities, and the vertex step
# only through the rows of smallest |residual| and one sum of signed rows. The functions below
# compute them on one block of rows -- the whole problem in memory, or one row chunk of a dask
# array (:mod:`sklik._dask`) -- as a _Partial; the partials of the blocks combine by ``+``. The
# driver, _ipm_passes, is a generator of the passes it needs and sees the rows only through
# their partials: _ipm runs it on _Block (in memory, one block); sklik._dask runs one per
# target over the chunks, all in the same passes. The state of the iterations is an (n, 4)
# array of columns (a, s, zeta, omega) (``x, s, z, w`` below), held where the rows are.


class _Partial:
    """Per-block results that combine across blocks by ``+``.

    ``sums`` are added, ``mins`` and ``maxs`` combined by minimum and maximum, and ``cand``
    (``(k, |r|, rows of Z, v, row ids)``) keeps the ``k`` rows of smallest ``|r|``.
    """

    __slots__ = ("cand", "maxs", "mins", "sums")

    def __init__(self, sums=None, mins=None, maxs=None, cand=None) -> None:
        self.sums = sums or {}
        self.mins = mins or {}
        self.maxs = maxs or {}
        self.cand = cand

    def __add__(self, other: _Partial) -> _Partial:
        return _Partial(
            {key: self.sums[key] + other.sums[key] for key in self.sums},
            {key: np.minimum(self.mins[key], other.mins[key]) for key in self.mins},
            {key: np.maximum(self.maxs[key], other.maxs[key]) for key in self.maxs},
            _merge_candidates(self.cand, other.cand),
        )


def _smallest(k: int, absr: np.ndarray, *arrays: np.ndarray) -> tuple:
    """``(k, absr, *arrays)`` restricted to the ``k`` rows of smallest ``absr``."""
    if absr.size > k:
        idx = np.argpartition(absr, k - 1)[:k]
        absr, arrays = absr[idx], tuple(a[idx] for a in arrays)
    return (k, absr, *arrays)


def _merge_candidates(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return a if b is None else b
    return _smallest(a[0], *(np.concatenate([x, y]) for x, y in zip(a[1:], b[1:], strict=True)))


def _mins(lo: np.ndarray) -> float:
    return float(lo.min()) if lo.size else np.inf


def _start_state(A: np.ndarray, v: np.ndarray, yv: np.ndarray, delta: float) -> np.ndarray:
    """Initial point: ``a = s = 1/2``, ``zeta, omega`` the parts of the residual plus delta."""
    r = -v - A @ yv
    S = np.empty((A.shape[0], 4), order="F")
    S[:, 0] = 0.5
    S[:, 1] = 1.0 - S[:, 0]
    S[:, 2] = np.maximum(r, 0.0) + delta
    S[:, 3] = np.maximum(-r, 0.0) + delta
    return S


def _newton_terms(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``q = 1 / (zeta/a + omega/s)`` and ``rho = zeta - omega``."""
    x, s, z, w = S.T
    return 1.0 / (z / x + w / s), z - w


def _affine(A: np.ndarray, S: np.ndarray, q: np.ndarray, rr: np.ndarray, dy: np.ndarray):
    """The predictor direction of every row, given the dual step ``dy``."""
    x, s, z, w = S.T
    D = np.empty_like(S, order="F")
    D[:, 0] = q * (A @ dy - rr)
    D[:, 1] = -D[:, 0]
    D[:, 2] = -z * (D[:, 0] / x + 1.0)
    D[:, 3] = -w * (D[:, 1] / s + 1.0)
    return D


def _corrector_rhs(S: np.ndarray, Da: np.ndarray, rr: np.ndarray) -> tuple:
    """The corrector's right-hand side is ``base - mu * xs`` (per row); with its terms."""
    x, s, _, _ = S.T
    xinv, sinv = 1.0 / x, 1.0 / s
    dxdz, dsdw = Da[:, 0] * Da[:, 2], Da[:, 1] * Da[:, 3]
    base = rr + dxdz * xinv - dsdw * sinv
    return base, xinv - sinv, xinv, sinv, dxdz, dsdw


def _corrector(A, S, q, rhs, dy, mu) -> np.ndarray:
    """Mehrotra's corrector direction of every row, given its dual step ``dy`` and ``mu``."""
    x, s, z, w = S.T
    base, xs, xinv, sinv, dxdz, dsdw = rhs
    D = np.empty_like(S, order="F")
    D[:, 0] = q * (A @ dy - (base - mu * xs))
    D[:, 1] = -D[:, 0]
    D[:, 2] = mu * xinv - z - xinv * z * D[:, 0] - dxdz * xinv
    D[:, 3] = mu * sinv - w - sinv * w * D[:, 1] - dsdw * sinv
    return D


def _direction(A: np.ndarray, S: np.ndarray, step: tuple) -> np.ndarray:
    """``("affine", dy)`` or ``("corrector", dy_affine, dy, mu)``: the rows' direction."""
    q, rr = _newton_terms(S)
    Da = _affine(A, S, q, rr, step[1])
    if step[0] == "affine":
        return Da
    return _corrector(A, S, q, _corrector_rhs(S, Da, rr), step[2], step[3])


def _step(S: np.ndarray, D: np.ndarray, fp: float, fd: float, out=None) -> np.ndarray:
    """``S + (fp, fp, fd, fd) * D`` (the primal and the dual step lengths)."""
    out = np.array(S, order="F") if out is None else out
    out[:, :2] += fp * D[:, :2]
    out[:, 2:] += fd * D[:, 2:]
    return out


def _move(A: np.ndarray, v: np.ndarray, S: np.ndarray | None, move: tuple) -> np.ndarray:
    """The next state: ``("start", yv, delta)`` or a direction with ``(..., fp, fd)``."""
    if move[0] == "start":
        return _start_state(A, v, move[1], move[2])
    return _step(S, _direction(A, S, move[:-2]), move[-2], move[-1])


def _ratios(S: np.ndarray, D: np.ndarray) -> dict:
    """Minima of ``D / S`` per column: the distances to the boundary (see _step_lengths)."""
    return {key: _mins(D[:, j] / S[:, j]) for j, key in enumerate("xszw")}


def _step_lengths(mins: dict) -> tuple[float, float]:
    """Primal and dual step lengths: 0.99995 of the distance to the boundary, at most 1."""

    def reach(lo: float) -> float:  # largest t with S + t D >= 0
        return -1.0 / lo if lo < 0 else np.inf

    fp = min(_STEP * min(reach(mins["x"]), reach(mins["s"])), 1.0)
    fd = min(_STEP * min(reach(mins["w"]), reach(mins["z"])), 1.0)
    return fp, fd


def _sign_sum(A: np.ndarray, v: np.ndarray, beta: np.ndarray, ztol: float, basis: np.ndarray):
    r"""``sum_i sign(r_i) z_i`` over the rows outside the basis (``|r_i| <= ztol`` count 0)."""
    r = v - A @ beta
    sgn = np.sign(r)
    sgn[np.abs(r) <= ztol] = 0.0
    sgn[basis] = 0.0
    return A.T @ sgn


def _pass_setup(A: np.ndarray, v: np.ndarray) -> _Partial:
    """First pass: ``Z^T Z``, ``-Z^T v``, ``b = Z^T 1/2``, the row count and ``max |v|``."""
    return _Partial(
        {"gram": A.T @ A, "Atc": A.T @ -v, "b": A.T @ np.full(A.shape[0], 0.5), "n": A.shape[0]},
        maxs={"vmax": float(np.abs(v).max()) if v.size else 0.0},
    )


def _pass_start(A: np.ndarray, v: np.ndarray, yv: np.ndarray) -> _Partial:
    """``sum |r|`` of the least-squares start (its mean sets the initial slack)."""
    return _Partial({"abs_r": float(np.abs(-v - A @ yv).sum())})


def _pass_state(A, v, S, beta, k, ids, terms=None, gram=True) -> _Partial:
    """Sums of the Newton system at the state ``S``, and the ``k`` rows nearest to ``beta``.

    ``terms``: ``_newton_terms(S)`` if known; ``gram=False`` leaves out ``Z^T Q Z``.
    """
    x, s, z, w = S.T
    q, rr = _newton_terms(S) if terms is None else terms
    sums = {
        "gap": float(z @ x + w @ s),
        "wsum": float(w.sum()),
        "vx": float(v @ x),
        "Atx": A.T @ x,
        "Atqrr": A.T @ (q * rr),
    }
    if gram:
        sums["gram"] = _weighted_gram(A, q)
    cand = _smallest(k, np.abs(v - A @ beta), A, v, ids) if k else None
    return _Partial(sums, cand=cand)


def _pass_affine(A, v, S, dy, cert, ids, terms=None) -> tuple[_Partial, tuple | None]:
    """The predictor's step ratios and the sums the corrector needs; the vertex test's sum.

    ``cert`` is None or ``(beta, ztol, basis row ids)``. Returns the partial and the direction
    with the corrector's right-hand side terms (None without ``dy``).
    """
    part, out = _Partial(), None
    if dy is not None:
        x, s, z, w = S.T
        q, rr = _newton_terms(S) if terms is None else terms
        Da = _affine(A, S, q, rr, dy)
        dx, ds, dz, dw = Da.T
        rhs = _corrector_rhs(S, Da, rr)
        base, xs = rhs[:2]
        out = Da, rhs
        # the gap after the step (fp, fd) is gap + fp g1 + fd g2 + fp fd g3
        part.sums = {
            "g1": float(z @ dx + w @ ds),
            "g2": float(dz @ x + dw @ s),
            "g3": float(dz @ dx + dw @ ds),
            "c1": A.T @ (q * base),
            "c2": A.T @ (q * xs),
        }
        part.mins = _ratios(S, Da)
    if cert is not None:
        beta, ztol, basis = cert
        part.sums["sign"] = _sign_sum(A, v, beta, ztol, np.isin(ids, basis))
    return part, out


def _pass_corrector(A, v, S, rhs, dy, mu, q=None) -> tuple[_Partial, np.ndarray]:
    """The corrector's step ratios (and its direction); ``rhs`` from :func:`_corrector_rhs`."""
    q = _newton_terms(S)[0] if q is None else q
    Dc = _corrector(A, S, q, rhs, dy, mu)
    return _Partial(mins=_ratios(S, Dc)), Dc


class _Block:
    """The in-memory backend of :func:`_ipm`: all rows in one block.

    Passes cost no round trip here, so the per-row terms and directions of the current state
    are kept between them, and ``Z^T Q Z`` and the candidate rows of a vertex are computed
    only when asked for (the Gram matrix after a failed vertex trial), not with the state's
    sums.
    """

    def __init__(self, A: np.ndarray, v: np.ndarray) -> None:
        self.A, self.v, self.ids = A, v, np.arange(A.shape[0])
        self.S: np.ndarray | None = None
        self._terms: tuple | None = None
        self._dirs: dict = {}

    def setup(self) -> _Partial:
        return _pass_setup(self.A, self.v)

    def start(self, yv: np.ndarray) -> _Partial:
        return _pass_start(self.A, self.v, yv)

    def state(self, move: tuple, beta: np.ndarray, k: int) -> _Partial:
        if move[0] == "start":
            self.S = _move(self.A, self.v, None, move)
        else:  # the direction of the last pass of that kind
            _step(self.S, self._dirs[move[0]], move[-2], move[-1], out=self.S)
        self._terms = _newton_terms(self.S)
        return _pass_state(self.A, self.v, self.S, beta, k, self.ids, self._terms, gram=False)

    def gram(self) -> np.ndarray:
        return _weighted_gram(self.A, self._terms[0])

    def candidates(self, beta: np.ndarray, k: int) -> _Partial:
        return _Partial(cand=_smallest(k, np.abs(self.v - self.A @ beta), self.A, self.v, self.ids))

    def affine(self, dy: np.ndarray | None, cert: tuple | None) -> _Partial:
        part, out = _pass_affine(self.A, self.v, self.S, dy, cert, self.ids, self._terms)
        if out is not None:
            self._dirs["affine"], self._rhs = out
        return part

    def corrector(self, dy_affine: np.ndarray, dy: np.ndarray, mu: float) -> _Partial:
        part, self._dirs["corrector"] = _pass_corrector(
            self.A, self.v, self.S, self._rhs, dy, mu, self._terms[0]
        )
        return part


def _candidate_vertex(cand: tuple | None, beta: np.ndarray) -> tuple | None:
    """A nonsingular basis among the rows nearest to ``beta``: (vertex, LU, basis row ids)."""
    if cand is None:
        return None
    _, _, rows, vc, ids = cand
    h = _initial_basis(rows, vc, beta)
    if h is None:
        return None
    lu, beta_v = _solve_basis(rows, vc, h)  # type: ignore[misc]
    return beta_v, lu, ids[h]


def _certify(vertex: tuple, ztol: float, B: _Partial | None) -> Generator:
    """Whether the vertex is optimal: the multipliers of its rows are within [-1, 1].

    ``B`` is the pass with the sum of the signed rows outside the basis (None: one pass).
    """
    if B is None:
        B = yield ("affine", None, (vertex[0], ztol, vertex[2]))
    lu = vertex[1]
    u = scipy.linalg.lapack.dgetrs(lu[0], lu[1], -B.sums["sign"], trans=1)[0]
    return bool(np.abs(u).max() <= 1.0 + _CERT_TOL)


def _ipm(rows: Any, tol: float, max_iter: int) -> tuple:
    """:func:`_ipm_passes` run on the backend ``rows`` (e.g. :class:`_Block`)."""
    driver = _ipm_passes(tol, max_iter)
    try:
        request = next(driver)
        while True:
            request = driver.send(getattr(rows, request[0])(*request[1:]))
    except StopIteration as stop:
        return stop.value


def _ipm_passes(tol: float, max_iter: int) -> Generator[tuple, _Partial, tuple]:
    """Frisch--Newton iterations on the bounded dual, as a generator of the passes it needs.

    Yields the passes ``("setup",)``, ``("start", yv)``, ``("state", move, beta, k)``,
    ``("affine", dy, cert)`` and ``("corrector", dy_affine, dy, mu)`` (the methods of
    :class:`_Block`, which run them on one block of rows), and is sent each pass's
    :class:`_Partial`. A backend whose state pass leaves out ``Z^T Q Z`` (passes are cheap
    there) is also asked for ``("gram",)`` and ``("candidates", beta, k)``, and has a vertex
    tested before the Newton system is built; otherwise the vertex test rides on the
    predictor's pass; :func:`_ipm` runs it on a backend, :mod:`sklik._dask` runs one per
    target in the same passes over the chunks. From a relative duality gap of 1e-3 on, every
    iteration tries the vertex interpolating the ``m`` rows of smallest ``|residual|`` and
    certifies it in the predictor's pass.

    Returns ``(beta, converged, vertex, relative gap)``: ``vertex`` is the certified optimal
    vertex (then ``beta`` is it) or None; ``converged`` says the gap fell below ``tol``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If the rows are fewer than the parameters or the design is numerically rank deficient.
    """
    setup = yield ("setup",)
    n, b, gram = int(setup.sums["n"]), setup.sums["b"], setup.sums["gram"]
    m = b.shape[0]
    if n < m:
        raise np.linalg.LinAlgError("fewer observations than parameters")
    zn = np.sqrt(np.diag(gram))
    if np.any(zn == 0):
        raise np.linalg.LinAlgError("the design matrix has a zero column")
    eig = np.linalg.eigvalsh(gram / np.outer(zn, zn))
    if not eig[0] > 1e-11 * eig[-1]:
        raise np.linalg.LinAlgError("the design matrix is rank deficient")
    ztol = _ZERO_TOL * float(setup.maxs["vmax"])
    # least-squares start for the dual variable y = -beta
    cf = scipy.linalg.cho_factor(gram, check_finite=False)
    yv = scipy.linalg.cho_solve(cf, setup.sums["Atc"], check_finite=False)
    delta = max(1e-3 * (yield ("start", yv)).sums["abs_r"] / n, 1e-300)
    move: tuple = ("start", yv, delta)
    k = min(n, 8 * m)  # rows kept for the vertex step (_initial_basis looks at 8 m)
    rel_gap, cheap = np.inf, False
    for it in range(max_iter + 1):
        beta = -yv
        # the candidate rows of a vertex with the state's sums once the gap approaches the
        # vertex's (on a backend with cheap passes, in memory: in a pass of their own)
        near = rel_gap <= 1e3 * _TRY_VERTEX_GAP and not cheap
        P = yield ("state", move, beta, k if near else 0)
        cheap = "gram" not in P.sums
        gap = P.sums["gap"]
        dual_obj = float(b @ yv) - P.sums["wsum"]
        scale = max(abs(dual_obj), abs(P.sums["vx"]), 1e-300)
        rel_gap = gap / scale
        vertex = None
        if gap <= _TRY_VERTEX_GAP * scale:
            cand = (yield ("candidates", beta, k)).cand if cheap else P.cand
            vertex = _candidate_vertex(cand, beta)
        done = gap <= tol * scale or it == max_iter
        if vertex is not None and cheap:
            # a backend that leaves Z^T Q Z out of the state's pass (in memory): test the
            # vertex first, before building the Newton system
            certified = yield from _certify(vertex, ztol, None)
            if certified:
                return vertex[0], True, vertex[0], rel_gap
            vertex = None
        rp = b - P.sums["Atx"]
        dy = None
        if not done:
            gram = P.sums["gram"] if "gram" in P.sums else (yield ("gram",))
            try:
                cf = scipy.linalg.cho_factor(gram, check_finite=False)
                dy = scipy.linalg.cho_solve(cf, P.sums["Atqrr"] + rp, check_finite=False)
            except np.linalg.LinAlgError:
                done = True
        if dy is None and vertex is None:
            return beta, gap <= tol * scale, None, rel_gap
        # the predictor's pass, which also tests the vertex (one pass for both)
        B = yield ("affine", dy, None if vertex is None else (vertex[0], ztol, vertex[2]))
        if vertex is not None and (yield from _certify(vertex, ztol, B)):
            return vertex[0], True, vertex[0], rel_gap
        if dy is None:
            return beta, gap <= tol * scale, None, rel_gap
        fp, fd = _step_lengths(B.mins)
        move = ("affine", dy, fp, fd)
        if min(fp, fd) < 1.0:
            # Mehrotra corrector with centring
            g = max(gap + fp * B.sums["g1"] + fd * B.sums["g2"] + fp * fd * B.sums["g3"], 0.0)
            mu = gap * (g / gap) ** 3 / (2 * n)
            rhs = B.sums["c1"] - mu * B.sums["c2"] + rp
            dy_c = scipy.linalg.cho_solve(cf, rhs, check_finite=False)
            fp, fd = _step_lengths((yield ("corrector", dy, dy_c, mu)).mins)
            move = ("corrector", dy, dy_c, mu, fp, fd)
            dy = dy_c
        if not (np.isfinite(fp) and np.isfinite(fd)) or max(fp, fd) < 1e-14:
            return beta, False, None, rel_gap
        yv = yv + fd * dy
    return -yv, False, None, rel_gap  # not reached: the last iteration returns


def frisch_newton(
    X: np.ndarray,
    y: np.ndarray,
    c: np.ndarray,
    fit_intercept: bool,
    *,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> tuple[np.ndarray, float]:
    r"""Exact weighted least-absolute-deviations fit by the Frisch--Newton method.

    Minimises the weighted :math:`\ell_1` loss

    .. math::

        \min_{\beta, b} \; \sum_{i=1}^n c_i \, |y_i - x_i^\top \beta - b|

    (without ``b`` when ``fit_intercept`` is False). With :math:`z_i = c_i \tilde x_i`,
    :math:`\tilde x_i = (x_i, 1)`, and :math:`v_i = c_i y_i` this is the unweighted problem
    :math:`\min_\theta \|v - Z\theta\|_1`, a linear program whose dual (median regression,
    :math:`\tau = 1/2`, in the form of Koenker's ``rq.fit.fnb``) is

    .. math::

        \min_a \; -v^\top a \quad \text{s.t.} \quad Z^\top a = \tfrac12 Z^\top \mathbf 1,
        \quad 0 \le a \le \mathbf 1 .

    With slacks :math:`s = \mathbf 1 - a` and dual variables :math:`\eta = -\theta`,
    :math:`\zeta, \omega \ge 0` with :math:`Z\eta + \zeta - \omega = -v`, the duality gap is
    :math:`a^\top \zeta + s^\top \omega` and at the optimum :math:`\omega - \zeta = v - Z\theta`
    is the residual. Each iteration takes a Newton step on the perturbed optimality
    conditions :math:`a_i \zeta_i = \mu`, :math:`s_i \omega_i = \mu`: with
    :math:`Q = \mathrm{diag}(1 / (\zeta/a + \omega/s))` and :math:`\rho = \zeta - \omega`,

    .. math::

        (Z^\top Q Z)\, \Delta\eta = Z^\top Q \rho + (\tfrac12 Z^\top \mathbf 1 - Z^\top a),
        \qquad \Delta a = Q (Z \Delta\eta - \rho),

    first for :math:`\mu = 0` (predictor), then with Mehrotra's second-order correction and
    :math:`\mu = \mathrm{gap}\,(\mathrm{gap}_{\rm aff}/\mathrm{gap})^3 / (2n)` (corrector),
    reusing one Cholesky factor of the :math:`m \times m` matrix :math:`Z^\top Q Z`
    (:math:`m = p + 1` with an intercept). Steps are damped by 0.99995 of the distance to
    the boundary.

    **Vertex step.** The LP has an optimal vertex at which the fit interpolates ``m``
    observations :math:`h`. Once the relative gap is below 1e-3 (and at convergence), the
    ``m`` observations with the smallest :math:`|r_i|` are interpolated exactly,
    :math:`Z_h \theta = v_h`, and the vertex is certified optimal by the subgradient
    condition: the multipliers solving
    :math:`Z_h^\top u = -\sum_{i \notin h} \mathrm{sign}(r_i) z_i` satisfy
    :math:`|u_j| \le 1`. If not, the fit is improved by simplex pivots (exterior-point steps
    as in Barrodale--Roberts): for the largest :math:`|u_j| > 1`, move along
    :math:`Z_h d = -\mathrm{sign}(u_j) e_j`, a descent direction, to the exact minimiser
    of the piecewise-linear objective on that line (a weighted median of the breakpoints),
    swapping observation ``j`` for the one reached. Only a certified optimal vertex is
    returned: otherwise an ``ArithmeticError`` tells the caller to use a general LP solver.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Design matrix (float64).
    y : ndarray of shape (n_samples,)
        Target.
    c : ndarray of shape (n_samples,)
        Positive sample weights.
    fit_intercept : bool
        Whether to fit the intercept ``b``.
    tol : float, default=1e-12
        Relative duality gap at which the interior-point iterations stop if no certified
        vertex was found before.
    max_iter : int, default=100
        Maximum number of interior-point iterations.

    Returns
    -------
    coef : ndarray of shape (n_features,)
        The coefficients :math:`\beta`.
    intercept : float
        The intercept :math:`b` (0.0 when ``fit_intercept`` is False).

    Raises
    ------
    numpy.linalg.LinAlgError
        If the (weighted, column-equilibrated) design is numerically rank deficient.
    ArithmeticError
        If no optimal vertex could be certified (the interior-point method did not converge
        in ``max_iter`` iterations, or a degenerate vertex defeated the pivots).

    References
    ----------
    .. [1] S. Portnoy and R. Koenker (1997). The Gaussian hare and the Laplacian tortoise:
       computability of squared-error versus absolute-error estimators. Statistical
       Science 12(4), 279--300.
    .. [2] R. Koenker (2005). Quantile Regression, Section 6.4. Cambridge University Press.
    .. [3] S. Mehrotra (1992). On the implementation of a primal-dual interior point method.
       SIAM Journal on Optimization 2(4), 575--601.
    .. [4] I. Barrodale and F. D. K. Roberts (1973). An improved algorithm for discrete
       :math:`\ell_1` linear approximation. SIAM Journal on Numerical Analysis 10(5),
       839--848.
    """
    problem = _Equilibrated(X, y, c, fit_intercept)
    theta_ipm, _, theta_v, _ = _ipm(_Block(problem.Z, problem.v), tol, max_iter)
    if theta_v is None:
        out = _vertex(problem.Z, problem.v, theta_ipm, _MAX_PIVOTS)
        if out is None or not out[1]:
            raise ArithmeticError(
                f"no certified optimal vertex after {max_iter} Frisch-Newton iterations"
            )
        theta_v = out[0]
    return problem.coefficients(theta_v)


class _Equilibrated:
    r"""The weighted LAD problem as :math:`\min_\theta \|v - Z\theta\|_1`, well scaled.

    The columns centred (with an intercept) and scaled to mean square 1, y shifted by its
    median and scaled by its mean absolute deviation, the weights by their mean; then
    :math:`z_i = c_i \tilde x_i` and :math:`v_i = c_i \tilde y_i` (see :func:`frisch_newton`).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, c: np.ndarray, fit_intercept: bool) -> None:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        c = np.asarray(c, dtype=np.float64)
        n, self.p = X.shape
        self.fit_intercept = fit_intercept
        self.shift = X.mean(axis=0) if fit_intercept else np.zeros(self.p)
        Xc = X - self.shift if fit_intercept else X
        col = np.sqrt(np.mean(Xc**2, axis=0))
        col[col == 0] = 1.0
        self.col = col
        self.y_shift = float(np.median(y)) if fit_intercept else 0.0
        self.y_scale = float(np.mean(np.abs(y - self.y_shift))) or 1.0
        cw = c / c.mean()
        Z = Xc / col
        if fit_intercept:
            Z = np.column_stack([Z, np.ones(n)])
        self.Z = np.asfortranarray(Z * cw[:, np.newaxis])
        self.v = cw * ((y - self.y_shift) / self.y_scale)

    def coefficients(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        r"""``(coef, intercept)`` in the original units from :math:`\theta`."""
        p = self.p
        coef = theta[:p] * self.y_scale / self.col
        intercept = 0.0
        if self.fit_intercept:
            intercept = float(theta[p] * self.y_scale + self.y_shift - coef @ self.shift)
        return coef, intercept

    def theta(self, coef: np.ndarray, intercept: float) -> np.ndarray:
        r""":math:`\theta` of ``(coef, intercept)`` in the original units."""
        theta = coef * self.col / self.y_scale
        if self.fit_intercept:
            b = (intercept + coef @ self.shift - self.y_shift) / self.y_scale
            theta = np.append(theta, b)
        return theta


def certified_vertex(
    X: np.ndarray,
    y: np.ndarray,
    c: np.ndarray,
    fit_intercept: bool,
    coef: np.ndarray,
    intercept: float,
) -> tuple[np.ndarray, float] | None:
    r"""An optimal vertex of the weighted LAD problem, certified, from an approximate fit.

    The problem and the certificate of :func:`frisch_newton` (its vertex step and pivots),
    started at ``(coef, intercept)``, e.g. a general LP solver's solution, whose accuracy is
    that of its tolerances (about 1e-7 relative to the largest weight: with weights spread
    over 9 decades, 2% of the optimum). Returns None when no optimal vertex is certified
    (or, with fewer rows than coefficients, exists as a basis of rows).
    """
    problem = _Equilibrated(X, y, c, fit_intercept)
    if problem.Z.shape[0] < problem.Z.shape[1]:  # fewer rows than coefficients: no basis
        return None
    start = problem.theta(np.asarray(coef, dtype=np.float64), float(intercept))
    if not np.all(np.isfinite(start)):
        start = np.zeros(problem.Z.shape[1])
    out = _vertex(problem.Z, problem.v, start, _MAX_PIVOTS)
    if out is None or not out[1]:
        return None
    return problem.coefficients(out[0])


# -- a penalised problem's exact solution, from an approximate one --------------------------------


def _kkt_solve(M: np.ndarray, rhs: np.ndarray, q: int) -> np.ndarray:
    r"""The least-norm solution of the KKT system ``M x = rhs`` of :func:`penalised_vertex`.

    With a positive ridge on every one of the ``q`` coefficients, the coefficients are
    eliminated (:math:`\beta = \rho^{-1}(r_1 + A^\top \omega)`) and the Schur complement
    :math:`A \rho^{-1} A^\top`, of the size of the interpolated rows, is solved instead: a
    wide design's :math:`q` of thousands costs :math:`m^2 q`, not :math:`q^3`.
    """
    rho = np.diag(M)[:q] if q else np.zeros(0)
    if q < 64 or not np.all(rho > 0):
        return np.linalg.lstsq(M, rhs, rcond=None)[0]
    A = M[q:, :q]  # the interpolation rows (and a zero intercept row)
    Ainv = A / rho
    S = M[q:, q:] - Ainv @ M[:q, q:]  # [[0, 1], [1', 0]] + A rho^-1 A^T
    reduced = np.linalg.lstsq(S, rhs[q:] - Ainv @ rhs[:q], rcond=None)[0]
    return np.concatenate([(rhs[:q] - M[:q, q:] @ reduced) / rho, reduced])


def penalised_vertex(
    design: Any,
    y: np.ndarray,
    c: np.ndarray,
    fit_intercept: bool,
    ridge: np.ndarray,
    l1: np.ndarray,
    coef: np.ndarray,
    intercept: float,
    delta: float,
    *,
    max_size: int = 4000,
    max_updates: int = 50,
) -> tuple[np.ndarray, float] | None:
    r"""The exact minimiser of penalised least absolute deviations, from a point near it.

    .. math::

        \min_{\beta, b} \sum_i c_i |y_i - z_i^\top \beta - b|
        + \sum_j \left(\tfrac{\rho_j}{2} \beta_j^2 + \lambda_j |\beta_j|\right)

    (``ridge`` :math:`\rho`, ``l1`` :math:`\lambda`; :math:`b = 0` without an intercept). A
    gradient method only approaches this kinked optimum (L-BFGS-B stops about 1e-4 above it).
    The optimum is determined by the rows :math:`R` the fit interpolates, the signs
    :math:`s_i` of the other residuals, the non-zero coefficients :math:`N` and their signs
    :math:`\sigma`: the optimality (KKT) conditions

    .. math::

        \rho_N \beta_N - Z_{R,N}^\top \omega = g_N - \lambda_N \sigma_N, \qquad
        Z_{R,N} \beta_N + b = y_R, \qquad \mathbf 1^\top \omega = -\sum_{i \notin R} c_i s_i,

    with :math:`g = \sum_{i \notin R} c_i s_i z_i`, are a square linear system in
    :math:`(\beta_N, \omega, b)`. Starting from the sets the approximate point suggests (its
    residuals below a threshold, for a few thresholds), the system is solved and its solution
    checked: :math:`|\omega_i| \le c_i`, every other residual of sign :math:`s_i`, every
    :math:`\beta_j` of sign :math:`\sigma_j`, and :math:`|g_j + (Z_R^\top \omega)_j| \le
    \lambda_j` for the zero coefficients. Those conditions certify the optimum of this convex
    problem; a violated one moves its row or coefficient to the other set (an active-set
    method, at most ``max_updates`` times per threshold).

    Parameters
    ----------
    design : design from :mod:`sklik._design`
        The standardised rows :math:`z_i` (``matmat``, ``rmatvec`` and ``take``).
    y : ndarray of shape (n_samples,)
        The target (minus any offset).
    c : ndarray of shape (n_samples,)
        Non-negative row weights.
    fit_intercept : bool
    ridge, l1 : ndarray of shape (n_features,)
        Non-negative penalties per coefficient.
    coef : ndarray of shape (n_features,)
    intercept : float
        The approximate solution.
    max_size : int, default=4000
        Largest linear system tried (interpolated rows plus non-zero coefficients).
    max_updates : int, default=50

    Returns
    -------
    (coef, intercept) or None
        The certified optimum, or None when no certificate was found.
    """
    p = design.shape[1]
    free = c > 0

    def residuals(beta: np.ndarray, b: float) -> np.ndarray:
        return y - design.matmat(beta[np.newaxis, :], np.array([b]))[:, 0]

    def objective(beta: np.ndarray, b: float) -> float:
        r = residuals(beta, b)
        return float(c @ np.abs(r) + 0.5 * ridge @ beta**2 + l1 @ np.abs(beta))

    r0 = residuals(coef, intercept)
    start = objective(coef, intercept)
    y_tol = 1e-12 * max(float(np.max(np.abs(y[free]), initial=0.0)), 1e-300)
    on = free & (np.abs(r0) <= delta)
    sign = np.sign(r0)
    nonzero = (np.abs(coef) > delta) | (l1 == 0)
    sigma = np.sign(coef)
    # the current point and multipliers: the smoothed problem's (its multiplier of a row in
    # the quadratic zone is c_i r_i / delta)
    beta, b = coef.copy(), intercept
    omega_of = c * np.clip(r0 / delta, -1.0, 1.0)
    seen = set()
    for _ in range(max_updates):
        rows = np.flatnonzero(on)
        cols = np.flatnonzero(nonzero)
        key = (rows.tobytes(), cols.tobytes(), sign[~on].tobytes())
        if key in seen:
            break  # the updates cycle: no certificate from these sets
        seen.add(key)
        m, q = rows.size, cols.size
        if m + q + 1 > max_size or m > 2 * (q + 1) + 8:
            break  # (interpolating more rows than coefficients: delta is still too wide)
        weight_out = np.where(on | ~free, 0.0, c * sign)
        g = design.rmatvec(weight_out)
        A = design.take(rows)[:, cols]
        k = q + m + int(fit_intercept)
        M = np.zeros((k, k))
        M[:q, :q] = np.diag(ridge[cols])
        M[:q, q : q + m] = -A.T
        M[q : q + m, :q] = A
        rhs = np.concatenate([g[cols] - l1[cols] * sigma[cols], y[rows]])
        if fit_intercept:
            M[q : q + m, -1] = 1.0
            M[-1, q : q + m] = 1.0
            rhs = np.append(rhs, -weight_out.sum())
        # from the current point (the smoothed problem's, then the last solution): where the
        # optimum is not unique (a median between two rows) the system is singular, and the
        # least-norm correction keeps the current point's share of the optimal set
        x0 = np.concatenate([beta[cols], omega_of[rows]] + ([[b]] if fit_intercept else []))
        x = x0 + _kkt_solve(M, rhs - M @ x0, q)
        # each equation to its own scale: the weights' (stationarity, intercept), y's
        atol = np.full(k, 1e-9 * float(c.sum()))
        atol[q : q + m] = y_tol * 1e3
        if not np.all(np.abs(M @ x - rhs) <= atol + 1e-9 * np.abs(rhs)):
            # an inconsistent system: these sets are no vertex. With fewer rows than a
            # vertex needs, the closest other rows join (the smoothed problem's Newton steps
            # may stop short of a row when none is in its quadratic zone), else give up
            missing = q + int(fit_intercept) - m
            if missing <= 0:
                break
            r = residuals(beta, b)
            closest = np.argsort(np.where(free & ~on, np.abs(r), np.inf))[:missing]
            on[closest[np.isfinite(np.abs(r[closest]))]] = True
            continue
        beta = np.zeros(p)
        beta[cols] = x[:q]
        omega = x[q : q + m]
        omega_of[rows] = omega
        b = float(x[-1]) if fit_intercept else 0.0
        r = residuals(beta, b)
        G = g + A.T @ omega if q == p else g + design.take(rows).T @ omega
        leaves = np.abs(omega) > c[rows] * (1 + 1e-9)
        crosses = free & ~on & (sign * r < -y_tol)
        flips = (l1 > 0) & nonzero & (sigma * beta < 0)
        enters = ~nonzero & (np.abs(G) > l1 * (1 + 1e-9) + 1e-12 * np.max(np.abs(G)))
        if not (leaves.any() or crosses.any() or flips.any() or enters.any()):
            if objective(beta, b) <= start + 1e-9 * abs(start):
                return beta, b
            break
        on[rows[leaves]] = False
        sign[rows[leaves]] = np.sign(omega[leaves])
        on[crosses] = True
        nonzero[flips] = False
        nonzero[enters] = True
        sigma[enters] = np.sign(G[enters])
    return None
