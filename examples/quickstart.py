"""Quick start: one linear model per likelihood on the diabetes data.

Fits ``sklik.LinearRegressor`` with each of PyTorch's six regression losses on scikit-learn's
bundled diabetes dataset (in a ``StandardScaler`` pipeline), and reports on a held-out split the
mean loss (the same number ``torch.nn.<Loss>`` would give), RMSE, MAE, and the mean predictive
standard deviation from ``predict(X, return_std=True)``.

Run: ``python examples/quickstart.py``
"""

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklik import LinearRegressor
from sklik.losses import LOSSES

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
print(f"Diabetes data: {len(y_train)} training rows, {len(y_test)} held out.\n")
print(f"{'loss':<14}{'held-out loss':>15}{'RMSE':>9}{'MAE':>9}{'mean std':>10}{'solver iters':>14}")

for name, loss_cls in LOSSES.items():
    model = make_pipeline(StandardScaler(), LinearRegressor(name)).fit(X_train, y_train)
    mean, std = model.predict(X_test, return_std=True)
    est = model[-1]
    # the torch loss of the held-out raw predictions: log rate for Poisson, mean and variance for
    # the Gaussian NLL, the prediction itself otherwise
    if name == "gaussian_nll":
        held_out = loss_cls()(mean, y_test, std**2)
    elif name == "poisson_nll":
        held_out = loss_cls()(np.log(mean), y_test)
    else:
        held_out = loss_cls()(mean, y_test)
    rmse = np.sqrt(np.mean((mean - y_test) ** 2))
    mae = np.mean(np.abs(mean - y_test))
    print(
        f"{name:<14}{held_out:>15.3f}{rmse:>9.2f}{mae:>9.2f}{std.mean():>10.2f}{est.n_iter_:>14d}"
    )
