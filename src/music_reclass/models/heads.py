"""Trainable classification heads on fixed-length feature vectors.

Every head is a scikit-learn :class:`~sklearn.pipeline.Pipeline`
``StandardScaler -> estimator`` whose ``classes_`` hold the string labels it was
trained on and whose ``predict_proba`` columns follow ``classes_``:

==========  ===============================================================
``logreg``  multinomial logistic regression (L2)
``svm``     RBF support-vector machine, probabilities from Platt scaling on
            cross-validated decision values (:class:`CalibratedSVMClassifier`)
``xgboost`` gradient-boosted trees; string labels encoded inside
``mlp``     PyTorch multilayer perceptron with early stopping
            (:class:`TorchMLPClassifier`)
==========  ===============================================================

>>> head = make_head("logreg", seed=0)                       # doctest: +SKIP
>>> fit_head(head, X_train, y_train, X_valid=X_valid, y_valid=y_valid)  # doctest: +SKIP
>>> head.predict_proba(X_test).sum(axis=1)                   # doctest: +SKIP
array([1., 1., ...])
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler

from music_reclass.errors import ParameterError

__all__ = [
    "HEADS",
    "CalibratedSVMClassifier",
    "TorchMLPClassifier",
    "XGBLabelClassifier",
    "fit_head",
    "make_head",
]


# --------------------------------------------------------------------------- xgboost
class XGBLabelClassifier(ClassifierMixin, BaseEstimator):
    """:class:`xgboost.XGBClassifier` that accepts string labels.

    XGBoost wants labels ``0..K-1``; this wrapper encodes them on ``fit`` and
    exposes the original labels in ``classes_``.

    Parameters
    ----------
    n_estimators, max_depth, learning_rate, subsample, colsample_bytree
        Passed to XGBoost.
    early_stopping_rounds : int
        Used only when :meth:`fit` receives a validation set.
    n_jobs : int
        XGBoost threads.
    seed : int
        ``random_state`` of XGBoost.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        subsample: float = 0.9,
        colsample_bytree: float = 0.5,
        early_stopping_rounds: int = 20,
        n_jobs: int = 1,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.seed = seed

    def fit(self, X, y, *, X_valid=None, y_valid=None) -> XGBLabelClassifier:
        from xgboost import XGBClassifier

        self.encoder_ = LabelEncoder().fit(np.asarray(y).astype(str))
        self.classes_ = self.encoder_.classes_
        y_enc = self.encoder_.transform(np.asarray(y).astype(str))
        use_valid = (X_valid is not None and y_valid is not None and len(y_valid) > 0
                     and set(np.asarray(y_valid).astype(str)) <= set(self.classes_))
        self.booster_ = XGBClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            tree_method="hist",
            n_jobs=self.n_jobs,
            random_state=self.seed,
            early_stopping_rounds=self.early_stopping_rounds if use_valid else None,
            # a single-class training set would make XGBoost switch to binary mode
            objective="multi:softprob",
            num_class=max(2, len(self.classes_)),
        )
        fit_kwargs: dict[str, Any] = {"verbose": False}
        if use_valid:
            fit_kwargs["eval_set"] = [(X_valid, self.encoder_.transform(np.asarray(y_valid).astype(str)))]
        self.booster_.fit(X, y_enc, **fit_kwargs)
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        proba = self.booster_.predict_proba(X)[:, : len(self.classes_)]
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# ------------------------------------------------------------------------------- svm
class CalibratedSVMClassifier(ClassifierMixin, BaseEstimator):
    """RBF :class:`~sklearn.svm.SVC` with Platt-scaled probabilities.

    ``CalibratedClassifierCV(SVC(), method="sigmoid", ensemble=False)``: the
    sigmoid is fitted on cross-validated decision values, then one SVC is
    refitted on all the data. The number of folds adapts to the smallest class
    (at most ``cv``, at least 2); with a class of a single example the sigmoid is
    fitted on the training decision values (over-confident, but usable).

    Parameters
    ----------
    C, gamma, kernel
        Passed to SVC.
    cv : int
        Maximum number of calibration folds.
    seed : int
    """

    def __init__(self, *, C: float = 10.0, gamma: str | float = "scale", kernel: str = "rbf",
                 cv: int = 5, seed: int = 0) -> None:
        self.C = C
        self.gamma = gamma
        self.kernel = kernel
        self.cv = cv
        self.seed = seed

    def fit(self, X, y) -> CalibratedSVMClassifier:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import SVC

        y = np.asarray(y).astype(str)
        svc = SVC(C=self.C, gamma=self.gamma, kernel=self.kernel, random_state=self.seed)
        smallest = int(np.unique(y, return_counts=True)[1].min())
        if smallest >= 2:
            folds = StratifiedKFold(min(self.cv, smallest), shuffle=True, random_state=self.seed)
            self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False)
        else:
            from sklearn.frozen import FrozenEstimator

            self.calibrated_ = CalibratedClassifierCV(FrozenEstimator(svc.fit(X, y)), method="sigmoid")
        with warnings.catch_warnings():  # "least populated class" when a class has one example
            warnings.simplefilter("ignore", UserWarning)
            self.calibrated_.fit(X, y)
        self.classes_ = self.calibrated_.classes_
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        return self.calibrated_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# ------------------------------------------------------------------------------- mlp
def _build_mlp(n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float):
    import torch.nn as nn

    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """A multilayer perceptron in PyTorch with the scikit-learn estimator API.

    Trained with AdamW on cross-entropy, in mini-batches, keeping the weights of
    the epoch with the lowest validation loss (early stopping). The validation
    data is the ``X_valid``/``y_valid`` given to :meth:`fit`, or else a stratified
    ``validation_fraction`` slice held out of the training data.

    Deterministic for a given ``seed`` on CPU. Pickles without torch objects
    (weights are stored as numpy arrays), so joblib files stay portable.

    Parameters
    ----------
    hidden : tuple of int
        Widths of the hidden layers.
    dropout : float
        Dropout after each hidden layer.
    lr, weight_decay : float
        AdamW settings.
    batch_size : int
    max_epochs : int
    patience : int
        Epochs without validation improvement before stopping.
    validation_fraction : float
        Share of the training data held out when no validation set is given
        (0 disables early stopping: all ``max_epochs`` are run).
    n_threads : int or None
        ``torch.set_num_threads`` during fit/predict (restored afterwards);
        ``None`` leaves torch's setting alone.
    seed : int
    """

    def __init__(
        self,
        *,
        hidden: tuple[int, ...] = (256,),
        dropout: float = 0.3,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 15,
        validation_fraction: float = 0.15,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_threads = n_threads
        self.seed = seed

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X, y, *, X_valid=None, y_valid=None) -> TorchMLPClassifier:
        import torch

        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).astype(str)
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise ParameterError(f"X must be 2-D with one row per label, got {X.shape} and {len(y)} labels")
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        self.n_features_in_ = X.shape[1]
        y_enc = self.encoder_.transform(y)
        X_train, y_train, X_val, y_val = self._validation_data(X, y_enc, X_valid, y_valid)

        with _torch_threads(self.n_threads):
            torch.manual_seed(self.seed)
            generator = torch.Generator().manual_seed(self.seed)
            net = _build_mlp(X.shape[1], tuple(self.hidden), len(self.classes_), self.dropout)
            optimiser = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            loss_fn = torch.nn.CrossEntropyLoss()
            xt, yt = torch.from_numpy(X_train), torch.from_numpy(y_train.astype(np.int64))
            xv = torch.from_numpy(X_val) if X_val is not None else None
            yv = torch.from_numpy(y_val.astype(np.int64)) if y_val is not None else None
            best_loss, best_state, waited = np.inf, None, 0
            self.loss_curve_: list[float] = []
            self.validation_curve_: list[float] = []
            for _epoch in range(self.max_epochs):
                net.train()
                order = torch.randperm(len(xt), generator=generator)
                total = 0.0
                for start in range(0, len(xt), self.batch_size):
                    batch = order[start : start + self.batch_size]
                    optimiser.zero_grad()
                    loss = loss_fn(net(xt[batch]), yt[batch])
                    loss.backward()
                    optimiser.step()
                    total += float(loss.detach()) * len(batch)
                self.loss_curve_.append(total / len(xt))
                if xv is None:
                    continue
                net.eval()
                with torch.no_grad():
                    val_loss = float(loss_fn(net(xv), yv))
                self.validation_curve_.append(val_loss)
                if val_loss < best_loss - 1e-6:
                    best_loss, waited = val_loss, 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
            if best_state is not None:
                net.load_state_dict(best_state)
            net.eval()
        self.n_epochs_ = len(self.loss_curve_)
        self.net_ = net
        return self

    def _validation_data(self, X, y_enc, X_valid, y_valid):
        if X_valid is not None and y_valid is not None and len(y_valid) > 0:
            y_valid = np.asarray(y_valid).astype(str)
            known = np.isin(y_valid, self.classes_)  # unseen classes cannot be scored
            if known.any():
                return (X, y_enc, np.asarray(X_valid, dtype=np.float32)[known],
                        self.encoder_.transform(y_valid[known]))
        if not 0.0 < self.validation_fraction < 1.0 or len(X) < 10:
            return X, y_enc, None, None
        rng = np.random.default_rng(self.seed)
        held = np.zeros(len(X), dtype=bool)
        for label in np.unique(y_enc):  # stratified: every class keeps training rows
            rows = np.flatnonzero(y_enc == label)
            n_held = int(round(len(rows) * self.validation_fraction))
            if len(rows) - n_held >= 1 and n_held >= 1:
                held[rng.choice(rows, n_held, replace=False)] = True
        if not held.any():
            return X, y_enc, None, None
        return X[~held], y_enc[~held], X[held], y_enc[held]

    # -- prediction -------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        import torch

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[-1]} features, the MLP expects {self.n_features_in_}")
        with _torch_threads(self.n_threads), torch.no_grad():
            logits = self.net_(torch.from_numpy(np.ascontiguousarray(X)))
            return torch.softmax(logits, dim=1).double().numpy()

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # -- pickling: numpy weights, no torch objects ---------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        net = state.pop("net_", None)
        if net is not None:
            state["_weights"] = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights = state.pop("_weights", None)
        self.__dict__.update(state)
        if weights is not None:
            import torch

            net = _build_mlp(self.n_features_in_, tuple(self.hidden), len(self.classes_), self.dropout)
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
            net.eval()
            self.net_ = net


