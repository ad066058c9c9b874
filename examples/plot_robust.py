"""
======================================
Robust regression under gross outliers
======================================

A least-squares fit (``"mse"``) is the maximum-likelihood fit under Gaussian noise, whose thin
tails make every large residual very unlikely: a handful of gross outliers drags the whole line
towards them. The absolute error (``"l1"``, a Laplace likelihood) and PyTorch's Huber and
smooth-L1 losses (a Gaussian core with Laplace tails) grow only linearly in the residual, so an
outlier's pull is bounded.

We fit a line to data where a fraction of the responses at large ``x`` are corrupted (think of a
faulty sensor), compare the four fits with the true line, and then let the outlier fraction
grow.
"""

# %%
# Data: a straight line plus 15% gross outliers
# ---------------------------------------------
# The clean data follow ``y = 2 + 1.5 x`` with Gaussian noise of standard deviation 0.5. The
# outliers are added to points with ``x > 5`` only, shifted upwards by 10 to 30, so they pull a
# non-robust fit's slope as well as its intercept.

import matplotlib.pyplot as plt
import numpy as np

from sklik import LinearRegressor
from sklik.losses import SmoothL1Loss

true_intercept, true_slope = 2.0, 1.5


def make_data(outlier_fraction, seed, n=200):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, size=n)
    y = true_intercept + true_slope * x + rng.normal(scale=0.5, size=n)
    n_outliers = round(outlier_fraction * n)
    outliers = rng.choice(np.flatnonzero(x > 5), size=n_outliers, replace=False)
    y[outliers] += rng.uniform(10, 30, size=n_outliers)
    is_outlier = np.zeros(n, dtype=bool)
    is_outlier[outliers] = True
    return x[:, np.newaxis], y, is_outlier


X, y, is_outlier = make_data(0.15, seed=0)

# %%
# Four likelihoods
# ----------------
# ``"huber"`` is ``HuberLoss(delta=1.0)``: quadratic for residuals below 1 (in the units of
# ``y``), linear above. ``SmoothL1Loss(beta)`` has the same shape scaled by ``1 / beta``
# (``HuberLoss(delta=d)`` equals ``d * SmoothL1Loss(beta=d)``), so with equal thresholds both
# give the same line; we use ``beta=0.2`` for smooth-L1, closer to ``"l1"``. The thresholds are
# in the units of ``y``: standardise ``y``, or tune ``loss__delta`` with a grid search, when
# the noise level is unknown.

losses = {
    "mse": "mse",
    "l1": "l1",
    "huber": "huber",
    "smooth_l1 (beta=0.2)": SmoothL1Loss(beta=0.2),
}
models = {name: LinearRegressor(loss).fit(X, y) for name, loss in losses.items()}

print(f"{int(is_outlier.sum())} outliers among {len(y)} points")
header = f"{'loss':<22}{'intercept':>10}{'slope':>8}"
print(f"\n{header}{'|error| intercept':>19}{'|error| slope':>15}")
print(f"{'true':<22}{true_intercept:>10.3f}{true_slope:>8.3f}")
for name, est in models.items():
    b0, b1 = est.intercept_, est.coef_[0]
    print(
        f"{name:<22}{b0:>10.3f}{b1:>8.3f}"
        f"{abs(b0 - true_intercept):>19.3f}{abs(b1 - true_slope):>15.3f}"
    )

# %%
# Breakdown: let the outlier fraction grow
# ----------------------------------------
# For each outlier fraction we draw ten data sets and record each loss's mean absolute slope
# error. The least-squares error grows with the very first outliers. The robust losses stay
# close to the truth until the outliers become a large part of the points at ``x > 5`` (about
# half the data): beyond that, no fit of a single line can tell the outliers from the signal.

fractions = np.linspace(0, 0.3, 7)
slope_error = {name: [] for name in losses}
for fraction in fractions:
    errors = {name: [] for name in losses}
    for seed in range(10):
        X_f, y_f, _ = make_data(fraction, seed=seed)
        for name, loss in losses.items():
            slope = LinearRegressor(loss).fit(X_f, y_f).coef_[0]
            errors[name].append(abs(slope - true_slope))
    for name in losses:
        slope_error[name].append(np.mean(errors[name]))

print("\nmean |slope error| over 10 data sets")
print(f"{'outlier fraction':<22}", end="")
print("".join(f"{f:>7.0%}" for f in fractions))
for name in losses:
    print(f"{name:<22}" + "".join(f"{e:>7.3f}" for e in slope_error[name]))

# %%
# Plot
# ----
# Left: the data with 15% outliers and the four fitted lines. Right: the slope error against
# the outlier fraction (log scale).

fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
ax = axes[0]
clean, dirty = ~is_outlier, is_outlier
ax.scatter(X[clean, 0], y[clean], s=10, color="0.6", label="clean data")
ax.scatter(X[dirty, 0], y[dirty], s=14, color="k", marker="x", label="outliers")
grid = np.linspace(0, 10, 2)[:, np.newaxis]
true_line = true_intercept + true_slope * grid[:, 0]
ax.plot(grid[:, 0], true_line, "k--", lw=2, label="true line")
styles = ["-", "-", "--", ":"]
for (name, est), style in zip(models.items(), styles, strict=True):
    ax.plot(grid[:, 0], est.predict(grid), ls=style, lw=1.8, label=f'"{name}"')
ax.set(title="Fitted lines with 15% outliers", xlabel="x", ylabel="y")
ax.legend(loc="upper left")

ax = axes[1]
markers = ["o", "s", "^", "v"]
for (name, errors), marker in zip(slope_error.items(), markers, strict=True):
    ax.plot(fractions * 100, errors, marker=marker, label=f'"{name}"')
ax.set_yscale("log")
ax.set(
    title="Slope error vs outlier fraction (mean of 10 data sets)",
    xlabel="outliers (% of all points)",
    ylabel="|estimated slope - true slope|",
)
ax.legend(loc="lower right")
plt.show()
