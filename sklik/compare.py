r"""Which likelihood fits my data? Cross-validated comparison of the six losses.

:func:`compare_losses` fits one estimator per loss in a scikit-learn pipeline (scaling of the
numeric columns, one-hot encoding of the categorical ones), cross-validates it, and ranks the
losses by their **held-out log-likelihood per sample**: the mean over held-out samples of
:math:`\log p(y_i \mid x_i)` under each fitted model's predictive distribution. Every loss is a
negative log-likelihood, so this puts them on one scale, provided the scale is the same for
all of them:

- ``scale="density"``: the log density of :math:`y` for the continuous families (Normal,
  Laplace, Huber) and, for ``poisson_nll``, the log probability of the count (which is the
  density of the count spread uniformly over :math:`[y, y + 1)`). It is minus
  :func:`sklik.metrics.log_score`.
- ``scale="count"``: the log probability of the observed count for every loss,
  :func:`count_log_prob`: the probability mass for a discrete distribution, and the probability
  of the unit bin :math:`[y - \tfrac12, y + \tfrac12]` for a continuous one. A density can
  exceed 1 (a narrow Laplace at a target that is 0 for most rows), so on count data the density
  scale favours the sharpest continuous model over a count model; the bin probability cannot.
- ``scale="auto"`` (the default): ``"count"`` when every target is a non-negative integer,
  ``"density"`` otherwise.

Before fitting, :func:`inspect_features` refuses columns that cannot be features (identifier-like
strings, numbers written with a decimal comma) and designs wider than half the number of rows.
After fitting, a loss whose folds did not all converge, or whose predictive spread collapsed, is
flagged (columns ``converged`` and ``collapsed``) and is not declared the winner without a note.

On dask input (a dask DataFrame or array: data larger than memory, on one machine or a
cluster), the folds are whole partitions and every metric is a sum of per-partition sums
(:func:`_score_sums`, shared with the in-memory path), so the data are never gathered::

    compare_losses(dask X, y) ─▶ _DaskData: one pass (checks, per-partition column moments)
        fold k = partitions i with i mod K == k
        fit: estimator.fit(standardised dask X of the other folds)   (sklik._dask, on the workers)
        score: Σ over the fold's partitions of _score_sums(y, predict_dist(chunk))

:func:`plot_comparison` draws the out-of-fold predictions of the best two losses with their
central intervals, and the PIT histogram of every loss. The command line ``sklik compare`` wraps
both.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from sklik._estimators import LinearRegressor, MLPRegressor, OverdispersionWarning
from sklik.losses import LOSSES, GaussianNLLLoss, get_loss
from sklik.metrics import _crps_values, pit

__all__ = [
    "METRICS",
    "MODELS",
    "SCALES",
    "compare_losses",
    "count_log_prob",
    "inspect_features",
    "make_preprocessor",
    "plot_comparison",
]

#: Estimators by ``model`` name.
MODELS = {"linear": LinearRegressor, "mlp": MLPRegressor}

#: Reported metrics: column prefix -> label.
METRICS = {
    "log_likelihood": "log-lik/sample",
    "crps": "CRPS",
    "rmse": "RMSE",
    "mae": "MAE",
    "coverage": "coverage",
    "fit_time": "fit time (s)",
}

#: Scoring scales of :func:`compare_losses`.
SCALES = ("auto", "density", "count")

#: A non-numeric column with more distinct values than this fraction of its non-missing rows
#: (among at least ``ID_MIN_ROWS`` rows) looks like an identifier (see :func:`inspect_features`).
ID_UNIQUE_FRACTION = 0.5
ID_MIN_ROWS = 20
#: The widest design fitted without ``allow_wide``: encoded features / rows.
MAX_WIDTH_FRACTION = 0.5
#: A predictive std below this fraction of sd(y) counts as collapsed.
COLLAPSED_STD = 1e-3

# a number written with a decimal comma: optional sign, digits (or thousands groups with dots),
# a comma and decimals, an optional exponent
_DECIMAL_COMMA = r"\s*[-+]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d*)?(?:[eE][-+]?\d+)?\s*"


def count_log_prob(y: Any, dist: Any) -> np.ndarray:
    r"""Log probability of integer targets under a predictive distribution, per sample.

    For a discrete ``dist`` (one with ``logpmf``), :math:`\log P(Y = y)`. For a continuous one,
    the log probability of the unit bin around the count,

    .. math::

        \log P\bigl(y - \tfrac12 < Y \le y + \tfrac12\bigr) = \log\bigl(F(y + \tfrac12)
        - F(y - \tfrac12)\bigr),

    computed in the tail the bin lies in, without cancellation: with :math:`a = y - \tfrac12`,
    :math:`b = y + \tfrac12`, as :math:`\log F(b) + \log\bigl(1 - e^{\log F(a) - \log F(b)}\bigr)`
    in the lower half of the distribution and :math:`\log S(a) + \log\bigl(1 - e^{\log S(b) -
    \log S(a)}\bigr)` (``logsf``) in the upper half. Where the bin probability underflows, or is
    less than :math:`10^{-8}` of the tail probability (the density is then flat over the bin to
    that precision, and the difference would lose digits), the log density :math:`\log p(y)` is
    used instead: the midpoint rule for the bin's mass, whose width is 1. The result is never
    :math:`-\infty` where the log density is finite.

    Parameters
    ----------
    y : array-like
        Non-negative integer targets, of the distribution's shape.
    dist : scipy.stats frozen distribution
        The predictive distribution, vectorised over samples.

    Returns
    -------
    ndarray of y's shape
        Higher is better; minus their mean is a proper score for counts (the logarithmic score
        of the count).
    """
    y = np.asarray(y, dtype=np.float64)
    if hasattr(dist, "logpmf"):
        return np.asarray(dist.logpmf(y), dtype=np.float64)
    low, high = y - 0.5, y + 0.5
    with np.errstate(all="ignore"):
        cdf_low, cdf_high = dist.logcdf(low), dist.logcdf(high)
        sf_low, sf_high = dist.logsf(low), dist.logsf(high)
        lower_half = cdf_high <= sf_low  # more probability above the bin than below it
        tail = np.where(lower_half, cdf_high, sf_low)
        rest = np.where(lower_half, cdf_low, sf_high)
        fraction = -np.expm1(rest - tail)  # bin probability / tail probability
        logp = tail + np.log(fraction)
        fallback = ~np.isfinite(logp) | ~(fraction >= 1e-8)
        if np.any(fallback):
            logp = np.where(fallback, dist.logpdf(y), logp)
    return np.asarray(logp, dtype=np.float64)


def _log_density(y: np.ndarray, dist: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(dist.logpmf(y) if hasattr(dist, "logpmf") else dist.logpdf(y))


def _is_count(y: np.ndarray) -> bool:
    return bool(np.all(y >= 0) and np.all(y == np.round(y)))


def inspect_features(X: Any) -> dict:
    r"""What :func:`compare_losses` will make of the columns of ``X``, found in linear time.

    Numeric (and boolean) columns are standardised; the others are one-hot encoded, one model
    feature per distinct value. Two kinds of non-numeric columns cannot be features:

    - **identifier-like**: more than ``ID_UNIQUE_FRACTION`` = 50% distinct values among its
      non-missing rows, in a table of at least ``ID_MIN_ROWS`` = 20 rows (names, IDs,
      timestamps read as text). One-hot encoded, most of its values occur once: a held-out row's
      value is almost never seen in training, so the column carries nothing that generalises,
      while it costs one coefficient per row.
    - **decimal-comma numbers**: every non-missing value reads as a number once the comma is the
      decimal separator (``"3,14"``, ``"1.234,5"``), and at least one has a comma: the file was
      read with the wrong decimal separator (``pandas.read_csv(..., decimal=",")``).

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (n_samples, n_features)

    Returns
    -------
    dict
        ``numeric`` and ``categorical``: the column positions (lists of int);
        ``n_encoded``: the number of model features after one-hot encoding (the numeric
        columns plus the distinct values of each other column); ``id_like``: ``(name,
        n_distinct)`` pairs; ``decimal_comma``: ``(name, example value)`` pairs;
        ``mostly_numeric``: ``(name, example text, count)`` for the non-numeric columns of
        which at least half the values are numbers (a numeric column with stray text such as
        ``"?"`` or ``"-"``, encoded as categories).
    """
    if not isinstance(X, pd.DataFrame):
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValueError(f"X must be 2-D, shape (n_samples, n_features); got {array.shape}.")
        X = pd.DataFrame(array) if array.dtype.kind not in "biuf" else None
        if X is None:
            columns = list(range(array.shape[1]))
            return {
                "numeric": columns,
                "categorical": [],
                "n_encoded": len(columns),
                "id_like": [],
                "decimal_comma": [],
                "mostly_numeric": [],
            }
    numeric_mask = np.array([dtype.kind in "biuf" for dtype in X.dtypes], dtype=bool)
    numeric = np.flatnonzero(numeric_mask).tolist()
    categorical = np.flatnonzero(~numeric_mask).tolist()
    report = {
        "numeric": numeric,
        "categorical": categorical,
        "n_encoded": len(numeric),
        "id_like": [],
        "decimal_comma": [],
        "mostly_numeric": [],
    }
    n, k = len(X), len(categorical)
    if k == 0 or n == 0:
        return report
    # all categorical cells at once, column by column: cost linear in the number of cells
    flat = X.iloc[:, categorical].to_numpy(dtype=object).ravel(order="F")
    column = np.repeat(np.arange(k), n)
    codes, uniques = pd.factorize(flat)
    present = codes >= 0
    keys = np.unique(column[present] * (len(uniques) + 1) + codes[present])
    n_distinct = np.bincount(keys // (len(uniques) + 1), minlength=k)
    n_present = np.bincount(column[present], minlength=k)
    report["n_encoded"] += int(n_distinct.sum())
    text = pd.Series(flat, dtype=object)
    is_number = text.str.fullmatch(_DECIMAL_COMMA, na=False).to_numpy(dtype=bool)
    has_comma = text.str.contains(",", regex=False, na=False).to_numpy(dtype=bool)
    n_number = np.bincount(column[is_number], minlength=k)
    n_comma = np.bincount(column[is_number & has_comma], minlength=k)
    numbers = pd.to_numeric(text, errors="coerce").notna().to_numpy(dtype=bool)
    n_dot = np.bincount(column[numbers], minlength=k)
    names = X.columns[categorical]
    for j in np.flatnonzero((n_dot >= 0.5 * n_present) & (n_dot < n_present)):
        cells = slice(j * n, (j + 1) * n)
        stray = present[cells] & ~numbers[cells]
        example = flat[cells][stray][0]
        report["mostly_numeric"].append((names[j], str(example), int(stray.sum())))
    for j in np.flatnonzero((n_number == n_present) & (n_comma > 0)):
        example = flat[j * n : (j + 1) * n][(is_number & has_comma)[j * n : (j + 1) * n]][0]
        report["decimal_comma"].append((names[j], str(example).strip()))
    decimal = {name for name, _ in report["decimal_comma"]}
    if n >= ID_MIN_ROWS:
        for j in np.flatnonzero(n_distinct > ID_UNIQUE_FRACTION * n_present):
            if names[j] not in decimal:
                report["id_like"].append((names[j], int(n_distinct[j])))
    return report


#: How :func:`feature_problem` tells the user to fix a problem, by audience.
_HINTS = {
    "python": {
        "decimal": "read the file with pandas.read_csv(..., decimal=',')",
        "drop": "drop {columns} from X",
        "wide": "pass allow_wide=True to fit anyway",
    },
    "cli": {
        "decimal": "use --decimal ,",
        "drop": "drop {columns} with --drop {names}",
        "wide": "pass --allow-wide to fit anyway",
    },
}


def feature_problem(report: dict, n_samples: int, allow_wide: bool, hints: str = "python") -> str:
    """Why the columns described by ``report`` cannot be fitted, or an empty string.

    Parameters
    ----------
    report : dict
        What :func:`inspect_features` returns.
    n_samples : int
        The number of rows.
    allow_wide : bool
        Accept identifier-like columns and designs with more than ``MAX_WIDTH_FRACTION`` = half
        as many encoded features as rows.
    hints : {"python", "cli"}, default="python"
        Word the fixes for the Python API or for the ``sklik compare`` command line.

    Returns
    -------
    str
    """
    hint = _HINTS[hints]

    def quoted(pairs: list) -> str:
        return ", ".join(repr(str(name)) for name, _ in pairs[:5]) + (
            f" and {len(pairs) - 5} more" if len(pairs) > 5 else ""
        )

    if report["decimal_comma"]:
        pairs = report["decimal_comma"]
        return (
            f"column(s) {quoted(pairs)} hold numbers written with a decimal comma (e.g. "
            f"{pairs[0][1]!r}), which would be one-hot encoded as text: {hint['decimal']}"
        )
    if allow_wide:
        return ""
    width = report["n_encoded"]
    stray = {name: (text, count) for name, text, count in report.get("mostly_numeric", [])}
    if report["id_like"] and report["id_like"][0][0] in stray:
        name = report["id_like"][0][0]
        text, count = stray[name]
        return (
            f"column {str(name)!r} holds numbers but also text such as {text!r} ({count} of "
            f"{n_samples} rows), so it would be one-hot encoded as {report['id_like'][0][1]} "
            f"categories ({width} model features in all): replace or remove that text in the "
            f"file, {hint['drop'].format(columns='it', names=name)}, or {hint['wide']}"
        )
    if report["id_like"]:
        pairs = report["id_like"]
        fix = hint["drop"].format(
            columns="them" if len(pairs) > 1 else "it",
            names=",".join(str(name) for name, _ in pairs),
        )
        return (
            f"column(s) {quoted(pairs)} look like identifiers, not features ({pairs[0][1]} "
            f"distinct values in {n_samples} rows; one-hot encoding gives {width} model "
            f"features): {fix}, or {hint['wide']}"
        )
    if width > MAX_WIDTH_FRACTION * n_samples:
        return (
            f"too many model features for the rows: {width} features after one-hot encoding "
            f"for {n_samples} rows (more than half); the fits would interpolate the training "
            f"folds and the comparison would mean nothing. Drop or merge columns, or "
            f"{hint['wide']}"
        )
    return ""


def make_preprocessor(X: Any, report: dict | None = None) -> Any:
    """The feature preprocessing of :func:`~sklik.compare.compare_losses`.

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (n_samples, n_features)
        The features.
    report : dict, default=None
        What :func:`inspect_features` returns for ``X``, if already computed.

    Returns
    -------
    transformer
        For a DataFrame with non-numeric columns, a ``ColumnTransformer`` that standardises
        the numeric columns and one-hot encodes the others (categories unseen in training are
        encoded as all zeros), selecting them by position (cost linear in the number of
        columns); otherwise a ``StandardScaler``.
    """
    report = inspect_features(X) if report is None else report
    if not report["categorical"]:
        return StandardScaler()
    return ColumnTransformer(
        [
            ("numeric", StandardScaler(), report["numeric"]),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                report["categorical"],
            ),
        ]
    )


def _counted_columns(names: Any, counts: np.ndarray) -> str:
    """``'a' (3), 'b' (1)``: the columns with a non-zero count (10 at most, then how many)."""
    bad = np.flatnonzero(counts)
    columns = ", ".join(f"{names[j]!r} ({counts[j]})" for j in bad[:10])
    return columns + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")


def _check_data(X: Any, y: Any, n_splits: int) -> tuple[Any, np.ndarray]:
    if not isinstance(X, pd.DataFrame):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, shape (n_samples, n_features); got {X.shape}.")
        if X.dtype.kind not in "biuf":
            X = pd.DataFrame(X)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be one target column, shape (n_samples,); got shape {y.shape}.")
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}: pass one target per row.")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool) and len(y):
        raise ValueError(
            f"The target must be numeric; got values of dtype {y.dtype} such as {y[0]!r}. "
            f"compare_losses fits regression models: pick a numeric target column."
        )
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError(
            f"The target has {np.sum(~np.isfinite(y))} missing or infinite values: drop those "
            f"rows first."
        )
    if len(y) < 2 * n_splits:
        raise ValueError(
            f"Too few rows for {n_splits}-fold cross-validation: {len(y)} rows, at least "
            f"{2 * n_splits} needed (two per fold). Use fewer folds (cv) or more data."
        )
    if X.shape[1] == 0:
        raise ValueError("X has no columns: pass at least one feature.")
    if isinstance(X, pd.DataFrame):
        missing = X.isna().to_numpy().sum(axis=0)
        if missing.any():
            raise ValueError(
                f"The features have missing values, in column(s) "
                f"{_counted_columns(X.columns, missing)}: drop or impute them first."
            )
        numeric = [j for j, dtype in enumerate(X.dtypes) if dtype.kind in "biuf"]
        values, names = X.iloc[:, numeric].to_numpy(dtype=np.float64), X.columns[numeric]
    else:
        values, names = X.astype(np.float64), range(X.shape[1])
    infinite = np.isinf(values).sum(axis=0)
    if infinite.any():
        bad = np.flatnonzero(infinite)
        columns = ", ".join(f"{names[j]!r} ({infinite[j]})" for j in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise ValueError(
            f"The features have infinite values, in column(s) {columns}{more}: drop or "
            f"replace them first."
        )
    return X, y


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if isinstance(X, pd.DataFrame) else X[index]


#: The sums over held-out rows that every reported metric of a fold is computed from
#: (:func:`_score_sums`, :func:`_fold_metrics`): the in-memory path computes them on the whole
#: held-out fold, the dask path on each of its partitions and adds them up.
#: A spread below ``COLLAPSED_STD`` x std(y) is a collapse where the intervals hold less than
#: this fraction of their level (see :func:`_flags`).
_COLLAPSED_COVERAGE = 0.8
SUMS = ("n", "log_likelihood", "crps", "squared_error", "absolute_error", "covered", "tiny_std")


def _score_sums(
    y: np.ndarray, dist: Any, coverage: float, scale: str, tiny_std: float
) -> tuple[np.ndarray, dict]:
    r"""The held-out sums of :data:`SUMS` for targets ``y`` under ``dist``, and the per-row values.

    With :math:`\mu_i`, :math:`\sigma_i` and :math:`[l_i, u_i]` the mean, standard deviation and
    central ``coverage`` interval of the predictive distribution of row :math:`i`, the sums are
    :math:`n`, :math:`\sum_i \log p(y_i)` (on ``scale``: :func:`count_log_prob` or the log
    density), :math:`\sum_i \mathrm{CRPS}_i`, :math:`\sum_i (y_i - \mu_i)^2`,
    :math:`\sum_i |y_i - \mu_i|`, :math:`\#\{l_i \le y_i \le u_i\}` and
    :math:`\#\{\sigma_i < \text{tiny\_std}\}`. Sums over disjoint sets of rows add up, so the
    metrics of a fold (:func:`_fold_metrics`) are the same whether it is scored in one piece
    or partition by partition.
    """
    mean = np.asarray(dist.mean(), dtype=np.float64)
    std = np.broadcast_to(np.asarray(dist.std(), dtype=np.float64), y.shape)
    low, high = dist.interval(coverage)
    logp = count_log_prob(y, dist) if scale == "count" else _log_density(y, dist)
    error = y - mean
    sums = np.array(
        [
            y.shape[0],
            np.sum(logp),
            np.sum(_crps_values(y, dist)),
            error @ error,
            np.sum(np.abs(error)),
            np.sum((low <= y) & (y <= high)),
            np.sum(std < tiny_std),
        ],
        dtype=np.float64,
    )
    return sums, {"mean": mean, "std": std, "lower": low, "upper": high}


def _fold_metrics(sums: np.ndarray) -> dict:
    """A fold's metrics (means over its held-out rows) from the sums of :func:`_score_sums`."""
    n = sums[0]
    return {
        "log_likelihood": float(sums[1] / n),
        "crps": float(sums[2] / n),
        "rmse": float(np.sqrt(sums[3] / n)),
        "mae": float(sums[4] / n),
        "coverage": float(sums[5] / n),
    }


