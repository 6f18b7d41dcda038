"""The XMem engine: a loaded network that makes per-video trackers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vosam.devices import resolve_device
from vosam.engines.base import KeyFeatures, Propagator
from vosam.engines.xmem.checkpoint import load_network
from vosam.engines.xmem.config import XMemConfig
from vosam.engines.xmem.network import XMemNetwork
from vosam.engines.xmem.preprocess import geometry, prepare_image
from vosam.engines.xmem.tracker import XMemTracker
from vosam.errors import CheckpointError

log = logging.getLogger(__name__)


class XMemPropagator(Propagator):
    """XMem (and XMem++ permanent memory) over a shared, read-only network."""

    name = "xmem"

    def __init__(
        self,
        network: XMemNetwork,
        *,
        config: XMemConfig | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        self.config = config or XMemConfig()
        self._device = resolve_device(device)
        self.network = network.to(self._device).eval()

    @property
    def device(self) -> str:
        return self._device.type

    def new_tracker(self) -> XMemTracker:
        return XMemTracker(self.network, self.config, self._device)

    def encode_key(self, image: np.ndarray) -> KeyFeatures:
        """Key, shrinkage ``(1, h, w)`` and selection of ``image (H, W, 3) uint8``.

        ``h, w`` are 1/16 of the resized, padded network input (see ``XMemConfig.size``).
        """
        geo = geometry(*image.shape[:2], self.config.size, max_long_side=self.config.max_long_side)
        with torch.inference_mode():
            x = prepare_image(image, geo, device=self._device, antialias=self.config.antialias)
            key, shrinkage, selection, _ = self.network.encode_key(x)
        return KeyFeatures(key[0].float(), shrinkage[0].float(), selection[0].float())


def build_xmem(
    checkpoint: str | Path | None = None,
    device: str | torch.device = "auto",
    config: XMemConfig | None = None,
) -> XMemPropagator:
    """Load an official XMem checkpoint (strictly) and return the engine.

    Args:
        checkpoint: ``XMem.pth``, ``XMem-s012.pth`` or ``XMem-no-sensory.pth``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        config: inference settings; defaults are XMem's published ones.
    """
    if checkpoint is None:
        raise CheckpointError(
            None,
            "the xmem engine needs its weights: pass --checkpoint XMem.pth (or "
            "XMem-s012.pth, XMem-no-sensory.pth) from XMem's releases",
        )
    network = load_network(checkpoint)
    return XMemPropagator(network, config=config, device=device)
