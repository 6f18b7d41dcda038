"""Output folders of ``vosam segment``: what --overwrite may remove, when a finished run is
stale, and bad annotations, devices and frames as one-line errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vosam.cli import main
from vosam.io import read_mask, write_mask


def tree(folder: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file under ``folder`` (hidden ones too)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def segment(folder, ann, out, *extra) -> int:
    return main(["segment", str(folder), "--masks", str(ann), "--out", str(out), "--quiet", *extra])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_overwrite_never_deletes_the_input_video_or_unrelated_files(tmp_path, cli_case, capsys):
    from tests.corrupt import write_mp4

    _folder, ann, masks = cli_case
    proj = tmp_path / "proj"
    proj.mkdir()
    images = [np.stack([m * 100] * 3, -1).astype(np.uint8) for m in masks]
    video = write_mp4(proj / "video.mp4", images)
    (proj / "notes.txt").write_text("mine")
    before = tree(tmp_path)
    for flags in ((), ("--overwrite",)):
        assert segment(video, ann, proj, *flags) == 2
        line = one_error_line(capsys)
        assert line.startswith(f"vosam segment: error: {proj}: contains the input {video}")
    assert tree(tmp_path) == before


def test_a_folder_of_other_files_is_refused_without_suggesting_overwrite(
    tmp_path, cli_case, capsys
):
    folder, ann, _ = cli_case
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for flags in ((), ("--overwrite",)):
        assert segment(folder, ann, out, *flags) == 2
        line = one_error_line(capsys)
        assert "holds files that are not from a vosam run (notes.txt)" in line
        assert "--overwrite" not in line
    assert tree(out) == {"notes.txt": hashlib.sha256(b"mine").hexdigest()}


def test_overwrite_replaces_only_the_files_of_the_previous_run(tmp_path, cli_case, capsys):
    folder, ann, masks = cli_case
    out, scores = tmp_path / "out", tmp_path / "out" / "scores"
    assert segment(folder, ann, out, "--save-scores", str(scores)) == 0
    first = set(tree(out))
    assert {"run.json", "frames.csv", "00007.png", "scores/00007.npy"} <= first
    capsys.readouterr()
    # the scores inside the folder are the run's own: no "other files" here
    assert segment(folder, ann, out, "--no-permanent-memory") == 2
    assert "pass --overwrite" in one_error_line(capsys)
    assert segment(folder, ann, out, "--no-permanent-memory", "--overwrite") == 0
    capsys.readouterr()
    now = tree(out)
    assert set(now) == {"run.json", "frames.csv", *(f"{t:05d}.png" for t in range(len(masks)))}
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["complete"] is True and manifest["settings"]["permanent_memory"] is False
    assert not list(tmp_path.rglob(".vosam-*"))


def test_a_changed_annotation_makes_the_finished_run_stale(tmp_path, cli_case, capsys):
    folder, ann, masks = cli_case
    out = tmp_path / "out"
    assert segment(folder, ann, out) == 0
    np.testing.assert_array_equal(read_mask(out / "00000.png"), masks[0])
    changed = masks[0].copy()
    changed[changed == 2] = 0  # the annotation loses object 2
    write_mask(ann / "00000.png", changed)
    before = tree(out)
    capsys.readouterr()
    assert segment(folder, ann, out) == 2
    line = one_error_line(capsys)
    assert "stale" in line and "the annotations changed" in line and "--overwrite" in line
    assert tree(out) == before
    assert segment(folder, ann, out, "--overwrite") == 0
    np.testing.assert_array_equal(read_mask(out / "00000.png"), changed)
    assert not (read_mask(out / "00005.png") == 2).any()


def test_added_outputs_are_written_on_a_rerun(tmp_path, cli_case, capsys):
    folder, ann, _ = cli_case
    out, video, scores = tmp_path / "out", tmp_path / "ov.mp4", tmp_path / "scores"
    assert segment(folder, ann, out) == 0
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["device"] == "cpu" and len(settings["annotations"]) == 1
    capsys.readouterr()
    assert segment(folder, ann, out, "--overlay", str(video)) == 0
    assert "the overlay output was not written" in capsys.readouterr().err
    assert video.stat().st_size > 0
    assert segment(folder, ann, out, "--save-scores", str(scores)) == 0
    assert len(list(scores.glob("*.npy"))) == 8
    assert segment(folder, ann, out, "--save-scores", str(scores)) == 0
    assert "already complete" in capsys.readouterr().err
    # a deleted extra output is missing again
    (scores / "00003.npy").unlink()
    assert segment(folder, ann, out, "--save-scores", str(scores)) == 0
    assert (scores / "00003.npy").is_file()


def test_overlay_onto_the_input_video_is_refused(tmp_path, cli_case, capsys):
    from tests.corrupt import write_mp4

    _, ann, masks = cli_case
    images = [np.stack([m * 100] * 3, -1).astype(np.uint8) for m in masks]
    video = write_mp4(tmp_path / "video.mp4", images)
    before = tree(tmp_path)
    assert segment(video, ann, tmp_path / "out", "--overlay", str(video)) == 2
    assert f"{video}: is the input {video}" in one_error_line(capsys)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("fill", [0, 255])
def test_an_annotation_without_objects_is_one_line(tmp_path, cli_case, capsys, fill):
    folder, _, masks = cli_case
    empty = tmp_path / "empty"
    empty.mkdir()
    write_mask(empty / "00000.png", np.full_like(masks[0], fill))
    assert segment(folder, empty, tmp_path / "out") == 2
    line = one_error_line(capsys)
    assert line.startswith(f"vosam segment: error: {empty}: no object to track")
    assert not (tmp_path / "out").exists()


def test_cuda_without_a_gpu_is_one_line(tmp_path, cli_case, capsys, monkeypatch):
    folder, ann, _ = cli_case
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert segment(folder, ann, tmp_path / "out", "--device", "cuda") == 2
    assert "device 'cuda': torch sees no CUDA device" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_anti_aliased_annotation_refused_or_binarized(tmp_path, cli_case, capsys):
    folder, _, masks = cli_case
    grey = tmp_path / "grey"
    grey.mkdir()
    binary = (masks[0] == 1).astype(np.uint8) * 255
    smooth = Image.fromarray(binary).resize((64, 48), Image.Resampling.BILINEAR)
    smooth.resize((128, 96), Image.Resampling.BILINEAR).save(grey / "00000.png")
    assert segment(folder, grey, tmp_path / "out") == 2
    line = one_error_line(capsys)
    assert f"{grey / '00000.png'}: looks anti-aliased" in line and "--binarize" in line
    assert not (tmp_path / "out").exists()
    assert segment(folder, grey, tmp_path / "out", "--binarize") == 0
    first = read_mask(tmp_path / "out" / "00000.png")
    assert set(np.unique(first).tolist()) == {0, 1}
    assert ((first == 1) == (masks[0] == 1)).mean() > 0.97
    assert (read_mask(tmp_path / "out" / "00004.png") == 1).sum() > 200


def test_a_damaged_frame_stops_or_is_skipped(tmp_path, cli_case, capsys):
    from tests.corrupt import damage_jpeg_payload, textured_frames

    _, ann, _ = cli_case
    frames = tmp_path / "jpegs"
    frames.mkdir()
    for t, image in enumerate(textured_frames(8)):
        Image.fromarray(image).save(frames / f"{t:05d}.jpg", quality=90)
    damage_jpeg_payload(frames / "00005.jpg")
    out = tmp_path / "out"
    assert segment(frames, ann, out) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"vosam segment: error: {frames / '00005.jpg'}: cannot decode image")
    assert "Corrupt JPEG data" in line
    assert not out.exists()
    assert segment(frames, ann, out, "--tolerate-corrupt") == 0
    err = capsys.readouterr().err
    assert "warning: skipped 1 damaged frame(s): 00005" in err
    assert not (out / "00005.png").exists() and (out / "00006.png").exists()
    manifest = json.loads((out / "run.json").read_text())
    assert list(manifest["skipped"]) == ["00005"] and manifest["frames"] == 7
    assert segment(frames, ann, out, "--tolerate-corrupt") == 0
    assert "already complete" in capsys.readouterr().err


def test_a_killed_runs_temporary_overlay_is_removed_by_the_next_run(tmp_path, cli_case):
    from vosam.io.atomic import temp_sibling

    folder, ann, _ = cli_case
    video = tmp_path / "ov.mp4"
    leftover = temp_sibling(video)  # what a SIGKILLed writer leaves: an empty temporary file
    (tmp_path / "out").mkdir()
    staged = temp_sibling(tmp_path / "out" / "00000.png")
    assert leftover.stat().st_size == 0 and staged.exists()
    assert segment(folder, ann, tmp_path / "out", "--overlay", str(video)) == 0
    assert not leftover.exists() and not staged.exists()
    assert not list(tmp_path.rglob(".vosam-*")) and video.stat().st_size > 0


def test_suggest_errors_exit_2(tmp_path, cli_case, capsys):
    from tests.core.conftest import write_video_folder

    folder, ann, _ = cli_case
    assert main(["suggest", str(folder), "--masks", str(ann), "--k", "0"]) == 2
    assert one_error_line(capsys) == "vosam suggest: error: --k must be at least 1"
    one = tmp_path / "one"
    write_video_folder(one, np.asarray(Image.open(folder / "00000.png"))[None])
    assert main(["suggest", str(one), "--masks", str(ann)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"vosam suggest: error: {one}: every frame of the video (1) is")


def test_dataset_reports_a_changed_annotation_as_stale(tmp_path, cli_case, capsys):
    folder, _ann, masks = cli_case
    root = tmp_path / "davis"
    (root / "JPEGImages" / "480p").mkdir(parents=True)
    (root / "JPEGImages" / "480p" / "a").symlink_to(folder)
    (root / "Annotations" / "480p" / "a").mkdir(parents=True)
    write_mask(root / "Annotations" / "480p" / "a" / "00000.png", masks[0])
    out = tmp_path / "res"
    args = ["dataset", str(root), "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert json.loads((out / "a" / "run.json").read_text())["settings"]["device"] == "cpu"
    changed = np.where(masks[0] == 2, 0, masks[0]).astype(np.uint8)
    write_mask(root / "Annotations" / "480p" / "a" / "00000.png", changed)
    capsys.readouterr()
    before = tree(out)
    assert main(args) == 2
    line = one_error_line(capsys)
    assert f"{out / 'a'}: holds stale results" in line and "the annotations changed" in line
    assert tree(out) == before
    assert main([*args, "--overwrite"]) == 0
    np.testing.assert_array_equal(read_mask(out / "a" / "00000.png"), changed)
