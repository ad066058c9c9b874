"""Out of core on one machine: a Poisson fit of a parquet data set larger than memory.

Writes an ``n x p`` float64 design (default 5e7 x 20: 8 GB) and Poisson counts ``y`` drawn
from known coefficients to a parquet data set, one file (one row group) per ``--chunk`` rows,
generated chunk by chunk (never more than one chunk in memory). Then, in a fresh subprocess,
fits ``LinearRegressor("poisson_nll")`` on ``dask.dataframe.read_parquet(...)`` with dask's
local threaded scheduler (two threads, no cluster: the laptop case) and one BLAS thread, and
reports

- the wall time of the fit, its Newton iterations and passes over the data (``n_passes_``);
- the fitting process's peak resident memory: ``getrusage(RUSAGE_SELF).ru_maxrss`` over the
  process's life and, sampled every 20 ms from ``/proc/self/status`` (VmRSS), the peak during
  the fit and the resident memory before it (Python, numpy, pandas, pyarrow, dask, sklik);
- the accuracy: in one more pass, the gradient of the mean Poisson deviance objective at the
  solution and the Fisher information ``A^T diag(mu) A`` (``A = [1, X]``), hence the
  coefficients' standard errors, the distance to the exact optimum (one Newton step) and the
  error against the true coefficients in standard errors (about N(0, 1) each).

Usage::

    python benchmarks/bench_out_of_core.py [--rows 5e7] [--cols 20] [--chunk 1e6]
        [--dir DIR] [--keep] [--reuse]

The data go to ``--dir`` (default: a new temporary directory under /work, or the system's
temporary directory) and are deleted at the end unless ``--keep``; ``--reuse`` fits an
existing data set written by an earlier ``--keep`` run. Run at ``--rows 5e5`` first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SEED = 0


def truth(p: int) -> tuple[float, np.ndarray]:
    """The true intercept and coefficients (mean count about 2)."""
    return 0.5, np.linspace(-0.2, 0.2, p)


def write_data(directory: Path, n: int, p: int, chunk: int) -> tuple[int, int]:
    """Write the data set chunk by chunk; return (number of files, bytes on disk)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    intercept, coef = truth(p)
    names = [f"x{j:02d}" for j in range(p)]
    directory.mkdir(parents=True, exist_ok=True)
    n_files = math.ceil(n / chunk)
    for i in range(n_files):
        rows = min(chunk, n - i * chunk)
        rng = np.random.default_rng([SEED, i])
        X = rng.standard_normal((rows, p))
        y = rng.poisson(np.exp(intercept + X @ coef)).astype(np.float64)
        table = pa.table({**{name: X[:, j] for j, name in enumerate(names)}, "y": y})
        # uncompressed (random normals do not compress): the bytes on disk are the design's
        pq.write_table(table, directory / f"part.{i:05d}.parquet", compression="none")
        del X, y, table
    size = sum(f.stat().st_size for f in directory.glob("*.parquet"))
    return n_files, size


