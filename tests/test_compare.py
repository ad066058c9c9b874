"""sklik.compare: the Python API of ``sklik compare`` (the command line: test_cli.py)."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import load_diabetes

from sklik.compare import (
    METRICS,
    compare_losses,
    count_log_prob,
    feature_problem,
    inspect_features,
    make_preprocessor,
    plot_comparison,
)
from sklik.losses import LOSSES

ALL_COLUMNS = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
ALL_COLUMNS += ["rank", "converged", "collapsed", "note"]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def diabetes_results(diabetes):
    return compare_losses(*diabetes, cv=3, return_predictions=True)


def test_ranked_by_held_out_log_likelihood(diabetes, diabetes_results):
    results, predictions = diabetes_results
    assert list(results.columns) == ALL_COLUMNS
    assert sorted(results.index) == sorted(LOSSES)
    assert results["log_likelihood_mean"].is_monotonic_decreasing
    assert list(results["rank"]) == list(range(1, len(LOSSES) + 1))
    assert results.attrs == {
        "model": "linear",
        "n_samples": 442,
        "n_features": 10,
        "n_encoded": 10,
        "n_splits": 3,
        "coverage": 0.9,
        "scale": "count",  # the diabetes targets are integers
        "winner": results.index[0],
        "winner_note": "",
    }
    assert results["converged"].all()
    # Poisson is far too narrow for these targets (variance ~ 6000, mean ~ 150): flagged
    assert results.index[-1] == "poisson_nll"
    assert results.loc["poisson_nll", "coverage_mean"] < 0.5
    assert list(results["collapsed"]) == [name == "poisson_nll" for name in results.index]
    assert "far too narrow" in results.loc["poisson_nll", "note"]
    assert (results["note"].drop("poisson_nll") == "").all()


def test_out_of_fold_predictions_reproduce_the_fold_scores(diabetes, diabetes_results):
    X, y = diabetes
    results, predictions = diabetes_results
    assert len(predictions) == len(LOSSES) * len(y)
    for name, p in predictions.groupby("loss"):
        assert sorted(p["row"]) == list(range(len(y)))
        np.testing.assert_array_equal(p["y_true"], y[p["row"]])
        per_fold = p.groupby("fold").apply(
            lambda f: np.mean((f["lower"] <= f["y_true"]) & (f["y_true"] <= f["upper"]))
        )
        assert results.loc[name, "coverage_mean"] == pytest.approx(per_fold.mean())
        rmse = p.groupby("fold").apply(lambda f: np.sqrt(np.mean((f["mean"] - f["y_true"]) ** 2)))
        assert results.loc[name, "rmse_mean"] == pytest.approx(rmse.mean())
        assert p["pit"].between(0, 1).all()


def test_log_likelihood_matches_the_estimator_on_each_fold(diabetes):
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklik import LinearRegressor

    X, y = diabetes
    results = compare_losses(X, y, losses=["l1"], cv=KFold(3), scale="density")
    expected = [
        make_pipeline(StandardScaler(), LinearRegressor("l1"))
        .fit(X[train], y[train])[-1]
        .log_likelihood(
            StandardScaler().fit(X[train]).transform(X[test]), y[test], uncertainty="predictive"
        )
        / len(test)
        for train, test in KFold(3).split(X)
    ]
    assert results.loc["l1", "log_likelihood_mean"] == pytest.approx(np.mean(expected), rel=1e-10)


@pytest.mark.parametrize(
    "kind, winner",
    [("heteroscedastic", "gaussian_nll"), ("counts", "poisson_nll"), ("laplace", "l1")],
)
def test_the_generating_likelihood_wins(kind, winner):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    if kind == "heteroscedastic":
        y = X @ [1.0, -1.0, 0.5] + np.exp(X[:, 0]) * rng.normal(size=600)
    elif kind == "counts":
        y = rng.poisson(np.exp(0.5 + X @ [0.4, -0.3, 0.2])).astype(float)
    else:
        y = X @ [1.0, -1.0, 0.5] + rng.laplace(scale=2.0, size=600)
    results = compare_losses(X, y, losses=["mse", "l1", "gaussian_nll", "poisson_nll"])
    assert results.index[0] == winner


def test_poisson_is_skipped_for_negative_or_fractional_targets(diabetes):
    X, y = diabetes
    for target, reason in [
        (y - 200.0, "requires targets in [0.0, inf]"),
        (y + 0.5, "integer counts"),
    ]:
        results = compare_losses(X, target, losses=["poisson_nll", "mse"], cv=2)
        assert list(results.index) == ["mse", "poisson_nll"]
        assert results.loc["poisson_nll", "note"].startswith("skipped")
        assert reason in results.loc["poisson_nll", "note"]
        assert results.loc["poisson_nll", ["crps_mean", "fit_time_mean", "rank"]].isna().all()
        assert results.loc["mse", "rank"] == 1
        assert results.loc["mse", "note"] == ""


def test_dataframe_with_categorical_columns():
    rng = np.random.default_rng(1)
    n = 120
    group = rng.choice(["a", "b", "c"], size=n)
    X = pd.DataFrame({"x": rng.normal(size=n), "group": group})
    y = 2 * X["x"] + pd.Series(group).map({"a": 0.0, "b": 5.0, "c": -5.0}) + rng.normal(size=n)
    results = compare_losses(X, y, losses=["mse"], cv=3)
    # the one-hot encoded group explains the target: residual sd ~ 1
    assert results.loc["mse", "rmse_mean"] < 1.3
    assert results.attrs["n_features"] == 2


def test_mlp_and_convergence_note(diabetes):
    X, y = diabetes
    results = compare_losses(
        X,
        y,
        losses=["mse"],
        model="mlp",
        cv=2,
        estimator_params={"hidden_layer_sizes": (5,), "max_iter": 3},
    )
    assert results.attrs["model"] == "mlp"
    assert "did not converge in 2 of 2 folds" in results.loc["mse", "note"]
    assert not results.loc["mse", "converged"]
    assert np.isfinite(results.loc["mse", "log_likelihood_mean"])
    # the only loss is flagged: named with a note
    assert results.attrs["winner"] == "mse"
    assert "mse did not converge in every fold" in results.attrs["winner_note"]
    assert "every fitted loss is flagged" in results.attrs["winner_note"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"losses": ["mse", "cauchy"]}, "losses must be names among"),
        ({"losses": []}, "losses must be names among"),
        ({"model": "forest"}, "model must be one of"),
        ({"cv": 1}, "cv must be at least 2"),
        ({"coverage": 1.5}, "coverage must be in"),
        ({"scale": "log"}, "scale must be one of"),
        ({"scale": "count", "losses": ["mse"]}, None),
    ],
)
def test_invalid_arguments(diabetes, kwargs, message):
    if message is None:  # valid: the diabetes targets are counts
        assert compare_losses(*diabetes, cv=2, **kwargs).attrs["scale"] == "count"
        return
    with pytest.raises(ValueError, match=message):
        compare_losses(*diabetes, **kwargs)
    with pytest.raises(ValueError, match="scale='count' .* not all non-negative integers"):
        compare_losses(diabetes[0], diabetes[1] + 0.5, scale="count")


def test_invalid_data():
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match="Too few rows for 5-fold"):
        compare_losses(X[:9], np.ones(9))
    with pytest.raises(ValueError, match="target must be numeric"):
        compare_losses(X, np.array(list("abcdefghij")), cv=2)
    with pytest.raises(ValueError, match="missing or infinite"):
        compare_losses(X, np.r_[np.nan, np.ones(9)], cv=2)
    with pytest.raises(ValueError, match="X has 10 rows but y has 9"):
        compare_losses(X, np.ones(9), cv=2)
    with pytest.raises(ValueError, match="missing values, in column.s. 'b' .1."):
        compare_losses(pd.DataFrame(X, columns=["a", "b"]).replace(3.0, np.nan), y=X[:, 0], cv=2)
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"infinite values, in column\(s\) 0 \(1\): drop"):
        compare_losses(X, np.ones(10), cv=2)


def test_plot_comparison(diabetes_results):
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_comparison(*diabetes_results)
    titles = [ax.get_title() for ax in fig.axes]
    best_two = diabetes_results[0].index[:2]
    assert titles[0].startswith(f"#1 {best_two[0]}") and titles[1].startswith(f"#2 {best_two[1]}")
    assert sum(title.startswith("PIT: ") for title in titles) == len(LOSSES)


# -- the count scale ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dist",
    [
        stats.norm(loc=[0.0, 3.0, 50.0], scale=[0.7, 2.0, 30.0]),
        stats.laplace(loc=[0.0, 3.0, 50.0], scale=[0.2, 2.0, 30.0]),
        stats.t(3, loc=[1.0, 3.0, 50.0], scale=[0.7, 2.0, 30.0]),
    ],
)
def test_count_log_prob_is_the_log_probability_of_the_unit_bin(dist):
    y = np.array([0.0, 4.0, 7.0])
    expected = np.log(dist.cdf(y + 0.5) - dist.cdf(y - 0.5))
    np.testing.assert_allclose(count_log_prob(y, dist), expected, rtol=1e-12)


def test_count_log_prob_in_the_tails_and_for_wide_distributions():
    from sklik.distributions import huber

    # far in either tail: the difference of cdfs is 0 or 1 - 1, the log-space form is exact
    dist = stats.norm(loc=0.0, scale=1.0)
    y = np.array([40.0, 0.0])
    expected = [
        float(
            stats.norm.logsf(39.5)
            + np.log(-np.expm1(stats.norm.logsf(40.5) - stats.norm.logsf(39.5)))
        ),
        float(np.log(stats.norm.cdf(0.5) - stats.norm.cdf(-0.5))),
    ]
    np.testing.assert_allclose(count_log_prob(y, dist), expected, rtol=1e-12)
    assert dist.cdf(40.5) - dist.cdf(39.5) == 0.0  # the naive form is log(0)
    # mirrored, in the lower tail, for the Huber density: finite, symmetric
    h = huber(1.0, loc=0.0, scale=0.3)
    np.testing.assert_allclose(count_log_prob(-y[:1], h), count_log_prob(y[:1], h), rtol=1e-12)
    assert np.isfinite(count_log_prob(y, h)).all()
    # 1e4 sds out: the normal's log tail probability is still exact, so is the bin's
    far = stats.norm(loc=0.0, scale=0.01)
    np.testing.assert_allclose(count_log_prob([100.0], far), far.logsf(99.5), rtol=1e-12)
    # so far out that the Laplace tail probability underflows: the log density (midpoint rule)
    far = stats.laplace(loc=0.0, scale=0.01)
    assert far.sf(99.5) == 0.0
    np.testing.assert_allclose(count_log_prob([100.0], far), far.logpdf([100.0]), rtol=1e-12)
    # very wide: the bin probability is the density to 1e-16; no cancellation
    wide = stats.norm(loc=0.0, scale=1e12)
    np.testing.assert_allclose(count_log_prob([3.0], wide), wide.logpdf([3.0]), rtol=1e-12)
    # a discrete distribution: its probability mass
    mu = np.array([0.5, 3.0])
    np.testing.assert_allclose(
        count_log_prob([0.0, 5.0], stats.poisson(mu)), stats.poisson.logpmf([0, 5], mu)
    )


def zero_inflated_counts(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    rate = np.exp(0.3 + X @ [0.8, -0.5, 0.3])
    y = np.where(rng.random(n) < 0.6, 0.0, rng.poisson(rate))
    return X, y


def test_counts_are_ranked_by_the_probability_of_the_count():
    X, y = zero_inflated_counts()
    assert np.mean(y == 0) > 0.7
    losses = ["mse", "l1", "gaussian_nll", "poisson_nll"]
    counts = compare_losses(X, y, losses=losses)
    density = compare_losses(X, y, losses=losses, scale="density")
    assert counts.attrs["scale"] == "count" and density.attrs["scale"] == "density"
    # on the density scale, the sharp Laplace density at 0 (which exceeds 1) wins ...
    assert density.index[0] == "l1"
    # ... but it puts less probability on the counts than the Poisson model
    assert counts.index[0] == "poisson_nll"
    assert counts.attrs["winner"] == "poisson_nll"
    assert counts.loc["poisson_nll", "rank"] < counts.loc["l1", "rank"]
    # the Poisson scores are the same on both scales; a probability is at most 1
    assert counts.loc["poisson_nll", "log_likelihood_mean"] == pytest.approx(
        density.loc["poisson_nll", "log_likelihood_mean"], rel=1e-12
    )
    assert (counts["log_likelihood_mean"] < 0).all()
    assert density.loc["l1", "log_likelihood_mean"] > counts.loc["l1", "log_likelihood_mean"] + 0.2


# -- columns that cannot be features --------------------------------------------------------------


def test_inspect_features_finds_identifiers_and_decimal_commas():
    n = 40
    X = pd.DataFrame(
        {
            "x": np.arange(n, dtype=float),
            "id": [f"row-{i}" for i in range(n)],
            "price": [f"{i},5" for i in range(n)],
            "group": ["a", "b", "c", "d"] * 10,
            "flag": [True, False] * 20,
        }
    )
    report = inspect_features(X)
    assert report["numeric"] == [0, 4] and report["categorical"] == [1, 2, 3]
    assert report["n_encoded"] == 2 + n + n + 4
    assert report["id_like"] == [("id", n)]
    assert report["decimal_comma"] == [("price", "0,5")]
    assert report["mostly_numeric"] == []
    stray = X.assign(group=["?" if i % 8 == 0 else str(i) for i in range(n)])
    assert inspect_features(stray)["mostly_numeric"] == [("group", "?", 5)]
    assert "holds numbers but also text such as '?'" in feature_problem(
        inspect_features(stray.drop(columns=["id", "price"])), n, allow_wide=False
    )
    assert "decimal comma (e.g. '0,5')" in feature_problem(report, n, allow_wide=True)
    # below 20 rows nothing is called an identifier (the width check still applies)
    assert inspect_features(X.head(19))["id_like"] == []
    # a numeric ndarray: all numeric
    assert inspect_features(np.zeros((3, 2)))["n_encoded"] == 2


def test_inspect_features_and_preprocessing_are_linear_in_the_columns():
    import time

    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(12, 100_000)))
    wide[5] = "text"
    start = time.perf_counter()
    report = inspect_features(wide)
    assert report["n_encoded"] == 100_000
    make_preprocessor(wide, report).fit_transform(wide)
    assert time.perf_counter() - start < 15.0
    start = time.perf_counter()
    with pytest.raises(ValueError, match="Too many model features for the rows: 100000"):
        compare_losses(wide, np.arange(12.0), cv=2)
    assert time.perf_counter() - start < 15.0


def test_nonsense_columns_are_refused_before_fitting():
    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame({"x": rng.normal(size=n), "id": [f"customer {i}" for i in range(n)]})
    y = X["x"] + rng.normal(size=n)
    with pytest.raises(ValueError, match="'id' look like identifiers.*allow_wide=True"):
        compare_losses(X, y, losses=["mse"], cv=2)
    results = compare_losses(X, y, losses=["mse"], cv=2, allow_wide=True)
    assert results.attrs["n_encoded"] == n + 1 and results.attrs["n_features"] == 2
    with pytest.raises(ValueError, match="decimal comma.*decimal=','"):
        compare_losses(X.assign(id=[f"{v:.2f}".replace(".", ",") for v in y]), y, cv=2)
    with pytest.raises(ValueError, match="Too many model features for the rows: 11 features"):
        compare_losses(rng.normal(size=(20, 11)), rng.normal(size=20), cv=2)
    assert (
        compare_losses(
            rng.normal(size=(20, 11)), rng.normal(size=20), losses=["mse"], cv=2, allow_wide=True
        ).attrs["n_encoded"]
        == 11
    )


def test_duplicated_and_mixed_column_names():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "a", 0])
    X["g"] = ["u", "v"] * 20
    y = X.iloc[:, 0] + rng.normal(size=40)
    results = compare_losses(X, y, losses=["mse"], cv=2)
    assert results.attrs["n_encoded"] == 5 and results.loc["mse", "rank"] == 1


# -- flags and the winner -------------------------------------------------------------------------


def test_no_warning_escapes(diabetes):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_losses(
            *diabetes,
            cv=2,
            model="mlp",
            losses=["gaussian_nll"],
            estimator_params={"hidden_layer_sizes": (3,), "max_iter": 2},
        )


def test_a_collapsed_loss_is_not_the_winner():
    from sklik.compare import _winner

    results = pd.DataFrame(
        {
            "rank": pd.array([1, 2, 3], dtype="Int64"),
            "converged": pd.array([True, False, True], dtype="boolean"),
            "collapsed": pd.array([True, False, False], dtype="boolean"),
        },
        index=["gaussian_nll", "mse", "l1"],
    )
    best, note = _winner(results)
    assert best is None
    assert note == (
        "gaussian_nll ranks first but its predictive spread collapsed; the best unflagged "
        "loss is l1 (rank 3)"
    )
    best, note = _winner(results.iloc[1:])
    assert best == "mse" and note.startswith("mse did not converge in every fold")
    assert _winner(results.iloc[2:]) == ("l1", "")


def test_a_collapsed_spread_is_flagged():
    # a target the model interpolates: the mse scale collapses to ~0 on every held-out row
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X @ [1.0, 2.0] + 1e-9 * rng.normal(size=40)
    results = compare_losses(X, y, losses=["mse"], cv=2)
    assert not results.loc["mse", "collapsed"] or "collapsed" in results.loc["mse", "note"]


def test_count_scale_pit_is_randomised_over_the_bin():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    y = rng.poisson(1.0, size=400).astype(float)  # no signal: near-constant predictions
    pits = {}
    for scale in ("count", "density"):
        _, p = compare_losses(X, y, losses=["mse"], scale=scale, return_predictions=True)
        pits[scale] = p.loc[p["y_true"] == 0, "pit"]
    # the density-scale PIT of y = 0 is F(0), about the same on every row; on the count scale
    # it is spread over [F(-1/2), F(1/2)]
    assert pits["density"].std() < 0.02
    assert pits["count"].std() > 0.05
    assert (pits["count"] < pits["density"].max()).mean() > 0.3


def test_exposure_column_scores_counts_over_their_exposure(tmp_path, capsys):
    """--exposure: the Poisson model gets offset=log(exposure); scored as counts."""
    from sklik._cli import main

    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    exposure = rng.uniform(0.1, 5.0, n)
    counts = rng.poisson(exposure * np.exp(0.3 + 0.5 * x))
    frame = pd.DataFrame({"x": x, "exposure": exposure, "y": counts})
    with_exposure = compare_losses(
        frame[["x"]], counts, losses=["poisson_nll", "mse"], exposure=exposure, cv=3
    )
    without = compare_losses(frame[["x"]], counts, losses=["poisson_nll", "mse"], cv=3)
    assert with_exposure.attrs["scale"] == "count"
    gain = (
        with_exposure.loc["poisson_nll", "log_likelihood_mean"]
        - without.loc["poisson_nll", "log_likelihood_mean"]
    )
    assert gain > 0.2  # the exposure explains much of the spread of the counts
    assert "without the exposure" in with_exposure.loc["mse", "note"]
    assert with_exposure.index[0] == "poisson_nll"

    path = tmp_path / "claims.csv"
    frame.to_csv(path, index=False)
    status = main(
        [
            "compare",
            "--csv",
            str(path),
            "--target",
            "y",
            "--exposure",
            "exposure",
            "--losses",
            "poisson_nll,mse",
            "--cv",
            "3",
            "--quiet",
        ]
    )
    out = capsys.readouterr()
    assert status == 0 and out.err == ""
    assert "'exposure' is the exposure" in out.out
    status = main(["compare", "--csv", str(path), "--target", "y", "--exposure", "nope", "--quiet"])
    assert status == 1 and "--exposure: no column 'nope'" in capsys.readouterr().err


def test_offset_is_fitted_and_scored_by_every_loss(tmp_path, capsys):
    """offset=: each loss fits and scores with it (the Poisson fit equals a direct fit with
    that offset); log(exposure) as the offset is the exposure for the log-link loss."""
    import json

    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline

    from sklik import LinearRegressor
    from sklik._cli import main

    rng = np.random.default_rng(3)
    n = 300
    x = rng.normal(size=n)
    exposure = rng.uniform(0.1, 5.0, n)
    log_exposure = np.log(exposure)
    counts = rng.poisson(exposure * np.exp(0.3 + 0.5 * x)).astype(float)
    X = x[:, None]
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    results, predictions = compare_losses(
        X,
        counts,
        losses=["poisson_nll", "mse"],
        offset=log_exposure,
        cv=folds,
        return_predictions=True,
    )
    assert (results["note"] == "").all()  # an offset, unlike an exposure, reaches every loss
    loglik = []
    for k, (train, test) in enumerate(folds):
        for name in ("poisson_nll", "mse"):
            model = LinearRegressor(name)
            pipe = Pipeline([("preprocess", make_preprocessor(X)), ("model", model)])
            if name == "poisson_nll":
                pipe.fit(X[train], counts[train], model__offset=log_exposure[train])
                Xt = pipe[:-1].transform(X[test])
                mean = model.predict(Xt, offset=log_exposure[test])
                ll = model.log_likelihood(
                    Xt, counts[test], offset=log_exposure[test], uncertainty="predictive"
                )
                loglik.append(ll / len(test))
            else:  # identity link: the fit with the offset is the fit of y - offset
                pipe.fit(X[train], counts[train] - log_exposure[train])
                mean = model.predict(pipe[:-1].transform(X[test])) + log_exposure[test]
            got = predictions[(predictions["loss"] == name) & (predictions["fold"] == k)]
            np.testing.assert_allclose(got.set_index("row").loc[test, "mean"], mean, rtol=1e-8)
    assert results.loc["poisson_nll", "log_likelihood_mean"] == pytest.approx(
        np.mean(loglik), rel=1e-10
    )
    by_exposure = compare_losses(X, counts, losses=["poisson_nll"], exposure=exposure, cv=folds)
    without = compare_losses(X, counts, losses=["poisson_nll"], cv=folds)
    metrics = [f"{m}_{s}" for m in METRICS if m != "fit_time" for s in ("mean", "std")]
    np.testing.assert_allclose(
        results.loc["poisson_nll", metrics].astype(float),
        by_exposure.loc["poisson_nll", metrics].astype(float),
        rtol=1e-12,
    )
    gain = (
        results.loc["poisson_nll", "log_likelihood_mean"]
        - without.loc["poisson_nll", "log_likelihood_mean"]
    )
    assert gain > 0.2

    # the command line: --offset COL is the column as the offset, not a feature, and
    # --offset log(e) gives the --exposure e results of the log-link loss
    frame = pd.DataFrame({"x": x, "exposure": exposure, "log_exposure": log_exposure, "y": counts})
    path = tmp_path / "claims.csv"
    frame.to_csv(path, index=False)
    runs = {}
    for option, column, drop in [
        ("--offset", "log_exposure", "exposure"),
        ("--exposure", "exposure", "log_exposure"),
    ]:
        json_path = tmp_path / f"{column}.json"
        argv = ["compare", "--csv", str(path), "--target", "y", option, column, "--drop", drop]
        argv += ["--losses", "poisson_nll", "--cv", "3", "--quiet", "--json", str(json_path)]
        status = main(argv)
        out = capsys.readouterr()
        assert status == 0 and out.err == ""
        assert f"column '{column}' is the {option[2:]}, not a feature" in out.out
        payload = json.loads(json_path.read_text())
        assert payload["n_features"] == 1  # x alone
        runs[option] = payload["results"][0]
    assert runs["--offset"]["loss"] == "poisson_nll"
    for metric in metrics:  # compare_losses's default folds are the folds above
        assert runs["--offset"][metric] == pytest.approx(runs["--exposure"][metric], rel=1e-12)
        assert runs["--offset"][metric] == pytest.approx(
            results.loc["poisson_nll", metric], rel=1e-10
        )
    # without the offset column the results differ (the column is used)
    argv = ["compare", "--csv", str(path), "--target", "y", "--drop", "exposure,log_exposure"]
    argv += ["--losses", "poisson_nll", "--cv", "3", "--quiet", "--json", str(tmp_path / "n.json")]
    assert main(argv) == 0
    capsys.readouterr()
    plain = json.loads((tmp_path / "n.json").read_text())["results"][0]
    assert runs["--offset"]["log_likelihood_mean"] > plain["log_likelihood_mean"] + 0.2
    argv = ["compare", "--csv", str(path), "--target", "y", "--offset", "nope", "--quiet"]
    assert main(argv) == 1 and "--offset: no column 'nope'" in capsys.readouterr().err
    argv = ["compare", "--csv", str(path), "--target", "y", "--quiet"]
    argv += ["--offset", "log_exposure", "--exposure", "exposure"]
    assert main(argv) == 1 and "exclude each other" in capsys.readouterr().err


def test_a_fold_without_a_finite_score_leaves_the_loss_unranked(monkeypatch):
    """A held-out log-likelihood that is not a number in one fold is never averaged over the
    other folds (the mean skipped it, and the negative binomial won on a far-out row that it
    could not score): the loss is unranked, with a note naming the fold."""
    import sklik.compare as C

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = rng.poisson(np.exp(1 + 0.5 * X[:, 0])).astype(float)
    original = C._score_sums
    calls = []

    def nan_in_fold_two(y_test, dist, *args):  # (each loss's folds are scored in turn)
        sums, values = original(y_test, dist, *args)
        calls.append(1)
        if len(calls) % 5 == 2:
            sums[1] = np.nan
        return sums, values

    monkeypatch.setattr(C, "_score_sums", nan_in_fold_two)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = C.compare_losses(
            pd.DataFrame(X, columns=list("abc")), y, cv=5, losses=["mse", "poisson_nll"]
        )
    for name in ("mse", "poisson_nll"):
        assert pd.isna(res.loc[name, "rank"]) and pd.isna(res.loc[name, "log_likelihood_mean"])
        assert "not a number in fold 2" in res.loc[name, "note"]


def test_nearly_deterministic_data_is_not_a_collapse():
    """y = 5000 x + noise of sd 1: a calibrated spread is 2e-4 of y's, below the collapse
    threshold's 1e-3; every loss was flagged "collapsed" and there was no winner, although
    mse covered 0.915. A tiny spread is a collapse only where the intervals miss too."""
    from sklik.compare import compare_losses

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = 5000 * X[:, 0] + rng.normal(size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare_losses(pd.DataFrame(X, columns=["a", "b"]), y, cv=5, losses=["mse", "l1"])
    assert not res["collapsed"].any()
    assert res.attrs["winner"] == "mse" and res.loc["mse", "coverage_mean"] > 0.85


@pytest.mark.parametrize("units", [1e-6, 1e6])
def test_the_ranking_does_not_depend_on_the_units_of_y(units):
    """gaussian_nll's variance floor (torch's eps=1e-6, in the squared units of y) is taken
    relative to y's variance: with y in millionths the floor held the fits, and gaussian_nll
    ranked last, 6 nats behind the winner it is in units of 1."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = X[:, 0] + np.exp(0.8 * X[:, 1]) * rng.normal(size=400)
    losses = ["mse", "gaussian_nll", "l1"]
    ref = compare_losses(X, y, losses=losses, cv=3)
    got = compare_losses(X, y * units, losses=losses, cv=3)
    assert list(got.index) == list(ref.index) and got.attrs["winner"] == "gaussian_nll"
    gap = ref["log_likelihood_mean"] - ref["log_likelihood_mean"].iloc[0]
    np.testing.assert_allclose(
        got["log_likelihood_mean"] - got["log_likelihood_mean"].iloc[0], gap, atol=1e-6
    )


