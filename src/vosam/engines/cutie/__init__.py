"""Cutie, written here: network, strict checkpoint loading and the inference core.

``build_cutie(checkpoint, device="auto", config=None)`` loads an official checkpoint
(``cutie-base-mega.pth``, ``cutie-small-mega.pth``, ...) strictly, reading every width from
the weight shapes, and returns a :class:`CutiePropagator`; ``vosam segment --engine cutie
--checkpoint cutie-base-mega.pth`` uses it. No torchvision, Hydra or OmegaConf is needed.

How Cutie's inference maps onto vosam:

- Cutie's buckets (objects that entered on the same frame, with their own keys) are
  :class:`~vosam.engines.cutie.memory.ObjectGroup` s, each with a
  :class:`~vosam.memory.MemoryStore`: its first memory frame is permanent, the others go
  first in, first out (or into long-term prototypes with Cutie's eviction rule).
- Each group is read, fused and refined by the object transformer on its own (an object's
  "other objects" in the pixel fuser and the transformer's masks are those of its group),
  then all objects are decoded and soft-aggregated together.
- XMem++'s permanent memory (``Tracker.add_permanent``, which ``Session`` calls for every
  whole annotation by default) writes the annotated frames into every group's permanent
  memory with values for every object; ``--no-permanent-memory`` gives plain Cutie.
- An annotated frame's result is the annotation itself (the engine interface's contract).

Parity measured against Cutie's own inference code (same random weights under the official
names, float32 on the CPU, evaluation settings): at most 2.9e-6 (base) and 2.7e-6 (small)
over 27 propagated frames with an object entering late and first-in-first-out memory, 4.5e-6
in long-term mode with consolidation and eviction.
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
