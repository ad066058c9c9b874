"""sklik on dask chunks vs sklik in memory (and dask-ml's GLMs where they work).

On a ``LocalCluster(n_workers=2, threads_per_worker=1)``: for each loss, the design (n x p,
float64, generated on the workers and persisted there) is fitted by ``LinearRegressor`` on the
dask array, then the same data (gathered once, outside the timings) in memory. Prints wall
times (medians of ``--repeat`` fits, after a warm-up fit), solver iterations, passes over the
chunks and the relative objective difference.
dask-ml's ``LinearRegression``/``PoissonRegression`` are timed when dask-ml imports; what fails
is printed.

Usage::

    python benchmarks/bench_dask.py [--n 2000000] [--p 20] [--chunk 250000]

``l1`` is the exact fit (Frisch-Newton on the chunks, a certified vertex). ``--no-memory``
skips the in-memory fits (for designs that do not fit in this machine's memory; the dask
objective is then compared with nothing).
"""

from __future__ import annotations

import argparse
import time
import traceback

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=2e6)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--losses", default="poisson_nll,mse,huber,l1")
    parser.add_argument("--no-memory", action="store_true", help="skip the in-memory fits")
    parser.add_argument("--repeat", type=int, default=3, help="fits per timing (median)")
    args = parser.parse_args()
    n, p = int(args.n), args.p

    import dask.array as da
    import distributed

    from sklik import LinearRegressor

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    rs = da.random.RandomState(0)
    X = rs.normal(size=(n, p), chunks=(args.chunk, p))
    beta = np.linspace(-0.2, 0.2, p)
    eta = X @ beta
    targets = {
        "poisson_nll": rs.poisson(da.exp(eta)).astype(np.float64),
        "gaussian": eta + rs.standard_t(5, size=n, chunks=args.chunk),
    }
    X = X.persist()
    targets = {k: v.persist() for k, v in targets.items()}
    Xm = None if args.no_memory else _gather(client, X)
    ym = {k: (None if args.no_memory else _gather(client, v)) for k, v in targets.items()}
    # warm-up: the workers import sklik and its dependencies once
    LinearRegressor("mse").fit(X[: args.chunk], targets["gaussian"][: args.chunk])
    print(f"n = {n:.0e}, p = {p}, {len(X.chunks[0])} chunks, design {X.nbytes / 1e6:.0f} MB")
    print(f"{'loss':<14}{'where':<10}{'time s':>9}{'iter':>6}{'passes':>8}{'rel. obj. diff':>16}")
    for name in args.losses.split(","):
        y, y_mem = (
            (targets["poisson_nll"], ym["poisson_nll"])
            if name == "poisson_nll"
            else (targets["gaussian"], ym["gaussian"])
        )
        t_dask, est = _median_fit(LinearRegressor(name), X, y, args.repeat)
        if Xm is None:
            print(f"{name:<14}{'dask':<10}{t_dask:>9.2f}{est.n_iter_:>6}{est.n_passes_:>8}")
            continue
        t_mem, mem = _median_fit(LinearRegressor(name), Xm, y_mem, args.repeat)
        diff = abs(est.objective_ - mem.objective_) / abs(mem.objective_)
        print(
            f"{name:<14}{'dask':<10}{t_dask:>9.2f}{est.n_iter_:>6}{est.n_passes_:>8}{diff:>16.1e}"
            f"  dask/memory {t_dask / t_mem:.2f}"
        )
        print(f"{name:<14}{'memory':<10}{t_mem:>9.2f}{mem.n_iter_:>6}{'':>8}{'':>16}")
        if name in ("poisson_nll", "mse"):
            _dask_ml(name, X, y, mem)
    client.close()
    cluster.close()


def _gather(client, a):
    """A persisted array's chunks, fetched to this process in order and concatenated.

    Not ``a.compute()``: that concatenates the chunks in a task on one worker, which keeps
    copies of the other worker's chunks; every later pass then cost that worker about 70 000
    page faults (kernel time), and a Poisson fit on 2e6 x 20 took 2.4 s instead of 0.9 s.
    """
    from dask.core import flatten
    from distributed import futures_of

    futures = {future.key: future for future in futures_of(a)}
    return np.concatenate(client.gather([futures[key] for key in flatten(a.__dask_keys__())]))


def _median_fit(est, X, y, repeat: int):
    """The median wall time of ``repeat`` fits of ``est`` (each from scratch), and ``est``."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        est.fit(X, y)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), est


def _dask_ml(name: str, X, y, mem) -> None:
    """dask-ml's GLM on the same data, if it imports; its objective against sklik's."""
    try:
        from dask_ml.linear_model import LinearRegression, PoissonRegression
    except Exception as exc:  # noqa: BLE001 (report whatever stops it)
        print(f"{name:<14}{'dask-ml':<10} does not import: {type(exc).__name__}: {exc}")
        return
    cls = PoissonRegression if name == "poisson_nll" else LinearRegression
    # (admm, its third solver, fails on PoissonRegression and took > 4 min on LinearRegression
    # at n = 2e6 before it was dropped from the benchmark)
    for solver in ("newton", "lbfgs"):
        try:
            t = time.perf_counter()
            model = cls(solver=solver, penalty="l2", C=1e12, max_iter=100, tol=1e-8).fit(X, y)
            elapsed = time.perf_counter() - t
            coef, intercept = np.asarray(model.coef_), float(model.intercept_)
            raw = (X @ coef + intercept).compute()
            yy = np.asarray(y.compute())
            if name == "poisson_nll":
                obj = float(np.mean(np.exp(raw) - yy * raw))
            else:
                obj = float(np.mean((yy - raw) ** 2))
            diff = abs(obj - mem.objective_) / abs(mem.objective_)
            print(f"{name:<14}{'dask-ml':<10}{elapsed:>9.2f}{'':>6}{'':>8}{diff:>16.1e}  {solver}")
        except Exception as exc:  # noqa: BLE001
            msg = traceback.format_exception_only(type(exc), exc)[-1].strip()
            print(f"{name:<14}{'dask-ml':<10} {solver} fails: {msg[:90]}")


if __name__ == "__main__":
    main()
