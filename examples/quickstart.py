"""Quick start: PyTorch's six regression losses, evaluated with sklik on the diabetes data.

Fits an ordinary scikit-learn ``Ridge`` on scikit-learn's bundled diabetes dataset and scores its
held-out predictions with every loss in ``sklik.losses`` — the same numbers PyTorch would give —
together with each loss's best constant prediction (the intercept an estimator starts from).

Run: ``python examples/quickstart.py``
"""

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

from sklik.losses import LOSSES

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
y_pred = Ridge(alpha=0.1).fit(X_train, y_train).predict(X_test)

print(f"Ridge on the diabetes data: {len(y_train)} training rows, {len(y_test)} held out.\n")
print(f"{'loss':<14}{'held-out mean loss':>20}{'best constant':>16}")
for name, cls in LOSSES.items():
    loss = cls()
    if name == "gaussian_nll":
        # the residual variance of the training fit as a constant predicted variance
        var = float(np.var(y_train - Ridge(alpha=0.1).fit(X_train, y_train).predict(X_train)))
        value = loss(y_pred, y_test, var)
    elif name == "poisson_nll":
        value = loss(np.log(np.clip(y_pred, 1e-3, None)), y_test)  # log-rate input
    else:
        value = loss(y_pred, y_test)
    best = loss.inverse_link(loss.init_raw(y_train)[:, np.newaxis])[0]
    print(f"{name:<14}{value:>20.4f}{best:>16.2f}")
