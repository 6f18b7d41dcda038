"""XMem, written here: network, strict checkpoint loading and the inference core.

``build_xmem(checkpoint, device="auto", config=None)`` loads an official checkpoint
(``XMem.pth``, ``XMem-s012.pth``, ``XMem-no-sensory.pth``) strictly, reading every width
from the weight shapes, and returns a :class:`XMemPropagator`; ``vosam segment --engine xmem
--checkpoint XMem.pth`` uses it. No torchvision is needed.

How XMem's inference maps onto vosam (see :mod:`vosam.memory.store` for the memory policy):

- XMem's first annotated frame sits at the head of its working memory, counts toward
  ``max_mid_term_frames`` and is never consolidated. vosam keeps it in **permanent memory**,
  which holds one working-memory slot, so the consolidation schedule and candidate range
  (everything but the pinned frame and the newest ``min_mid_term_frames - 1`` frames) are
  XMem's. Readout order (long-term, pinned frame, working) is XMem's too.
- With XMem++'s permanent memory (``Tracker.add_permanent``, which ``Session`` calls for every
  annotated frame by default) the annotated frames are encoded before propagation, hold
  values for every object (re-encoded when objects are added) and are never duplicated into
  working memory; ``--no-permanent-memory`` gives plain XMem.
- Objects entering on a later annotation form their own group, read with their own top-k
  softmax over only the memory elements that hold their values, as XMem does. Unlike XMem's
  code, values stay attached to their keys through consolidation and eviction (XMem
  misaligns them once such a group is consolidated and cannot evict with several groups).
- Scores are computed in XMem's order of operations (batched products, un-shifted
  exponentials in the top-k softmax, the same potentiation softmax), so exact ties between
  duplicated memory elements break the same way.
- An annotated frame's result is the annotation itself (the engine interface's contract);
  XMem returns the annotation after a round trip through the network resolution.
- Frames are resized with antialiasing (``XMemConfig.antialias``), as XMem does with
  torchvision 0.17 or newer; set it False for older torchvision's behaviour.

Parity measured against the reference implementation (same random weights, float32 on the
CPU, maximum absolute difference of the saved probabilities over every propagated frame):
6.3e-7 with the default settings on 55 frames of an 854×480 video (one consolidation), and
below 6e-7 with settings that consolidate and evict every other frame (frames shrunk from
854×480 with antialiasing, and kept as they are) and with an object entering on a later
partial annotation.
"""

from vosam.engines.xmem.arch import XMemArch
from vosam.engines.xmem.checkpoint import load_network, network_from_state_dict
from vosam.engines.xmem.config import XMemConfig
from vosam.engines.xmem.network import XMemNetwork
from vosam.engines.xmem.propagator import XMemPropagator, build_xmem
from vosam.engines.xmem.tracker import XMemTracker

__all__ = [
    "XMemArch",
    "XMemConfig",
    "XMemNetwork",
    "XMemPropagator",
    "XMemTracker",
    "build_xmem",
    "load_network",
    "network_from_state_dict",
]
