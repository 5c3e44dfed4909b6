"""Shared fixtures: the optional real data in ../shared, and a scratch data dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECLASS_SHARED", REPO.parent / "shared"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run the full-count slow tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The real data folder ``../shared``; tests using it skip cleanly without it."""
    if not SHARED.is_dir():
        pytest.skip(f"real data not available ({SHARED} missing)")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never let a test touch the user's real database or cache."""
    base = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("RECLASS_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("RECLASS_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("RECLASS_CONFIG", str(base / "config.toml"))  # none unless a test writes it
    monkeypatch.delenv("RECLASS_DB", raising=False)
