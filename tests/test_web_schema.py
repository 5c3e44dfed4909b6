"""Property-based tests of the REST API from its own OpenAPI schema (schemathesis): no
generated request, valid or not, makes the server fail (no 5xx).

The CI part draws a few examples per operation; ``--run-slow`` draws many more.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from music_reclass.library import Library  # noqa: E402
from music_reclass.web import create_app  # noqa: E402
from web_fixtures import build_library, make_genre_fake  # noqa: E402

# The schema is read at import (schemathesis parametrizes at collection); the library
# behind the app is built by the fixture below before the first request.
ROOT = Path(tempfile.mkdtemp(prefix="reclass-schema-"))
APP = create_app(Library(ROOT / "lib.sqlite", classifier_factory=make_genre_fake),
                 classify_jobs=0)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _library():
    library, _ = build_library(ROOT)
    library.close()
    yield
    APP.state.jobs.cancel_all()
    deadline = time.monotonic() + 30
    while any(j.state not in ("done", "failed", "cancelled") for j in APP.state.jobs.list()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    APP.state.library.close()
    shutil.rmtree(ROOT, ignore_errors=True)


SUPPRESS = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture]


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
def test_no_server_error_short(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=300, deadline=None, suppress_health_check=SUPPRESS)
def test_no_server_error_long(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
