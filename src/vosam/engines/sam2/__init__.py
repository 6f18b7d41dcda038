"""SAM 2 / SAM 2.1 as a propagation engine, through the official ``sam2`` package (an extra).

``build_sam2_engine(checkpoint, model_config=None, device="auto")`` loads an official
checkpoint strictly (the model config is inferred from the file name when not given) and
returns a :class:`~vosam.engines.sam2.propagator.SAM2Propagator`; ``vosam segment --engine
sam2 --checkpoint sam2.1_hiera_tiny.pt`` uses it.

What vosam adds over SAM 2's own video predictor: frames are streamed (the predictor loads
the whole video first), memory is bounded on any video length, every annotated frame is a
conditioning frame (permanent memory), and sam2's global Hydra state is left as it was
found. Nothing here imports ``sam2`` until a model is built.
"""

from vosam.engines.sam2.config import SAM2Config

__all__ = ["SAM2Config"]
