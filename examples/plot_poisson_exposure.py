"""
==========================================
Poisson regression of counts with exposure
==========================================

Claim counts, visits, defects: a count is observed over some *exposure* (a policy's time at
risk, a store's opening hours) and the quantity of interest is the *rate* per unit of
exposure. ``LinearRegressor("poisson_nll")`` is a Poisson GLM with a log link, so it handles
exposure exactly as scikit-learn's :class:`~sklearn.linear_model.PoissonRegressor` does: fit the
observed rate ``y = counts / exposure`` with ``sample_weight=exposure``.

We simulate insurance-like data, check that sklik and scikit-learn give the same coefficients
at the same ``alpha``, and compare with a least-squares (``"mse"``) fit of the rate.
"""

# %%
# Simulated policies with varying exposure
# ----------------------------------------
# Each policy has three standardised risk features and was observed for between 0.05 and 1
# years. Its claim count is Poisson with mean ``exposure * exp(intercept + X @ coef)``.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import mean_poisson_deviance
from sklearn.model_selection import train_test_split

from sklik import LinearRegressor

rng = np.random.default_rng(0)
n = 30_000
true_coef, true_intercept = np.array([0.6, -0.4, 0.3]), -2.0
X = rng.normal(size=(n, 3))
exposure = rng.uniform(0.05, 1.0, size=n)
counts = rng.poisson(exposure * np.exp(true_intercept + X @ true_coef))
rate = counts / exposure  # the target, as in scikit-learn's Poisson examples

arrays = (X, rate, exposure, counts)
split = train_test_split(*arrays, test_size=1 / 3, random_state=0)
X_train, X_test, rate_train, rate_test = split[:4]
expo_train, expo_test, _, counts_test = split[4:]
no_claim = np.mean(counts == 0)
print(f"{n} policies, {counts.sum()} claims, {no_claim:.1%} without a claim")

# %%
# Fit the rate, weighting by exposure
# -----------------------------------
# ``poisson_nll`` minimises ``sum_i s_i (exp(raw_i) - y_i raw_i) / sum_i s_i`` plus
# ``alpha / 2 ||coef||^2``, which is :class:`~sklearn.linear_model.PoissonRegressor`'s
# half-deviance objective up to a constant: the same ``alpha`` gives the same fit. With
# ``y = counts / exposure`` and ``s = exposure``, ``s_i y_i = counts_i``, so this is exactly
# the Poisson likelihood of the counts with an offset ``log(exposure)``.
# ``predict`` returns the rate; a policy's expected number of claims is
# ``exposure * predict(X)``.

alpha = 1e-4
fit_kw = {"sample_weight": expo_train}
models = {
    "sklik poisson_nll": LinearRegressor("poisson_nll", alpha=alpha),
    "sklearn PoissonRegressor": PoissonRegressor(
        alpha=alpha,
        tol=1e-10,
        max_iter=1000,
    ),
    "sklik mse": LinearRegressor("mse"),
    "constant (DummyRegressor)": DummyRegressor(strategy="mean"),
}
for est in models.values():
    est.fit(X_train, rate_train, **fit_kw)

sklik_poisson = models["sklik poisson_nll"]
skl_poisson = models["sklearn PoissonRegressor"]
coef_names = "".join(f"{f'coef[{j}]':>10}" for j in range(3))
print(f"\n{'':<26}{'intercept':>10}{coef_names}")
for label, b0, b in [
    ("true", true_intercept, true_coef),
    ("sklik poisson_nll", sklik_poisson.intercept_, sklik_poisson.coef_),
    ("sklearn PoissonRegressor", skl_poisson.intercept_, skl_poisson.coef_),
]:
    print(f"{label:<26}{b0:>10.4f}" + "".join(f"{c:>10.4f}" for c in b))
max_diff = np.max(np.abs(sklik_poisson.coef_ - skl_poisson.coef_))
print(f"largest coefficient difference, sklik vs scikit-learn: {max_diff:.1e}")

# %%
# Held-out Poisson deviance
# -------------------------
# :func:`sklearn.metrics.mean_poisson_deviance` with ``sample_weight=exposure`` (lower is
# better). The identity link of the least-squares fit predicts negative rates for some
# policies, where the Poisson deviance is undefined; as in scikit-learn's example we report
# how many, and also compare all models on the policies where every prediction is positive.
# The Poisson fits of sklik and scikit-learn give the same deviance.

preds = {label: est.predict(X_test) for label, est in models.items()}
valid = np.all([p > 0 for p in preds.values()], axis=0)
print(f"{valid.sum()} of {len(valid)} held-out policies: all predictions > 0")
print(f"\n{'model':<26}{'deviance':>10}{'rates <= 0':>12}{'where all > 0':>15}")
for label, pred in preds.items():
    n_bad = int(np.sum(pred <= 0))
    if n_bad == 0:
        dev = mean_poisson_deviance(rate_test, pred, sample_weight=expo_test)
        dev_all = f"{dev:>10.4f}"
    else:
        dev_all = f"{'n/a':>10}"
    dev_valid = mean_poisson_deviance(
        rate_test[valid],
        pred[valid],
        sample_weight=expo_test[valid],
    )
    print(f"{label:<26}{dev_all}{n_bad:>12d}{dev_valid:>15.4f}")

# %%
# Calibration by risk group
# -------------------------
# Sort the held-out policies by predicted rate, cut them into ten groups of equal total
# exposure, and compare the mean predicted rate with the observed one (claims divided by
# exposure) in each group. A calibrated model lies on the diagonal. The Poisson fit does; the
# least-squares line cannot follow the exponential increase of the rate: it predicts a
# negative rate for the safest group, too high a rate for the middle groups and far too low a
# rate for the riskiest one.


def rate_by_risk_group(pred, counts, exposure, n_groups=10):
    order = np.argsort(pred)
    cum_exposure = np.cumsum(exposure[order]) / exposure.sum()
    groups = np.searchsorted(cum_exposure, np.linspace(0, 1, n_groups + 1)[1:-1])
    predicted, observed = [], []
    for idx in np.split(order, groups):
        group_exposure = exposure[idx].sum()
        predicted.append(np.sum(pred[idx] * exposure[idx]) / group_exposure)
        observed.append(counts[idx].sum() / group_exposure)
    return np.array(predicted), np.array(observed)


fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
for label, marker in [
    ("sklik poisson_nll", "o"),
    ("sklik mse", "s"),
]:
    rates = rate_by_risk_group(preds[label], counts_test, expo_test)
    ax.plot(*rates, marker=marker, label=label)
lims = [min(ax.get_xlim()[0], 0), ax.get_xlim()[1]]
ax.plot(lims, lims, "k--", lw=1, label="perfect calibration")
overall_rate = rate_test @ expo_test / expo_test.sum()
ax.axhline(overall_rate, color="0.5", lw=1, ls=":", label="overall rate")
ax.set(
    title="Held-out calibration: 10 risk groups of equal exposure",
    xlabel="mean predicted rate (claims per year)",
    ylabel="observed rate (claims per year)",
)
ax.legend(loc="upper left")
plt.show()
