"""``vosam segment --direction``, ``--merge`` and ``--objects-from-first-annotation``."""

import json

import numpy as np

from tests.core.test_session import only
from vosam.cli import main
from vosam.engines import build_propagator
from vosam.io import read_mask, write_mask
from vosam.session import Session, SessionConfig


def _two_annotations(tmp_path, masks):
    ann = tmp_path / "two"
    ann.mkdir()
    write_mask(ann / "00002.png", only(masks[2], 1))
    write_mask(ann / "00005.png", masks[5])
    return ann


def test_both_directions_are_the_sessions_run(tmp_path, cli_case, capsys):
    folder, _ann, masks = cli_case
    ann = _two_annotations(tmp_path, masks)
    out = tmp_path / "out"
    args = ["segment", str(folder), "--masks", str(ann), "--out", str(out)]
    assert main([*args, "--direction", "both", "--merge", "confidence"]) == 0
    err = capsys.readouterr().err
    assert "frames 12/12 (100%)" in err  # 6 frames backward from frame 5, 6 forward from 2
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["direction"] == "both" and settings["merge"] == "confidence"
    assert settings["objects_from_first_annotation"] is False
    config = SessionConfig(merge="confidence")
    session = Session(folder, propagator=build_propagator("embedded", device="cpu"), config=config)
    session.add_annotation(2, only(masks[2], 1))
    session.add_annotation(5, masks[5])
    want = dict(session.propagate(direction="both"))
    assert sorted(want) == list(range(8))
    for t, result in want.items():
        np.testing.assert_array_equal(read_mask(out / f"{t:05d}.png"), result.mask)
    # other settings into the same folder are refused
    assert main([*args, "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_objects_from_first_annotation_hides_them_before(tmp_path, cli_case):
    folder, _ann, masks = cli_case
    ann = _two_annotations(tmp_path, masks)
    out = tmp_path / "out"
    args = ["segment", str(folder), "--masks", str(ann), "--out", str(out), "--quiet"]
    assert main([*args, "--objects-from-first-annotation"]) == 0
    assert json.loads((out / "run.json").read_text())["settings"]["direction"] == "forward"
    for t in range(5):
        assert not (read_mask(out / f"{t:05d}.png") == 2).any(), t
    assert (read_mask(out / "00006.png") == 2).any()


def test_direction_refusals(tmp_path, cli_case, capsys):
    folder, ann, _masks = cli_case
    out = tmp_path / "out"
    common = ["--out", str(out), "--quiet"]
    assert main(["segment", "-", "--box", "1,1,9,9", "--direction", "both", *common]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "a stream plays forward only: --direction both" in err
    args = ["segment", str(folder), "--masks", str(ann), *common, "--merge", "confidence"]
    assert main(args) == 2
    assert "--merge applies to --direction both" in capsys.readouterr().err
    assert not out.exists()
