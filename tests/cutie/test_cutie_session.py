"""Cutie inside a Session: box prompts through a segmenter, and a refiner's feedback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from cutie_helpers import parity_video, tiny_network
from PIL import Image

from vosam.engines.cutie import CutieConfig, CutiePropagator, CutieTracker
from vosam.refine.base import ImageEmbedding, Prediction, Prompt, PromptableSegmenter
from vosam.refine.refiner import Refiner, RefinerConfig
from vosam.session import Session

RED = (230, 60, 40)  # object 1 of parity_video


class _ColourSegmenter(PromptableSegmenter):
    """Segments the red disc of the frame it was shown, whatever the prompt."""

    name = "colour"
    device = "cpu"

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        return ImageEmbedding(image.shape[:2], (image == RED).all(-1))

    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        mask = embedding.data
        return Prediction(mask, 1.0, np.where(mask, 5.0, -5.0).astype(np.float32))


class _Recording(CutiePropagator):
    def new_tracker(self) -> CutieTracker:
        tracker = super().new_tracker()
        self.fed: list[int] = []
        feedback = tracker.feedback

        def record(index, image, mask):
            self.fed.append(index)
            feedback(index, image, mask)

        tracker.feedback = record
        return tracker


def folder(tmp_path: Path, n: int) -> tuple[Path, list[np.ndarray]]:
    frames, _ = parity_video(n)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"{i:05d}.png")
    return tmp_path, frames


def test_a_box_prompt_becomes_the_mask_cutie_propagates(tmp_path: Path) -> None:
    path, frames = folder(tmp_path, 6)
    engine = CutiePropagator(tiny_network(), config=CutieConfig(size=-1), device="cpu")
    prompted = Session(path, propagator=engine, segmenter=_ColourSegmenter())
    prompted.add_prompt(0, 1, Prompt(box=np.array([5, 15, 35, 45], np.float32)))
    by_prompt = dict(prompted.propagate())
    made = prompted.prompt_masks[0]
    np.testing.assert_array_equal(made == 1, (frames[0] == RED).all(-1))
    annotated = Session(path, propagator=engine)
    annotated.add_annotation(0, made)
    by_mask = dict(annotated.propagate())
    assert list(by_prompt) == list(range(6))
    for index, result in by_prompt.items():
        np.testing.assert_array_equal(result.probs, by_mask[index].probs)


def test_accepted_refinements_are_fed_back_into_cuties_memory(tmp_path: Path) -> None:
    path, frames = folder(tmp_path, 7)
    engine = _Recording(tiny_network(), config=CutieConfig(size=-1), device="cpu")
    refiner = Refiner(_ColourSegmenter(), RefinerConfig(refine="every", feedback=True, gate=0.5))
    session = Session(path, propagator=engine, refiner=refiner)
    session.add_annotation(0, (frames[0] == RED).all(-1).astype(np.uint8))
    out = dict(session.propagate())
    assert engine.fed == [1, 2, 3, 4, 5, 6]
    for i in range(1, 7):  # the refined masks are the results
        np.testing.assert_array_equal(out[i].mask == 1, (frames[i] == RED).all(-1))
