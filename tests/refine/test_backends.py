"""SAM, HQ-SAM and SAM 2 segmenters end to end on CPU with random weights.

SAM and HQ-SAM are built by their packages' own ``_build_sam`` with a tiny two-block image
encoder (the official vit_b/l/h differ only in encoder size and take minutes per image on
a small CPU); the registry builders are exercised for construction and strict loading.
SAM 2 runs its real tiny config.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vosam.errors import CheckpointError
from vosam.refine import Prompt, available_segmenters, build_segmenter
from vosam.refine.sam import SamSegmenter, load_strict, sam_mask_input
from vosam.refine.sam2_image import sam2_mask_input

SAM2_TINY = "configs/sam2.1/sam2.1_hiera_t.yaml"


def tiny_sam(package: str) -> torch.nn.Module:
    from importlib import import_module

    torch.manual_seed(0)
    builder = import_module(f"{package}.build_sam")._build_sam
    return builder(
        encoder_embed_dim=32,
        encoder_depth=2,
        encoder_num_heads=2,
        encoder_global_attn_indexes=[1],
    ).eval()


def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
    img[10:30, 20:40] = 200
    return img


def object_prob() -> np.ndarray:
    p = np.zeros((48, 64), np.float32)
    p[10:30, 20:40] = 0.9
    return p


def full_prompt() -> Prompt:
    return Prompt(
        box=np.array([20, 10, 39, 29], np.float32),
        points=np.array([[30, 20], [5, 5]], np.float32),
        labels=np.array([1, 0], np.int32),
        mask=object_prob(),
    )


def check_prediction(pred, size=(48, 64)):
    assert pred.mask.shape == size and pred.mask.dtype == bool
    assert pred.logits.shape == size and pred.logits.dtype == np.float32
    np.testing.assert_array_equal(pred.mask, pred.logits > 0)
    assert 0.0 <= pred.score <= 1.0


def test_all_backends_are_registered():
    assert {"sam", "sam-hq", "sam2", "embedded"} <= set(available_segmenters())


def test_sam_mask_input_keeps_the_aspect_and_pads():
    # 48x64 -> encoder input 768x1024 -> low-res 192x256, padded to 256x256
    low = sam_mask_input(object_prob(), (768, 1024))
    assert low.shape == (1, 256, 256)
    assert (low[0, 192:] == -10).all()
    # the object's rows 10-29 of 48 map to about rows 40-119 of 192
    assert low[0, 80, 120] == pytest.approx(np.log(0.9 / 0.1), abs=1e-4)
    assert low[0, 150, 120] == -10
    sq = sam2_mask_input(object_prob(), 1024)
    assert sq.shape == (1, 256, 256)
    assert sq[0, 106, 120] > 0 and sq[0, 200, 120] < 0


@pytest.mark.parametrize(
    ("package", "name"), [("segment_anything", "sam"), ("segment_anything_hq", "sam-hq")]
)
def test_sam_family_end_to_end(package, name):
    from importlib import import_module

    model = tiny_sam(package)
    seg = SamSegmenter(import_module(package).SamPredictor(model), name)
    assert seg.device == "cpu"
    emb = seg.embed(image())
    assert emb.size == (48, 64)
    full = seg.predict(emb, full_prompt())
    check_prediction(full)
    # the mask prompt reaches the decoder: the same prompt without it gives other logits
    no_mask = seg.predict(emb, Prompt(box=full_prompt().box))
    check_prediction(no_mask)
    assert not np.allclose(full.logits, no_mask.logits)
    # a lone point asks for three masks and returns the best one
    point = seg.predict(emb, Prompt(points=np.array([[30.0, 20.0]]), labels=np.array([1])))
    check_prediction(point)
    # one embedding serves many prompts: repeating a prompt repeats the answer
    again = seg.predict(emb, full_prompt())
    np.testing.assert_array_equal(again.logits, full.logits)


@pytest.mark.parametrize(
    ("package", "name"), [("segment_anything", "sam"), ("segment_anything_hq", "sam-hq")]
)
def test_sam_family_strict_checkpoints(tmp_path, package, name):
    state = tiny_sam(package).state_dict()
    good = tmp_path / "tiny.pth"
    torch.save(state, good)
    load_strict(tiny_sam(package), good, what="tiny")  # loads cleanly
    # the registry's vit_b does not match the tiny encoder: named mismatches, no silent load
    with pytest.raises(CheckpointError, match=r"shape mismatches|missing keys"):
        build_segmenter(name, checkpoint=good, model_type="vit_b", device="cpu")
    broken = dict(state)
    del broken["mask_decoder.iou_prediction_head.layers.0.weight"]
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"1 missing keys: mask_decoder\.iou_prediction_head"):
        load_strict(tiny_sam(package), tmp_path / "broken.pth", what="tiny")
    with pytest.raises(CheckpointError, match="no such file"):
        load_strict(tiny_sam(package), tmp_path / "absent.pth", what="tiny")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_strict(tiny_sam(package), tmp_path / "text.pth", what="tiny")
    with pytest.raises(ValueError, match="model type"):
        build_segmenter(name, model_type="vit_x", device="cpu")


@pytest.fixture(scope="module")
def sam2_segmenter():
    torch.manual_seed(0)
    return build_segmenter("sam2", model_config=SAM2_TINY, device="cpu")


def test_sam2_end_to_end(sam2_segmenter):
    seg = sam2_segmenter
    assert seg.name == "sam2" and seg.device == "cpu"
    emb = seg.embed(image())
    full = seg.predict(emb, full_prompt())
    check_prediction(full)
    no_mask = seg.predict(emb, Prompt(box=full_prompt().box))
    check_prediction(no_mask)
    assert not np.allclose(full.logits, no_mask.logits)
    check_prediction(
        seg.predict(emb, Prompt(points=np.array([[30.0, 20.0]]), labels=np.array([1])))
    )
    np.testing.assert_array_equal(seg.predict(emb, full_prompt()).logits, full.logits)


def test_sam2_embeddings_answer_as_sam2s_own_predictor(sam2_segmenter):
    """Predictions on an image embedded before another equal what ``SAM2ImagePredictor``
    gives for that image alone (``set_image`` then ``predict``), bit for bit; the scores are
    those recorded from the segmenter's earlier code path on the same random weights."""
    from vosam.engines.sam2.build import sam2_hydra_scope

    with sam2_hydra_scope():
        from sam2.sam2_image_predictor import SAM2ImagePredictor

    seg = sam2_segmenter
    first = image()
    second = np.ascontiguousarray(first[::-1, ::-1])
    embeddings = [seg.embed(first), seg.embed(second)]
    click = Prompt(points=np.array([[30.0, 20.0]]), labels=np.array([1]))
    prompts = [full_prompt(), Prompt(box=full_prompt().box), click]
    got = [[seg.predict(e, p) for e in embeddings] for p in prompts]
    recorded = [0.552785, 0.567463, 0.538505]  # the first image's score per prompt
    for answers, score in zip(got, recorded, strict=True):
        assert answers[0].score == pytest.approx(score, abs=1e-5)
    reference = SAM2ImagePredictor(seg.model)
    reference.set_image(first)
    for prompt, answers in zip(prompts, got, strict=True):
        with torch.inference_mode():
            logits, scores, _ = reference.predict(
                point_coords=prompt.points,
                point_labels=prompt.labels,
                box=prompt.box,
                mask_input=None if prompt.mask is None else sam2_mask_input(prompt.mask),
                multimask_output=prompt.box is None and prompt.mask is None,
                return_logits=True,
            )
        best = int(np.argmax(scores))
        np.testing.assert_array_equal(answers[0].logits, logits[best])
        assert answers[0].score == float(scores[best])
        assert not np.array_equal(answers[1].logits, answers[0].logits)


