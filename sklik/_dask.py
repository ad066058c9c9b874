r"""Dask input: the objective reduced over the row chunks of a dask collection.

This module is imported only when an estimator is handed a dask array or DataFrame; the rest
of sklik never imports dask. It adds no second copy of the loss, model or solver arithmetic:
every chunk builds the same :class:`~sklik._objective.Objective` as an in-memory fit (its
block of the standardised design, its targets, weights and offset), normalised by the weight
total of *all* rows (``weight_total``), so that the per-chunk values, gradients and
Gauss-Newton matrices sum to those of the whole data set::

    estimator.fit(dask X) ──▶ DaskData (sklik._data's seam) ── one validation pass: finiteness,
        column moments, y's moments
        Z = (X - m) / s   (implicit in every chunk, ShiftedDenseDesign, where no digits are
                           lost; else a lazy copy; persisted in the cluster when it fits)
        BlockedObjective(theta) = Σ_chunks Objective_chunk(theta)   (tree reduction, on the
                                  workers; only p-sized partial sums travel)
        sklik._solver.minimize(BlockedObjective, ...)   (scipy's loop, on the client)
        least squares: one pass for the weighted Gram matrix (TSQR if ill-conditioned)

The estimator's fit flow is the same as for in-memory data (``_BaseRegressor.fit``): only the
methods of :class:`DaskData` differ from those of :class:`sklik._data.ArrayData`.

Every evaluation the solver asks for (value and gradient; with the Newton solver, the
Hessian in the same pass: on at least 4 x 8192 rows that of every k-th row of each chunk, a
sub-sampled Newton method as in memory, until the solver asks for the exact one) is one pass
over the chunks. The computations run on the active
``distributed.Client`` if there is one, and on dask's default scheduler otherwise (out of
core on one machine: the chunks are read from storage on every pass when the design does not
fit in memory).

Prediction maps the in-memory methods over the row chunks (``map_blocks``): predictions are
dask arrays with the input's row chunks; :class:`DaskDistribution` is the lazily evaluated
predictive distribution.
"""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace
from typing import Any

import dask
import dask.array as da
import numpy as np
from scipy.optimize import brentq
from sklearn.utils.validation import validate_data

from sklik import _inference, _lad, _solver
from sklik._data import RANK_SAMPLE_ROWS, minimise_constant
from sklik._design import (
    _IMPLICIT_MAX_SHIFT,
    DenseDesign,
    ShiftedDenseDesign,
    _syrk,
    _weighted_sandwich,
)
from sklik._models import LinearModel
from sklik._objective import Objective, hessian_sample_step
from sklik.losses import L1Loss, MSELoss

__all__ = ["BlockedObjective", "DaskData", "DaskDistribution", "is_dask"]

# Persist the standardised design when it takes at most this fraction of the memory the
# workers (or, without a distributed client, this machine) have available.
_PERSIST_FRACTION = 0.5


def is_dask(X: Any) -> bool:
    """Whether ``X`` is a dask collection (checked without importing dask)."""
    return type(X).__module__.startswith(("dask.", "dask_expr")) and hasattr(X, "__dask_graph__")


# -- conversion and validation ----------------------------------------------------------------


def _as_array(X: Any, name: str, row_chunks: tuple | None = None) -> tuple[da.Array, Any]:
    """A dask array (known chunk sizes) and the column names of a DataFrame (else None).

    ``row_chunks``: the row chunks of the X that a DataFrame or Series ``X`` accompanies. With
    as many partitions, they are taken as its partitions' lengths without a pass over the data
    to count them; the validation pass (:func:`_chunk_stats`) checks them block by block.
    """
    columns = None
    if hasattr(X, "to_dask_array"):  # dask DataFrame or Series
        if hasattr(X, "columns"):
            columns = list(X.columns)
        # not to_dask_array(lengths=True): dask fuses the partitions of a column projection
        # of a parquet source and then rejects their lengths (dask issue 12411)
        arr = X.to_dask_array()
        if row_chunks is not None and arr.numblocks[0] == len(row_chunks):
            lengths = tuple(row_chunks)
        else:
            lengths = tuple(X.map_partitions(len).compute())
        if len(lengths) == arr.numblocks[0]:  # else: computed from the chunks below
            arr = da.Array(arr.dask, arr.name, (lengths, *arr.chunks[1:]), dtype=arr.dtype)
        X = arr
    elif not isinstance(X, da.Array):
        X = da.asarray(X)
    if any(math.isnan(c) for chunks in X.chunks for c in chunks):
        X = X.compute_chunk_sizes()
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric; got dtype {X.dtype}.")
    return X.astype(np.float64), columns


def _rows_like(
    a: Any, X: da.Array, name: str, ncols: int | None, checked: bool = False
) -> da.Array:
    """``a`` (dask or in-memory, 1-D or 2-D) as a dask array with ``X``'s row chunks.

    ``checked``: a pass that runs :func:`_chunk_stats` follows (the training data's
    validation), so a DataFrame or Series with X's number of partitions takes X's chunk sizes
    without a pass to count its rows.
    """
    if not is_dask(a):
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 0:
            a = np.full(X.shape[0], float(a))
    arr, _ = _as_array(a, name, X.chunks[0] if checked else None)
    if arr.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows; X has {X.shape[0]}: pass one per row of X."
        )
    if ncols is not None:
        arr = arr[:, np.newaxis] if arr.ndim == 1 else arr  # (blockwise: no declared shapes)
        if arr.ndim != 2 or arr.shape[1] not in (1, ncols):
            raise ValueError(
                f"{name}.shape == {arr.shape}, expected ({X.shape[0]},) or "
                f"({X.shape[0]}, {ncols}): pass one {name} per sample (and target)."
            )
        if arr.shape[1] != ncols:
            arr = da.broadcast_to(arr, (arr.shape[0], ncols), chunks=(arr.chunks[0], ncols))
        chunks: tuple = (X.chunks[0], (ncols,))
    else:
        if arr.ndim != 1:
            raise ValueError(
                f"{name}.shape == {arr.shape}, expected ({X.shape[0]},): pass one weight per "
                f"sample."
            )
        chunks = (X.chunks[0],)
    return arr.rechunk(chunks)


