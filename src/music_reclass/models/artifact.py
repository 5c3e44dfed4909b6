"""A trained model on disk: the estimator file and its JSON sidecar.

Layout (one model = two files side by side)::

    genres.safetensors          the fitted head, as data only (see below)
    genres.safetensors.json     the sidecar: what the model is, how it was made, how good it is

The model file holds no code: every array of the fitted head is a tensor of a
safetensors file and its structure is JSON (:mod:`music_reclass.models.headio`; an
XGBoost booster in XGBoost's own JSON model format). Loading rebuilds only the
scikit-learn estimators and heads a model is made of: a file naming anything else is
refused, so loading a model never runs code from the file, whoever wrote it.

The sidecar, like Essentia's model JSON files, says which features the model
expects (name, version, dimension, sample rate), its classes in output order,
how it was trained (dataset, split, sizes, seed, class counts), its metrics,
the library versions, and the sha256 of the model file. :func:`load_model`
refuses a model whose sidecar is missing or whose file does not match the
recorded sha256 (damaged or edited after training), and
:meth:`ModelArtifact.predict_proba` refuses features other than the ones the
model was trained on.

Sidecar schema (``format_version`` 1)::

    {
      "format_version": 1,
      "kind": "head",
      "name": "gtzan-musicnn-logreg",
      "model_type": "logreg",
      "model_file": "genres.safetensors",
      "serialization": "safetensors",
      "classes": ["blues", "classical", ...],
      "feature": {"name": "musicnn", "version": "1+...", "dim": 500, "sample_rate": 16000},
      "training": {"dataset": "gtzan", "dataset_path": "...", "split": "artist",
                   "split_note": "...", "n_train": 28, "n_valid": 0, "n_test": 12, "seed": 0,
                   "class_counts": {"train": {...}, "valid": {...}, "test": {...}},
                   "params": {...}, "train_seconds": 0.4},
      "metrics": {"valid": {"accuracy": ..., "balanced_accuracy": ..., "macro_f1": ..., "ece": ...},
                  "test": {...}},
      "versions": {"music_reclass": "0.1.0", "sklearn": "...", "torch": "...", "xgboost": "...",
                   "numpy": "...", "python": "..."},
      "created_at": "2026-11-24T10:00:00+00:00",
      "sha256": "<hex digest of the model file>"
    }

Older models (``"serialization": "joblib"``) are pickles: loading one can run code
from it, so :func:`load_model` refuses them unless trusted explicitly
(``trust_pickle=True``, or ``RECLASS_TRUST_PICKLE=1`` in the environment), and then
warns (:class:`PickleTrustWarning`). Retrain such a model, or load it once trusted and
save it again (:func:`save_model` writes the data-only format).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import FeatureMismatchError, ModelError, ParameterError

__all__ = [
    "FORMAT_VERSION",
    "TRUST_PICKLE_ENV",
    "LibraryVersionWarning",
    "PickleTrustWarning",
    "ModelArtifact",
    "compare_library_versions",
    "library_versions",
    "load_model",
    "save_model",
    "sha256_file",
    "sidecar_path",
]

FORMAT_VERSION = 1
#: Environment variable that lets :func:`load_model` unpickle an old ``.joblib`` model.
TRUST_PICKLE_ENV = "RECLASS_TRUST_PICKLE"
#: Libraries whose saved estimators are only trusted under the same major.minor version.
_PICKLE_LIBRARIES = ("sklearn", "xgboost")
_REQUIRED_KEYS = ("format_version", "name", "classes", "feature", "sha256")


def sidecar_path(path: str | os.PathLike) -> Path:
    """The sidecar of a model file: its name with ``.json`` appended
    (``genres.joblib`` -> ``genres.joblib.json``)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries a model file depends on (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    import music_reclass

    out: dict[str, str | None] = {"music_reclass": music_reclass.__version__,
                                  "python": platform.python_version()}
    for key, dist in (("sklearn", "scikit-learn"), ("torch", "torch"), ("xgboost", "xgboost"),
                      ("numpy", "numpy"), ("joblib", "joblib")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = None
    return out


class PickleTrustWarning(UserWarning):
    """An old pickled model was loaded because it was trusted explicitly."""


class LibraryVersionWarning(UserWarning):
    """A model was saved under another major.minor of a library it is pickled with."""


def _major_minor(text: str) -> tuple[str, ...]:
    return tuple(str(text).split(".")[:2])


def compare_library_versions(
    recorded: Mapping[str, Any] | None, installed: Mapping[str, Any] | None = None
) -> list[str]:
    """Pickled libraries whose major.minor differs between training and now.

    Parameters
    ----------
    recorded : mapping
        The sidecar's ``versions``.
    installed : mapping, optional
        Default :func:`library_versions`.

    Returns
    -------
    list of str
        ``"scikit-learn 1.5.2 (model) != 1.6.0 (installed)"`` per mismatch; only
        libraries known on both sides are compared.
    """
    recorded = recorded or {}
    installed = library_versions() if installed is None else installed
    names = {"sklearn": "scikit-learn", "xgboost": "xgboost"}
    mismatches = []
    for key in _PICKLE_LIBRARIES:
        then, now = recorded.get(key), installed.get(key)
        if then and now and _major_minor(then) != _major_minor(now):
            mismatches.append(f"{names[key]} {then} (model) != {now} (installed)")
    return mismatches


@dataclass
class ModelArtifact:
    """A fitted estimator and its sidecar metadata.

    Parameters
    ----------
    estimator : object
        Fitted, with ``predict_proba`` and ``classes_`` (see :mod:`.heads`).
    meta : dict
        Sidecar content. :func:`save_model` fills ``format_version``, ``classes``,
        ``versions``, ``created_at``, ``sha256`` and ``model_file``; the caller
        gives at least ``name`` and ``feature`` (``{"name", "version", "dim",
        "sample_rate"}``).
    path : Path or None
        Where the artifact was loaded from or saved to.
    version_mismatches : list of str
        Set by :func:`load_model`: the pickled libraries (scikit-learn, xgboost) whose
        installed major.minor differs from the one the model was saved with.
    """

    estimator: Any
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    version_mismatches: list[str] = field(default_factory=list)

    # -- what the model is ------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.meta.get("name", "model"))

    @property
    def classes(self) -> list[str]:
        """Class labels in ``predict_proba`` column order."""
        return [str(c) for c in self.estimator.classes_]

    @property
    def feature(self) -> dict[str, Any]:
        """``{"name", "version", "dim", "sample_rate"}`` of the features the model expects."""
        feature = self.meta.get("feature")
        if not isinstance(feature, Mapping) or "name" not in feature:
            raise ModelError(f"model {self.name!r}: sidecar has no feature description")
        return dict(feature)

    @property
    def feature_extractor(self) -> str:
        """Registry name of the feature extractor (``"musicnn"``...)."""
        return str(self.feature["name"])

    @property
    def model_id(self) -> str:
        """Name plus the first 12 hex digits of the model file's sha256: changes with
        every retraining, so library analyses of different models never mix."""
        digest = str(self.meta.get("sha256") or "unsaved")[:12]
        return f"{self.name}@{digest}"

    def __repr__(self) -> str:
        f = self.meta.get("feature", {})
        return (f"<ModelArtifact {self.name!r}: {len(self.classes)} classes, "
                f"features {f.get('name')} v{f.get('version')} ({f.get('dim')} dims)>")

    # -- guarding against the wrong features --------------------------------------------
    def check_features(self, name: str, version: str | None = None, dim: int | None = None) -> None:
        """Raise :class:`FeatureMismatchError` unless the features are the trained ones.

        Parameters
        ----------
        name : str
            Extractor name.
        version : str, optional
            Extractor version (not compared when None).
        dim : int, optional
            Vector length (not compared when None).
        """
        expected = self.feature
        problems = []
        if name != expected.get("name"):
            problems.append("name")
        if version is not None and str(version) != str(expected.get("version")):
            problems.append("version")
        if dim is not None and expected.get("dim") is not None and int(dim) != int(expected["dim"]):
            problems.append("dim")
        if problems:
            got_version = f" v{version}" if version is not None else ""
            got_dim = f" ({dim} dims)" if dim is not None else ""
            raise FeatureMismatchError(
                f"model {self.name} was trained on {expected.get('name')} v{expected.get('version')} "
                f"({expected.get('dim')} dims) but got {name}{got_version}{got_dim}")

    def check_extractor(self, extractor: Any) -> None:
        """:meth:`check_features` for a :class:`~music_reclass.features.FeatureExtractor`."""
        self.check_features(extractor.name, extractor.version, extractor.dim)

    # -- prediction ---------------------------------------------------------------------
    def predict_proba(self, X: np.ndarray, *, feature: tuple[str, str] | None = None) -> np.ndarray:
        """Class probabilities, one row per row of ``X``, columns in :attr:`classes` order.

        Parameters
        ----------
        X : np.ndarray [shape=(n, dim)]
        feature : (name, version), optional
            What ``X`` is; checked against the sidecar. The width of ``X`` is
            always checked.

        Raises
        ------
        FeatureMismatchError
            Other features than the model was trained on.
        """
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2:
            raise ParameterError(f"X must be 2-D, got shape {X.shape}")
        if feature is not None:
            name, version = feature
            self.check_features(name, version, X.shape[1])
        else:
            self.check_features(self.feature["name"], None, X.shape[1])
        return np.asarray(self.estimator.predict_proba(X), dtype=np.float64)

    def predict(self, X: np.ndarray, *, feature: tuple[str, str] | None = None) -> np.ndarray:
        """Most probable class of each row."""
        proba = self.predict_proba(X, feature=feature)
        return np.asarray(self.classes)[np.argmax(proba, axis=1)]


def save_model(artifact: ModelArtifact, path: str | os.PathLike) -> Path:
    """Write the model file (data only: safetensors + JSON) and its sidecar ``<path>.json``.

    Both are written to temporary names and renamed into place, the sidecar last,
    so a crash never leaves a sidecar describing another file.

    Parameters
    ----------
    artifact : ModelArtifact
    path : path-like
        Model file to write (``.safetensors`` suggested); must not end in ``.json``.

    Returns
    -------
    Path
        The sidecar path. ``artifact.meta`` and ``artifact.path`` are updated.
    """
    from music_reclass.models.headio import save_head

    path = Path(path)
    if path.suffix.lower() == ".json":
        raise ParameterError(f"model path must not end in .json (that is the sidecar): {path}")
    if not hasattr(artifact.estimator, "predict_proba") or not hasattr(artifact.estimator, "classes_"):
        raise ParameterError("the estimator must be fitted and have predict_proba and classes_")
    feature = artifact.meta.get("feature")
    if not isinstance(feature, Mapping) or not {"name", "version", "dim"} <= set(feature):
        raise ParameterError("artifact.meta['feature'] needs name, version and dim")
    path.parent.mkdir(parents=True, exist_ok=True)
    model_tmp = _temp_name(path)
    try:
        save_head(artifact.estimator, model_tmp)
        digest = sha256_file(model_tmp)
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "head",
            "name": artifact.meta.get("name") or path.stem,
            **{k: v for k, v in artifact.meta.items()
               if k not in ("format_version", "name", "kind")},
            "model_file": path.name,
            "serialization": "safetensors",
            "classes": [str(c) for c in artifact.estimator.classes_],
            "versions": library_versions(),
            "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "sha256": digest,
        }
        text = json.dumps(_jsonable(meta), indent=2, ensure_ascii=False) + "\n"
        side_tmp = _temp_name(sidecar_path(path))
        side_tmp.write_text(text, encoding="utf-8")
        os.replace(model_tmp, path)
        os.replace(side_tmp, sidecar_path(path))
    finally:
        for leftover in (model_tmp,):
            leftover.unlink(missing_ok=True)
    artifact.meta = meta
    artifact.path = path
    return sidecar_path(path)


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of model file ``path``, checked for the required keys.

    Raises
    ------
    ModelError
        Sidecar missing, not JSON, of an unknown format version or incomplete.
    """
    side = sidecar_path(path)
    if not side.is_file():
        raise ModelError(f"model sidecar missing: {side} (every model file needs its .json sidecar)")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model sidecar {side.name} is not readable JSON: {exc}") from exc
    except RecursionError as exc:  # e.g. [[[[...]]]] 100,000 deep
        raise ModelError(f"model sidecar {side.name}: JSON nested too deeply") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"model sidecar {side.name} must hold a JSON object")
    missing = [k for k in _REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(f"model sidecar {side.name} lacks {', '.join(missing)}")
    if meta["format_version"] != FORMAT_VERSION:
        raise ModelError(f"model sidecar {side.name} has format_version {meta['format_version']!r}; "
                         f"this version of music_reclass reads {FORMAT_VERSION}")
    return meta


def load_model(path: str | os.PathLike, *, trust_pickle: bool | None = None) -> ModelArtifact:
    """Load a model saved by :func:`save_model`, after checking it.

    Parameters
    ----------
    path : path-like
        The model file (its sidecar is ``<path>.json``).
    trust_pickle : bool, optional
        Allow an old pickled (``joblib``) model, which can run code while it loads.
        Default: only when ``RECLASS_TRUST_PICKLE=1``. Data-only models need no trust.

    Returns
    -------
    ModelArtifact
        With ``version_mismatches`` filled.

    Raises
    ------
    ModelError
        Model file or sidecar missing, sidecar invalid, sha256 mismatch (the file was
        changed or damaged after training), a pickled model not trusted, loading
        failed, or the estimator's classes differ from the sidecar's.

    Warns
    -----
    PickleTrustWarning
        A pickled model was loaded because it was trusted.
    LibraryVersionWarning
        The installed scikit-learn or xgboost differs in major.minor from the one
        the model was saved with: unpickling may then give wrong results silently.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    meta = read_sidecar(path)
    actual = sha256_file(path)
    if actual != str(meta["sha256"]).lower():
        raise ModelError(
            f"model file {path.name} does not match its sidecar: sha256 {actual[:12]}... "
            f"!= {str(meta['sha256'])[:12]}... (modified or damaged after training; retrain it)")
    mismatches = compare_library_versions(meta.get("versions"))
    if mismatches:
        warnings.warn(
            f"model {path.name} was saved under other library versions ("
            + "; ".join(mismatches)
            + "): its predictions may be wrong; retrain it or install those versions",
            LibraryVersionWarning,
            stacklevel=2,
        )
    estimator = _load_estimator(path, meta, trust_pickle)
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    if classes != [str(c) for c in meta["classes"]]:
        raise ModelError(f"model file {path.name}: classes {classes} differ from the sidecar's")
    return ModelArtifact(estimator, meta, path, version_mismatches=mismatches)


def _load_estimator(path: Path, meta: dict[str, Any], trust_pickle: bool | None) -> Any:
    serialization = meta.get("serialization", "joblib")
    if serialization == "safetensors":
        from music_reclass.models.headio import load_head

        return load_head(path)
    if serialization != "joblib":
        raise ModelError(f"model file {path.name}: unknown serialization {serialization!r}")
    if trust_pickle is None:
        trust_pickle = os.environ.get(TRUST_PICKLE_ENV, "").strip().lower() in (
            "1", "true", "yes", "on")
    if not trust_pickle:
        raise ModelError(
            f"model file {path.name} is a pickle (an older music_reclass format): loading it "
            f"could run code from the file. Retrain it, or, only if you made it yourself, "
            f"load it with {TRUST_PICKLE_ENV}=1")
    warnings.warn(f"loading the pickled model {path.name} because it is trusted "
                  f"({TRUST_PICKLE_ENV}): a pickle can run code while it loads",
                  PickleTrustWarning, stacklevel=3)
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - unpickling can raise anything
        raise ModelError(f"cannot load model file {path.name}: {type(exc).__name__}: {exc}") from exc


# ------------------------------------------------------------------------------ helpers
def _temp_name(path: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    return Path(name)


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays, paths and tuples -> plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
