"""The ``mlp`` head: a multilayer perceptron in PyTorch with the scikit-learn API.

:class:`TorchMLPClassifier` trains with AdamW and early stopping on a validation set
and pickles (and saves, :mod:`music_reclass.models.headio`) without torch objects.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from music_reclass.models.head_data import fit_data, validation_rows

__all__ = ["TorchMLPClassifier"]


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

        X, y = fit_data(self, X, y, dtype=np.float32)
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
        valid = validation_rows(self, X_valid, y_valid, dtype=np.float32)
        if valid is not None:
            return X, y_enc, valid[0], valid[1]
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
        """Class probabilities [shape=(n, len(classes_))], columns in ``classes_`` order."""
        import torch

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        with _torch_threads(self.n_threads), torch.no_grad():
            logits = self.net_(torch.from_numpy(np.ascontiguousarray(X)))
            return torch.softmax(logits, dim=1).double().numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable label of each row."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]

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
