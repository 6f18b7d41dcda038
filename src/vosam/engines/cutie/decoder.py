"""Cutie's pixel fuser (memory readout + sensory memory + last mask) and mask decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vosam.engines.cutie.arch import CutieArch
from vosam.engines.cutie.layers import FusionBlock, ObjectResBlock
from vosam.engines.xmem.modules import gated_update, per_object, resize_objects


def others_of(masks: torch.Tensor) -> torch.Tensor:
    """For ``masks (B, O, H, W)``: each object's sum of the other objects, clamped to 1."""
    return (masks.sum(1, keepdim=True) - masks).clamp(0, 1)


class PixelFuser(nn.Module):
    """Readout ``(B, O, C_v, h, w)`` + compressed [sensory, last mask, others' last masks]
    -> fused with the pixel feature -> ``(B, O, embed_dim, h, w)``."""

    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        self.fuser = FusionBlock(arch.pixel_dim, arch.value_dim, arch.embed_dim)
        self.sensory_compress = nn.Conv2d(arch.sensory_dim + 2, arch.value_dim, 1)

    def forward(
        self,
        pix_feat: torch.Tensor,
        readout: torch.Tensor,
        sensory: torch.Tensor,
        last_mask: torch.Tensor,
    ) -> torch.Tensor:
        """``last_mask (B, O, h, w)`` at stride 16; the others are the given objects'."""
        masks = torch.stack([last_mask, others_of(last_mask)], 2)
        p16 = readout + per_object(self.sensory_compress, torch.cat([sensory, masks], 2))
        return self.fuser(pix_feat, p16)


class _SkipProjections(nn.Module):
    """1×1 projections of the stride-8 and stride-4 image features for the decoder."""

    def __init__(self, in_dims: tuple[int, int], out_dims: tuple[int, int]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(
            nn.Conv2d(i, o, 1) for i, o in zip(in_dims, out_dims, strict=True)
        )

    def forward(self, f8: torch.Tensor, f4: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transforms[0](f8), self.transforms[1](f4)


class _Upsample(nn.Module):
    """``g`` ×2 (bilinear) plus skip features, then a residual block."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.out_conv = ObjectResBlock(in_ch, out_ch)

    def forward(self, g: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.out_conv(skip.unsqueeze(1) + resize_objects(g, 2, "bilinear"))


class SensoryUpdate(nn.Module):
    """Gated update of the sensory memory from the decoder's features at strides 16, 8 and
    4 (the stride-4 ones with the logit appended), area-downsampled to stride 16."""

    def __init__(self, dims: tuple[int, int, int], sensory_dim: int) -> None:
        super().__init__()
        self.g16_conv = nn.Conv2d(dims[0], sensory_dim, 1)
        self.g8_conv = nn.Conv2d(dims[1], sensory_dim, 1)
        self.g4_conv = nn.Conv2d(dims[2], sensory_dim, 1)
        self.transform = nn.Conv2d(2 * sensory_dim, 3 * sensory_dim, 3, padding=1)

    def forward(
        self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, sensory: torch.Tensor
    ) -> torch.Tensor:
        g = (
            per_object(self.g16_conv, g16)
            + per_object(self.g8_conv, resize_objects(g8, 1 / 2, "area"))
            + per_object(self.g4_conv, resize_objects(g4, 1 / 4, "area"))
        )
        return gated_update(per_object(self.transform, torch.cat([g, sensory], 2)), sensory)


class MaskDecoder(nn.Module):
    """Object transformer output ``(B, O, embed_dim, h, w)`` -> one logit per object at
    stride 4, and the decoder's sensory update."""

    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        d16, d8, d4 = arch.decoder_dims
        self.sensory_update = SensoryUpdate((d16, d8, d4 + 1), arch.sensory_dim)
        self.decoder_feat_proc = _SkipProjections((arch.f8_dim, arch.f4_dim), (d16, d8))
        self.up_16_8 = _Upsample(d16, d8)
        self.up_8_4 = _Upsample(d8, d4)
        self.pred = nn.Conv2d(d4, 1, 3, padding=1)

    def forward(
        self,
        f8: torch.Tensor,
        f4: torch.Tensor,
        p16: torch.Tensor,
        sensory: torch.Tensor,
        *,
        update_sensory: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """New sensory memory (the given one unless updated) and logits ``(B, O, H/4, W/4)``."""
        b, o = p16.shape[:2]
        s8, s4 = self.decoder_feat_proc(f8, f4)
        p8 = self.up_16_8(p16, s8)
        p4 = self.up_8_4(p8, s4)
        logits = self.pred(F.relu(p4.flatten(0, 1))).view(b, o, *p4.shape[-2:])
        if update_sensory:
            sensory = self.sensory_update(p16, p8, torch.cat([p4, logits.unsqueeze(2)], 2), sensory)
        return sensory, logits
