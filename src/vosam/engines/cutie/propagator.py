"""The Cutie engine: a loaded network that makes per-video trackers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vosam.devices import resolve_device
from vosam.engines.base import KeyFeatures, Propagator
from vosam.engines.cutie.checkpoint import load_network
from vosam.engines.cutie.config import CutieConfig
from vosam.engines.cutie.network import CutieNetwork
from vosam.engines.cutie.preprocess import geometry, prepare_image
from vosam.engines.cutie.tracker import CutieTracker
from vosam.errors import CheckpointError

log = logging.getLogger(__name__)


class CutiePropagator(Propagator):
    """Cutie (and XMem++ permanent memory) over a shared, read-only network."""

    name = "cutie"

    def __init__(
        self,
        network: CutieNetwork,
        *,
        config: CutieConfig | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        self.config = config or CutieConfig()
        self._device = resolve_device(device)
        self.network = network.to(self._device).eval()

    @property
    def device(self) -> str:
        return self._device.type

    def new_tracker(self) -> CutieTracker:
        return CutieTracker(self.network, self.config, self._device)

    def encode_key(self, image: np.ndarray) -> KeyFeatures:
        """Key, shrinkage ``(1, h, w)`` and selection of ``image (H, W, 3) uint8``.

        ``h, w`` are 1/16 of the (shrunk,) padded network input (see ``CutieConfig.size``).
        """
        cfg = self.config
        geo = geometry(*image.shape[:2], cfg.size, max_long_side=cfg.max_long_side)
        with torch.inference_mode():
            x = prepare_image(image, geo, device=self._device, antialias=cfg.antialias)
            f = self.network.encode_image(x)
        return KeyFeatures(f.key[0].float(), f.shrinkage[0].float(), f.selection[0].float())


def build_cutie(
    checkpoint: str | Path | None = None,
    device: str | torch.device = "auto",
    config: CutieConfig | None = None,
) -> CutiePropagator:
    """Load an official Cutie checkpoint (strictly) and return the engine.

    Args:
        checkpoint: ``cutie-base-mega.pth``, ``cutie-small-mega.pth`` (or another file of
            Cutie's v1.0 release).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        config: inference settings; defaults are Cutie's evaluation settings.
    """
    if checkpoint is None:
        raise CheckpointError(
            None,
            "the cutie engine needs its weights: pass --checkpoint cutie-base-mega.pth (or "
            "cutie-small-mega.pth) from Cutie's v1.0 release",
        )
    network = load_network(checkpoint)
    return CutiePropagator(network, config=config, device=device)
