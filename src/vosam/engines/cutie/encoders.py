"""Cutie's encoders: the pixel encoder with its key projection, and the mask encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vosam.engines.cutie.arch import CutieArch
from vosam.engines.cutie.layers import FusionBlock
from vosam.engines.xmem.modules import gated_update, per_object, with_image
from vosam.engines.xmem.resnet import basic_stage, bottleneck_stage


class PixelEncoder(nn.Module):
    """ResNet-50 (base) or ResNet-18 (small) to ``layer3``: normalised image
    ``(B, 3, H, W)`` -> features at strides 16, 8, 4."""

    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, arch.pixel_stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(arch.pixel_stem)
        ch = arch.pixel_stem
        stages = []
        for (mid, out, n), stride in zip(arch.pixel_stages, (1, 2, 2), strict=True):
            if arch.pixel_block == "bottleneck":
                stages.append(bottleneck_stage(ch, mid, out, n, stride))
            else:
                stages.append(basic_stage(ch, out, n, stride))
            ch = out
        self.res2, self.layer2, self.layer3 = stages

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(image)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class KeyProjection(nn.Module):
    """Key, shrinkage ``d² + 1`` and selection ``sigmoid(e)`` from ``f16``, through its own
    1×1 projection to ``pixel_dim``."""

    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        self.pix_feat_proj = nn.Conv2d(arch.f16_dim, arch.pixel_dim, 1)
        self.key_proj = nn.Conv2d(arch.pixel_dim, arch.key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(arch.pixel_dim, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(arch.pixel_dim, arch.key_dim, 3, padding=1)

    def forward(self, f16: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, C, h, w) -> key (B, C_k, h, w), shrinkage (B, 1, h, w), selection``."""
        x = self.pix_feat_proj(f16)
        shrinkage = self.d_proj(x) ** 2 + 1
        selection = torch.sigmoid(self.e_proj(x))
        return self.key_proj(x), shrinkage, selection


class SensoryDeepUpdate(nn.Module):
    """Gated update of the sensory memory from memory values ``g (B, O, C_v, h, w)``."""

    def __init__(self, value_dim: int, sensory_dim: int) -> None:
        super().__init__()
        self.transform = nn.Conv2d(value_dim + sensory_dim, 3 * sensory_dim, 3, padding=1)

    def forward(self, g: torch.Tensor, sensory: torch.Tensor) -> torch.Tensor:
        return gated_update(per_object(self.transform, torch.cat([g, sensory], 2)), sensory)


class MaskEncoder(nn.Module):
    """ResNet-18 to ``layer3`` on (image, object mask, other objects' masks), fused with the
    pixel feature: memory values ``(B, O, C_v, h, w)``; also refreshes the sensory memory."""

    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(5, arch.mask_stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(arch.mask_stem)
        (o1, n1), (o2, n2), (o3, n3) = arch.mask_stages
        self.layer1 = basic_stage(arch.mask_stem, o1, n1, stride=1)
        self.layer2 = basic_stage(o1, o2, n2, stride=2)
        self.layer3 = basic_stage(o2, o3, n3, stride=2)
        self.fuser = FusionBlock(arch.pixel_dim, o3, arch.value_dim)
        self.sensory_update = SensoryDeepUpdate(arch.value_dim, arch.sensory_dim)

    def forward(
        self,
        image: torch.Tensor,
        pix_feat: torch.Tensor,
        sensory: torch.Tensor,
        masks: torch.Tensor,
        others: torch.Tensor,
        *,
        deep_update: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Values ``(B, O, C_v, h, w)`` and the sensory memory (updated if asked).

        Args:
            image: normalised ``(B, 3, H, W)``.
            pix_feat: ``(B, pixel_dim, h, w)``.
            sensory: ``(B, O, C_s, h, w)``.
            masks, others: ``(B, O, H, W)``.
        """
        g = with_image(image, torch.stack([masks, others], 2))
        b, o = g.shape[:2]
        # the mask encoder pools before its activation (unlike the pixel encoder)
        g = F.relu(F.max_pool2d(self.bn1(self.conv1(g.flatten(0, 1))), 3, stride=2, padding=1))
        g = self.layer3(self.layer2(self.layer1(g)))
        g = self.fuser(pix_feat, g.view(b, o, *g.shape[1:]))
        if deep_update:
            sensory = self.sensory_update(g, sensory)
        return g, sensory
