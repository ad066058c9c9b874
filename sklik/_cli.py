"""The ``sklik`` command line (also ``python -m sklik``).

``sklik compare`` wraps :func:`sklik.compare.compare_losses`: it loads a CSV file (or
scikit-learn's bundled diabetes data), cross-validates every loss, prints the ranked table and
optionally writes the results as JSON and a PNG of the predictions and PIT histograms. Bad input
ends with a one-line message on stderr and exit status 1 (2 for a bad command line), never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_diabetes

from sklik import __version__
from sklik.compare import METRICS, MODELS, compare_losses, plot_comparison
from sklik.losses import LOSSES


class InputError(Exception):
    """Bad input from the user: reported as one line, exit status 1."""


def load_data(
    csv: str | None, target: str | None, sep: str = ","
) -> tuple[pd.DataFrame, pd.Series, str]:
    """Features, target and a description: the CSV file's, or the diabetes data's."""
    if csv is None:
        data = load_diabetes(as_frame=True, scaled=False)
        return data.data, data.target, "scikit-learn's diabetes data (target: disease progression)"
    path = Path(csv)
    if not path.is_file():
        raise InputError(f"no such file: {csv}")
    try:
        frame = pd.read_csv(path, sep=sep)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read {csv}: it is not UTF-8 text ({exc}); save it as UTF-8"
        ) from exc
    except ValueError as exc:
        raise InputError(f"cannot read {csv} as CSV: {exc}") from exc
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        hint = next(
            (
                f"; is it separated by {other!r}? Use --sep {other!r}"
                for other in (";", "\t", "|")
                if len(frame.columns) == 1 and other in str(frame.columns[0])
            ),
            "",
        )
        raise InputError(f"no column {target!r} in {csv}; its columns are: {columns}{hint}")
    y = frame[target]
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        raise InputError(
            f"the target column {target!r} is not numeric (dtype {y.dtype}, e.g. "
            f"{str(y.dropna().iloc[0])!r}); sklik compare needs a numeric target"
        )
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise InputError(f"{csv} has no feature columns besides the target {target!r}")
    return X, y, f"{path.name} (target: {target})"


def _column(means: pd.Series, stds: pd.Series) -> list[str]:
    """``mean (sd)`` cells, with decimals for two significant digits of the smallest sd."""
    smallest = stds[stds > 0].min()
    digits = min(4, max(0, 1 - math.floor(math.log10(smallest)))) if smallest > 0 else 3
    return [
        "-" if math.isnan(mean) else f"{mean:.{digits}f} ({std:.{digits}f})"
        for mean, std in zip(means, stds, strict=True)
    ]


def format_table(results: pd.DataFrame) -> str:
    """The ranked results as a plain-text table, ``mean (sd)`` per metric."""
    level = results.attrs["coverage"]
    headers = ["rank", "loss"] + [
        f"{level:.0%} coverage" if m == "coverage" else label for m, label in METRICS.items()
    ]
    ranks = ["-" if pd.isna(rank) else str(rank) for rank in results["rank"]]
    columns = [ranks, results.index.astype(str).tolist()]
    columns += [_column(results[f"{m}_mean"], results[f"{m}_std"]) for m in METRICS]
    table = [headers, *zip(*columns, strict=True)]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def write_json(results: pd.DataFrame, path: str, description: str) -> None:
    """The results and their settings as JSON (NaN as null)."""
    records = json.loads(results.reset_index().to_json(orient="records", double_precision=15))
    payload = {
        "data": description,
        **results.attrs,
        "winner": winner(results),
        "results": records,
    }
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def winner(results: pd.DataFrame) -> str | None:
    """The loss ranked first, if any loss was fitted."""
    fitted = results["log_likelihood_mean"].notna()
    return str(results.index[fitted][0]) if fitted.any() else None


def _losses(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOSSES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown loss {', '.join(unknown) or text!r}; choose from {', '.join(LOSSES)}"
        )
    return names


def _layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(size) for size in text.split(",") if size.strip())
    except ValueError:
        layers = ()
    if not layers or min(layers) < 1:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 100 or 50,50; got {text!r}")
    return layers


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
            "per sample (the log density of y under each model's predictive distribution; the "
            "log probability of the count for poisson_nll). With no --csv, runs on "
            "scikit-learn's bundled diabetes data."
        ),
    )
    data = compare.add_argument_group("data")
    data.add_argument("--csv", metavar="PATH", help="a CSV file with a header row")
    data.add_argument("--target", metavar="COLUMN", help="the target column of --csv")
    data.add_argument("--sep", default=",", help="the column separator of --csv (default: ,)")
    fit = compare.add_argument_group("models")
    fit.add_argument(
        "--losses",
        type=_losses,
        default=list(LOSSES),
        metavar="NAMES",
        help=f"comma-separated losses to compare (default: all of {','.join(LOSSES)})",
    )
    fit.add_argument("--model", choices=sorted(MODELS), default="linear", help="(default: linear)")
    fit.add_argument("--cv", type=int, default=5, metavar="K", help="folds (default: 5)")
    fit.add_argument("--alpha", type=float, help="L2 penalty (default: the estimator's)")
    fit.add_argument("--max-iter", type=int, help="solver iterations (default: the estimator's)")
    fit.add_argument(
        "--hidden-layer-sizes",
        type=_layers,
        metavar="SIZES",
        help="MLP layer sizes, e.g. 50,50 (default: 100)",
    )
    fit.add_argument("--random-state", type=int, default=0, metavar="SEED", help="(default: 0)")
    out = compare.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write the results to this JSON file")
    out.add_argument("--plot", metavar="PATH", help="write predictions and PIT plots to this PNG")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def compare_command(args: argparse.Namespace) -> int:
    """Run ``sklik compare``; return the exit status."""
    if (args.csv is None) != (args.target is None):
        raise InputError("--csv and --target go together: give both, or neither for the default")
    if args.hidden_layer_sizes is not None and args.model != "mlp":
        raise InputError("--hidden-layer-sizes applies to --model mlp only")
    if args.plot is not None:
        try:
            import matplotlib

            matplotlib.use("Agg")
        except ImportError as exc:
            raise InputError("--plot needs matplotlib: pip install 'sklik[plot]'") from exc
    X, y, description = load_data(args.csv, args.target, args.sep)
    params = {
        "alpha": args.alpha,
        "max_iter": args.max_iter,
        "hidden_layer_sizes": args.hidden_layer_sizes,
    }
    try:
        results, predictions = compare_losses(
            X,
            y,
            losses=args.losses,
            model=args.model,
            cv=args.cv,
            random_state=args.random_state,
            estimator_params={key: value for key, value in params.items() if value is not None},
            progress=not args.quiet,
            return_predictions=True,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from exc

    estimator = MODELS[args.model].__name__
    print(
        f"sklik compare: {estimator} on {description}, {results.attrs['n_samples']} rows, "
        f"{results.attrs['n_features']} features, {results.attrs['n_splits']}-fold CV\n"
    )
    print(format_table(results))
    print(
        "\nmean (sd) over folds, on held-out data. log-lik/sample: log density of y (log "
        "probability for poisson_nll), higher is better;\nCRPS, RMSE, MAE: lower is better; "
        f"coverage: fraction inside the central {results.attrs['coverage']:.0%} interval."
    )
    notes = results["note"][results["note"] != ""]
    for name, note in notes.items():
        print(f"note: {name}: {note}")
    best = winner(results)
    if best is None:
        raise InputError("no loss could be fitted (see the notes above)")
    print(f"\nWinner: {best} (highest held-out log-likelihood per sample).")
    if args.json:
        write_json(results, args.json, description)
        print(f"Results written to {args.json}")
    if args.plot:
        plot_comparison(results, predictions).savefig(args.plot, dpi=100)
        print(f"Plot written to {args.plot}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sklik`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return compare_command(args)
    except (InputError, OSError) as exc:
        print(f"sklik {args.command}: error: {exc}", file=sys.stderr)
        return 1


def run() -> None:
    """The console script: exit with :func:`main`'s status."""
    sys.exit(main())
