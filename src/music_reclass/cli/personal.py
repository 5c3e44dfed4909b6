"""``reclass learn``, ``suggest`` and ``inconsistencies``: the owner's library teaches the model.

Thin over :class:`~music_reclass.Library`'s ``learn``, ``suggest`` and
``inconsistencies``. ``learn`` trains on the embeddings classify stored (no audio is
read) and makes the personal model the library's active one. Exit status: 0 done, 2
nothing to learn or bad options, 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import typer

from music_reclass.cli.app import app
from music_reclass.cli.common import DB_HELP, echo, fail, handled, open_library
from music_reclass.cli.output import display_label, display_path, progress_callback, write_json_line

_CONFIG_HELP = ("Config file with a [genre_map] (default: RECLASS_CONFIG or "
                "~/.config/music-reclass/config.toml).")


def _rare(pool_rare: bool, drop_rare: bool) -> str | None:
    if pool_rare and drop_rare:
        raise fail("--pool-rare and --drop-rare exclude each other")
    return "pool" if pool_rare else "drop" if drop_rare else None


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


@app.command("learn")
def learn_command(
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    min_tracks: int | None = typer.Option(
        None, "--min-tracks", min=1,
        help="Genres with fewer tracks are left out or pooled (default 5, lowered when "
             "fewer than two genres reach it)."),
    pool_rare: bool = typer.Option(False, "--pool-rare",
                                   help="Pool the rarer genres into one 'Other' genre."),
    drop_rare: bool = typer.Option(False, "--drop-rare", help="Leave the rarer genres out "
                                   "(the default)."),
    multi: bool | None = typer.Option(
        None, "--multi-genre/--single-genre",
        help="Learn several genres per track (default: when your tags carry several)."),
    config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP),
    out: Path | None = typer.Option(None, "--out", help="Model file to write (default: "
                                    "beside the database, personal-N.safetensors)."),
    no_activate: bool = typer.Option(False, "--no-activate",
                                     help="Do not make it the library's active model."),
    json_output: bool = typer.Option(False, "--json", help="One JSON object: the report."),
) -> None:
    """Learn your genres from your tags and corrections: a personal model on the stored
    embeddings, measured by artist-grouped cross-validation, then used by `classify`."""
    rare = _rare(pool_rare, drop_rare)
    library = open_library(db)
    with handled(), progress_callback("learning", enabled=sys.stderr.isatty()) as progress:
        report = library.learn(config=config, min_tracks=min_tracks, rare=rare,
                               multi_label=multi, out=out, activate=not no_activate,
                               on_progress=progress)
    if json_output:
        write_json_line(_jsonable(report))
        return
    for line in learn_lines(report):
        echo(line)


def learn_lines(report: Any) -> list[str]:
    """What ``reclass learn`` prints: labels, genres, evaluation, calibration, the model."""
    sources = ", ".join(f"{k} {v}" for k, v in report.sources.items())
    lines = [f"learnt {len(report.genres)} genres from {report.tracks} labelled tracks "
             f"({sources}); {report.task}"]
    width = max(len(g.name) for g in report.genres)
    for genre in report.genres:
        others = [s for s in genre.spellings if s != genre.name]
        also = f"  (also spelled {', '.join(map(display_label, others))})" if others else ""
        pooled = f"  (pooled: {', '.join(genre.pooled)})" if genre.pooled else ""
        lines.append(f"  {display_label(genre.name):<{width}}  {genre.tracks:>6} tracks "
                     f"{genre.artists:>5} artists{also}{pooled}")
    if report.rare:
        verb = ("pooled into one genre" if report.rare_action == "pool"
                else "left out (--pool-rare pools them)")
        lines.append(f"fewer than {report.min_tracks} tracks, {verb}: "
                     + ", ".join(f"{display_label(g.name)} {g.tracks}" for g in report.rare))
    if report.ignored:
        lines.append("not genres, ignored: " + ", ".join(
            f"{display_label(k)} {v}" for k, v in sorted(report.ignored.items())))
    if report.missing_vectors:
        lines.append(f"not used: {report.missing_vectors} labelled track(s) have no stored "
                     "embedding (run `reclass classify` on them)")
    lines += _evaluation_lines(report)
    lines += [f"note: {note}" for note in report.notes]
    if report.status != "done":
        lines.append(f"learning {report.status}: no model written")
    elif report.active:
        lines.append(f"model: {display_path(str(report.model_path))} ({report.model_name}, "
                     f"learnt in {report.seconds:.1f} s), now "
                     "the library's active model: `reclass classify` answers in your genres "
                     "(`--model default`: the embedded model)")
    else:
        lines.append(f"model: {display_path(str(report.model_path))} ({report.model_name}); "
                     f"use it with `reclass models --use {report.model_name}`")
    return lines


def _evaluation_lines(report: Any) -> list[str]:
    ev = report.evaluation
    if not ev:
        return ["evaluation: none (every labelled track has the same artist)"]
    lines = [f"evaluation: {ev['protocol']}, {ev['groups']} groups of tracks (by artist tag, "
             "else album; no group on both sides of a split)"]
    if "accuracy" in ev:
        lines.append(f"  accuracy {ev['accuracy']:.2f}, balanced accuracy "
                     f"{ev['balanced_accuracy']:.2f}, macro F1 {ev['macro_f1']:.2f}")
    else:
        lines.append(f"  top genre right {ev['top1_accuracy']:.2f}, micro F1 {ev['micro_f1']:.2f},"
                     f" macro F1 {ev['macro_f1']:.2f}, exact genre set {ev['exact_match']:.2f}")
    cal = report.calibration
    how = (f"temperature {cal['temperature']:.2f}" if cal.get("method") == "temperature"
           else "one sigmoid per genre")
    lines.append(f"  calibration: ECE {ev['ece_before']:.3f} -> {ev['ece_after']:.3f} ({how}, "
                 "measured cross-fitted)")
    decisions = ev["decisions"]
    if not decisions["decided"]:
        lines.append("  decides no track: none reached the precision asked for")
    elif decisions.get("precision") is not None:
        lines.append(f"  decides {decisions['coverage']:.0%} of tracks at precision "
                     f"{decisions['precision']:.2f}" + (
                         f" (min confidence {report.decision['min_confidence']:.2f})"
                         if report.decision.get("min_confidence") is not None else ""))
    width = max(len(name) for name in ev["per_genre"])
    lines.append(f"  {'genre':<{width}}  precision recall   f1  tracks artists")
    for name, scores in ev["per_genre"].items():
        lines.append(f"  {display_label(name):<{width}}  {scores['precision']:>9.2f} "
                     f"{scores['recall']:>6.2f} {scores['f1']:>4.2f} {scores['support']:>7} "
                     f"{scores['artists']:>7}")
    return lines


@app.command("suggest")
def suggest_command(
    n: int = typer.Argument(10, min=1, help="How many tracks to suggest."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines, one object per track."),
) -> None:
    """The N unlabelled tracks whose labels would help the model most (label them with
    `reclass correct FILE GENRE`, then `reclass learn`)."""
    library = open_library(db)
    with handled():
        report = library.suggest(n, config=config)
    for item in report.suggestions:
        if json_output:
            write_json_line(_jsonable(item))
        else:
            guess = ", ".join(f"{display_label(g)} {p:.2f}" for g, p in item.genres[:2])
            echo(f"{display_path(item.path)}\n    {item.reason}" + (f"; now: {guess}" if guess
                                                                     else ""))
    if not json_output:
        for note in report.notes:
            echo(f"note: {note}")
        echo(f"{len(report.suggestions)} of {report.candidates} unlabelled track(s), ranked by "
             f"{report.model}")


@app.command("inconsistencies")
def inconsistencies_command(
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many tracks."),
    config: Path | None = typer.Option(None, "--config", help=_CONFIG_HELP),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines, one object per track."),
) -> None:
    """Tagged tracks whose genre disagrees strongly with their audio and their neighbours,
    with the evidence. Nothing is changed."""
    library = open_library(db)
    with handled():
        report = library.inconsistencies(limit=limit, config=config)
    for item in report.findings:
        if json_output:
            write_json_line(_jsonable(item))
            continue
        echo(f"{display_path(item.path)}\n    {item.evidence}")
        for path, genres in item.neighbours[:3]:
            echo(f"      near: {display_path(path)} ({', '.join(map(display_label, genres))})")
    if not json_output:
        for note in report.notes:
            echo(f"note: {note}")
        echo(f"{len(report.findings)} of {report.checked} labelled track(s) look inconsistent"
             + (f" ({report.protocol})" if report.protocol != "none" else ""))
