"""What a classify run reports: one :class:`FileResult` per file, one :class:`RunSummary`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FileResult", "RunSummary"]


@dataclass
class FileResult:
    """The outcome of one file in a run (what ``--json`` prints).

    ``status`` is ``"ok"``, ``"error"`` or ``"skipped"`` (the same content met twice
    in this run, or the same path given twice); ``cached`` means the outcome came
    from the database without analysing; ``from_vectors`` that the model answered from
    vectors already stored for the content (another taxonomy, a head on stored
    embeddings) without decoding the audio.
    """

    path: str
    status: str
    model_id: str
    genres: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    cached: bool = False
    content_hash: str | None = None
    duration: float | None = None
    duplicate_of: str | None = None
    decided: list[str] | None = None
    abstain_reason: str | None = None
    stage: str | None = None
    from_vectors: bool = False

    def as_json(self, *, top_k: int = 3, top_tags: int = 5) -> dict[str, Any]:
        """The JSON Lines object of this file (genres and tags best first).

        ``decided`` is the first decided genre (a string) or null; ``decided_all`` every
        decided genre; ``stage`` is present when a cascade made the prediction.
        """
        failed = self.status == "error"
        record: dict[str, Any] = {
            "path": self.path,
            "status": self.status,
            "genres": [] if failed else self.genres[:top_k],
            "decided": None if failed or not self.decided else self.decided[0],
            "decided_all": [] if failed or not self.decided else list(self.decided),
            "abstain_reason": None if failed else self.abstain_reason,
            "error": self.error,
            "error_code": self.error_code,
            "cached": self.cached,
            "content_hash": self.content_hash,
            "duration": None if self.duration is None else round(self.duration, 3),
            "model_id": self.model_id,
            "tags": [] if failed else self.tags[:top_tags],
        }
        if self.stage is not None:
            record["stage"] = self.stage
        if self.duplicate_of is not None:
            record["duplicate_of"] = self.duplicate_of
        return record


@dataclass
class RunSummary:
    """Counts and timings of one classify run."""

    run_id: int
    model_id: str = ""
    status: str = "running"  # running | done | failed | interrupted | cancelled
    ok: int = 0
    cached: int = 0
    from_vectors: int = 0
    failed: int = 0
    ignored: int = 0
    skipped: int = 0
    audio_seconds: float = 0.0  # duration of every ok file (cached included)
    analysed_audio_seconds: float = 0.0  # duration of the files decoded in this run
    elapsed: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    #: failures kept for the report; beyond it only the count grows (bounded memory)
    MAX_FAILURES = 1000

    @property
    def files(self) -> int:
        return self.ok + self.failed + self.skipped

    @property
    def analysed(self) -> int:
        """Files decoded and classified in this run (neither cached nor from vectors)."""
        return self.ok - self.cached - self.from_vectors

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio analysed in this run per second of wall time (0: none)."""
        return self.analysed_audio_seconds / self.elapsed if self.elapsed > 0 else 0.0

    def add_failure(self, path: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < self.MAX_FAILURES:
            self.failures.append((path, reason))

    def counts(self) -> dict[str, Any]:
        """What the run reported, as stored with it."""
        return {"ok": self.ok, "cached": self.cached, "from_vectors": self.from_vectors,
                "failed": self.failed, "ignored": self.ignored, "skipped": self.skipped,
                "audio_seconds": round(self.audio_seconds, 3),
                "analysed_audio_seconds": round(self.analysed_audio_seconds, 3),
                "elapsed": round(self.elapsed, 3), "model_id": self.model_id}

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            **self.counts(),
            "realtime_factor": round(self.realtime_factor, 2),
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            "cpu": {k: round(v, 3) for k, v in self.cpu.items()},
            "peak_rss_mb": {k: round(v, 1) for k, v in self.peak_rss_mb.items()},
        }
