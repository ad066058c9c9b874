r"""Which likelihood fits my data? Cross-validated comparison of the six losses.

:func:`compare_losses` fits one estimator per loss in a scikit-learn pipeline (scaling of the
numeric columns, one-hot encoding of the categorical ones), cross-validates it, and ranks the
losses by their **held-out log-likelihood per sample**: the mean over held-out samples of
:math:`\log p(y_i \mid x_i)` under each fitted model's predictive distribution. Every loss is a
negative log-likelihood, so this puts them on one scale: the density of :math:`y` for the
continuous families (Normal, Laplace, Huber) and, for ``poisson_nll``, the probability of the
count, which is the density of the count spread uniformly over its unit-width bin
:math:`[y, y + 1)`. It is minus :func:`sklik.metrics.log_score`.

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
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.model_selection import KFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import check_array, check_random_state
from tqdm.auto import tqdm

from sklik._estimators import LinearRegressor, MLPRegressor
from sklik.losses import LOSSES, get_loss
from sklik.metrics import crps, interval_coverage, log_score, pit, predictive_distribution

__all__ = ["METRICS", "MODELS", "compare_losses", "make_preprocessor", "plot_comparison"]

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


def make_preprocessor(X: Any) -> Any:
    """The feature preprocessing of :func:`~sklik.compare.compare_losses`.

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (n_samples, n_features)
        The features.

    Returns
    -------
    transformer
        For a DataFrame, a ``ColumnTransformer`` that standardises the numeric columns and
        one-hot encodes the others (categories unseen in training are encoded as all zeros);
        otherwise a ``StandardScaler``.
    """
    if not isinstance(X, pd.DataFrame):
        return StandardScaler()
    return make_column_transformer(
        (StandardScaler(), make_column_selector(dtype_include="number")),
        (
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            make_column_selector(dtype_exclude="number"),
        ),
    )


def _check_data(X: Any, y: Any, n_splits: int) -> tuple[Any, np.ndarray]:
    X = X if isinstance(X, pd.DataFrame) else np.asarray(X)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be one target column, shape (n_samples,); got shape {y.shape}.")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
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
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}: pass one target per row.")
    if len(y) < 2 * n_splits:
        raise ValueError(
            f"Too few rows for {n_splits}-fold cross-validation: {len(y)} rows, at least "
            f"{2 * n_splits} needed (two per fold). Use fewer folds (cv) or more data."
        )
    if isinstance(X, pd.DataFrame) and X.isna().any().any():
        missing = X.isna().sum()
        columns = ", ".join(f"{name!r} ({count})" for name, count in missing[missing > 0].items())
        raise ValueError(
            f"The features have missing values, in column(s) {columns}: drop or impute them first."
        )
    try:
        check_array(make_preprocessor(X).fit_transform(X), input_name="X")
    except ValueError as exc:
        raise ValueError(
            f"The features cannot be used as they are ({exc}). Drop or replace the missing or "
            f"infinite values first."
        ) from exc
    return X, y


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if isinstance(X, pd.DataFrame) else X[index]


def _fit_fold(estimator: Any, X: Any, y: np.ndarray, train, test, coverage, rng) -> dict:
    """Fit on the train rows, score on the test rows; also return the out-of-fold predictions."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(_rows(X, train), y[train])
        fit_time = time.perf_counter() - start
    for w in caught:  # the convergence warnings become a note; others pass through
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    y_test = y[test]
    dist = predictive_distribution(estimator, _rows(X, test))
    mean = dist.mean()
    low, high = dist.interval(coverage)
    return {
        "scores": {
            "log_likelihood": -log_score(y_test, dist),
            "crps": crps(y_test, dist),
            "rmse": root_mean_squared_error(y_test, mean),
            "mae": mean_absolute_error(y_test, mean),
            "coverage": interval_coverage(y_test, dist, coverage=coverage),
            "fit_time": fit_time,
        },
        "predictions": pd.DataFrame(
            {
                "row": test,
                "y_true": y_test,
                "mean": mean,
                "lower": low,
                "upper": high,
                "pit": pit(y_test, dist, random_state=rng),
            }
        ),
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
    }


