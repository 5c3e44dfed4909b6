"""Accuracy of the embedded zero-shot classifier (musicnn tags -> GTZAN genres) on gtzan-dev.

Usage::

    python benchmarks/bench_accuracy_gtzan_dev.py [--shared ../shared] [--taxonomy gtzan]

Runs ``load_classifier(taxonomy="gtzan")`` on the 50 clips of
``shared/audio/gtzan-dev`` (5 per genre, labels from ``manifest.csv``) and prints
top-1 and top-3 accuracy, a confusion matrix, a per-genre breakdown and the mean
top-1 confidence (compare it with the top-1 accuracy for a rough calibration check).

This is a *check*, not a tuning set: the mapping was designed from the meaning of
the tags only. Caveats:

- reggae has no tag in either musicnn vocabulary: it is never predicted, so
  the best reachable top-1 accuracy is 45/50 = 0.90; the figures "without reggae"
  are on the 45 other clips.
- disco is covered only by indirect cues (dance, funk, house, party, 70s).
- clips with neighbouring numbers share an artist (all blues are John Lee Hooker,
  all rock Morphine...), so 5 clips per genre say little about a genre:
  treat the figures as a smoke test.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def read_manifest(root: Path) -> list[tuple[Path, str]]:
    manifest = root / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as handle:
            return [(root / row["path"], row["label"]) for row in csv.DictReader(handle)]
    return [(p, p.parent.name) for p in sorted(root.glob("*/*.wav"))]


def predict(classifier, path: Path):
    """The product path (``predict_file``); plain decoding if the audio layer is missing."""
    try:
        return classifier.predict_file(path), "predict_file"
    except ImportError:
        import librosa

        waveform, _ = librosa.load(path, sr=16000, mono=True)
        return classifier.predict_waveform(waveform.astype(np.float32)), "librosa+predict_waveform"


def confusion_text(matrix: np.ndarray, labels: list[str]) -> str:
    width = max(len(label) for label in labels) + 1
    head = " " * width + "".join(f"{label[:6]:>7}" for label in labels)
    rows = [head]
    for label, row in zip(labels, matrix, strict=True):
        rows.append(f"{label:<{width}}" + "".join(f"{v:>7d}" for v in row))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--taxonomy", default="gtzan")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from music_reclass.pipeline import load_classifier

    root = args.shared / "audio" / "gtzan-dev"
    if not root.is_dir():
        print(f"gtzan-dev not found under {args.shared}: nothing to measure")
        return 0
    items = read_manifest(root)
    classifier = load_classifier(taxonomy=args.taxonomy, top_tags=5)
    labels = list(classifier.classes)
    truth_labels = sorted({label for _, label in items})
    unknown = [t for t in truth_labels if t not in labels]
    if unknown:
        print(f"warning: ground-truth labels outside the taxonomy: {unknown}")
    print(f"model_id: {classifier.model_id}")

    ranked: list[list[str]] = []
    truths: list[str] = []
    confidences: list[float] = []
    started = time.perf_counter()
    seconds = 0.0
    for path, truth in items:
        prediction, how = predict(classifier, path)
        ranked.append([g for g, _ in prediction.genres])
        confidences.append(prediction.genres[0][1])
        truths.append(truth)
        seconds += prediction.analysed_seconds
        print(
            f"{path.name:<22} {truth:<10} -> "
            + ", ".join(f"{g} {c:.2f}" for g, c in prediction.genres[:3])
            + "   | "
            + " ".join(t for t, _ in prediction.tags[:5])
        )
    elapsed = time.perf_counter() - started
    print(f"\n{len(items)} clips via {how}, {seconds:.0f} s of audio analysed in {elapsed:.1f} s")

    top1 = np.array([r[0] == t for r, t in zip(ranked, truths, strict=True)])
    top3 = np.array([t in r[:3] for r, t in zip(ranked, truths, strict=True)])
    recognisable = np.array([t != "reggae" for t in truths])
    print(f"\ntop-1 accuracy: {top1.mean():.3f} ({top1.sum()}/{len(top1)})")
    print(f"top-3 accuracy: {top3.mean():.3f} ({top3.sum()}/{len(top3)})")
    if recognisable.any() and not recognisable.all():
        print(
            f"without reggae (never predicted): top-1 {top1[recognisable].mean():.3f}, "
            f"top-3 {top3[recognisable].mean():.3f} on {recognisable.sum()} clips"
        )
    print(
        f"mean top-1 confidence: {np.mean(confidences):.3f} (vs top-1 accuracy {top1.mean():.3f})"
    )
    correct_conf = np.array(confidences)[top1]
    wrong_conf = np.array(confidences)[~top1]
    if correct_conf.size and wrong_conf.size:
        print(
            f"mean top-1 confidence when right {correct_conf.mean():.3f}, "
            f"when wrong {wrong_conf.mean():.3f}"
        )

    rows = sorted(set(truths))
    matrix = np.zeros((len(rows), len(labels)), dtype=int)
    for r, t in zip(ranked, truths, strict=True):
        matrix[rows.index(t), labels.index(r[0])] += 1
    print("\nconfusion matrix (rows: truth, columns: predicted top-1)")
    print(confusion_text(matrix, labels) if rows == labels else confusion_text(matrix, rows))

    print("\nper genre: top-1  top-3  most frequent top-1")
    for genre in rows:
        mask = np.array([t == genre for t in truths])
        tops = [r[0] for r, m in zip(ranked, mask, strict=True) if m]
        common = max(set(tops), key=tops.count)
        print(
            f"  {genre:<10} {top1[mask].mean():.2f}   {top3[mask].mean():.2f}   "
            f"{common} ({tops.count(common)}/{len(tops)})"
        )
    print(
        "\nnotes: reggae cannot be recognised (no tag); disco only via dance/funk/house/party/70s;"
        " artists repeat within a genre, so this is a smoke test, not a result."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
