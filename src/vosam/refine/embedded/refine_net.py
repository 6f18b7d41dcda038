"""A small network that corrects a coarse mask along the image's edges (CascadePSP-style).

It sees the image and the coarse object probability at a quarter of the image's resolution
and predicts a correction of the coarse logit: one stem at ¼, a context branch at ⅛ with
dilated convolutions, and a fusion back at ¼ (about 40,000 parameters, about 0.5 GMAC for
a 854×480 frame). The embedded segmenter upsamples its answer with the guided filter.

Trained on davis2016-train (the embedded engine's own masks and synthetic degradations of
the ground truth) by ``benchmarks/train_embedded_refiner.py``; the weights ship with the
package as ``refine_net.npz``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SCALE = 4
"""The network works at ``1 / SCALE`` of the image's resolution."""
WEIGHTS = Path(__file__).with_name("refine_net.npz")
"""The shipped weights."""
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)
COARSE_GAIN = 4.0
"""The coarse logit is ``COARSE_GAIN * (2 p - 1)``; the network adds its correction."""


def _conv(cin: int, cout: int, *, dilation: int = 1, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation)


class RefineNet(nn.Module):
    """Coarse probability and image at ¼ resolution → refined logits at ¼ resolution.

    Args:
        width: channels at ¼ resolution (the ⅛ branch has twice as many).
        dilations: dilations of the ⅛ branch's residual convolutions.
    """

    def __init__(self, width: int = 16, dilations: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.width = width
        self.dilations = tuple(dilations)
        wide = 2 * width
        self.stem = _conv(4, width)
        self.down = _conv(width, wide, stride=2)
        self.context = nn.ModuleList(_conv(wide, wide, dilation=d) for d in self.dilations)
        self.fuse = _conv(wide + width, width)
        self.mix = _conv(width, width)
        self.out = nn.Conv2d(width, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, image: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
        """Refined logits.

        Args:
            image: float32 ``(B, 3, h, w)`` normalised RGB.
            prob: float32 ``(B, 1, h, w)`` coarse object probability.

        Returns:
            float32 ``(B, 1, h, w)`` logits: the coarse logit plus the correction.
        """
        coarse = COARSE_GAIN * (2 * prob - 1)
        x = F.relu(self.stem(torch.cat([image, 2 * prob - 1], 1)))
        y = F.relu(self.down(x))
        for conv in self.context:
            y = y + F.relu(conv(y))
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        z = F.relu(self.fuse(torch.cat([x, y], 1)))
        z = z + F.relu(self.mix(z))
        return coarse + self.out(z)

    # -- weights ---------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the weights and the architecture to ``path`` (``.npz``, float16)."""
        arrays = {
            k: v.detach().cpu().numpy().astype(np.float16) for k, v in self.state_dict().items()
        }
        np.savez_compressed(
            path,
            **arrays,
            __width=np.array(self.width),
            __dilations=np.array(self.dilations),
        )

    @classmethod
    def load(cls, path: str | Path = WEIGHTS) -> RefineNet:
        """The network with the weights of ``path`` (by default the shipped ones).

        Raises:
            FileNotFoundError: no such weights file.
            ValueError: the file's tensors do not match the architecture it names.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no refinement network weights here")
        with np.load(path) as data:
            net = cls(int(data["__width"]), tuple(int(d) for d in data["__dilations"]))
            state = {k: torch.from_numpy(data[k].astype(np.float32)) for k in data.files}
        state = {k: v for k, v in state.items() if not k.startswith("__")}
        missing = set(net.state_dict()) ^ set(state)
        if missing:
            raise ValueError(f"{path}: weights do not match the network ({sorted(missing)})")
        for k, v in state.items():
            if net.state_dict()[k].shape != v.shape:
                raise ValueError(f"{path}: {k} is {tuple(v.shape)}, expected another shape")
        net.load_state_dict(state)
        return net.eval()


def net_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` the network works at for an image of ``size (H, W)``."""
    return max(1, round(size[0] / SCALE)), max(1, round(size[1] / SCALE))


def net_inputs(image: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image ``uint8 (H, W, 3)`` RGB and probability ``float32 (H, W)`` → the network's inputs
    at ¼ resolution: normalised image ``(3, h, w)`` and probability ``(h, w)``, area-averaged."""
    h, w = net_size(image.shape[:2])
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    small = ((small - _MEAN) / _STD).transpose(2, 0, 1)
    p = cv2.resize(np.asarray(prob, np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), np.clip(p, 0.0, 1.0)


def near_boundary(mask: np.ndarray, band: float) -> np.ndarray:
    """Bool ``(h, w)``: pixels within ``band`` pixels of the boundary of ``mask bool (h, w)``
    (on either side); all False for a mask without a boundary."""
    m = mask.astype(np.uint8)
    if m.all() or not m.any():
        return np.zeros(mask.shape, bool)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return np.where(mask, inside, outside) <= band


@torch.inference_mode()
def refine_probability(
    net: RefineNet, image: np.ndarray, prob: np.ndarray, *, band: float | None = None
) -> np.ndarray:
    """The network's object probability at ¼ resolution.

    Args:
        net: the refinement network.
        image: ``uint8 (H, W, 3)`` RGB.
        prob: ``float32 (H, W)`` coarse object probability.
        band: keep the network's answer only within this many ¼-resolution pixels of the
            coarse mask's boundary, the coarse probability elsewhere (None: everywhere).
            The network corrects boundaries; far from them it has little to go on.

    Returns:
        float32 ``(h, w)`` probabilities, ``(h, w) = net_size((H, W))``.
    """
    x, p = net_inputs(image, prob)
    logits = net(torch.from_numpy(x)[None], torch.from_numpy(p)[None, None])[0, 0]
    out = torch.sigmoid(logits).numpy().astype(np.float32)
    if band is not None:
        out = np.where(near_boundary(p > 0.5, band), out, p).astype(np.float32)
    return out
