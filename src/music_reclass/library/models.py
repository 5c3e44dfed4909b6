"""Which model a job uses: the library's active model, a short name, or a model file.

Every stored result names the model that made it. ``list``, ``tag``, ``organise`` and
the web UI show ONE model's results, the library's *active model*: the embedded default
until another is chosen (``reclass models --use NAME``) or learnt from the library.

A model is named by:

- ``default`` (or ``musicnn``): the embedded zero-shot model, default taxonomy;
- a taxonomy name or file with the embedded model: ``gtzan`` (``--taxonomy gtzan``);
- the progressive cascade of the embedded models (``--cascade``), listed as ``cascade``
  (default taxonomy) or ``cascade-<taxonomy>``;
- a model file (``my-model.joblib``, a deep model's ``.safetensors``);
- the short name or id prefix of a model the library has used (``reclass models``).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from music_reclass.errors import ParameterError
from music_reclass.store import models as store_models
from music_reclass.taxonomy import BUILTIN_TAXONOMIES

__all__ = ["ACTIVE_KEY", "DEFAULT_NAMES", "ModelSpec", "active_spec", "load_spec", "parse_spec",
           "register"]

ACTIVE_KEY = "active_model"
DEFAULT_NAMES = ("default", "musicnn")


@dataclass(frozen=True)
class ModelSpec:
    """How to build a classifier: the embedded model with a taxonomy (alone or as the
    progressive cascade), or a model file."""

    file: str | None = None
    taxonomy: str = "default"
    cascade: bool = False

    @property
    def name(self) -> str:
        """The short name the library lists it under."""
        if self.file is not None:
            return Path(self.file).stem
        if self.cascade:
            return "cascade" if self.taxonomy == "default" else f"cascade-{Path(self.taxonomy).stem}"
        return "default" if self.taxonomy == "default" else Path(self.taxonomy).stem

    @property
    def kind(self) -> str:
        """How the library lists it: ``zero-shot``, ``cascade`` or the model file's kind."""
        return "cascade" if self.cascade else "zero-shot"

    def as_setting(self) -> dict[str, Any]:
        return {"file": self.file, "taxonomy": self.taxonomy, "cascade": self.cascade}

    @classmethod
    def from_setting(cls, setting: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`as_setting` (settings written before the cascade lack it)."""
        return cls(setting.get("file"), setting.get("taxonomy") or "default",
                   bool(setting.get("cascade", False)))


def parse_spec(conn: sqlite3.Connection | None, model: str | os.PathLike | None,
               taxonomy: str | None, *, cascade: bool | None = None) -> ModelSpec | None:
    """The model a user named (None: nothing named, use the active one).

    ``cascade`` asks for the progressive cascade of the embedded models, with the named
    taxonomy (nothing named: the active model's when it is an embedded one, else the
    default taxonomy).

    Raises
    ------
    ParameterError
        An unknown name, a missing file, a taxonomy given with a model file, or the
        cascade asked of a model file.
    """
    spec = _parse_spec(conn, model, taxonomy)
    if cascade is False and spec is None:  # "not the cascade", said of an active cascade
        active = active_spec(conn)
        return ModelSpec(taxonomy=active.taxonomy) if active.cascade else None
    if not cascade:
        return spec
    if spec is None:
        active = active_spec(conn)
        return ModelSpec(taxonomy="default" if active.file else active.taxonomy, cascade=True)
    if spec.file is not None:
        raise ParameterError("--cascade runs the embedded musicnn models: it takes no model "
                             "file (name a taxonomy instead)")
    return ModelSpec(taxonomy=spec.taxonomy, cascade=True)


def _parse_spec(conn: sqlite3.Connection | None, model: str | os.PathLike | None,
                taxonomy: str | None) -> ModelSpec | None:
    if taxonomy is not None and taxonomy not in BUILTIN_TAXONOMIES and os.path.isfile(taxonomy):
        taxonomy = str(Path(taxonomy).resolve())  # a mapping file, named the same from anywhere
    if model is None:
        return None if taxonomy is None else ModelSpec(taxonomy=taxonomy)
    text = os.fspath(model)
    if text in DEFAULT_NAMES:
        return ModelSpec(taxonomy=taxonomy or "default")
    if text == "cascade":
        return ModelSpec(taxonomy=taxonomy or "default", cascade=True)
    if text.startswith("cascade-") and text[8:] in BUILTIN_TAXONOMIES and taxonomy is None:
        return ModelSpec(taxonomy=text[8:], cascade=True)
    if taxonomy is not None and taxonomy != "default":
        raise ParameterError(
            "--taxonomy applies to the embedded model only: a trained model has its own genres"
        )
    if os.path.isfile(text):
        return ModelSpec(file=str(Path(text).resolve()))
    if text in BUILTIN_TAXONOMIES:
        return ModelSpec(taxonomy=text)
    known = store_models.find_models(conn, text) if conn is not None else []
    if len({row.model_id for row in known}) > 1:
        raise ParameterError(f"{text!r} names several models ({', '.join(r.name for r in known)});"
                             " give more of its id (see `reclass models`)")
    if known:
        return spec_of(known[0])
    hint = " (see `reclass models`)" if conn is not None else ""
    raise ParameterError(f"no model file or known model named {text!r}{hint}")


def spec_of(row: store_models.ModelRow) -> ModelSpec:
    """The spec that rebuilds a registered model."""
    if row.kind in ("zero-shot", "cascade"):
        return ModelSpec(taxonomy=row.source or "default", cascade=row.kind == "cascade")
    if not row.source or not os.path.isfile(row.source):
        raise ParameterError(f"the file of model {row.name!r} is gone: {row.source}")
    return ModelSpec(file=row.source)


def active_spec(conn: sqlite3.Connection | None) -> ModelSpec:
    """The library's active model (the embedded default when none was chosen)."""
    setting = store_models.get_setting(conn, ACTIVE_KEY) if conn is not None else None
    if not setting:
        return ModelSpec()
    return ModelSpec.from_setting(setting)


def load_spec(spec: ModelSpec, *, factory: Any = None) -> Any:
    """Build the classifier of ``spec`` (``factory(spec)`` when given: tests inject one)."""
    if factory is not None:
        return factory(spec)
    from music_reclass.pipeline import load_classifier

    if spec.file is not None:
        return load_classifier(spec.file, top_k=None)
    return load_classifier(None, taxonomy=spec.taxonomy, top_k=None, cascade=spec.cascade)


def register(conn: sqlite3.Connection, spec: ModelSpec, classifier: Any) -> None:
    """Record the model in the library (so it can be named later, and listed)."""
    kind = spec.kind if spec.file is None else getattr(classifier, "kind", "head")
    store_models.register_model(
        conn, str(classifier.model_id), name=spec.name, kind=kind,
        source=spec.file if spec.file is not None else spec.taxonomy,
        info={"classes": list(getattr(classifier, "classes", ()))},
    )
