"""
===============================================
Standard errors: ``coef_table`` and statsmodels
===============================================

Statisticians read a fitted GLM through its coefficient table: estimates, standard errors,
z statistics, p-values and confidence intervals. scikit-learn's estimators do not provide one;
``LinearRegressor.coef_table`` does, for every loss, with the model-based covariance (the
inverse Fisher information) or a sandwich (``robust="HC0"``/``"HC1"``).

We fit a Poisson regression of the number of doctor visits in the RAND Health Insurance
Experiment data shipped with statsmodels (``randhie``) and set sklik's table next to
statsmodels' ``GLM`` summary on the same data.
"""

# %%
# Data and fits
# -------------

import numpy as np
import pandas as pd
import statsmodels.api as sm

from sklik import LinearRegressor

data = sm.datasets.randhie.load_pandas().data
y = data["mdvis"].to_numpy(dtype=float)  # doctor visits in a year
X = data.drop(columns="mdvis")
print(f"{len(y)} people, {X.shape[1]} covariates, mean visits {y.mean():.2f}")

sklik_fit = LinearRegressor("poisson_nll", tol=1e-10).fit(X, y)
glm = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit()

# %%
# The coefficient table
# ---------------------
# ``coef_table`` is a DataFrame indexed by ``"intercept"`` and the feature names. The
# model-based standard errors equal statsmodels' ``bse`` (the same inverse Fisher
# information); the columns follow statsmodels' ``alpha=0.05`` convention.

table = sklik_fit.coef_table(X, y)
print(table.round(4))

# %%
# statsmodels' own summary of the same model, for the side-by-side reading: ``coef``,
# ``std err``, ``z``, ``P>|z|`` and the 95% interval are sklik's ``coef``, ``se``, ``z``,
# ``p_value``, ``ci_lower`` and ``ci_upper``.
print(glm.summary().tables[1])

comparison = pd.DataFrame(
    {
        "coef (sklik)": table["coef"].to_numpy(),
        "coef (statsmodels)": glm.params.to_numpy(),
        "se (sklik)": table["se"].to_numpy(),
        "se (statsmodels)": glm.bse.to_numpy(),
    },
    index=table.index,
)
print(comparison.round(5))
largest = np.max(np.abs(table["se"].to_numpy() / glm.bse.to_numpy() - 1))
print(f"largest relative difference of the standard errors: {largest:.1e}")

# %%
# Robust standard errors
# ----------------------
# These visit counts are overdispersed (their variance is several times their mean), so the
# Poisson model's own standard errors are too small. The sandwich covariance does not rely on
# the Poisson variance; statsmodels calls it ``cov_type="HC0"``.

robust = sklik_fit.std_errors(X, y, robust="HC0")
glm_hc0 = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(cov_type="HC0")
print(
    pd.DataFrame(
        {"model-based": table["se"], "HC0 (sklik)": robust, "HC0 (statsmodels)": glm_hc0.bse.values}
    ).round(5)
)
print(f"variance / mean of the visits: {y.var() / y.mean():.1f}")

# %%
# Confidence intervals of the mean
# --------------------------------
# statsmodels' ``get_prediction(...).conf_int()`` gives the confidence interval of the fitted
# mean at new rows: the Wald interval of the linear predictor, mapped through the inverse
# link. ``predict_dist(X, uncertainty="mean")`` is that sampling distribution (a log-normal
# whose median is the prediction, for the log link), and its ``interval`` is the same
# interval. It is not an interval for a new count: ``predict_dist(X)`` (the default,
# ``uncertainty="predictive"``) is, and it is far wider.

rows = X.iloc[::4000]  # six people with different covariates
mean_dist = sklik_fit.predict_dist(rows, uncertainty="mean")
low, high = mean_dist.interval(0.95)
reference = glm.get_prediction(sm.add_constant(rows, has_constant="add")).conf_int()
count_low, count_high = sklik_fit.predict_dist(rows).interval(0.95)
print(
    pd.DataFrame(
        {
            "mean": sklik_fit.predict(rows),
            "mean 95% (sklik)": [f"[{a:.3f}, {b:.3f}]" for a, b in zip(low, high, strict=True)],
            "mean 95% (statsmodels)": [f"[{a:.3f}, {b:.3f}]" for a, b in reference],
            "new count 95%": [
                f"[{a:.0f}, {b:.0f}]" for a, b in zip(count_low, count_high, strict=True)
            ],
        }
    )
)
largest = np.max(np.abs(np.column_stack([low, high]) / reference - 1))
print(f"largest relative difference of the interval ends: {largest:.1e}")
