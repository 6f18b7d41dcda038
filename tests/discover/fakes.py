"""A promptable segmenter for tests: bright pixels inside the prompt's box."""

from __future__ import annotations

import numpy as np

from vosam.refine import ImageEmbedding, Prediction, Prompt, PromptableSegmenter


class BrightInBox(PromptableSegmenter):
    """Answers a box with the pixels inside it whose mean colour exceeds ``level``; records
    every prompt it is given."""

    name = "bright-in-box"

    def __init__(self, level: float = 128.0, *, score: float = 0.9) -> None:
        self.level = level
        self.score = score
        self.prompts: list[Prompt] = []
        self.embedded = 0

    @property
    def device(self) -> str:
        return "cpu"

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        self.embedded += 1
        return ImageEmbedding(image.shape[:2], image.astype(np.float32).mean(-1))

    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        self.prompts.append(prompt)
        bright = embedding.data > self.level
        mask = np.zeros(embedding.size, bool)
        x0, y0, x1, y1 = np.round(prompt.box).astype(int)
        mask[y0 : y1 + 1, x0 : x1 + 1] = bright[y0 : y1 + 1, x0 : x1 + 1]
        return Prediction(mask, self.score, np.where(mask, 10.0, -10.0).astype(np.float32))


class Truth(PromptableSegmenter):
    """Answers a box with the true object that overlaps it most (the ids of ``truth``,
    looked up by the frame's pixels, which ``frames`` maps back to an index)."""

    name = "truth"

    def __init__(self, frames: np.ndarray, truth: np.ndarray) -> None:
        self.frames = frames
        self.truth = truth

    @property
    def device(self) -> str:
        return "cpu"

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        index = int(np.argmin([np.abs(f.astype(int) - image).sum() for f in self.frames]))
        return ImageEmbedding(image.shape[:2], self.truth[index])

    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        ids = embedding.data
        x0, y0, x1, y1 = np.round(prompt.box).astype(int)
        inside = ids[y0 : y1 + 1, x0 : x1 + 1]
        counts = np.bincount(inside.ravel(), minlength=256)
        counts[0] = 0
        mask = ids == counts.argmax() if counts.any() else np.zeros(ids.shape, bool)
        return Prediction(mask, 1.0, np.where(mask, 10.0, -10.0).astype(np.float32))


def build_bright(**kwargs: object) -> BrightInBox:
    """Registry builder of :class:`BrightInBox` (ignores device and checkpoint)."""
    return BrightInBox()
