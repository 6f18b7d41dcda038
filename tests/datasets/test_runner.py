"""Segmenting dataset sequences: the written layout, late objects, x3, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.datasets.conftest import truth
from vosam.cli import main
from vosam.datasets import open_dataset
from vosam.datasets.runner import propagate_sequence, segment_sequence
from vosam.io import FolderSource, read_mask


def test_youtube_vos_writes_only_scored_frames_with_late_object(youtube_vos, tiny_engine, tmp_path):
    out = tmp_path / "out"
    (seq,) = open_dataset("youtube-vos", youtube_vos, names=["a"])
    written = segment_sequence(seq, tiny_engine, out, settings={}, progress=False)
    folder = out / "Annotations" / "a"
    pngs = sorted(p.stem for p in folder.glob("*.png"))
    assert written == 6
    assert pngs == ["00000", "00005", "00010", "00015", "00020", "00025"]
    assert not any(p.name.startswith(".") for p in out.joinpath("Annotations").iterdir())
    first, before, start = (read_mask(folder / f"{n}.png") for n in ("00000", "00005", "00010"))
    np.testing.assert_array_equal(first, truth(0, (1,)))
    assert 2 not in np.unique(before)  # object 2 does not exist before its first frame
    # on its first frame object 2 is the annotation, and object 1 keeps its prediction
    np.testing.assert_array_equal(start == 2, truth(10, (2,)) == 2)
    ones = start == 1
    overlap = (ones & (truth(10) == 1)).sum() / max((ones | (truth(10) == 1)).sum(), 1)
    assert overlap > 0.5
    # the same run again is skipped
    assert segment_sequence(seq, tiny_engine, out, settings={}, progress=False) == 0


def test_x3_visits_every_frame_three_times_and_writes_each_once(long_video, tiny_engine, tmp_path):
    (seq,) = open_dataset("long-video", long_video)
    source = FolderSource(seq.frames)
    steps = [
        (step, index) for step, index, _ in propagate_sequence(seq, source, tiny_engine, x3=True)
    ]
    assert [i for _, i in steps] == list(range(12)) + list(range(10, -1, -1)) + list(range(1, 12))
    assert [s for s, _ in steps] == list(range(34))
    out = tmp_path / "out"
    assert segment_sequence(seq, tiny_engine, out, settings={}, x3=True, progress=False) == 12
    assert sorted(p.stem for p in (out / "rat").glob("*.png")) == [f"{t:05d}" for t in range(12)]


def test_cli_wrong_layout_exits_2_with_expected_and_found(long_video, tmp_path, capsys):
    code = main(
        ["dataset", str(long_video), "--format", "youtube-vos", "--out", str(tmp_path / "o")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "not a YouTube-VOS root: expected valid/JPEGImages/<video>/*.jpg" in err
    assert "found: Annotations/, JPEGImages/" in err


def test_cli_lvos_then_eval(lvos, tmp_path, capsys, cli_tiny_engine):
    out = tmp_path / "o"
    args = ["dataset", str(lvos), "--format", "lvos", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert sorted(p.stem for p in (out / "v1").glob("*.png")) == [f"{n:08d}" for n in range(1, 13)]
    capsys.readouterr()
    split = Path(lvos) / "valid"
    assert main(["eval", str(split), str(out), "--task", "lvos", "--workers", "1", "--quiet"]) == 0
    assert "J&F-Mean" in capsys.readouterr().out


class RecordingRefiner:
    """A refiner that accepts every propagated frame's mask moved one pixel right, and
    records what it is called with."""

    def __init__(self):
        from vosam.refine.refiner import RefinerConfig

        self.config = RefinerConfig(feedback=True)
        self.observed, self.refined = [], []

    def new_state(self):
        return []

    def observe(self, state, index, result):
        self.observed.append(index)

    def refine(self, state, index, image, result):
        from vosam.engines import StepResult
        from vosam.engines.base import onehot
        from vosam.refine.refiner import RefineResult

        self.refined.append(index)
        probs = onehot(np.roll(result.mask, 1, axis=1), result.object_ids)
        out = StepResult(probs, result.object_ids, result.confidence)
        return RefineResult(out, {1: "every"}, {1: 1.0}, (1,))


class FeedbackCounter:
    """Wraps an engine; counts the masks written back into its trackers' memory."""

    def __init__(self, engine):
        self.engine, self.fed = engine, []

    def new_tracker(self):
        tracker = self.engine.new_tracker()
        feedback = tracker.feedback

        def counting(index, image, mask):
            self.fed.append((index, mask.copy()))
            feedback(index, image, mask)

        tracker.feedback = counting
        return tracker


