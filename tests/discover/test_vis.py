"""YouTube-VIS refinement on a constructed case: blocky masks become exact, AP rises."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.discover.fakes import BrightInBox
from vosam.discover import VisFormatError, read_vis_videos, refine_vis, refine_vis_file
from vosam.discover.vis import encode_rle
from vosam.errors import InputError
from vosam.eval import evaluate_vis

pytest.importorskip("pycocotools")
# pycocotools warns about numpy 2 copy semantics on every decode
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

H, W, T = 40, 56, 4


def _scene(tmp_path):
    """Two videos: a bright disc (category 1) and a bright square (category 2) moving on a
    dark noisy ground; frames under ROOT/JPEGImages/<video>/."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    videos, annotations = [], []
    for vid in (1, 2):
        names = []
        disc_track, square_track = [], []
        for t in range(T):
            image = rng.integers(0, 60, (H, W, 3)).astype(np.uint8)
            disc = (yy - 15) ** 2 + (xx - 12 - 3 * t - vid) ** 2 <= 64
            square = np.zeros((H, W), bool)
            square[24:34, 30 + 2 * t : 40 + 2 * t] = True
            image[disc | square] = rng.integers(180, 255, (int((disc | square).sum()), 3))
            name = f"v{vid}/{t:05d}.jpg"
            (tmp_path / "JPEGImages" / f"v{vid}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(tmp_path / "JPEGImages" / name, quality=95)
            names.append(name)
            disc_track.append(disc)
            square_track.append(square)
        videos.append({"id": vid, "file_names": names, "height": H, "width": W, "length": T})
        for cat, track in ((1, disc_track), (2, square_track)):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "video_id": vid,
                    "category_id": cat,
                    "iscrowd": 0,
                    "segmentations": [encode_rle(m) for m in track],
                    "areas": [int(m.sum()) for m in track],
                }
            )
    gt = {
        "videos": videos,
        "categories": [{"id": 1, "name": "disc"}, {"id": 2, "name": "square"}],
        "annotations": annotations,
    }
    return gt


def _blocky(rle_track, pad=4):
    """The track's masks replaced by their bounding boxes grown by ``pad`` pixels."""
    from vosam.discover.vis import _decode, _mask_api

    out = []
    for seg in rle_track:
        m = _decode(seg, _mask_api())
        ys, xs = np.nonzero(m)
        box = np.zeros_like(m)
        box[
            max(ys.min() - pad, 0) : ys.max() + pad + 1, max(xs.min() - pad, 0) : xs.max() + pad + 1
        ] = True
        out.append(encode_rle(box))
    return out


def test_refinement_makes_blocky_masks_exact_and_ap_rises(tmp_path):
    gt = _scene(tmp_path)
    results = [
        {
            "video_id": a["video_id"],
            "category_id": a["category_id"],
            "score": 0.9 - 0.1 * i,
            "segmentations": _blocky(a["segmentations"]),
        }
        for i, a in enumerate(gt["annotations"])
    ]
    results[0]["segmentations"][2] = None  # an instance absent on one frame stays absent
    before = evaluate_vis(gt, results)
    assert before.ap < 0.5
    segmenter = BrightInBox()
    refined = refine_vis(results, _videos(gt), tmp_path, segmenter)
    assert refined[0]["segmentations"][2] is None
    assert [r["score"] for r in refined] == [r["score"] for r in results]
    # every other mask is now exactly the object
    for r, a in zip(refined, gt["annotations"], strict=True):
        for t in range(T):
            if r["segmentations"][t] is not None:
                assert r["segmentations"][t]["counts"] == a["segmentations"][t]["counts"]
    after = evaluate_vis(gt, refined)
    # the one missing frame of the disc in video 1 costs IoU; all other tracks are exact
    assert after.ap > before.ap
    assert after.per_category[1] > 0.5 > before.per_category[1]
    assert after.per_category[2] == pytest.approx(1.0)
    # one frame embedded once for all its instances: 2 videos × 4 frames
    assert segmenter.embedded == 2 * T
    assert all(p.mask is not None and p.box is not None for p in segmenter.prompts)


def _videos(gt):
    from vosam.discover.vis import VisVideo

    return {
        v["id"]: VisVideo(v["id"], tuple(v["file_names"]), v["height"], v["width"])
        for v in gt["videos"]
    }


def test_refinement_that_disagrees_is_discarded(tmp_path):
    gt = _scene(tmp_path)
    results = [
        {
            "video_id": a["video_id"],
            "category_id": a["category_id"],
            "score": 0.5,
            "segmentations": a["segmentations"],
        }
        for a in gt["annotations"]
    ]
    # a segmenter that finds nothing bright keeps every original mask
    refined = refine_vis(results, _videos(gt), tmp_path, BrightInBox(level=256))
    assert refined == results


def test_files_round_trip_and_errors(tmp_path):
    gt = _scene(tmp_path)
    meta = tmp_path / "valid.json"
    meta.write_text(json.dumps(gt))
    results = [
        {
            "video_id": a["video_id"],
            "category_id": a["category_id"],
            "score": 0.5,
            "segmentations": _blocky(a["segmentations"]),
        }
        for a in gt["annotations"]
    ]
    res_path = tmp_path / "results.json"
    res_path.write_text(json.dumps(results))
    out = tmp_path / "refined.json"
    assert refine_vis_file(res_path, meta, tmp_path, out, BrightInBox()) == 4
    assert evaluate_vis(meta, out).ap == pytest.approx(1.0)
    assert set(read_vis_videos(meta)) == {1, 2}

    bad = [dict(results[0], segmentations=results[0]["segmentations"][:2])]
    res_path.write_text(json.dumps(bad))
    with pytest.raises(VisFormatError, match=r"result #0: has 2 segmentations for 4 frames"):
        refine_vis_file(res_path, meta, tmp_path, out, BrightInBox())
    res_path.write_text(json.dumps([dict(results[0], video_id=9)]))
    with pytest.raises(VisFormatError, match="video_id 9 is not in the metadata"):
        refine_vis_file(res_path, meta, tmp_path, out, BrightInBox())
    with pytest.raises(VisFormatError, match="results file does not exist"):
        refine_vis_file(tmp_path / "none.json", meta, tmp_path, out, BrightInBox())
    (tmp_path / "JPEGImages" / "v1" / "00001.jpg").unlink()
    res_path.write_text(json.dumps(results))
    with pytest.raises(InputError, match=r"00001\.jpg: frame file does not exist"):
        refine_vis_file(res_path, meta, tmp_path, out, BrightInBox())
    assert json.loads(out.read_text())  # the earlier output is untouched