def test_sam2_strict_checkpoint(tmp_path, sam2_segmenter):
    state = sam2_segmenter.model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("obj_ptr_proj")}
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match="missing keys: obj_ptr_proj"):
        build_segmenter("sam2", checkpoint=path, device="cpu")
    torch.save(state, path)  # no "model" wrapper
    with pytest.raises(CheckpointError, match="not a SAM 2"):
        build_segmenter("sam2", checkpoint=path, device="cpu")


def test_light_hq_sam_vit_tiny_builds_and_loads_strictly(tmp_path):
    """HQ-SAM's vit_tiny (Light HQ-SAM, the catalogue's sam-hq-vit-tiny) is a model type of
    sam-hq only; its checkpoint loads strictly through the registry builder."""
    hq = pytest.importorskip("segment_anything_hq")
    pytest.importorskip("timm")
    torch.manual_seed(0)
    state = hq.sam_model_registry["vit_tiny"](checkpoint=None).state_dict()
    torch.save(state, tmp_path / "sam_hq_vit_tiny.pth")
    segmenter = build_segmenter(
        "sam-hq", checkpoint=tmp_path / "sam_hq_vit_tiny.pth", model_type="vit_tiny", device="cpu"
    )
    encoder = segmenter.predictor.model.image_encoder
    assert type(encoder).__name__ == "TinyViT"
    loaded = segmenter.predictor.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with pytest.raises(ValueError, match=r"unknown sam model type 'vit_tiny'"):
        build_segmenter("sam", model_type="vit_tiny", device="cpu")