def test_refiner_refines_propagated_frames_and_feeds_them_back(youtube_vos, tiny_engine):
    """Annotated frames (00000, and 00010 where object 2 enters) are observed, every other
    frame refined; what is yielded and fed back is the refined mask."""
    (seq,) = open_dataset("youtube-vos", youtube_vos, names=["a"])
    source = FolderSource(seq.frames)
    refiner, engine = RecordingRefiner(), FeedbackCounter(tiny_engine)
    plain = {i: m for _, i, m in propagate_sequence(seq, source, tiny_engine)}
    refined = {i: m for _, i, m in propagate_sequence(seq, source, engine, refiner=refiner)}
    annotated = [source.names.index("00000"), source.names.index("00010")]
    assert refiner.observed == annotated
    assert refiner.refined == [i for i in range(len(source)) if i not in annotated]
    assert [i for i, _ in engine.fed] == refiner.refined
    # the first refined frame: the refiner's answer on the plain propagation
    first = refiner.refined[0]
    np.testing.assert_array_equal(engine.fed[0][1], refined[first])
    assert (plain[first] == 1).sum() > 0
    np.testing.assert_array_equal(refined[first], np.roll(plain[first], 1, axis=1))


def test_cli_youtube_vos_with_the_embedded_refiner(
    youtube_vos, tmp_path, cli_tiny_engine, monkeypatch
):
    import vosam.refine

    build = vosam.refine.build_segmenter
    # the segmenter at the frames' own size (its default works at short side 480)
    monkeypatch.setattr(
        vosam.refine, "build_segmenter", lambda name, **kw: build(name, short_side=64, **kw)
    )
    out = tmp_path / "o"
    args = ["dataset", str(youtube_vos), "--format", "youtube-vos", "--out", str(out)]
    assert main([*args, "--refiner", "embedded", "--quiet"]) == 0
    import json

    for video in ("a", "b"):
        folder = out / "Annotations" / video
        assert sorted(p.stem for p in folder.glob("*.png")) == [f"{t:05d}" for t in range(0, 30, 5)]
        manifest = json.loads((folder / "run.json").read_text())
        assert manifest["settings"]["refiner"]["name"] == "embedded"
        assert manifest["complete"] is True
    # object 2 of video a is tracked after it enters, not before
    assert 2 not in np.unique(read_mask(out / "Annotations" / "a" / "00005.png"))
    assert 2 in np.unique(read_mask(out / "Annotations" / "a" / "00015.png"))


def test_cli_zip_holds_only_the_scored_masks_in_the_server_layout(
    youtube_vos, tmp_path, cli_tiny_engine
):
    import zipfile

    out, archive = tmp_path / "o", tmp_path / "submission.zip"
    args = ["dataset", str(youtube_vos), "--format", "youtube-vos", "--out", str(out)]
    assert main([*args, "--zip", str(archive), "--quiet"]) == 0
    with zipfile.ZipFile(archive) as zf:
        names = sorted(zf.namelist())
        first = zf.read("Annotations/a/00000.png")
    scored = [f"{t:05d}" for t in range(0, 30, 5)]
    assert names == [f"Annotations/{v}/{f}.png" for v in ("a", "b") for f in scored]
    assert first == (out / "Annotations" / "a" / "00000.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "submission.zip", "ytvos"]


def test_zip_of_a_sequence_without_results_names_its_folder(youtube_vos, tmp_path):
    import pytest

    from vosam.datasets.submission import write_submission
    from vosam.errors import InputError

    seqs = open_dataset("youtube-vos", youtube_vos)
    with pytest.raises(InputError, match=r"Annotations/a: no results for sequence 'a'"):
        write_submission(tmp_path / "s.zip", tmp_path / "empty", seqs)
    assert not (tmp_path / "s.zip").exists()


def test_cutie_runs_a_youtube_vos_sequence_with_a_late_object(youtube_vos, tmp_path):
    """The runner drives any engine through the Tracker interface: Cutie (tiny random
    weights) writes the scored frames, object 2 absent before its first annotation."""
    from tests.cutie.cutie_helpers import tiny_propagator

    out = tmp_path / "out"
    (seq,) = open_dataset("youtube-vos", youtube_vos, names=["a"])
    engine = tiny_propagator()
    assert segment_sequence(seq, engine, out, settings={}, progress=False) == 6
    folder = out / "Annotations" / "a"
    assert sorted(p.stem for p in folder.glob("*.png")) == [f"{t:05d}" for t in range(0, 30, 5)]
    np.testing.assert_array_equal(read_mask(folder / "00000.png"), truth(0, (1,)))
    assert 2 not in np.unique(read_mask(folder / "00005.png"))
    start = read_mask(folder / "00010.png")
    np.testing.assert_array_equal(start == 2, truth(10, (2,)) == 2)
