"""The real ``reclass`` command with test_scan's fast fake classifier, for subprocess tests.

``python tests/fake_reclass.py classify DIR ...`` runs exactly what the installed
entry point runs, with the fake model injected as the library's classifier factory
(production code has no test hook of its own).
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from music_reclass.cli import common  # noqa: E402
from music_reclass.cli.main import app  # noqa: E402
from test_scan import make_fake  # noqa: E402

#: the command line for a subprocess: ``[*FAKE_RECLASS, "classify", ...]``
FAKE_RECLASS = [sys.executable, str(Path(__file__).resolve())]


def main() -> None:
    common.classifier_factory = make_fake
    app()


if __name__ == "__main__":
    main()
