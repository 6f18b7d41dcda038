"""XMem's layer widths, read from a checkpoint's weight shapes.

The official checkpoints (``XMem.pth``, ``XMem-s012.pth``, ``XMem-no-sensory.pth``) all use
:class:`XMemArch`'s defaults, except that the no-sensory one has ``hidden_dim == 0``. Reading
every width from the weights lets one code path build the official network and the
reduced-width networks the tests use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class XMemArch:
    """Widths of an XMem network.

    Attributes:
        key_stem: channels of the key encoder's 7×7 stem.
        key_stages: ``(mid, out, blocks)`` of the key encoder's bottleneck stages ``res2``,
            ``layer2``, ``layer3`` (strides 4, 8, 16).
        value_stem: channels of the value encoder's stem (input: RGB + mask + other masks).
        value_stages: ``(out, blocks)`` of the value encoder's basic stages ``layer1..3``.
        key_dim: ``C_k``, channels of keys and selection.
        value_dim: ``C_v``, channels of memory values.
        hidden_dim: ``C_h`` of the sensory memory; 0 = no sensory memory.
        value_gate: hidden width of the value fuser's channel attention.
        decoder_dims: channels of the decoder at strides 16, 8, 4.
        decoder_gate: hidden width of the decoder fuser's channel attention.
        hidden_mid: channels the sensory update projects the decoder features to.
    """

    key_stem: int = 64
    key_stages: tuple[tuple[int, int, int], ...] = ((64, 256, 3), (128, 512, 4), (256, 1024, 6))
    value_stem: int = 64
    value_stages: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 2))
    key_dim: int = 64
    value_dim: int = 512
    hidden_dim: int = 64
    value_gate: int = 32
    decoder_dims: tuple[int, int, int] = (512, 256, 256)
    decoder_gate: int = 32
    hidden_mid: int = 256

    @classmethod
    def tiny(cls) -> XMemArch:
        """Reduced widths (a few thousand weights) for tests and smoke runs."""
        return cls(
            key_stem=8,
            key_stages=((8, 16, 1), (8, 24, 1), (16, 32, 1)),
            value_stem=8,
            value_stages=((8, 1), (16, 1), (16, 1)),
            key_dim=8,
            value_dim=16,
            hidden_dim=8,
            value_gate=4,
            decoder_dims=(16, 8, 8),
            decoder_gate=4,
            hidden_mid=8,
        )

    @property
    def f16_dim(self) -> int:
        """Channels of the key encoder's stride-16 features."""
        return self.key_stages[2][1]

    @property
    def f8_dim(self) -> int:
        return self.key_stages[1][1]

    @property
    def f4_dim(self) -> int:
        return self.key_stages[0][1]

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> XMemArch:
        """Read the widths from a state dict with XMem's key names.

        Raises:
            KeyError: a tensor needed to read a width is missing.
        """

        def out_ch(name: str) -> int:
            return int(state[name].shape[0])

        def blocks(prefix: str) -> int:
            pat = re.compile(re.escape(prefix) + r"\.(\d+)\.")
            found = {int(m.group(1)) for k in state if (m := pat.match(k))}
            if not found:
                raise KeyError(f"{prefix}.0.conv1.weight")
            return max(found) + 1

        key_stages = tuple(
            (
                out_ch(f"key_encoder.{name}.0.conv1.weight"),
                out_ch(f"key_encoder.{name}.0.conv3.weight"),
                blocks(f"key_encoder.{name}"),
            )
            for name in ("res2", "layer2", "layer3")
        )
        value_stages = tuple(
            (out_ch(f"value_encoder.{name}.0.conv1.weight"), blocks(f"value_encoder.{name}"))
            for name in ("layer1", "layer2", "layer3")
        )
        hidden = "decoder.hidden_update.transform.weight"
        return cls(
            key_stem=out_ch("key_encoder.conv1.weight"),
            key_stages=key_stages,
            value_stem=out_ch("value_encoder.conv1.weight"),
            value_stages=value_stages,
            key_dim=out_ch("key_proj.key_proj.weight"),
            value_dim=out_ch("value_encoder.fuser.block2.conv2.weight"),
            hidden_dim=out_ch(hidden) // 3 if hidden in state else 0,
            value_gate=out_ch("value_encoder.fuser.attention.ChannelGate.mlp.1.weight"),
            decoder_dims=(
                out_ch("decoder.fuser.block2.conv2.weight"),
                out_ch("decoder.up_16_8.out_conv.conv2.weight"),
                out_ch("decoder.up_8_4.out_conv.conv2.weight"),
            ),
            decoder_gate=out_ch("decoder.fuser.attention.ChannelGate.mlp.1.weight"),
            hidden_mid=out_ch("decoder.hidden_update.g16_conv.weight") if hidden in state else 256,
        )
