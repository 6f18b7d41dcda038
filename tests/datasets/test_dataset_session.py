"""``vosam dataset`` is a client of :class:`vosam.Session`: for every format, the masks it
writes are byte for byte those of a Session given the same inputs and playing order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vosam.cli import main
from vosam.datasets import open_dataset
from vosam.io import FolderSource, read_mask, write_mask
from vosam.playback import Order
from vosam.session import Session, SessionConfig


def session_masks(seq, engine, order: Order, folder: Path) -> dict[str, bytes]:
    """PNG bytes of each written frame's last visit, from a Session built by hand."""
    source = FolderSource(seq.frames)
    config = SessionConfig(objects_from_first_annotation=False)
    session = Session(source, propagator=engine, config=config)
    for frame, given in seq.inputs.items():
        mask = given.load(source.size)
        session.add_annotation(source.names.index(frame), mask, partial=given.partial)
    last = {}
    for step in session.run(order=order):
        last[step.index] = step.mask
    keep = seq.write if seq.write is not None else source.names
    folder.mkdir(parents=True)
    out = {}
    for index, mask in last.items():
        name = source.names[index]
        if name in keep:
            write_mask(folder / f"{name}.png", mask)
            out[name] = (folder / f"{name}.png").read_bytes()
    return out


CASES = {
    "davis": ("davis", [], Order.FORWARD),
    "youtube-vos": ("youtube_vos", [], Order.FORWARD),
    "lvos": ("lvos", [], Order.FORWARD),
    "long-video": ("long_video", [], Order.FORWARD),
    "long-video-x3": ("long_video", ["--long-video-x3"], Order.X3),
    "youtube-vis": ("youtube_vis", [], Order.FORWARD),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dataset_writes_what_a_session_gives(case, request, cli_tiny_engine, tmp_path):
    fixture, flags, order = CASES[case]
    if fixture == "youtube_vis":
        pytest.importorskip("pycocotools")
    fmt = case.removesuffix("-x3")
    root = request.getfixturevalue(fixture)
    out = tmp_path / "out"
    assert main(["dataset", str(root), "--format", fmt, "--out", str(out), "--quiet", *flags]) == 0
    sequences = open_dataset(fmt, root)
    assert sequences
    for seq in sequences:
        expected = session_masks(seq, cli_tiny_engine, order, tmp_path / "session" / seq.name)
        written = {p.stem: p.read_bytes() for p in (out / seq.output).glob("*.png")}
        assert sorted(written) == sorted(expected)
        assert written == expected
        # a constant or empty result would pass the comparison: the objects are there
        last = read_mask(out / seq.output / f"{max(written)}.png")
        assert set(np.unique(last)) >= {0, 1}