def compare_losses(
    X: Any,
    y: Any,
    *,
    losses: Sequence[str] | None = None,
    model: str = "linear",
    cv: int | Any = 5,
    coverage: float = 0.9,
    random_state: int | None = 0,
    estimator_params: dict | None = None,
    progress: bool = False,
    return_predictions: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    r"""Cross-validate one estimator per loss and rank the losses by held-out likelihood.

    Each loss is fitted in ``Pipeline([("preprocess", make_preprocessor(X)), ("model",
    estimator)])`` on the training folds and scored on the held-out fold with its predictive
    distribution (:meth:`~sklik.LinearRegressor.predict_dist`). A loss whose likelihood cannot
    describe ``y`` is skipped with a note and the others still run: ``poisson_nll`` for
    negative or non-integer targets. A loss whose fit fails gets a note too.

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (n_samples, n_features)
        The features. A DataFrame's non-numeric columns are one-hot encoded.
    y : array-like of shape (n_samples,)
        A numeric target.
    losses : sequence of str, default=None
        Names from :data:`sklik.losses.LOSSES`; None compares all six.
    model : {"linear", "mlp"}, default="linear"
        :class:`~sklik.LinearRegressor` or :class:`~sklik.MLPRegressor`.
    cv : int or cross-validation splitter, default=5
        An int is the number of folds of a shuffled ``KFold`` seeded with ``random_state``.
    coverage : float, default=0.9
        Nominal level of the central predictive intervals whose coverage is reported.
    random_state : int or None, default=0
        Seeds the folds, the MLP's initial weights and the randomised PIT of count models.
    estimator_params : dict, default=None
        Further parameters of every estimator, e.g. ``{"alpha": 1.0}`` or
        ``{"hidden_layer_sizes": (20,)}``.
    progress : bool, default=False
        Show a progress bar (tqdm) on stderr.
    return_predictions : bool, default=False
        Also return the out-of-fold predictions.

    Returns
    -------
    results : pandas.DataFrame
        One row per loss, indexed by loss name and sorted from the highest held-out
        log-likelihood per sample down (skipped or failed losses last). Columns
        ``<metric>_mean`` and ``<metric>_std`` (over folds) for ``log_likelihood`` (higher is
        better), ``crps``, ``rmse``, ``mae`` (lower is better), ``coverage`` (the fraction of
        held-out targets inside the central ``coverage`` interval; close to ``coverage`` is
        calibrated) and ``fit_time`` (seconds), then ``rank`` (1 is the winner; missing for a
        skipped or failed loss) and ``note``.
        ``results.attrs`` holds ``model``, ``n_samples``, ``n_features``, ``n_splits`` and
        ``coverage``.
    predictions : pandas.DataFrame
        Only with ``return_predictions=True``: for every loss and row of ``X``, the held-out
        ``mean`` prediction, the interval ``lower`` and ``upper`` bounds, and the ``pit`` value,
        with columns ``loss``, ``fold``, ``row`` and ``y_true``.

    Raises
    ------
    ValueError
        For an unknown loss or model, a non-numeric or non-finite target, features with missing
        values, or fewer than two rows per fold.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklik.compare import compare_losses
    >>> X, y = load_diabetes(return_X_y=True)
    >>> results = compare_losses(X, y, losses=["mse", "l1", "gaussian_nll"], cv=3)
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
    if isinstance(cv, int | np.integer):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds; got {cv}.")
        cv = KFold(int(cv), shuffle=True, random_state=random_state)
    cv = check_cv(cv)
    X, y = _check_data(X, y, cv.get_n_splits(X, y))
    folds = list(cv.split(X, y))
    rng = check_random_state(random_state)
    params = dict(estimator_params or {})
    if model == "mlp":
        params.setdefault("random_state", random_state)

    def make_estimator(name: str) -> Pipeline:
        estimator = MODELS[model](get_loss(name), **params)
        return Pipeline([("preprocess", make_preprocessor(X)), ("model", estimator)])

    rows, predictions = {}, []
    with tqdm(total=len(names) * len(folds), desc="sklik compare", disable=not progress) as bar:
        for name in names:
            bar.set_postfix_str(name)
            note, fits = _cross_validate(make_estimator, name, X, y, folds, coverage, rng, bar)
            scores = pd.DataFrame([fit["scores"] for _, fit in fits], columns=list(METRICS))
            rows[name] = {
                **{f"{m}_mean": scores[m].mean() for m in METRICS},
                **{f"{m}_std": scores[m].std(ddof=0) for m in METRICS},
                "note": note,
            }
            predictions += [fit["predictions"].assign(loss=name, fold=k) for k, fit in fits]

    results = pd.DataFrame.from_dict(rows, orient="index")
    results = results[[f"{m}_{s}" for m in METRICS for s in ("mean", "std")] + ["note"]]
    results = results.sort_values("log_likelihood_mean", ascending=False, na_position="last")
    fitted = results["log_likelihood_mean"].notna()
    rank = pd.Series(np.cumsum(fitted), index=results.index, dtype="Int64").where(fitted)
    results.insert(len(results.columns) - 1, "rank", rank)
    results.index.name = "loss"
    results.attrs.update(
        model=model,
        n_samples=len(y),
        n_features=X.shape[1],
        n_splits=len(folds),
        coverage=coverage,
    )
    if not return_predictions:
        return results
    columns = ["loss", "fold", "row", "y_true", "mean", "lower", "upper", "pit"]
    predictions = pd.concat(predictions, ignore_index=True) if predictions else None
    return results, pd.DataFrame(predictions, columns=columns)


def _cross_validate(make_estimator, name, X, y, folds, coverage, rng, bar) -> tuple[str, list]:
    """Fit ``name`` on every fold: a note (why it was skipped, failed or warned) and the fits.

    The fits are ``(fold index, _fit_fold result)`` pairs, none if the loss was skipped or failed.
    """
    note = _domain_note(name, y)
    fits = []
    for k, (train, test) in enumerate(folds):
        if note:
            break
        try:
            fit = _fit_fold(make_estimator(name), X, y, train, test, coverage, rng)
        except (ValueError, np.linalg.LinAlgError) as exc:
            note = f"fit failed in fold {k + 1}: {exc}"
            break
        fits.append((k, fit))
        bar.update()
    if note:
        bar.update(len(folds) - len(fits))
        return note, []
    n_unconverged = sum(not fit["converged"] for _, fit in fits)
    if n_unconverged:
        note = (
            f"did not converge in {n_unconverged} of {len(folds)} folds (ConvergenceWarning): "
            f"raise max_iter"
        )
    return note, fits


def _domain_note(name: str, y: np.ndarray) -> str:
    """A note saying why ``name``'s likelihood cannot describe ``y``, or an empty string."""
    loss = get_loss(name)
    try:
        loss.check_y(y)
    except ValueError as exc:
        return f"skipped: {exc}"
    discrete = hasattr(loss.predictive_distribution(np.zeros((loss.n_params, 1)), 1.0), "pmf")
    if discrete and not np.all(y == np.round(y)):
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
