"""Bad inputs through the CLI: for each, exit code 2, one line on stderr naming the file,
no traceback, and every file (outputs and inputs) exactly as before. Bad outputs count as
bad input: an output that would replace the user's file or folder, a preview naming a
folder, a name too long; so do prompts that find nothing and models without weights.

Each case runs with the output folder absent and with it holding unrelated files; the cases
that fail only half-way through a run (a damaged frame) also run over a finished earlier
run with --overwrite, which must survive untouched.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.reliability.conftest import tree
from vosam.cli import main

ENTRY = "import sys; from vosam.cli import main; sys.exit(main(sys.argv[1:]))"

# id → (argv, what the error line names, fails half-way); {w}: the inputs, {out}: the output
CASES: dict[str, tuple[str, str, bool]] = {
    "segment-missing-source": ("segment {w}/nope --masks {w}/ann --out {out}", "{w}/nope", False),
    "segment-empty-folder": ("segment {w}/empty --masks {w}/ann --out {out}", "{w}/empty", False),
    "segment-garbage-video": (
        "segment {w}/garbage.mp4 --masks {w}/ann --out {out}",
        "{w}/garbage.mp4",
        False,
    ),
    "segment-truncated-video": (
        "segment {w}/truncated.mp4 --masks {w}/ann --out {out}",
        "{w}/truncated.mp4",
        False,
    ),
    "segment-damaged-video": (
        "segment {w}/damaged.mp4 --masks {w}/ann --out {out}",
        "{w}/damaged.mp4",
        True,
    ),
    "segment-damaged-jpeg": (
        "segment {w}/damaged-jpegs --masks {w}/ann --out {out}",
        "{w}/damaged-jpegs/00003.jpg",
        True,
    ),
    "segment-mask-size": (
        "segment {w}/frames --masks {w}/ann-small --out {out}",
        "{w}/ann-small/00000.png",
        False,
    ),
    "segment-mask-anti-aliased": (
        "segment {w}/frames --masks {w}/ann-smooth --out {out}",
        "{w}/ann-smooth/00000.png",
        False,
    ),
    "segment-mask-all-zero": (
        "segment {w}/frames --masks {w}/ann-zero --out {out}",
        "{w}/ann-zero",
        False,
    ),
    "segment-mask-all-void": (
        "segment {w}/frames --masks {w}/ann-void --out {out}",
        "{w}/ann-void",
        False,
    ),
    "segment-mask-no-such-frame": (
        "segment {w}/frames --masks {w}/ann-foreign --out {out}",
        "{w}/ann-foreign/99999.png",
        False,
    ),
    "segment-mask-not-png": (
        "segment {w}/frames --masks {w}/ann-garbage --out {out}",
        "{w}/ann-garbage/00000.png",
        False,
    ),
    "segment-no-masks": (
        "segment {w}/frames --masks {w}/ann-none --out {out}",
        "{w}/ann-none",
        False,
    ),
    "segment-cuda-without-gpu": (
        "segment {w}/frames --masks {w}/ann --out {out} --device cuda",
        "device 'cuda'",
        False,
    ),
    "segment-overlay-is-the-input": (
        "segment {w}/video.mp4 --masks {w}/ann --out {out} --overlay {w}/video.mp4",
        "{w}/video.mp4",
        False,
    ),
    "segment-out-is-the-input": (
        "segment {w}/frames --masks {w}/ann --out {w}/frames --overwrite",
        "{w}/frames",
        False,
    ),
    "dataset-not-davis": ("dataset {w}/not-davis --out {out}", "{w}/not-davis", False),
    "dataset-anti-aliased": (
        "dataset {w}/davis-smooth --out {out}",
        "{w}/davis-smooth/Annotations/480p/seq/00000.png",
        False,
    ),
    "dataset-all-zero": (
        "dataset {w}/davis-zero --out {out}",
        "{w}/davis-zero/Annotations/480p/seq/00000.png",
        False,
    ),
    "dataset-damaged-jpeg": (
        "dataset {w}/davis-damaged --out {out}",
        "{w}/davis-damaged/JPEGImages/480p/seq/00003.jpg",
        True,
    ),
    "dataset-out-is-the-frames": (
        "dataset {w}/davis --out {w}/davis/JPEGImages/480p --overwrite",
        "{w}/davis/JPEGImages/480p/seq",
        False,
    ),
    "dataset-out-is-the-annotations": (
        "dataset {w}/davis --out {w}/davis/Annotations/480p --overwrite",
        "{w}/davis/Annotations/480p/seq",
        False,
    ),
    "eval-missing-predictions": ("eval {w}/gt {w}/nope --out {out}", "{w}/nope", False),
    "eval-damaged-prediction": (
        "eval {w}/gt {w}/pred-garbage --out {out}",
        "{w}/pred-garbage/seq/00003.png",
        False,
    ),
    "eval-prediction-size": (
        "eval {w}/gt {w}/pred-small --out {out}",
        "{w}/pred-small/seq/00003.png",
        False,
    ),
    "eval-out-is-the-predictions": ("eval {w}/gt {w}/pred --out {w}/pred", "{w}/pred", False),
    "suggest-k-0": ("suggest {w}/frames --masks {w}/ann --k 0", "--k", False),
    "suggest-one-frame": ("suggest {w}/one --masks {w}/ann", "{w}/one", False),
    "suggest-anti-aliased": (
        "suggest {w}/frames --masks {w}/ann-smooth",
        "{w}/ann-smooth/00000.png",
        False,
    ),
    "discover-missing-source": ("discover {w}/nope --out {out}", "{w}/nope", False),
    "discover-boxes-not-json": (
        "discover {w}/frames --boxes {w}/boxes-bad.json --refiner embedded --out {out}",
        "{w}/boxes-bad.json",
        False,
    ),
    "discover-boxes-frame": (
        "discover {w}/frames --boxes {w}/boxes-frame.json --refiner embedded --out {out}",
        "{w}/boxes-frame.json",
        False,
    ),
    "discover-boxes-id": (
        "discover {w}/frames --boxes {w}/boxes-id.json --refiner embedded --out {out}",
        "{w}/boxes-id.json",
        False,
    ),
    "discover-cuda-without-gpu": (
        "discover {w}/frames --out {out} --device cuda",
        "device 'cuda'",
        False,
    ),
    # outputs that would replace the user's files (with or without --overwrite)
    "segment-overlay-is-a-user-file": (
        "segment {w}/frames --masks {w}/ann --out {out} --overlay {w}/mine.mp4",
        "{w}/mine.mp4",
        False,
    ),
    "segment-preview-is-a-user-file": (
        "segment {w}/frames --masks {w}/ann --out {out} --preview {w}/mine.jpg",
        "{w}/mine.jpg",
        False,
    ),
    "segment-scores-into-a-user-folder": (
        "segment {w}/frames --masks {w}/ann --out {out} --save-scores {w}/mine-scores",
        "{w}/mine-scores",
        False,
    ),
    "segment-preview-is-a-folder": (
        "segment {w}/frames --masks {w}/ann --out {out} --preview {w}/empty",
        "{w}/empty",
        False,
    ),
    "segment-preview-inside-out": (
        "segment {w}/frames --masks {w}/ann --out {out} --preview {out}/live.jpg",
        "{out}/live.jpg",
        False,
    ),
    "segment-fps-inf": (
        "segment {w}/frames --masks {w}/ann --out {w}/o --overlay {w}/o.mp4 --fps inf",
        "--fps inf",
        False,
    ),
    "segment-out-name-too-long": (
        "segment {w}/frames --masks {w}/ann --out {w}/" + "x" * 300,
        "{w}/" + "x" * 300,
        False,
    ),
    "segment-prompts-nested-too-deep": (
        "segment {w}/frames --prompts {w}/deep.json --out {out}",
        "{w}/deep.json",
        False,
    ),
    "segment-box-finds-nothing": (
        "segment {w}/frames --box 3,3,4,4 --out {out}",
        "--box 3,3,4,4: gives an empty mask",
        True,
    ),
    "segment-253-tiny-boxes": (
        "segment {w}/frames --prompts {w}/tiny-boxes.json --out {out}",
        "{w}/tiny-boxes.json: prompt 1 (frame 0, object 1): gives an empty mask (and 252 more",
        True,
    ),
    "segment-segmenter-without-weights": (
        "segment {w}/frames --box 10,20,33,43 --segmenter sam --out {out}",
        "--segmenter sam: needs its weights: pass --segmenter-weights NAME (sam-vit-b",
        False,
    ),
    "segment-refiner-without-weights": (
        "segment {w}/frames --masks {w}/ann --refiner sam2 --out {out}",
        "--refiner sam2: needs its weights: pass --refiner-weights NAME (sam2.1-hiera-tiny",
        False,
    ),
    "dataset-zip-inside-a-sequence-folder": (
        "dataset {w}/davis --out {out} --zip {out}/seq/submission.zip",
        "{out}/seq/submission.zip: is inside the results folder of sequence 'seq'",
        False,
    ),
    "dataset-zip-is-a-user-file": (
        "dataset {w}/davis --out {out} --zip {w}/mine.zip",
        "{w}/mine.zip",
        False,
    ),
    "dataset-refiner-without-weights": (
        "dataset {w}/davis --out {out} --refiner sam-hq",
        "--refiner sam-hq: needs its weights",
        False,
    ),
    "eval-report-into-a-user-folder": (
        "eval {w}/gt {w}/pred --out {w}/mine-scores",
        "{w}/mine-scores",
        False,
    ),
    "eval-vis-nested-too-deep": (
        "eval {w}/deep.json {w}/pred --task vis",
        "{w}/deep.json: cannot read the ground-truth JSON (nested more than 100 levels",
        False,
    ),
    "discover-boxes-nested-too-deep": (
        "discover {w}/frames --boxes {w}/deep.json --refiner embedded --out {out}",
        "{w}/deep.json",
        False,
    ),
    "discover-refiner-without-weights": (
        "discover {w}/frames --refiner sam --out {out}",
        "--refiner sam: needs its weights",
        False,
    ),
}

# cases whose output folder, when it holds other files, is refused before the case's error
OUT_FIRST = {
    "segment-overlay-is-a-user-file",
    "segment-preview-is-a-user-file",
    "segment-scores-into-a-user-folder",
    # eval reads every prediction only when it evaluates, after --out has been checked
    "eval-damaged-prediction",
    "eval-prediction-size",
}

# a finished run of the same command on good inputs, for the "previous" output state
GOOD = {
    "segment": "segment {w}/frames --masks {w}/ann --out {out}",
    "dataset": "dataset {w}/davis --out {out}",
}

QUIET = {"segment", "dataset", "eval", "discover"}


def argv(template: str, w: Path, out: Path) -> list[str]:
    args = template.format(w=w, out=out).split()
    if args[0] in QUIET:
        args.append("--quiet")
    if args[0] == "eval":
        args += ["--workers", "1"]
    return args


def check_one_line(err: str, command: str, named: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"vosam {command}: error: "), lines[0]
    assert named in lines[0], lines[0]


def states(case: str) -> list[str]:
    template, _named, late = CASES[case]
    if "{out}" not in template:
        return ["fixed"]
    return ["absent", "unrelated", "previous"] if late else ["absent", "unrelated"]


@pytest.mark.parametrize(
    ("case", "state"), [(c, s) for c in CASES for s in states(c)], ids=lambda v: v
)
def test_bad_input_exits_2_with_one_line_and_touches_nothing(
    case, state, case_dir, fast_cli, capsys, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    template, named, _late = CASES[case]
    command = template.split()[0]
    out = case_dir / "out"
    named = named.format(w=case_dir, out=out)
    if state == "unrelated":
        out.mkdir()
        (out / "notes.txt").write_text("not vosam's")
        if case in OUT_FIRST or (CASES[case][2] and command == "segment"):
            named = str(out)  # refused before the run starts
    elif state == "previous":
        assert main(argv(GOOD[command], case_dir, out)) == 0
        assert (out / "run.json").is_file() or (out / "seq" / "run.json").is_file()
    capsys.readouterr()
    before = tree(case_dir)
    extra = ["--overwrite"] if state == "previous" else []
    assert main(argv(template, case_dir, out) + extra) == 2
    check_one_line(capsys.readouterr().err, command, named)
    assert tree(case_dir) == before


@pytest.mark.parametrize(
    "case", ["segment-missing-source", "segment-mask-anti-aliased", "suggest-k-0"]
)
def test_bad_input_in_a_real_process(case, case_dir):
    template, named, _ = CASES[case]
    out = case_dir / "out"
    before = tree(case_dir)
    run = subprocess.run(
        [sys.executable, "-c", ENTRY, *argv(template, case_dir, out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    check_one_line(run.stderr, template.split()[0], named.format(w=case_dir, out=out))
    assert tree(case_dir) == before


KILL_AFTER_ONE_FRAME = """
import os, signal, sys
from tests.core.conftest import FAST
import vosam.engines.embedded.propagator as prop
from vosam.io import OverlayVideoWriter
original = prop.EmbeddedPropagator.__init__
prop.EmbeddedPropagator.__init__ = lambda self, config=None, *, device="auto": original(
    self, FAST, device="cpu")
write = OverlayVideoWriter.write
def write_then_die(self, image, mask=None):
    write(self, image, mask)
    os.kill(os.getpid(), signal.SIGKILL)
OverlayVideoWriter.write = write_then_die
from vosam.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_run_leaves_nothing_a_later_run_keeps(case_dir, fast_cli, capsys):
    out, video = case_dir / "out", case_dir / "overlay" / "ov.mp4"
    video.parent.mkdir()
    args = argv("segment {w}/frames --masks {w}/ann --out {out}", case_dir, out)
    args += ["--overlay", str(video)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_ONE_FRAME, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = sorted(p.name for p in video.parent.iterdir())
    # the lock the killed run held, and its half-written video (staged, being written)
    assert len(left) == 2 and left[0] == ".vosam-lock-ov.mp4", left
    assert re.fullmatch(r"\.vosam-tmp-[0-9a-f]{8}-\.vosam-partial-[0-9a-f]{8}-ov\.mp4", left[1])
    assert not (out / "run.json").exists()  # nothing was committed
    assert main(args) == 0
    assert [p.name for p in video.parent.iterdir()] == ["ov.mp4"]
    assert not [p for p in out.rglob(".vosam-*")]
    assert json.loads((out / "run.json").read_text())["complete"] is True
