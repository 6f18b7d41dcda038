"""Key-value memory shared by the engines: affinity, readout and the memory policy."""

from vosam.memory.affinity import readout, similarity, topk_softmax
from vosam.memory.store import MemoryConfig, MemoryStore

__all__ = ["MemoryConfig", "MemoryStore", "readout", "similarity", "topk_softmax"]