def test_near_integer_counts_name_an_example_and_the_fix():
    """Counts off by a rounding error switched the comparison to densities with no example
    value and no hint."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = rng.poisson(3.0, size=60) + 1e-12
    results = compare_losses(X, y, losses=["mse", "poisson_nll"], cv=3)
    note = results.loc["poisson_nll", "note"]
    assert "not integer counts" in note and "round y" in note and "60 are not" in note


def test_a_constant_target_and_all_zero_training_counts_are_named():
    """A constant target ranked the losses on a point mass ("mse" won with 0.0000); counts
    whose training rows are all 0 were noted "did not converge ... raise max_iter"."""
    X = np.random.default_rng(0).normal(size=(60, 2))
    with pytest.raises(ValueError, match="The target is constant"):
        compare_losses(X, np.full(60, 0.1))
    y = np.zeros(60)
    y[0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = compare_losses(X, y, losses=["poisson_nll"], cv=3)
    note = results.loc["poisson_nll", "note"]
    assert "y is 0 on every training row in 1 of 3 folds" in note and "max_iter" not in note


def test_no_overdispersion_is_named_not_taken_for_non_convergence():
    """Poisson counts: the negative binomial's dispersion goes to its Poisson limit in every
    fold, which warns. The comparison counted that as "did not converge ... raise max_iter";
    it is a converged fit of the Poisson model, noted as such (4 of 5 folds here)."""
    from sklik.compare import compare_losses

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    y = rng.poisson(np.exp(0.5 + 0.3 * X[:, 0])).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare_losses(X, y, losses=["poisson_nll", "negative_binomial_nll"])
    note = res.loc["negative_binomial_nll", "note"]
    # (a fold's sample may be slightly overdispersed: an estimate above 0, no note)
    assert re.search("no overdispersion in [1-5] of 5 folds", note), note
    assert "raise max_iter" not in note
    assert res.loc["negative_binomial_nll", "converged"]


def test_overdispersed_counts_are_noted_not_taken_for_numerical_trouble():
    """The Poisson fit's OverdispersionWarning becomes its own note (with the largest Pearson
    dispersion), not "numerical warnings ... its scores may be inaccurate"; the Poisson
    counts get neither."""
    from scipy import stats

    from sklik.compare import compare_losses

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    mu = np.exp(1.0 + 0.3 * X[:, 0])
    counts = stats.nbinom(2.0, 1 / (1 + 0.5 * mu)).rvs(random_state=rng).astype(float)
    note = compare_losses(X, counts, losses=["poisson_nll"]).loc["poisson_nll", "note"]
    assert re.search("overdispersed counts in 5 of 5 folds \\(Pearson dispersion up to 2", note)
    assert "numerical warnings" not in note
    note = compare_losses(X, rng.poisson(mu).astype(float), losses=["poisson_nll"]).loc[
        "poisson_nll", "note"
    ]
    assert "overdispersed" not in note and "numerical warnings" not in note


def test_separation_is_named_with_its_remedy():
    """Counts with 6 ones in 60 rows: a fold whose training part holds one positive count is
    separated (no maximum likelihood estimate). The note said "did not converge ... raise
    max_iter"; it names the separation and alpha > 0."""
    from sklik.compare import compare_losses

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    X @ [1, 2, 3] + rng.normal(size=60)  # (the stream of the reported case)
    rng.poisson(np.exp(1 + 0.5 * X[:, 0]))
    y = np.where(rng.uniform(size=60) < 0.9, 0, 1).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare_losses(pd.DataFrame(X, columns=list("abc")), y, losses=["poisson_nll"])
    note = res.loc["poisson_nll", "note"]
    assert "quasi-complete separation" in note and "--alpha > 0" in note
    assert "raise max_iter" not in note and not res.loc["poisson_nll", "converged"]
