"""Settings of the web app.

The fields that ``vosam app`` takes as options carry their command-line help in their
metadata (``help``); the command reads its defaults and help from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
MIN_UPLOAD_RATE = 256 * 1024  # bytes per second an upload may not fall below on average


def _cli(help: str) -> dict[str, str]:
    """Metadata of a field that is also an option of ``vosam app``: its help there."""
    return {"help": help}


@dataclass(frozen=True)
class AppConfig:
    """How ``vosam app`` serves and where it may read and write.

    Attributes:
        workspace: the only folder the app touches. Server paths typed in the page must lie
            inside it; uploads and exports go to ``workspace/.vosam-app/<session>/``.
        host: interface to listen on; loopback by default so nothing outside this machine
            can reach the app.
        port: TCP port; 0 picks a free one.
        engine: propagation engine name (see :func:`vosam.engines.available_engines`);
            with ``model`` it follows from the model.
        model: a named model of :mod:`vosam.models` for the engine (``xmem``,
            ``sam2.1-hiera-tiny``), fetched once into the cache, instead of ``checkpoint``.
        checkpoint: weights of the engine, for engines that need them (``xmem``, ``sam2``).
        segmenter: promptable segmenter name for clicks and boxes (see
            :func:`vosam.refine.available_segmenters`); with ``segmenter_weights`` it
            follows from the model.
        segmenter_weights: a named model of :mod:`vosam.models` for the segmenter
            (``sam-vit-b``, ``sam2.1-hiera-tiny``), instead of ``segmenter_checkpoint``.
        segmenter_checkpoint: weights of the segmenter (``sam``, ``sam-hq``, ``sam2``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; passed to both builders.
        max_upload_bytes: larger uploads are refused (HTTP 413) before being read; a zip
            of frames may unpack to at most this much.
        max_upload_pixels: uploaded videos and zips of frames whose frames have more pixels
            than this are refused, from their headers, before anything is decoded. Frames
            opened from the workspace are held to the frame readers' own bound
            (:data:`vosam.io.frames.MAX_FRAME_PIXELS`), also from their headers.
        max_frames: videos with more frames are refused (the app keeps one mask per frame).
        max_sessions: browser sessions kept at once; while all are in use, a request for a
            new one is refused (HTTP 503). Sessions are never dropped to make room.
        session_idle_s: a session that has had no request and no running job for this many
            seconds is dropped, with its uploads and exports.
        max_session_bytes: disk quota of one session (its upload, the frames unpacked from
            it and its exports); None means four times ``max_upload_bytes``.
        request_timeout_s: a request's line and headers must arrive within this many
            seconds, and every read or write of it must progress within it; a body gets
            this long plus one second per :data:`MIN_UPLOAD_RATE` bytes.
        max_connections: connections served at once; more are answered 503 and closed.
        workers: propagation, suggestion and export jobs run at once across sessions;
            more wait in a queue.
        fps: frame rate of exported overlay videos.
    """

    workspace: Path = field(
        default_factory=Path.cwd,
        metadata=_cli("the only folder the app opens videos from and writes to"),
    )
    host: str = field(
        default="127.0.0.1", metadata=_cli("interface to listen on (loopback: this machine only)")
    )
    port: int = field(default=7860, metadata=_cli("port (0: any free one)"))
    engine: str = field(default="embedded", metadata=_cli("propagation engine"))
    model: str | None = field(
        default=None,
        metadata=_cli(
            "a named model of the engine (vosam models list), fetched once; sets --engine"
        ),
    )
    checkpoint: Path | None = field(
        default=None, metadata=_cli("weights file of an engine that needs them")
    )
    segmenter: str = field(
        default="embedded",
        metadata=_cli("promptable segmenter for clicks and boxes (embedded, sam, sam-hq, sam2)"),
    )
    segmenter_weights: str | None = field(
        default=None,
        metadata=_cli(
            "a named model of the segmenter (vosam models list), fetched once; sets --segmenter"
        ),
    )
    segmenter_checkpoint: Path | None = field(
        default=None, metadata=_cli("weights file of the segmenter")
    )
    device: str = field(default="auto", metadata=_cli("auto, cpu, cuda or cuda:N"))
    max_upload_bytes: int = field(
        default=512 * MIB, metadata=_cli("uploads larger than this are refused")
    )
    max_upload_pixels: int = 4096 * 4096
    max_frames: int = field(default=2000, metadata=_cli("longest video accepted, in frames"))
    max_sessions: int = 16
    session_idle_s: float = 3600.0
    max_session_bytes: int | None = None
    request_timeout_s: float = 30.0
    max_connections: int = 64
    workers: int = field(default=1, metadata=_cli("background jobs run at once"))
    fps: float = field(default=24.0, metadata=_cli("frame rate of exported overlay videos"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "workspace", Path(self.workspace).resolve())
        self._named_models()
        for name in ("checkpoint", "segmenter_checkpoint"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        limits = (
            self.max_upload_bytes,
            self.max_upload_pixels,
            self.max_frames,
            self.max_sessions,
            self.session_idle_s,
            self.request_timeout_s,
            self.max_connections,
        )
        if min(limits) <= 0:
            raise ValueError(
                "upload, frame, session, timeout and connection limits must be positive"
            )
        if self.max_session_bytes is None:
            object.__setattr__(self, "max_session_bytes", 4 * self.max_upload_bytes)
        elif self.max_session_bytes < self.max_upload_bytes:
            raise ValueError("max_session_bytes must be at least max_upload_bytes")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")

    def _named_models(self) -> None:
        """Take the engine and segmenter from the named models (a ValueError naming an
        unknown or mismatched model)."""
        from vosam.models.resolve import entry_for

        for model, field_name, kind, checkpoint in (
            (self.model, "engine", "engine", self.checkpoint),
            (self.segmenter_weights, "segmenter", "segmenter", self.segmenter_checkpoint),
        ):
            if model is None:
                continue
            if checkpoint is not None:
                raise ValueError(f"give a named model or a checkpoint file of the {kind}, not both")
            given = getattr(self, field_name)
            entry = entry_for(model, kind, None if given == "embedded" else given)
            object.__setattr__(self, field_name, entry.backend)

    @property
    def data_dir(self) -> Path:
        """Where the app writes: ``workspace/.vosam-app``."""
        return self.workspace / ".vosam-app"
