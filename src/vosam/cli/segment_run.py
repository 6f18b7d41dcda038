"""What ``vosam segment`` runs: read the source and its masks or prompts, propagate, write
the results through the sinks (imported only when the command runs)."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import vosam
from vosam import registry
from vosam.cli.common import (
    build_engine,
    build_refiner,
    engine_settings,
    report_skipped,
    require_weights,
    run_spec_from_args,
)
from vosam.cli.prompt_args import (
    build_prompt_segmenter,
    check_prompt_masks,
    gather_prompts,
    has_prompts,
    prompts_digest,
    segmenter_settings,
)
from vosam.cli.stream_run import StopSignal, check_stream_output, open_stream
from vosam.devices import device_name
from vosam.errors import FrameSourceError, InputError, OutputError
from vosam.io import annotation_files, open_source, read_annotations, require_objects, write_mask
from vosam.io.stream import is_stream
from vosam.progress import Progress
from vosam.runs import (
    Extra,
    check_apart,
    check_extras,
    check_output,
    input_digest,
    locked_outputs,
    requested,
    source_identity,
    staged_run,
    write_results,
)
from vosam.session import Session, SessionConfig
from vosam.sinks import MaskSink, OverlaySink, PreviewSink, ScoreSink

PROMPTS_DIR = "prompts"
"""Sub-folder of the output holding the masks made from prompts, one per prompted frame."""

MAX_FPS = 1000
"""The largest ``--fps`` of an overlay video."""


def run(args: argparse.Namespace) -> int:
    stream = is_stream(args.source)
    if args.max_frames is not None and not stream:
        raise InputError(None, "--max-frames is for streams; a video file is segmented whole")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(None, f"--max-frames must be at least 1, got {args.max_frames}")
    if args.masks is None and not has_prompts(args):
        raise InputError(
            None, "say where the objects are: --box, --click, --prompts or --masks (see --help)"
        )
    if args.overlay is not None and not (math.isfinite(args.fps) and 0 < args.fps <= MAX_FPS):
        raise InputError(
            f"--fps {args.fps:g}", f"the overlay's frame rate is a number in (0, {MAX_FPS}]"
        )
    if not stream and (args.stream_format or args.stream_option):
        raise InputError(None, "--stream-format and --stream-option are for streams")
    # the engine and refiner options, checked before any reading (--model may choose the engine)
    engine = run_spec_from_args(args).engine.name
    if has_prompts(args) and not registry.entry("engine", engine).takes_prompts:
        weights = getattr(args, "segmenter_weights", None)
        require_weights("--segmenter", args.segmenter, args.segmenter_checkpoint, weights)
    if stream and args.direction != "forward":
        raise InputError(
            args.source,
            f"a stream plays forward only: --direction {args.direction} needs a video file or "
            "a frame folder",
        )
    if args.merge != "nearest" and args.direction != "both":
        raise InputError(None, "--merge applies to --direction both")
    source_path = None if stream else Path(args.source)
    if stream:
        source = open_stream(args)
    else:
        source = open_source(source_path, tolerate_corrupt=args.tolerate_corrupt)
    try:
        return _run(args, source, source_path)
    finally:
        source.close()


def _run(args: argparse.Namespace, source, source_path: Path | None) -> int:
    stream = source_path is None
    files: dict[int, Path] = {}
    annotations = {}
    if args.masks is not None:
        if stream:
            _read_ahead_to_masks(source, args.masks)
        files = annotation_files(args.masks, source.names)
        annotations = read_annotations(
            args.masks, source.names, source.size, binarize=args.binarize
        )
        require_objects(annotations, args.masks)
    largest = max((int(m[m < 255].max(initial=0)) for m in annotations.values()), default=0)
    prompts = gather_prompts(args, source, first_id=largest + 1) if has_prompts(args) else []
    device = device_name(args.device)
    extras = _extras(args)
    check_apart([args.out, *(e.path for e in extras)], [source_path, args.masks, args.prompts])
    settings = {
        "command": "segment",
        "source": args.source if stream else str(source_path.resolve()),
        "source_id": {"stream": args.source} if stream else source_identity(source_path),
        "masks": str(args.masks.resolve()) if args.masks is not None else None,
        "annotations": {file.name: input_digest(file) for file in files.values()},
        "binarize": args.binarize,
        "tolerate_corrupt": args.tolerate_corrupt,
        "device": device,
        "version": vosam.__version__,
        "direction": args.direction,
        "objects_from_first_annotation": args.objects_from_first_annotation,
        **engine_settings(args),
    }
    if args.direction == "both":
        settings["merge"] = args.merge
    engine = run_spec_from_args(args).engine.name  # --model may have chosen it
    segmenting = prompts and not registry.entry("engine", engine).takes_prompts
    if prompts:
        settings["prompts"] = prompts_digest(prompts)
        if segmenting:
            settings["segmenter"] = segmenter_settings(args)
    if stream:
        # a stream is never the same twice: its run is unique, never resumed nor mixed
        settings["started"] = datetime.now(UTC).isoformat(timespec="microseconds")
    with locked_outputs(args.out, extras, wait=args.wait, command="segment") as killed:
        if stream:
            check_stream_output(args.out, overwrite=args.overwrite)
        state = check_output(
            args.out,
            settings=settings,
            names=() if stream else source.names,
            overwrite=args.overwrite,
            requested=requested(extras),
        )
        check_extras(args.out, extras, left_by_killed=killed)
        if state.kind == "done":
            print(f"{args.out}: already complete, nothing to do", file=sys.stderr)
            return 0
        if state.kind == "extend":
            print(f"{args.out}: {state.reason}; running again to write it", file=sys.stderr)
        out = _segment(args, source, settings, annotations, prompts, extras, segmenting)
    report_skipped("segment", source)
    stalled = getattr(source, "stalled", None)
    if stalled is not None and out.stopped_early == f"the stream stalled: {stalled}":
        raise FrameSourceError(
            "<stdin>" if args.source == "-" else args.source,
            f"{stalled}; stopped, keeping the {out.frames} masks written in {args.out} "
            "(run.json: stopped_early)",
        )
    how = f" (stopped early: {out.stopped_early})" if out.stopped_early else ""
    print(f"wrote {out.frames} masks to {args.out}{how}", file=sys.stderr)
    return 0


def _extras(args: argparse.Namespace) -> list[Extra]:
    """The outputs besides ``--out``: ``--overlay``, ``--save-scores``, ``--preview``.

    Raises:
        OutputError: two outputs on one path, scores in ``--out`` itself, or a preview
            inside ``--out``.
    """
    extras = []
    if args.overlay is not None:
        extras.append(Extra("overlay", args.overlay, spec={"fps": args.fps}))
    if args.save_scores is not None:
        extras.append(Extra("scores", args.save_scores, folder=True))
    if args.preview is not None:
        extras.append(Extra("preview", args.preview, live=True))
    out = args.out.resolve()
    seen: dict[Path, str] = {}
    for extra in extras:
        path = extra.path.resolve()
        if path in seen:
            raise OutputError(extra.path, f"is also the {seen[path]} output; name another file")
        seen[path] = extra.key
        if path == out:
            raise OutputError(extra.path, f"is --out; the {extra.key} needs a place of its own")
        if extra.live and out in path.parents:
            raise OutputError(
                extra.path,
                f"is inside --out {args.out}; a preview is replaced while the run goes on, "
                "so it goes outside the results folder",
            )
        if path in out.parents:
            raise OutputError(extra.path, f"contains --out {args.out}; name another place")
    return extras


def _segment(
    args: argparse.Namespace,
    source,
    settings: dict,
    annotations: dict,
    prompts: list,
    extras: list[Extra],
    segmenting: bool,
):  # -> vosam.runs.StagedRun
    """Propagate and write the run (holding the output locks); returns the committed run."""
    stream = not source.length_known
    session = Session(
        source,
        propagator=build_engine(args),
        config=SessionConfig(
            permanent_memory=not args.no_permanent_memory,
            objects_from_first_annotation=args.objects_from_first_annotation,
            merge=args.merge,
        ),
        refiner=build_refiner(args),
        segmenter=build_prompt_segmenter(args) if segmenting else None,
    )
    for index, mask in annotations.items():
        session.add_annotation(index, mask)
    for index, item in prompts:
        session.add_prompt(index, item.object_id, item.prompt)
    specs = {e.key: e.spec for e in extras}
    with (
        staged_run(args.out, settings) as out,
        StopSignal(enabled=stream, on_stop=getattr(source, "interrupt", None)) as interrupt,
    ):
        sinks: list[MaskSink] = []
        if args.save_scores is not None:
            sinks.append(ScoreSink(out.stage_folder("scores", args.save_scores, specs["scores"])))
        if args.overlay is not None:
            staged = out.stage_file("overlay", args.overlay, specs["overlay"])
            sinks.append(OverlaySink.to(staged, args.fps, source.size))
        if args.preview is not None:
            sinks.append(PreviewSink(out.live_file("preview", args.preview)))
        behind = (lambda: source.behind) if stream else None
        with Progress(None, "frames", enabled=not args.quiet, behind=behind) as bar:

            def played(done: int, total: int | None) -> None:
                bar.total = total  # frames played: both passes with --direction both
                bar.update()

            def stop() -> bool:
                if args.max_frames is not None and bar.done >= args.max_frames:
                    out.stopped_early = f"--max-frames {args.max_frames}"
                elif interrupt.reason is not None:
                    out.stopped_early = interrupt.reason
                return out.stopped_early is not None

            results = _checked(
                args,
                session,
                prompts,
                session.propagate_frames(direction=args.direction, progress=played),
            )
            out.frames = write_results(session, results, out.path, sinks=sinks, stop=stop)
        if out.stopped_early is None and interrupt.reason is not None:
            out.stopped_early = interrupt.reason  # while waiting for a frame
        stalled = getattr(source, "stalled", None)
        if out.stopped_early is None and stalled is not None:
            out.stopped_early = f"the stream stalled: {stalled}"
        made = session.prompt_masks
        if made:
            (out.path / PROMPTS_DIR).mkdir()
        for index, mask in made.items():
            write_mask(out.path / PROMPTS_DIR / f"{source.names[index]}.png", mask)
        out.skipped = {source.names[i]: why for i, why in source.skipped.items()}
    return out


def _checked(args: argparse.Namespace, session: Session, prompts: list, results):
    """``results`` once the prompts are known to give masks (checked on the first frame:
    the session makes every prompt's mask before it); see :func:`check_prompt_masks`."""
    first = True
    for item in results:
        if first and prompts:
            check_prompt_masks(args, session.prompt_masks, prompts)
        first = False
        yield item


def _read_ahead_to_masks(source, masks: Path) -> None:
    """Read a stream ahead to its last annotated frame, so the masks find their frames."""
    files = sorted(masks.glob("*.png")) if masks.is_dir() else [masks]
    numbers = [int(f.stem) for f in files if f.stem.isdigit()]
    if numbers:
        source.read(max(numbers))