def _predictive(estimator: Any, X: Any, offset: Any, uncertainty: str) -> Any:
    """The predictive distribution of a fitted ``Pipeline(preprocess, model)`` on ``X``."""
    Xt = estimator[:-1].transform(X)
    return estimator[-1].predict_dist(Xt, offset=offset, uncertainty=uncertainty)


def _convergence(caught: list) -> tuple[bool, str]:
    """Whether a fit raised no ConvergenceWarning, and why the optimum does not exist.

    ``"separation"`` (the features separate rows with y = 0 from the others) or ``"zeros"``
    (y is 0 on every training row): no maximum likelihood estimate exists, which is not a
    matter of ``max_iter``; ``"poisson-limit"``: the negative binomial's dispersion is at its
    Poisson limit (no overdispersion), a converged fit of the Poisson model; else ``""``.
    """
    warned = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    if any("y is 0 on every training row" in message for message in warned):
        return False, "zeros"
    if any("quasi-complete separation" in message for message in warned):
        return False, "separation"
    limit = [message for message in warned if "no overdispersion" in message]
    if limit:
        return len(limit) == len(warned), "poisson-limit"
    return not warned, ""


def _fit_fold(
    estimator: Any,
    X: Any,
    y: np.ndarray,
    train,
    test,
    coverage,
    rng,
    scale,
    offset=None,
    tiny_std=0.0,
    uncertainty="predictive",
) -> dict:
    """Fit on the train rows, score on the test rows; also return the out-of-fold predictions.

    Every warning is caught: the convergence warnings and the others are counted and reported
    in the loss's note, never printed.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        fit_params = {} if offset is None else {"model__offset": offset[train]}
        estimator.fit(_rows(X, train), y[train], **fit_params)
        fit_time = time.perf_counter() - start
        converged, separated = _convergence(caught)
        y_test = y[test]
        test_offset = None if offset is None else offset[test]
        dist = _predictive(estimator, _rows(X, test), test_offset, uncertainty)
        sums, values = _score_sums(y_test, dist, coverage, scale, tiny_std)
        if scale == "count" and not hasattr(dist, "pmf"):  # randomised over the count's bin
            low_cdf, high_cdf = dist.cdf(y_test - 0.5), dist.cdf(y_test + 0.5)
            pit_values = low_cdf + rng.uniform(size=y_test.shape) * (high_cdf - low_cdf)
        else:
            pit_values = pit(y_test, dist, random_state=rng)
    others = [
        w for w in caught if not issubclass(w.category, (ConvergenceWarning, OverdispersionWarning))
    ]
    dispersions = [
        w.message.dispersion for w in caught if issubclass(w.category, OverdispersionWarning)
    ]
    return {
        "scores": {**_fold_metrics(sums), "fit_time": fit_time},
        "sums": sums,
        "predictions": pd.DataFrame(
            {
                "row": test,
                "y_true": y_test,
                "mean": values["mean"],
                "lower": values["lower"],
                "upper": values["upper"],
                "pit": pit_values,
            }
        ),
        "converged": converged,
        "separated": separated,
        "n_passes": None,
        "warnings": [f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in others],
        "overdispersion": max(dispersions, default=None),
    }


# -- dask input -------------------------------------------------------------------------------


def _is_dask(X: Any) -> bool:
    """Whether ``X`` is a dask collection (checked without importing dask)."""
    return type(X).__module__.startswith(("dask.", "dask_expr")) and hasattr(X, "__dask_graph__")


def _numeric_dtype(dtype: Any) -> bool:
    """Whether a column of this (numpy or pandas) dtype holds numbers or booleans."""
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not isinstance(dtype, pd.CategoricalDtype)


def _dask_blocks(a: Any) -> list:
    """The row blocks of a dask DataFrame, Series or array (partitions, row chunks), delayed."""
    if hasattr(a, "divisions"):  # a DataFrame or Series (arrays have npartitions too)
        return list(a.to_delayed())
    if a.ndim == 2 and len(a.chunks[1]) > 1:
        a = a.rechunk({1: -1})
    return list(a.to_delayed().ravel())


def _block_values(block: Any, ndim: int) -> np.ndarray:
    """One block as float64 values: 2-D features or a 1-D column."""
    values = np.asarray(
        block.to_numpy(dtype=np.float64) if hasattr(block, "to_numpy") else block,
        dtype=np.float64,
    )
    if ndim == 1:
        return values.reshape(-1)
    return values if values.ndim == 2 else values.reshape(values.shape[0], -1)


def _chunk_check(X: Any, y: Any, off: Any) -> dict:
    """One block's sums for the checks and the scaling (one pass; see :class:`_DaskData`)."""
    X, y = _block_values(X, 2), _block_values(y, 1)
    off = None if off is None else _block_values(off, 1)
    n = y.shape[0]
    with np.errstate(all="ignore"):
        mean = X.mean(axis=0) if n else np.zeros(X.shape[1])
        ymean = float(y.mean()) if n else 0.0
        finite_y = y[np.isfinite(y)]
        return {
            "n": n,
            "n_x": X.shape[0],
            "p": X.shape[1],
            "nan": np.isnan(X).sum(axis=0),
            "inf": np.isinf(X).sum(axis=0),
            "mean": mean,
            "m2": ((X - mean) ** 2).sum(axis=0),
            "y_bad": int(n - finite_y.shape[0]),
            "ymean": ymean,
            "ym2": float((y - ymean) @ (y - ymean)),
            "ymin": float(finite_y.min()) if finite_y.size else np.inf,
            "ymax": float(finite_y.max()) if finite_y.size else -np.inf,
            "y_integer": bool(np.all(finite_y == np.round(finite_y))),
            "n_off": None if off is None else off.shape[0],
            "off_bad": 0 if off is None else int(np.sum(~np.isfinite(off))),
            "off_min": np.inf if off is None or not off.size else float(np.min(off)),
        }


