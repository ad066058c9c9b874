"""Benchmark sklik's ``value_and_grad`` against torch's forward + backward, single-threaded.

For each of the six regression losses (with a few parameter settings), this times
``loss.value_and_grad(input, target[, var])`` in sklik and
``torch.nn.<Loss>(...)(x, t[, v]).backward()`` in torch on the same random float64 data, and
prints the median times (ms) and the ratio sklik/torch (<= 1.0: sklik is at least as fast). It
also checks once that both give the same value and gradients (normwise relative error column).

BLAS/OpenMP are pinned to one thread for both libraries. torch is optional: without it the
script says so and exits 0. The script is a report, not a test: it always exits 0.

Run from the repository root::

    python benchmarks/bench_losses.py                       # n=10**6, 30 repeats, mean
    python benchmarks/bench_losses.py --n 100000 --repeats 50 --reductions mean,sum,none
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from sklik.losses import (  # noqa: E402
    GaussianNLLLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    PoissonNLLLoss,
    SmoothL1Loss,
)

# (label, sklik loss factory, torch module name, kwargs shared by both, data kind)
CASES = [
    ("MSELoss", MSELoss, "MSELoss", {}, "real"),
    ("L1Loss", L1Loss, "L1Loss", {}, "real"),
    ("HuberLoss(delta=1)", HuberLoss, "HuberLoss", {"delta": 1.0}, "real"),
    ("SmoothL1Loss(beta=1)", SmoothL1Loss, "SmoothL1Loss", {"beta": 1.0}, "real"),
    ("SmoothL1Loss(beta=0)", SmoothL1Loss, "SmoothL1Loss", {"beta": 0.0}, "real"),
    # an extreme beta: the loss is built as torch builds it (no fast form); for the record
    ("SmoothL1Loss(beta=1e-120)", SmoothL1Loss, "SmoothL1Loss", {"beta": 1e-120}, "real"),
    ("PoissonNLL(log_input=True)", PoissonNLLLoss, "PoissonNLLLoss", {"log_input": True}, "log"),
    (
        "PoissonNLL(log_input=False)",
        PoissonNLLLoss,
        "PoissonNLLLoss",
        {"log_input": False},
        "rate",
    ),
    (
        "PoissonNLL(log_input=True,full)",
        PoissonNLLLoss,
        "PoissonNLLLoss",
        {"log_input": True, "full": True},
        "log",
    ),
    ("GaussianNLL(full=False)", GaussianNLLLoss, "GaussianNLLLoss", {"full": False}, "gauss"),
    ("GaussianNLL(full=True)", GaussianNLLLoss, "GaussianNLLLoss", {"full": True}, "gauss"),
]


def make_data(kind, n, rng):
    """Return the float64 arrays (input, target[, var]) of a case."""
    if kind == "real":
        return rng.standard_normal(n), rng.standard_normal(n)
    if kind == "log":  # input is the log rate; counts include 0, 1 and > 1
        x = rng.normal(0.5, 1.0, n)
        return x, rng.poisson(np.exp(x)).astype(np.float64)
    if kind == "rate":
        x = np.exp(rng.normal(0.5, 1.0, n))
        return x, rng.poisson(x).astype(np.float64)
    if kind == "gauss":  # var of the input's shape
        return rng.standard_normal(n), rng.standard_normal(n), rng.uniform(0.1, 2.0, n)
    raise ValueError(kind)


def max_rel_err(a, b):
    """Normwise relative difference max|a - b| / max|b| (elementwise is meaningless where b
    cancels to ~0, e.g. the Gaussian var gradient)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-300))


def bench_case(
    torch, label, cls, torch_name, kwargs, kind, reduction, n, repeats, warmup, rng, clock
):
    arrays = make_data(kind, n, rng)
    loss = cls(reduction=reduction, **kwargs)
    module = getattr(torch.nn, torch_name)(reduction=reduction, **kwargs)
    tensors = [torch.from_numpy(a) for a in arrays]
    leaves = [tensors[0].requires_grad_(True)]
    if kind == "gauss":
        leaves.append(tensors[2].requires_grad_(True))

    def run_sklik():
        return loss.value_and_grad(*arrays)

    def run_torch():
        for leaf in leaves:
            leaf.grad = None
        out = module(*tensors)
        (out if reduction != "none" else out.sum()).backward()
        return out

    # correctness, once
    res = run_sklik()
    out = run_torch()
    err = max_rel_err(res[0], out.detach().numpy())
    for g, leaf in zip(res[1:], leaves, strict=True):
        err = max(err, max_rel_err(g, leaf.grad.numpy()))

    for _ in range(warmup):
        run_sklik()
        run_torch()
    t_sk, t_th = [], []
    for _ in range(repeats):  # interleaved, so that load drifts hit both alike
        t0 = clock()
        run_sklik()
        t1 = clock()
        run_torch()
        t2 = clock()
        t_sk.append(t1 - t0)
        t_th.append(t2 - t1)
    return statistics.median(t_sk) * 1e3, statistics.median(t_th) * 1e3, err


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**6, help="number of elements")
    parser.add_argument("--repeats", type=int, default=30, help="timed repeats per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed repeats per case")
    parser.add_argument(
        "--reductions", default="mean", help="comma-separated subset of mean,sum,none"
    )
    parser.add_argument("--only", default="", help="run only cases whose label contains this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter; cpu: time.process_time, which leaves out the time the "
        "process is descheduled (steadier on a loaded machine; both libraries run on 1 thread)",
    )
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        print("torch is not installed; nothing to compare against (pip install torch).")
        return 0
    torch.set_num_threads(1)

    rng = np.random.default_rng(args.seed)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(
        f"n={args.n}, repeats={args.repeats}, warmup={args.warmup}, float64, 1 thread, "
        f"{args.clock} clock; "
        f"numpy {np.__version__}, torch {torch.__version__}"
    )
    header = (
        f"{'loss':34s} {'reduction':9s} {'sklik ms':>9s} {'torch ms':>9s} "
        f"{'sklik/torch':>11s} {'rel err':>9s}"
    )
    print(header)
    print("-" * len(header))
    for reduction in args.reductions.split(","):
        for label, cls, torch_name, kwargs, kind in CASES:
            if args.only and args.only not in label:
                continue
            sk, th, err = bench_case(
                torch,
                label,
                cls,
                torch_name,
                kwargs,
                kind,
                reduction,
                args.n,
                args.repeats,
                args.warmup,
                rng,
                clock,
            )
            print(
                f"{label:34s} {reduction:9s} {sk:9.3f} {th:9.3f} {sk / th:11.2f} {err:9.1e}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    try:
        main()
    except SystemExit:  # argparse: --help or a usage error, already printed
        pass
    except Exception as exc:  # a report, not a test: never fail the caller
        print(f"benchmark failed: {exc!r}", file=sys.stderr)
    sys.exit(0)
