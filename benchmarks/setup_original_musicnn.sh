#!/usr/bin/env bash
# Build the ORIGINAL musicnn 0.1.0 (TensorFlow) in its own git-ignored virtualenv, so
# that benchmarks/bench_speed.py can time it against our port on the same files.
#
#   bash benchmarks/setup_original_musicnn.sh [VENV]   (default: benchmarks/.musicnn-orig-venv)
#
# Versions as ../shared/musicnn-reference was made (see the `meta` of its .npz files):
# TensorFlow 2.21 (CPU build) run in tf.compat.v1 mode through tf-keras (legacy Keras,
# TF_USE_LEGACY_KERAS=1), NumPy 1.26.4, librosa 0.8.1. musicnn 0.1.0 itself is
# installed without its declared dependencies: its setup.py asks for a NumPy and a
# TensorFlow 1.x that do not exist for Python 3.11. Everything comes from the package
# registry; nothing is downloaded when the benchmark runs.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${1:-$HERE/.musicnn-orig-venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3

"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# NumPy first and pinned, so nothing later upgrades it to 2.x (librosa 0.8.1 needs 1.x)
"${PIP[@]}" "numpy==1.26.4"
"${PIP[@]}" "numpy==1.26.4" "tensorflow-cpu==2.21.*" "tf-keras==2.21.*" \
    "librosa==0.8.1" "resampy>=0.4" "soundfile>=0.12" "numba>=0.59" "setuptools<81"
"${PIP[@]}" --no-deps "musicnn==0.1.0"
# smoke test: import the original extractor in the mode the references were made in
# (librosa 0.8.1 still uses NumPy aliases removed in 1.24: original_musicnn.py restores
# them before importing it, as here)
TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" - <<'EOF'
import numpy
for alias, kind in {"complex": complex, "float": float, "int": int, "bool": bool}.items():
    if alias not in numpy.__dict__:
        setattr(numpy, alias, kind)
import tensorflow, librosa, musicnn.extractor  # noqa: E401,F401
print(f"original musicnn ready: tensorflow {tensorflow.__version__}, numpy {numpy.__version__}, "
      f"librosa {librosa.__version__}")
EOF
