"""Dask input on dask's local scheduler (no distributed client): out of core on one machine.

The design is streamed from its source on every pass, never persisted in the fitting
process; a parquet data set's columns are fitted as they are read.
"""

import tracemalloc

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")
import pandas as pd  # noqa: E402

from sklik import LinearRegressor, _dask  # noqa: E402

# dask's parquet reader on pandas 3 (not sklik's to fix)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")


@pytest.fixture(autouse=True)
def no_client():
    if _dask._client() is not None:
        pytest.skip("a distributed client is active: this module tests the local scheduler")


def test_parquet_columns(tmp_path):
    # df[columns] and df[column] of a parquet data set: dask fuses the partitions of a
    # column projection (dask issue 12411: to_dask_array(lengths=True) fails on them)
    rng = np.random.default_rng(0)
    features = ["a", "b", "c"]
    for i in range(6):
        X = rng.normal(size=(700 + 50 * i, 3))
        exposure = rng.uniform(0.1, 1.0, size=X.shape[0])
        y = rng.poisson(exposure * np.exp(0.2 + X @ [0.3, -0.2, 0.1]))
        part = pd.DataFrame(X, columns=features).assign(exposure=exposure, y=y)
        part.to_parquet(tmp_path / f"part.{i}.parquet", index=False)
    df = dd.read_parquet(tmp_path)
    est = LinearRegressor("poisson_nll", alpha=1e-3)
    est.fit(df[features], df["y"], offset=np.log(df["exposure"]))
    frame = pd.read_parquet(tmp_path)
    mem = LinearRegressor("poisson_nll", alpha=1e-3)
    mem.fit(frame[features], frame["y"], offset=np.log(frame["exposure"]))
    assert est.objective_ == pytest.approx(mem.objective_, rel=1e-12)
    np.testing.assert_allclose(est.coef_, mem.coef_, rtol=1e-9, atol=1e-12)
    assert list(est.feature_names_in_) == features
    pred = est.predict(df[features])
    np.testing.assert_allclose(pred.compute(), mem.predict(frame[features]), rtol=1e-9)


def test_local_scheduler_streams_the_design(monkeypatch):
    # without a client, "auto" never persists: the persisted design would live in this
    # process, and the fit's peak memory is that of a few chunks, not of the design
    persisted = []
    monkeypatch.setattr(_dask.dask, "persist", lambda *a, **k: persisted.append(a) or a)
    assert _dask._available_memory() == 0.0
    n, p, chunk = 400_000, 20, 12_500  # a 64 MB design in 2 MB chunks
    X = da.random.RandomState(0).normal(size=(n, p), chunks=(chunk, p))
    y = da.random.RandomState(1).poisson(1.0, size=n, chunks=chunk).astype(float)
    est = LinearRegressor("poisson_nll", alpha=1e-3)
    tracemalloc.start()
    try:
        est.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not persisted
    assert peak < 0.3 * X.nbytes, f"the fit allocated {peak / 1e6:.0f} MB"
    assert est.n_iter_ <= 10
