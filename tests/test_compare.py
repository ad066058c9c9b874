"""sklik.compare and the ``sklik compare`` command line."""

import json
import subprocess
import sys
from importlib.metadata import entry_points

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from sklik._cli import main
from sklik.compare import METRICS, compare_losses, plot_comparison
from sklik.losses import LOSSES

ALL_COLUMNS = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")] + ["rank", "note"]


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
    assert (results["note"] == "").all()
    assert results.attrs == {
        "model": "linear",
        "n_samples": 442,
        "n_features": 10,
        "n_splits": 3,
        "coverage": 0.9,
    }
    # Poisson is far too narrow for these targets (variance ~ 6000, mean ~ 150)
    assert results.index[-1] == "poisson_nll"
    assert results.loc["poisson_nll", "coverage_mean"] < 0.5


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
    results = compare_losses(X, y, losses=["l1"], cv=KFold(3))
    expected = [
        make_pipeline(StandardScaler(), LinearRegressor("l1"))
        .fit(X[train], y[train])[-1]
        .log_likelihood(StandardScaler().fit(X[train]).transform(X[test]), y[test])
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
    assert np.isfinite(results.loc["mse", "log_likelihood_mean"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"losses": ["mse", "cauchy"]}, "losses must be names among"),
        ({"losses": []}, "losses must be names among"),
        ({"model": "forest"}, "model must be one of"),
        ({"cv": 1}, "cv must be at least 2"),
        ({"coverage": 1.5}, "coverage must be in"),
    ],
)
def test_invalid_arguments(diabetes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_losses(*diabetes, **kwargs)


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
    with pytest.raises(
        ValueError, match="contains infinity.*Drop or replace the missing or infinite values"
    ):
        compare_losses(X, np.ones(10), cv=2)


def test_plot_comparison(diabetes_results):
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_comparison(*diabetes_results)
    titles = [ax.get_title() for ax in fig.axes]
    best_two = diabetes_results[0].index[:2]
    assert titles[0].startswith(f"#1 {best_two[0]}") and titles[1].startswith(f"#2 {best_two[1]}")
    assert sum(title.startswith("PIT: ") for title in titles) == len(LOSSES)


# -- the command line -----------------------------------------------------------------------------


def run(capsys, *args):
    status = main(["compare", "--cv", "2", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_default_dataset_json_and_plot(tmp_path, capsys):
    status, out, err = run(
        capsys, "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")
    )
    assert status == 0
    assert "diabetes" in out and "442 rows, 10 features, 2-fold CV" in out
    n_fits = 2 * len(LOSSES)
    assert "sklik compare: 100%" in err and f"{n_fits}/{n_fits}" in err  # the progress bar
    result = json.loads((tmp_path / "r.json").read_text())
    assert [r["loss"] for r in result["results"]][0] == result["winner"]
    assert f"Winner: {result['winner']} " in out
    assert {r["loss"] for r in result["results"]} == set(LOSSES)
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the table lists every loss once, in rank order
    table = out.split("\n\n")[1].splitlines()[2:]
    assert [line.split()[1] for line in table] == [r["loss"] for r in result["results"]]


def test_cli_csv_with_categorical_and_negative_targets(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "colour": rng.choice(["red", "blue"], size=60),
        }
    )
    frame["y"] = frame["x"] - 1.0 + rng.normal(size=60)
    frame.to_csv(tmp_path / "data.csv", index=False)
    status, out, err = run(capsys, "--csv", str(tmp_path / "data.csv"), "--target", "y", "--quiet")
    assert status == 0, err
    assert "data.csv (target: y), 60 rows, 2 features" in out
    assert "note: poisson_nll: skipped:" in out
    assert err == ""
    frame.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    status, out, err = run(
        capsys, "--csv", str(tmp_path / "semi.csv"), "--sep", ";", "--target", "y", "--quiet"
    )
    assert status == 0 and "semi.csv (target: y), 60 rows, 2 features" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--csv", "missing.csv", "--target", "y"], "no such file: missing.csv"),
        (["--csv", "{csv}", "--target", "nope"], "no column 'nope'"),
        (["--csv", "{csv}", "--target", "label"], "target column 'label' is not numeric"),
        (["--csv", "{csv}"], "--csv and --target go together"),
        (["--csv", "{small}", "--target", "y", "--cv", "5"], "Too few rows for 5-fold"),
        (["--hidden-layer-sizes", "5"], "applies to --model mlp only"),
        (["--csv", "{semi}", "--target", "y"], "is it separated by ';'? Use --sep ';'"),
        (["--csv", "{latin1}", "--target", "y"], "not UTF-8 text"),
        (["--csv", "{holes}", "--target", "y"], "missing values, in column(s) 'x' (1)"),
        (["--csv", "{empty}", "--target", "y"], "cannot read"),
    ],
)
def test_cli_errors_are_one_line_messages(tmp_path, capsys, args, message):
    frame = pd.DataFrame({"x": np.arange(8.0), "label": list("abababab"), "y": np.arange(8.0)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.head(6).to_csv(tmp_path / "small.csv", index=False)
    frame.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    frame.assign(x=frame["x"].where(frame["x"] != 3)).to_csv(tmp_path / "holes.csv", index=False)
    (tmp_path / "latin1.csv").write_bytes("y,x\n1,\xe9\n".encode("latin-1"))
    (tmp_path / "empty.csv").write_text("")
    files = {name: tmp_path / f"{name}.csv" for name in ["semi", "latin1", "holes", "empty"]}
    files.update(csv=tmp_path / "data.csv", small=tmp_path / "small.csv")
    args = [a.format(**files) for a in args]
    status, out, err = run(capsys, *args)
    assert status == 1
    assert err.startswith("sklik compare: error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--losses", "mse,cauchy"], "unknown loss 'cauchy'; choose from mse, l1,"),
        (["--model", "forest"], "invalid choice: 'forest'"),
        (["--hidden-layer-sizes", "5,x"], "expected layer sizes like 100 or 50,50"),
    ],
)
def test_cli_usage_errors_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_and_console_script():
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "sklik"]
    assert script.value == "sklik._cli:run"
    done = subprocess.run(
        [sys.executable, "-m", "sklik", "compare", "--quiet", "--cv", "2", "--losses", "mse,l1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Winner: " in done.stdout
