"""
=======================
Data larger than memory
=======================

When the data set does not fit in memory, hand ``LinearRegressor`` a dask DataFrame or array
instead of a NumPy one: ``fit`` never gathers the design. Every evaluation the solver needs
(the objective, its gradient and, for Newton's method, its Hessian) is one *pass* over the
row chunks: each chunk is read from storage, standardised and reduced to a few numbers of the
size of the coefficient vector, and the partial sums are added up. Without a
``distributed.Client`` this runs on dask's local scheduler, one or two chunks in memory at a
time: out of core on a laptop. With a client, the same code runs on the cluster.

This example writes a (small) claims data set to parquet files, fits a Poisson model of the
claim counts with the policies' exposure as an offset, straight from the files, and checks
that the result is the in-memory fit's. ``benchmarks/bench_out_of_core.py`` runs the same
fit on an 8 GB design (see the README, "Data larger than memory").
"""

# %%
# A parquet data set, written part by part
# ----------------------------------------
# 200,000 policies with four risk features and an exposure (years at risk), in eight
# parquet files of 25,000 rows. Each part is generated and written on its own, as a data
# set larger than memory would be; in practice the files come from elsewhere.

import tempfile
from pathlib import Path

import dask
import dask.array as da
import dask.dataframe as dd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sklik import LinearRegressor

features = ["age", "power", "density", "bonus"]
true_intercept, true_coef = -2.0, np.array([0.3, -0.2, 0.5, 0.1])
n_parts, part_rows = 8, 25_000

tmp = tempfile.TemporaryDirectory()
path = Path(tmp.name) / "claims.parquet"
path.mkdir()
for i in range(n_parts):
    rng = np.random.default_rng([0, i])
    X_part = rng.normal(size=(part_rows, len(features)))
    exposure = rng.uniform(0.05, 1.0, size=part_rows)
    claims = rng.poisson(exposure * np.exp(true_intercept + X_part @ true_coef))
    part = pd.DataFrame(X_part, columns=features).assign(exposure=exposure, claims=claims)
    part.to_parquet(path / f"part.{i}.parquet", index=False)

# %%
# Fit from the files
# ------------------
# ``dd.read_parquet`` reads nothing yet: ``df`` is a recipe with one partition per file.
# ``fit`` takes the DataFrame's columns as they are (a pandas-like
# ``offset=np.log(df["exposure"])`` is a lazy dask Series too). It makes one pass for the
# validation and the column moments, then one per Newton iteration (the Hessian comes in the
# gradient's pass); ``n_passes_`` counts the solver's passes.

df = dd.read_parquet(path)
X, y, offset = df[features], df["claims"], np.log(df["exposure"])
print(f"{df.npartitions} partitions, columns {list(df.columns)}")

est = LinearRegressor("poisson_nll").fit(X, y, offset=offset)
print(f"Newton iterations: {est.n_iter_}, passes over the data: {est.n_passes_}")
print(f"intercept {est.intercept_:.4f} (true {true_intercept})")
print(f"coef      {np.round(est.coef_, 4)} (true {true_coef})")

# %%
# Predictions and scores, lazily
# ------------------------------
# ``predict`` returns a dask array with one chunk per partition: the claim rate per year or,
# with the offset, the expected number of claims. Nothing is computed until asked for.
# ``score`` (R² of the expected counts), ``log_likelihood`` and ``aic`` are one pass each.

rate = est.predict(X)
expected = est.predict(X, offset=offset)
print(f"predict: {type(rate).__name__} of shape {rate.shape}, chunks {rate.chunks[0]}")
print(f"R² of the counts: {est.score(X, y, offset=offset):.4f}")
print(f"AIC: {est.aic(X, y, offset=offset):.1f}")

# %%
# The same fit in memory
# ----------------------
# The chunks run the same objective code as an in-memory fit: on the same data, the
# coefficients and the objective are the same up to rounding.

frame = pd.read_parquet(path)
mem = LinearRegressor("poisson_nll").fit(
    frame[features], frame["claims"], offset=np.log(frame["exposure"])
)
theta = np.r_[est.intercept_, est.coef_]
theta_mem = np.r_[mem.intercept_, mem.coef_]
print(f"largest coefficient difference, dask vs memory: {np.max(np.abs(theta - theta_mem)):.1e}")
rel = abs(est.objective_ - mem.objective_) / abs(mem.objective_)
print(f"relative objective difference: {rel:.1e}")

# %%
# Calibration by decile, computed by dask
# ---------------------------------------
# Cut the policies into ten groups by predicted rate (dask's approximate percentiles) and
# compare, in each group, the predicted claims per year of exposure with the observed
# ones. The group sums are weighted ``bincount``\ s over the chunks: one pass, whatever the
# size of the data. (Dask may group the files into chunks differently for a few columns than
# for the whole frame: ``rechunk`` aligns the observed columns with the predictions.)

edges = da.percentile(rate, np.arange(10, 100, 10))
group = da.digitize(rate, edges.compute())
columns = df.to_dask_array(lengths=True)  # all columns, one chunk per file
observed = {name: columns[:, j].rechunk(rate.chunks) for j, name in enumerate(df.columns)}
sums = [
    da.bincount(group, weights=v, minlength=10)
    for v in (expected, observed["claims"], observed["exposure"])
]
predicted_claims, observed_claims, group_exposure = dask.compute(*sums)

deciles = np.arange(1, 11)
fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
ax.plot(deciles, predicted_claims / group_exposure, "o-", label="predicted")
ax.plot(deciles, observed_claims / group_exposure, "s--", label="observed")
ax.set(
    title="Claim rate by decile of predicted rate (fitted out of core)",
    xlabel="decile of predicted rate",
    ylabel="claims per year of exposure",
    xticks=deciles,
)
ax.legend()
plt.show()

tmp.cleanup()
