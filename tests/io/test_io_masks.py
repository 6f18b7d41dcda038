from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosam.errors import MaskError, MaskSizeError
from vosam.io import (
    DAVIS_COLORS,
    DAVIS_PALETTE,
    palette_image,
    read_annotations,
    read_mask,
    require_objects,
    write_mask,
)
from vosam.io.masks import MAX_GREY_IDS


def test_davis_palette_values() -> None:
    assert len(DAVIS_PALETTE) == 768
    assert all(isinstance(v, int) and 0 <= v <= 255 for v in DAVIS_PALETTE)
    assert DAVIS_PALETTE[:15] == (0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128)
    assert DAVIS_PALETTE[15:24] == (128, 0, 128, 0, 128, 128, 128, 128, 128)
    assert DAVIS_PALETTE[24:27] == (64, 0, 0)  # id 8
    assert DAVIS_PALETTE[-3:] == (224, 224, 192)
    assert DAVIS_COLORS.shape == (256, 3)
    assert DAVIS_COLORS[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in DAVIS_COLORS.tolist()}) == 256
    assert not DAVIS_COLORS.flags.writeable


def test_write_read_round_trip(tmp_path: Path) -> None:
    mask = np.zeros((5, 7), np.uint8)
    ids = [*range(21), 255]
    mask.flat[: len(ids)] = ids
    path = tmp_path / "m.png"
    write_mask(path, mask)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert tuple(image.getpalette()) == DAVIS_PALETTE
    back = read_mask(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, mask)
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_palette_image_accepts_bool_and_rejects_bad_masks() -> None:
    image = palette_image(np.array([[True, False]]))
    assert image.mode == "P" and np.asarray(image).tolist() == [[1, 0]]
    with pytest.raises(ValueError, match="2-D"):
        palette_image(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"0\.\.255"):
        palette_image(np.array([[256]]))
    with pytest.raises(TypeError, match="integer ids"):
        palette_image(np.zeros((2, 2), np.float32))


def test_palette_png_keeps_indices_whatever_the_palette(tmp_path: Path) -> None:
    image = Image.fromarray(np.array([[0, 3], [9, 255]], np.uint8))
    image.putpalette([7] * 768)
    image.save(tmp_path / "p.png")
    assert read_mask(tmp_path / "p.png").tolist() == [[0, 3], [9, 255]]


def test_binary_grey_mask_becomes_zero_one(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).save(tmp_path / "b.png")
    mask = read_mask(tmp_path / "b.png")
    assert mask.dtype == np.uint8 and mask.tolist() == [[0, 1], [1, 0]]
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "one.png")
    assert read_mask(tmp_path / "one.png").tolist() == [[1, 0]]