def _chan(parts: list[tuple[float, Any, Any]]) -> tuple[float, Any, Any]:
    """Chan et al.'s merge of ``(count, mean, sum of squared deviations)`` triples."""
    n, mean, m2 = parts[0]
    for nb, mb, m2b in parts[1:]:
        total = n + nb
        if total == 0:
            continue
        delta = mb - mean
        mean, m2 = mean + delta * (nb / total), m2 + m2b + delta**2 * (n * nb / total)
        n = total
    return n, mean, m2


def _scaler_moments(n: float, mean: np.ndarray, m2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``StandardScaler``'s ``mean_`` and ``scale_`` from the training rows' moments.

    As scikit-learn does: a column whose variance is at rounding level, ``var <= n eps var +
    (n eps mean)^2``, or whose standard deviation is below ``10 eps``, gets the scale 1.
    """
    eps = np.finfo(np.float64).eps
    var = m2 / n
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant | (scale < 10 * eps)] = 1.0
    return mean, scale


def _scale_block(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``StandardScaler.transform``'s arithmetic on one block."""
    Z = X - mean
    Z /= scale
    return Z


def _chunk_scores(X, y, off, mean, scale, estimator, coverage, kind, tiny_std, uncertainty):
    """One held-out block's :func:`_score_sums`, and the warnings raised computing them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Z = _scale_block(_block_values(X, 2), mean, scale)
        y = _block_values(y, 1)
        off = None if off is None else _block_values(off, 1)
        dist = estimator.predict_dist(Z, offset=off, uncertainty=uncertainty)
        sums, _ = _score_sums(y, dist, coverage, kind, tiny_std)
    return sums, [f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught]


class _DaskData:
    r"""Dask features, targets and offsets, checked in one pass and split into partition folds.

    The cross-validation folds are made of whole row blocks (the partitions of a dask
    DataFrame, the row chunks of a dask array): fold :math:`k` of :math:`K` holds the blocks
    :math:`i` with :math:`i \bmod K = k`, the empty blocks skipped. With fewer than :math:`K`
    blocks, the rows are first rechunked into :math:`K` blocks of nearly equal size. One pass
    over the data counts the rows, checks for missing and infinite values, and sums, per block,
    the column moments from which each fold's ``StandardScaler`` follows (merged over its
    training blocks), so that nothing but these per-block sums reaches this process.
    """

    def __init__(self, X: Any, y: Any, offset: Any, exposure: Any, n_folds: int) -> None:
        import dask
        import dask.array as da

        self._da = da
        if offset is not None and exposure is not None:
            raise ValueError("Give an offset or an exposure, not both.")
        for name, values in (("y", y), ("offset", offset), ("exposure", exposure)):
            if values is not None and not _is_dask(values):
                raise ValueError(
                    f"X is a dask collection, so {name} must be one too, with X's partitions "
                    f"(e.g. frame[{name!r}] of the same dask DataFrame); got "
                    f"{type(values).__name__}."
                )
        self._check_dtypes(X, y, offset, exposure)
        extra = offset if offset is not None else exposure
        blocks = [_dask_blocks(a) for a in (X, y) + (() if extra is None else (extra,))]
        if len({len(b) for b in blocks}) > 1:
            raise ValueError(
                f"X, y (and the offset or exposure) must have the same partitions; they have "
                f"{', '.join(str(len(b)) for b in blocks)}."
            )
        xb, yb = blocks[0], blocks[1]
        ob = blocks[2] if extra is not None else [None] * len(xb)
        self.n_passes = 1
        stats = list(
            dask.compute(*[dask.delayed(_chunk_check)(*b) for b in zip(xb, yb, ob, strict=True)])
        )
        p = stats[0]["p"]
        if any(s["n_x"] != s["n"] or s["n_off"] not in (None, s["n"]) for s in stats):
            raise ValueError(
                "X, y (and the offset or exposure) have different row counts in some "
                "partition: pass columns of one dask DataFrame, or arrays with the same chunks."
            )
        lengths = [s["n"] for s in stats]
        self.n, self.n_features = int(sum(lengths)), p
        self._check_values(X, stats, extra is not None, exposure is not None, n_folds)
        _, _, ym2 = _chan([(s["n"], s["ymean"], s["ym2"]) for s in stats])
        self.y_sd = float(np.sqrt(ym2 / self.n))
        self.y_min, self.y_max = min(s["ymin"] for s in stats), max(s["ymax"] for s in stats)
        self.y_integer = all(s["y_integer"] for s in stats)
        # empty partitions (e.g. left by a filter) hold no rows of any fold: skipped
        kept = [i for i, m in enumerate(lengths) if m > 0]
        xb, yb, ob = ([b[i] for i in kept] for b in (xb, yb, ob))
        stats, lengths = [stats[i] for i in kept], [lengths[i] for i in kept]

        def array(parts: list, ndim: int) -> Any:
            return da.concatenate(
                [
                    da.from_delayed(
                        dask.delayed(_block_values)(b, ndim),
                        shape=(m, p) if ndim == 2 else (m,),
                        dtype=np.float64,
                    )
                    for b, m in zip(parts, lengths, strict=True)
                ]
            )

        self._X, self._y = array(xb, 2), array(yb, 1)
        fixed = None if extra is None else array(ob, 1)
        if len(lengths) < n_folds:  # too few blocks for the folds: K of nearly equal size
            rows = tuple(len(part) for part in np.array_split(np.arange(self.n), n_folds))
            self._X, self._y = self._X.rechunk({0: rows}), self._y.rechunk({0: rows})
            fixed = None if fixed is None else fixed.rechunk({0: rows})
            stats = list(
                dask.compute(
                    *[
                        dask.delayed(_chunk_check)(*b)
                        for b in zip(
                            self._X.to_delayed().ravel(),
                            self._y.to_delayed().ravel(),
                            [None] * n_folds if fixed is None else fixed.to_delayed().ravel(),
                            strict=True,
                        )
                    ]
                )
            )
            self.n_passes += 1
        self._stats = stats
        self.n_partitions, self.n_folds = len(stats), n_folds
        self.offset = fixed if offset is not None else None
        self.exposure = fixed if exposure is not None else None

    @staticmethod
    def _check_dtypes(X: Any, y: Any, offset: Any, exposure: Any) -> None:
        dtypes = list(X.dtypes.items()) if hasattr(X, "dtypes") else [("X", X.dtype)]
        bad = [str(name) for name, dtype in dtypes if not _numeric_dtype(dtype)]
        if bad:
            raise ValueError(
                f"On dask input, compare_losses fits numeric feature columns only; column(s) "
                f"{', '.join(map(repr, bad[:10]))} are not numeric: drop them or encode them "
                f"as numbers first."
            )
        if getattr(X, "ndim", 2) != 2:
            raise ValueError(f"X must be 2-D, shape (n_samples, n_features); got {X.shape}.")
        for name, values in (("target", y), ("offset", offset), ("exposure", exposure)):
            if values is None:
                continue
            dtype = values.dtype if hasattr(values, "dtype") else values.dtypes.iloc[0]
            if not _numeric_dtype(dtype):
                raise ValueError(
                    f"The {name} must be numeric; got dtype {dtype}. compare_losses fits "
                    f"regression models: pick a numeric {name} column."
                )

    def _check_values(
        self, X: Any, stats: list, has_fixed: bool, is_exposure: bool, n_folds: int
    ) -> None:
        """The in-memory path's checks of the data (:func:`_check_data`), from the sums."""
        names = list(X.columns) if hasattr(X, "columns") else list(range(self.n_features))
        y_bad = sum(s["y_bad"] for s in stats)
        if y_bad:
            raise ValueError(
                f"The target has {y_bad} missing or infinite values: drop those rows first."
            )
        if self.n < 2 * n_folds:
            raise ValueError(
                f"Too few rows for {n_folds}-fold cross-validation: {self.n} rows, at least "
                f"{2 * n_folds} needed (two per fold). Use fewer folds (cv) or more data."
            )
        if self.n_features == 0:
            raise ValueError("X has no columns: pass at least one feature.")
        for key, what, fix in (
            ("nan", "missing", "drop or impute them first"),
            ("inf", "infinite", "drop or replace them first"),
        ):
            counts = np.sum([s[key] for s in stats], axis=0)
            if counts.any():
                raise ValueError(
                    f"The features have {what} values, in column(s) "
                    f"{_counted_columns(names, counts)}: {fix}."
                )
        if has_fixed:
            name = "exposure" if is_exposure else "offset"
            if sum(s["off_bad"] for s in stats):
                raise ValueError(f"The {name} has missing or infinite values.")
            if is_exposure and not min(s["off_min"] for s in stats) > 0:
                raise ValueError(
                    "Exposures (exposure=, --exposure) must be positive: the model multiplies "
                    "the rate by them."
                )

    def fit_fold(
        self,
        estimator: Any,
        k: int,
        coverage: float,
        scale: str,
        offset: Any,
        tiny_std: float,
        uncertainty: str,
    ) -> dict:
        """Fit ``estimator`` on the blocks outside fold ``k``, score it on the fold's blocks."""
        import dask

        da = self._da
        test = list(range(k, self.n_partitions, self.n_folds))
        train = [i for i in range(self.n_partitions) if i % self.n_folds != k]
        n, mean, m2 = _chan(
            [(self._stats[i]["n"], self._stats[i]["mean"], self._stats[i]["m2"]) for i in train]
        )
        x_mean, x_scale = _scaler_moments(n, mean, m2)
        Z = da.concatenate([self._X.blocks[i] for i in train])
        Z = Z.map_blocks(_scale_block, x_mean, x_scale, dtype=np.float64)
        y = da.concatenate([self._y.blocks[i] for i in train])
        off = None if offset is None else da.concatenate([offset.blocks[i] for i in train])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            estimator.fit(Z, y, offset=off)
            fit_time = time.perf_counter() - start
        converged, separated = _convergence(caught)
        blocks = [
            self._X.to_delayed().ravel(),
            self._y.to_delayed().ravel(),
            [None] * self.n_partitions if offset is None else offset.to_delayed().ravel(),
        ]
        score = dask.delayed(_chunk_scores, pure=True)
        parts = dask.compute(
            *[
                score(
                    *(b[i] for b in blocks),
                    x_mean,
                    x_scale,
                    estimator,
                    coverage,
                    scale,
                    tiny_std,
                    uncertainty,
                )
                for i in test
            ]
        )
        sums = np.sum([part[0] for part in parts], axis=0)
        messages = [
            f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
            for w in caught
            if not issubclass(w.category, ConvergenceWarning)
        ]
        messages += [message for part in parts for message in part[1]]
        return {
            "scores": {**_fold_metrics(sums), "fit_time": fit_time},
            "sums": sums,
            "predictions": None,
            "converged": converged,
            "separated": separated,
            "n_passes": int(getattr(estimator, "n_passes_", 0)) + 1,
            "warnings": list(dict.fromkeys(messages)),
        }