class _torch_threads:
    """Context manager: ``torch.set_num_threads(n)`` inside, the old value restored after."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.old: int | None = None

    def __enter__(self) -> None:
        if self.n is not None:
            import torch

            self.old = torch.get_num_threads()
            torch.set_num_threads(int(self.n))

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            import torch

            torch.set_num_threads(self.old)


# ---------------------------------------------------------------------------- factory
def _logreg(seed: int, **params: Any):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"C": 1.0, "max_iter": 3000, "random_state": seed, **params})


def _svm(seed: int, **params: Any):
    return CalibratedSVMClassifier(seed=seed, **params)


def _xgboost(seed: int, **params: Any):
    return XGBLabelClassifier(seed=seed, **params)


def _mlp(seed: int, **params: Any):
    return TorchMLPClassifier(seed=seed, **params)


#: head name -> factory(seed, **params) of the final estimator
HEADS: dict[str, Callable[..., Any]] = {
    "logreg": _logreg,
    "svm": _svm,
    "xgboost": _xgboost,
    "mlp": _mlp,
}


def make_head(name: str, *, seed: int = 0, **params: Any) -> Pipeline:
    """A new, unfitted classification head.

    Parameters
    ----------
    name : {"logreg", "svm", "xgboost", "mlp"}
    seed : int
        Random seed of the estimator (results are reproducible for a given seed).
    **params
        Passed to the estimator (``C=...`` for logreg/svm, ``n_estimators=...`` for
        xgboost, ``hidden=(512, 128)``, ``n_threads=1``... for mlp).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``("scale", StandardScaler())`` and ``("clf", estimator)``.

    Raises
    ------
    ParameterError
        Unknown head name or parameter.
    """
    if name not in HEADS:
        raise ParameterError(f"unknown model {name!r}; use one of {', '.join(HEADS)}")
    try:
        estimator = HEADS[name](seed, **params)
    except TypeError as exc:
        raise ParameterError(f"bad parameter for {name}: {exc}") from exc
    return Pipeline([("scale", StandardScaler()), ("clf", estimator)])


def fit_head(head: Pipeline, X, y, *, X_valid=None, y_valid=None) -> Pipeline:
    """Fit a head; its validation data (if any) is scaled like the training data.

    Heads that can use a validation set (``mlp`` for early stopping, ``xgboost``
    for early stopping) receive it; the others ignore it.

    Parameters
    ----------
    head : Pipeline
        From :func:`make_head`.
    X : np.ndarray [shape=(n, d)]
    y : array of str [shape=(n,)]
    X_valid, y_valid : optional
        Validation data.

    Returns
    -------
    Pipeline
        ``head``, fitted.
    """
    X = np.asarray(X)
    y = np.asarray(y).astype(str)
    if X.ndim != 2 or len(X) != len(y):
        raise ParameterError(f"X must be 2-D with one row per label, got {X.shape} and {len(y)} labels")
    if len(np.unique(y)) < 2:
        raise ParameterError("training needs at least two classes")
    if not np.all(np.isfinite(X)):
        raise ParameterError("X contains NaN or infinite values")
    estimator = head.steps[-1][1]
    takes_valid = isinstance(estimator, TorchMLPClassifier | XGBLabelClassifier)
    if not takes_valid or X_valid is None or y_valid is None or len(y_valid) == 0:
        head.fit(X, y)
        return head
    scaler = head.steps[0][1].fit(X)
    estimator.fit(scaler.transform(X), y, X_valid=scaler.transform(np.asarray(X_valid)),
                  y_valid=np.asarray(y_valid).astype(str))
    return head