def target_moments(y: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the weighted mean of ``y`` and its standard deviation (1 if not positive).

    One pass over ``y`` and the weights alone, for a target standardisation that is undone
    exactly (so its accuracy does not matter, only its finiteness).
    """
    Y, _ = _as_array(y, "y")
    Y = Y[:, np.newaxis] if Y.ndim == 1 else Y
    w = da.ones(Y.shape[0], chunks=Y.chunks[0]) if sample_weight is None else sample_weight
    if not is_dask(w):
        w = da.from_array(np.asarray(w, dtype=np.float64), chunks=(Y.chunks[0],))
    w, _ = _as_array(w, "sample_weight")
    w = w.rechunk((Y.chunks[0],))
    top = da.maximum(da.max(da.abs(Y), axis=0), np.finfo(np.float64).tiny)
    Z = Y / top  # (no overflow in the squares)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        total, first, second, top = dask.compute(w.sum(), w @ Z, w @ (Z * Z), top)
        mean = first / total
        scale = top * np.sqrt(np.maximum(second / total - mean * mean, 0.0))
        shift = top * mean
    ok = np.isfinite(scale) & (scale > 0)
    return np.where(np.isfinite(shift), shift, 0.0), np.where(ok, scale, 1.0)


def _nonempty(a: da.Array | None) -> da.Array | None:
    """``a`` without its empty row chunks (a filtered DataFrame's empty partitions).

    Every chunk function then sees at least one row; the other chunks are unchanged.
    """
    if a is None or 0 not in a.chunks[0]:
        return a
    return a.rechunk({0: tuple(c for c in a.chunks[0] if c)})


def _check_features(est: Any, columns: list | None, n_features: int, reset: bool) -> None:
    """scikit-learn's bookkeeping of the input's features, as ``validate_data`` does it.

    ``reset``: set ``n_features_in_`` and ``feature_names_in_`` (a fit); else check the
    input's number of features and column names against them (the same errors and warnings
    as for in-memory input). ``columns``: a DataFrame's column names, or None (an array).
    """
    import pandas as pd

    rows = np.empty((0, n_features))
    frame = rows if columns is None else pd.DataFrame(rows, columns=columns)
    validate_data(est, frame, reset=reset, skip_check_array=True)


def _blocks(a: da.Array | None, n_blocks: int) -> list:
    """The row blocks of ``a`` as delayed objects (None repeated for a missing array)."""
    if a is None:
        return [None] * n_blocks
    return list(a.to_delayed().ravel())


# Rows per block of a chunk's per-row arithmetic (validation, objective, covariance): its
# temporaries stay small enough for the allocator to reuse memory (dask's workers hand freed
# memory back to the OS at once, by MALLOC_TRIM_THRESHOLD_, which makes every large
# temporary cost fresh page faults) and for the cache. Blocks of this size made a Poisson
# gradient on a 250 000 x 20 chunk 2.6 times and its Hessian 1.5 times as fast on a worker.
_EVAL_BLOCK_ROWS = 8192


def _take_positive(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a[w > 0]


def _positive_rows(a: da.Array | None, w: da.Array, counts: list[int]) -> da.Array | None:
    """The rows of ``a`` whose weight ``w`` is positive, ``counts[i]`` of them in chunk ``i``.

    A chunk without such rows is left out (every chunk function sees at least one row).
    """
    if a is None:
        return None
    take = dask.delayed(_take_positive, pure=True)
    parts = [
        da.from_delayed(take(block, wb), shape=(count, *a.shape[1:]), dtype=a.dtype)
        for block, wb, count in zip(
            _blocks(a, len(counts)), _blocks(w, len(counts)), counts, strict=True
        )
        if count
    ]
    return da.concatenate(parts, axis=0)


def _row_blocks(arrays: tuple, block_rows: int):
    """The arrays' rows in blocks of ``block_rows`` (views; None stays None)."""
    n = next(a for a in arrays if a is not None).shape[0]
    for lo in range(0, max(n, 1), block_rows):
        yield tuple(None if a is None else a[lo : lo + block_rows] for a in arrays)


def _chunk_stats(X, Y, w, off, gram=False):
    """One chunk's statistics of the validation pass, per row block (see :func:`_combine_stats`).

    Raises a ValueError when y, the weights or the offset have another number of rows in the
    chunk than X (a DataFrame's partitions that do not line up with X's).
    """
    for name, a in (("y", Y), ("sample_weight", w), ("offset", off)):
        if a is not None and a.shape[0] != X.shape[0]:
            raise ValueError(
                f"{name} has {a.shape[0]} rows in a partition where X has {X.shape[0]}: pass "
                f"{name} with X's partitions (e.g. a column of the same dask DataFrame)."
            )
    # one n x p workspace for every block: a temporary per block would be mapped afresh each
    # time in a dask worker, which returns freed memory to the OS at once (distributed sets
    # MALLOC_TRIM_THRESHOLD_)
    work = np.empty((min(_EVAL_BLOCK_ROWS, X.shape[0]), X.shape[1]))
    blocks = _row_blocks((X, Y, w, off), _EVAL_BLOCK_ROWS)
    # merged here: the client gathers one small dict per chunk (gathering a dict per block,
    # 31 per 250 000-row chunk, took longer than the pass: 3.2 s for 80 chunks)
    return _merge_stats([_block_stats(*block, gram, work) for block in blocks])


def _block_stats(X, Y, w, off, gram=False, work=None):
    r"""Sums of one block of rows for the validation pass (see :func:`_combine_stats`).

    With ``gram``, also the least-squares sums of :meth:`DaskData.fused_gram` in units of the
    block's column maxima: :math:`U^\top W U`, :math:`U^\top W T` and :math:`\sum w t`,
    for :math:`U = X / \max|X|` and the target :math:`T = Y - \text{offset}`.
    ``work``: a buffer of at least X's shape for the block's temporary.
    """
    n = X.shape[0]
    unit = w is None
    w = np.ones(n) if w is None else w
    W = float(w.sum())
    work = np.empty(X.shape) if work is None else work[:n]
    amax = _column_abs_max(X, work) if n else np.zeros(X.shape[1])
    safe = np.where(amax > 0, amax, 1.0)
    # (non-finite input gives non-finite sums without warnings: refused by the *_ok flags)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # in units of the chunk's column maxima (no overflow of squares), one n x p temporary
        mean = (w @ X) / safe / W if W > 0 else np.zeros(X.shape[1])
        if not np.all(np.isfinite(mean)):  # a weighted sum overflowed: scale first
            mean = (w @ (X / safe)) / W
        R = np.divide(X, safe, out=work)
        sums = {}
        if gram:
            T = Y if off is None else Y - off
            sums["G"] = _syrk(R) if unit else _weighted_sandwich(R, w)
            sums["XT"] = R.T @ (w[:, np.newaxis] * T)
            sums["T"] = w @ T
        R -= mean
        R *= R
        m2 = w @ R
        ymean = (w @ Y) / W if W > 0 else np.zeros(Y.shape[1])
        Ry = Y - ymean
        Yp = Y if unit else Y[w > 0]
        return sums | {
            "n": n,
            "n_positive": n if unit else int(np.count_nonzero(w > 0)),
            "W": W,
            "w_ok": bool(np.all(np.isfinite(w)) and np.all(w >= 0)),
            "x_ok": bool(np.all(np.isfinite(amax))),  # (max and min propagate NaN and inf)
            "y_ok": bool(np.all(np.isfinite(Y))),
            "off_ok": True if off is None else bool(np.all(np.isfinite(off))),
            "amax": amax,
            "mean": mean,
            "m2": m2,
            "ymean": ymean,
            "ym2": w @ (Ry * Ry),
            # y's range on the rows of positive weight (a row of weight 0 is no row at all:
            # y's magnitude, the constant model's bracket) and on every row (y's domain)
            "ymin": Yp.min(axis=0) if Yp.shape[0] else np.full(Y.shape[1], np.inf),
            "ymax": Yp.max(axis=0) if Yp.shape[0] else np.full(Y.shape[1], -np.inf),
            "ymin_all": Y.min(axis=0) if n else np.full(Y.shape[1], np.inf),
            "ymax_all": Y.max(axis=0) if n else np.full(Y.shape[1], -np.inf),
            "off": np.zeros(Y.shape[1]) if off is None else w @ off,
        }


def _column_abs_max(X: np.ndarray, work: np.ndarray) -> np.ndarray:
    """The largest ``|x|`` of each column (NaN where a column has one), via ``work``.

    ``|X|`` goes into the contiguous ``work`` (X's shape), reduced over rows folded 32 at a
    time: a column-wise reduction of a C-ordered block of 20 columns is 4x slower
    (``X.max(axis=0)`` and ``X.min(axis=0)`` took 0.69 ms on 8192 x 20, this 0.08 ms).
    """
    n, p = X.shape
    A = np.abs(X, out=work)
    m = n - n % 32
    out = A[m:].max(axis=0, initial=0.0)
    if m:
        folded = A[:m].reshape(-1, 32 * p).max(axis=0).reshape(32, p).max(axis=0)
        out = np.maximum(out, folded)
    return out


def _merge(Wa, ma, m2a, Wb, mb, m2b):
    """Chan's parallel update of weighted means and sums of squared deviations.

    ``Wa * (Wb / W)``: the product of two weight sums overflows from about 1e154 each.
    """
    W = Wa + Wb
    if W == 0:
        return W, ma, m2a
    delta = mb - ma
    return W, ma + delta * (Wb / W), m2a + m2b + delta**2 * (Wa * (Wb / W))


def _merge_stats(parts: list[dict]) -> dict:
    """Blocks' statistics (of :func:`_block_stats`) merged into those of their union.

    Column moments and least-squares sums are rescaled to the union's column maxima; means
    and squared deviations are combined by Chan's update.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # (non-finite: *_ok)
        amax = np.max([p["amax"] for p in parts], axis=0)
        safe = np.where(amax > 0, amax, 1.0)
        W, mean, m2 = 0.0, np.zeros_like(safe), np.zeros_like(safe)
        Wy, ymean, ym2 = 0.0, np.zeros_like(parts[0]["ymean"]), np.zeros_like(parts[0]["ymean"])
        gram = "G" in parts[0]
        sums = {"G": 0.0, "XT": 0.0, "T": 0.0} if gram else {}
        for p in parts:
            r = np.where(p["amax"] > 0, p["amax"], 1.0) / safe
            W_new, mean, m2 = _merge(W, mean, m2, p["W"], p["mean"] * r, p["m2"] * r**2)
            _, ymean, ym2 = _merge(Wy, ymean, ym2, p["W"], p["ymean"], p["ym2"])
            W = Wy = W_new
            if gram:
                sums["G"] = sums["G"] + p["G"] * np.outer(r, r)
                sums["XT"] = sums["XT"] + p["XT"] * r[:, np.newaxis]
                sums["T"] = sums["T"] + p["T"]
    return sums | {
        "n": sum(p["n"] for p in parts),
        "n_positive": sum(p["n_positive"] for p in parts),
        "W": W,
        "w_ok": all(p["w_ok"] for p in parts),
        "x_ok": all(p["x_ok"] for p in parts),
        "y_ok": all(p["y_ok"] for p in parts),
        "off_ok": all(p["off_ok"] for p in parts),
        "amax": amax,
        "mean": mean,
        "m2": m2,
        "ymean": ymean,
        "ym2": ym2,
        **{k: np.min([p[k] for p in parts], axis=0) for k in ("ymin", "ymin_all")},
        **{k: np.max([p[k] for p in parts], axis=0) for k in ("ymax", "ymax_all")},
        "off": sum(p["off"] for p in parts),
    }


def _combine_stats(parts: list[dict]) -> dict:
    """The chunks' statistics combined; column moments in units of the global maxima."""
    s = _merge_stats(parts)
    W = s["W"]
    stats = {k: s[k] for k in ("G", "XT", "T") if k in s}
    return (
        stats
        | {k: s[k] for k in ("n", "W", "w_ok", "x_ok", "y_ok", "off_ok")}
        | {
            "amax": np.where(s["amax"] > 0, s["amax"], 1.0),
            "mean_s": s["mean"],
            "var_s": s["m2"] / W if W > 0 else s["m2"],
            "ymean": s["ymean"],
            "yvar": s["ym2"] / W if W > 0 else s["ym2"],
            **{k: s[k] for k in ("ymin", "ymax", "ymin_all", "ymax_all")},
            "off_mean": s["off"] / W if W > 0 else 0.0,
        }
    )


def _moments(stats: dict, center: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales as :func:`sklik._design.column_moments` defines them."""
    amax, mean_s, var_s = stats["amax"], stats["mean_s"], stats["var_s"]
    if not center:  # root mean squares: E[x^2] = var + mean^2
        var_s = var_s + mean_s**2
        mean_s = np.zeros_like(mean_s)
    std_s = np.sqrt(np.maximum(var_s, 0.0))
    constant = std_s <= 16 * np.finfo(np.float64).eps * np.maximum(np.abs(mean_s), 1e-300)
    scale = np.where(constant, 1.0, std_s * amax)
    mean = mean_s * amax
    if center:
        # a constant column's value is its largest |x|, exactly: its weighted mean may round
        # off (3 * (1 + 1e-16)), and the centred column is then a constant 4e-16, collinear
        # with the intercept (in memory it is set to 0): weighted huber Newton fits ran to
        # max_iter and ended 0.15 above the optimum
        exact = np.where(mean_s == 0, 0.0, np.copysign(amax, mean_s))
        mean = np.where(constant, exact, mean)
    return mean, scale


def _standardise(X: np.ndarray, mean: np.ndarray, scale: np.ndarray, center: bool) -> np.ndarray:
    """The in-memory design's arithmetic (:func:`sklik._design.make_design`) on one block."""
    # C order: a DataFrame's block arrives column-major, and the chunk's objective works on
    # C-contiguous rows (DenseDesign would copy it once more on every pass)
    if center:
        Z = np.subtract(X, mean, dtype=np.float64, order="C")
    else:
        Z = np.array(X, dtype=np.float64, order="C")
    Z /= scale
    return Z


# -- scheduling ---------------------------------------------------------------------------------


def _client() -> Any:
    """The active ``distributed.Client`` that computations run on, or None.

    None also when a client exists but another scheduler is selected (``dask.config.set(
    scheduler="threads")``): the computations, and a persisted design, would then live in
    this process.
    """
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:
        return None
    if dask.base.get_scheduler() != client.get:
        return None
    return client


def _available_memory() -> float:
    """Memory the design may occupy when persisted: the workers' (none without a client)."""
    client = _client()
    if client is None:
        # dask's local scheduler would hold the persisted design in this, the fitting,
        # process: out of core on one machine, the chunks are streamed on every pass instead
        return 0.0
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        total = sum(float(w.get("memory_limit") or 0) for w in workers)
        if total > 0:
            return total
    except Exception:  # noqa: BLE001 (an unusual scheduler: do not persist)
        return 0.0
    try:  # workers without a memory limit: this machine's
        import psutil

        return float(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover (psutil comes with distributed)
        return 0.0


def _maybe_persist(arrays: list, nbytes: float, persist: Any) -> list:
    """Persist ``arrays`` in the cluster when ``persist`` says so ("auto": when they fit)."""
    if persist == "auto":
        persist = nbytes <= _PERSIST_FRACTION * _available_memory()
    if not persist:
        return arrays
    present = [a for a in arrays if a is not None]
    persisted = iter(dask.persist(*present))
    return [None if a is None else next(persisted) for a in arrays]


def _add(a, b):
    """Sum of two partial results: tuples and dicts of arrays, entry by entry."""
    if isinstance(a, _Sums):
        return a + b
    if isinstance(a, tuple):
        return tuple(x + y for x, y in zip(a, b, strict=True))
    return a + b


def _add_all(*parts):
    """Sum of partial results (see :func:`_add`), in order."""
    total = parts[0]
    for part in parts[1:]:
        total = _add(total, part)
    return total


# Partial results each task of the reduction tree sums. The partials are small (a gradient,
# a Hessian); each level of the tree costs a round of transfers between workers: a binary
# tree over 8 chunks took 121 ms per pass on a 2-worker LocalCluster, one task summing the
# 8 partials 78 ms (the chunks' own work about 5 ms)
_TREE_FAN_IN = 16


def _tree_sum(parts: list) -> Any:
    """A tree of delayed sums over ``parts``, each node summing up to ``_TREE_FAN_IN``."""
    add = dask.delayed(_add_all, pure=True)
    while len(parts) > 1:
        parts = [
            add(*parts[i : i + _TREE_FAN_IN]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), _TREE_FAN_IN)
        ]
    return parts[0]


# -- the blocked objective ----------------------------------------------------------------------


def _chunk_design(Z: np.ndarray, moments: tuple | None) -> Any:
    """A chunk's rows as the linear model's design.

    Already standardised (``moments`` None), or standardised implicitly by
    ``moments = (mean, scale)``: :class:`sklik._design.ShiftedDenseDesign`, the in-memory
    design of the same data.
    """
    if moments is None:
        return DenseDesign(Z)
    return ShiftedDenseDesign(np.asarray(Z, dtype=np.float64), *moments)


def _chunk_objective(Z, Y, w, off, model, loss, weight_total, moments=None):
    w = np.ones(Z.shape[0]) if w is None else w
    X = _chunk_design(Z, moments) if isinstance(model, LinearModel) else Z
    return Objective(model, loss, X, Y, w, 0.0, offset=off, weight_total=weight_total)


def _chunk_eval(Z, Y, w, off, model, loss, weight_total, theta, what, moments=None):
    """One chunk's share: ``value``, ``(value, gradient[, hessian])`` or ``hessp``.

    Summed over row blocks of ``_EVAL_BLOCK_ROWS`` (every share is a sum over rows).
    ``moments``: the linear model's implicit standardisation (see :func:`_chunk_design`).
    """
    kind = what[0]
    total = None
    for Zb, Yb, wb, ob in _row_blocks((Z, Y, w, off), _EVAL_BLOCK_ROWS):
        obj = _chunk_objective(Zb, Yb, wb, ob, model, loss, weight_total, moments)  # alpha 0
        if kind == "value":
            part = obj.value(theta)
        elif kind == "kinked":
            part = int(obj.at_kink(theta))
        elif kind == "floored":
            part = obj.n_floored(theta)
        elif kind == "vanishing":
            part = obj.n_vanishing(theta, what[1])
        elif kind == "hessp":
            part = obj.hessp(theta, what[1])
        else:
            part = obj.data_term(theta, hessian=kind == "hessian")
        total = part if total is None else _add(total, part)
    if kind == "sampled":  # (value, gradient) and the Hessian of every step-th row
        step = what[1]
        rows = (Z[::step], Y[::step], None if w is None else w[::step])
        rows += (None if off is None else off[::step],)
        sample = _chunk_objective(*rows, model, loss, weight_total, moments)
        H = sample.data_term(theta, hessian=True)[2]
        total = (*total, H, float(np.sum(rows[2])) if w is not None else float(len(rows[1])))
    return total


class BlockedObjective:
    r"""The :class:`~sklik._objective.Objective` of a data set held as dask row chunks.

    :math:`J(\theta) = \sum_b J_b(\theta) + \tfrac{\alpha}{2}\sum_j \pi_j W_j^2`, where
    :math:`J_b` is the unpenalised objective of chunk :math:`b` with its weights normalised
    by the total over all rows. Offers the interface :func:`sklik._solver.minimize` uses:
    ``__call__`` (value and gradient), ``hessian``, ``hessp``, ``has_hessian``, ``value``,
    ``loss``, ``model``, ``n_nonfinite``. Each call is one pass over the chunks.

    Parameters
    ----------
    model, loss, alpha, penalty_weights
        As for :class:`~sklik._objective.Objective`.
    Z : dask array of shape (n_samples, n_features)
        The design (standardised for the linear model), chunked by rows only.
    Y : dask array of shape (n_samples, n_targets)
        Targets, with ``Z``'s row chunks.
    sample_weight : dask array of shape (n_samples,) or None
        Weights (None: all 1).
    weight_total : float
        The sum of the weights.
    offset : dask array of shape (n_samples, n_targets) or None
    fuse_hessian : bool, default=False
        Compute the Gauss-Newton matrix in the same pass as every gradient (for the Newton
        solver, which asks for it at every accepted point).
    """

    def __init__(
        self,
        model: Any,
        loss: Any,
        Z: da.Array,
        Y: da.Array,
        sample_weight: da.Array | None,
        weight_total: float,
        alpha: float,
        *,
        offset: da.Array | None = None,
        penalty_weights: np.ndarray | None = None,
        fuse_hessian: bool = False,
        moments: tuple | None = None,
    ) -> None:
        self.model = model
        self.moments = moments
        self.loss = loss
        self.alpha = float(alpha)
        pw = np.ones(model.n_weights) if penalty_weights is None else penalty_weights
        self._ridge = self.alpha * np.asarray(pw, dtype=np.float64)
        self.weight_total = float(weight_total)
        nb = len(Z.chunks[0])
        self._parts = list(
            zip(
                _blocks(Z, nb),
                _blocks(Y, nb),
                _blocks(sample_weight, nb),
                _blocks(offset, nb),
                strict=True,
            )
        )
        self.fuse_hessian = bool(fuse_hessian and self.has_hessian)
        # a sampled Hessian (every step-th row of each chunk) comes with the gradient in every
        # pass until the solver asks for an exact one (see hessian_sample_step)
        n = Z.shape[0]
        known = self.has_hessian and n == n  # (not NaN: unknown chunk sizes)
        step = hessian_sample_step(int(n), model.n_coef) if known else 1
        self.hessian_sample_step = step
        self._sampling = self.fuse_hessian and step > 1
        self._sampled: dict[bytes, np.ndarray] = {}
        self._last: tuple | None = None
        # Hessians of the last evaluations, by theta: scipy's trust region asks for the
        # Hessian at an accepted point after evaluating other (rejected) trial points
        self._hess: dict[bytes, np.ndarray] = {}
        self.n_nonfinite = 0
        self.n_passes = 0

    @property
    def has_hessian(self) -> bool:
        """As :attr:`sklik._objective.Objective.has_hessian`."""
        return self.loss.second_order and hasattr(self.model, "gauss_newton")

    def _reduce(self, theta: np.ndarray, what: tuple) -> Any:
        evaluate = dask.delayed(_chunk_eval, pure=True)
        args = (self.model, self.loss, self.weight_total, theta, what, self.moments)
        parts = [evaluate(Z, Y, w, off, *args) for Z, Y, w, off in self._parts]
        self.n_passes += 1
        return dask.compute(_tree_sum(parts))[0]

    def _penalty(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = theta[: self.model.n_weights]
        grad = self._ridge * weights
        return 0.5 * float(weights @ grad), grad

    def value(self, theta: np.ndarray, out: Any = None) -> float:
        """Objective value at ``theta`` (one pass, none if it was the last evaluation)."""
        last = self._last
        if last is not None and np.array_equal(last[0], theta) and math.isfinite(last[1]):
            return last[1]
        with np.errstate(over="ignore", invalid="ignore"):
            return float(self._reduce(theta, ("value",))) + self._penalty(theta)[0]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective value and gradient at ``theta`` (and the Hessian, if fused)."""
        last = self._last
        if last is not None and np.array_equal(last[0], theta):
            return last[1], last[2].copy()
        return self._evaluate(theta, self.fuse_hessian)

    def _evaluate(self, theta: np.ndarray, fused: bool) -> tuple[float, np.ndarray]:
        sampling = fused and self._sampling
        if sampling:
            what: tuple = ("sampled", self.hessian_sample_step)
        else:
            what = ("hessian",) if fused else ("gradient",)
        res = self._reduce(theta, what)
        value, grad = float(res[0]), np.array(res[1])
        penalty, penalty_grad = self._penalty(theta)
        grad[: self.model.n_weights] += penalty_grad
        value += penalty
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            self.n_nonfinite += 1
            value, grad = math.inf, np.zeros_like(grad)
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if sampling:  # the sample's Hessian times sum(w) / sum of the sample's w
            if len(self._sampled) >= 8:
                self._sampled.pop(next(iter(self._sampled)))
            total = self.weight_total
            self._sampled[key] = res[2] * (total / res[3]) if res[3] > 0 else None
        elif fused:
            if len(self._hess) >= 8:
                self._hess.pop(next(iter(self._hess)))
            self._hess[key] = res[2]
        self._last = (theta.copy(), value, grad.copy())
        return value, grad

    def sampled_hessian(self, theta: np.ndarray) -> np.ndarray:
        r"""The Hessian estimated on every ``hessian_sample_step``-th row of each chunk.

        As :meth:`sklik._objective.Objective.sampled_hessian`; it comes with the gradient of
        the pass at ``theta`` (one more pass if ``theta`` was not evaluated so).
        """
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if self._sampled.get(key) is None:
            if not self._sampling:
                return self.hessian(theta)
            self._evaluate(theta, True)
            if self._sampled.get(key) is None:  # no weight in the sample
                return self.hessian(theta)
        H = self._sampled[key].copy()
        H[np.diag_indices(self.model.n_weights)] += self._ridge
        return H

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        r"""Exact Hessian :math:`\sum_b J_b^\top D_b J_b + \alpha \operatorname{diag}(\pi)`."""
        key = np.asarray(theta, dtype=np.float64).tobytes()
        # the solver asks for the exact Hessian once the sample's is not good enough: from
        # here on every pass brings the exact one
        self._sampling = False
        if key not in self._hess:  # one pass for the value, gradient and Hessian there
            self._evaluate(theta, True)
        H = self._hess[key].copy()
        H[np.diag_indices(self.model.n_weights)] += self._ridge
        return H

    def at_kink(self, theta: np.ndarray) -> bool:
        """As :meth:`sklik._objective.Objective.at_kink` (a pass, for a loss with kinks)."""
        if not self.loss.has_kinks:
            return False
        return bool(self._reduce(theta, ("kinked",)))

    def n_floored(self, theta: np.ndarray) -> int:
        """As :meth:`sklik._objective.Objective.n_floored` (a pass, for a loss with a floor)."""
        if not self.loss.has_floor:
            return 0
        return int(self._reduce(theta, ("floored",)))

    def n_vanishing(self, theta: np.ndarray, mean_floor: float) -> int:
        """As :meth:`sklik._objective.Objective.n_vanishing` (a pass, for a log link)."""
        if self.loss.link_name != "log":
            return 0
        return int(self._reduce(theta, ("vanishing", mean_floor)))

    def hessp(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Gauss-Newton product with ``v`` (one pass; the explicit Hessian when cached)."""
        if self.has_hessian:
            return self.hessian(theta) @ v
        hv = np.array(self._reduce(theta, ("hessp", v)))
        hv[: self.model.n_weights] += self._ridge * v[: self.model.n_weights]
        return hv


# -- scalar reductions (cold start, scale) ------------------------------------------------------


def _chunk_init_grad(Y, w, loss, c):
    """Weighted gradient of the loss of the constants ``c`` (per target) on one chunk."""
    w = np.ones(Y.shape[0]) if w is None else w
    return np.array(
        [
            w @ loss._elementwise(np.full(Y.shape[0], c[k]), Y[:, k], grad=True)[1]
            for k in range(Y.shape[1])
        ]
    )


def _sum_blocks(func, arrays: list, *args) -> Any:
    """Sum of ``func(*blocks, *args)`` over the row blocks of ``arrays`` (one pass)."""
    nb = len(next(a for a in arrays if a is not None).chunks[0])
    blocks = [_blocks(a, nb) for a in arrays]
    call = dask.delayed(func, pure=True)
    return dask.compute(_tree_sum([call(*b, *args) for b in zip(*blocks, strict=True)]))[0]


#: pivots per target and pass of the weighted median's search (each pass narrows 64 times)
_MEDIAN_PIVOTS = 63


def _weighted_median(Y: da.Array, w: da.Array | None, stats: dict) -> np.ndarray:
    """Per target, ``np.quantile(y, 0.5, weights=w, method="inverted_cdf")``, over passes.

    The smallest value ``v`` of y with ``sum(w[y <= v]) >= sum(w) / 2`` (what the in-memory
    fit starts from: the l1 loss's minimiser is an interval between two values, and a root
    of its gradient anywhere in it gave an MLP another start, and another local optimum).
    Each pass counts the weights below ``_MEDIAN_PIVOTS`` pivots spread over the bracket
    that holds ``v`` and finds the bracket's smallest and largest values of positive
    weight: it ends when they are one value (a few passes; float64's resolution bounds it).
    """
    k = Y.shape[1]
    w = da.ones(Y.shape[0], chunks=Y.chunks[0]) if w is None else w
    positive = (w > 0)[:, np.newaxis]
    half = 0.5 * float(stats["W"])
    lo = np.asarray(stats["ymin"], dtype=np.float64).copy()
    hi = np.asarray(stats["ymax"], dtype=np.float64).copy()
    while True:
        inside = positive & (Y >= lo) & (Y <= hi)
        low, high = (
            da.where(inside, Y, np.inf).min(axis=0),
            da.where(inside, Y, -np.inf).max(axis=0),
        )
        pivots = lo + (hi - lo) * np.linspace(0.0, 1.0, _MEDIAN_PIVOTS + 2)[1:-1, np.newaxis]
        below = ((Y[:, np.newaxis, :] <= pivots) * w[:, np.newaxis, np.newaxis]).sum(axis=0)
        low, high, below = (np.asarray(a) for a in dask.compute(low, high, below))
        if np.all(low == high):
            return low
        for j in range(k):
            if low[j] == high[j]:
                lo[j] = hi[j] = low[j]
                continue
            # the first pivot with half the weight at or below it bounds v from above
            i = int(np.searchsorted(below[:, j], half, side="left"))
            new_lo = low[j] if i == 0 else np.nextafter(pivots[i - 1, j], np.inf)
            new_hi = high[j] if i == _MEDIAN_PIVOTS else pivots[i, j]
            lo[j], hi[j] = max(new_lo, low[j]), min(new_hi, high[j])


def _init_raw(loss, stats: dict, Y: da.Array, w: da.Array | None) -> np.ndarray:
    """The loss's ``init_raw`` (the best constant) from the reductions of the data."""
    k = Y.shape[1]
    name = type(loss).__name__
    mean = stats["ymean"]
    if name in ("MSELoss", "PoissonNLLLoss"):
        return loss.init_raw(mean[np.newaxis], None)
    if name == "GaussianNLLLoss":
        floor = max(float(loss.eps), np.finfo(np.float64).tiny)
        return np.stack([mean, np.log(np.maximum(stats["yvar"], floor))])
    if loss.n_params > 1:  # any other loss: minimise the constant model's objective
        return _constant_minimiser(loss, Y, w, stats)
    if isinstance(loss, L1Loss):  # in memory: NumPy's weighted median, exactly
        return _weighted_median(Y, w, stats)[np.newaxis]
    # a one-parameter convex loss: the root of the weighted gradient, one pass over y per
    # evaluation (Newton's method where the loss has a curvature, e.g. huber: exact once the
    # residuals' zones settle; else Brent's method, e.g. l1's weighted median)
    out = np.empty(k)
    for j in range(k):
        lo, hi = float(stats["ymin"][j]), float(stats["ymax"][j])
        if lo == hi:
            out[j] = lo
            continue
        xtol = (1e-14 if not isinstance(loss, L1Loss) else 1e-10) * max(1.0, abs(lo), abs(hi))
        if loss.has_curvature:

            def grad_curv(c: float, j: int = j) -> tuple[float, float]:
                consts = np.zeros(k)
                consts[j] = c
                g, h = _sum_blocks(_chunk_init_newton, [Y, w], loss, consts)
                return float(g[j]), float(h[j])

            out[j] = _newton_root(grad_curv, float(mean[j]), lo, hi, xtol)
            continue

        def wgrad(c: float, j: int = j) -> float:
            consts = np.zeros(k)
            consts[j] = c
            return float(_sum_blocks(_chunk_init_grad, [Y, w], loss, consts)[j])

        out[j] = brentq(wgrad, lo, hi, xtol=xtol)
    return out[np.newaxis]


def _newton_root(
    fd: Any, x0: float, lo: float, hi: float, xtol: float, max_step: float = math.inf
) -> float:
    """The root of an increasing function by Newton's method, safeguarded by bisection.

    ``fd(x)`` returns ``(f(x), f'(x))`` (one pass over the data). The root lies in
    ``[lo, hi]`` (infinite ends allowed, then no step exceeds ``max_step``); a Newton step
    that leaves the bracket known so far, or a zero slope, is replaced by bisection (or by a
    ``max_step`` step towards the root while the bracket is open). Stops when a step or the
    bracket is below ``xtol``, after at most 100 evaluations.
    """
    x = min(max(x0, lo), hi)
    for _ in range(100):
        f, d = fd(x)
        if f == 0 or not math.isfinite(f):
            return x
        if f > 0:
            hi = x
        else:
            lo = x
        new = x - f / d if d > 0 else math.nan
        if math.isfinite(new):
            new = min(max(new, x - max_step), x + max_step)
        if not lo < new < hi:
            if math.isfinite(lo) and math.isfinite(hi):
                new = 0.5 * (lo + hi)
            else:
                new = x + (max_step if f < 0 else -max_step)
        if abs(new - x) <= xtol or hi - lo <= xtol:
            return new
        x = new
    return x


def _chunk_constant_grad(Y, w, off, loss, raw0, weight_total):
    """Weighted mean loss of the constant raw outputs ``raw0`` on one chunk and its gradient.

    ``off``: the chunk's offset on the mean head, or None.
    """
    w = np.ones(Y.shape[0]) if w is None else w
    raw = np.repeat(raw0[:, np.newaxis, :], Y.shape[0], axis=1)
    if off is not None:
        raw[0] += off
    c = (w / weight_total / Y.shape[1])[:, np.newaxis]
    with np.errstate(over="ignore", invalid="ignore"):
        value, grad = loss.raw_loss_gradient(Y, raw)
        return float(np.sum(c * value)), np.sum(grad * c, axis=1)


#: the rows of y the constant model's start is computed from (see _constant_minimiser)
_START_ROWS = 4096


def _constant_minimiser(
    loss,
    Y: da.Array,
    w: da.Array | None,
    stats: dict,
    start: np.ndarray | None = None,
    off: da.Array | None = None,
) -> np.ndarray:
    """The constant raw outputs minimising the weighted mean loss (any loss), offset added.

    Started at ``start``, or at the loss's own ``init_raw`` on the first rows, up to
    ``_START_ROWS`` of them whichever chunks hold them (a start inside the loss's well-scaled
    region: e.g. the negative binomial's dispersion, whose gradient vanishes at the Poisson
    limit; a first chunk of one row put it there, and the fit ended 0.17 above the
    optimum without a warning), then L-BFGS-B over passes over ``y``
    (:func:`sklik._data.minimise_constant`).
    """
    shape = (loss.n_params, Y.shape[1])
    if start is None:
        k = min(Y.shape[0], _START_ROWS)
        first, weights = dask.compute(Y[:k], None if w is None else w[:k])
        first = np.asarray(first)
        weights = None if weights is None else np.asarray(weights)
        if weights is not None and not weights.sum() > 0:
            weights = None
        start = np.asarray(loss.init_raw(first, weights), dtype=np.float64).reshape(shape)

    def value_and_grad(c: np.ndarray) -> tuple[float, np.ndarray]:
        return _sum_blocks(_chunk_constant_grad, [Y, w, off], loss, c, stats["W"])

    return minimise_constant(start, value_and_grad)


def _chunk_init_newton(Y, w, loss, c):
    """Weighted gradient and curvature of the loss of the constants ``c`` on one chunk."""
    w = np.ones(Y.shape[0]) if w is None else w
    raw = np.broadcast_to(c, Y.shape)[np.newaxis]
    with np.errstate(over="ignore", invalid="ignore"):
        _, grad = loss.raw_loss_gradient(Y, raw)
        curv = np.reshape(loss.raw_hessian(Y, raw), Y.shape)
    return np.stack([w @ grad[0], w @ curv])


def _chunk_scale_newton(R, w, loss, sigma):
    r"""``sum w u l'(u)`` and its derivative in :math:`-\log\sigma`, ``sum w (u l' + u^2 l'')``."""
    w = np.ones(R.shape[0]) if w is None else w
    u = R / sigma
    zeros = np.zeros_like(u)
    with np.errstate(over="ignore", invalid="ignore"):
        _, grad = loss.raw_loss_gradient(zeros, u[np.newaxis])
        curv = np.reshape(loss.raw_hessian(zeros, u[np.newaxis]), u.shape)
    ug = u * grad[0]
    return np.stack([w @ ug, w @ (ug + u * u * curv)])


def _chunk_scale_stats(R, w, loss, sigma):
    """``sum c u l'(u)`` with ``u = r / sigma`` per target (``sigma=None``: sums of r^2, |r|)."""
    w = np.ones(R.shape[0]) if w is None else w
    if sigma is None:
        return np.stack([w @ (R * R), w @ np.abs(R)])
    u = R / sigma
    return np.array(
        [w @ (u[:, k] * loss._elementwise(u[:, k], 0.0, grad=True)[1]) for k in range(R.shape[1])]
    )


def _fit_scale(loss, R: da.Array, w: da.Array | None, W: float) -> np.ndarray:
    """The loss's ``fit_scale`` of each target's residuals, from reductions of ``R``."""
    sq, ab = _sum_blocks(_chunk_scale_stats, [R, w], loss, None) / W
    tiny = float(np.finfo(np.float64).tiny)
    scales = []
    for k in range(R.shape[1]):
        if sq[k] == 0:
            scales.append(tiny)
        elif isinstance(loss, MSELoss):
            scales.append(math.sqrt(2.0 * sq[k]))
        elif isinstance(loss, L1Loss):
            scales.append(float(ab[k]))
        elif loss.has_curvature:
            # Newton's method in log sigma on 1 - sum c u l'(u), which increases with it

            def stationarity_newton(log_sigma: float, k: int = k) -> tuple[float, float]:
                sigma = np.ones(R.shape[1])
                sigma[k] = math.exp(log_sigma)
                value, slope = _sum_blocks(_chunk_scale_newton, [R, w], loss, sigma) / W
                return 1.0 - float(value[k]), float(slope[k])

            start = 0.5 * math.log(sq[k])
            root = _newton_root(stationarity_newton, start, -math.inf, math.inf, 1e-13, 2.0)
            scales.append(math.exp(root))
        else:

            def stationarity(log_sigma: float, k: int = k) -> float:
                sigma = np.ones(R.shape[1])
                sigma[k] = math.exp(log_sigma)
                return float(_sum_blocks(_chunk_scale_stats, [R, w], loss, sigma)[k] / W) - 1.0

            lo = hi = 0.5 * math.log(sq[k])
            while stationarity(lo) < 0:
                lo -= 1.0
            while stationarity(hi) > 0:
                hi += 1.0
            scales.append(math.exp(brentq(stationarity, lo, hi, xtol=1e-13)))
    return np.array(scales)


# -- least squares ------------------------------------------------------------------------------


def _chunk_gram(Z, T, w, fit_intercept, moments=None):
    """Weighted sums of one chunk: sum w, sum w z, sum w t, Z^T W Z, Z^T W T."""
    w = np.ones(Z.shape[0]) if w is None else w
    Z = Z if moments is None else (Z - moments[0]) / moments[1]
    A = Z * np.sqrt(w)[:, np.newaxis]
    return (w.sum(), w @ Z, w @ T, A.T @ A, (Z * w[:, np.newaxis]).T @ T)


def _chunk_qr_rows(Z, T, w, zbar, tbar, weight_total, moments=None):
    w = np.ones(Z.shape[0]) if w is None else w[:, 0]
    Z = Z if moments is None else (Z - moments[0]) / moments[1]
    root = np.sqrt(w / weight_total)[:, np.newaxis]
    return np.hstack([(Z - zbar) * root, (T - tbar) * root])


def _least_squares(Z, T, w, W, alpha, fit_intercept, pw, sums=None, moments=None):
    r""":func:`sklik._solver.least_squares` on dask chunks: one pass for the Gram matrix.

    When the scaled normal equations are ill-conditioned, a second pass computes the R
    factor of the weighted, centred ``[Z, T]`` by a tall-skinny QR (``dask.array.linalg.tsqr``)
    and the least-squares problem is solved from it by SVD, as the in-memory solver does.
    Returns the coefficients, the intercepts and the weighted sums
    :math:`(\sum w, \sum w z, \sum w z z^\top)` of the pass (the covariance's Gram matrix).
    ``sums``: those of the pass, :math:`(\sum w, \sum w z, \sum w t, Z^\top W Z,
    Z^\top W T)`, when known (:meth:`DaskData.fused_gram`): then no pass. ``moments``: ``Z``
    is X, standardised implicitly (see :func:`_chunk_design`).
    """
    if sums is None:
        sums = _sum_blocks(_chunk_gram, [Z, T, w], fit_intercept, moments)
    sw, sz, st, G, ZT = sums
    p, k = Z.shape[1], T.shape[1]
    if fit_intercept:
        zbar, tbar = sz / sw, st / sw
        gram = (G - sw * np.outer(zbar, zbar)) / W
        rhs = (ZT - sw * np.outer(zbar, tbar)) / W
    else:
        zbar, tbar = np.zeros(p), np.zeros(k)
        gram, rhs = G / W, ZT / W
    v, norms, ridge = _solver.gram_solve(gram, rhs, 0.5 * alpha * k * pw)
    if v is None:
        rows = da.map_blocks(
            _chunk_qr_rows,
            Z,
            T,
            None if w is None else w[:, np.newaxis],  # (a 1-D w would align with Z's columns)
            zbar,
            tbar,
            W,
            moments,
            dtype=np.float64,
            chunks=(Z.chunks[0], (p + k,)),
        )
        _, r = da.linalg.tsqr(rows)
        R = np.asarray(r.compute())
        As, Bs = R[:, :p] / norms, R[:, p:]
        if alpha > 0:
            As = np.vstack([As, np.diag(np.sqrt(ridge))])
            Bs = np.vstack([Bs, np.zeros((p, k))])
        cond = np.finfo(np.float64).eps * max(Z.shape[0], p)
        import scipy.linalg

        v = scipy.linalg.lstsq(As, Bs, cond=cond, lapack_driver="gelsd")[0]
    coef = (v / norms[:, np.newaxis]).T
    return coef, tbar - coef @ zbar, (sw, sz, G)


def _chunk_squared_residuals(Z, Y, w, off, model, theta, moments=None):
    """Per target, one chunk's weighted sum of squared residuals.

    ``moments``: ``Z`` is the raw ``X`` and ``(mean, scale)`` standardise it implicitly
    (:class:`sklik._design.ShiftedDenseDesign`: no standardised copy of the chunk).
    """
    w = np.ones(Z.shape[0]) if w is None else w
    R = _chunk_residual(Z, Y, off, model, theta, Y.shape[1], moments)
    return w @ (R * R)


# -- least absolute deviations ------------------------------------------------------------------

# Rows per block of the per-row arithmetic within a chunk: its vectors stay small enough for
# the allocator to reuse memory (dask's workers hand freed memory back to the OS at once, by
# MALLOC_TRIM_THRESHOLD_, which makes every large temporary cost fresh page faults)
_LAD_BLOCK_ROWS = 2048


def _lad_rows(Z, T, w, problem):
    """One chunk's rows of positive weight in the units of :func:`sklik._lad.frisch_newton`.

    ``A = c [Z_cols, 1]`` and, per target solved, ``V = c (t - shift) / scale`` with
    ``c = w / mean(w > 0)``; also the mask of the rows kept (None: all).
    """
    cols, fit_intercept, c_unit, shift, scale, targets = problem
    keep = None if w is None or np.all(w > 0) else w > 0
    rows = slice(None) if keep is None else keep
    c = np.ones(Z.shape[0]) if w is None else w[rows] * c_unit
    Zk = Z[rows] if cols.size == Z.shape[1] else Z[rows][:, cols]
    A = np.empty((c.size, cols.size + fit_intercept), order="F")
    np.multiply(Zk, c[:, np.newaxis], out=A[:, : cols.size])
    if fit_intercept:
        A[:, -1] = c
    V = c[:, np.newaxis] * ((T[rows][:, targets] - shift) / scale)
    return A, V, keep


def _lad_moments(Z, T, w):
    """Per-chunk sums for the l1 problem's units: rows kept, column mean squares, y's range."""
    w = np.ones(Z.shape[0]) if w is None else w
    keep = w > 0
    Tk = T[keep]
    empty = np.full(T.shape[1], np.inf)
    return _lad._Partial(
        {"n": int(keep.sum()), "zz": w @ (Z * Z), "wt": w @ T},
        mins={"tmin": Tk.min(axis=0) if Tk.size else empty},
        maxs={"tmax": Tk.max(axis=0) if Tk.size else -empty},
    )


def _lad_block(A, V, S, S_new, ids, requests) -> tuple:
    """The partials of ``requests`` on one block of rows (``S_new``: the moved state, written)."""
    parts = []
    for j, kind, *args in requests:
        v, Sj = V[:, j], None if S is None else S[:, 4 * j : 4 * j + 4]
        if kind == "setup":
            part = _lad._pass_setup(A, v)
        elif kind == "start":
            part = _lad._pass_start(A, v, *args)
        elif kind == "affine":
            part = _lad._pass_affine(A, v, Sj, *args, ids)[0]
        elif kind == "corrector":
            dy_affine, dy, mu = args
            q, rr = _lad._newton_terms(Sj)
            rhs = _lad._corrector_rhs(Sj, _lad._affine(A, Sj, q, rr, dy_affine), rr)
            part = _lad._pass_corrector(A, v, Sj, rhs, dy, mu, q)[0]
        else:  # "state": move, then the sums at the new point
            move, beta, k = args
            S_new[:, 4 * j : 4 * j + 4] = _lad._move(A, v, Sj, move)
            part = _lad._pass_state(A, v, S_new[:, 4 * j : 4 * j + 4], beta, k, ids)
        parts.append(part)
    return tuple(parts)


def _lad_chunk(Z, T, w, S, start, problem, requests):
    """One chunk's share of one pass of :func:`sklik._lad._ipm_passes` for every target.

    ``requests`` holds ``(j, kind, *args)`` for the targets' drivers (``j``: the target's
    slot, columns ``4j:4j+4`` of the state ``S``). Returns the tuple of their partials, and
    first the chunk's new state if one of them moved it. The rows are processed in blocks of
    ``_LAD_BLOCK_ROWS``, whose partials add up.
    """
    A, V, keep = _lad_rows(Z, T, w, problem)
    ids = start + (np.arange(Z.shape[0]) if keep is None else np.flatnonzero(keep))
    if S is not None and keep is not None:
        S = np.asfortranarray(S[keep])
    S_new = None
    if any(r[1] == "state" for r in requests):
        S_new = np.zeros((A.shape[0], 4 * V.shape[1]), order="F") if S is None else S.copy("F")
    total = None
    for lo in range(0, max(A.shape[0], 1), _LAD_BLOCK_ROWS):
        rows = slice(lo, lo + _LAD_BLOCK_ROWS)
        parts = _lad_block(
            A[rows],
            V[rows],
            None if S is None else S[rows],
            None if S_new is None else S_new[rows],
            ids[rows],
            requests,
        )
        total = parts if total is None else tuple(a + b for a, b in zip(total, parts, strict=True))
    if S_new is None:
        return total
    if keep is not None:  # rows of zero weight hold zeros, which no pass reads
        S_full = np.zeros((Z.shape[0], S_new.shape[1]), order="F")
        S_full[keep] = S_new
        S_new = S_full
    return S_new, total


class _LADChunks:
    """Passes of :func:`sklik._lad._ipm_passes` over dask row chunks, for all targets at once.

    The iterations' state is an (n, 4 x targets) dask array with the design's row chunks,
    persisted in the cluster between iterations; a pass maps :func:`_lad_chunk` over the
    chunks and sums the partial results by a tree reduction, so that only (p+1) x (p+1)
    matrices, (p+1)-vectors and the 8 (p+1) candidate rows of the vertex step reach the client.
    """

    def __init__(self, Z, T, w, problem, counter):
        nb = len(Z.chunks[0])
        starts = np.concatenate([[0], np.cumsum(Z.chunks[0])[:-1]]).tolist()
        self._parts = list(zip(_blocks(Z, nb), _blocks(T, nb), _blocks(w, nb), starts, strict=True))
        self._rows = Z.chunks[0]
        self._problem = problem
        self._width = 4 * len(problem[-1])
        self._counter = counter
        self._S: da.Array | None = None

    def run(self, requests: list) -> tuple:
        """One pass: the partials of ``requests`` (see :func:`_lad_chunk`), in order."""
        call = dask.delayed(_lad_chunk, pure=True)
        S = _blocks(self._S, len(self._parts))
        parts = [
            call(Z, T, w, Sb, start, self._problem, requests)
            for (Z, T, w, start), Sb in zip(self._parts, S, strict=True)
        ]
        self._counter.n_passes += 1
        if not any(r[1] == "state" for r in requests):
            return dask.compute(_tree_sum(parts))[0]
        S = da.concatenate(
            [
                da.from_delayed(p[0], shape=(n, self._width), dtype=np.float64)
                for p, n in zip(parts, self._rows, strict=True)
            ]
        )
        # (unoptimised: array optimisation would fuse a second copy of the chunk's task into
        # the state's chain, computing every chunk twice)
        self._S, total = dask.persist(S, _tree_sum([p[1] for p in parts]), optimize_graph=False)
        return total.compute()


def _least_absolute_deviations(Z, T, w, W, fit_intercept, *, counter=None):
    r""":func:`sklik._solver.least_absolute_deviations` on dask chunks, exact.

    Minimises :math:`\sum_i c_i |t_i - z_i^\top b - b_0|` for each column of ``T`` by the
    Frisch--Newton interior-point method of :func:`sklik._lad.frisch_newton`: the same driver
    (:func:`sklik._lad._ipm_passes`, one per target, advanced together) and the same per-row
    arithmetic, run chunk by chunk by :class:`_LADChunks`. Per iteration three passes over the
    chunks (the weighted Gram matrix :math:`Z^\top Q Z` with the duality gap; the predictor's
    step ratios; the corrector's), the :math:`(p+1) \times (p+1)` systems solved on the client.
    From a relative duality gap of 1e-3 on, each iteration also interpolates the :math:`p(+1)`
    rows of smallest :math:`|r_i|` and certifies that vertex by the subgradient condition (its
    multipliers within [-1, 1]) in the predictor's pass: the certified vertex is the exact
    optimum. Failing a certificate, the interior-point solution is returned once its relative
    duality gap is at most 1e-12.

    Rows of zero weight are ignored; constant columns (the standardisation leaves them as
    rounding noise) get coefficient 0. One pass computes the units (:math:`c / \bar c` over
    the rows kept; ``t`` centred by its weighted mean with an intercept and divided by its
    largest deviation), two more start the iterations.

    Parameters
    ----------
    Z : dask array of shape (n_samples, n_features)
        The standardised design, chunked by rows.
    T : dask array of shape (n_samples, n_targets)
        Targets (minus the offset), with ``Z``'s row chunks.
    w : dask array of shape (n_samples,) or None
        Sample weights (None: all 1).
    W : float
        The sum of the weights.
    fit_intercept : bool
    counter : object with an ``n_passes`` attribute, optional
        Incremented by one per pass over the chunks.

    Returns
    -------
    coef : ndarray of shape (n_targets, n_features)
    intercept : ndarray of shape (n_targets,)

    Raises
    ------
    ValueError
        If the design is rank deficient on the rows of positive weight, or the optimum could
        be neither certified nor reached to a relative duality gap of 1e-12 (use
        ``solver="lbfgs"`` then).
    """
    counter = SimpleNamespace(n_passes=0) if counter is None else counter
    p, K = Z.shape[1], T.shape[1]
    counter.n_passes += 1
    mom = _sum_blocks(_lad_moments, [Z, T, w])
    cols = np.flatnonzero(mom.sums["zz"] / W >= _solver.LAD_CONSTANT_COLUMN)
    tmin, tmax = mom.mins["tmin"], mom.maxs["tmax"]
    coef, intercept = np.zeros((K, p)), np.zeros(K)
    # a constant target is fitted exactly by its constant (by 0 without an intercept)
    constant = (tmin == tmax) & (fit_intercept | (tmin == 0))
    intercept[constant] = tmin[constant] if fit_intercept else 0.0
    targets = np.flatnonzero(~constant)
    if targets.size == 0:
        return coef, intercept
    shift = np.zeros(K)
    if fit_intercept:
        shift = np.clip(mom.sums["wt"] / W, tmin, tmax)
    scale = np.maximum(tmax - shift, shift - tmin)[targets]
    shift = shift[targets]
    chunks = _LADChunks(
        Z, T, w, (cols, fit_intercept, mom.sums["n"] / W, shift, scale, targets), counter
    )
    drivers = {j: _lad._ipm_passes(1e-12, 100) for j in range(targets.size)}
    results: dict = {}

    def advance(j: int, part: Any) -> tuple | None:
        try:
            return drivers[j].send(part)
        except StopIteration as stop:
            results[j] = stop.value
            return None

    try:
        requests = {j: advance(j, None) for j in drivers}
        while any(r is not None for r in requests.values()):
            active = [(j, r) for j, r in requests.items() if r is not None]
            parts = chunks.run([(j, *r) for j, r in active])
            requests = {j: advance(j, part) for (j, _), part in zip(active, parts, strict=True)}
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            f"The exact l1 solver on dask input needs a design of full column rank on the "
            f"rows of positive weight ({exc}): drop the collinear columns, or fit the l1 loss "
            f"with solver='lbfgs'."
        ) from None
    for j, k in enumerate(targets):
        theta, _, vertex, rel_gap = results[j]
        if vertex is None and not rel_gap <= 1e-12:
            raise ValueError(
                f"The exact l1 solver on dask input neither certified an optimal vertex nor "
                f"reached a relative duality gap of 1e-12 (it stopped at {rel_gap:.2g}, target "
                f"{k}). Fit the l1 loss with solver='lbfgs' (approximate at the kink) or gather "
                f"the data and fit it in memory."
            )
        coef[k, cols] = theta[: cols.size] * scale[j]
        if fit_intercept:
            intercept[k] = theta[cols.size] * scale[j] + shift[j]
    return coef, intercept


# -- fit ----------------------------------------------------------------------------------------


def _chunk_constant(Y, w, off, loss, out_init, weight_total):
    """One chunk's share of the data term of the constant raw outputs ``out_init``."""
    w = np.ones(Y.shape[0]) if w is None else w
    raw = np.repeat(out_init.reshape(loss.n_params, 1, -1), Y.shape[0], axis=1)
    if off is not None:
        raw[0] += off
    with np.errstate(over="ignore", invalid="ignore"):
        elementwise = loss.raw_loss(Y, raw)
        return float(np.sum((w / weight_total / Y.shape[1])[:, np.newaxis] * elementwise))


class _Sums(tuple):
    """Per-target dicts of covariance sums that add entry by entry (see :func:`_add`)."""

    def __add__(self, other: tuple) -> _Sums:
        return _Sums({k: a[k] + b[k] for k in a} for a, b in zip(self, other, strict=True))


def _chunk_covariance_sums(
    Z, Y, w, off, loss, model, theta, fit_intercept, robust, predictive, moments=None
):
    """One chunk's covariance sums, added up over row blocks of ``_EVAL_BLOCK_ROWS``."""
    total = None
    for blocks in _row_blocks((Z, Y, w, off), _EVAL_BLOCK_ROWS):
        part = _block_covariance_sums(
            *blocks, loss, model, theta, fit_intercept, robust, predictive, moments
        )
        total = part if total is None else total + part
    return total


def _block_covariance_sums(
    Z, Y, w, off, loss, model, theta, fit_intercept, robust, predictive, moments=None
):
    w = np.ones(Z.shape[0]) if w is None else w
    design = _chunk_design(Z, moments)
    out, _ = model.forward(theta, design, need_cache=False)
    K = Y.shape[1]
    if off is not None:
        out[:, :K] += off
    raw = out.reshape(Z.shape[0], loss.n_params, K).transpose(1, 0, 2)
    return _Sums(
        _inference.covariance_sums(
            loss,
            design,
            fit_intercept,
            Y[:, k],
            raw[:, :, k],
            w,
            offset=None if off is None else off[:, k],
            robust=robust,
            predictive=predictive,
        )
        for k in range(K)
    )


def _chunk_residual(Z, Y, off, model, theta, k, moments=None):
    linear = isinstance(model, LinearModel)
    out, _ = model.forward(theta, _chunk_design(Z, moments) if linear else Z)
    mean = out[:, :k]
    if off is not None:
        mean = mean + off
    return Y - mean


class DaskData:
    """Training data held as the row chunks of a dask collection.

    The dask implementation of :class:`sklik._data.ArrayData` (same attributes and methods):
    construction validates the input in one pass over the chunks (finiteness, the weights,
    y's domain, the column moments, y's moments); every later method is one or a few passes
    of per-chunk partial sums combined by a tree reduction. ``n_passes`` counts the passes
    over the design (validation and least squares; the objective counts its own).

    Parameters
    ----------
    est : sklik estimator
        Its ``n_features_in_`` and ``feature_names_in_`` are set (as ``validate_data`` does).
    X : dask array or DataFrame of shape (n_samples, n_features)
    y, sample_weight, offset : dask or in-memory arrays with one row per row of X
    loss : BaseLoss
        The resolved loss (for y's domain).
    persist : {"auto", True, False}, default="auto"
        Persist the standardised design in the cluster: when it takes at most
        ``_PERSIST_FRACTION`` of the available memory ("auto"), always, or never.
    reset : bool, default=True
        Set ``est``'s input bookkeeping (a fit); False checks the input against it instead
        (the training data handed to a fitted estimator's ``covariance_matrix``).
    gram : bool, default=False
        Sum the weighted Gram matrix of ``[X, y - offset]`` in the validation pass (a least
        squares fit): :meth:`fused_gram` then gives the standardised design's least-squares
        sums without a pass of their own, and the design is not persisted (one pass is left,
        the squared residuals).
    """

    is_sparse = False

    def __init__(
        self,
        est: Any,
        X: Any,
        y: Any,
        sample_weight: Any,
        offset: Any,
        loss: Any,
        *,
        persist: Any = "auto",
        reset: bool = True,
        gram: bool = False,
    ) -> None:
        X, columns = _as_array(X, "X")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(
                f"X has shape {X.shape}: it needs at least one sample and one feature."
            )
        if len(X.chunks[1]) > 1:  # chunks by rows only
            X = X.rechunk({1: -1})
        y_arr = y if is_dask(y) else np.asarray(y, dtype=np.float64)
        self.one_target = len(y_arr.shape) == 1
        Y = _rows_like(y_arr, X, "y", 1 if self.one_target else y_arr.shape[1], checked=True)
        K = Y.shape[1]
        w = (
            None
            if sample_weight is None
            else _rows_like(sample_weight, X, "sample_weight", None, checked=True)
        )
        off = None if offset is None else _rows_like(offset, X, "offset", K, checked=True)
        X, Y, w, off = (_nonempty(a) for a in (X, Y, w, off))
        nb = len(X.chunks[0])
        parts = [
            dask.delayed(_chunk_stats, pure=True)(*b, gram)
            for b in zip(
                _blocks(X, nb), _blocks(Y, nb), _blocks(w, nb), _blocks(off, nb), strict=True
            )
        ]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # (checked below)
            chunk_stats = list(dask.compute(*parts))
            stats = _combine_stats(chunk_stats)
        self.n_passes = 1
        if not stats["x_ok"]:
            raise ValueError("Input X contains NaN or infinity.")
        if not stats["y_ok"]:
            raise ValueError("Input y contains NaN or infinity.")
        if not stats["off_ok"]:
            raise ValueError("Input offset contains NaN or infinity.")
        if not stats["w_ok"]:
            raise ValueError(
                "sample_weight must be finite and >= 0 (it has NaN, infinite or negative values)."
            )
        W = stats["W"]
        if not (W > 0 and math.isfinite(W)):
            raise ValueError(
                f"The sample weights sum to {W}: they must have a finite, positive sum."
            )
        loss.check_y(np.concatenate([stats["ymin_all"], stats["ymax_all"]]))
        # scikit-learn's bookkeeping of the input (as validate_data does)
        _check_features(est, columns, X.shape[1], reset)
        if not reset and K != est.n_outputs_:
            raise ValueError(
                f"y has {K} target(s); {type(est).__name__} was fitted on {est.n_outputs_}: "
                f"pass the training data."
            )
        counts = [int(p["n_positive"]) for p in chunk_stats]
        if w is not None and sum(counts) < X.shape[0]:
            # rows of weight 0 are no rows at all (as in memory, sklik._data.positive_rows):
            # dropped chunk by chunk, before any loss is evaluated on them
            X, Y, w, off = [_positive_rows(a, w, counts) for a in (X, Y, w, off)]
        self.X, self.Y, self.w, self.off = X, Y, w, off
        self.stats, self.persist = stats, persist
        # least squares' Gram sums, and the squared residuals at the solution (mse)
        self._gram_sums: tuple | None = None
        self._squares: np.ndarray | None = None
        # the design's implicit standardisation (see design), and whether it must be explicit
        self._moments: tuple | None = None
        self._explicit_design = isinstance(loss, L1Loss)  # Frisch-Newton reads explicit rows
        self.n_samples, self.n_features = X.shape
        self.n_targets = K
        self.weight_total = float(W)
        top = np.maximum(np.abs(stats["ymin"]), np.abs(stats["ymax"]))
        self.y_top = np.where(top > 0, top, 1.0)
        self.y_zero = not np.any(top)  # (see ArrayData)
        self.y_spread = np.sqrt(np.maximum(stats["yvar"], 0.0))

    def design(
        self, standardise: bool, center: bool, gram: bool = False
    ) -> tuple[da.Array, np.ndarray, np.ndarray]:
        """The design's chunks, and the column shift and scale of its standardisation.

        As in memory (:func:`sklik._design.make_design`), X is standardised implicitly in
        every chunk (:class:`sklik._design.ShiftedDenseDesign`: the returned array is X, and
        no standardised copy is made) where every column's mean is within
        ``_IMPLICIT_MAX_SHIFT`` standard deviations; else, and for the exact l1 fit (whose
        Frisch-Newton passes read explicit rows), the returned array is the standardised X.
        It is persisted in the cluster when it fits in memory (a no-op on a persisted X),
        except for least squares from the validation pass's sums, which reads it only once
        (the squared residuals). ``gram`` is unused: least squares reduces its Gram matrix
        over the chunks.
        """
        self._center = center if standardise else None
        self._moments = None
        if standardise:
            x_mean, x_scale = _moments(self.stats, center)
            if self._explicit_design or not self._shift_ok(center):
                Z = self.X.map_blocks(_standardise, x_mean, x_scale, center, dtype=np.float64)
            else:
                Z, self._moments = self.X, (x_mean, x_scale)
        else:
            x_mean, x_scale = np.zeros(self.n_features), np.ones(self.n_features)
            Z = self.X
        if self.fused_gram(center) is None:
            Z, self.Y, self.w, self.off = _maybe_persist(
                [Z, self.Y, self.w, self.off], Z.nbytes + self.Y.nbytes, self.persist
            )
        self._Z = Z
        return Z, x_mean, x_scale

    def _shift_ok(self, center: bool) -> bool:
        """Whether X, shifted and scaled implicitly, keeps its significant digits.

        Every column's mean within ``_IMPLICIT_MAX_SHIFT`` standard deviations (when
        centring), no constant column, and at least as many rows as columns (as
        :func:`sklik._design.make_design` requires of its implicit design).
        """
        mean_s, var_s = self.stats["mean_s"], self.stats["var_s"]
        ok = not center or bool(np.all(mean_s**2 <= _IMPLICIT_MAX_SHIFT**2 * var_s))
        tiny = (16 * np.finfo(np.float64).eps) ** 2 * np.maximum(mean_s**2, 1e-300)
        return ok and bool(np.all(var_s > tiny)) and self.n_samples >= self.n_features

    def fused_gram(self, center: bool) -> tuple | None:
        r"""The standardised design's least-squares sums from the validation pass, or None.

        :math:`(\sum w, \sum w z, \sum w t, Z^\top W Z, Z^\top W T)` for
        :math:`z = (x - m)/s` (:func:`_moments`), from the sums of :math:`u = x / a` (the
        columns' maxima :math:`a`): :math:`Z^\top W Z = D (U^\top W U - W \mu \mu^\top) D`,
        :math:`Z^\top W T = D (U^\top W T - \mu \sum w t^\top)` with
        :math:`\mu = m/a`, :math:`D = \operatorname{diag}(a/s)` (centred; without centring
        :math:`\mu = 0`). This is the in-memory shifted design's Gram matrix
        (:class:`sklik._design.ShiftedDenseDesign`), accurate where every column's mean is
        within ``_IMPLICIT_MAX_SHIFT`` standard deviations: None otherwise (and for a
        constant column, or without the sums: ``gram=False``), and the least squares takes
        its own pass over the design.
        """
        stats = self.stats
        if "G" not in stats or center != getattr(self, "_center", center):
            return None
        if not self._shift_ok(center):
            return None
        mean_s, var_s, W = stats["mean_s"], stats["var_s"], stats["W"]
        mu = mean_s if center else np.zeros_like(mean_s)
        sq = var_s if center else var_s + mean_s**2
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            D = 1.0 / np.sqrt(sq)
            G = (stats["G"] - W * np.outer(mu, mu)) * np.outer(D, D)
            ZT = (stats["XT"] - np.outer(mu, stats["T"])) * D[:, np.newaxis]
            sz = np.zeros_like(mu) if center else W * mean_s * D
        parts = (G, ZT, sz, stats["T"])
        if not all(np.all(np.isfinite(a)) for a in parts):
            return None
        return W, sz, stats["T"], G, ZT

    def objective(
        self,
        model: Any,
        loss: Any,
        design: da.Array,
        alpha: float,
        penalty_weights: np.ndarray | None,
        fuse_hessian: bool = False,
    ) -> BlockedObjective:
        """The :class:`BlockedObjective` over the design's chunks."""
        return BlockedObjective(
            model,
            loss,
            design,
            self.Y,
            self.w,
            self.weight_total,
            alpha,
            offset=self.off,
            penalty_weights=penalty_weights,
            fuse_hessian=fuse_hessian,
            moments=self._moments,
        )

    def _target(self) -> da.Array:
        return self.Y if self.off is None else self.Y - self.off

    def least_squares(
        self,
        design: da.Array,
        alpha: float,
        center: bool,
        penalty_weights: np.ndarray,
        tol: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Least squares from the weighted Gram matrix (one pass; TSQR if ill-conditioned).

        The pass's sums are kept: with the squared residuals at the solution (one pass, see
        :meth:`solution`) they give the objective, the residual scale and the coefficient
        covariance of the least-squares fit without further passes.
        """
        sums = self.fused_gram(center)
        if sums is None:
            self.n_passes += 1
        coef, intercept, self._gram_sums = _least_squares(
            design,
            self._target(),
            self.w,
            self.weight_total,
            alpha,
            center,
            penalty_weights,
            sums,
            self._moments,
        )
        return coef, intercept

    def least_absolute_deviations(
        self, design: da.Array, center: bool, owner: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The exact l1 fit: Frisch-Newton over passes of the chunks, a certified vertex."""
        return _least_absolute_deviations(
            design, self._target(), self.w, self.weight_total, center, counter=self
        )

    def init_raw(self, loss: Any) -> np.ndarray:
        """The loss's best constant raw outputs, the mean head shifted by the mean offset."""
        out_init = np.array(_init_raw(loss, self.stats, self.Y, self.w), dtype=np.float64)
        if self.off is not None:
            # a start: shifted by the mean offset, then (where differentiable) the best
            # constant with the offset added, over passes (see sklik._data.offset_start)
            out_init[0] -= self.stats["off_mean"]
            if loss.differentiable:
                out_init = _constant_minimiser(
                    loss, self.Y, self.w, self.stats, start=out_init, off=self.off
                )
        return out_init

    def constant_objective(self, objective: BlockedObjective, out_init: np.ndarray) -> float:
        """The data term of the best constant model (one pass over y and the offset)."""
        value = float(
            _sum_blocks(
                _chunk_constant,
                [self.Y, self.w, self.off],
                objective.loss,
                out_init,
                self.weight_total,
            )
        )
        return value if math.isfinite(value) else math.inf

    def solution(self, objective: BlockedObjective, theta: np.ndarray) -> tuple[float, None]:
        """The objective's value at ``theta`` (the raw outputs stay in the cluster: None).

        After least squares, the pass sums the squared residuals per target, which also give
        the residual scale and the covariance (:meth:`residual_scale`,
        :meth:`covariance_sums`).
        """
        self._theta, self._model = theta, objective.model
        self._squares = None
        if isinstance(objective.loss, MSELoss) and self._gram_sums is not None:
            self.n_passes += 1
            self._squares = np.asarray(
                _sum_blocks(
                    _chunk_squared_residuals,
                    [self._Z, self.Y, self.w, self.off],
                    objective.model,
                    theta,
                    self._moments,
                )
            )
            penalty = objective._penalty(theta)[0]
            value = float(self._squares.sum()) / (self.weight_total * self.n_targets)
            return value + penalty, None
        return objective.value(theta), None

    def largest_terms(self, W: np.ndarray) -> np.ndarray:
        r"""Per row of ``W``: :math:`\max_i \sum_j |x_{ij} W_{kj}|` (one pass)."""
        self.n_passes += 1
        return np.asarray((da.absolute(self.X) @ np.abs(W).T).max(axis=0).compute())

    def residual_scale(self, loss: Any, raw: None, owner: str) -> np.ndarray:
        """Per target, the loss's ML scale of the residuals at the solution."""
        if isinstance(loss, MSELoss) and self._squares is not None:
            # sum c r^2 = 1/2 at the scale: sqrt(2 sum w r^2 / W), as _fit_scale
            sq = self._squares / self.weight_total
            return np.where(sq > 0, np.sqrt(2.0 * sq), float(np.finfo(np.float64).tiny))
        K = self.n_targets
        R = da.map_blocks(
            _chunk_residual,
            self._Z,
            self.Y,
            self.off,
            self._model,
            self._theta,
            K,
            self._moments,
            dtype=np.float64,
            chunks=self.Y.chunks,
        )
        (R,) = _maybe_persist([R], R.nbytes, self.persist)
        return _fit_scale(loss, R, self.w, self.weight_total)

    def covariance_sums(
        self,
        loss: Any,
        design: da.Array,
        model: Any,
        theta: np.ndarray,
        raw: None,
        fit_intercept: bool,
        *,
        robust: Any = False,
        predictive: bool = False,
        sample_step: int = 1,
    ) -> list[dict]:
        """Per target, the covariance sums at ``theta``: one pass, summed over the chunks.

        Every row (``sample_step`` is for in-memory data: a pass costs the same).

        Only where they are sums over rows (:func:`sklik._inference.additive_covariance`).
        """
        squares = self._squares
        if (
            isinstance(loss, MSELoss)
            and robust is False
            and squares is not None
            and np.array_equal(theta, self._theta)
        ):
            return self._least_squares_covariance_sums(fit_intercept, squares)
        if not _inference.additive_covariance(loss, predictive):
            raise NotImplementedError(
                f"The coefficient covariance of the {loss.name} loss needs quantiles of the "
                f"residuals over all rows, which is not available for dask input; fit and "
                f"call covariance_matrix on an in-memory sample, or use 'huber'/'smooth_l1' "
                f"(for standard errors) or 'mse'."
            )
        self.n_passes += 1
        sums = _sum_blocks(
            _chunk_covariance_sums,
            [design, self.Y, self.w, self.off],
            loss,
            model,
            theta,
            fit_intercept,
            robust,
            predictive,
            self._moments,
        )
        return list(sums)

    def _least_squares_covariance_sums(self, fit_intercept: bool, squares: np.ndarray) -> list:
        """The sums of :func:`sklik._inference.covariance_sums` for mse, without a pass.

        From the Gram sums of the least-squares pass and the squared residuals
        (:func:`sklik._inference.mse_covariance_sums`).
        """
        sw, sz, G = self._gram_sums
        gram = _augmented_gram(sw, sz, G, fit_intercept)
        return [_inference.mse_covariance_sums(gram.copy(), float(sw), float(sq)) for sq in squares]

    def rank_gram(self, design: da.Array, fit_intercept: bool, sample: bool) -> np.ndarray:
        r"""As :meth:`sklik._data.ArrayData.rank_gram`: :math:`[1, Z]^\top W [1, Z] / \sum w`.

        ``sample``: over the first rows (at least ``RANK_SAMPLE_ROWS``, whichever chunks
        hold them); else the least-squares pass's sums where the fit has them, or one pass.
        """
        if sample:
            k = min(self.n_samples, max(RANK_SAMPLE_ROWS, 8 * (self.n_features + 1)))
            Z, w = dask.compute(design[:k], None if self.w is None else self.w[:k])
            w = np.ones(k) if w is None else np.asarray(w, dtype=np.float64)
            c = w / w.sum() if w.sum() > 0 else w
            return _inference._gram(_chunk_design(np.asarray(Z), self._moments), c, fit_intercept)
        if self._gram_sums is not None:
            sw, sz, G = self._gram_sums
        else:
            self.n_passes += 1
            sw, sz, _, G, _ = _sum_blocks(
                _chunk_gram, [design, self.Y, self.w], fit_intercept, self._moments
            )
        return _augmented_gram(sw, sz, G, fit_intercept) / sw

    def null_residuals(self, design: da.Array, fit_intercept: bool, N: np.ndarray) -> np.ndarray:
        """As :meth:`sklik._data.ArrayData.null_residuals`, in one pass."""
        coef, bias = (N[1:], N[0]) if fit_intercept else (N, None)
        self.n_passes += 1
        W, squares = _sum_blocks(_chunk_null_squares, [design, self.w], coef.T, bias, self._moments)
        return np.sqrt(squares / W)


def _chunk_null_squares(Z, w, coef, bias, moments=None):
    """One chunk's sum w and sum w (Z coef^T + bias)^2 per column of ``coef``."""
    w = np.ones(Z.shape[0]) if w is None else w
    A = _chunk_design(np.asarray(Z), moments).matmat(coef, bias)
    return w.sum(), w @ (A * A)


def _augmented_gram(sw: float, sz: np.ndarray, G: np.ndarray, fit_intercept: bool) -> np.ndarray:
    r""":math:`[1, Z]^\top W [1, Z]` from :math:`\sum w`, :math:`Z^\top w`, :math:`Z^\top W Z`."""
    if not fit_intercept:
        return G
    gram = np.empty((G.shape[0] + 1, G.shape[0] + 1))
    gram[0, 0], gram[0, 1:], gram[1:, 0], gram[1:, 1:] = sw, sz, sz, G
    return gram


# -- prediction and scoring ---------------------------------------------------------------------


def _frame(est: Any, X: np.ndarray) -> Any:
    """A chunk as the estimator saw its training data (a DataFrame when it had names)."""
    if getattr(est, "feature_names_in_", None) is None:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=est.feature_names_in_, copy=False)


def _prediction_input(est: Any, X: Any, offset: Any) -> tuple[da.Array, da.Array | None]:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    X, columns = _as_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    _check_features(est, columns, X.shape[1], reset=False)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    X = _nonempty(X)
    off = None if offset is None else _rows_like(offset, X, "offset", est.n_outputs_)
    return X, off


def _target_shape(est: Any) -> tuple[int, ...]:
    return () if est._y_is_1d else (est.n_outputs_,)


def _rowwise(func: Any, X: da.Array, arrays: list, args: tuple, trailing: tuple) -> da.Array:
    """``func(X_block, *blocks, *args)`` over the row chunks, with trailing dims ``trailing``."""
    kwargs: dict = {"dtype": np.float64, "chunks": (X.chunks[0], *((t,) for t in trailing))}
    if len(trailing) == 0:
        kwargs["drop_axis"] = 1
    elif len(trailing) == 2:
        kwargs["new_axis"] = [2]
    return da.map_blocks(func, X, *arrays, *args, **kwargs)


def _chunk_predict(X, off, est, return_std, uncertainty):
    res = est.predict(_frame(est, X), return_std=return_std, offset=off, uncertainty=uncertainty)
    return np.stack(res, axis=-1) if return_std else res


def predict(
    est: Any, X: Any, return_std: bool, offset: Any, uncertainty: str = "predictive"
) -> Any:
    """:meth:`predict` chunk by chunk: dask arrays with the input's row chunks."""
    X, off = _prediction_input(est, X, offset)
    shape = _target_shape(est)
    if not return_std:
        return _rowwise(_chunk_predict, X, [off], (est, False, uncertainty), shape)
    both = _rowwise(_chunk_predict, X, [off], (est, True, uncertainty), (*shape, 2))
    return both[..., 0], both[..., 1]


def _chunk_raw(X, est, head):
    return est._raw(_frame(est, X))[head]


def smallest_raw(est: Any, X: Any, sample_weight: Any, head: int) -> np.ndarray:
    """Per target, the smallest raw output of ``head`` over the rows of positive weight."""
    X, _ = _prediction_input(est, X, None)
    raw = _rowwise(_chunk_raw, X, [], (est, head), _target_shape(est))
    if sample_weight is not None:
        w = _rows_like(sample_weight, raw, "sample_weight", None)
        raw = da.where((w > 0).reshape((-1,) + (1,) * (raw.ndim - 1)), raw, np.inf)
    return np.asarray(raw.min(axis=0).compute(), dtype=np.float64)


def _chunk_dist(X, off, *rest):
    """``getattr(est.predict_dist(X), name)(*args)`` on one chunk (array args as blocks)."""
    *blocks, est, name, n_arrays, index, args, uncertainty = rest
    dist = est.predict_dist(_frame(est, X), offset=off, uncertainty=uncertainty)
    values = [b[:, 0] if est._y_is_1d else b for b in blocks[:n_arrays]]
    if callable(name):  # DaskDistribution.map_chunks
        res = name(*values, dist, *args)
    else:
        res = getattr(dist, name)(*values, *args)
    if index is not None:
        res = res[index]
    return np.broadcast_to(res, (X.shape[0], *_target_shape(est))).astype(np.float64)


class DaskDistribution:
    """The predictive distribution of a fitted estimator on dask input, evaluated lazily.

    Returned by ``predict_dist`` for a dask ``X``. Every method of the frozen scipy
    distribution that the in-memory ``predict_dist`` returns (``mean``, ``std``, ``var``,
    ``median``, ``pdf``/``pmf``, ``logpdf``/``logpmf``, ``cdf``, ``sf``, ``ppf``, ``isf``,
    ``interval``) is available and returns a dask array with ``X``'s row chunks (a pair of
    them for ``interval``): the in-memory distribution is built for each chunk on the worker
    that holds it. Arguments are scalars or arrays (NumPy or dask) with one value per row
    (and target).

    Parameters
    ----------
    est : fitted sklik estimator
    X : dask array of shape (n_samples, n_features)
    offset : dask array of shape (n_samples, n_targets) or None
    uncertainty : {"predictive", "noise", "mean"}, default="predictive"
        As in the in-memory ``predict_dist``.
    """

    _NO_ARG = ("mean", "std", "var", "median", "entropy")
    _ONE_ARG = ("pdf", "logpdf", "pmf", "logpmf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf")

    def __init__(
        self, est: Any, X: da.Array, offset: da.Array | None, uncertainty: str = "predictive"
    ) -> None:
        self._est, self._X, self._off, self._uncertainty = est, X, offset, uncertainty
        # which methods the scipy distribution has (pmf or pdf): a one-row probe
        probe_raw = np.zeros((est.loss_.n_params, 1))
        self._probe = est.loss_.predictive_distribution(probe_raw, est.scale_)

    def _call(self, name: Any, args: tuple, index: int | None = None) -> da.Array:
        arrays, consts = [], []
        for a in args:
            if is_dask(a) or np.ndim(a) > 0:
                arrays.append(_rows_like(a, self._X, name, self._est.n_outputs_))
            else:
                consts.append(a)
        if arrays and consts:
            raise ValueError(f"{name}: pass either arrays or scalars, not both.")
        extra = (*arrays, self._est, name, len(arrays), index, tuple(consts), self._uncertainty)
        return _rowwise(_chunk_dist, self._X, [self._off], extra, _target_shape(self._est))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not hasattr(self._probe, name):
            raise AttributeError(name)
        if name in self._NO_ARG:
            return lambda: self._call(name, ())
        if name in self._ONE_ARG:
            return lambda x: self._call(name, (x,))
        if name == "interval":
            return self._interval
        raise AttributeError(name)

    def map_chunks(self, func: Any, y: Any) -> da.Array:
        """``func(y_chunk, dist_chunk)`` on every row chunk: a dask array with X's chunks.

        ``dist_chunk`` is the in-memory predictive distribution of the chunk (what
        ``predict_dist`` returns for in-memory X); this is how elementwise scores without a
        scipy method (:func:`sklik.metrics.crps`) are evaluated where the chunks live.
        """
        return self._call(func, (y,))

    def _interval(self, confidence: float) -> tuple[da.Array, da.Array]:
        return (
            self._call("interval", (confidence,), 0),
            self._call("interval", (confidence,), 1),
        )


def predict_dist(
    est: Any, X: Any, offset: Any, uncertainty: str = "predictive"
) -> DaskDistribution:
    """:meth:`predict_dist` on dask input: a :class:`DaskDistribution`."""
    X, off = _prediction_input(est, X, offset)
    return DaskDistribution(est, X, off, uncertainty)


def _check_scored(Y: np.ndarray, w: np.ndarray | None) -> None:
    """A chunk's targets and weights for a score: finite y, finite non-negative weights."""
    if w is not None and not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        raise ValueError(
            "sample_weight must be finite and >= 0 (it has NaN, infinite or negative values)."
        )
    if not np.all(np.isfinite(Y)):
        raise ValueError("Input y contains NaN or infinity.")


def _chunk_loglik(X, Y, w, off, est, uncertainty):
    _check_scored(Y, w)
    X, Y, w, off = _drop_zero_weight(X, Y, w, off)
    if X.shape[0] == 0:  # a chunk of weight 0 only
        return np.zeros(2)
    dist = est.predict_dist(_frame(est, X), offset=off, uncertainty=uncertainty)
    y = est._check_likelihood_target(Y, dist)
    logp = dist.logpmf(y) if hasattr(dist, "logpmf") else dist.logpdf(y)
    logp = logp.reshape(logp.shape[0], -1).sum(axis=1)
    if w is None:
        return np.array([logp.sum(), X.shape[0]])
    w = w[:, 0]
    return np.array([w @ logp, w.sum()])


def log_likelihood(
    est: Any, X: Any, y: Any, sample_weight: Any, offset: Any, uncertainty: str = "noise"
) -> tuple:
    """The (weighted) log-likelihood and the weight total, one pass over the chunks."""
    X, off = _prediction_input(est, X, offset)
    Y = _rows_like(y, X, "y", est.n_outputs_)
    w = None if sample_weight is None else _rows_like(sample_weight, X, "sample_weight", 1)
    loglik, total = _sum_blocks(_chunk_loglik, [X, Y, w, off], est, uncertainty)
    if not total > 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return float(loglik), float(total)


def _drop_zero_weight(X, Y, w, off):
    """A chunk's rows of positive weight (rows of weight 0 are no rows; ``w``: (m, 1))."""
    if w is None or np.all(w > 0):
        return X, Y, w, off
    keep = w[:, 0] > 0
    return X[keep], Y[keep], w[keep], None if off is None else off[keep]


def _chunk_r2_sums(X, Y, w, off, est, ybar):
    if ybar is None:  # (the first of the two passes)
        _check_scored(Y, w)
    X, Y, w, off = _drop_zero_weight(X, Y, w, off)
    if X.shape[0] == 0:  # a chunk of weight 0 only
        return np.zeros((2, Y.shape[1]))
    w = np.ones(X.shape[0]) if w is None else w[:, 0]
    if ybar is None:
        return np.vstack([w @ Y, np.full(Y.shape[1], w.sum())])
    pred = est.predict(_frame(est, X), offset=off).reshape(Y.shape)
    return np.vstack([w @ (Y - ybar) ** 2, w @ (Y - pred) ** 2])


def score(est: Any, X: Any, y: Any, sample_weight: Any, offset: Any) -> float:
    r""":math:`R^2` as :func:`sklearn.metrics.r2_score` (uniform average over targets)."""
    X, off = _prediction_input(est, X, offset)
    Y = _rows_like(y, X, "y", est.n_outputs_)
    w = None if sample_weight is None else _rows_like(sample_weight, X, "sample_weight", 1)
    wy, wsum = _sum_blocks(_chunk_r2_sums, [X, Y, w, off], est, None)
    if not np.all(wsum > 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    ss_tot, ss_res = _sum_blocks(_chunk_r2_sums, [X, Y, w, off], est, wy / wsum)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
    r2 = np.where((ss_tot == 0) & (ss_res == 0), 1.0, r2)
    return float(np.mean(r2))
