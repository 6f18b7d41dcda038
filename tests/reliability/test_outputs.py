"""Outputs besides --out (overlay, preview, scores, zip, eval report) follow the rule of
--out; hand-edited outputs, files with vosam-like names, errors of the system and names
that are not UTF-8. Refusals keep the contract of test_bad_inputs: exit 2, one stderr line
naming the file, no traceback, every file as before."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat

import pytest

from tests.reliability.conftest import tree
from tests.reliability.test_bad_inputs import argv, check_one_line
from vosam.cli import main

SEGMENT = "segment {w}/frames --masks {w}/ann --out {out}"


def run(template: str, w, out, *extra: str) -> int:
    return main(argv(template, w, out) + list(extra))


def test_extra_outputs_of_a_run_are_replaced_by_it_and_an_edited_one_is_refused(
    case_dir, fast_cli, capsys
):
    """The overlay and scores a run wrote are vosam's to replace (a changed --fps redoes
    the run and replaces the overlay); once the user edits one, it is theirs: refused,
    naming it, with or without --overwrite."""
    w, out = case_dir, case_dir / "out"
    video, scores = w / "ov.mp4", w / "scores"
    extra = ["--overlay", str(video), "--save-scores", str(scores)]
    assert run(SEGMENT, w, out, *extra) == 0
    first = video.read_bytes()
    recorded = json.loads((out / "run.json").read_text())["extras"]
    assert set(recorded["scores"]["files"]) == {f"{t:05d}.npy" for t in range(8)}
    assert run(SEGMENT, w, out, *extra, "--fps", "12") == 0  # replaced: vosam's own
    assert video.read_bytes() != first
    capsys.readouterr()
    video.write_bytes(video.read_bytes() + b"edited")
    before = tree(w)
    for flags in ([], ["--overwrite"]):
        assert run(SEGMENT, w, out, *extra, "--fps", "10", *flags) == 2
        check_one_line(capsys.readouterr().err, "segment", f"{video}: was changed since vosam")
        assert tree(w) == before
    video.unlink()
    (scores / "00003.npy").write_bytes(b"edited")
    assert run(SEGMENT, w, out, *extra) == 2
    check_one_line(capsys.readouterr().err, "segment", f"{scores / '00003.npy'}: was changed")


def test_a_hand_edited_mask_is_refused_not_redone(case_dir, fast_cli, capsys):
    w, out = case_dir, case_dir / "out"
    assert run(SEGMENT, w, out) == 0
    png = out / "00004.png"
    png.write_bytes(png.read_bytes() + b"\0")  # the user touched it up
    capsys.readouterr()
    before = tree(w)
    for flags in ([], ["--overwrite"], ["--binarize", "--overwrite"]):  # same run, other run
        assert run(SEGMENT, w, out, *flags) == 2
        check_one_line(capsys.readouterr().err, "segment", f"{png}: was changed since vosam")
        assert tree(w) == before
    png.unlink()  # a missing file is only missing: the run is done again
    assert run(SEGMENT, w, out) == 0
    assert (out / "00004.png").is_file()


@pytest.mark.parametrize("name", [".vosam-tmp-notes.txt", ".vosam-partial-mine/keep.txt"])
def test_user_files_with_vosam_like_names_are_never_removed(case_dir, fast_cli, capsys, name):
    w, out = case_dir, case_dir / "out"
    assert run(SEGMENT, w, out) == 0
    mine = out / name
    mine.parent.mkdir(exist_ok=True)
    mine.write_text("the user's")
    capsys.readouterr()
    before = tree(w)
    assert run(SEGMENT, w, out, "--binarize", "--overwrite") == 2
    check_one_line(capsys.readouterr().err, "segment", f"{out}: holds files that are not from")
    assert tree(w) == before


def test_leftovers_of_a_killed_run_are_removed_and_only_they(case_dir, fast_cli):
    """Names of exactly vosam's form, left where no run holds the lock, are a killed run's."""
    w, out = case_dir, case_dir / "out"
    assert run(SEGMENT, w, out) == 0
    (out / ".vosam-partial-0123abcd").mkdir()
    (out / ".vosam-partial-0123abcd" / "00000.png").write_bytes(b"half")
    (out / ".vosam-tmp-89abcdef-run.json").write_text("half")
    assert run(SEGMENT, w, out, "--binarize", "--overwrite") == 0
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_overlay_and_scores_inside_out_are_part_of_the_run(case_dir, fast_cli, capsys):
    w, out = case_dir, case_dir / "out"
    video, scores = out / "overlay.mp4", out / "scores"
    extra = ["--overlay", str(video), "--save-scores", str(scores)]
    assert run(SEGMENT, w, out, *extra) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["complete"] is True and "overlay.mp4" in record["files"]
    assert record["extras"]["overlay"]["path"] == str(video.resolve())
    assert len(list(scores.glob("*.npy"))) == 8
    assert not [p for p in out.rglob(".vosam-*")]
    capsys.readouterr()
    assert run(SEGMENT, w, out, *extra) == 0
    assert "already complete" in capsys.readouterr().err


def test_a_zip_the_dataset_run_wrote_is_its_own_to_replace(case_dir, fast_cli, capsys):
    w, out, archive = case_dir, case_dir / "out", case_dir / "submission.zip"
    template = "dataset {w}/davis --out {out}"
    assert run(template, w, out, "--zip", str(archive)) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["extras"]["zip"]["path"] == str(archive.resolve())
    assert run(template, w, out, "--zip", str(archive)) == 0  # written again: vosam's
    archive.write_bytes(b"edited")
    capsys.readouterr()
    assert run(template, w, out, "--zip", str(archive)) == 2
    check_one_line(capsys.readouterr().err, "dataset", f"{archive}: was changed since vosam")
    assert archive.read_bytes() == b"edited"


def test_an_eval_report_is_a_run_of_its_own(case_dir, capsys):
    """vosam eval --out replaces its own report of the same predictions; a report of other
    predictions needs --overwrite; files beside it are the user's (refused)."""
    w, report = case_dir, case_dir / "report"
    template = "eval {w}/gt {w}/pred --out {out}"
    assert run(template, w, report, "--no-plots") == 0
    files = json.loads((report / "run.json").read_text())["files"]
    assert {"summary.json", "sequences.csv", "objects.csv", "frames.csv"} <= set(files)
    assert run(template, w, report, "--no-plots") == 0
    shutil.copytree(w / "pred", w / "pred2")
    capsys.readouterr()
    before = tree(w)
    assert run("eval {w}/gt {w}/pred2 --out {out}", w, report, "--no-plots") == 2
    check_one_line(capsys.readouterr().err, "eval", f"{report}: holds results made with other")
    assert tree(w) == before
    assert run("eval {w}/gt {w}/pred2 --out {out} --overwrite", w, report, "--no-plots") == 0
    (report / "mine.txt").write_text("the user's")
    capsys.readouterr()
    assert run(template, w, report, "--no-plots", "--overwrite") == 2
    check_one_line(capsys.readouterr().err, "eval", f"{report}: holds files that are not from")


