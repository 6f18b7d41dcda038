"""``vosam segment`` on a local file that names other files (an HLS playlist, a concat list):
exit code 2, one stderr line naming the file, nothing written, and the files it names never
read. A stream URL given as such is not limited (tests/io/test_io_containers.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.references import KIND_WORDS, referencing_files
from tests.reliability.conftest import tree
from tests.reliability.test_bad_inputs import ENTRY, argv, check_one_line
from vosam.cli import main
from vosam.io import write_mask


@pytest.fixture
def lists(case_dir, tmp_path):
    """The referencing files in ``case_dir/lists``, naming videos in a folder outside it,
    and ``case_dir/ann48``: a mask that fits those videos (so that a run that followed them
    would go through)."""
    files = referencing_files(case_dir / "lists", tmp_path / "elsewhere")
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 10:30] = 1
    (case_dir / "ann48").mkdir()
    write_mask(case_dir / "ann48" / "00000.png", mask)
    return files


@pytest.mark.parametrize("state", ["absent", "unrelated"])
@pytest.mark.parametrize("kind", sorted(KIND_WORDS))
def test_segment_refuses_a_file_that_names_other_files(
    kind, state, lists, case_dir, fast_cli, capsys
):
    out = case_dir / "out"
    if state == "unrelated":
        out.mkdir()
        (out / "notes.txt").write_text("not vosam's")
    source = lists[kind]
    before = tree(case_dir)
    args = argv(
        f"segment {source} --masks {case_dir}/ann48 --out {out} --device cpu", case_dir, out
    )
    assert main(args) == 2
    err = capsys.readouterr().err
    check_one_line(err, "segment", str(source))
    assert KIND_WORDS[kind] in err and "secret" not in err
    assert tree(case_dir) == before


def test_segment_refuses_a_playlist_in_a_real_process(lists, case_dir):
    out = case_dir / "out"
    source = lists["hls-url"]
    before = tree(case_dir)
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            ENTRY,
            *argv(f"segment {source} --box 1,1,9,9 --out {out}", case_dir, out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    check_one_line(run.stderr, "segment", str(source))
    assert tree(case_dir) == before
