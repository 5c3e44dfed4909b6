"""Training and inference time of the trainable heads on synthetic features.

Usage::

    python benchmarks/bench_training.py [--rows 1000,25000] [--models logreg,svm,xgboost,mlp]
                                        [--threads 1] [--max-svm-rows 25000]

Data: 16 classes, 518 dimensions (the size of FMA's feature vector): Gaussian
class centres plus unit noise, so that the task is learnable but not trivial.
For each model and row count it prints the training time, the inference time
per 1,000 rows and the held-out accuracy, then the ratios between row counts
(how each head's training cost scales) and between heads, all measured in this
run. Training time is given as wall time and as CPU time of this process (the
ratios use CPU time, which a busy machine does not inflate; with one thread it is
close to the wall time on an idle one). Threads are limited (``--threads``, default 1) so that the figures compare
algorithms rather than core counts; the MLP's epochs are capped by early stopping.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

N_CLASSES = 16
DIM = 518


def synthetic(n_rows: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    centres = np.random.default_rng(1234).normal(0.0, 0.08, size=(N_CLASSES, DIM))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, size=n_rows)
    X = centres[labels] + rng.normal(size=(n_rows, DIM))
    return X.astype(np.float32), np.array([f"genre{i:02d}" for i in labels])


def params_for(model: str, threads: int) -> dict:
    if model == "xgboost":
        return {"n_jobs": threads, "n_estimators": 200}
    if model == "mlp":
        return {"n_threads": threads, "max_epochs": 100, "patience": 8}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000,25000")
    parser.add_argument("--models", default="logreg,svm,xgboost,mlp")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-svm-rows", type=int, default=5000,
                        help="skip the SVM above this many rows (its cost grows ~quadratically)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    from threadpoolctl import threadpool_limits

    from music_reclass.models.heads import fit_head, make_head

    torch.set_num_threads(args.threads)
    rows = [int(r) for r in args.rows.split(",")]
    models = [m.strip() for m in args.models.split(",")]
    X_test, y_test = synthetic(1000, seed=99)
    results: dict[tuple[str, int], tuple[float, float, float]] = {}
    print(f"{'model':<8} {'rows':>7} {'train s':>9} {'train cpu s':>12} {'infer ms/1000':>14} "
          f"{'accuracy':>9}")
    with threadpool_limits(limits=args.threads):
        for n in rows:
            X, y = synthetic(n)
            for model in models:
                if model == "svm" and n > args.max_svm_rows:
                    print(f"{model:<8} {n:>7}   skipped (--max-svm-rows {args.max_svm_rows})")
                    continue
                head = make_head(model, seed=0, **params_for(model, args.threads))
                start, cpu_start = time.perf_counter(), time.process_time()
                fit_head(head, X, y)
                train = time.perf_counter() - start
                train_cpu = time.process_time() - cpu_start
                head.predict_proba(X_test[:10])  # warm-up
                start = time.perf_counter()
                proba = head.predict_proba(X_test)
                infer = (time.perf_counter() - start) * 1000.0
                accuracy = float(np.mean(head.classes_[proba.argmax(axis=1)] == y_test))
                results[(model, n)] = (train_cpu, infer, accuracy)
                print(f"{model:<8} {n:>7} {train:>9.2f} {train_cpu:>12.2f} {infer:>14.1f} "
                      f"{accuracy:>9.3f}", flush=True)
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        print(f"\ntraining CPU-time ratio {large} / {small} rows ({large / small:.0f}x the data):")
        for model in models:
            if (model, small) in results and (model, large) in results:
                print(f"  {model:<8} {results[(model, large)][0] / results[(model, small)][0]:8.1f}x")
    base = "logreg"
    for n in rows:
        if (base, n) not in results:
            continue
        print(f"\nat {n} rows, relative to {base}: " + ", ".join(
            f"{m} train cpu {results[(m, n)][0] / results[(base, n)][0]:.1f}x / "
            f"infer {results[(m, n)][1] / results[(base, n)][1]:.1f}x"
            for m in models if m != base and (m, n) in results))


if __name__ == "__main__":
    main()
