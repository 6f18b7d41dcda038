"""What ``vosam segment`` runs: read the source and its masks or prompts, propagate, write
the results through the sinks (imported only when the command runs)."""

from __future__ import annotations

import argparse
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
    run_spec_from_args,
)
from vosam.cli.prompt_args import (
    build_prompt_segmenter,
    gather_prompts,
    has_prompts,
    prompts_digest,
    segmenter_settings,
)
from vosam.cli.stream_run import StopSignal, check_stream_output, open_stream
from vosam.devices import device_name
from vosam.errors import InputError, OutputError
from vosam.io import annotation_files, open_source, read_annotations, require_objects, write_mask
from vosam.io.stream import is_stream
from vosam.progress import Progress
from vosam.runs import (
    check_apart,
    check_output,
    clear_overlay_leftovers,
    input_digest,
    source_identity,
    staged_run,
    write_results,
)
from vosam.session import Session, SessionConfig
from vosam.sinks import MaskSink, OverlaySink, PreviewSink, ScoreSink

PROMPTS_DIR = "prompts"
"""Sub-folder of the output holding the masks made from prompts, one per prompted frame."""


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
    if args.overlay is not None and args.fps <= 0:
        raise OutputError(args.overlay, f"--fps must be positive, got {args.fps}")
    if not stream and (args.stream_format or args.stream_option):
        raise InputError(None, "--stream-format and --stream-option are for streams")
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
    outputs = [args.out, args.overlay, args.save_scores, args.preview]
    check_apart(outputs, [source_path, args.masks, args.prompts])
    if args.save_scores is not None and args.save_scores.resolve() == args.out.resolve():
        raise OutputError(args.save_scores, "scores need a folder of their own")
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
        **engine_settings(args),
    }
    engine = run_spec_from_args(args).engine.name  # --model may have chosen it
    segmenting = prompts and not registry.entry("engine", engine).takes_prompts
    if prompts:
        settings["prompts"] = prompts_digest(prompts)
        if segmenting:
            settings["segmenter"] = segmenter_settings(args)
    if stream:
        # a stream is never the same twice: its run is unique, never resumed nor mixed
        settings["started"] = datetime.now(UTC).isoformat(timespec="microseconds")
        check_stream_output(args.out, overwrite=args.overwrite)
    requested = {
        "overlay": {"fps": args.fps, "path": str(args.overlay.resolve())} if args.overlay else None,
        "scores": {"path": str(args.save_scores.resolve())} if args.save_scores else None,
    }
    state = check_output(
        args.out,
        settings=settings,
        names=() if stream else source.names,
        overwrite=args.overwrite,
        requested=requested,
    )
    if state.kind == "done":
        print(f"{args.out}: already complete, nothing to do", file=sys.stderr)
        return 0
    if state.kind == "extend":
        print(f"{args.out}: {state.reason}; running again to write it", file=sys.stderr)
    session = Session(
        source,
        propagator=build_engine(args),
        config=SessionConfig(permanent_memory=not args.no_permanent_memory),
        refiner=build_refiner(args),
        segmenter=build_prompt_segmenter(args) if segmenting else None,
    )
    for index, mask in annotations.items():
        session.add_annotation(index, mask)
    for index, item in prompts:
        session.add_prompt(index, item.object_id, item.prompt)
    with (
        staged_run(args.out, settings) as out,
        StopSignal(enabled=stream, on_stop=getattr(source, "interrupt", None)) as interrupt,
    ):
        sinks: list[MaskSink] = []
        if args.save_scores is not None:
            sinks.append(
                ScoreSink(out.stage_folder("scores", args.save_scores, requested["scores"]))
            )
        if args.overlay is not None:
            clear_overlay_leftovers(args.overlay)
            sinks.append(OverlaySink.to(args.overlay, args.fps, source.size))
        if args.preview is not None:
            sinks.append(PreviewSink(args.preview))
        total = len(source) if source.length_known else None
        behind = (lambda: source.behind) if stream else None
        with Progress(total, "frames", enabled=not args.quiet, behind=behind) as bar:

            def stop() -> bool:
                if args.max_frames is not None and bar.done >= args.max_frames:
                    out.stopped_early = f"--max-frames {args.max_frames}"
                elif interrupt.reason is not None:
                    out.stopped_early = interrupt.reason
                return out.stopped_early is not None

            out.frames = write_results(
                session, session.propagate_frames(), out.path, sinks=sinks, progress=bar, stop=stop
            )
        if out.stopped_early is None and interrupt.reason is not None:
            out.stopped_early = interrupt.reason  # while waiting for a frame
        made = session.prompt_masks
        if made:
            (out.path / PROMPTS_DIR).mkdir()
        for index, mask in made.items():
            write_mask(out.path / PROMPTS_DIR / f"{source.names[index]}.png", mask)
        out.skipped = {source.names[i]: why for i, why in source.skipped.items()}
        if args.overlay is not None:
            out.record_file("overlay", args.overlay, requested["overlay"])
    report_skipped("segment", source)
    how = f" (stopped early: {out.stopped_early})" if out.stopped_early else ""
    print(f"wrote {out.frames} masks to {args.out}{how}", file=sys.stderr)
    return 0


def _read_ahead_to_masks(source, masks: Path) -> None:
    """Read a stream ahead to its last annotated frame, so the masks find their frames."""
    files = sorted(masks.glob("*.png")) if masks.is_dir() else [masks]
    numbers = [int(f.stem) for f in files if f.stem.isdigit()]
    if numbers:
        source.read(max(numbers))
