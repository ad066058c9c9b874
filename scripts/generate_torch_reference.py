"""Regenerate tests/data/torch_reference.npz: torch 2.13's values and gradients on every case.

Run from the repository root after changing ``tests/torch_cases.py``::

    python scripts/generate_torch_reference.py

The parity test ``tests/test_torch_parity.py`` then checks sklik against the file without torch,
and fails if the file's case ids no longer match ``build_cases()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402
from torch_cases import (  # noqa: E402
    REFERENCE_PATH,
    TORCH_SERIES,
    build_cases,
    save_reference,
    torch_result,
)


def main() -> None:
    if not torch.__version__.startswith(TORCH_SERIES):
        raise SystemExit(
            f"torch {TORCH_SERIES}x is the reference; this is torch {torch.__version__}."
        )
    cases = build_cases()
    results = [torch_result(case) for case in cases]
    save_reference(REFERENCE_PATH, cases, results, torch.__version__)
    size_kib = REFERENCE_PATH.stat().st_size / 1024
    print(
        f"wrote {len(cases)} cases (torch {torch.__version__}) to {REFERENCE_PATH} "
        f"({size_kib:.1f} KiB)"
    )


if __name__ == "__main__":
    main()
