"""``vosam segment`` from a box, clicks or a prompts file; bad prompts refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vosam.cli import main
from vosam.io import read_mask, write_mask
from vosam.io.prompts import FramePrompt, read_prompts, write_prompts
from vosam.refine.base import Prompt


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1))


def test_a_box_on_the_command_line_segments_the_video(tmp_path, cli_case, capsys):
    folder, _ann, masks = cli_case
    out = tmp_path / "out"
    args = [str(folder), "--box", "10,20,33,43", "--out", str(out), "--quiet"]
    assert main(["segment", *args]) == 0
    made = read_mask(out / "prompts" / "00000.png")
    assert iou(made == 1, masks[0] == 1) > 0.95
    np.testing.assert_array_equal(read_mask(out / "00000.png"), made)
    assert iou(read_mask(out / "00005.png") == 1, masks[5] == 1) > 0.75
    run = json.loads((out / "run.json").read_text())
    assert "prompts/00000.png" in run["files"] and len(run["settings"]["prompts"]) == 64
    assert run["settings"]["segmenter"]["name"] == "embedded"
    assert run["settings"]["masks"] is None
    # the same prompt from a prompts file is the same run
    file = tmp_path / "p.json"
    file.write_text(
        json.dumps({"prompts": [{"frame": "00000", "object": 1, "box": [10, 20, 33, 43]}]})
    )
    assert main(["segment", str(folder), "--prompts", str(file), "--out", str(out)]) == 0
    assert "already complete" in capsys.readouterr().err
    # another box makes the results stale
    moved = [str(folder), "--box", "11,20,33,43", "--out", str(out)]
    assert main(["segment", *moved]) == 2
    assert "the prompts changed" in capsys.readouterr().err


def test_masks_and_prompts_mix(tmp_path, cli_case):
    folder, _ann, masks = cli_case
    only_one = tmp_path / "one"
    only_one.mkdir()
    write_mask(only_one / "00000.png", np.where(masks[0] == 1, 1, 0).astype(np.uint8))
    out = tmp_path / "out"
    args = ["--masks", str(only_one), "--box", "80,10,99,29", "--out", str(out), "--quiet"]
    assert main(["segment", str(folder), *args]) == 0
    first = read_mask(out / "00000.png")
    assert set(np.unique(first)) == {0, 1, 2}  # the box's object is the next id
    np.testing.assert_array_equal(first == 1, masks[0] == 1)
    assert iou(first == 2, masks[0] == 2) > 0.9
    assert set(np.unique(read_mask(out / "prompts" / "00000.png"))) == {0, 2}


def test_prompts_file_round_trips(tmp_path):
    prompts = [
        FramePrompt(0, 1, Prompt(box=np.array([1, 2, 30, 40.5], np.float32)), ""),
        FramePrompt(
            "00003",
            254,
            Prompt(
                points=np.array([[5, 6], [7.25, 8]], np.float32), labels=np.array([1, 0], np.int32)
            ),
            "",
        ),
    ]
    path = tmp_path / "p.json"
    write_prompts(path, prompts)
    back = read_prompts(path)
    assert [(p.frame, p.object_id) for p in back] == [(0, 1), ("00003", 254)]
    np.testing.assert_array_equal(back[0].prompt.box, prompts[0].prompt.box)
    assert back[0].prompt.points is None and back[1].prompt.box is None
    np.testing.assert_array_equal(back[1].prompt.points, prompts[1].prompt.points)
    np.testing.assert_array_equal(back[1].prompt.labels, [1, 0])
    write_prompts(tmp_path / "again.json", back)
    assert (tmp_path / "again.json").read_text() == path.read_text()


@pytest.mark.parametrize(
    ("options", "named", "problem"),
    [
        (["--box", "0,0,128,10"], "--box 0,0,128,10", "outside the 128×96 frame"),
        (["--box", "5,5,5,20"], "--box 5,5,5,20", "zero area"),
        (["--box", "1,2,3"], "--box 1,2,3", "four numbers"),
        (["--click", "10,96"], "--click 10,96", "click 10,96 is outside"),
        (["--click", "10,9,*"], "--click 10,9,*", "X,Y,+"),
        (["--box", "1,1,9,9", "--frame", "8"], "--box 1,1,9,9", "no frame 8 (8 frames)"),
        (["--box", "1,1,9,9", "--object", "255"], "--object 255", "1..254"),
        (["--box", "1,1,9,9", "--object", "0"], "--object 0", "1..254"),
        (
            ["--box", "1,1,9,9", "--segmenter-model", "vit_b"],
            "--segmenter-model",
            "does not apply to the embedded segmenter",
        ),
    ],
)
def test_bad_prompt_options_are_one_line_and_write_nothing(
    tmp_path, cli_case, capsys, options, named, problem
):
    folder, _ann, _masks = cli_case
    out = tmp_path / "out"
    assert main(["segment", str(folder), *options, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and named in err and problem in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"prompts": []}', "non-empty list"),
        ('[{"frame": 0}]', '{"prompts": [...]}'),
        ('{"prompts": [{"frame": 0, "object": 1, "bx": [1, 2, 3, 4]}]}', "unknown key 'bx'"),
        ('{"prompts": [{"frame": 0, "object": 300, "box": [1, 2, 3, 4]}]}', "1..254"),
        ('{"prompts": [{"frame": 0, "box": [1, 2, 3, 4]}]}', "'object' is missing"),
        ('{"prompts": [{"frame": 0, "object": 1}]}', "needs a 'box' or 'points'"),
        ('{"prompts": [{"frame": 0, "object": 1, "box": [1, 2, 3]}]}', "[x0, y0, x1, y1]"),
        (
            '{"prompts": [{"frame": 0, "object": 1, "points": [[1, 2]], "labels": [2]}]}',
            "'labels'",
        ),
        (
            '{"prompts": [{"frame": "nope", "object": 1, "box": [1, 2, 30, 40]}]}',
            "prompt 1 (frame nope, object 1): the video has no frame 'nope'",
        ),
        (
            '{"prompts": [{"frame": 0, "object": 1, "box": [1, 2, 300, 40]}]}',
            "prompt 1 (frame 0, object 1): box 1,2,300,40 is outside",
        ),
        (
            '{"prompts": [{"frame": 0, "object": 1, "box": [1, 2, 30, 40]},'
            ' {"frame": 0, "object": 1, "points": [[3, 4]]}]}',
            "prompted twice",
        ),
    ],
)
def test_bad_prompts_files_are_one_line_and_write_nothing(
    tmp_path, cli_case, capsys, content, problem
):
    folder, _ann, _masks = cli_case
    file = tmp_path / "prompts.json"
    file.write_text(content)
    out = tmp_path / "out"
    assert main(["segment", str(folder), "--prompts", str(file), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "prompts.json" in err and problem in err
    assert not out.exists()


def test_without_masks_or_prompts_the_command_says_what_to_give(tmp_path, cli_case, capsys):
    folder, _ann, _masks = cli_case
    assert main(["segment", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert "--box, --click, --prompts or --masks" in capsys.readouterr().err
