"""Key-value memory shared by the engines: affinity, readout and the memory policy."""

from vosam.memory.affinity import TopK, readout, similarity, topk_affinity, topk_softmax
from vosam.memory.store import MemoryConfig, MemoryStore

__all__ = [
    "MemoryConfig",
    "MemoryStore",
    "TopK",
    "readout",
    "similarity",
    "topk_affinity",
    "topk_softmax",
]
