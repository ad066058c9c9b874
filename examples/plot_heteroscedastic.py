"""
=====================================================
Heteroscedastic regression: learning the noise level
=====================================================

Ordinary least squares (``"mse"``) assumes the noise has the same spread everywhere, so its
predictive intervals have a constant width: too wide where the data are quiet, too narrow where
they are noisy. With ``loss="gaussian_nll"``, :class:`sklik.LinearRegressor` fits a second
linear head for the *log variance*, so the predicted spread follows the data.

We simulate a straight line whose noise standard deviation grows exponentially with ``x``
(exactly the model the Gaussian NLL fits: ``log var`` linear in ``x``), fit both models, and
compare their 90% predictive intervals on held-out data.
"""

# %%
# Data with input-dependent noise
# -------------------------------
# The noise standard deviation is ``0.2 exp(0.25 x)``: 0.2 at ``x = 0``, 2.4 at ``x = 10``.
# The true log variance is therefore ``2 log 0.2 + 0.5 x``, linear in ``x``.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sklik import LinearRegressor
from sklik.metrics import interval_coverage, log_score

rng = np.random.default_rng(0)
n = 600
x = rng.uniform(0, 10, size=n)
true_std = 0.2 * np.exp(0.25 * x)
y = 1.0 + 0.8 * x + rng.normal(scale=true_std)
X = x[:, np.newaxis]
split = train_test_split(X, y, test_size=0.4, random_state=0)
X_train, X_test, y_train, y_test = split

# %%
# Two likelihoods, same mean model
# --------------------------------
# Both models have a linear mean. ``"mse"`` adds one constant scale, estimated from the
# training residuals; ``"gaussian_nll"`` learns ``log var = log_var_intercept_ +
# log_var_coef_ * x`` jointly with the mean.

models = {
    "mse": LinearRegressor("mse").fit(X_train, y_train),
    "gaussian_nll": LinearRegressor("gaussian_nll").fit(X_train, y_train),
}
gnll = models["gaussian_nll"]
true_head = f"intercept {2 * np.log(0.2):+.3f}, slope {0.5:+.3f}"
print(f"true log-variance head:    {true_head}")
print(
    f"learned log-variance head: intercept {gnll.log_var_intercept_:+.3f}, "
    f"slope {gnll.log_var_coef_[0]:+.3f}"
)

# %%
# Held-out calibration and log score
# ----------------------------------
# :meth:`~sklik.LinearRegressor.predict_dist` returns a frozen ``scipy.stats`` distribution per
# test point. The overall 90% coverage of the constant-variance model looks acceptable, but it
# hides a systematic failure: it covers everything where the noise is small and misses too
# often where it is large. The learned variance is close to 90% in every band of ``x``, and its
# log score (the mean negative log-likelihood, lower is better) is much better.

# coverage in three bands of x: quiet, medium and noisy
bands = {
    "x < 3.3": (0, 10 / 3),
    "3.3-6.7": (10 / 3, 20 / 3),
    "x > 6.7": (20 / 3, 10),
}
band_names = "".join(f"{b:>10}" for b in bands)
print(f"\n{'loss':<14}{'log score':>10}{'coverage 90%':>14}{band_names}")
for name, est in models.items():
    dist = est.predict_dist(X_test)
    line = f"{name:<14}{log_score(y_test, dist):>10.3f}"
    line += f"{interval_coverage(y_test, dist, coverage=0.9):>14.3f}"
    for lo, hi in bands.values():
        band = (X_test[:, 0] >= lo) & (X_test[:, 0] < hi)
        band_dist = est.predict_dist(X_test[band])
        band_coverage = interval_coverage(y_test[band], band_dist, coverage=0.9)
        line += f"{band_coverage:>10.3f}"
    print(line)

# %%
# Plot the predictive intervals
# -----------------------------
# Left and middle: the held-out data with each model's mean and central 90% interval
# (``predict_dist(X).interval(0.9)``). Right: the predicted standard deviation
# (``predict(X, return_std=True)``) against the true one.

grid = np.linspace(0, 10, 200)[:, np.newaxis]
fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
for ax, (name, est) in zip(axes[:2], models.items(), strict=True):
    mean = est.predict(grid)
    low, high = est.predict_dist(grid).interval(0.9)
    ax.scatter(X_test[:, 0], y_test, s=8, color="0.6", label="held-out data")
    ax.plot(grid[:, 0], mean, color="C0", label="predicted mean")
    ax.fill_between(
        grid[:, 0],
        low,
        high,
        color="C0",
        alpha=0.2,
        label="90% interval",
    )
    ax.set(title=f'LinearRegressor("{name}")', xlabel="x", ylabel="y")
    ax.legend(loc="upper left")
axes[1].sharey(axes[0])

ax = axes[2]
true_std_grid = 0.2 * np.exp(0.25 * grid[:, 0])
ax.plot(grid[:, 0], true_std_grid, "k--", label="true noise std")
for i, (name, est) in enumerate(models.items()):
    _, std = est.predict(grid, return_std=True)
    ax.plot(grid[:, 0], std, color=f"C{i + 1}", label=f"predicted std ({name})")
ax.set(
    title="Predictive standard deviation",
    xlabel="x",
    ylabel="std of y given x",
)
ax.legend(loc="upper left")
plt.show()