class PeakRSS:
    """A thread sampling this process's resident memory (VmRSS) every ``interval`` s."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        """VmRSS in bytes."""
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def _chunk_check(block, theta):
    """Per-chunk sums of the gradient and Fisher information of the Poisson objective."""
    X, y = block[:, :-1], block[:, -1]
    A = np.hstack([np.ones((X.shape[0], 1)), X])
    mu = np.exp(A @ theta)
    return A.T @ (mu - y), (A * mu[:, np.newaxis]).T @ A


def fit_child(directory: str, threads: int) -> None:
    """Fit the parquet data set in this (fresh) process; print one JSON line of results."""
    import resource

    import dask
    import dask.dataframe as dd

    from sklik import LinearRegressor

    rss_start = PeakRSS.current()
    df = dd.read_parquet(directory)
    names = [c for c in df.columns if c != "y"]
    X, y = df[names], df["y"]
    est = LinearRegressor("poisson_nll")
    with dask.config.set(scheduler="threads", num_workers=threads):
        with PeakRSS() as sampler:
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            est.fit(X, y)
            elapsed = time.perf_counter() - t
            cpu_end = resource.getrusage(resource.RUSAGE_SELF)
        peak_fit = sampler.peak
        # one more pass: the gradient and the Fisher information at the solution
        theta = np.concatenate([[est.intercept_], est.coef_])
        data = df[[*names, "y"]].to_dask_array(lengths=True)
        check = dask.delayed(_chunk_check, pure=True)
        sums = dask.compute(*[check(b, theta) for b in data.to_delayed().ravel()])
    n = data.shape[0]
    grad = sum(s[0] for s in sums) / n  # gradient of the mean objective
    fisher = sum(s[1] for s in sums)
    cov = np.linalg.inv(fisher)
    se = np.sqrt(np.diag(cov))
    newton_step = cov @ (grad * n)
    intercept, coef = truth(len(names))
    error = theta - np.concatenate([[intercept], coef])
    print(
        json.dumps(
            {
                "n": int(n),
                "p": len(names),
                # the row chunks as dask lowers the column projections (no computation)
                "chunks_X": int(X.to_dask_array().numblocks[0]),
                "chunks_y": int(y.to_dask_array().numblocks[0]),
                "threads": threads,
                "time_s": elapsed,
                "user_s": cpu_end.ru_utime - cpu.ru_utime,
                "sys_s": cpu_end.ru_stime - cpu.ru_stime,
                "n_iter": int(est.n_iter_),
                "n_passes": int(est.n_passes_),
                "rss_before_fit": rss_start,
                "rss_peak_fit": peak_fit,
                "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "grad_norm_inf": float(np.max(np.abs(grad))),
                "dist_to_optimum": float(np.max(np.abs(newton_step))),
                "max_abs_error_vs_truth": float(np.max(np.abs(error))),
                "max_z_vs_truth": float(np.max(np.abs(error / se))),
                "max_se": float(np.max(se)),
                "objective": float(est.objective_),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=5e7)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--chunk", type=float, default=1e6, help="rows per parquet file")
    parser.add_argument("--threads", type=int, default=2, help="dask's local threads")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the data")
    parser.add_argument("--keep", action="store_true", help="do not delete the data")
    parser.add_argument("--reuse", action="store_true", help="fit the data already in --dir")
    parser.add_argument("--fit-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit_child is not None:
        fit_child(args.fit_child, args.threads)
        return

    n, p, chunk = int(args.rows), args.cols, int(args.chunk)
    if args.dir is None:
        base = "/work" if os.access("/work", os.W_OK) else None
        root = Path(tempfile.mkdtemp(prefix="sklik-ooc-", dir=base))
        directory = root / "data.parquet"
    else:
        root, directory = None, args.dir
    try:
        if args.reuse:
            files = sorted(directory.glob("*.parquet"))
            n_files, size = len(files), sum(f.stat().st_size for f in files)
            print(f"reusing {directory}: {n_files} files, {size / 1e9:.2f} GB")
        else:
            t = time.perf_counter()
            n_files, size = write_data(directory, n, p, chunk)
            print(
                f"wrote {n:.3g} x {p} float64 design + y to {directory}: {n_files} files, "
                f"{size / 1e9:.2f} GB, in {time.perf_counter() - t:.0f} s"
            )
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        cmd = [sys.executable, __file__, "--fit-child", str(directory)]
        out = subprocess.run(
            [*cmd, "--threads", str(args.threads)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            sys.exit(f"the fit failed:\n{out.stdout}\n{out.stderr}")
        res = json.loads(out.stdout.strip().splitlines()[-1])
        load = os.getloadavg()
        gb = 1e9
        print(
            f"fit in a fresh process, dask's local scheduler ({res['threads']} threads; "
            f"X in {res['chunks_X']} row chunks, y in {res['chunks_y']}), one BLAS thread; "
            f"load average after: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} on "
            f"{os.cpu_count()} cores"
        )
        print(
            f"  wall time {res['time_s']:.0f} s (CPU: {res['user_s']:.0f} s user, "
            f"{res['sys_s']:.0f} s system), {res['n_iter']} Newton iterations, "
            f"{res['n_passes']} solver passes over the data"
        )
        print(
            f"  resident memory: {res['rss_before_fit'] / gb:.2f} GB before the fit, peak "
            f"{res['rss_peak_fit'] / gb:.2f} GB during it (sampled); ru_maxrss "
            f"{res['ru_maxrss'] / gb:.2f} GB (the design: {res['n'] * res['p'] * 8 / gb:.2f} GB)"
        )
        print(
            f"  at the solution: |gradient|_inf = {res['grad_norm_inf']:.1e}, distance to "
            f"the exact optimum (Newton step) {res['dist_to_optimum']:.1e}"
        )
        print(
            f"  vs the true coefficients: max |error| = {res['max_abs_error_vs_truth']:.1e}, "
            f"max |error| / standard error = {res['max_z_vs_truth']:.2f} "
            f"(standard errors up to {res['max_se']:.1e})"
        )
    finally:
        if not args.keep and not args.reuse:
            for f in directory.glob("part.*.parquet"):  # only the files written here
                f.unlink()
            directory.rmdir()
            if root is not None:
                root.rmdir()
            print(f"deleted {directory}")


if __name__ == "__main__":
    main()
