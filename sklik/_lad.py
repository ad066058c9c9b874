r"""Exact least-absolute-deviations (median) regression by the Frisch--Newton method.

:func:`frisch_newton` solves :math:`\min_{\beta, b} \sum_i c_i |y_i - x_i^\top \beta - b|`
for one target with the primal--dual interior-point method of Portnoy and Koenker (1997)
(R quantreg's ``rq.fit.fnb``), then moves to an exact optimal vertex of the linear program
(a basis of observations that the fit interpolates) and certifies it by the subgradient
optimality condition, pivoting with exact line searches (Barrodale--Roberts-type steps) when
the first basis is not optimal.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.optimize

__all__ = ["frisch_newton"]

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


def _certified(Z: np.ndarray, v: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
    """The vertex near ``beta`` if it is certified optimal without pivoting, else None."""
    out = _vertex(Z, v, beta, max_pivots=0)
    if out is not None and out[1]:
        return out[0]
    return None


def _ipm(
    Z: np.ndarray, v: np.ndarray, tol: float, max_iter: int
) -> tuple[np.ndarray, bool, np.ndarray | None]:
    """Frisch--Newton iterations on the bounded dual; returns (beta, converged, vertex)."""
    n, m = Z.shape
    A = Z  # the constraint matrix of the dual is Z^T
    cvec = -v
    x = np.full(n, 0.5)
    s = 1.0 - x
    b = A.T @ x
    # least-squares start for the dual variable y = -beta
    gram = A.T @ A
    cf = scipy.linalg.cho_factor(gram, check_finite=False)
    yv = scipy.linalg.cho_solve(cf, A.T @ cvec, check_finite=False)
    r = cvec - A @ yv
    delta = max(1e-3 * float(np.abs(r).mean()), 1e-300)
    z = np.maximum(r, 0.0) + delta
    w = np.maximum(-r, 0.0) + delta
    beta_best = -yv
    for _ in range(max_iter):
        gap = float(z @ x + w @ s)
        dual_obj = float(b @ yv - w.sum())
        scale = max(abs(dual_obj), float(np.abs(cvec @ x)), 1e-300)
        beta_cur = -yv
        if gap <= _TRY_VERTEX_GAP * scale:
            beta_v = _certified(Z, v, beta_cur)
            if beta_v is not None:
                return beta_v, True, beta_v
        if gap <= tol * scale:
            return beta_cur, True, None
        # affine-scaling (predictor) direction
        q = 1.0 / (z / x + w / s)
        rr = z - w
        rp = b - A.T @ x
        gq = _weighted_gram(A, q)
        try:
            cf = scipy.linalg.cho_factor(gq, check_finite=False)
        except np.linalg.LinAlgError:
            return beta_best, False, None
        qrr = q * rr
        dy = scipy.linalg.cho_solve(cf, A.T @ qrr + rp, check_finite=False)
        dx = q * (A @ dy - rr)
        ds = -dx
        dz = -z * (dx / x + 1.0)
        dw = -w * (ds / s + 1.0)
        fp = min(_STEP * min(_max_step(x, dx), _max_step(s, ds)), 1.0)
        fd = min(_STEP * min(_max_step(w, dw), _max_step(z, dz)), 1.0)
        if min(fp, fd) < 1.0:
            # Mehrotra corrector with centring
            mu = gap
            g = float((z + fd * dz) @ (x + fp * dx) + (w + fd * dw) @ (s + fp * ds))
            mu = mu * (g / mu) ** 3 / (2 * n)
            dxdz = dx * dz
            dsdw = ds * dw
            xinv = 1.0 / x
            sinv = 1.0 / s
            xi = mu * (xinv - sinv)
            rhs = rr + dxdz * xinv - dsdw * sinv - xi
            dy = scipy.linalg.cho_solve(cf, A.T @ (q * rhs) + rp, check_finite=False)
            dx = q * (A @ dy - rhs)
            ds = -dx
            dz = mu * xinv - z - xinv * z * dx - dxdz * xinv
            dw = mu * sinv - w - sinv * w * ds - dsdw * sinv
            fp = min(_STEP * min(_max_step(x, dx), _max_step(s, ds)), 1.0)
            fd = min(_STEP * min(_max_step(w, dw), _max_step(z, dz)), 1.0)
        if not (np.isfinite(fp) and np.isfinite(fd)) or max(fp, fd) < 1e-14:
            return -yv, False, None
        x += fp * dx
        s += fp * ds
        yv = yv + fd * dy
        z += fd * dz
        w += fd * dw
        beta_best = -yv
    return -yv, False, None


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
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    n, p = X.shape
    # centre (with an intercept) and equilibrate the columns; scale y and the weights
    shift = X.mean(axis=0) if fit_intercept else np.zeros(p)
    Xc = X - shift if fit_intercept else X
    col = np.sqrt(np.mean(Xc**2, axis=0))
    col[col == 0] = 1.0
    y_shift = float(np.median(y)) if fit_intercept else 0.0
    y_scale = float(np.mean(np.abs(y - y_shift))) or 1.0
    cw = c / c.mean()
    Z = Xc / col
    if fit_intercept:
        Z = np.column_stack([Z, np.ones(n)])
    Z = np.asfortranarray(Z * cw[:, np.newaxis])
    v = cw * ((y - y_shift) / y_scale)
    m = Z.shape[1]
    if n < m:
        raise np.linalg.LinAlgError("fewer observations than parameters")
    zn = np.sqrt(np.einsum("ij,ij->j", Z, Z))
    if np.any(zn == 0):
        raise np.linalg.LinAlgError("the design matrix has a zero column")
    eig = np.linalg.eigvalsh((Z.T @ Z) / np.outer(zn, zn))
    if not eig[0] > 1e-11 * eig[-1]:
        raise np.linalg.LinAlgError("the design matrix is rank deficient")

    theta_ipm, _, theta_v = _ipm(Z, v, tol, max_iter)
    if theta_v is None:
        out = _vertex(Z, v, theta_ipm, _MAX_PIVOTS)
        if out is None or not out[1]:
            raise ArithmeticError(
                f"no certified optimal vertex after {max_iter} Frisch-Newton iterations"
            )
        theta_v = out[0]
    coef = theta_v[:p] * y_scale / col
    intercept = 0.0
    if fit_intercept:
        intercept = float(theta_v[p] * y_scale + y_shift - coef @ shift)
    return coef, intercept
