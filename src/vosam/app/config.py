"""Settings of the web app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class AppConfig:
    """How ``vosam app`` serves and where it may read and write.

    Attributes:
        workspace: the only folder the app touches. Server paths typed in the page must lie
            inside it; uploads and exports go to ``workspace/.vosam-app/<session>/``.
        host: interface to listen on; loopback by default so nothing outside this machine
            can reach the app.
        port: TCP port; 0 picks a free one.
        engine: propagation engine name (see :func:`vosam.engines.available_engines`).
        engine_options: keyword arguments of the engine's builder (``checkpoint``, ...).
        segmenter: promptable segmenter name for clicks and boxes (see
            :func:`vosam.refine.available_segmenters`).
        segmenter_options: keyword arguments of the segmenter's builder.
        device: ``auto``, ``cpu`` or ``cuda``; passed to both builders.
        max_upload_bytes: larger uploads are refused (HTTP 413) before being read.
        max_frames: videos with more frames are refused (the app keeps one mask per frame).
        max_sessions: browser sessions kept at once; the least recently used one is
            dropped (with its uploads) when another starts.
        workers: propagation, suggestion and export jobs run at once across sessions;
            more wait in a queue.
        fps: frame rate of exported overlay videos.
    """

    workspace: Path = field(default_factory=Path.cwd)
    host: str = "127.0.0.1"
    port: int = 7860
    engine: str = "embedded"
    engine_options: dict[str, object] = field(default_factory=dict)
    segmenter: str = "embedded"
    segmenter_options: dict[str, object] = field(default_factory=dict)
    device: str = "auto"
    max_upload_bytes: int = 512 * MIB
    max_frames: int = 2000
    max_sessions: int = 16
    workers: int = 1
    fps: float = 24.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "workspace", Path(self.workspace).resolve())
        if self.max_upload_bytes <= 0 or self.max_frames <= 0 or self.max_sessions <= 0:
            raise ValueError("upload, frame and session limits must be positive")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")

    @property
    def data_dir(self) -> Path:
        """Where the app writes: ``workspace/.vosam-app``."""
        return self.workspace / ".vosam-app"
