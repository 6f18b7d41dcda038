"""Training the parent appearance model on annotated videos (``vosam train``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vosam.engines.fused.parent import SHIPPED, ParentModel, load_parent
from vosam.errors import CheckpointError, OutputError

# the checkpoint of an unfinished training, beside its output
CHECKPOINT_SUFFIX = ".vosam-train.npz"


def checkpoint_path(out: Path) -> Path:
    return out.with_name(f".{out.name}{CHECKPOINT_SUFFIX}")


def check_out(out: Path, *, overwrite: bool) -> None:
    """Refuse an output that is not a parent model vosam wrote, or one without
    ``overwrite``.

    Raises:
        OutputError: naming the file.
    """
    if out.is_dir():
        raise OutputError(out, "is a folder; name the model file")
    if not out.parent.is_dir():
        raise OutputError(out, "its folder does not exist")
    if out.exists():
        try:
            load_parent(out)
        except CheckpointError:
            raise OutputError(out, "exists and is not a model vosam train wrote") from None
        if not overwrite:
            raise OutputError(out, "exists; pass --overwrite to replace it")


def annotated_frames(sequence, frame_step: int) -> list[tuple[Path, Path]]:
    """``(image, mask)`` paths of every ``frame_step``-th annotated frame of a dataset
    sequence, in order."""
    from vosam.io import natural_sorted

    suffixes = (".jpg", ".jpeg", ".png")
    images = {
        p.stem: p
        for p in sequence.frames.iterdir()
        if p.suffix.lower() in suffixes and not p.name.startswith(".")
    }
    masks = {p.stem: p for p in sequence.annotations.glob("*.png")}
    pairs = [(images[s], masks[s]) for s in natural_sorted(list(images)) if s in masks]
    return pairs[::frame_step]


def frame_features(extractor, frames: Iterable[tuple[Path, Path]]) -> Iterator[tuple]:
    """``(dense (C, h8, w8) on the CPU, mask uint8 (H, W))`` of ``(image, mask)`` paths;
    ``extractor``: a :class:`~vosam.engines.embedded.features.FeatureExtractor`."""
    import torch
    from PIL import Image

    from vosam.io import read_mask

    for image_path, mask_path in frames:
        image = np.array(Image.open(image_path).convert("RGB"))
        mask = read_mask(mask_path, expected_size=image.shape[:2])
        with torch.inference_mode():
            yield extractor(image).dense.cpu(), mask


def train_parent(
    sequences: Sequence,
    out: Path,
    *,
    init: str = "shipped",
    frame_step: int = 6,
    device: str = "auto",
    progress: bool = True,
    command: str = "vosam train",
) -> object:
    """Fit the parent model on ``sequences`` (dataset sequences) and write it to ``out``.

    Each finished video is added to a checkpoint beside ``out``; a later call with the same
    settings resumes after it. The progress shows the prequential loss: the model's error on
    each frame before it learns that frame (it falls as the model generalises); the mean per
    video is kept in the model's ``meta["losses"]``. Returns the
    :class:`~vosam.engines.fused.parent.ParentModel`.
    """
    from vosam.devices import resolve_device
    from vosam.engines.embedded.features import FeatureExtractor
    from vosam.progress import Progress

    settings = {"frame_step": frame_step}
    extractor = FeatureExtractor(resolve_device(device), 480)
    plan = [(seq.name, annotated_frames(seq, frame_step)) for seq in sequences]
    total = sum(len(frames) for _, frames in plan)
    if total == 0:
        raise CheckpointError(out, "no annotated frame to train on in these videos")
    ckpt = checkpoint_path(out)
    model = _resume(ckpt, settings)
    done = set(model.videos) if model is not None else set()
    losses = list(model.meta.get("losses", [])) if model is not None else []
    with Progress(total, "frames", enabled=progress) as bar:
        bar.done = sum(len(f) for name, f in plan if name in done)
        for name, frames in plan:
            if name in done:
                continue
            seen = []  # the loss of the model so far on each frame, before it learns it
            for dense, mask in frame_features(extractor, frames):
                if model is None:
                    model = ParentModel.empty(dense.shape[0] + 1)
                seen.append(model.loss(dense, mask))
                model.add(dense, mask)
                bar.update()
            losses.append(float(np.mean(seen)))
            if progress:
                print(
                    f"{name}: loss {losses[-1]:.3f} (the model before this video), "
                    f"{len(losses)}/{len(plan)} videos",
                    file=sys.stderr,
                    flush=True,
                )
            model.videos.append(name)
            model.meta = {"settings": settings, "losses": losses}
            model.save(ckpt)
    if init == "shipped":
        model = load_parent(SHIPPED).merge(model)
        model.videos = [*model.videos]
    model.meta = {
        "command": command,
        "frame_step": frame_step,
        "init": init,
        "version": _version(),
        # per video trained on, the mean loss of the model before it saw that video
        "losses": losses,
    }
    model.save(out)
    ckpt.unlink(missing_ok=True)
    return model


def _resume(ckpt: Path, settings: dict) -> ParentModel | None:
    """The statistics of an unfinished training of the same settings, if any."""
    if not ckpt.exists():
        return None
    try:
        model = load_parent(ckpt)
    except CheckpointError:
        return None
    if json.dumps(model.meta.get("settings"), sort_keys=True) != json.dumps(
        settings, sort_keys=True
    ):
        return None
    return model


def _version() -> str:
    import vosam

    return vosam.__version__
