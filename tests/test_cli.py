"""The ``sklik compare`` command line: output, malformed files, exit statuses, a quiet stderr."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomllib

from sklik._cli import main
from sklik.losses import LOSSES


def run(capsys, *args):
    status = main(["compare", "--cv", "2", *args])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, message):
    assert status == 1
    assert err.startswith("sklik compare: error: ") and message in err, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.endswith("\n")


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40).round(3), "z": rng.normal(size=40).round(3)})
    frame["y"] = (2 * frame["x"] + rng.normal(size=40)).round(3)
    return frame


def test_default_dataset_json_and_plot(tmp_path, capsys):
    status, out, err = run(
        capsys, "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")
    )
    assert status == 0
    assert "diabetes" in out
    assert "442 rows, 10 feature columns (10 model features after encoding), 2-fold CV" in out
    assert "Scale: count. The targets are non-negative integers" in out
    n_fits = 2 * len(LOSSES)
    assert "sklik compare: 100%" in err and f"{n_fits}/{n_fits}" in err  # the progress bar
    assert "Warning" not in err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["scale"] == "count" and result["n_encoded"] == 10
    assert [r["loss"] for r in result["results"]][0] == result["winner"]
    assert f"Winner: {result['winner']} " in out
    assert {r["loss"] for r in result["results"]} == set(LOSSES)
    assert {"converged", "collapsed", "note"} <= set(result["results"][0])
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the table lists every loss once, in rank order; the Poisson is flagged and explained
    table = out.split("\n\n")[2].splitlines()[2:]
    assert [line.split()[1] for line in table] == [r["loss"] for r in result["results"]]
    assert table[-1].split()[1] == "poisson_nll" and table[-1].endswith("collapsed")
    assert "flags: no-conv = " in out and "collapsed = predictive std below" in out
    assert "range of integers holding at least 90% probability" in out


def test_csv_with_categorical_and_negative_targets(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "colour": rng.choice(["red", "blue"], 60)})
    frame["y"] = frame["x"] - 1.0 + rng.normal(size=60)
    frame.to_csv(tmp_path / "data.csv", index=False)
    status, out, err = run(capsys, "--csv", str(tmp_path / "data.csv"), "--target", "y", "--quiet")
    assert status == 0, err
    assert "data.csv (target: y), 60 rows, 2 feature columns (3 model features" in out
    assert "Scale: density." in out
    assert "note: poisson_nll: skipped:" in out
    assert err == ""
    frame.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    status, out, err = run(
        capsys, "--csv", str(tmp_path / "semi.csv"), "--sep", ";", "--target", "y", "--quiet"
    )
    assert status == 0 and "semi.csv (target: y), 60 rows, 2 feature columns" in out


def test_counts_are_scored_as_counts(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    rate = np.exp(0.3 + X @ [0.8, -0.5, 0.3])
    y = np.where(rng.random(600) < 0.6, 0, rng.poisson(rate))
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(visits=y).to_csv(
        tmp_path / "c.csv", index=False
    )
    args = ["--csv", str(tmp_path / "c.csv"), "--target", "visits", "--quiet"]
    args += ["--losses", "l1,poisson_nll", "--cv", "5"]
    status, out, _ = run(capsys, *args)
    assert status == 0 and "Scale: count." in out
    assert "Winner: poisson_nll (highest held-out log-likelihood per sample)." in out
    status, out, _ = run(capsys, *args, "--scale", "density")
    assert status == 0 and "Scale: density." in out and "Winner: l1 " in out


def test_unconverged_winner_gets_a_note(capsys):
    status, out, err = run(
        capsys, "--quiet", "--model", "mlp", "--hidden-layer-sizes", "3", "--max-iter", "2",
        "--losses", "mse",
    )  # fmt: skip
    assert status == 0 and err == ""
    assert "no-conv" in out.split("\n\n")[2]
    assert (
        "Winner: mse (note: mse did not converge in every fold, so its score may change with" in out
    )


# -- malformed files ------------------------------------------------------------------------------


def write(path, frame, **kwargs):
    frame.to_csv(path, index=False, **kwargs)


MALFORMED = {
    # name: (writer, extra args, expected: an error message, or None for a successful run)
    "empty": (lambda p, f: p.write_text(""), [], "empty.csv as CSV: No columns"),
    "header_only": (
        lambda p, f: p.write_text("x,z,y\n"),
        [],
        "header_only.csv has a header but no data rows",
    ),
    "bom": (lambda p, f: p.write_bytes(b"\xef\xbb\xbf" + f.to_csv(index=False).encode()), [], None),
    "latin1": (
        lambda p, f: p.write_bytes(
            f.assign(town=["Orl\xe9ans", "N\xeemes"] * 20).to_csv(index=False).encode("latin-1")
        ),
        [],
        "is not UTF-8 text",
    ),
    "wrong_sep": (
        lambda p, f: write(p, f, sep=";"),
        [],
        "wrong_sep.csv; its columns are: x;z;y; is it separated by ';'? Use --sep ';'",
    ),
    "one_row": (lambda p, f: write(p, f.head(1)), [], "Too few rows for 2-fold"),
    "all_nan": (
        lambda p, f: write(p, f.assign(w=np.nan)),
        [],
        "missing values, in column(s) 'w' (40)",
    ),
    "nan_target": (lambda p, f: write(p, f.assign(y=np.nan)), [], "target has 40 missing"),
    "string_target": (
        lambda p, f: write(p, f.assign(y=["low", "high"] * 20)),
        [],
        "the target column 'y' is not numeric",
    ),
    "duplicated_names": (
        lambda p, f: p.write_text(
            "x,x,y\n" + "\n".join(",".join(map(str, row)) for row in f.to_numpy())
        ),
        [],
        None,
    ),
    "duplicated_target": (
        lambda p, f: p.write_text(
            "x,y,y\n" + "\n".join(",".join(map(str, row)) for row in f.to_numpy())
        ),
        [],
        "the target name 'y' heads 2 columns of duplicated_target.csv",
    ),
    "huge_target": (
        lambda p, f: write(p, f.assign(y=f["y"] * 1e299)),
        [],
        "no loss could be fitted",
    ),
    "quoted_newlines": (
        lambda p, f: write(p, f.assign(memo=[f"a\nb {i % 3}" for i in range(40)])),
        [],
        None,
    ),
    "ragged": (
        lambda p, f: p.write_text("x,y\n1,2\n3,4,5,6\n"),
        [],
        "ragged.csv as CSV: Error tokenizing data",
    ),
    "id_column": (
        lambda p, f: write(p, f.assign(customer=[f"C{i:04d}" for i in range(40)])),
        [],
        "column(s) 'customer' look like identifiers, not features (40 distinct values in 40 rows;"
        " one-hot encoding gives 42 model features): drop it with --drop customer, or pass "
        "--allow-wide to fit anyway",
    ),
    "id_column_dropped": (
        lambda p, f: write(p, f.assign(customer=[f"C{i:04d}" for i in range(40)])),
        ["--drop", "customer"],
        None,
    ),
    "decimal_comma": (
        lambda p, f: write(p, f.assign(y=f["y"].round().astype(int)), sep=";", decimal=","),
        ["--sep", ";"],
        "column(s) 'x', 'z' hold numbers written with a decimal comma (e.g. '0,126'), which "
        "would be one-hot encoded as text: use --decimal ,",
    ),
    "decimal_comma_target": (
        lambda p, f: write(p, f, sep=";", decimal=","),
        ["--sep", ";"],
        "it holds numbers written with a decimal comma; use --decimal ,",
    ),
    "decimal_comma_read": (
        lambda p, f: write(p, f, sep=";", decimal=","),
        ["--sep", ";", "--decimal", ","],
        None,
    ),
    "stray_text": (
        lambda p, f: write(
            p, f.assign(z=["?" if i % 10 == 0 else v for i, v in enumerate(f["z"])])
        ),
        [],
        "column 'z' holds numbers but also text such as '?' (4 of 40 rows), so it would be "
        "one-hot encoded as 36 categories (37 model features in all)",
    ),
    "stray_text_few_values": (
        lambda p, f: write(p, f.assign(z=["?", "1", "2", "3"] * 10)),
        [],
        None,
    ),
    "regex_sep": (
        lambda p, f: p.write_text(f.to_csv(index=False, sep=" ").replace(" ", "   ")),
        ["--sep", r"\s+"],
        None,
    ),
    "two_char_sep": (
        lambda p, f: p.write_text(f.to_csv(index=False).replace(",", "::")),
        ["--sep", "::"],
        None,
    ),
    "unknown_drop": (lambda p, f: write(p, f), ["--drop", "nope"], "--drop: no feature column"),
    "inf": (lambda p, f: write(p, f.assign(x=np.inf)), [], "infinite values, in column(s) 'x'"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_files(tmp_path, capsys, frame, name):
    writer, extra, message = MALFORMED[name]
    path = tmp_path / f"{name}.csv"
    writer(path, frame)
    status, out, err = run(capsys, "--csv", str(path), "--target", "y", "--quiet", *extra)
    if message is None:
        assert status == 0 and err == "", err
        assert "Winner: " in out and "40 rows" in out
    else:
        assert_one_line_error(status, err, message)
        assert "Winner" not in out


def test_stray_text_is_a_note(tmp_path, capsys, frame):
    write(tmp_path / "s.csv", frame.assign(z=["?", "1", "2", "3"] * 10))
    status, out, err = run(capsys, "--csv", str(tmp_path / "s.csv"), "--target", "y", "--quiet")
    assert status == 0 and err == ""
    assert "40 rows, 2 feature columns (5 model features after encoding)" in out
    assert (
        "note: column 'z' holds numbers but also text such as '?' (10 of 40 rows): it is "
        "one-hot encoded as categories, not used as a number\n"
    ) in out


def test_library_warnings_become_one_note(monkeypatch, capsys):
    import warnings

    import sklik._cli

    real = sklik._cli.compare_losses

    def noisy(*args, **kwargs):
        for _ in range(3):
            warnings.warn("something odd\nsecond line", UserWarning, stacklevel=1)
        return real(*args, **{**kwargs, "losses": ["mse"]})

    monkeypatch.setattr(sklik._cli, "compare_losses", noisy)
    status, out, err = run(capsys, "--quiet")
    assert status == 0 and err == ""
    assert out.count("note: a library warned (UserWarning: something odd second line)\n") == 1


def test_wide_files_are_refused_fast_or_fitted_on_request(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n_cols = 100_000
    values = rng.normal(size=(12, n_cols)).round(2)
    header = ",".join(f"c{j}" for j in range(n_cols)) + ",y\n"
    lines = [",".join(map(str, row)) + f",{i}" for i, row in enumerate(values)]
    (tmp_path / "wide.csv").write_text(header + "\n".join(lines) + "\n")
    start = time.perf_counter()
    status, out, err = run(capsys, "--csv", str(tmp_path / "wide.csv"), "--target", "y", "--quiet")
    assert time.perf_counter() - start < 30  # minutes before the linear-time checks
    assert_one_line_error(
        status, err, "too many model features for the rows: 100000 feature columns (so at least"
    )
    assert "pass --allow-wide to fit anyway" in err
    # a smaller wide file, fitted anyway
    pd.DataFrame(values[:, :30]).assign(y=np.arange(12.0)).to_csv(tmp_path / "w.csv", index=False)
    args = ["--csv", str(tmp_path / "w.csv"), "--target", "y", "--quiet", "--losses", "mse"]
    assert_one_line_error(*run(capsys, *args)[::2], "30 features after one-hot encoding for 12")
    status, out, err = run(capsys, *args, "--allow-wide")
    assert status == 0 and err == "" and "30 model features" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--csv", "missing.csv", "--target", "y"], "no such file: missing.csv"),
        (["--csv", "{csv}", "--target", "nope"], "no column 'nope'"),
        (["--csv", "{csv}", "--target", "label"], "target column 'label' is not numeric"),
        (["--csv", "{csv}"], "--csv and --target go together"),
        (["--csv", "{small}", "--target", "y", "--cv", "5"], "Too few rows for 5-fold"),
        (["--hidden-layer-sizes", "5"], "applies to --model mlp only"),
        (["--drop", "age,height"], "--drop: no feature column 'height' in the diabetes data"),
        (["--csv", "{csv}", "--target", "y", "--scale", "count"], "scale='count'"),
    ],
)
def test_errors_are_one_line_messages(tmp_path, capsys, args, message):
    frame = pd.DataFrame({"x": np.arange(8.0), "label": list("abababab"), "y": np.arange(8.0)})
    frame["y"] += 0.5
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.head(6).to_csv(tmp_path / "small.csv", index=False)
    files = {"csv": tmp_path / "data.csv", "small": tmp_path / "small.csv"}
    args = [a.format(**files) for a in args]
    status, _, err = run(capsys, *args)
    assert_one_line_error(status, err, message)


def test_unexpected_errors_are_one_line_too(monkeypatch, capsys):
    import sklik._cli

    def broken(*args, **kwargs):
        raise KeyError("something internal")

    monkeypatch.setattr(sklik._cli, "compare_losses", broken)
    status, _, err = run(capsys, "--quiet")
    assert_one_line_error(status, err, "unexpected KeyError: 'something internal' (please report")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--losses", "mse,cauchy"], "unknown loss 'cauchy'; choose from mse, l1,"),
        (["--model", "forest"], "invalid choice: 'forest'"),
        (["--hidden-layer-sizes", "5,x"], "expected layer sizes like 100 or 50,50"),
        (["--scale", "log"], "invalid choice: 'log'"),
    ],
)
def test_usage_errors_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# -- in a subprocess: nothing but the one line reaches stderr -------------------------------------


def sklik(*args):
    return subprocess.run(
        [sys.executable, "-m", "sklik", "compare", "--quiet", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_python_dash_m_and_console_script(tmp_path):
    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert scripts["project"]["scripts"]["sklik"] == "sklik._cli:run"
    # a file with duplicated names, quoted newlines and a BOM runs, with nothing on stderr
    rng = np.random.default_rng(0)
    text = "x,x,memo,y\n" + "".join(
        f'{rng.normal():.3f},{rng.normal():.3f},"two\nlines",{i % 7}\n' for i in range(40)
    )
    (tmp_path / "odd.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    done = sklik("--csv", str(tmp_path / "odd.csv"), "--target", "y", "--cv", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "Winner: " in done.stdout or "No winner: " in done.stdout


def test_subprocess_error_is_one_line(tmp_path):
    (tmp_path / "h.csv").write_text("x,y\n")
    done = sklik("--csv", str(tmp_path / "h.csv"), "--target", "y")
    assert done.returncode == 1
    assert (
        done.stderr
        == "sklik compare: error: " + f"{tmp_path / 'h.csv'} has a header but no data rows\n"
    )
    assert done.stdout == ""


# -- several files, parquet, and the dask options without dask -------------------------------------


def scores(path):
    """The results of a ``--json`` file but the fit times."""
    rows = json.loads(Path(path).read_text())["results"]
    return [{k: v for k, v in row.items() if not k.startswith("fit_time")} for row in rows]


def test_a_glob_of_files_is_the_concatenated_file(tmp_path, capsys, frame, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame.to_csv(tmp_path / "all.csv", index=False)
    frame.iloc[:25].to_csv(tmp_path / "part-1.csv", index=False)
    frame.iloc[25:].to_csv(tmp_path / "part-2.csv", index=False)
    args = ["--target", "y", "--quiet", "--losses", "mse,huber"]
    status, _, _ = run(capsys, "--csv", str(tmp_path / "all.csv"), *args, "--json", "1.json")
    assert status == 0
    status, out, err = run(capsys, "--csv", str(tmp_path / "part-*.csv"), *args, "--json", "2.json")
    assert status == 0, err
    assert "part-*.csv (2 files) (target: y), 40 rows, 2 feature columns" in out
    # the same rows in the same order: the same folds, the same results
    assert scores("2.json") == scores("1.json")


def test_glob_errors_name_the_problem(tmp_path, capsys, frame):
    status, _, err = run(capsys, "--csv", str(tmp_path / "none-*.csv"), "--target", "y")
    assert_one_line_error(status, err, "no file matches --csv")
    frame.to_csv(tmp_path / "a-1.csv", index=False)
    frame.rename(columns={"z": "w"}).to_csv(tmp_path / "a-2.csv", index=False)
    status, _, err = run(capsys, "--csv", str(tmp_path / "a-*.csv"), "--target", "y")
    assert_one_line_error(status, err, "must have the same header: a-1.csv has x, z, y but a-2.csv")


def test_parquet_file_in_memory(tmp_path, capsys, frame, monkeypatch):
    pytest.importorskip("pyarrow")
    monkeypatch.chdir(tmp_path)
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    args = ["--target", "y", "--quiet", "--losses", "mse,gaussian_nll"]
    status, _, _ = run(capsys, "--csv", str(tmp_path / "d.csv"), *args, "--json", "1.json")
    args += ["--json", "2.json"]
    status, out, err = run(capsys, "--parquet", str(tmp_path / "d.parquet"), *args)
    assert status == 0, err
    assert "d.parquet (target: y), 40 rows" in out
    assert scores("2.json") == scores("1.json")
    status, _, err = run(capsys, "--parquet", str(tmp_path / "d.csv"), "--target", "y")
    assert_one_line_error(status, err, "as parquet")
    status, _, err = run(capsys, "--parquet", str(tmp_path / "d.parquet"), "--csv", "d.csv")
    assert_one_line_error(status, err, "--csv and --parquet exclude each other")


def test_missing_optional_dependencies_are_one_line_errors(tmp_path, capsys, frame, monkeypatch):
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    status, _, err = run(capsys, "--parquet", str(tmp_path / "d.parquet"), "--target", "y")
    assert_one_line_error(status, err, '--parquet needs pyarrow: pip install "sklik[dask]"')
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    for option in (["--dask"], ["--scheduler", "tcp://127.0.0.1:1"]):
        status, _, err = run(capsys, "--csv", str(tmp_path / "d.csv"), "--target", "y", *option)
        assert_one_line_error(status, err, 'need dask: pip install "sklik[dask]"')


def test_the_core_package_does_not_import_dask():
    code = "import sys, sklik, sklik.compare, sklik._cli; print(sorted(m for m in sys.modules"
    code += " if m.split('.')[0] in ('dask', 'distributed')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "[]\n", done.stderr


def test_bad_alpha_max_iter_and_plot_format_are_refused_up_front(tmp_path, capsys):
    """--alpha -1/nan/inf and --max-iter 0 went through to a table of dashes and "no loss
    could be fitted"; --plot x.foo failed after the whole run with "unexpected ValueError";
    --plot without an extension wrote file.png while saying file."""
    pytest.importorskip("matplotlib")
    for args, message in [
        (("--alpha", "-1"), "expected a finite number >= 0"),
        (("--alpha", "nan"), "expected a finite number >= 0"),
        (("--alpha", "inf"), "expected a finite number >= 0"),
        (("--max-iter", "0"), "expected a positive integer"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["compare", *args])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    start = time.perf_counter()
    status, _, err = run(capsys, "--plot", str(tmp_path / "x.foo"))
    assert status != 0 and "cannot write .foo files" in err and ".png" in err
    assert time.perf_counter() - start < 5  # before any fit
    status, out, _ = run(capsys, "--quiet", "--losses", "mse", "--plot", str(tmp_path / "f"))
    assert status == 0 and (tmp_path / "f.png").exists() and f"{tmp_path / 'f.png'}" in out


def test_unwritable_output_paths_are_refused_up_front(tmp_path, capsys):
    """A --plot or --json path in a missing directory, or a directory, failed after the whole
    run with a raw OS error; --plot plots/ wrote the hidden file plots/.png.png."""
    pytest.importorskip("matplotlib")
    (tmp_path / "plots").mkdir()
    for args, message in [
        (("--plot", str(tmp_path / "nodir" / "e.png")), "no directory"),
        (("--json", str(tmp_path / "nodir" / "r.json")), "no directory"),
        (("--json", str(tmp_path / "plots")), "a directory; give a file name"),
        (("--plot", f"{tmp_path / 'plots'}/"), "a directory; give a file name"),
    ]:
        start = time.perf_counter()
        status, _, err = run(capsys, *args)
        assert status == 1 and message in err and args[0] in err, err
        assert time.perf_counter() - start < 5  # before any fit
    assert not any((tmp_path / "plots").iterdir())


def test_small_cli_messages(capsys):
    """--cv 1 is a usage error (exit 2) as --alpha and --max-iter are; a rounded tiny negative
    mean is printed without its sign."""
    from sklik._cli import _unsigned_zero

    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--cv", "1"])
    assert exit_info.value.code == 2 and "integer >= 2" in capsys.readouterr().err
    assert _unsigned_zero("-0.0000") == "0.0000" and _unsigned_zero("-0.0010") == "-0.0010"
    assert _unsigned_zero("-0") == "0" and _unsigned_zero("1.5") == "1.5"


def test_columns_of_small_values_keep_their_digits():
    """y in millionths: CRPS, RMSE and MAE printed as 0.0000 (0.0000)."""
    from sklik._cli import _column

    cells = _column(pd.Series([8.33e-07, np.nan]), pd.Series([3.9e-08, np.nan]))
    assert cells == ["8.33e-07 (3.9e-08)", "-"]
    assert _column(pd.Series([11.943]), pd.Series([0.098])) == ["11.943 (0.098)"]
