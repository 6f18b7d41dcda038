"""Building blocks of XMem's network.

Naming: ``x`` tensors depend on the image only, ``(B, C, H, W)``; ``g`` tensors also depend
on an object's mask and carry an object axis, ``(B, O, C, H, W)``. Attribute names follow
the official checkpoints so that their state dicts load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vosam.engines.xmem.arch import XMemArch
from vosam.engines.xmem.resnet import basic_stage, bottleneck_stage


def per_object(fn: nn.Module, g: torch.Tensor) -> torch.Tensor:
    """Apply a 4-D module to ``g (B, O, C, H, W)`` object by object: ``(B, O, C', H', W')``."""
    b, o = g.shape[:2]
    out = fn(g.flatten(0, 1))
    return out.view(b, o, *out.shape[1:])


def resize_objects(g: torch.Tensor, ratio: float, mode: str) -> torch.Tensor:
    """Rescale ``g (B, O, C, H, W)`` by ``ratio`` (``"bilinear"`` up, ``"area"`` down)."""
    b, o = g.shape[:2]
    align = False if mode == "bilinear" else None
    out = F.interpolate(g.flatten(0, 1), scale_factor=ratio, mode=mode, align_corners=align)
    return out.view(b, o, *out.shape[1:])


def with_image(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Concatenate image features ``x (B, C, H, W)`` before every object's ``g``."""
    return torch.cat([x.unsqueeze(1).expand(-1, g.shape[1], -1, -1, -1), g], 2)


class GroupResBlock(nn.Module):
    """Pre-activation residual block on ``g (B, O, in, H, W) -> (B, O, out, H, W)``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.downsample = None if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = per_object(self.conv1, F.relu(g))
        out = per_object(self.conv2, F.relu(out))
        skip = g if self.downsample is None else per_object(self.downsample, g)
        return out + skip


class _ChannelGate(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        top = self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(avg + top)[:, :, None, None]


class _SpatialConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.max(1, keepdim=True).values, x.mean(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Channel then spatial attention on ``(B, C, H, W)``."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.ChannelGate = _ChannelGate(channels, hidden)
        self.SpatialGate = _SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusion(nn.Module):
    """Fuse image features ``x (B, C_x, H, W)`` into ``g (B, O, C_g, H, W)``."""

    def __init__(self, x_ch: int, g_ch: int, mid_ch: int, out_ch: int, gate: int) -> None:
        super().__init__()
        self.block1 = GroupResBlock(x_ch + g_ch, mid_ch)
        self.attention = CBAM(mid_ch, gate)
        self.block2 = GroupResBlock(mid_ch, out_ch)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        g = self.block1(with_image(x, g))
        r = per_object(self.attention, g)
        return self.block2(g + r)


def gated_update(values: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """XMem's GRU-like update of hidden state ``h (B, O, C_h, H, W)``.

    ``values (B, O, 3 C_h, H, W)`` hold forget gate, update gate and candidate, in that
    order; the new state is ``forget · h · (1 - update) + update · tanh(candidate)``.
    """
    c = h.shape[2]
    forget = torch.sigmoid(values[:, :, :c])
    update = torch.sigmoid(values[:, :, c : 2 * c])
    new = torch.tanh(values[:, :, 2 * c :])
    return forget * h * (1 - update) + update * new


class HiddenReinforcer(nn.Module):
    """Sensory update in the value encoder, from ``g (B, O, C_v, H, W)``."""

    def __init__(self, g_ch: int, hidden: int) -> None:
        super().__init__()
        self.transform = nn.Conv2d(g_ch + hidden, hidden * 3, 3, padding=1)

    def forward(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return gated_update(per_object(self.transform, torch.cat([g, h], 2)), h)


class HiddenUpdater(nn.Module):
    """Sensory update in the decoder, from its features at strides 16, 8 and 4."""

    def __init__(self, g_dims: tuple[int, int, int], mid: int, hidden: int) -> None:
        super().__init__()
        self.g16_conv = nn.Conv2d(g_dims[0], mid, 1)
        self.g8_conv = nn.Conv2d(g_dims[1], mid, 1)
        self.g4_conv = nn.Conv2d(g_dims[2], mid, 1)
        self.transform = nn.Conv2d(mid + hidden, hidden * 3, 3, padding=1)

    def forward(
        self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, h: torch.Tensor
    ) -> torch.Tensor:
        g = (
            per_object(self.g16_conv, g16)
            + per_object(self.g8_conv, resize_objects(g8, 1 / 2, "area"))
            + per_object(self.g4_conv, resize_objects(g4, 1 / 4, "area"))
        )
        return gated_update(per_object(self.transform, torch.cat([g, h], 2)), h)


class UpsampleBlock(nn.Module):
    """Upsample ``g`` ×2 and add projected skip features ``x``."""

    def __init__(self, skip_ch: int, up_ch: int, out_ch: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_ch, up_ch, 3, padding=1)
        self.out_conv = GroupResBlock(up_ch, out_ch)

    def forward(self, skip: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = self.skip_conv(skip)
        g = resize_objects(g, 2, "bilinear") + x.unsqueeze(1)
        return self.out_conv(g)


class KeyProjection(nn.Module):
    """Key, shrinkage ``d² + 1`` and selection ``sigmoid(e)`` from stride-16 features."""

    def __init__(self, in_ch: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_ch, key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(in_ch, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(in_ch, key_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, C, h, w) -> key (B, C_k, h, w), shrinkage (B, 1, h, w), selection``."""
        shrinkage = self.d_proj(x) ** 2 + 1
        selection = torch.sigmoid(self.e_proj(x))
        return self.key_proj(x), shrinkage, selection


class KeyEncoder(nn.Module):
    """ResNet-50 to ``layer3``: image ``(B, 3, H, W)`` -> features at strides 16, 8, 4."""

    def __init__(self, arch: XMemArch) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, arch.key_stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(arch.key_stem)
        (m2, o2, n2), (m3, o3, n3), (m4, o4, n4) = arch.key_stages
        self.res2 = bottleneck_stage(arch.key_stem, m2, o2, n2, stride=1)
        self.layer2 = bottleneck_stage(o2, m3, o3, n3, stride=2)
        self.layer3 = bottleneck_stage(o3, m4, o4, n4, stride=2)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(image)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class ValueEncoder(nn.Module):
    """ResNet-18 to ``layer3`` on image + masks, fused with key features; sensory update."""

    def __init__(self, arch: XMemArch) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(5, arch.value_stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(arch.value_stem)
        (o1, n1), (o2, n2), (o3, n3) = arch.value_stages
        self.layer1 = basic_stage(arch.value_stem, o1, n1, stride=1)
        self.layer2 = basic_stage(o1, o2, n2, stride=2)
        self.layer3 = basic_stage(o2, o3, n3, stride=2)
        self.fuser = FeatureFusion(
            arch.f16_dim, o3, arch.value_dim, arch.value_dim, arch.value_gate
        )
        self.hidden_reinforce = (
            HiddenReinforcer(arch.value_dim, arch.hidden_dim) if arch.hidden_dim > 0 else None
        )

    def forward(
        self,
        image: torch.Tensor,
        f16: torch.Tensor,
        hidden: torch.Tensor | None,
        masks: torch.Tensor,
        others: torch.Tensor,
        *,
        deep_update: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Values ``(B, O, C_v, h, w)`` and the (possibly updated) hidden state."""
        g = with_image(image, torch.stack([masks, others], 2))
        b, o = g.shape[:2]
        g = self.bn1(self.conv1(g.flatten(0, 1)))
        g = F.relu(F.max_pool2d(g, 3, stride=2, padding=1))
        g = self.layer3(self.layer2(self.layer1(g)))
        g = self.fuser(f16, g.view(b, o, *g.shape[1:]))
        if deep_update and self.hidden_reinforce is not None and hidden is not None:
            hidden = self.hidden_reinforce(g, hidden)
        return g, hidden


class Decoder(nn.Module):
    """Memory readout + sensory memory + skip features -> one logit map per object."""

    def __init__(self, arch: XMemArch) -> None:
        super().__init__()
        d16, d8, d4 = arch.decoder_dims
        self.fuser = FeatureFusion(
            arch.f16_dim, arch.value_dim + arch.hidden_dim, d16, d16, arch.decoder_gate
        )
        self.hidden_update = (
            HiddenUpdater((d16, d8, d4 + 1), arch.hidden_mid, arch.hidden_dim)
            if arch.hidden_dim > 0
            else None
        )
        self.up_16_8 = UpsampleBlock(arch.f8_dim, d16, d8)
        self.up_8_4 = UpsampleBlock(arch.f4_dim, d8, d4)
        self.pred = nn.Conv2d(d4, 1, 3, padding=1)

    def forward(
        self,
        f16: torch.Tensor,
        f8: torch.Tensor,
        f4: torch.Tensor,
        hidden: torch.Tensor | None,
        readout: torch.Tensor,
        *,
        update_hidden: bool,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``readout (B, O, C_v, h, w)`` -> new hidden (or None) and logits ``(B, O, H, W)``."""
        b, o = readout.shape[:2]
        g = readout if self.hidden_update is None else torch.cat([readout, hidden], 2)
        g16 = self.fuser(f16, g)
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = self.pred(F.relu(g4.flatten(0, 1)))
        new_hidden = None
        if update_hidden and self.hidden_update is not None:
            g4 = torch.cat([g4, logits.view(b, o, 1, *logits.shape[-2:])], 2)
            new_hidden = self.hidden_update(g16, g8, g4, hidden)
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return new_hidden, logits.view(b, o, *logits.shape[-2:])
