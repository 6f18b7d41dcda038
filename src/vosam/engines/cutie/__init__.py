"""Cutie, written here: network, strict checkpoint loading and the inference core.

``build_cutie(checkpoint, device="auto", config=None)`` loads an official checkpoint
(``cutie-base-mega.pth``, ``cutie-small-mega.pth``, ...) strictly, reading every width from
the weight shapes, and returns a :class:`CutiePropagator`; ``vosam segment --engine cutie
--checkpoint cutie-base-mega.pth`` uses it. No torchvision, Hydra or OmegaConf is needed.
"""

from vosam.engines.cutie.arch import CutieArch
from vosam.engines.cutie.checkpoint import load_network, network_from_state_dict
from vosam.engines.cutie.config import CutieConfig
from vosam.engines.cutie.network import CutieNetwork
from vosam.engines.cutie.propagator import CutiePropagator, build_cutie
from vosam.engines.cutie.tracker import CutieTracker

__all__ = [
    "CutieArch",
    "CutieConfig",
    "CutieNetwork",
    "CutiePropagator",
    "CutieTracker",
    "build_cutie",
    "load_network",
    "network_from_state_dict",
]
