"""The ``sklik`` command line (also ``python -m sklik``).

``sklik compare`` wraps :func:`sklik.compare.compare_losses`: it loads a CSV file, a glob of
CSV files with one header, or a parquet file or directory (or scikit-learn's bundled diabetes
data), cross-validates every loss, prints the ranked table and optionally writes the results
as JSON and a PNG of the predictions and PIT histograms. With ``--dask`` (dask's local
scheduler) or ``--scheduler ADDRESS`` (a ``distributed.Client``), the data are read with
``dask.dataframe`` and never gathered into this process (dask is imported only then). Bad
input ends with a one-line message on stderr and exit status 1 (2 for a bad command line),
never a traceback.
"""

from __future__ import annotations

import argparse
import csv as csv_module
import glob
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes

from sklik import __version__
from sklik.compare import (
    MAX_WIDTH_FRACTION,
    METRICS,
    MODELS,
    SCALES,
    compare_losses,
    feature_problem,
    inspect_features,
    plot_comparison,
)
from sklik.losses import LOSSES


class InputError(Exception):
    """Bad input from the user: reported as one line, exit status 1."""


#: Files with more columns than this are measured before they are read (see load_data).
WIDE_FILE = 1000


def _refuse_wide_file(
    paths: Sequence[Path], header: pd.Index, target: str, drop: Sequence[str], options
):
    """Raise :class:`InputError` if the files have more feature columns than half their rows."""
    n_rows = sum(len(pd.read_csv(path, usecols=[target], **options)) for path in paths)
    n_columns = len(header) - 1 - len(set(drop) & set(header))
    if n_columns > MAX_WIDTH_FRACTION * n_rows:
        raise InputError(
            f"too many model features for the rows: {n_columns} feature columns (so at least "
            f"{n_columns} features after one-hot encoding) for {n_rows} rows (more than half); "
            f"the fits would interpolate the training folds and the comparison would mean "
            f"nothing. Drop or merge columns, or pass --allow-wide to fit anyway"
        )


def _first_line(text: object) -> str:
    """A message on one line: its lines joined, whitespace collapsed."""
    return " ".join(str(text).split())


def _csv_options(sep: str, decimal: str) -> dict:
    """``pandas.read_csv`` options for ``--sep`` and ``--decimal`` (UTF-8, BOM dropped)."""
    options = {"sep": sep, "decimal": decimal, "encoding": "utf-8-sig"}
    if len(sep) == 1 or sep == r"\s+":  # pandas's C parser: one type per column
        options["low_memory"] = False
    else:  # a regular expression: the python parser (saying so spares pandas's warning)
        options["engine"] = "python"
    return options


def csv_files(pattern: str) -> list[Path]:
    """The files ``--csv`` names: one path, or the sorted matches of a glob pattern.

    Raises :class:`InputError` when nothing matches.
    """
    if glob.has_magic(pattern):
        paths = [Path(name) for name in sorted(glob.glob(pattern)) if Path(name).is_file()]
        if not paths:
            raise InputError(f"no file matches --csv {pattern!r}")
        return paths
    if not Path(pattern).is_file():
        raise InputError(f"no such file: {pattern}")
    return [Path(pattern)]


def _csv_error(name: Any, exc: Exception) -> InputError:
    """The one-line error for a CSV file that cannot be read (not UTF-8, or malformed)."""
    if isinstance(exc, UnicodeDecodeError):
        return InputError(f"cannot read {name}: it is not UTF-8 text ({exc}); save it as UTF-8")
    return InputError(f"cannot read {name} as CSV: {_first_line(exc)}")


def _read_header(path: Path, options: dict) -> pd.Index:
    """The header row of one CSV file (:class:`InputError` if it cannot be read)."""
    try:
        return pd.read_csv(path, nrows=0, **options).columns
    except (ValueError, csv_module.Error) as exc:  # (UnicodeDecodeError is a ValueError)
        raise _csv_error(path, exc) from exc


