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


def test_cli_lvos_then_eval(lvos, tmp_path, capsys, monkeypatch):
    from vosam.cli import common
    from vosam.engines.embedded import EmbeddedConfig, EmbeddedPropagator

    def tiny(args):
        return EmbeddedPropagator(
            EmbeddedConfig(short_side=64, head_iters=40, guided_radius=2), device="cpu"
        )

    monkeypatch.setattr(common, "build_engine", tiny)
    out = tmp_path / "o"
    args = ["dataset", str(lvos), "--format", "lvos", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert sorted(p.stem for p in (out / "v1").glob("*.png")) == [f"{n:08d}" for n in range(1, 13)]
    capsys.readouterr()
    split = Path(lvos) / "valid"
    assert main(["eval", str(split), str(out), "--task", "lvos", "--workers", "1", "--quiet"]) == 0
    assert "J&F-Mean" in capsys.readouterr().out