def test_grey_ids_kept_and_void_kept(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 1, 2, 255]], np.uint8)).save(tmp_path / "g.png")
    assert read_mask(tmp_path / "g.png").tolist() == [[0, 1, 2, 255]]
    Image.fromarray(np.array([[0, 3, 700]], np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(MaskError, match="up to 700"):
        read_mask(tmp_path / "deep.png")


def test_grey_image_rejected(tmp_path: Path) -> None:
    Image.fromarray(np.arange(100, dtype=np.uint8).reshape(10, 10)).save(tmp_path / "photo.png")
    with pytest.raises(MaskError, match=r"looks anti-aliased.*99 grey levels") as info:
        read_mask(tmp_path / "photo.png")
    assert info.value.path == tmp_path / "photo.png"


def _smooth_binary_mask() -> np.ndarray:
    """A 0/255 rectangle on odd pixel edges, halved with a box filter: 0, 255 and the few
    levels in between that its edges and corners average to."""
    binary = np.zeros((160, 214), np.uint8)
    binary[7:41, 11:51] = 255
    return np.asarray(Image.fromarray(binary).resize((107, 80), Image.Resampling.BOX))


def test_anti_aliased_binary_mask_refused_with_the_fix(tmp_path: Path) -> None:
    smooth = _smooth_binary_mask()
    levels = np.unique(smooth)
    assert levels.tolist() == [0, 64, 128, 255]
    Image.fromarray(smooth).save(tmp_path / "00000.png")
    with pytest.raises(MaskError, match="looks anti-aliased") as info:
        read_mask(tmp_path / "00000.png")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / '00000.png'}: ")
    assert "nearest-neighbour" in message and "--binarize" in message


def test_many_grey_levels_refused_even_without_void(tmp_path: Path) -> None:
    mask = np.zeros((4, 10), np.uint8)
    mask.flat[:40] = np.arange(40) % (MAX_GREY_IDS + 1)
    Image.fromarray(mask).save(tmp_path / "ok.png")
    assert read_mask(tmp_path / "ok.png").max() == MAX_GREY_IDS
    mask.flat[:40] = np.arange(40) % (MAX_GREY_IDS + 2)
    Image.fromarray(mask).save(tmp_path / "many.png")
    with pytest.raises(MaskError, match=f"{MAX_GREY_IDS + 1} grey levels"):
        read_mask(tmp_path / "many.png")


def test_one_mid_grey_level_beside_void_is_a_ramp(tmp_path: Path) -> None:
    # a 0/255 mask halved with a box filter: 0, 128, 255; ids stay below 128 beside void
    Image.fromarray(np.array([[0, 128, 255]], np.uint8)).save(tmp_path / "ramp.png")
    with pytest.raises(MaskError, match="anti-aliased"):
        read_mask(tmp_path / "ramp.png")
    Image.fromarray(np.array([[0, 127, 255]], np.uint8)).save(tmp_path / "ids.png")
    assert read_mask(tmp_path / "ids.png").tolist() == [[0, 127, 255]]


def test_binarize_thresholds_grey_masks_at_128(tmp_path: Path) -> None:
    smooth = _smooth_binary_mask()
    Image.fromarray(smooth).save(tmp_path / "00000.png")
    mask = read_mask(tmp_path / "00000.png", binarize=True)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, (smooth >= 128).astype(np.uint8))
    masks = read_annotations(tmp_path, ["00000"], (80, 107), binarize=True)
    np.testing.assert_array_equal(masks[0], mask)
    with pytest.raises(MaskError, match="anti-aliased"):
        read_annotations(tmp_path, ["00000"], (80, 107))


def test_mask_larger_than_the_pixel_budget_refused_before_decoding(tmp_path, monkeypatch):
    import vosam.io.masks as masks_module

    write_mask(tmp_path / "m.png", np.zeros((20, 30), np.uint8))
    monkeypatch.setattr(masks_module, "MAX_MASK_PIXELS", 599)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(MaskError, match="30×20, more than 599 pixels"):
        read_mask(tmp_path / "m.png")


def test_require_objects_names_the_folder(tmp_path: Path) -> None:
    require_objects({0: np.array([[0, 3]], np.uint8)}, tmp_path)
    for empty in (np.zeros((2, 2), np.uint8), np.full((2, 2), 255, np.uint8)):
        with pytest.raises(MaskError, match="no object to track") as info:
            require_objects({0: empty, 4: np.zeros((2, 2), np.uint8)}, tmp_path)
        assert info.value.path == tmp_path


