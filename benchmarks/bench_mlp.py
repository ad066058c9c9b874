"""Time per L-BFGS iteration of sklik's MLP against scikit-learn's and torch's, one thread.

For each network (tanh hidden layers, one output, ``p = 20`` standard-normal features, a
linear signal plus noise) the script fits, interleaved in the same run and repeated
``--repeats`` times:

- ``sklik.MLPRegressor("mse", solver="lbfgs", early_stopping=False)`` with ``alpha``,
  ``max_iter=--iter`` and a tolerance of 1e-300 (it runs the fixed number of iterations);
- ``sklearn.neural_network.MLPRegressor(solver="lbfgs")`` with ``alpha_sk = alpha * n / 2``
  (sklearn minimises ``mean r^2 / 2 + alpha_sk / (2 n) ||W||^2``: half sklik's objective),
  the same iterations and the same initial weights (both draw Glorot-uniform weights from the
  same ``random_state`` with the same calls);
- ``torch.optim.LBFGS`` (float64, ``torch.set_num_threads(1)``, history 10 as scipy's, the
  strong-Wolfe line search, tolerances 0) on the same network, the same objective
  (``mean r^2 + alpha/2 ||W||^2``) and sklearn's initial weights, ``--iter`` iterations in one
  ``step``.

Both scipy fits count their iterations and function evaluations from ``scipy``'s result; torch
from the optimiser's state. The table gives median fit times, time per iteration and per
function evaluation, and ratios against sklik (``sklik/peer``; below 1: sklik faster). Timings
on a shared machine are noisy: the three fits of one repeat run back to back, so the ratios of
the medians are more stable than the times. A second table times one objective-and-gradient
evaluation alone (no optimiser), sklik's ``Objective`` against sklearn's ``_loss_grad_lbfgs``,
interleaved, medians of ``--eval-repeats`` runs.

Run from the repository root::

    python benchmarks/bench_mlp.py                # (64,) on 2e4 rows, (50, 50) on 1e4 rows
    python benchmarks/bench_mlp.py --iter 30 --repeats 3
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import sklik  # noqa: E402
from sklik._models import MLPModel  # noqa: E402
from sklik._objective import Objective  # noqa: E402
from sklik.losses import get_loss  # noqa: E402

try:
    import torch
except ImportError:  # torch is an optional peer
    torch = None

ALPHA = 1e-4
CASES = (((64,), 20_000), ((50, 50), 10_000))


def make_data(n, p, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X @ rng.normal(0.0, 1.0 / np.sqrt(p), p) + 0.5 + rng.standard_normal(n)
    return X, y


_RESULTS = []


@contextmanager
def record_minimize():
    """Keep the result of every ``scipy.optimize.minimize`` call (nit, nfev)."""
    original = scipy.optimize.minimize

    def wrapper(*args, **kwargs):
        res = original(*args, **kwargs)
        _RESULTS.append(res)
        return res

    scipy.optimize.minimize = wrapper
    try:
        yield
    finally:
        scipy.optimize.minimize = original


def fit_scipy(est, X, y):
    """Fit time, iterations and function evaluations of a scipy-based estimator."""
    _RESULTS.clear()
    with warnings.catch_warnings(), record_minimize():
        warnings.simplefilter("ignore")
        t0 = time.process_time()
        est.fit(X, y)
        elapsed = time.process_time() - t0
    (res,) = _RESULTS
    return elapsed, int(res.nit), int(res.nfev)


def fit_torch(hidden, X, y, coefs, intercepts, n_iter):
    """``torch.optim.LBFGS`` on the same network and objective, from the given weights."""
    layers = []
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        lin = torch.nn.Linear(*W.shape, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(lin)
        if i < len(coefs) - 1:
            layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*layers)
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.reshape(-1, 1))
    opt = torch.optim.LBFGS(
        net.parameters(),
        lr=1.0,
        max_iter=n_iter,
        max_eval=100 * n_iter,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        history_size=10,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        r = net(Xt) - yt
        loss = torch.mean(r * r) + 0.5 * ALPHA * sum(torch.sum(W * W) for W in weights)
        loss.backward()
        return loss

    t0 = time.process_time()
    opt.step(closure)
    elapsed = time.process_time() - t0
    state = opt.state[opt._params[0]]
    return elapsed, int(state["n_iter"]), int(state["func_evals"])


def time_fits(hidden, n, args):
    X, y = make_data(n, args.p)
    sk = sklik.MLPRegressor(
        "mse",
        hidden_layer_sizes=hidden,
        activation="tanh",
        alpha=ALPHA,
        solver="lbfgs",
        max_iter=args.iter,
        tol=1e-300,
        random_state=0,
        early_stopping=False,  # sklearn's lbfgs MLP has none: every row, no validation passes
    )
    pe = SkMLPRegressor(
        hidden_layer_sizes=hidden,
        activation="tanh",
        solver="lbfgs",
        alpha=ALPHA * n / 2,
        max_iter=args.iter,
        tol=0.0,
        random_state=0,
    )
    # the initial weights of sklearn (and sklik, same draws) for torch
    init = SkMLPRegressor(hidden_layer_sizes=hidden, activation="tanh", solver="lbfgs", max_iter=1)
    init.random_state = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init._random_state = np.random.RandomState(0)
        init._initialize(y.reshape(-1, 1), [args.p, *hidden, 1], np.float64)
    rows = {"sklik": [], "sklearn": [], "torch": []}
    for _ in range(args.repeats):
        rows["sklik"].append(fit_scipy(sk, X, y))
        rows["sklearn"].append(fit_scipy(pe, X, y))
        if torch is not None:
            rows["torch"].append(fit_torch(hidden, X, y, init.coefs_, init.intercepts_, args.iter))
    return rows


def time_evaluations(hidden, n, args):
    """Median time of one objective + gradient evaluation: sklik's vs sklearn's, interleaved."""
    X, y = make_data(n, args.p)
    model = MLPModel(args.p, 1, hidden, "tanh")
    objective = Objective(model, get_loss("mse"), X, y[:, None], np.ones(n), ALPHA)
    theta = model.init_params(0, np.array([y.mean()]))
    pe = SkMLPRegressor(hidden_layer_sizes=hidden, activation="tanh", solver="lbfgs", max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pe.fit(X, y)
    units = [args.p, *hidden, 1]
    pe._coef_indptr, pe._intercept_indptr, start = [], [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:], strict=True):
        pe._coef_indptr.append((start, start + fan_in * fan_out, (fan_in, fan_out)))
        start += fan_in * fan_out
    for fan_out in units[1:]:
        pe._intercept_indptr.append((start, start + fan_out))
        start += fan_out
    packed = theta.copy()
    acts = [X] + [np.empty((n, u)) for u in units[1:]]
    deltas = [np.empty_like(a) for a in acts[1:]]
    c_grads = [np.empty((a, b)) for a, b in zip(units[:-1], units[1:], strict=True)]
    i_grads = [np.empty(b) for b in units[1:]]
    Y = y.reshape(-1, 1)

    def sklik_eval():
        theta[0] += 1e-12  # a new point: no cached evaluation
        objective(theta)

    def sklearn_eval():
        packed[0] += 1e-12
        pe._loss_grad_lbfgs(packed, X, Y, None, acts, deltas, c_grads, i_grads)

    times = {"sklik": [], "sklearn": []}
    for _ in range(args.eval_repeats):
        for name, f in (("sklik", sklik_eval), ("sklearn", sklearn_eval)):
            t0 = time.process_time()
            f()
            times[name].append(time.process_time() - t0)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iter", type=int, default=50, help="L-BFGS iterations per fit")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--eval-repeats", type=int, default=60)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--evals-only", action="store_true", help="skip the fits")
    args = parser.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(1)
    print(f"load average {os.getloadavg()}; {args.repeats} interleaved repeats, {args.iter} it")
    print(
        f"{'network':<10} {'n':>6} {'fitter':<8} {'fit[s]':>8} {'iter':>5} {'nfev':>5} "
        f"{'ms/iter':>8} {'ms/eval':>8} {'sklik/peer per iter':>20} {'per eval':>9}"
    )
    with threadpool_limits(1):
        for hidden, n in CASES:
            rows = {} if args.evals_only else time_fits(hidden, n, args)
            per = {}
            for name, fits in rows.items():
                if not fits:
                    continue
                t = statistics.median(f[0] for f in fits)
                it = statistics.median(f[1] for f in fits)
                ev = statistics.median(f[2] for f in fits)
                # per-iteration ratio: median over repeats of the paired ratios
                per[name] = (
                    [f[0] / f[1] for f in fits],
                    [f[0] / f[2] for f in fits],
                    t,
                    it,
                    ev,
                )
            for name, (pit, pev, t, it, ev) in per.items():
                ratio_it = ratio_ev = ""
                if name != "sklik":
                    s_it, s_ev = per["sklik"][0], per["sklik"][1]
                    r_it = statistics.median(a / b for a, b in zip(s_it, pit, strict=True))
                    r_ev = statistics.median(a / b for a, b in zip(s_ev, pev, strict=True))
                    ratio_it, ratio_ev = f"{r_it:.2f}", f"{r_ev:.2f}"
                print(
                    f"{str(hidden):<10} {n:>6} {name:<8} {t:8.3f} {it:5.0f} {ev:5.0f} "
                    f"{1e3 * statistics.median(pit):8.2f} {1e3 * statistics.median(pev):8.2f} "
                    f"{ratio_it:>20} {ratio_ev:>9}",
                    flush=True,
                )
            ev = time_evaluations(hidden, n, args)
            med = {k: statistics.median(v) for k, v in ev.items()}
            low = {k: min(v) for k, v in ev.items()}
            print(
                f"{str(hidden):<10} {n:>6} one evaluation alone: median sklik "
                f"{1e3 * med['sklik']:.2f} ms, sklearn {1e3 * med['sklearn']:.2f} ms, ratio "
                f"{med['sklik'] / med['sklearn']:.2f}; fastest sklik {1e3 * low['sklik']:.2f} ms, "
                f"sklearn {1e3 * low['sklearn']:.2f} ms, ratio {low['sklik'] / low['sklearn']:.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