def _check_target_once(path: Path, options: dict, target: str | None) -> None:
    """:class:`InputError` when the target's name heads more than one column.

    pandas reads such a header with the second column renamed (``y.1``), which would then be
    fitted as a feature: a copy of the target, or another variable under its name.
    """
    if target is None:
        return
    try:
        names = pd.read_csv(path, nrows=1, header=None, dtype=str, **options).iloc[0]
    except (ValueError, csv_module.Error, IndexError):
        return  # (the reading proper reports an unreadable or empty file)
    count = int((names == target).sum())
    if count > 1:
        raise InputError(
            f"the target name {target!r} heads {count} columns of {path.name}; rename the "
            f"others (pandas would read them as features named '{target}.1', ...)"
        )


def _common_header(paths: Sequence[Path], options: dict, target: str | None) -> pd.Index:
    """The header every file shares (:class:`InputError` naming two that differ).

    A target name that heads several columns is an :class:`InputError` too.
    """
    _check_target_once(paths[0], options, target)
    header = _read_header(paths[0], options)
    for path in paths[1:]:
        other = _read_header(path, options)
        if list(other) != list(header):
            raise InputError(
                f"the files of --csv must have the same header: {paths[0].name} has "
                f"{', '.join(map(str, header[:10]))}{' ...' if len(header) > 10 else ''} but "
                f"{path.name} has {', '.join(map(str, other[:10]))}"
                f"{' ...' if len(other) > 10 else ''}"
            )
    return header


def _describe(source: str, paths: Sequence[Path]) -> str:
    return paths[0].name if len(paths) == 1 else f"{source} ({len(paths)} files)"


def _read_csv_files(
    csv: str, target: str | None, sep: str, decimal: str, drop: Sequence[str], allow_wide: bool
) -> tuple[pd.DataFrame, str, list[str]]:
    """The frame of the ``--csv`` file(s), concatenated in file-name order, and notes."""
    paths = csv_files(csv)
    options = _csv_options(sep, decimal)
    header = _common_header(paths, options, target)
    frames = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if len(header) > WIDE_FILE and target in header and not allow_wide:
                _refuse_wide_file(paths, header, target, drop, options)
            for path in paths:
                frames.append(pd.read_csv(path, **options))
    except (ValueError, csv_module.Error) as exc:
        raise _csv_error(paths[len(frames)] if len(frames) < len(paths) else csv, exc) from exc
    notes = list(
        dict.fromkeys(f"reading {_describe(csv, paths)}: {_first_line(w.message)}" for w in caught)
    )
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame, _describe(csv, paths), notes


_DASK_HINT = 'pip install "sklik[dask]"'


