"""Cutie's layer widths, read from a checkpoint's weight shapes.

The official checkpoints come in two sizes: ``base`` (pixel encoder ResNet-50 to ``layer3``)
and ``small`` (ResNet-18); everything else is shared. Reading every width from the weights
lets one code path build both and the reduced networks the tests use. Two numbers are not
in the weights and are fixed by the published configs: the attention heads (8) and the
scale of the sine position code (coordinates spread over 0..32).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch

Block = Literal["bottleneck", "basic"]


@dataclass(frozen=True)
class CutieArch:
    """Widths of a Cutie network.

    Attributes:
        pixel_block: residual block of the pixel (image) encoder: ``"bottleneck"``
            (ResNet-50, ``base``) or ``"basic"`` (ResNet-18, ``small``).
        pixel_stem: channels of the pixel encoder's 7×7 stem.
        pixel_stages: ``(mid, out, blocks)`` of the stages ``res2``, ``layer2``, ``layer3``
            (strides 4, 8, 16); ``mid == out`` for basic blocks.
        mask_stem: channels of the mask encoder's stem (input: RGB, mask, other masks).
        mask_stages: ``(out, blocks)`` of the mask encoder's basic stages ``layer1..3``.
        pixel_dim: the stride-16 pixel feature (1×1 projection of ``f16``).
        key_dim: channels of keys and selection.
        value_dim: channels of memory values.
        sensory_dim: channels of the sensory memory.
        embed_dim: channels of the object transformer (queries, pixels, summaries).
        num_queries: object queries per object (half foreground, half background).
        num_heads: attention heads (not stored in the weights).
        num_blocks: object transformer blocks.
        ff_dim: hidden width of the query feed-forward network.
        decoder_dims: channels of the mask decoder at strides 16, 8, 4 (the first is
            ``embed_dim``).
        pe_scale: the sine position code spreads each axis over ``0..pe_scale``.
    """

    pixel_block: Block = "bottleneck"
    pixel_stem: int = 64
    pixel_stages: tuple[tuple[int, int, int], ...] = ((64, 256, 3), (128, 512, 4), (256, 1024, 6))
    mask_stem: int = 64
    mask_stages: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 2))
    pixel_dim: int = 256
    key_dim: int = 64
    value_dim: int = 256
    sensory_dim: int = 256
    embed_dim: int = 256
    num_queries: int = 16
    num_heads: int = 8
    num_blocks: int = 3
    ff_dim: int = 2048
    decoder_dims: tuple[int, int, int] = (256, 128, 128)
    pe_scale: float = 32.0

    def __post_init__(self) -> None:
        if self.decoder_dims[0] != self.embed_dim:
            raise ValueError("the decoder's stride-16 width must be embed_dim")
        if self.embed_dim % 4 or self.embed_dim % self.num_heads:
            raise ValueError("embed_dim must be a multiple of 4 and of num_heads")
        if self.num_queries % 2:
            raise ValueError("num_queries must be even (foreground and background halves)")

    @classmethod
    def base(cls) -> CutieArch:
        """``cutie-base-*.pth``."""
        return cls()

    @classmethod
    def small(cls) -> CutieArch:
        """``cutie-small-*.pth``: ResNet-18 pixel encoder."""
        return cls(pixel_block="basic", pixel_stages=((64, 64, 2), (128, 128, 2), (256, 256, 2)))

    @classmethod
    def tiny(cls) -> CutieArch:
        """Reduced widths (a few tens of thousands of weights) for tests and smoke runs.

        The heads stay 8, as the weights do not say them: a file saved from this network
        loads back the same."""
        return cls(
            pixel_block="bottleneck",
            pixel_stem=8,
            pixel_stages=((8, 16, 1), (8, 24, 1), (16, 32, 1)),
            mask_stem=8,
            mask_stages=((8, 1), (16, 1), (16, 1)),
            pixel_dim=16,
            key_dim=8,
            value_dim=16,
            sensory_dim=8,
            embed_dim=16,
            num_queries=4,
            num_blocks=2,
            ff_dim=32,
            decoder_dims=(16, 8, 8),
        )

    @property
    def f16_dim(self) -> int:
        """Channels of the pixel encoder's stride-16 features."""
        return self.pixel_stages[2][1]

    @property
    def f8_dim(self) -> int:
        return self.pixel_stages[1][1]

    @property
    def f4_dim(self) -> int:
        return self.pixel_stages[0][1]

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> CutieArch:
        """Read the widths from a state dict with Cutie's key names.

        Raises:
            KeyError: a tensor needed to read a width is missing.
        """

        def out_ch(name: str) -> int:
            return int(state[name].shape[0])

        def count(prefix: str) -> int:
            pat = re.compile(re.escape(prefix) + r"\.(\d+)\.")
            found = {int(m.group(1)) for k in state if (m := pat.match(k))}
            if not found:
                raise KeyError(f"{prefix}.0")
            return max(found) + 1

        stages = ("res2", "layer2", "layer3")
        bottleneck = "pixel_encoder.res2.0.conv3.weight" in state
        last = "conv3" if bottleneck else "conv2"
        pixel_stages = tuple(
            (
                out_ch(f"pixel_encoder.{name}.0.conv1.weight"),
                out_ch(f"pixel_encoder.{name}.0.{last}.weight"),
                count(f"pixel_encoder.{name}"),
            )
            for name in stages
        )
        mask_stages = tuple(
            (out_ch(f"mask_encoder.{name}.0.conv1.weight"), count(f"mask_encoder.{name}"))
            for name in ("layer1", "layer2", "layer3")
        )
        blocks = "object_transformer.blocks"
        return cls(
            pixel_block="bottleneck" if bottleneck else "basic",
            pixel_stem=out_ch("pixel_encoder.conv1.weight"),
            pixel_stages=pixel_stages,
            mask_stem=out_ch("mask_encoder.conv1.weight"),
            mask_stages=mask_stages,
            pixel_dim=out_ch("pix_feat_proj.weight"),
            key_dim=out_ch("key_proj.key_proj.weight"),
            value_dim=out_ch("mask_encoder.fuser.distributor.x_transform.weight"),
            sensory_dim=out_ch("mask_encoder.sensory_update.transform.weight") // 3,
            embed_dim=out_ch("pixel_fuser.fuser.distributor.x_transform.weight"),
            num_queries=out_ch("object_transformer.query_init.weight"),
            num_blocks=count(blocks),
            ff_dim=out_ch(f"{blocks}.0.ffn.linear1.weight"),
            decoder_dims=(
                out_ch("pixel_fuser.fuser.distributor.x_transform.weight"),
                out_ch("mask_decoder.up_16_8.out_conv.conv2.weight"),
                out_ch("mask_decoder.up_8_4.out_conv.conv2.weight"),
            ),
        )
