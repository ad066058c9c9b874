"""
===================================================
A neural network that predicts its own uncertainty
===================================================

With ``loss="gaussian_nll"``, :class:`sklik.MLPRegressor` has two output heads on shared hidden
layers: one for the mean and one for the log variance of ``y`` given ``x``. Trained on the
Gaussian negative log-likelihood (PyTorch's ``GaussianNLLLoss``), it learns a nonlinear mean
*and* a nonlinear noise level, so its predictive intervals widen and narrow with the data.

We fit a small network to a sine wave whose noise is large around ``x = 1`` and small elsewhere,
and compare the learned noise level with the true one and with a network trained on the squared
error (``"mse"``), whose noise level is a single constant.
"""

# %%
# Data
# ----
# ``y = sin(2x) + noise``, where the noise standard deviation is
# ``0.1 + 0.4 exp(-(x - 1)^2)``: 0.5 at ``x = 1``, close to 0.1 far from it.

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from sklik import MLPRegressor
from sklik.metrics import interval_coverage, log_score


def true_mean(x):
    return np.sin(2 * x)


def true_std(x):
    return 0.1 + 0.4 * np.exp(-((x - 1) ** 2))


rng = np.random.default_rng(0)


def sample(n):
    x = rng.uniform(-3, 3, size=n)
    return x[:, np.newaxis], true_mean(x) + true_std(x) * rng.normal(size=n)


X_train, y_train = sample(800)
X_test, y_test = sample(2000)

# %%
# Two networks
# ------------
# One hidden layer of 10 ``tanh`` units is enough for this curve and fits in well under a
# second with L-BFGS. The same architecture is trained twice: on the Gaussian NLL (mean and
# log-variance heads) and on the squared error (mean only; the predictive spread is then a
# constant scale fitted to the training residuals, ``scale_``).
#
# Both use the defaults otherwise: ``alpha="auto"`` (0.01 for the Gaussian NLL, whose
# target is standardised internally; 1e-4 for the squared error) and early stopping on a
# held-out 10% of the rows, which keeps the parameters with the best validation loss. A flexible
# mean can drive the training residuals, and with them the learned variance, to zero; early
# stopping ends the fit when the held-out likelihood stops improving. This curve is clean and
# smooth, and L-BFGS crosses plateaus of the validation loss on its way to it, so we allow 30
# iterations without improvement (``n_iter_no_change``; the default of 10 stops on the
# first plateau, with an underfitted mean) and up to 1000 iterations in all.

params = {
    "hidden_layer_sizes": (10,),
    "activation": "tanh",
    "n_iter_no_change": 30,
    "max_iter": 1000,
}
models = {
    "gaussian_nll": MLPRegressor("gaussian_nll", random_state=0, **params),
    "mse": MLPRegressor("mse", random_state=0, **params),
}
for est in models.values():
    est.fit(X_train, y_train)

# %%
# Held-out evaluation
# -------------------
# Both networks find the mean about equally well. Only the learned variance gets the spread
# right, which shows in the log score (lower is better) and in the coverage of the 90%
# interval near the noisy region, ``0 < x < 2``, compared with elsewhere. The true
# distribution's log score is the best any model can do on average.

noisy = (X_test[:, 0] > 0) & (X_test[:, 0] < 2)
truth = stats.norm(true_mean(X_test[:, 0]), true_std(X_test[:, 0]))
print(f"{'model':<13}{'RMSE mean':>10}{'RMSE std':>9}{'log score':>10}", end="")
print(f"{'cov. 90%':>9}{'0 < x < 2':>10}{'elsewhere':>10}")
for name, est in models.items():
    mean, std = est.predict(X_test, return_std=True)
    dist = est.predict_dist(X_test)
    rmse_mean = np.sqrt(np.mean((mean - true_mean(X_test[:, 0])) ** 2))
    rmse_std = np.sqrt(np.mean((std - true_std(X_test[:, 0])) ** 2))
    quiet = ~noisy
    cov_noisy = interval_coverage(y_test[noisy], est.predict_dist(X_test[noisy]))
    cov_quiet = interval_coverage(y_test[quiet], est.predict_dist(X_test[quiet]))
    score, cov = log_score(y_test, dist), interval_coverage(y_test, dist)
    print(
        f"{name:<13}{rmse_mean:>10.3f}{rmse_std:>9.3f}{score:>10.3f}"
        f"{cov:>9.3f}{cov_noisy:>10.3f}{cov_quiet:>10.3f}"
    )
print(f"{'true model':<13}{0:>10.3f}{0:>9.3f}{log_score(y_test, truth):>10.3f}")
n_iter = {name: est.n_iter_ for name, est in models.items()}
print(f"\nL-BFGS iterations (early stopping): {n_iter}")

# %%
# Plot
# ----
# Left: training data, the true mean and the Gaussian-NLL network's mean with its central 90%
# predictive interval. Right: the true noise standard deviation against each network's
# predicted standard deviation, ``predict(X, return_std=True)``.

grid = np.linspace(-3, 3, 300)[:, np.newaxis]
gnll = models["gaussian_nll"]
mean, std = gnll.predict(grid, return_std=True)
low, high = gnll.predict_dist(grid).interval(0.9)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
ax = axes[0]
ax.scatter(X_train[:, 0], y_train, s=6, color="0.65", label="training data")
ax.plot(grid[:, 0], true_mean(grid[:, 0]), "k--", label="true mean")
ax.plot(grid[:, 0], mean, color="C0", label="predicted mean")
ax.fill_between(
    grid[:, 0],
    low,
    high,
    color="C0",
    alpha=0.25,
    label="90% predictive interval",
)
ax.set(
    title='MLPRegressor("gaussian_nll"), 10 tanh units',
    xlabel="x",
    ylabel="y",
    ylim=(-1.8, 3),
)
ax.legend(loc="upper left", ncols=2)

ax = axes[1]
ax.plot(grid[:, 0], true_std(grid[:, 0]), "k--", label="true noise std")
for i, (name, est) in enumerate(models.items()):
    ax.plot(
        grid[:, 0],
        est.predict(grid, return_std=True)[1],
        color=f"C{i}",
        label=f"predicted ({name})",
    )
ax.set(
    title="Predicted standard deviation",
    xlabel="x",
    ylabel="std of y given x",
    ylim=(0, None),
)
ax.legend(loc="upper left")
plt.show()
