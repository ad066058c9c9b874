"""
=========================================================
Choosing the likelihood and the penalty by held-out score
=========================================================

The loss of a sklik estimator is a hyper-parameter like any other, so
:class:`~sklearn.model_selection.GridSearchCV` can choose it, given a scorer that judges what
the losses disagree about. Point-prediction scorers such as the mean squared error say nothing
about the predicted *spread*; a proper scoring rule of the whole predictive distribution does.
Here we use the log score (the mean negative log-likelihood of the held-out targets), obtained
with ``sklik.metrics.get_scorer("neg_log_score")``, which works with every loss and through a
:class:`~sklearn.pipeline.Pipeline`.

The data have 20 features: five drive the mean, and a sixth, which does not affect the mean,
drives the noise level. The learned variance of ``"gaussian_nll"`` should win, and with its
2 x 20 coefficients the penalty ``alpha`` should matter.
"""

# %%
# Data
# ----

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklik import LinearRegressor
from sklik.metrics import get_scorer

rng = np.random.default_rng(0)
n_samples, n_features = 300, 20
X = rng.normal(size=(n_samples, n_features))
coef = np.zeros(n_features)
coef[:5] = [3.0, -2.0, 1.5, 1.0, -1.0]
noise_std = np.exp(X[:, 5])  # feature 5 sets the noise level only
y = 5.0 + X @ coef + noise_std * rng.normal(size=n_samples)

# %%
# Grid search over the loss and ``alpha``
# ---------------------------------------
# The parameters of the last pipeline step are reached as ``linearregressor__<name>``. A list
# of grids lets ``"l1"`` be searched at ``alpha=0`` only: there sklik solves it exactly as a
# linear program, whereas with a penalty it falls back to L-BFGS on a kinked objective, which
# is slow (``"huber"`` is the smooth robust alternative). ``smooth_l1`` is left out because
# with its default ``beta=1`` it gives the same fit as ``huber`` with ``delta=1``.

pipe = make_pipeline(StandardScaler(), LinearRegressor())
alphas = np.logspace(-4, 0, 9)
param_grid = [
    {
        "linearregressor__loss": ["mse", "huber", "gaussian_nll"],
        "linearregressor__alpha": alphas,
    },
    {"linearregressor__loss": ["l1"], "linearregressor__alpha": [0.0]},
]
cv = KFold(n_splits=5, shuffle=True, random_state=0)
log_score = get_scorer("neg_log_score")
search = GridSearchCV(pipe, param_grid, scoring=log_score, cv=cv)
search.fit(X, y)

results = pd.DataFrame(search.cv_results_)
results = results.rename(
    columns={
        "param_linearregressor__loss": "loss",
        "param_linearregressor__alpha": "alpha",
    }
)
best_per_loss = results.loc[results.groupby("loss")["mean_test_score"].idxmax()]
print("best alpha and mean held-out log score (lower is better) per loss:")
ranked = best_per_loss.sort_values("mean_test_score", ascending=False)
for row in ranked.itertuples():
    score = -row.mean_test_score
    print(f"  {row.loss:<14} alpha={row.alpha:<8.3g} log score {score:.3f}")
params = search.best_params_
loss, alpha = params["linearregressor__loss"], params["linearregressor__alpha"]
print(f"selected by GridSearchCV: loss={loss!r}, alpha={alpha:.3g}")

# %%
# The score per loss against ``alpha``
# ------------------------------------
# ``alpha`` multiplies the same penalty ``alpha / 2 ||w||^2`` for every loss, but it is added
# to losses on different scales (a squared error in units of ``y``\ :sup:`2`, an absolute error
# in units of ``y``, a log-likelihood without units), so the useful range differs from one
# loss to the next: compare each curve's best point, not the curves at a fixed ``alpha``. A
# moderate penalty helps the Gaussian NLL, whose 20 log-variance coefficients overfit a little
# without one; with too much, the mean is shrunk towards a constant and the score collapses.

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
for i, loss in enumerate(["mse", "huber", "gaussian_nll"]):
    res = results[results["loss"] == loss].sort_values("alpha")
    score = -res["mean_test_score"]
    ax.semilogx(res["alpha"], score, marker="o", color=f"C{i}", label=loss)
    best = res.loc[res["mean_test_score"].idxmax()]
    ax.plot(
        best["alpha"],
        -best["mean_test_score"],
        marker="*",
        ms=16,
        color=f"C{i}",
        mec="k",
    )
l1_score = -results.loc[results["loss"] == "l1", "mean_test_score"].item()
ax.axhline(l1_score, color="C3", ls="--", label="l1 (alpha=0)")
ax.set(
    title="5-fold cross-validated log score (stars: best alpha per loss)",
    xlabel="alpha",
    ylabel="mean held-out log score (lower is better)",
)
ax.legend(title="loss")
plt.show()

# %%
# Several scorers at once with ``cross_validate``
# -----------------------------------------------
# The log score is one proper scoring rule among several. ``cross_validate`` takes a dict of
# sklik scorers (and any scikit-learn scorer name) to compare the best model of each loss on
# new folds: the continuous ranked probability score (CRPS), the interval score of the central
# 90% interval, the empirical 90% coverage (a diagnostic, not a score) and the squared error
# of the mean. The learned variance wins on every proper score, most clearly on the interval
# score: its intervals are narrow where the noise is low. Its coverage is below the nominal
# 90%, though: with 300 samples, 21 variance parameters are slightly overfitted, a reminder to
# check calibration (``sklik.metrics.coverage_table``) as well as scores.

scoring = {
    "log score": get_scorer("neg_log_score"),
    "CRPS": get_scorer("neg_crps"),
    "interval score 90": get_scorer("neg_interval_score_90"),
    "coverage 90": get_scorer("coverage_90"),
    "MSE": get_scorer("neg_mean_squared_error"),
}
new_folds = KFold(5, shuffle=True, random_state=1)
rows = {}
for row in best_per_loss.itertuples():
    model = pipe.set_params(
        linearregressor__loss=row.loss,
        linearregressor__alpha=row.alpha,
    )
    scores = cross_validate(model, X, y, scoring=scoring, cv=new_folds)
    # negated scores back to losses; coverage stays as is
    rows[row.loss] = {}
    for name in scoring:
        sign = 1 if name.startswith("coverage") else -1
        rows[row.loss][name] = sign * scores[f"test_{name}"].mean()
print("\n" + pd.DataFrame(rows).T.round(3).to_string())
