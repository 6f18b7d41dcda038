"""XMem's network: stage-wise methods, no loop over time (that lives in the tracker)."""

from __future__ import annotations

import torch
from torch import nn

from vosam.engines.aggregate import soft_aggregate
from vosam.engines.xmem.arch import XMemArch
from vosam.engines.xmem.modules import Decoder, KeyEncoder, KeyProjection, ValueEncoder


class XMemNetwork(nn.Module):
    """XMem's key encoder, value encoder, key projection and decoder.

    Build it with :func:`vosam.engines.xmem.checkpoint.load_network` for official weights,
    or from an :class:`XMemArch` (random weights) for tests and benchmarks.
    """

    def __init__(self, arch: XMemArch | None = None) -> None:
        super().__init__()
        self.arch = arch or XMemArch()
        self.key_encoder = KeyEncoder(self.arch)
        self.value_encoder = ValueEncoder(self.arch)
        self.key_proj = KeyProjection(self.arch.f16_dim, self.arch.key_dim)
        self.decoder = Decoder(self.arch)

    @property
    def hidden_dim(self) -> int:
        return self.arch.hidden_dim

    def encode_key(
        self, image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Key features of a normalised, padded image ``(B, 3, H, W)``.

        Returns:
            key ``(B, C_k, H/16, W/16)``, shrinkage ``(B, 1, H/16, W/16)``, selection
            ``(B, C_k, H/16, W/16)`` and the multi-scale features ``(f16, f8, f4)``.
        """
        f16, f8, f4 = self.key_encoder(image)
        key, shrinkage, selection = self.key_proj(f16)
        return key, shrinkage, selection, (f16, f8, f4)

    def encode_value(
        self,
        image: torch.Tensor,
        f16: torch.Tensor,
        hidden: torch.Tensor | None,
        masks: torch.Tensor,
        *,
        deep_update: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Memory values of every object.

        Args:
            image: ``(B, 3, H, W)`` as given to :meth:`encode_key`.
            f16: ``(B, C, H/16, W/16)`` from :meth:`encode_key`.
            hidden: ``(B, O, C_h, H/16, W/16)`` sensory memory, or None without it.
            masks: ``(B, O, H, W)`` object probabilities (background excluded).
            deep_update: also refresh the sensory memory from the values.

        Returns:
            values ``(B, O, C_v, H/16, W/16)`` and the hidden state (updated if asked).
        """
        num = masks.shape[1]
        if num == 1:
            others = torch.zeros_like(masks)
        else:
            rest = [[j for j in range(num) if j != i] for i in range(num)]
            others = torch.cat([masks[:, r].sum(1, keepdim=True) for r in rest], 1)
        return self.value_encoder(image, f16, hidden, masks, others, deep_update=deep_update)

    def segment(
        self,
        features: tuple[torch.Tensor, ...],
        readout: torch.Tensor,
        hidden: torch.Tensor | None,
        *,
        update_hidden: bool = True,
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Decode a memory readout.

        Args:
            features: ``(f16, f8, f4)`` from :meth:`encode_key`.
            readout: ``(B, O, C_v, H/16, W/16)``.
            hidden: ``(B, O, C_h, H/16, W/16)`` or None.
            update_hidden: also return the decoder's update of the sensory memory.

        Returns:
            new hidden (None unless updated), logits ``(B, O, H, W)`` and probabilities
            ``(B, O + 1, H, W)`` after soft aggregation, background first.
        """
        f16, f8, f4 = features
        new_hidden, logits = self.decoder(f16, f8, f4, hidden, readout, update_hidden=update_hidden)
        prob = soft_aggregate(torch.sigmoid(logits), dim=1)
        return new_hidden, logits, prob
