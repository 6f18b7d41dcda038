"""Reading each official layout: frames, object ids, start frames, inputs, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.datasets.conftest import truth, write_frames, write_mask
from vosam.datasets import LayoutMismatch, available_formats, open_dataset
from vosam.datasets.long_video import x3_order
from vosam.errors import InputError
from vosam.io import read_mask


def test_registry_lists_every_format():
    assert set(available_formats()) >= {"davis", "youtube-vos", "lvos", "long-video"}
    with pytest.raises(ValueError, match="unknown dataset format 'kitti'"):
        open_dataset("kitti", ".")


def test_youtube_vos_late_object_starts_and_scored_frames(youtube_vos: Path):
    a, b = open_dataset("youtube-vos", youtube_vos)
    assert (a.name, b.name) == ("a", "b")
    assert dict(a.starts) == {1: "00000", 2: "00010"}
    assert list(a.inputs) == ["00000", "00010"]
    assert a.inputs["00010"].keep == (2,) and a.inputs["00010"].partial
    # propagation runs on the all-frames copy; only the meta.json frames are written
    assert a.frames == youtube_vos / "valid_all_frames" / "JPEGImages" / "a"
    assert a.write == ("00000", "00005", "00010", "00015", "00020", "00025")
    assert a.output == Path("Annotations") / "a"
    assert dict(b.starts) == {1: "00000", 2: "00000"}
    assert list(b.inputs) == ["00000"] and b.inputs["00000"].keep == (1, 2)


def test_youtube_vos_split_folder_and_without_all_frames(youtube_vos: Path):
    (seq,) = open_dataset("youtube-vos", youtube_vos / "valid", names=["a"])
    assert seq.frames == youtube_vos / "valid_all_frames" / "JPEGImages" / "a"
    shutil.rmtree(youtube_vos / "valid_all_frames")
    (seq,) = open_dataset("youtube-vos", youtube_vos / "valid", names=["a"])
    assert seq.frames == youtube_vos / "valid" / "JPEGImages" / "a"


def test_youtube_vos_train_categories_and_restricted_input(youtube_vos: Path):
    meta_path = youtube_vos / "valid" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["videos"]["a"]["objects"]["1"]["category"] = "person"
    meta_path.write_text(json.dumps(meta))
    # a train-style annotation holds every object: only those starting there are taken
    write_mask(youtube_vos / "valid" / "Annotations" / "a" / "00010.png", truth(10))
    (seq,) = open_dataset("youtube-vos", youtube_vos, names=["a"])
    assert dict(seq.category) == {1: "person"}
    given = seq.inputs["00010"]
    selected = given.select(read_mask(given.path))
    assert set(np.unique(selected)) == {0, 2}
    np.testing.assert_array_equal(selected, truth(10, (2,)))


def test_youtube_vos_missing_first_annotation_is_named(youtube_vos: Path):
    missing = youtube_vos / "valid" / "Annotations" / "a" / "00010.png"
    missing.unlink()
    with pytest.raises(InputError) as info:
        open_dataset("youtube-vos", youtube_vos)
    assert info.value.path == missing
    assert "first frame is missing" in str(info.value)


def test_youtube_vos_on_a_davis_root_lists_expected_and_found(tmp_path: Path):
    (tmp_path / "JPEGImages" / "480p").mkdir(parents=True)
    (tmp_path / "Annotations").mkdir()
    with pytest.raises(LayoutMismatch) as info:
        open_dataset("youtube-vos", tmp_path)
    text = str(info.value)
    assert "not a YouTube-VOS root" in text
    assert "valid/meta.json" in text
    assert "found: Annotations/, JPEGImages/" in text


def test_lvos_start_frames_from_meta(lvos: Path):
    (seq,) = open_dataset("lvos", lvos)
    assert seq.name == "v1"
    assert dict(seq.starts) == {1: "00000001", 2: "00000006"}
    assert list(seq.inputs) == ["00000001", "00000006"]
    assert seq.inputs["00000006"].keep == (2,)
    assert seq.write is None and seq.output == Path("v1")


def test_lvos_without_meta_uses_first_appearance(lvos: Path):
    (lvos / "valid" / "valid_meta.json").unlink()
    (seq,) = open_dataset("lvos", lvos / "valid")
    assert dict(seq.starts) == {1: "00000001", 2: "00000006"}


def test_lvos_start_without_frame_and_unlisted_video(lvos: Path):
    meta_path = lvos / "valid" / "valid_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["videos"]["v1"]["objects"]["2"]["frame_range"]["start"] = 40
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="object 2 starts on frame 40, which has no JPEG"):
        open_dataset("lvos", lvos)
    write_frames(lvos / "valid" / "JPEGImages" / "v2", ["00000001"], [0])
    with pytest.raises(InputError, match="no entry for video 'v2'"):
        open_dataset("lvos", lvos, names=["v2"])


def test_lvos_v2_val_split_and_v1_caption_meta_beside_the_object_meta(lvos: Path):
    """v2 names the validation split ``val`` and adds ``val_meta_attribute.json``; v1's
    train split holds ``train_expression_meta.json`` beside ``train_meta.json``."""
    split = lvos / "valid"
    meta = json.loads((split / "valid_meta.json").read_text())
    (split / "valid_meta.json").unlink()
    v2 = split.rename(lvos / "val")
    (v2 / "val_meta.json").write_text(json.dumps(meta))
    attributes = {"sets": ["val"], "attributes": [], "videos": {"v1": {"objects": {}}}}
    (v2 / "val_meta_attribute.json").write_text(json.dumps(attributes))
    (seq,) = open_dataset("lvos", lvos)
    assert seq.frames == v2 / "JPEGImages" / "v1"
    assert dict(seq.starts) == {1: "00000001", 2: "00000006"}
    # the start of object 2 moved in the meta: read from it, not from the first appearance
    meta["videos"]["v1"]["objects"]["2"]["frame_range"]["start"] = 11
    train = v2.rename(lvos / "train")
    (train / "val_meta.json").unlink()
    (train / "val_meta_attribute.json").unlink()
    (train / "train_meta.json").write_text(json.dumps(meta))
    captions = {"videos": {"v1": {"objects": {"1": {"caption": "a square"}}}}}
    (train / "train_expression_meta.json").write_text(json.dumps(captions))
    (seq,) = open_dataset("lvos", lvos, split="train")
    assert dict(seq.starts) == {1: "00000001", 2: "00000011"}


def test_lvos_wrong_root(tmp_path: Path):
    with pytest.raises(LayoutMismatch, match=r"not a LVOS root: .*found: nothing"):
        open_dataset("lvos", tmp_path / "nowhere")


def test_long_video_sparse_annotations_first_is_input(long_video: Path):
    (seq,) = open_dataset("long-video", long_video)
    assert seq.name == "rat"
    assert list(seq.inputs) == ["00000"]
    assert seq.inputs["00000"].keep is None and not seq.inputs["00000"].partial
    assert seq.write is None


def test_long_video_without_annotations(long_video: Path):
    for p in (long_video / "Annotations" / "rat").iterdir():
        p.unlink()
    with pytest.raises(InputError, match="no annotation PNG"):
        open_dataset("long-video", long_video)


def test_x3_order():
    assert x3_order(4) == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert len(x3_order(2500)) == 3 * 2500 - 2


def test_davis_2016_binary_masks_and_split(tmp_path: Path):
    root = tmp_path / "DAVIS"
    for seq in ("cows", "dog"):
        write_frames(root / "JPEGImages" / "480p" / seq, ["00000", "00001"], [0, 1])
        ann = root / "Annotations" / "480p" / seq
        ann.mkdir(parents=True)
        from PIL import Image

        Image.fromarray(truth(0, (1,)) * 255).save(ann / "00000.png")
    (root / "ImageSets" / "2016").mkdir(parents=True)
    (root / "ImageSets" / "2016" / "val.txt").write_text("dog\n")
    (seq,) = open_dataset("davis", root, split="2016/val")
    assert seq.name == "dog" and list(seq.inputs) == ["00000"]
    mask = read_mask(seq.inputs["00000"].path)
    assert set(np.unique(mask)) == {0, 1}
    with pytest.raises(InputError, match="no list of the split '2017/val'"):
        open_dataset("davis", root, split="2017/val")


DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def test_real_davis_and_multiobject_layouts():
    davis, multi = DATA / "davis2016-train", DATA / "multiobject"
    if not davis.is_dir() or not multi.is_dir():
        pytest.skip(f"needs the development data in {DATA}")
    seqs = open_dataset("davis", davis, names=["tennis"])
    assert [s.name for s in seqs] == ["tennis"] and list(seqs[0].inputs) == ["00000"]
    assert set(np.unique(read_mask(seqs[0].inputs["00000"].path))) == {0, 1}
    # the multi-object folder has the Long-time Video layout (JPEGImages/<seq>)
    by_name = {s.name: s for s in open_dataset("long-video", multi)}
    assert set(by_name) == {"dogs-jump", "schoolgirls"}
    first = read_mask(by_name["dogs-jump"].inputs["00000"].path)
    assert {1, 2, 3} <= set(np.unique(first).tolist())
