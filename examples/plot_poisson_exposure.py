"""
==========================================
Poisson regression of counts with exposure
==========================================

Claim counts, visits, defects: a count is observed over some *exposure* (a policy's time at
risk, a store's opening hours) and the quantity of interest is the *rate* per unit of
exposure. ``LinearRegressor("poisson_nll")`` is a Poisson GLM with a log link, and
``fit(X, counts, offset=np.log(exposure))`` is the GLM practitioner's model (statsmodels'
``GLM(..., exposure=...)``, glum's ``offset``): counts ~ Poisson(exposure · rate). Its
likelihood, intervals and scores are those of the counts. The offset is routed as metadata,
so exposure-aware cross-validation works end to end.

We simulate insurance-like data, check that sklik and scikit-learn's
:class:`~sklearn.linear_model.PoissonRegressor` (which has no offset: it fits the rate
``counts / exposure`` with ``sample_weight=exposure``, the same optimum) give the same
coefficients at the same ``alpha``, cross-validate with the exposure, and compare with a
least-squares (``"mse"``) fit of the rate.
"""

# %%
# Simulated policies with varying exposure
# ----------------------------------------
# Each policy has three standardised risk features and was observed for between 0.05 and 1
# years. Its claim count is Poisson with mean ``exposure * exp(intercept + X @ coef)``.

import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import mean_poisson_deviance
from sklearn.model_selection import cross_validate, train_test_split

from sklik import LinearRegressor
from sklik.metrics import coverage_table, get_scorer

rng = np.random.default_rng(0)
n = 30_000
true_coef, true_intercept = np.array([0.6, -0.4, 0.3]), -2.0
X = rng.normal(size=(n, 3))
exposure = rng.uniform(0.05, 1.0, size=n)
counts = rng.poisson(exposure * np.exp(true_intercept + X @ true_coef)).astype(float)
rate = counts / exposure  # scikit-learn's target for its Poisson examples

arrays = (X, rate, exposure, counts)
split = train_test_split(*arrays, test_size=1 / 3, random_state=0)
X_train, X_test, rate_train, rate_test = split[:4]
expo_train, expo_test, counts_train, counts_test = split[4:]
no_claim = np.mean(counts == 0)
print(f"{n} policies, {counts.sum():.0f} claims, {no_claim:.1%} without a claim")

# %%
# Fit the counts with an offset
# -----------------------------
# ``poisson_nll`` minimises the mean of ``exp(raw_i) - y_i raw_i`` plus
# ``alpha / 2 ||coef||^2`` with ``raw_i = X_i @ coef + intercept + offset_i``: with
# ``offset = log(exposure)`` this is the Poisson likelihood of the counts. ``predict(X)``
# returns the rate (claims per year); ``predict(X, offset=np.log(exposure))`` the expected
# number of claims. scikit-learn's recipe (rate target, exposure weights) reaches the same
# coefficients: its data term is the same likelihood divided by the mean exposure instead of
# 1, so its ``alpha`` equals sklik's divided by the mean exposure.

alpha = 1e-4
sklik_poisson = LinearRegressor("poisson_nll", alpha=alpha * expo_train.mean())
sklik_poisson.fit(X_train, counts_train, offset=np.log(expo_train))
skl_poisson = PoissonRegressor(alpha=alpha, tol=1e-10, max_iter=1000)
skl_poisson.fit(X_train, rate_train, sample_weight=expo_train)
models = {
    "sklik poisson_nll": sklik_poisson,
    "sklearn PoissonRegressor": skl_poisson,
    "sklik mse": LinearRegressor("mse").fit(X_train, rate_train, sample_weight=expo_train),
    "constant (DummyRegressor)": DummyRegressor(strategy="mean").fit(
        X_train, rate_train, sample_weight=expo_train
    ),
}

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

# The likelihood tools score the counts: a log-likelihood, AIC and interval coverage that a
# statistician can compare with statsmodels' ``GLM(..., exposure=...)``.
offset_test = np.log(expo_test)
loglik = sklik_poisson.log_likelihood(X_test, counts_test, offset=offset_test)
print(f"held-out log-likelihood of the counts: {loglik:.1f}")
print(coverage_table(sklik_poisson, X_test, counts_test, offset=offset_test))

# %%
# Exposure-aware cross-validation
# -------------------------------
# With scikit-learn's metadata routing, ``set_fit_request(offset=True)`` sends each training
# fold's offset to ``fit`` and ``set_score_request(offset=True)`` sends each held-out fold's
# offset to sklik's scorers, which then score the held-out *counts* under Poisson(exposure ·
# rate).

with sklearn.config_context(enable_metadata_routing=True):
    cv = cross_validate(
        LinearRegressor("poisson_nll", alpha=alpha * exposure.mean()).set_fit_request(offset=True),
        X,
        counts,
        params={"offset": np.log(exposure)},
        scoring={
            "log_score": get_scorer("neg_log_score").set_score_request(offset=True),
            "crps": get_scorer("neg_crps").set_score_request(offset=True),
        },
        cv=5,
    )
print(
    f"5-fold held-out log score per policy: {-cv['test_log_score'].mean():.4f}, "
    f"CRPS: {-cv['test_crps'].mean():.4f}"
)

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
