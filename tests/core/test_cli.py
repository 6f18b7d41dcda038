import json

import numpy as np

from vosam.cli import main
from vosam.io import read_mask, write_mask


def test_segment_writes_every_frame_scores_and_overlay(tmp_path, cli_case, capsys):
    folder, ann, masks = cli_case
    out, scores, video = tmp_path / "out", tmp_path / "scores", tmp_path / "ov.mp4"
    args = [str(folder), "--masks", str(ann), "--out", str(out), "--quiet"]
    assert main(["segment", *args, "--save-scores", str(scores), "--overlay", str(video)]) == 0
    pngs = sorted(p.stem for p in out.glob("*.png"))
    assert pngs == [f"{t:05d}" for t in range(len(masks))]
    np.testing.assert_array_equal(read_mask(out / "00000.png"), masks[0])
    probs = np.load(scores / "00003.npy")
    assert probs.shape == (3, 96, 128) and probs.dtype == np.float32
    np.testing.assert_array_equal(probs.argmax(0), read_mask(out / "00003.png"))
    assert video.stat().st_size > 0
    assert json.loads((out / "run.json").read_text())["complete"] is True
    assert (out / "frames.csv").read_text().splitlines()[1].startswith("0,00000,")
    # same run again: nothing to do
    assert main(["segment", *args]) == 0
    assert "already complete" in capsys.readouterr().err
    # another run into the same folder is refused, nothing touched
    before = (out / "00003.png").read_bytes()
    assert main(["segment", *args, "--no-permanent-memory"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "00003.png").read_bytes() == before


def test_bad_inputs_exit_nonzero_with_the_file_named(tmp_path, cli_case, capsys):
    folder, ann, _ = cli_case
    assert main(["segment", str(folder), "--masks", str(ann), "--out", str(folder)]) == 2
    assert "is the input" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["segment", str(empty), "--masks", str(ann), "--out", str(tmp_path / "o")]) == 2
    assert str(empty) in capsys.readouterr().err
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    write_mask(wrong / "00000.png", np.zeros((10, 10), np.uint8))
    assert main(["segment", str(folder), "--masks", str(wrong), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "00000.png" in err and "10×10" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("*.png"))


def test_dataset_runs_every_sequence_and_skips_finished_ones(tmp_path, cli_case, capsys):
    folder, _ann, masks = cli_case
    root = tmp_path / "davis"
    for seq in ("a", "b"):
        (root / "JPEGImages" / "480p").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / "480p" / seq).mkdir(parents=True, exist_ok=True)
        (root / "JPEGImages" / "480p" / seq).symlink_to(folder)
        write_mask(root / "Annotations" / "480p" / seq / "00000.png", masks[0])
    out = tmp_path / "res"
    assert main(["dataset", str(root), "--out", str(out), "--quiet"]) == 0
    for seq in ("a", "b"):
        assert len(list((out / seq).glob("*.png"))) == len(masks)
    assert not list(out.glob(".*partial"))
    assert main(["dataset", str(root), "--out", str(out), "--quiet", "--sequences", "b"]) == 0
    assert "b: already complete" in capsys.readouterr().err
    assert main(["dataset", str(root), "--out", str(out), "--sequences", "zz"]) == 2
    # another run into the same folder is refused before any work, nothing touched
    before = (out / "a" / "00003.png").read_bytes()
    other = ["dataset", str(root), "--out", str(out), "--quiet", "--no-permanent-memory"]
    assert main(other) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (out / "a" / "00003.png").read_bytes() == before
    assert not list(out.glob(".*partial"))
