"""The API's request bodies (validated by pydantic) and how library results become JSON."""

from __future__ import annotations

import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AcceptBody",
    "ClassifyBody",
    "CorrectBody",
    "LEARN_OPTIONS",
    "LearnBody",
    "ModelBody",
    "OrganiseBody",
    "TagBody",
    "UndoBody",
    "file_item",
    "jsonable",
]

MAX_ID = 2**63 - 1
FileId = Field(ge=1, le=MAX_ID)
PathText = Field(min_length=1, max_length=4096)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorrectBody(_Body):
    """The owner's genres for one or more files (a bulk correction is one undoable run)."""

    file_ids: list[int] = Field(min_length=1, max_length=10_000)
    genres: list[str] = Field(min_length=1, max_length=8)


class AcceptBody(_Body):
    """Confirm the model's genres: for the files named, or for every track waiting for
    review whose top confidence is at least ``min_confidence``."""

    file_ids: list[int] | None = Field(default=None, min_length=1, max_length=10_000)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class ModelBody(_Body):
    """The model to make active (a name the library knows: default, gtzan, ...)."""

    model: str = Field(min_length=1, max_length=200)


class ClassifyBody(_Body):
    """Classify the library's folders again (new and changed files), or some of them."""

    paths: list[str] | None = Field(default=None, max_length=100)
    force: bool = False


class TagBody(_Body):
    """Write genres into the files' tags (``dry_run``: only say what would change)."""

    paths: list[str] | None = Field(default=None, max_length=100)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int = Field(default=3, ge=1, le=10)
    mode: Literal["replace", "append", "fill"] = "replace"
    dry_run: bool = True


class OrganiseBody(_Body):
    """Move or copy files into genre folders under ``into`` (inside the library)."""

    into: str = PathText
    paths: list[str] | None = Field(default=None, max_length=100)
    pattern: str | None = Field(default=None, min_length=1, max_length=400)
    copy_files: bool = Field(default=False, alias="copy")
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    on_collision: Literal["suffix", "skip"] = "suffix"
    dry_run: bool = True

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class UndoBody(_Body):
    """Undo a tag or organise run, or withdraw a correct run (default: the latest)."""

    run_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    dry_run: bool = False


#: the learn options a remote client may set: never where the model is written (``out``)
#: or which config file is read (``config``), which would name paths on the server
LEARN_OPTIONS = ("min_tracks", "rare", "multi_label", "activate", "target_precision", "seed")


class LearnBody(_Body):
    """Options passed to the library's learn job (a subset of ``Library.learn``'s, see
    :data:`LEARN_OPTIONS`)."""

    options: dict[str, str | int | float | bool | None] = Field(default_factory=dict,
                                                                max_length=20)


def file_item(view: Any) -> dict[str, Any]:
    """One file of a listing: its view plus a display name."""
    item = view.as_dict()
    item["name"] = os.path.basename(item["path"])
    item["top_genre"] = view.top_genre
    item["top_confidence"] = view.top_confidence
    item["path"] = _text(item["path"])
    item["name"] = _text(item["name"])
    return item


def _text(path: str) -> str:
    """A path as valid text (undecodable bytes shown as ``\\xNN``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def jsonable(value: Any) -> Any:
    """Dataclasses, paths and containers as JSON-able data."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return _text(str(value))
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value
