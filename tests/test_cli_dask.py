"""``sklik compare`` and ``compare_losses`` on dask input: partition folds, the same numbers.

The in-memory comparison on the same folds (explicit ``cv`` splits made of the partitions' rows)
is the reference: the dask path scores each held-out partition with the per-chunk sums the
in-memory path computes on the whole fold, so the metrics agree to the fits' tolerance.
"""

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("dask.array")

from sklik._cli import main  # noqa: E402
from sklik.compare import METRICS, compare_losses  # noqa: E402

FEATURES = ["a", "b"]
COMPARED = [f"{m}_{s}" for m in METRICS if m != "fit_time" for s in ("mean", "std")]


def claims(n=600, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n).round(4),
            "b": (10 * rng.normal(size=n) + 3).round(4),
            "e": rng.uniform(0.5, 2.0, n).round(3),
        }
    )
    frame["y"] = rng.poisson(frame["e"] * np.exp(0.3 * frame["a"] + 0.05 * frame["b"]))
    return frame.astype(float)


def partition_folds(lengths, k):
    """Fold j: the rows of the partitions i with i % k == j."""
    starts = np.cumsum([0, *lengths])
    rows = [np.arange(starts[i], starts[i + 1]) for i in range(len(lengths))]
    return [
        (
            np.concatenate([r for i, r in enumerate(rows) if i % k != j]),
            np.concatenate(rows[j::k]),
        )
        for j in range(k)
    ]