def compare_losses(
    X: Any,
    y: Any,
    *,
    losses: Sequence[str] | None = None,
    model: str = "linear",
    cv: int | Any = 5,
    coverage: float = 0.9,
    scale: str = "auto",
    allow_wide: bool = False,
    offset: Any = None,
    exposure: Any = None,
    random_state: int | None = 0,
    estimator_params: dict | None = None,
    progress: bool = False,
    return_predictions: bool = False,
    uncertainty: str = "predictive",
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    r"""Cross-validate one estimator per loss and rank the losses by held-out likelihood.

    Each loss is fitted in ``Pipeline([("preprocess", make_preprocessor(X)), ("model",
    estimator)])`` on the training folds and scored on the held-out fold with its predictive
    distribution (:meth:`~sklik.LinearRegressor.predict_dist`). A loss whose likelihood cannot
    describe ``y`` is skipped with a note and the others still run: ``poisson_nll`` for
    negative or non-integer targets. A loss whose fit fails gets a note too. A loss given by
    name has its defaults, except ``gaussian_nll``'s variance floor: ``eps`` (torch's 1e-6,
    in the squared units of ``y``) is taken relative to ``y``'s variance,
    ``GaussianNLLLoss(eps=1e-6 * y.var())``, so that the ranking does not depend on the units
    of ``y``.

    Before fitting, the columns are checked (:func:`inspect_features`, :func:`feature_problem`):
    numbers written with a decimal comma, identifier-like text columns, and designs with more
    encoded features than half the rows are refused with a ``ValueError``.

    After fitting, a loss is flagged when a fold did not converge (``converged`` is False: a
    ``ConvergenceWarning``) or when its predictive spread **collapsed** (``collapsed`` is True):
    its predictive standard deviation is below ``1e-3 * std(y)`` on a majority of held-out rows,
    or its mean coverage is below 5/9 of the nominal level (0.5 for 90% intervals). The loss
    ranked first is reported in ``attrs["winner"]`` only with a note in
    ``attrs["winner_note"]`` when it is flagged, and not at all (None) when its spread
    collapsed. Warnings raised while fitting or scoring (e.g. numpy's RuntimeWarning) are not
    re-emitted: they are counted in the loss's note.

    Parameters
    ----------
    X : array-like, pandas.DataFrame or dask collection of shape (n_samples, n_features)
        The features. A DataFrame's non-numeric columns are one-hot encoded. A dask DataFrame
        or array (``pip install "sklik[dask]"``) is never gathered into this process: see
        "Dask input" below; its columns must be numeric.
    y : array-like of shape (n_samples,)
        A numeric target (for a dask ``X``, a dask Series or array with ``X``'s partitions).
    losses : sequence of str, default=None
        Names from :data:`sklik.losses.LOSSES`; None compares all six.
    model : {"linear", "mlp"}, default="linear"
        :class:`~sklik.LinearRegressor` or :class:`~sklik.MLPRegressor`.
    cv : int or cross-validation splitter, default=5
        An int is the number of folds of a shuffled ``KFold`` seeded with ``random_state``; for
        dask input, the number :math:`K` of partition folds (see "Dask input"). A splitter or
        an iterable of ``(train, test)`` index arrays gives the folds explicitly (in memory).
    coverage : float, default=0.9
        Nominal level of the central predictive intervals whose coverage is reported.
    scale : {"auto", "density", "count"}, default="auto"
        What the held-out log-likelihood measures. ``"density"``: the log density of ``y``
        (the log probability of the count for ``poisson_nll``). ``"count"``: the log
        probability of the count for every loss (:func:`count_log_prob`: the unit bin
        :math:`[y - \tfrac12, y + \tfrac12]` for the continuous distributions); needs
        non-negative integer targets. ``"auto"``: ``"count"`` if every target is a
        non-negative integer, else ``"density"``. The scale used is ``attrs["scale"]``.
    allow_wide : bool, default=False
        Fit even with identifier-like columns or more encoded features than half the rows.
    offset : array-like of shape (n_samples,), default=None
        (For a dask ``X``: a dask Series or array with its partitions, as ``exposure``.) A fixed
        term added to every model's mean head on its link scale (see
        :meth:`~sklik.LinearRegressor.fit`), in fitting and in scoring.
    exposure : array-like of shape (n_samples,), default=None
        Positive exposures of count targets: the log-link losses (``poisson_nll``) get
        ``offset=log(exposure)`` and so model counts ~ exposure × rate, scored as counts; an
        identity-link loss cannot use an exposure as an offset and is fitted without it (its
        note says so). Not together with ``offset``.
    random_state : int or None, default=0
        Seeds the folds, the MLP's initial weights and the randomised PIT of count models.
    estimator_params : dict, default=None
        Further parameters of every estimator, e.g. ``{"alpha": 1.0}`` or
        ``{"hidden_layer_sizes": (20,)}``.
    progress : bool, default=False
        Show a progress bar (tqdm) on stderr.
    return_predictions : bool, default=False
        Also return the out-of-fold predictions (not for dask input, whose held-out rows are
        never gathered).
    uncertainty : {"predictive", "noise"}, default="predictive"
        The predictive distribution that is scored (``predict_dist(..., uncertainty=...)``):
        noise and parameter uncertainty, or the plug-in distribution at the fitted parameters.
        On dask input the coefficient covariance is computed as in memory, except for
        ``l1``, ``huber`` and ``smooth_l1`` (residual quantiles: their dask fits score the
        noise distribution with a df-corrected scale).

    Returns
    -------
    results : pandas.DataFrame
        One row per loss, indexed by loss name and sorted from the highest held-out
        log-likelihood per sample down (skipped or failed losses last). Columns
        ``<metric>_mean`` and ``<metric>_std`` (over folds) for ``log_likelihood`` (higher is
        better), ``crps``, ``rmse``, ``mae`` (lower is better), ``coverage`` (the fraction of
        held-out targets inside the central ``coverage`` interval; close to ``coverage`` is
        calibrated, at least ``coverage`` for the integer intervals of ``poisson_nll``) and
        ``fit_time`` (seconds), then ``rank`` (1 is the highest log-likelihood; missing for a
        skipped or failed loss), ``converged`` and ``collapsed`` (the flags; missing for a
        skipped or failed loss) and ``note``.
        ``results.attrs`` holds ``model``, ``n_samples``, ``n_features`` (columns of X),
        ``n_encoded`` (model features after one-hot encoding), ``n_splits``, ``coverage``,
        ``scale`` (``"density"`` or ``"count"``), ``winner`` (a loss name or None) and
        ``winner_note``; for dask input also ``n_partitions`` (the non-empty row blocks the
        folds are made of) and ``n_passes`` (passes over the data: the checks, every fit's
        ``n_passes_`` and one scoring pass per fit).
    predictions : pandas.DataFrame
        Only with ``return_predictions=True``: for every loss and row of ``X``, the held-out
        ``mean`` prediction, the interval ``lower`` and ``upper`` bounds, and the ``pit`` value,
        with columns ``loss``, ``fold``, ``row`` and ``y_true``. The PIT is randomised for
        counts (:func:`sklik.metrics.pit`), and on the count scale a continuous model's too,
        over the count's bin: :math:`F(y - \tfrac12) + V\,(F(y + \tfrac12) - F(y - \tfrac12))`,
        :math:`V \sim U(0, 1)`, uniform when the binned model is calibrated.

    Raises
    ------
    ValueError
        For an unknown loss, model or scale, a non-numeric or non-finite target, features with
        missing values, fewer than two rows per fold, ``scale="count"`` with targets that are
        not counts, or columns that cannot be features (see above).

    Notes
    -----
    **Dask input.** For a dask DataFrame or array ``X`` (and ``y``, ``offset`` or ``exposure``
    with the same partitions), nothing row-sized reaches this process. One pass checks the data
    (missing and infinite values, the target's range and integrality) and sums, per partition,
    the column moments of the scaling. The folds are made of whole partitions: fold :math:`k`
    of :math:`K` holds the partitions :math:`i` with :math:`i \bmod K = k` (empty partitions
    skipped; with fewer than :math:`K` partitions the rows are first split into :math:`K`
    row blocks of nearly equal size). They are not shuffled: if the partitions are ordered
    (by date, by region), so are the folds. Each loss is fitted on the other folds with the
    estimator's dask path (:mod:`sklik._dask`; the numeric columns standardised as the
    in-memory ``StandardScaler`` would, from the merged moments of the training partitions),
    and every held-out partition is scored where it lives: the sums of :func:`_score_sums`
    (log-likelihood, CRPS, squared and absolute errors, covered targets, collapsed spreads),
    which the in-memory path computes on the whole fold, are added up over the fold's
    partitions, so both paths give the same metrics on the same folds (to the fits'
    tolerance). A loss whose dask fit fails is reported in its note. The
    progress bar reports the passes over the data.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklik.compare import compare_losses
    >>> X, y = load_diabetes(return_X_y=True)
    >>> results = compare_losses(X, y, losses=["mse", "l1", "gaussian_nll"], cv=3)
    >>> results.attrs["scale"]  # the targets are integers: scored as counts
    'count'
    >>> results.index.tolist()
    ['gaussian_nll', 'mse', 'l1']
    >>> columns = ["log_likelihood_mean", "rmse_mean", "coverage_mean"]
    >>> results.loc["mse", columns].round(2)
    log_likelihood_mean    -5.42
    rmse_mean              54.71
    coverage_mean           0.89
    Name: mse, dtype: float64
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}; got {model!r}.")
    names = list(LOSSES) if losses is None else list(losses)
    unknown = [name for name in names if name not in LOSSES]
    if unknown or not names:
        raise ValueError(f"losses must be names among {list(LOSSES)}; got {names!r}.")
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1); got {coverage!r}.")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}; got {scale!r}.")
    if uncertainty not in ("predictive", "noise"):
        raise ValueError(f"uncertainty must be 'predictive' or 'noise'; got {uncertainty!r}.")
    params = dict(estimator_params or {})
    if model == "mlp":
        params.setdefault("random_state", random_state)
    if _is_dask(X):
        if return_predictions:
            raise ValueError(
                "return_predictions=True would gather every held-out row into this process; "
                "on dask input compare_losses returns the results only (compare a sample in "
                "memory for the predictions and plots)."
            )
        if not isinstance(cv, int | np.integer) or cv < 2:
            raise ValueError(
                f"cv must be a number of folds (at least 2) on dask input, whose folds are "
                f"made of whole partitions; got {cv!r}."
            )
        data = _DaskData(X, y, offset, exposure, int(cv))
        n_samples, n_features, y_sd = data.n, data.n_features, data.y_sd
        constant = data.y_min == data.y_max
        n_folds = int(cv)
        is_count = data.y_min >= 0 and data.y_integer
        report = {
            "numeric": list(range(n_features)),
            "categorical": [],
            "n_encoded": n_features,
            "id_like": [],
            "decimal_comma": [],
            "mostly_numeric": [],
        }
    else:
        if isinstance(cv, int | np.integer):
            if cv < 2:
                raise ValueError(f"cv must be at least 2 folds; got {cv}.")
            cv = KFold(int(cv), shuffle=True, random_state=random_state)
        cv = check_cv(cv)
        X, y = _check_data(X, y, cv.get_n_splits(X, y))
        offset, exposure = _check_offset(offset, exposure, len(y))
        n_samples, n_features, y_sd = len(y), X.shape[1], float(np.std(y))
        constant = bool(np.min(y) == np.max(y))
        is_count = _is_count(y)
        report = inspect_features(X)
    if scale == "auto":
        scale = "count" if is_count else "density"
    elif scale == "count" and not is_count:
        raise ValueError(
            "scale='count' scores the probability of each count, but the targets are not all "
            "non-negative integers: use scale='density' (--scale density) or 'auto'."
        )
    problem = feature_problem(report, n_samples, allow_wide)
    if problem:
        raise ValueError(problem[0].upper() + problem[1:] + ".")
    if constant:
        raise ValueError(
            "The target is constant: every likelihood fits it exactly (a point mass), so "
            "there is nothing to compare. Check the target column."
        )
    tiny_std = COLLAPSED_STD * y_sd
    rng = check_random_state(random_state)

    def make_loss(name: str) -> Any:
        # gaussian_nll's variance floor eps (torch's 1e-6) is in the squared units of y: it is
        # taken relative to y's variance, so that the ranking does not depend on y's units
        # (with y in millionths the floor held the fits and ranked gaussian_nll last, 6 nats
        # behind; in units of 1 it won)
        loss = get_loss(name)
        if isinstance(name, str) and isinstance(loss, GaussianNLLLoss):  # (by name: default)
            loss.set_params(eps=loss.eps * y_sd * y_sd)
        return loss

    if _is_dask(X):
        offset, exposure = data.offset, data.exposure

        def fold_fitter(name: str) -> Any:
            loss_offset, _ = _loss_offset(name, offset, exposure)

            def fit_one(k: int) -> dict:
                estimator = MODELS[model](make_loss(name), **params)
                return data.fit_fold(
                    estimator, k, coverage, scale, loss_offset, tiny_std, uncertainty
                )

            return fit_one

        def domain_note(name: str) -> str:
            return _domain_note(name, np.array([data.y_min, data.y_max]), data.y_integer)

    else:
        if isinstance(X, pd.DataFrame):
            if report["categorical"]:  # positional, unique string names for the pipeline
                X = X.set_axis([f"x{j}" for j in range(n_features)], axis=1)
            else:
                X = X.to_numpy(dtype=np.float64)
        folds = list(cv.split(X, y))
        n_folds = len(folds)
        preprocessor = make_preprocessor(X, report if isinstance(X, pd.DataFrame) else None)

        def fold_fitter(name: str) -> Any:
            loss_offset, _ = _loss_offset(name, offset, exposure)

            def fit_one(k: int) -> dict:
                estimator = MODELS[model](make_loss(name), **params)
                pipeline = Pipeline([("preprocess", clone(preprocessor)), ("model", estimator)])
                train, test = folds[k]
                return _fit_fold(
                    pipeline,
                    X,
                    y,
                    train,
                    test,
                    coverage,
                    rng,
                    scale,
                    loss_offset,
                    tiny_std,
                    uncertainty,
                )

            return fit_one

        def domain_note(name: str) -> str:
            return _domain_note(name, y)

    rows, predictions, n_passes = {}, [], data.n_passes if _is_dask(X) else None
    with tqdm(total=len(names) * n_folds, desc="sklik compare", disable=not progress) as bar:
        for name in names:
            bar.set_postfix_str(name)
            _, offset_note = _loss_offset(name, offset, exposure)
            fit_one = fold_fitter(name)
            if n_passes is not None:  # the bar reports the passes over the data, fold by fold

                def fit_one(k: int, fit_fold: Any = fit_one, name: str = name) -> dict:
                    nonlocal n_passes
                    fit = fit_fold(k)
                    n_passes += fit["n_passes"]
                    bar.set_postfix_str(f"{name}, {n_passes} passes over the data")
                    return fit

            note, fits = _cross_validate(fit_one, n_folds, domain_note(name), bar)
            scores = pd.DataFrame([fit["scores"] for _, fit in fits], columns=list(METRICS))
            flags = _flags(fits, scores, n_folds, coverage)
            # a fold whose score is not a number leaves the loss unranked (never averaged over
            # the other folds: that would rank the loss on the rows it described best)
            bad = [k + 1 for k, fit in fits if np.isnan(fit["scores"]["log_likelihood"])]
            nan_note = (
                f"the held-out log-likelihood is not a number in fold "
                f"{', '.join(map(str, bad))} (a predictive distribution that is not finite at "
                f"some held-out rows): unranked"
                if bad
                else ""
            )
            with np.errstate(invalid="ignore"):  # (a fold's -inf: a nan spread)
                spreads = {f"{m}_std": scores[m].std(ddof=0, skipna=False) for m in METRICS}
            rows[name] = {
                **{f"{m}_mean": scores[m].mean(skipna=False) for m in METRICS},
                **spreads,
                "converged": flags["converged"],
                "collapsed": flags["collapsed"],
                "note": "; ".join(
                    part for part in [note, offset_note, nan_note, *flags["notes"]] if part
                ),
            }
            if not _is_dask(X):
                predictions += [fit["predictions"].assign(loss=name, fold=k) for k, fit in fits]

    results = pd.DataFrame.from_dict(rows, orient="index")
    metric_columns = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    results = results[[*metric_columns, "converged", "collapsed", "note"]]
    results = results.sort_values("log_likelihood_mean", ascending=False, na_position="last")
    fitted = results["log_likelihood_mean"].notna()
    rank = pd.Series(np.cumsum(fitted), index=results.index, dtype="Int64").where(fitted)
    results.insert(len(metric_columns), "rank", rank)
    for flag in ("converged", "collapsed"):
        results[flag] = results[flag].astype("boolean")
    results.index.name = "loss"
    best, best_note = _winner(results)
    results.attrs.update(
        model=model,
        n_samples=n_samples,
        n_features=n_features,
        n_encoded=report["n_encoded"],
        n_splits=n_folds,
        coverage=coverage,
        scale=scale,
        winner=best,
        winner_note=best_note,
    )
    if n_passes is not None:
        results.attrs.update(n_partitions=data.n_partitions, n_passes=n_passes)
    if not return_predictions:
        return results
    columns = ["loss", "fold", "row", "y_true", "mean", "lower", "upper", "pit"]
    predictions = pd.concat(predictions, ignore_index=True) if predictions else None
    return results, pd.DataFrame(predictions, columns=columns)


def _flags(fits: list, scores: pd.DataFrame, n_folds: int, coverage: float) -> dict:
    """The ``converged`` and ``collapsed`` flags of one loss, and the notes explaining them."""
    if not fits:
        return {"converged": None, "collapsed": None, "notes": []}
    notes = []
    n_separated = sum(fit["separated"] == "separation" for _, fit in fits)
    n_zeros = sum(fit["separated"] == "zeros" for _, fit in fits)
    n_limit = sum(fit["separated"] == "poisson-limit" for _, fit in fits)
    n_unconverged = sum(
        not fit["converged"] and fit["separated"] in ("", "poisson-limit") for _, fit in fits
    )
    if n_limit:
        notes.append(
            f"no overdispersion in {n_limit} of {n_folds} folds: the dispersion is at its "
            f"Poisson limit there (the fit is poisson_nll's)"
        )
    dispersions = [fit["overdispersion"] for _, fit in fits if fit.get("overdispersion")]
    if dispersions:
        notes.append(
            f"overdispersed counts in {len(dispersions)} of {n_folds} folds (Pearson "
            f"dispersion up to {max(dispersions):.3g}, 1 for Poisson counts): its intervals are "
            f"too narrow; negative_binomial_nll models the extra variance"
        )
    if n_zeros:
        notes.append(
            f"y is 0 on every training row in {n_zeros} of {n_folds} folds: no finite fit "
            f"exists (the intercept goes to -inf); check the target"
        )
    if n_separated:
        notes.append(
            f"the features separate rows with y = 0 from the others in {n_separated} of "
            f"{n_folds} folds (quasi-complete separation: no maximum likelihood estimate): "
            f"use --alpha > 0"
        )
    if n_unconverged:
        notes.append(
            f"did not converge in {n_unconverged} of {n_folds} folds (ConvergenceWarning): "
            f"raise max_iter"
        )
    sums = np.sum([fit["sums"] for _, fit in fits], axis=0)
    tiny = float(sums[SUMS.index("tiny_std")] / sums[0])
    covered = float(scores["coverage"].mean())
    collapsed = False
    # a tiny spread is a collapse only where the intervals miss too: on nearly deterministic
    # data (y = 5000 x + noise of sd 1) a calibrated spread is 1e-4 of y's
    if tiny > 0.5 and covered < _COLLAPSED_COVERAGE * coverage:
        collapsed = True
        notes.append(
            f"predictive spread collapsed: std below {COLLAPSED_STD:g} x std(y) on "
            f"{tiny:.0%} of held-out rows, and its {coverage:.0%} intervals hold "
            f"{covered:.0%} of held-out targets"
        )
    elif covered < coverage * 5 / 9:
        collapsed = True
        notes.append(
            f"predictive spread far too narrow: its {coverage:.0%} intervals hold "
            f"{covered:.0%} of held-out targets"
        )
    messages = [message for _, fit in fits for message in fit["warnings"]]
    if messages:
        n_warned = sum(bool(fit["warnings"]) for _, fit in fits)
        notes.append(
            f"numerical warnings in {n_warned} of {n_folds} folds, e.g. {messages[0]!r}: "
            f"its scores may be inaccurate"
        )
    converged = n_unconverged == 0 and n_separated == 0 and n_zeros == 0
    return {"converged": converged, "collapsed": collapsed, "notes": notes}


def _winner(results: pd.DataFrame) -> tuple[str | None, str]:
    """The loss ranked first, and a note when its flags make the title unearned.

    ``(name, "")`` for an unflagged first loss; ``(name, note)`` when it did not converge in
    every fold; ``(None, note)`` when its predictive spread collapsed or nothing was fitted.
    """
    fitted = results[results["rank"].notna()]
    if fitted.empty:
        return None, "no loss could be fitted (see the notes)"
    top, row = str(fitted.index[0]), fitted.iloc[0]
    clean = fitted[fitted["converged"].astype(bool) & ~fitted["collapsed"].astype(bool)]
    if row["converged"] and not row["collapsed"]:
        return top, ""
    if len(clean):
        other = f"the best unflagged loss is {clean.index[0]} (rank {clean['rank'].iloc[0]})"
    else:
        other = "every fitted loss is flagged"
    if row["collapsed"]:
        return None, f"{top} ranks first but its predictive spread collapsed; {other}"
    if "quasi-complete separation" in str(row.get("note", "")):
        return top, (
            f"{top} has no maximum likelihood estimate in some folds (the features separate "
            f"rows with y = 0), so its score depends on where the solver stopped: use "
            f"--alpha > 0; {other}"
        )
    return top, (
        f"{top} did not converge in every fold, so its score may change with a larger "
        f"max_iter; {other}"
    )


def _cross_validate(fit_one: Any, n_folds: int, note: str, bar: Any) -> tuple[str, list]:
    """Fit one loss on every fold (``fit_one(k)``): a note (why it was skipped), and the fits.

    The fits are ``(fold index, fit_one result)`` pairs, none if the loss was skipped or failed.
    """
    fits = []
    for k in range(n_folds):
        if note:
            break
        try:
            fit = fit_one(k)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            note = f"fit failed in fold {k + 1}: {' '.join(str(exc).split())}"
            break
        except NotImplementedError as exc:  # e.g. a solver without a dask path
            reason = " ".join(str(exc).split()).split(". ")[0] or "no fit for this input yet"
            note = f"not fitted: {reason} (NotImplementedError)"
            break
        fits.append((k, fit))
        bar.update()
    if note:
        bar.update(n_folds - len(fits))
        return note, []
    return "", fits


def _check_offset(offset: Any, exposure: Any, n: int) -> tuple[Any, Any]:
    """Validate ``offset`` or ``exposure`` (one value per row, finite; exposures positive)."""
    if offset is not None and exposure is not None:
        raise ValueError("Give an offset or an exposure, not both.")
    checked = []
    for name, values in (("offset", offset), ("exposure", exposure)):
        if values is None:
            checked.append(None)
            continue
        try:
            values = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The {name} must be numeric: {exc}.") from None
        if values.shape[0] != n:
            raise ValueError(f"The {name} has {values.shape[0]} values; the target has {n}.")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"The {name} has missing or infinite values.")
        if name == "exposure" and not np.all(values > 0):
            raise ValueError(
                "Exposures (exposure=, --exposure) must be positive: the model multiplies the "
                "rate by them."
            )
        checked.append(values)
    return checked[0], checked[1]


def _loss_offset(name: str, offset: Any, exposure: Any) -> tuple[Any, str]:
    """The offset one loss is fitted and scored with, and a note when it cannot use one."""
    if exposure is None:
        return offset, ""
    if get_loss(name).link_name == "log":
        return np.log(exposure), ""
    return None, "fitted without the exposure (identity link: an exposure needs a log link)"


def _domain_note(name: str, y: np.ndarray, integer: bool | None = None) -> str:
    """A note saying why ``name``'s likelihood cannot describe ``y``, or an empty string.

    ``y`` may be a summary of the targets (their minimum and maximum) with ``integer`` saying
    whether they are all integers (None: ``y`` holds every target).
    """
    loss = get_loss(name)
    try:
        loss.check_y(y)
    except ValueError as exc:
        return f"skipped: {exc}"
    discrete = hasattr(loss.predictive_distribution(np.zeros((loss.n_params, 1)), 1.0), "pmf")
    if integer is None:  # every target: name one that is not an integer
        fractional = y[y != np.round(y)]
        if discrete and fractional.size:
            example = float(fractional[0])
            near = abs(example - round(example)) <= 1e-9 * max(1.0, abs(example))
            hint = " (within 1e-9 of an integer: round y if it holds counts)" if near else ""
            return (
                f"skipped: the targets are not integer counts, which its distribution needs "
                f"({fractional.size} are not, e.g. {example!r}{hint})"
            )
        return ""
    if discrete and not integer:
        return "skipped: the targets are not integer counts, which its distribution needs"
    return ""


def plot_comparison(
    results: pd.DataFrame, predictions: pd.DataFrame, *, n_best: int = 2, bins: int = 10
) -> Any:
    """Out-of-fold predictions with intervals for the best losses, and PIT histograms.

    Parameters
    ----------
    results, predictions : pandas.DataFrame
        What ``compare_losses(..., return_predictions=True)`` returns.
    n_best : int, default=2
        Number of top-ranked losses whose predictions are drawn.
    bins : int, default=10
        Number of bins of the PIT histograms. A calibrated model's PIT is uniform: a flat
        histogram at height 1; a U shape means intervals too narrow, a hump too wide.

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the test extra
        raise ImportError("Plotting needs matplotlib: pip install 'sklik[plot]'.") from exc
    fitted = [name for name in results.index if name in set(predictions["loss"])]
    best = fitted[:n_best]
    n_cols = max(len(best) + 1, 3)
    n_pit_rows = -(-len(fitted) // n_cols)
    fig, axes = plt.subplots(
        1 + n_pit_rows,
        n_cols,
        figsize=(4 * n_cols, 4 + 2.6 * n_pit_rows),
        height_ratios=[1.6] + [1] * n_pit_rows,
        squeeze=False,
        layout="constrained",
    )
    level = results.attrs.get("coverage", 0.9)
    lims = [predictions["y_true"].min(), predictions["y_true"].max()]
    for ax, name in zip(axes[0], best, strict=False):
        p = predictions[predictions["loss"] == name]
        inside = (p["lower"] <= p["y_true"]) & (p["y_true"] <= p["upper"])
        ax.errorbar(
            p["mean"],
            p["mean"],
            yerr=[p["mean"] - p["lower"], p["upper"] - p["mean"]],
            fmt="none",
            ecolor="tab:blue",
            alpha=0.12,
            label=f"{level:.0%} interval",
        )
        ax.scatter(p["mean"][inside], p["y_true"][inside], s=8, c="tab:blue", label="inside")
        ax.scatter(p["mean"][~inside], p["y_true"][~inside], s=8, c="tab:red", label="outside")
        ax.plot(lims, lims, color="black", lw=1, label="observed = predicted")
        ax.set(
            xlabel="predicted (held out)",
            ylabel="observed",
            title=f"#{results.loc[name, 'rank']} {name}: {inside.mean():.0%} inside",
        )
        ax.legend(loc="upper left", fontsize="small")
    ranking = results.loc[fitted[::-1]]
    axes[0, -1].errorbar(
        ranking["log_likelihood_mean"],
        ranking.index,
        xerr=ranking["log_likelihood_std"],
        fmt="o",
        color="black",
        capsize=3,
    )
    axes[0, -1].set(
        title="held-out log-likelihood per sample",
        xlabel="mean (sd over folds); higher is better",
    )
    axes[0, -1].grid(axis="x", alpha=0.3)
    for ax in axes[0, len(best) : -1]:
        ax.axis("off")
    for ax, name in zip(axes[1:].ravel(), fitted, strict=False):
        ax.hist(
            predictions.loc[predictions["loss"] == name, "pit"],
            bins=bins,
            range=(0, 1),
            density=True,
            color="tab:gray",
            edgecolor="white",
        )
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.set(title=f"PIT: {name}", xlim=(0, 1), xlabel="PIT value")
    for ax in axes[1:].ravel()[len(fitted) :]:
        ax.axis("off")
    model = results.attrs.get("model", "")
    fig.suptitle(
        f"sklik compare ({model}): held-out predictions of the best losses, and calibration"
    )
    return fig
