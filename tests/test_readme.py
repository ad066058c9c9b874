"""The README's Python snippets, run as written on suitable data, do what their comments say."""

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _namespace() -> dict:
    """The names the snippets use, bound to data of the kind each comment describes."""
    rng = np.random.default_rng(0)
    n, p = 300, 3
    X = rng.normal(size=(n, p))
    y = 2.0 + X @ [1.0, -0.5, 0.25] + (0.5 + 0.5 * np.abs(X[:, 0])) * rng.normal(size=n)
    exposure = rng.uniform(0.5, 3.0, n)
    counts = rng.poisson(exposure * np.exp(0.2 + X @ [0.3, -0.2, 0.1])).astype(float)
    categories = rng.integers(0, 30, size=n)
    X_csr = sp.csr_matrix((np.ones(n), (np.arange(n), categories)), shape=(n, 30))
    return {
        "np": np,
        "X": X,
        "y": y,
        "y_counts": rng.poisson(np.exp(0.5 + X @ [0.3, -0.2, 0.1])).astype(float),
        "y_positive": np.exp(0.2 * y),
        "counts": counts,
        "exposure": exposure,
        "exposure_new": exposure[:5],
        "X_new": X[:5],
        "X_test": X[:100],
        "y_test": y[:100],
        "X_csr": X_csr,
    }


@pytest.fixture(scope="module")
def namespace(tmp_path_factory):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    return _namespace()


def _run(index: int, namespace: dict, monkeypatch, tmp_path) -> dict:
    monkeypatch.chdir(tmp_path)  # plot_comparison(...).savefig("compare.png")
    code = (
        "\n".join(
            line[2:] if line.startswith("  ") else line for line in BLOCKS[index].splitlines()
        )
        if BLOCKS[index].startswith("  ")
        else BLOCKS[index]
    )
    exec(compile(code, f"README block {index}", "exec"), namespace)
    return namespace


def test_every_snippet_but_the_cluster_one_is_checked():
    assert len(BLOCKS) == 8
    assert "da.from_zarr" in BLOCKS[7]  # needs zarr stores and a cluster: tests/test_dask.py


def test_compare_snippet(namespace, monkeypatch, tmp_path):
    ns = _run(0, dict(namespace), monkeypatch, tmp_path)
    assert ns["results"].attrs["scale"] == "density"
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_estimators_snippet(namespace, monkeypatch, tmp_path):
    ns = _run(1, dict(namespace), monkeypatch, tmp_path)
    assert np.all(ns["count_model"].predict(ns["X_new"]) > 0)  # the rate
    mean, std = ns["mean"], ns["std"]
    assert mean.shape == std.shape == (5,) and np.all(std > 0)
    assert ns["search"].best_params_["loss__delta"] in (0.5, 1.0, 2.0)


def test_glm_snippet(namespace, monkeypatch, tmp_path):
    ns = dict(namespace)
    _run(1, ns, monkeypatch, tmp_path)  # its imports
    _run(2, ns, monkeypatch, tmp_path)
    glm, X, counts, exposure = ns["glm"], ns["X"], ns["counts"], ns["exposure"]
    expected = glm.predict(ns["X_new"], offset=np.log(ns["exposure_new"]))
    np.testing.assert_allclose(expected, glm.predict(ns["X_new"]) * ns["exposure_new"])
    sm = pytest.importorskip("statsmodels.api")
    ref = sm.GLM(counts, sm.add_constant(X), family=sm.families.Poisson(), exposure=exposure)
    loglik = glm.log_likelihood(X, counts, offset=np.log(exposure))
    assert loglik == pytest.approx(ref.fit().llf, rel=1e-8)
    assert np.any(ns["sparse_fit"].coef_ == 0.0)  # exact zeros


def test_distribution_snippets(namespace, monkeypatch, tmp_path):
    ns = dict(namespace)
    _run(1, ns, monkeypatch, tmp_path)
    _run(3, ns, monkeypatch, tmp_path)
    assert np.all(ns["low"] < ns["high"])
    _run(4, ns, monkeypatch, tmp_path)
    low, high = ns["low"], ns["high"]
    assert np.all((0 < low) & (low < high))  # exp of a log-scale interval: positive


def test_inference_snippet(namespace, monkeypatch, tmp_path):
    ns = dict(namespace)
    _run(1, ns, monkeypatch, tmp_path)
    _run(5, ns, monkeypatch, tmp_path)
    table = ns["est"].coef_table(ns["X"], ns["counts"], offset=np.log(ns["exposure"]))
    assert {"coef", "se", "z", "p_value", "ci_lower", "ci_upper"} <= set(table.columns)
    assert table.index[0] == "intercept"
    dist = ns["ols"].predict_dist(ns["X_new"])
    assert dist.dist.name == "t"  # noise plus coefficient uncertainty
    assert ns["ols"].predict_dist(ns["X_new"], uncertainty="noise").dist.name == "norm"


def test_losses_snippet(namespace, monkeypatch, tmp_path):
    ns = _run(6, dict(namespace), monkeypatch, tmp_path)
    assert ns["loss"]([0.5, 3.0], [0.0, 0.0]) == 2.0625