def assert_same_results(on_dask, in_memory):
    assert list(on_dask.index) == list(in_memory.index)
    pd.testing.assert_frame_equal(
        on_dask[COMPARED], in_memory[COMPARED], check_exact=False, rtol=1e-6, atol=1e-9
    )
    for column in ("rank", "converged", "collapsed"):
        assert on_dask[column].tolist() == in_memory[column].tolist()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three CSV files of 200 rows with one header, and the same rows as a parquet file."""
    path = tmp_path_factory.mktemp("claims")
    frame = claims()
    for i in range(3):
        frame.iloc[200 * i : 200 * (i + 1)].to_csv(path / f"claims-{i}.csv", index=False)
    frame.to_parquet(path / "claims.parquet")
    return path, frame


def test_partition_folds_give_the_in_memory_numbers():
    frame = claims()
    ddf = dd.from_pandas(frame, npartitions=7)
    lengths = ddf.map_partitions(len).compute().tolist()
    losses = ["mse", "poisson_nll", "gaussian_nll"]
    with dask.config.set(scheduler="sync"):
        on_dask = compare_losses(ddf[FEATURES], ddf["y"], exposure=ddf["e"], cv=3, losses=losses)
    in_memory = compare_losses(
        frame[FEATURES],
        frame["y"],
        exposure=frame["e"],
        cv=partition_folds(lengths, 3),
        losses=losses,
    )
    assert_same_results(on_dask, in_memory)
    assert on_dask.attrs["scale"] == in_memory.attrs["scale"] == "count"
    assert on_dask.attrs["winner"] == in_memory.attrs["winner"] == "poisson_nll"
    assert on_dask.attrs["n_partitions"] == 7 and on_dask.attrs["n_samples"] == 600
    # one pass to check the data, then every fit's passes and one scoring pass per fold
    assert on_dask.attrs["n_passes"] > 1 + 3 * len(losses)


def test_fewer_partitions_than_folds_are_split_evenly():
    frame = claims(n=300, seed=1)
    frame["y"] = frame["y"] + 0.5 * frame["a"]  # not counts: the density scale
    ddf = dd.from_pandas(frame, npartitions=2)
    with dask.config.set(scheduler="sync"):
        # (huber's predictive covariance needs residual quantiles, which a dask fit does
        # not compute: the plug-in distributions are compared)
        on_dask = compare_losses(
            ddf[FEATURES], ddf["y"], cv=3, losses=["mse", "huber"], uncertainty="noise"
        )
    lengths = [len(part) for part in np.array_split(np.arange(300), 3)]
    in_memory = compare_losses(
        frame[FEATURES],
        frame["y"],
        cv=partition_folds(lengths, 3),
        losses=["mse", "huber"],
        uncertainty="noise",
    )
    assert on_dask.attrs["n_partitions"] == 3 and on_dask.attrs["scale"] == "density"
    assert_same_results(on_dask, in_memory)


def test_empty_partitions_are_skipped():
    frame = claims(n=400, seed=3)
    frame["y"] = frame["y"] + 0.5 * frame["a"]
    ddf = dd.from_pandas(frame, npartitions=8)
    ddf = ddf.map_partitions(lambda part: part.iloc[:0] if 150 in part.index else part)
    with dask.config.set(scheduler="sync"):
        on_dask = compare_losses(ddf[FEATURES], ddf["y"], cv=3, losses=["mse"])
    kept = frame[~frame.index.isin(range(150, 200))].reset_index(drop=True)
    in_memory = compare_losses(
        kept[FEATURES],
        kept["y"],
        cv=partition_folds([50] * 7, 3),
        losses=["mse"],
    )
    assert on_dask.attrs["n_partitions"] == 7 and on_dask.attrs["n_samples"] == 350
    assert_same_results(on_dask, in_memory)


def test_mlp_and_losses_without_a_dask_fit():
    frame = claims(n=200, seed=2)
    ddf = dd.from_pandas(frame, npartitions=4)
    with dask.config.set(scheduler="sync"):
        results = compare_losses(
            ddf[FEATURES],
            ddf["y"],
            cv=2,
            model="mlp",
            losses=["mse", "l1"],
            estimator_params={"hidden_layer_sizes": (3,), "max_iter": 30},
        )
    assert np.isfinite(results.loc["mse", "log_likelihood_mean"])
    assert results.loc["mse", "converged"] == False  # noqa: E712 (30 iterations)
    # the exact l1 fit runs on dask too: both losses are ranked
    linear = compare_losses(ddf[FEATURES], ddf["y"], cv=2, losses=["mse", "l1"])
    assert np.isfinite(linear.loc["l1", "log_likelihood_mean"])
    assert not pd.isna(linear.loc["l1", "rank"]) and not pd.isna(linear.loc["mse", "rank"])


def test_bad_dask_input_is_refused_with_the_fix():
    frame = claims(n=100)
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(ValueError, match="return_predictions"):
        compare_losses(ddf[FEATURES], ddf["y"], return_predictions=True)
    with pytest.raises(ValueError, match="y must be one too"):
        compare_losses(ddf[FEATURES], frame["y"].to_numpy())
    with pytest.raises(ValueError, match="number of folds"):
        compare_losses(ddf[FEATURES], ddf["y"], cv=[([0], [1])])
    text = frame.assign(c="x")
    with pytest.raises(ValueError, match="numeric feature columns only; column.*'c'"):
        compare_losses(dd.from_pandas(text, npartitions=2)[["a", "c"]], ddf["y"])
    missing = frame.copy()
    missing.loc[90, "b"] = np.nan  # in the last partition
    mdf = dd.from_pandas(missing, npartitions=2)
    with dask.config.set(scheduler="sync"):
        with pytest.raises(ValueError, match=r"missing values, in column\(s\) 'b' \(1\)"):
            compare_losses(mdf[FEATURES], mdf["y"])
        with pytest.raises(ValueError, match="Exposures .*must be positive"):
            compare_losses(ddf[FEATURES], ddf["y"], exposure=ddf["a"])


def test_cli_dask_reads_a_glob_and_reports_passes(files, tmp_path, capsys):
    path, frame = files
    status = main(
        [
            "compare",
            "--csv",
            str(path / "claims-*.csv"),
            "--target",
            "y",
            "--exposure",
            "e",
            "--cv",
            "3",
            "--losses",
            "mse,poisson_nll",
            "--dask",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "claims-*.csv (3 files)" in out and "600 rows" in out
    assert "3-fold CV over 3 partitions" in out and "dask's local scheduler" in out
    assert "passes over the data in all" in out and "a library warned" not in out
    assert "passes over the data" in err and "Warning" not in err  # the progress bar
    result = json.loads((tmp_path / "r.json").read_text())
    reference = compare_losses(
        frame[FEATURES],
        frame["y"],
        exposure=frame["e"],
        cv=partition_folds([200, 200, 200], 3),
        losses=["mse", "poisson_nll"],
    )
    got = {r["loss"]: r["log_likelihood_mean"] for r in result["results"]}
    for loss in ("mse", "poisson_nll"):
        assert got[loss] == pytest.approx(reference.loc[loss, "log_likelihood_mean"], rel=1e-7)
    assert result["n_partitions"] == 3 and result["winner"] == "poisson_nll"


def test_cli_dask_reads_a_parquet_directory_of_small_files(files, tmp_path, capsys):
    """dask fuses small parquet files per column projection: a directory of 4 files gave X 4
    partitions and y 2, and every run failed ("must have the same partitions")."""
    _, frame = files
    directory = tmp_path / "claims_dir"
    directory.mkdir()
    for i in range(4):
        frame.iloc[150 * i : 150 * (i + 1)].to_parquet(directory / f"part-{i}.parquet")
    args = ["compare", "--parquet", str(directory), "--target", "y", "--exposure", "e"]
    args += ["--cv", "2", "--losses", "mse,poisson_nll", "--dask", "--quiet"]
    status = main([*args, "--json", str(tmp_path / "d.json")])
    _, err = capsys.readouterr()
    assert status == 0, err
    result = json.loads((tmp_path / "d.json").read_text())
    assert result["n_partitions"] == 4 and result["winner"] == "poisson_nll"
    reference = compare_losses(
        frame[FEATURES],
        frame["y"],
        exposure=frame["e"],
        cv=partition_folds([150] * 4, 2),
        losses=["mse", "poisson_nll"],
    )
    got = {r["loss"]: r["log_likelihood_mean"] for r in result["results"]}
    for loss in ("mse", "poisson_nll"):
        assert got[loss] == pytest.approx(reference.loc[loss, "log_likelihood_mean"], rel=1e-7)


def test_cli_dask_errors_are_one_line(files, tmp_path, capsys):
    path, frame = files
    cases = [
        (["--dask"], "--dask and --scheduler need data"),
        (
            ["--csv", str(path / "claims-0.csv"), "--target", "y", "--dask", "--plot", "p.png"],
            "--plot draws every held-out prediction",
        ),
        (["--csv", str(path / "none-*.csv"), "--target", "y", "--dask"], "no file matches"),
        (["--parquet", str(path / "claims.parquet"), "--target", "q", "--dask"], "no column"),
    ]
    text = tmp_path / "text.csv"
    frame.assign(c="x").to_csv(text, index=False)
    cases.append((["--csv", str(text), "--target", "y", "--dask"], "numeric feature columns only"))
    # a later file with stray text in a numeric column, another with a missing value
    later = tmp_path / "later"
    later.mkdir()
    frame.iloc[:100].to_csv(later / "p-0.csv", index=False)
    frame.iloc[100:200].astype({"a": object}).assign(a="?").to_csv(later / "p-1.csv", index=False)
    frame.iloc[200:300].assign(b=np.nan).to_csv(later / "p-2.csv", index=False)
    common = ["--target", "y", "--dask", "--cv", "2", "--losses", "mse"]
    cases.append(
        (["--csv", str(later / "p-[01].csv"), *common], "column 'a' holds text in a later part")
    )
    cases.append(
        (["--csv", str(later / "p-[02].csv"), *common], "missing values, in column(s) 'b' (100)")
    )
    for args, message in cases:
        status = main(["compare", "--quiet", *args])
        _, err = capsys.readouterr()
        assert status == 1 and message in err and err.count("\n") == 1, err


def test_cli_scheduler_on_a_local_cluster(files, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    path, frame = files
    args = ["--parquet", str(path / "claims.parquet"), "--target", "y", "--exposure", "e"]
    args += ["--cv", "2", "--losses", "poisson_nll,mse", "--quiet"]
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        status = main(
            [
                "compare",
                *args,
                "--scheduler",
                cluster.scheduler_address,
                "--json",
                str(tmp_path / "c.json"),
            ]
        )
        # the process that runs compare_losses never holds the data: a design of 32 MB,
        # generated on the workers, raises its traced peak by a few MB (graphs, per-chunk sums)
        with distributed.Client(cluster):
            rng = dask.array.random.default_rng(0)
            X = rng.normal(size=(400_000, 10), chunks=(100_000, 10))
            y = X[:, 0] + rng.normal(size=400_000, chunks=100_000)
            tracemalloc.start()
            results = compare_losses(X, y, cv=2, losses=["mse"])
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"on dask scheduler {cluster.scheduler_address}" in out
    assert "a library warned" not in out and "Warning" not in err
    assert "2-fold CV over 2 partitions" in out  # one parquet partition, split in two
    on_cluster = json.loads((tmp_path / "c.json").read_text())["results"]
    reference = compare_losses(
        frame[FEATURES],
        frame["y"],
        exposure=frame["e"],
        cv=partition_folds([300, 300], 2),
        losses=["poisson_nll", "mse"],
    )
    for row in on_cluster:
        for column in COMPARED:
            assert row[column] == pytest.approx(reference.loc[row["loss"], column], rel=1e-6)
    assert results.attrs["n_partitions"] == 4 and results.attrs["scale"] == "density"
    assert results.loc["mse", "rmse_mean"] == pytest.approx(1.0, rel=0.01)
    assert peak < 0.25 * X.nbytes, peak