def test_every_file_is_written_with_the_users_umask(case_dir, fast_cli):
    w, out, report = case_dir, case_dir / "out", case_dir / "report"
    previous = os.umask(0o027)
    try:
        assert run(SEGMENT, w, out, "--overlay", str(w / "ov.mp4")) == 0
        assert run("eval {w}/gt {w}/pred --out {out}", w, report, "--no-plots") == 0
    finally:
        os.umask(previous)
    for path in (out / "00000.png", out / "run.json", w / "ov.mp4", report / "summary.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "No space left on device; free some space"),
        (errno.EROFS, "Read-only file system; choose a writable place"),
    ],
)
def test_errors_of_the_system_half_way_are_one_line(
    case_dir, fast_cli, capsys, monkeypatch, code, words
):
    """A disk that fills up (or turns read-only) on the fourth mask: one line naming the
    output, exit 2, and the folder holding an earlier run exactly as it was."""
    import vosam.sinks

    w, out = case_dir, case_dir / "out"
    assert run(SEGMENT, w, out) == 0
    write = vosam.sinks.PaletteSink.write

    def fail_on_the_fourth(self, index, name, image, result):
        if index == 3:
            raise OSError(code, os.strerror(code))
        write(self, index, name, image, result)

    monkeypatch.setattr(vosam.sinks.PaletteSink, "write", fail_on_the_fourth)
    capsys.readouterr()
    before = tree(w)
    assert run(SEGMENT, w, out, "--binarize", "--overwrite") == 2
    check_one_line(capsys.readouterr().err, "segment", f"{out}: {words}")
    assert tree(w) == before


def test_frame_names_that_are_not_utf8_are_segmented(case_dir, fast_cli, capsys):
    w, out = case_dir, case_dir / "out"
    frames = w / "frames"
    odd = os.fsdecode(b"frame-\xff")
    (frames / "00003.png").rename(frames / f"{odd}.png")
    assert run(SEGMENT, w, out) == 0
    assert (out / f"{odd}.png").is_file()
    assert b"frame-\xff" in (out / "frames.csv").read_bytes()
    capsys.readouterr()
    assert run(SEGMENT, w, out) == 0
    assert "already complete" in capsys.readouterr().err
