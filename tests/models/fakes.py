"""A promptable segmenter for the tests of named segmenter models: it answers a box with the
box, and records the weights and variant it was built with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vosam.refine import ImageEmbedding, Prediction, Prompt, PromptableSegmenter

BUILT: list[tuple[bytes, str]] = []
"""(weights file's bytes, model type) of every segmenter built."""


class BoxSegmenter(PromptableSegmenter):
    name = "box"

    @property
    def device(self) -> str:
        return "cpu"

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        return ImageEmbedding(image.shape[:2], None)

    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        mask = np.zeros(embedding.size, bool)
        x0, y0, x1, y1 = np.round(prompt.box).astype(int)
        mask[y0 : y1 + 1, x0 : x1 + 1] = True
        return Prediction(mask, 0.99, np.where(mask, 10.0, -10.0).astype(np.float32))


def build_box_segmenter(
    *, checkpoint: str | Path | None = None, model_type: str = "v0", device: str = "auto"
) -> BoxSegmenter:
    BUILT.append((Path(checkpoint).read_bytes() if checkpoint else b"", model_type))
    return BoxSegmenter()
