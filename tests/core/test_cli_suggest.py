"""``vosam suggest --results``: the masks of a segment run, each frame encoded once."""

import json

import numpy as np
import pytest
from PIL import Image

from vosam.cli import main
from vosam.engines.fused import FusedPropagator
from vosam.session import Session


@pytest.fixture
def segmented(tmp_path, cli_case):
    folder, ann, _masks = cli_case
    out = tmp_path / "out"
    assert main(["segment", str(folder), "--masks", str(ann), "--out", str(out), "--quiet"]) == 0
    return folder, ann, out


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_suggest_from_results_encodes_each_frame_once(segmented, capsys, monkeypatch):
    folder, ann, out = segmented
    capsys.readouterr()
    assert main(["suggest", str(folder), "--masks", str(ann), "--k", "3", "--quiet"]) == 0
    propagated = _lines(capsys.readouterr().out)
    encoded = []
    original = FusedPropagator.encode_key

    def counting(self, image):
        encoded.append(image.shape)
        return original(self, image)

    def no_propagation(*args, **kwargs):
        raise AssertionError("--results must not propagate")

    monkeypatch.setattr(FusedPropagator, "encode_key", counting)
    monkeypatch.setattr(Session, "propagate_frames", no_propagation)
    assert main(["suggest", str(folder), "--results", str(out), "--k", "3"]) == 0
    captured = capsys.readouterr()
    assert _lines(captured.out) == propagated  # the same masks, the same suggestions
    assert len(propagated) == 3 and "00000" not in propagated
    assert len(encoded) == 8  # every frame once
    assert "frames 8/8 (100%)" in captured.err
    # the annotated frame 0 against the 7 others, then the newest pick against 6, then 5
    assert "comparisons 18/18 (100%)" in captured.err


def test_suggest_results_refusals(tmp_path, segmented, capsys):
    folder, ann, out = segmented

    def refused(*args: str) -> str:
        assert main(["suggest", *args, "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        return err[0]

    assert "give --results" in refused(str(folder))
    (out / "00004.png").rename(tmp_path / "moved.png")
    assert "no mask for 1 of the 8 frames (00004.png)" in refused(
        str(folder), "--results", str(out)
    )
    (tmp_path / "moved.png").rename(out / "00004.png")
    other = tmp_path / "other"
    other.mkdir()
    for f in sorted(folder.iterdir()):
        image = np.asarray(Image.open(f))
        Image.fromarray(255 - image if f.name == "00003.png" else image).save(other / f.name)
    line = refused(str(other), "--results", str(out))
    assert "holds the results of another video" in line and str(out) in line
    manifest = json.loads((out / "run.json").read_text())
    manifest["complete"] = False
    (out / "run.json").write_text(json.dumps(manifest))
    assert "the run did not finish" in refused(str(folder), "--results", str(out))
    (out / "run.json").unlink()
    assert "no run.json" in refused(str(folder), "--results", str(out))
    # with --masks naming the annotated frames, run.json is not needed
    assert (
        main(["suggest", str(folder), "--results", str(out), "--masks", str(ann), "--quiet"]) == 0
    )
    assert len(_lines(capsys.readouterr().out)) == 5


def test_select_blended_reports_every_comparison():
    from tests.annotate.test_annotate_candidates import PixelPropagator, scene_video
    from vosam.annotate import blend_frames, select_blended

    frames, masks = scene_video()
    blended, covered = blend_frames(PixelPropagator(), zip(frames, masks, strict=True))
    reports = []
    picked = select_blended(blended, covered, [0], k=3, progress=lambda *a: reports.append(a))
    assert picked[0] == 5  # the odd scene
    assert reports == [(done, 18) for done in range(1, 19)]
