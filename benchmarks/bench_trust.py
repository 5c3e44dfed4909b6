"""Trust benchmark: calibration, decisions and the cascade on the real clips of ../shared.

Usage::

    python benchmarks/bench_trust.py [--shared ../shared] [--out out/trust] [--no-runtime]
                                     [--reuse-cache] [--runtime-only]

Data: the 50 GTZAN clips of ``../shared/audio/gtzan-dev`` (5 per genre, 29 artists). Every
decision figure is measured by *nested leave-one-artist-out* cross-validation: each
artist's clips are calibrated and decided by parameters fitted without any clip of that
artist (the recipe of ``scripts/fit_trust.py``, :mod:`music_reclass.trust.recipes`). The
cascade's spectral head was trained on the Kaggle GTZAN table without any gtzan-dev
artist. Default taxonomy: 45 clips (disco has no unambiguous genre there; reggae is kept
as out-of-vocabulary music).

Prints, per taxonomy: ECE before/after, accuracy, precision and coverage of ``decided``
with the abstentions per reason, what happens to reggae, and the cascade's stage usage,
cost (seconds of the components it ran, measured per clip) against running every stage,
and accuracy against the full model (last stage on every clip). Then, unless
``--no-runtime``, runs the shipped cascade itself on the 50 clips (wall time of each
component, every stage forced vs stopping early, measured in the same run; thresholds
in-sample there). Figures: reliability diagrams and precision-coverage curves (PNG).
The machine may be shared: timings are ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

ALPHAS = (None, 0.1, 0.2, 0.3)
#: decision rules compared, all fitted the same honest way (thresholds on held-out folds for a
#: precision of 0.9, each artist decided by parameters fitted without it); declared here,
#: before any result, so the comparison is of a fixed, small set. "chosen on held-out
#: folds" picks the rule among the others inside each fitting (trust.selection), without
#: seeing the artist it is evaluated on
POLICY_VARIANTS = {
    "chosen on held-out folds": {"select_rule": True},
    "observed precision": {"expected_precision": False, "alpha": None},
    "observed precision + 80 % sets": {"expected_precision": False, "alpha": 0.2},
    "expected precision": {"expected_precision": True, "alpha": None},
    "expected precision + 80 % sets (before)": {"expected_precision": True, "alpha": 0.2},
}
COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def zeroshot_cv(data, taxonomy, settings):
    from music_reclass.trust.fitting import cross_validate_trust, fit_trust
    from music_reclass.trust.model import TAXONOMY_EVIDENCE
    from music_reclass.trust.recipes import zeroshot_heldout
    from music_reclass.trust.vocabulary import EvidenceOOV

    held = zeroshot_heldout(data, taxonomy)
    return held, cross_validate_trust(
        held, taxonomy.genres,
        fit=lambda part: fit_trust(part, taxonomy.genres, score_kind=TAXONOMY_EVIDENCE,
                                   oov=EvidenceOOV(), settings=settings))


def cascade_cv(data, taxonomy, shipped, variant=None):
    from dataclasses import replace

    from music_reclass.trust.cascade_fit import cross_validate_cascade
    from music_reclass.trust.recipes import POOLED_SETTINGS, ZEROSHOT_SETTINGS, cascade_plan

    single, pooled = ZEROSHOT_SETTINGS, POOLED_SETTINGS
    if variant is not None:
        single, pooled = replace(single, **variant), replace(pooled, **variant)
    kwargs = {}
    if "spectral" in data.raw:
        last = shipped.stages[-1].trust
        kwargs = {"fixed": {"spectral": shipped.components["spectral"].calibration},
                  "head": shipped.head, "prototype": last.oov,
                  "prototype_threshold": last.policy.oov_threshold}
    return cross_validate_cascade(data, cascade_plan(taxonomy.name), single=single,
                                  pooled=pooled, **kwargs)


def reggae_line(labels, decisions) -> str:
    reggae = [d for d, label in zip(decisions, labels, strict=True) if label == "reggae"]
    if not reggae:
        return "no reggae clips"
    reasons = {}
    for d in reggae:
        key = f"decided {d.decided[0]}" if d.decided else d.reason
        reasons[key] = reasons.get(key, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))


def fmt(value, digits=2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def curve_line(label, confidence, right) -> str:
    """Precision at each coverage of :data:`COVERAGES` when deciding the most confident
    clips, and the largest coverage whose precision is >= 0.9 (a bound no fitted
    threshold knows in advance)."""
    from music_reclass.trust.policy import precision_coverage_curve

    _, coverage, precision = precision_coverage_curve(confidence, right)
    cells = []
    for wanted in COVERAGES:
        at = np.nonzero(coverage >= wanted - 1e-9)[0]
        cells.append(fmt(precision[at[0]]) if len(at) else "n/a")
    reach = coverage[precision >= 0.9]
    best = f"{reach.max():.2f}" if len(reach) else "0"
    return f"| {label} | " + " | ".join(cells) + f" | {best} |"


def report_variants(name, data, taxonomy, shipped) -> dict:
    """The decision rules of :data:`POLICY_VARIANTS`, zero-shot and cascade, nested CV."""
    from dataclasses import replace

    from music_reclass.trust.recipes import ZEROSHOT_SETTINGS

    print(f"\n## decision rules, --taxonomy {name} (nested leave-one-artist-out, target 0.9)")
    print("| rule | zero-shot precision | coverage | cascade precision | coverage |")
    print("|---|---|---|---|---|")
    out = {}
    for label, variant in POLICY_VARIANTS.items():
        _, cv = zeroshot_cv(data, taxonomy, replace(ZEROSHOT_SETTINGS, **variant))
        _, cascade = cascade_cv(data, taxonomy, shipped, variant)
        z, c = cv.metrics["decided"], cascade["decided"]
        out[label] = {"zeroshot": z, "cascade": c}
        print(f"| {label} | {fmt(z['precision'])} ({z['right']}/{z['decided']}) | "
              f"{fmt(z['coverage'])} | {fmt(c['precision'])} ({c['right']}/{c['decided']}) | "
              f"{fmt(c['coverage'])} |")
    return out


def report_zeroshot(name, data, taxonomy, out, figures):
    from music_reclass.evaluation.metrics import calibration_bins
    from music_reclass.trust.calibration import calibrated_ece_range
    from music_reclass.trust.policy import precision_coverage_curve
    from music_reclass.trust.recipes import ZEROSHOT_SETTINGS

    held, cv = zeroshot_cv(data, taxonomy, ZEROSHOT_SETTINGS)
    m = cv.metrics
    d = m["decided"]
    print(f"\n## zero-shot default, --taxonomy {name} ({m['n']} clips, {m['n_groups']} artists)")
    print("| ECE before | ECE after (CV) | accuracy | mean conf. before -> after | "
          "decided precision | coverage | abstained (OOV / ambiguous / low conf.) |")
    print("|---|---|---|---|---|---|---|")
    ab = d["abstained"]
    print(f"| {fmt(m['ece_before'], 3)} | {fmt(m['ece_after'], 3)} | {fmt(m['accuracy'])} | "
          f"{fmt(m['mean_confidence_before'])} -> {fmt(m['mean_confidence'])} | "
          f"{fmt(d['precision'])} ({d['right']}/{d['decided']}) | {fmt(d['coverage'])} | "
          f"{ab['out-of-vocabulary']} / {ab['ambiguous']} / {ab['low-confidence']} |")
    print(f"reggae clips: {reggae_line(held.labels, cv.decisions)}")
    floor = calibrated_ece_range(cv.probabilities.max(axis=1))
    print(f"ECE a perfectly calibrated model would show on these {m['n']} clips by chance: "
          f"{floor[0]:.3f} (90% range {floor[1]:.3f}-{floor[2]:.3f})")
    sensitivity = {}
    for alpha in ALPHAS:
        from dataclasses import replace

        _, other = zeroshot_cv(data, taxonomy, replace(ZEROSHOT_SETTINGS, alpha=alpha))
        od = other.metrics["decided"]
        sensitivity[str(alpha)] = {"precision": od["precision"], "coverage": od["coverage"]}
    print("conformal level (alpha) -> decided precision / coverage: " + "; ".join(
        f"{a}: {fmt(v['precision'])} / {fmt(v['coverage'])}" for a, v in sensitivity.items()))
    classes = list(taxonomy.genres)
    labels = held.labels
    before_bins = calibration_bins(labels, held.reference, classes)
    after_bins = calibration_bins(labels, cv.probabilities, classes)
    curves = {}
    for label, p in (("uncalibrated", held.reference), ("calibrated (CV)", cv.probabilities)):
        right = np.asarray(classes)[p.argmax(axis=1)] == np.asarray(labels)
        _, coverage, precision = precision_coverage_curve(p.max(axis=1), right)
        curves[label] = (coverage, precision)
    print(f"precision-coverage curve (most confident first; last column: largest coverage "
          f"at precision >= 0.9), --taxonomy {name}:")
    print("| confidence | " + " | ".join(f"cov. {c:.1f}" for c in COVERAGES)
          + " | max cov. at 0.9 |")
    print("|---|" + "---|" * (len(COVERAGES) + 1))
    for label, p in (("uncalibrated", held.reference), ("calibrated (CV)", cv.probabilities)):
        right = np.asarray(classes)[p.argmax(axis=1)] == np.asarray(labels)
        print(curve_line(f"zero-shot {label}", p.max(axis=1), right))
    result = {"metrics": m, "alpha_sensitivity": sensitivity, "ece_noise_floor": floor,
              "reggae": reggae_line(held.labels, cv.decisions)}
    figures[f"zeroshot-{name}"] = (before_bins, after_bins, m, curves, (d["coverage"], d["precision"]))
    return result


def report_cascade(name, data, taxonomy, shipped, figures):
    from music_reclass.evaluation.metrics import calibration_bins
    from music_reclass.trust.policy import precision_coverage_curve

    run, m = cascade_cv(data, taxonomy, shipped)
    d = m["decided"]
    zeroshot_cost = float((data.costs["musicnn-2p"] + data.costs["musicnn"]).mean())
    print(f"\n## cascade, --taxonomy {name} (nested leave-one-artist-out)")
    print("| stages | stage usage | mean cost | all stages | cost ratio | zero-shot default cost | "
          "accuracy | full model | ECE | decided precision | coverage |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    usage = ", ".join(f"{k} {v}" for k, v in m["stage_usage"].items())
    print(f"| {' > '.join(m['stage_usage'])} | {usage} | {m['mean_cost_seconds']:.2f} s | "
          f"{m['all_stages_cost_seconds']:.2f} s | {m['cost_ratio']:.0%} | {zeroshot_cost:.2f} s | "
          f"{fmt(m['accuracy'])} | {fmt(m['full_model_accuracy'])} | {fmt(m['ece'], 3)} | "
          f"{fmt(d['precision'])} ({d['right']}/{d['decided']}) | {fmt(d['coverage'])} |")
    print("component cost per clip (mean s): " + ", ".join(
        f"{k} {v.mean():.2f}" for k, v in data.costs.items()))
    print(f"reggae clips: {reggae_line(data.labels, run.decisions)}")
    classes = list(data.classes)
    right = np.asarray(classes)[run.probabilities.argmax(axis=1)] == np.asarray(data.labels)
    _, coverage, precision = precision_coverage_curve(run.probabilities.max(axis=1), right)
    print(curve_line("cascade (CV), same columns", run.probabilities.max(axis=1), right))
    y = [str(x) for x in data.labels]
    figures[f"cascade-{name}"] = (calibration_bins(y, run.probabilities, classes), m,
                                  (coverage, precision), (d["coverage"], d["precision"]))
    return {"metrics": m, "zeroshot_cost_seconds": zeroshot_cost,
            "reggae": reggae_line(data.labels, run.decisions)}


def draw(figures, out: Path) -> list[Path]:
    from music_reclass.evaluation.trust_plots import (
        plot_precision_coverage,
        plot_reliability_panels,
    )

    written = []
    for name in ("gtzan", "default"):
        before, after, m, curves, point = figures[f"zeroshot-{name}"]
        cascade = figures.get(f"cascade-{name}")
        panels = {"zero-shot, uncalibrated": before, "zero-shot, calibrated (CV)": after}
        ece = {"zero-shot, uncalibrated": m["ece_before"], "zero-shot, calibrated (CV)": m["ece_after"]}
        if cascade is not None:
            panels["cascade (CV)"] = cascade[0]
            ece["cascade (CV)"] = _ece_of(cascade[0])
        written.append(plot_reliability_panels(
            panels, out / f"reliability-{name}.png", ece=ece,
            title=f"gtzan-dev, --taxonomy {name}, leave-one-artist-out"))
        all_curves = {f"zero-shot {k}": v for k, v in curves.items()}
        points = {"zero-shot decided": point} if point[1] is not None else {}
        if cascade is not None:
            all_curves["cascade (CV)"] = cascade[2]
            if cascade[3][1] is not None:
                points["cascade decided"] = cascade[3]
        written.append(plot_precision_coverage(
            all_curves, out / f"precision-coverage-{name}.png", points=points, target=(0.6, 0.9),
            title=f"gtzan-dev, --taxonomy {name}, leave-one-artist-out"))
    return written


def _ece_of(bins) -> float:
    n = sum(b["count"] for b in bins)
    return sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]) / n


def runtime(clips, n_threads: int) -> dict:
    """The shipped cascade and the default on every clip, timed in this run."""
    import torch

    from music_reclass.pipeline import load_classifier
    from music_reclass.pipeline.cascade import CascadeClassifier

    torch.set_num_threads(n_threads)
    cascade = CascadeClassifier("gtzan")
    default = load_classifier(taxonomy="gtzan")
    cascade.ensure_loaded()
    default.ensure_loaded()
    cascade.trace_file(clips.paths[0])  # warm-up (librosa caches, first forward pass)
    totals = {"cascade": 0.0, "every_stage": 0.0, "default": 0.0}
    stages: dict[str, int] = {}
    right = decided = 0
    for path, label in zip(clips.paths, clips.labels, strict=True):
        start = time.perf_counter()
        trace = cascade.trace_file(path)
        totals["cascade"] += time.perf_counter() - start
        start = time.perf_counter()
        cascade.trace_file(path, every_stage=True)
        totals["every_stage"] += time.perf_counter() - start
        start = time.perf_counter()
        default.predict_file(path)
        totals["default"] += time.perf_counter() - start
        stages[trace.stage_name] = stages.get(trace.stage_name, 0) + 1
        if trace.prediction.decided:
            decided += 1
            right += trace.prediction.decided[0] == label
    n = len(clips.paths)
    out = {k: v / n for k, v in totals.items()}
    out.update({"stage_usage": stages, "decided": decided, "right": right, "n": n})
    print(f"\n## shipped cascade run on the clips (gtzan taxonomy, {n_threads} thread(s); "
          "in-sample thresholds)")
    print("| cascade s/clip | every stage s/clip | ratio | zero-shot default s/clip | "
          "stage usage | decided (right) |")
    print("|---|---|---|---|---|---|")
    print(f"| {out['cascade']:.2f} | {out['every_stage']:.2f} | "
          f"{out['cascade'] / out['every_stage']:.0%} | {out['default']:.2f} | "
          f"{', '.join(f'{k} {v}' for k, v in stages.items())} | {decided} ({right}) |")
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "trust")
    parser.add_argument("--cache", type=Path, default=REPO / "out" / "trust" / "gtzan-dev.npz")
    parser.add_argument("--no-runtime", action="store_true")
    parser.add_argument("--reuse-cache", action="store_true",
                        help="reuse the cached outputs and timings (default: measure them now)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtime-only", action="store_true",
                        help="only run the shipped cascade, every stage and the default on "
                             "the clips, timed in this run (skips the cross-validation)")
    args = parser.parse_args(argv)
    if not (args.shared / "audio" / "gtzan-dev").is_dir():
        print(f"skipped: real data not available ({args.shared})")
        return 0
    from fit_trust import load_or_measure, taxonomy_data
    from music_reclass.pipeline.cascade import shipped_cascade
    from music_reclass.taxonomy import load_taxonomy

    if not args.reuse_cache:
        args.cache.unlink(missing_ok=True)  # timings are only comparable within one run
    clips, measures = load_or_measure(args.shared, args.cache)
    if args.runtime_only:
        runtime(clips, args.threads)
        return 0
    shipped = shipped_cascade(load_taxonomy("gtzan"))

    class Shipped:  # the spectral head as fit_trust.taxonomy_data expects it
        head = shipped.head

    print("Data: ../shared/audio/gtzan-dev (50 real GTZAN clips, 29 artists); nested "
          "leave-one-artist-out: no clip is decided by parameters fitted on its artist.")
    spectral = shipped.head.meta.get("metrics", {}).get("test", {})
    print(f"spectral head (Kaggle table, fault-filtered test split without gtzan-dev artists, "
          f"n={spectral.get('n')}): accuracy {fmt(spectral.get('accuracy'))}, "
          f"ECE {fmt(spectral.get('ece_before'), 3)} -> {fmt(spectral.get('ece_after'), 3)}")
    results, figures = {}, {}
    for name in ("gtzan", "default"):
        taxonomy, data = taxonomy_data(name, clips, measures, Shipped)
        results[f"zeroshot-{name}"] = report_zeroshot(name, data, taxonomy, args.out, figures)
        results[f"cascade-{name}"] = report_cascade(name, data, taxonomy,
                                                    shipped if name == "gtzan" else None, figures)
        results[f"rules-{name}"] = report_variants(name, data, taxonomy,
                                                   shipped if name == "gtzan" else None)
    for path in draw(figures, args.out):
        print(f"figure: {path}")
    if not args.no_runtime:
        results["runtime"] = runtime(clips, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_trust.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