def _read_parquet(path: str) -> pd.DataFrame:
    """The ``--parquet`` file or directory, in memory (pandas with pyarrow)."""
    if not Path(path).exists():
        raise InputError(f"no such file or directory: {path}")
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise InputError(f"--parquet needs pyarrow: {_DASK_HINT}") from exc
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 (pyarrow's errors: one line to the user)
        raise InputError(f"cannot read {path} as parquet: {_first_line(exc)}") from exc


def _sep_hint(columns: pd.Index, sep: str | None) -> str:
    """A hint at the separator when a CSV header was read as one column, or an empty string."""
    return next(
        (
            f"; is it separated by {other!r}? Use --sep {other!r}"
            for other in (";", "\t", "|", ",")
            if sep is not None and len(columns) == 1 and other != sep and other in str(columns[0])
        ),
        "",
    )


def _split_frame(
    frame: pd.DataFrame, target: str, drop: Sequence[str], source: str, hint_sep: str | None
) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of a frame read from ``source``, checked (:class:`InputError`)."""
    if target not in frame.columns:
        raise _no_target(frame.columns, target, source, hint_sep)
    if len(frame) == 0:
        raise InputError(f"{source} has a header but no data rows")
    unknown = [name for name in drop if name not in frame.columns or name == target]
    if unknown:
        raise InputError(f"--drop: no feature column {', '.join(map(repr, unknown))} in {source}")
    y = frame[target]
    if isinstance(y, pd.DataFrame):  # pragma: no cover - pandas renames duplicated columns
        raise InputError(f"{source} has several columns named {target!r}")
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        values = y.dropna()
        example = f", e.g. {str(values.iloc[0])!r}" if len(values) else ""
        report = inspect_features(frame[[target]])
        hint = (
            ": it holds numbers written with a decimal comma; use --decimal ,"
            if report["decimal_comma"]
            else "; sklik compare needs a numeric target"
        )
        raise InputError(
            f"the target column {target!r} is not numeric (dtype {y.dtype}{example}){hint}"
        )
    X = frame.drop(columns=[target, *drop])
    if X.shape[1] == 0:
        raise InputError(f"{source} has no feature columns besides the target {target!r}")
    return X, y


def load_data(
    csv: str | None,
    target: str | None,
    sep: str = ",",
    decimal: str = ".",
    drop: Sequence[str] = (),
    allow_wide: bool = False,
    parquet: str | None = None,
) -> tuple[pd.DataFrame, pd.Series, str, list[str]]:
    """Features, target, a description and notes: the CSV or parquet data's, or the diabetes data's.

    ``csv`` is a file or a glob pattern of files with the same header, read as UTF-8 (a
    byte-order mark is dropped) and concatenated in file-name order; ``parquet`` a parquet
    file or directory (pandas with pyarrow). A CSV file with more than ``WIDE_FILE`` columns is
    first measured (its header, and its target column alone): if it has more feature columns
    than half its rows, it is refused before pandas builds the whole frame (each column gives
    at least one model feature), unless ``allow_wide``. pandas's warnings while reading (e.g. a
    separator that needs its slower parser) become notes; a file that cannot be read, a glob
    that matches nothing, files with different headers, no data rows, a missing target, or a
    non-numeric target raise :class:`InputError`.
    """
    if parquet is not None:
        frame = _read_parquet(parquet)
        source = Path(parquet).name or parquet
        X, y = _split_frame(frame, target, drop, parquet, None)
        return X, y, f"{source} (target: {target})", []
    if csv is None:
        data = load_diabetes(as_frame=True, scaled=False)
        unknown = [name for name in drop if name not in data.data.columns]
        if unknown:
            raise InputError(
                f"--drop: no feature column {', '.join(map(repr, unknown))} in the diabetes data"
            )
        X = data.data.drop(columns=list(drop))
        description = "scikit-learn's diabetes data (target: disease progression)"
        return X, data.target, description, []
    frame, source, notes = _read_csv_files(csv, target, sep, decimal, drop, allow_wide)
    X, y = _split_frame(frame, target, drop, csv, sep)
    return X, y, f"{source} (target: {target})", notes


def load_dask(
    csv: str | None,
    parquet: str | None,
    target: str,
    sep: str = ",",
    decimal: str = ".",
    drop: Sequence[str] = (),
) -> tuple[Any, Any, str, list[str]]:
    """Features and target as lazy dask collections (``dd.read_csv``, ``dd.read_parquet``).

    Nothing but the headers (and dask's sample of the first rows, for the column types) is read
    here; integer columns are read as floats (``assume_missing``) so that a missing value in a
    later partition does not change a column's type.
    """
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise InputError(f"--dask and --scheduler need dask: {_DASK_HINT}") from exc
    if parquet is not None:
        if "://" not in parquet and not Path(parquet).exists():
            raise InputError(f"no such file or directory: {parquet}")
        try:
            frame = dd.read_parquet(parquet)
        except ImportError as exc:
            raise InputError(f"--parquet needs pyarrow: {_DASK_HINT}") from exc
        except Exception as exc:  # noqa: BLE001 (pyarrow's errors: one line to the user)
            raise InputError(f"cannot read {parquet} as parquet: {_first_line(exc)}") from exc
        # the features and the target must keep one partitioning: dask fuses small parquet
        # files per column projection, by the projection's share of the bytes (a 4-file
        # directory gave X 4 partitions and y 2); a projection of this map is not pushed
        # into the reader
        frame = frame.map_partitions(_same_rows)
        source, description, notes = parquet, Path(parquet).name or parquet, []
    else:
        options = _csv_options(sep, decimal)
        options.pop("low_memory", None)
        if "://" in csv:  # a URL (s3://, gs://, ...): dask (fsspec) finds and reads the files
            paths, files = [Path(csv)], csv
        else:
            paths = csv_files(csv)
            _common_header(paths, options, target)
            files = [str(path) for path in paths]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame = dd.read_csv(files, assume_missing=True, **options)
        except (ValueError, csv_module.Error) as exc:
            raise _csv_error(csv, exc) from exc
        source, description = csv, _describe(csv, paths)
        notes = list(
            dict.fromkeys(f"reading {description}: {_first_line(w.message)}" for w in caught)
        )
    if target not in frame.columns:
        raise _no_target(frame.columns, target, source, None if parquet is not None else sep)
    unknown = [name for name in drop if name not in frame.columns or name == target]
    if unknown:
        raise InputError(f"--drop: no feature column {', '.join(map(repr, unknown))} in {source}")
    y = frame[target]
    if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
        raise InputError(
            f"the target column {target!r} is not numeric (dtype {y.dtype}); sklik compare "
            f"needs a numeric target (for numbers with a decimal comma, use --decimal ,)"
        )
    X = frame.drop(columns=[target, *drop])
    if len(X.columns) == 0:
        raise InputError(f"{source} has no feature columns besides the target {target!r}")
    return X, y, f"{description} (target: {target})", notes


def _no_target(columns: Any, target: str, source: str, hint_sep: str | None) -> InputError:
    """The error for a target column that ``source`` does not have: its columns, or none."""
    if len(columns) == 0:
        return InputError(f"no column {target!r} in {source}: it has no columns (no data?)")
    names = ", ".join(map(str, columns[:20]))
    more = f" and {len(columns) - 20} more" if len(columns) > 20 else ""
    hint = _sep_hint(columns, hint_sep)
    return InputError(f"no column {target!r} in {source}; its columns are: {names}{more}{hint}")


def _same_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The partition itself (see :func:`load_dask`)."""
    return frame


def _column(means: pd.Series, stds: pd.Series) -> list[str]:
    """``mean (sd)`` cells, with decimals for two significant digits of the smallest sd."""
    smallest = stds[stds > 0].min()
    finite = 0 < smallest < math.inf  # (a target near 1e300 may give an infinite sd)
    largest = float(np.nanmax(np.abs(means))) if means.notna().any() else 0.0
    if finite and smallest < 1e-3 and largest < 1e-2:  # (y in small units: CRPS 0.0000)
        return [
            "-" if math.isnan(mean) else f"{mean:.3g} ({std:.2g})"
            for mean, std in zip(means, stds, strict=True)
        ]
    digits = min(4, max(0, 1 - math.floor(math.log10(smallest)))) if finite else 3
    return [
        "-" if math.isnan(mean) else f"{_unsigned_zero(f'{mean:.{digits}f}')} ({std:.{digits}f})"
        for mean, std in zip(means, stds, strict=True)
    ]


def _unsigned_zero(text: str) -> str:
    """``-0.0000`` (a tiny negative number, rounded) as ``0.0000``."""
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def _flags(row: pd.Series) -> str:
    """``no-conv`` and ``collapsed``, as they apply (nothing for a skipped or failed loss)."""
    flags = []
    if pd.notna(row["converged"]) and not row["converged"]:
        flags.append("no-conv")
    if pd.notna(row["collapsed"]) and row["collapsed"]:
        flags.append("collapsed")
    return ",".join(flags)


def format_table(results: pd.DataFrame) -> str:
    """The ranked results as a plain-text table, ``mean (sd)`` per metric, then the flags."""
    level = results.attrs["coverage"]
    headers = ["rank", "loss"] + [
        f"{level:.0%} coverage" if m == "coverage" else label for m, label in METRICS.items()
    ]
    ranks = ["-" if pd.isna(rank) else str(rank) for rank in results["rank"]]
    columns = [ranks, results.index.astype(str).tolist()]
    columns += [_column(results[f"{m}_mean"], results[f"{m}_std"]) for m in METRICS]
    flags = [_flags(row) for _, row in results.iterrows()]
    if any(flags):
        headers.append("flags")
        columns.append(flags)
    table = [headers, *zip(*columns, strict=True)]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def scale_line(results: pd.DataFrame) -> str:
    """The line above the table that says what the log-likelihood measures."""
    if results.attrs["scale"] == "count":
        return (
            "Scale: count. The targets are non-negative integers, so every loss is scored by "
            "the log probability of the count:\nthe probability of the bin [y - 1/2, y + 1/2] "
            "for continuous distributions, the probability mass for poisson_nll."
        )
    return (
        "Scale: density. Every loss is scored by the log density of y (the log probability "
        "of the count for poisson_nll)."
    )


def legend(results: pd.DataFrame) -> str:
    """The lines below the table that explain its columns and flags."""
    level = results.attrs["coverage"]
    lines = [
        "mean (sd) over folds, on held-out data. log-lik/sample: higher is better; CRPS, RMSE, "
        "MAE: lower is better;",
        f"coverage: fraction inside the central {level:.0%} interval (close to {level:.0%} is "
        f"calibrated; a discrete distribution's interval",
        f"(poisson_nll) is a range of integers holding at least {level:.0%} probability, so a "
        f"calibrated one covers at least {level:.0%}).",
    ]
    if (results["converged"] == False).any() or (results["collapsed"] == True).any():  # noqa: E712
        lines.append(
            "flags: no-conv = some folds stopped before convergence (ConvergenceWarning); "
            "collapsed = predictive std below 1e-3 x std(y)\non most held-out rows with "
            f"coverage below 80% of {level:.0%}, or coverage below 5/9 of {level:.0%}. A "
            "flagged loss is not named the winner without a note."
        )
    return "\n".join(lines)


def write_json(results: pd.DataFrame, path: str, description: str) -> None:
    """The results and their settings as JSON (NaN as null)."""
    records = json.loads(results.reset_index().to_json(orient="records", double_precision=15))
    payload = {"data": description, **results.attrs, "results": records}
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def winner(results: pd.DataFrame) -> str | None:
    """The winning loss (``results.attrs["winner"]``): None if none can be named."""
    return results.attrs.get("winner")


def _losses(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOSSES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown loss {', '.join(unknown) or text!r}; choose from {', '.join(LOSSES)}"
        )
    return names


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(size) for size in text.split(",") if size.strip())
    except ValueError:
        layers = ()
    if not layers or min(layers) < 1:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 100 or 50,50; got {text!r}")
    return layers


