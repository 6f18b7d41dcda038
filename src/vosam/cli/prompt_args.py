"""The prompts of ``vosam segment`` (``--box``, ``--click``, ``--prompts``, ``--segmenter``;
the options themselves are in :mod:`vosam.cli.segment_cmd`): read, checked against the
video and named in every error."""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np

from vosam.errors import InputError
from vosam.io.frames import FrameSource
from vosam.io.prompts import FramePrompt, prompts_json, read_prompts, resolve_frame
from vosam.objects import MAX_OBJECT_ID
from vosam.prompt_masks import prompt_problem
from vosam.refine.base import Prompt


def has_prompts(args: argparse.Namespace) -> bool:
    return bool(args.box or args.click or args.prompts is not None)


def gather_prompts(
    args: argparse.Namespace, source: FrameSource, *, first_id: int = 1
) -> list[tuple[int, FramePrompt]]:
    """Every prompt of the command line, with its frame index, checked against
    ``source``: frames it has, ids in 1..254, boxes and clicks inside the frame.

    ``first_id``: the object of the first ``--box`` when ``--object`` is not given.

    Raises:
        InputError: naming the prompt (``--box 1,2,3,4``, ``prompts.json: prompt 2``)
            and the problem.
    """
    items = _from_options(args, first_id) + (
        read_prompts(args.prompts) if args.prompts is not None else []
    )
    stream = not source.length_known
    out: list[tuple[int, FramePrompt]] = []
    seen: dict[tuple[int, int], str] = {}
    for item in items:
        where = _where(args, item)
        index = resolve_frame(item.frame, source.names, stream=stream)
        if index is None:
            raise InputError(where, f"the video has no frame {item.frame!r} ({_length(source)})")
        if stream:
            source.read(index)  # reads the stream ahead to it, or says why not
        problem = prompt_problem(item.prompt, source.size)
        if problem is not None:
            raise InputError(where, problem)
        key = (index, item.object_id)
        if key in seen:
            raise InputError(
                where, f"object {item.object_id} on frame {index} is also prompted by {seen[key]}"
            )
        seen[key] = item.label
        out.append((index, item))
    return out


def _where(args: argparse.Namespace, item: FramePrompt) -> str:
    if item.label.startswith("prompt "):
        return f"{args.prompts}: {item.label}"
    return item.label


def _length(source: FrameSource) -> str:
    return f"{len(source)} frames" if source.length_known else "a stream"


def _from_options(args: argparse.Namespace, first_id: int) -> list[FramePrompt]:
    if not (args.box or args.click):
        return []
    frame: int | str = int(args.frame) if args.frame.lstrip("-").isdigit() else args.frame
    if isinstance(frame, int) and frame < 0:
        raise InputError(f"--frame {args.frame}", "frame indices start at 0")
    first = first_id if args.object is None else args.object
    last = first + max(len(args.box), 1) - 1
    if not 0 < first <= MAX_OBJECT_ID or last > MAX_OBJECT_ID:
        raise InputError(
            f"--object {first}",
            f"object ids are 1..{MAX_OBJECT_ID} (the prompts need {first}..{last})",
        )
    boxes = [(text, _box(text)) for text in args.box]
    clicks = [_click(text) for text in args.click]
    items = []
    for k, (text, box) in enumerate(boxes):
        points = labels = None
        label = f"--box {text}"
        if k == 0 and clicks:
            points = np.array([c[0] for c in clicks], np.float32)
            labels = np.array([c[1] for c in clicks], np.int32)
            label += " with --click " + " --click ".join(args.click)
        items.append(
            FramePrompt(frame, first + k, Prompt(box=box, points=points, labels=labels), label)
        )
    if not boxes:
        points = np.array([c[0] for c in clicks], np.float32)
        labels = np.array([c[1] for c in clicks], np.int32)
        label = "--click " + " --click ".join(args.click)
        items.append(FramePrompt(frame, first, Prompt(points=points, labels=labels), label))
    return items


def _box(text: str) -> np.ndarray:
    values = _floats(text)
    if values is None or len(values) != 4:
        raise InputError(f"--box {text}", "a box is four numbers X0,Y0,X1,Y1")
    return np.array(values, np.float32)


def _click(text: str) -> tuple[tuple[float, float], int]:
    parts = text.split(",")
    label = 1
    if len(parts) == 3 and parts[2].strip() in ("+", "-"):
        label = 1 if parts.pop().strip() == "+" else 0
    values = _floats(",".join(parts))
    if values is None or len(values) != 2:
        raise InputError(f"--click {text}", "a click is X,Y or X,Y,+ (on) or X,Y,- (off)")
    return (values[0], values[1]), label


def _floats(text: str) -> list[float] | None:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    return values if all(np.isfinite(values)) else None


def prompts_digest(prompts: list[tuple[int, FramePrompt]]) -> str:
    """SHA-256 of the prompts (frame indices, ids, boxes, clicks) for the run's
    fingerprint: other prompts make other results."""
    resolved = [
        FramePrompt(index, item.object_id, item.prompt, item.label) for index, item in prompts
    ]
    text = json.dumps(prompts_json(resolved), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def segmenter_settings(args: argparse.Namespace) -> dict:
    ckpt = args.segmenter_checkpoint
    weights = getattr(args, "segmenter_weights", None)
    out = {
        "name": _segmenter(args),
        "checkpoint": str(ckpt.resolve()) if ckpt else None,
        "model": args.segmenter_model,
    }
    if weights is not None:
        out["weights"] = weights
    return out


def _segmenter(args: argparse.Namespace) -> str:
    """``--segmenter``, or the segmenter of ``--segmenter-weights``."""
    from vosam.cli.common import segmenter_of

    weights = getattr(args, "segmenter_weights", None)
    given = None if weights is not None and args.segmenter == "embedded" else args.segmenter
    try:
        return segmenter_of(given, weights, "--segmenter")
    except ValueError as exc:
        raise InputError(None, str(exc)) from None


def build_prompt_segmenter(args: argparse.Namespace):  # -> PromptableSegmenter
    """The ``--segmenter`` (or the ``--segmenter-weights`` model) that turns prompts into
    masks."""
    from vosam import registry
    from vosam.refine import available_segmenters, build_segmenter

    name = _segmenter(args)
    if name not in available_segmenters():
        raise InputError(
            f"--segmenter {name}",
            f"unknown segmenter; choose one of {', '.join(available_segmenters())}",
        )
    weights = getattr(args, "segmenter_weights", None)
    if weights is not None:
        if args.segmenter_checkpoint is not None or args.segmenter_model:
            raise InputError(
                None,
                f"--segmenter-weights {weights} sets the weights and the variant; leave "
                "--segmenter-checkpoint and --segmenter-model out",
            )
        return build_segmenter(model=weights, device=args.device)
    kwargs: dict[str, object] = {"device": args.device}
    if args.segmenter_checkpoint is not None:
        kwargs["checkpoint"] = args.segmenter_checkpoint
    if args.segmenter_model:
        # the registry names the builder's argument that picks a model variant, if any
        model_arg = registry.entry("segmenter", name).model_arg
        if model_arg is None:
            raise InputError(None, f"--segmenter-model does not apply to the {name} segmenter")
        kwargs[model_arg] = args.segmenter_model
    return build_segmenter(name, **kwargs)
