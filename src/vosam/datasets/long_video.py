"""The Long-time Video dataset (AFB-URR; blueboy, dressage, rat), semi-supervised.

Layout as distributed with XMem's ``long_video_set``::

    ROOT/JPEGImages/<video>/00000.jpg ...    about 2,500 frames a video
    ROOT/Annotations/<video>/00000.png ...   palette PNGs on about 20 frames (sparse)

Input: the first annotation (every object). The evaluation scores the annotated frames
only, the first and the last excepted (``vosam eval --task long-video``). Results::

    OUT/<video>/<frame>.png   every frame

The "×3" protocol plays each video forward, backward and forward again (3N − 2 frames:
the turning frames are not repeated), so that memory must last three times as long. Each
frame's mask from its last visit (the second forward pass; the backward one for frame 0)
is written under the original frame name, so the same ground truth scores it. (XMem's
``long_video_x3`` copy of the dataset scores the annotated frames of all three passes.)
"""

from __future__ import annotations

from pathlib import Path

from vosam.datasets.base import AnnotationInput, DatasetSequence, choose, frame_names, mismatch
from vosam.errors import InputError
from vosam.playback import x3_order

__all__ = ["read_long_video", "x3_order"]


def read_long_video(
    root: str | Path, *, split: str | None = None, names: list[str] | None = None
) -> list[DatasetSequence]:
    """The videos of a Long-time Video root (``split`` is not used by this dataset).

    Raises:
        LayoutMismatch: ``root`` lacks ``JPEGImages/`` or ``Annotations/``.
        InputError: a video without frames or without any annotation.
    """
    root = Path(root)
    if split is not None:
        root = root / split if (root / split).is_dir() else root
    if not (root / "JPEGImages").is_dir() or not (root / "Annotations").is_dir():
        mismatch(root, "Long-time Video", ["JPEGImages/<video>/*.jpg", "Annotations/<video>/*.png"])
    videos = sorted(p.name for p in (root / "JPEGImages").iterdir() if p.is_dir())
    out = []
    for video in choose(videos, names, root / "JPEGImages"):
        frames_dir = root / "JPEGImages" / video
        if not frame_names(frames_dir):
            raise InputError(frames_dir, "video has no frames")
        ann_dir = root / "Annotations" / video
        annotated = frame_names(ann_dir, (".png",))
        if not annotated:
            raise InputError(ann_dir, "no annotation PNG for this video")
        first = annotated[0]
        out.append(
            DatasetSequence(
                name=video,
                frames=frames_dir,
                inputs={first: AnnotationInput(ann_dir / f"{first}.png")},
                starts={},
                write=None,
                output=Path(video),
                annotations=ann_dir,
            )
        )
    return out
