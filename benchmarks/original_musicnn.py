"""Time the ORIGINAL musicnn 0.1.0 (TensorFlow) on audio files; run by its own interpreter.

Run with the Python of the virtualenv that ``benchmarks/setup_original_musicnn.sh``
builds (never with the project's, which has neither TensorFlow nor librosa 0.8.1)::

    benchmarks/.musicnn-orig-venv/bin/python benchmarks/original_musicnn.py FILE... [--repeats N]

For each file, both models (MSD_musicnn and MTT_musicnn) are run two ways, the whole
file as musicnn analyses it (librosa 0.8.1 loads it at 16 kHz with resampy, log-mel,
every 3 s patch):

- ``shipped``: ``musicnn.extractor.extractor(file, model, extract_features=True)`` as a
  user calls it: it builds the TensorFlow graph and restores the weights on every call;
- ``warm``: the graph built and the weights restored once per model (not timed), then
  only what a file costs: ``extractor.batch_data`` (decode, resample, log-mel, patches)
  once for both models, and a ``session.run`` per model in musicnn's batches. This is
  the strictest comparison: the original at its fastest.

Prints one JSON object: per file and way, the best and median wall time over the
repetitions, process CPU time, and the audio duration; plus peak RSS and versions.
The original is single-process; TensorFlow uses the threads it wants (intra-op pool
of all cores), as a user would run it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import sys
import time
from contextlib import redirect_stdout

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.compat.v1.layers need tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# librosa 0.8.1 still uses NumPy aliases removed in NumPy 1.24; the references in
# ../shared/musicnn-reference were made the same way (NumPy 1.26.4, librosa 0.8.1)
for _alias, _kind in {"complex": complex, "float": float, "int": int, "bool": bool}.items():
    if _alias not in np.__dict__:
        setattr(np, _alias, _kind)

import librosa  # noqa: E402
import tensorflow as tf  # noqa: E402
from musicnn import configuration as config  # noqa: E402
from musicnn import extractor as original  # noqa: E402
from musicnn import models  # noqa: E402

MODELS = ("MSD_musicnn", "MTT_musicnn")
N_FRAMES = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1


class WarmModel:
    """One musicnn model with its graph built and weights restored once."""

    def __init__(self, model: str) -> None:
        labels = config.MSD_LABELS if "MSD" in model else config.MTT_LABELS
        self.graph = tf.Graph()
        with self.graph.as_default():
            with tf.name_scope("model"):
                self.x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, config.N_MELS])
                self.is_training = tf.compat.v1.placeholder(tf.bool)
                outputs = models.define_model(self.x, self.is_training, model, len(labels))
                self.fetch = [tf.nn.sigmoid(outputs[0]), outputs[-1]]  # taggram, penultimate
            self.session = tf.compat.v1.Session(graph=self.graph)
            tf.compat.v1.train.Saver().restore(
                self.session, os.path.dirname(original.__file__) + "/" + model + "/"
            )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The taggram of all patches, in musicnn's batches (config.BATCH_SIZE)."""
        taggrams = []
        for start in range(0, len(batch), config.BATCH_SIZE):
            taggram, _ = self.session.run(
                self.fetch,
                feed_dict={self.x: batch[start : start + config.BATCH_SIZE],
                           self.is_training: False},
            )
            taggrams.append(taggram)
        return np.concatenate(taggrams)


def time_shipped(path: str) -> dict[str, float]:
    start, cpu = time.perf_counter(), time.process_time()
    with redirect_stdout(io.StringIO()):  # the extractor prints progress
        for model in MODELS:
            original.extractor(path, model=model, extract_features=True)
    return {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}


def time_warm(path: str, nets: dict[str, WarmModel]) -> dict[str, float]:
    start, cpu = time.perf_counter(), time.process_time()
    batch, _ = original.batch_data(path, N_FRAMES, N_FRAMES)
    decoded = time.perf_counter()
    for net in nets.values():
        net.run(batch)
    return {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "decode_logmel_s": decoded - start, "patches": int(len(batch))}


def summarise(samples: list[dict[str, float]]) -> dict[str, float]:
    walls = [s["wall_s"] for s in samples]
    out = {"best_s": min(walls), "median_s": statistics.median(walls),
           "cpu_best_s": min(s["cpu_s"] for s in samples)}
    if "decode_logmel_s" in samples[0]:
        out["decode_logmel_best_s"] = min(s["decode_logmel_s"] for s in samples)
        out["patches"] = samples[0]["patches"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-shipped", action="store_true")
    args = parser.parse_args()
    setup_start = time.perf_counter()
    nets = {model: WarmModel(model) for model in MODELS}
    setup_s = time.perf_counter() - setup_start
    time_warm(args.files[0], nets)  # warm-up: TF's first run allocates and plans
    result = {"files": [], "setup_s": setup_s, "versions": {
        "musicnn": "0.1.0", "tensorflow": tf.__version__, "numpy": np.__version__,
        "librosa": librosa.__version__, "python": sys.version.split()[0]}}
    for path in args.files:
        entry = {"path": path, "duration_s": float(librosa.get_duration(filename=path))}
        entry["warm"] = summarise([time_warm(path, nets) for _ in range(args.repeats)])
        if not args.skip_shipped:
            entry["shipped"] = summarise([time_shipped(path) for _ in range(args.repeats)])
        result["files"].append(entry)
        print(f"  original musicnn: {os.path.basename(path)} warm "
              f"{entry['warm']['best_s']:.2f} s", file=sys.stderr, flush=True)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