def _checked(convert: Any, valid: Any, expected: str) -> Any:
    """An argparse type: ``convert(text)`` where ``valid`` holds, else a usage error."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
        return value

    return parse


_alpha = _checked(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_folds = _checked(int, lambda v: v >= 2, "an integer >= 2 (folds)")


def build_parser() -> argparse.ArgumentParser:
    """The ``sklik`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="sklik", description="Likelihood-based regression for scikit-learn."
    )
    parser.add_argument("--version", action="version", version=f"sklik {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    compare = commands.add_parser(
        "compare",
        help="which likelihood fits my data? cross-validate every loss and rank them",
        description=(
            "Cross-validate one model per loss and rank the losses by held-out log-likelihood "
            "per sample: on integer targets the log probability of the count (of its unit bin "
            "for the continuous losses), otherwise the log density of y. With no --csv, runs "
            "on scikit-learn's bundled diabetes data."
        ),
    )
    data = compare.add_argument_group("data")
    data.add_argument(
        "--csv",
        metavar="PATH",
        help="a UTF-8 CSV file with a header row, or a quoted glob of files with the same "
        "header, e.g. 'claims-*.csv'",
    )
    data.add_argument(
        "--parquet", metavar="PATH", help="a parquet file or directory (needs pyarrow)"
    )
    data.add_argument("--target", metavar="COLUMN", help="the target column of the data")
    data.add_argument("--sep", default=",", help="the column separator of --csv (default: ,)")
    data.add_argument(
        "--decimal", default=".", help="the decimal separator of --csv, e.g. ',' (default: .)"
    )
    data.add_argument(
        "--drop",
        type=_names,
        default=[],
        metavar="COLUMNS",
        help="comma-separated columns to ignore",
    )
    data.add_argument(
        "--exposure",
        metavar="COLUMN",
        help="a column of positive exposures: counts ~ exposure x rate for the log-link losses "
        "(offset log(exposure)); not a feature",
    )
    data.add_argument(
        "--offset",
        metavar="COLUMN",
        help="a column added to every model's mean on its link scale; not a feature",
    )
    data.add_argument(
        "--allow-wide",
        action="store_true",
        help="fit even with identifier-like columns or more model features than half the rows",
    )
    big = compare.add_argument_group(
        'data larger than memory (pip install "sklik[dask]")',
        "read the data with dask.dataframe and never gather it into this process: folds are "
        "whole partitions (fold k holds partitions i with i mod K = k), fits and scores run "
        "partition by partition",
    )
    where = big.add_mutually_exclusive_group()
    where.add_argument(
        "--dask", action="store_true", help="dask's local scheduler: out of core on this machine"
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="the address of a dask.distributed scheduler, e.g. tcp://10.0.0.1:8786 (its "
        "workers read the files: give paths or URLs they can read)",
    )
    fit = compare.add_argument_group("models")
    fit.add_argument(
        "--losses",
        type=_losses,
        default=list(LOSSES),
        metavar="NAMES",
        help=f"comma-separated losses to compare (default: all of {','.join(LOSSES)})",
    )
    fit.add_argument("--model", choices=sorted(MODELS), default="linear", help="(default: linear)")
    fit.add_argument("--cv", type=_folds, default=5, metavar="K", help="folds (default: 5)")
    fit.add_argument("--alpha", type=_alpha, help="L2 penalty (default: the estimator's)")
    fit.add_argument(
        "--max-iter", type=_positive_int, help="solver iterations (default: the estimator's)"
    )
    fit.add_argument(
        "--hidden-layer-sizes",
        type=_layers,
        metavar="SIZES",
        help="MLP layer sizes, e.g. 50,50 (default: 100)",
    )
    fit.add_argument(
        "--scale",
        choices=SCALES,
        default="auto",
        help=(
            "score by the log probability of the count (count) or the log density (density); "
            "auto: count for non-negative integer targets (default: auto)"
        ),
    )
    fit.add_argument("--random-state", type=int, default=0, metavar="SEED", help="(default: 0)")
    out = compare.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write the results to this JSON file")
    out.add_argument(
        "--plot",
        metavar="PATH",
        help="write predictions and PIT plots to this file (its extension's format; none: .png)",
    )
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _connect(args: argparse.Namespace, stack: ExitStack) -> bool:
    """Set up dask for ``--dask`` or ``--scheduler`` (closed with ``stack``); whether on dask."""
    if not (args.dask or args.scheduler):
        return False
    try:
        import dask
        import dask.dataframe  # noqa: F401
    except ImportError as exc:
        raise InputError(f"--dask and --scheduler need dask: {_DASK_HINT}") from exc
    if args.dask:
        stack.enter_context(dask.config.set(scheduler="threads"))
        return True
    try:
        from distributed import Client
    except ImportError as exc:
        raise InputError(f"--scheduler needs dask.distributed: {_DASK_HINT}") from exc
    try:
        client = Client(args.scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"--scheduler: cannot connect to a dask scheduler at {args.scheduler}: "
            f"{_first_line(exc)}"
        ) from exc
    stack.enter_context(client)
    return True


def compare_command(args: argparse.Namespace) -> int:
    """Run ``sklik compare``; return the exit status."""
    if args.csv is not None and args.parquet is not None:
        raise InputError("--csv and --parquet exclude each other: give one")
    source = args.csv if args.csv is not None else args.parquet
    if (source is None) != (args.target is None):
        raise InputError(
            "--csv and --target go together (so do --parquet and --target): give both, or "
            "neither for the default"
        )
    if args.hidden_layer_sizes is not None and args.model != "mlp":
        raise InputError("--hidden-layer-sizes applies to --model mlp only")
    if (args.dask or args.scheduler) and source is None:
        raise InputError("--dask and --scheduler need data: give --csv or --parquet")
    if (args.dask or args.scheduler) and args.plot is not None:
        raise InputError(
            "--plot draws every held-out prediction, which --dask and --scheduler never gather "
            "into this process: plot a sample without them"
        )
    if args.plot is not None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise InputError("--plot needs matplotlib: pip install 'sklik[plot]'") from exc
        _check_output_path("--plot", args.plot)
        # the format, from the extension (none: PNG), checked before the cross-validation
        suffix = Path(args.plot).suffix.lower().lstrip(".")
        formats = plt.gcf().canvas.get_supported_filetypes()
        plt.close("all")
        if suffix and suffix not in formats:
            raise InputError(
                f"--plot {args.plot}: matplotlib cannot write .{suffix} files; use one of "
                f"{', '.join('.' + name for name in sorted(formats))}"
            )
        if not suffix:
            args.plot = f"{args.plot}.png"
    _check_output_path("--json", args.json)
    with ExitStack() as stack:
        on_dask = _connect(args, stack)
        return _compare(args, on_dask)


def _check_output_path(option: str, path: str | None) -> None:
    """Refuse, before any fit, an output path that cannot be written.

    Such a path failed after the whole run with a raw OS error, and ``--plot plots/`` wrote
    the hidden file ``plots/.png.png``.
    """
    if not path:
        return
    target = Path(path)
    if path.endswith(("/", os.sep)) or target.is_dir():
        example = "results.json" if option == "--json" else "compare.png"
        raise InputError(f"{option} {path}: a directory; give a file name, e.g. {example}")
    parent = target.parent
    if not parent.is_dir():
        raise InputError(f"{option} {path}: no directory {str(parent)!r}; create it first")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{option} {path}: the directory {str(parent)!r} is not writable")


def _dask_message(message: str) -> str:
    """dask.dataframe's error for a column whose type changes between partitions, shortened."""
    if not message.startswith("Mismatched dtypes found"):
        return message
    detail = message.partition("raised exceptions on conversion:")[2].partition("Usually")[0]
    found = re.findall(r"-\s*(\S+)\s+\w+\(['\"](.*?)['\"]\)", detail)
    if not found:
        return message
    return (
        f"column {found[0][0]!r} holds text in a later part of the data, though its first rows "
        f"(dask's sample) are numbers ({found[0][1]}): replace or remove that text, or --drop "
        f"the column"
    )


def _compare(args: argparse.Namespace, on_dask: bool) -> int:
    """``sklik compare`` once the data source and the scheduler are set up."""
    if on_dask:
        X, y, description, notes = load_dask(
            args.csv, args.parquet, args.target, args.sep, args.decimal, args.drop
        )
    else:
        X, y, description, notes = load_data(
            args.csv,
            args.target,
            args.sep,
            args.decimal,
            args.drop,
            args.allow_wide,
            parquet=args.parquet,
        )
    if args.exposure is not None and args.offset is not None:
        raise InputError("--exposure and --offset exclude each other: give one")
    fixed = {}
    for option, column in (("exposure", args.exposure), ("offset", args.offset)):
        if column is None:
            continue
        if column not in X.columns:
            raise InputError(f"--{option}: no column {column!r} among the features")
        if on_dask:
            if not pd.api.types.is_numeric_dtype(X[column].dtype):
                raise InputError(f"--{option}: column {column!r} is not numeric")
            fixed[option] = X[column]
        else:
            values = pd.to_numeric(X[column], errors="coerce")
            if values.isna().any():
                raise InputError(f"--{option}: column {column!r} has missing or non-numeric values")
            fixed[option] = values.to_numpy(dtype=np.float64)
        X = X.drop(columns=[column])
        notes.append(f"column {column!r} is the {option}, not a feature")
    report = None
    if not on_dask:
        report = inspect_features(X)
        problem = feature_problem(report, len(X), args.allow_wide, hints="cli")
        if problem and len(X) >= 2 * args.cv:  # else compare_losses says there are too few rows
            raise InputError(problem)
        for name, text, count in report["mostly_numeric"]:
            notes.append(
                f"column {str(name)!r} holds numbers but also text such as {text!r} ({count} "
                f"of {len(X)} rows): it is one-hot encoded as categories, not used as a number"
            )
    params = {
        "alpha": args.alpha,
        "max_iter": args.max_iter,
        "hidden_layer_sizes": args.hidden_layer_sizes,
    }
    try:
        output = compare_losses(
            X,
            y,
            losses=args.losses,
            model=args.model,
            cv=args.cv,
            scale=args.scale,
            allow_wide=args.allow_wide,
            offset=fixed.get("offset"),
            exposure=fixed.get("exposure"),
            random_state=args.random_state,
            estimator_params={key: value for key, value in params.items() if value is not None},
            progress=not args.quiet,
            return_predictions=not on_dask,
        )
    except ValueError as exc:
        raise InputError(_dask_message(_first_line(exc))) from exc
    results, predictions = (output, None) if on_dask else output

    estimator = MODELS[args.model].__name__
    attrs = results.attrs
    folds = f"{attrs['n_splits']}-fold CV"
    if on_dask:
        where = f"dask scheduler {args.scheduler}" if args.scheduler else "dask's local scheduler"
        folds += (
            f" over {attrs['n_partitions']} partitions (fold k: partitions i with i mod "
            f"{attrs['n_splits']} = k), on {where}"
        )
        notes.append(f"{attrs['n_passes']} passes over the data in all (fits and scoring)")
    print(
        f"sklik compare: {estimator} on {description}, {attrs['n_samples']} rows, "
        f"{attrs['n_features']} feature columns ({attrs['n_encoded']} model features after "
        f"encoding), {folds}\n",
        flush=True,
    )
    print(scale_line(results) + "\n")
    print(format_table(results))
    print("\n" + legend(results))
    for note in notes:
        print(f"note: {note}")
    for name, note in results["note"][results["note"] != ""].items():
        print(f"note: {name}: {note}")
    best, note = results.attrs["winner"], results.attrs["winner_note"]
    if results["rank"].isna().all():
        raise InputError("no loss could be fitted (see the notes above)")
    if best is None:
        print(f"\nNo winner: {note}.")
    elif note:
        print(f"\nWinner: {best} (note: {note}).")
    else:
        print(f"\nWinner: {best} (highest held-out log-likelihood per sample).")
    if args.json:
        write_json(results, args.json, description)
        print(f"Results written to {args.json}")
    if args.plot:
        plot_comparison(results, predictions).savefig(args.plot, dpi=100)
        print(f"Plot written to {args.plot}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sklik`` console script; returns the exit status.

    Bad input ends with one line ``sklik compare: error: ...`` on stderr and status 1; so does
    an unexpected exception (set ``SKLIK_DEBUG=1`` for its traceback). Warnings raised by the
    libraries underneath are never printed as such: those that reach this level are printed
    once each as a ``note:`` line after the results.
    """
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status = compare_command(args)
        except BrokenPipeError:  # the reader went away (``sklik compare | head``): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except (InputError, OSError) as exc:
            print(f"sklik {args.command}: error: {_first_line(exc)}", file=sys.stderr)
            return 1
        except MemoryError as exc:
            print(
                f"sklik {args.command}: error: out of memory ({_first_line(exc)}); use fewer "
                f"columns or rows",
                file=sys.stderr,
            )
            return 1
        except Exception as exc:
            if os.environ.get("SKLIK_DEBUG"):
                raise
            print(
                f"sklik {args.command}: error: unexpected {type(exc).__name__}: "
                f"{_first_line(exc)} (please report this; SKLIK_DEBUG=1 shows the traceback)",
                file=sys.stderr,
            )
            return 1
    messages = dict.fromkeys(f"{w.category.__name__}: {_first_line(w.message)}" for w in caught)
    for message in messages:
        print(f"note: a library warned ({message})")
    return status


def run() -> None:
    """The console script: exit with :func:`main`'s status."""
    sys.exit(main())