def test_rgb_mask_mapped_through_palette(tmp_path: Path) -> None:
    ids = np.array([[0, 1, 2], [3, 4, 255]], np.uint8)
    rgba = np.concatenate([DAVIS_COLORS[ids], np.full((2, 3, 1), 255, np.uint8)], axis=2)
    Image.fromarray(DAVIS_COLORS[ids]).save(tmp_path / "rgb.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert read_mask(tmp_path / "rgb.png").tolist() == ids.tolist()
    assert read_mask(tmp_path / "rgba.png").tolist() == ids.tolist()


def test_rgb_mask_with_foreign_colours(tmp_path: Path) -> None:
    rgb = np.zeros((1, 4, 3), np.uint8)
    rgb[0, 1] = (128, 0, 0)
    rgb[0, 2] = (255, 0, 0)
    rgb[0, 3] = (1, 2, 3)
    path = tmp_path / "colours.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(MaskError) as info:
        read_mask(path)
    assert str(info.value).startswith(
        f"{path}: 2 colour(s) not in the DAVIS palette: (1, 2, 3), (255, 0, 0);"
    )
    many = np.stack([np.arange(8, dtype=np.uint8) + 1] * 3, axis=-1)[None]
    Image.fromarray(many).save(path)
    with pytest.raises(MaskError, match=r"8 colour\(s\).*\(5, 5, 5\) and 3 more"):
        read_mask(path)


def test_mask_size_mismatch_message(tmp_path: Path) -> None:
    path = tmp_path / "00012.png"
    write_mask(path, np.zeros((36, 64), np.uint8))
    with pytest.raises(MaskSizeError) as info:
        read_mask(path, expected_size=(48, 85))
    assert str(info.value) == f"{path}: mask is 64×36 but frames are 85×48"
    assert read_mask(path, expected_size=(36, 64)).shape == (36, 64)


def test_unreadable_and_missing_mask(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not png")
    with pytest.raises(MaskError, match="not a readable image") as info:
        read_mask(tmp_path / "bad.png")
    assert info.value.path == tmp_path / "bad.png"
    with pytest.raises(MaskError, match="does not exist"):
        read_mask(tmp_path / "gone.png")


NAMES = ("frame_000000", "frame_000001", "frame_000002", "frame_000010")


def _annotation_dir(tmp_path: Path, stems: dict[str, int]) -> Path:
    folder = tmp_path / "ann"
    folder.mkdir(exist_ok=True)
    for stem, value in stems.items():
        write_mask(folder / f"{stem}.png", np.full((3, 4), value, np.uint8))
    return folder


def test_read_annotations_matches_stems(tmp_path: Path) -> None:
    folder = _annotation_dir(tmp_path, {"frame_000010": 2, "frame_000000": 1})
    (folder / "readme.txt").write_text("ignored")
    masks = read_annotations(folder, NAMES, (3, 4))
    assert list(masks) == [0, 3]
    assert masks[0].tolist() == [[1] * 4] * 3
    assert masks[3].tolist() == [[2] * 4] * 3


def test_read_annotations_single_file(tmp_path: Path) -> None:
    folder = _annotation_dir(tmp_path, {"frame_000002": 5})
    masks = read_annotations(folder / "frame_000002.png", NAMES, (3, 4))
    assert list(masks) == [2] and int(masks[2][0, 0]) == 5


def test_read_annotations_numeric_stems(tmp_path: Path) -> None:
    folder = _annotation_dir(tmp_path, {"12": 1, "00003": 2})
    names = tuple(f"{i:05d}" for i in range(20))
    assert list(read_annotations(folder, names, (3, 4))) == [3, 12]
    _annotation_dir(tmp_path, {"012": 3})
    with pytest.raises(MaskError, match=r"annotates the same frame as 012\.png"):
        read_annotations(folder, names, (3, 4))


def test_annotation_for_unknown_frame(tmp_path: Path) -> None:
    folder = _annotation_dir(tmp_path, {"frame_000000": 1, "frame_000099": 1})
    with pytest.raises(MaskError) as info:
        read_annotations(folder, NAMES, (3, 4))
    assert info.value.path == folder / "frame_000099.png"
    assert str(info.value) == (
        f"{folder / 'frame_000099.png'}: no frame named 'frame_000099': the video has 4 "
        "frames (named like 'frame_000000'); name each mask after the frame it annotates"
    )


def test_annotation_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match="annotation folder does not exist"):
        read_annotations(tmp_path / "missing", NAMES, (3, 4))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.jpg").write_bytes(b"")
    with pytest.raises(MaskError, match="no annotation") as info:
        read_annotations(empty, NAMES, (3, 4))
    assert info.value.path == empty
    folder = _annotation_dir(tmp_path, {"frame_000001": 1})
    with pytest.raises(MaskSizeError, match="mask is 4×3 but frames are 5×3"):
        read_annotations(folder, NAMES, (3, 5))
