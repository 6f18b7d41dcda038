"""XMem, written here: network, strict checkpoint loading and the inference core.

``build_xmem(checkpoint, device="auto", config=None)`` gives a propagator; XMem++'s
permanent memory is used through ``Tracker.add_permanent``.
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
