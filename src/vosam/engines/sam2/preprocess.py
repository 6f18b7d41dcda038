"""Turning frames, masks and prompts into SAM 2's inputs, and its logits back into frames.

SAM 2 works on square ``S × S`` images (``S`` = the model's ``image_size``, 1024 for the
official checkpoints) and predicts mask logits at ``S/4 × S/4``. The conversions follow SAM 2's
video predictor: bicubic resize of the frame (as PIL does when it loads JPEG frames), ImageNet
normalisation, antialiased bilinear resize of masks thresholded at 0.5, prompt coordinates
scaled from the frame to ``S``, bilinear resize of logits to the frame.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vosam.types import Prompt

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BOX_LABELS = (2, 3)  # SAM's point labels of a box's top-left and bottom-right corners


def prepare_image(image: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """``uint8 (H, W, 3)`` RGB -> normalised ``float32 (1, 3, S, S)`` on ``device``."""
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.asarray(resized) / 255.0).permute(2, 0, 1).float()
    x -= torch.tensor(MEAN, dtype=torch.float32)[:, None, None]
    x /= torch.tensor(STD, dtype=torch.float32)[:, None, None]
    return x[None].to(device)


def prepare_mask(mask: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """bool ``(H, W)`` -> ``float32 (1, 1, S, S)`` in {0, 1}."""
    m = torch.from_numpy(np.ascontiguousarray(mask)).to(device)[None, None].float()
    if m.shape[-2:] == (size, size):
        return m
    m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (m >= 0.5).float()


def prompt_points(
    prompt: Prompt, frame_size: tuple[int, int], size: int, device: torch.device
) -> dict[str, torch.Tensor] | None:
    """SAM 2's point inputs for a box and/or clicks, or None when the prompt has neither.

    Returns ``{"point_coords": float32 (1, P, 2), "point_labels": int32 (1, P)}`` in the
    model's ``S × S`` coordinates, box corners first (labels 2 and 3).
    """
    coords, labels = [], []
    if prompt.box is not None:
        coords.append(np.asarray(prompt.box, np.float32).reshape(2, 2))
        labels.append(np.asarray(BOX_LABELS, np.int32))
    if prompt.points is not None:
        coords.append(np.asarray(prompt.points, np.float32).reshape(-1, 2))
        labels.append(np.asarray(prompt.labels, np.int32).reshape(-1))
    if not coords:
        return None
    h, w = frame_size
    xy = torch.from_numpy(np.concatenate(coords))[None]
    xy = xy / torch.tensor([w, h], dtype=torch.float32) * size
    lab = torch.from_numpy(np.concatenate(labels))[None]
    return {"point_coords": xy.to(device), "point_labels": lab.to(device)}


def mask_logits(prob: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """A prompt's foreground probability ``(H, W)`` -> low-res logits ``(1, 1, S/4, S/4)``.

    Clamped to ±32 as SAM 2 does with earlier predictions fed back to the decoder.
    """
    p = torch.from_numpy(np.asarray(prob, np.float32)).to(device)[None, None]
    p = F.interpolate(p, size=(size // 4, size // 4), mode="bilinear", align_corners=False)
    return torch.logit(p.clamp(1e-6, 1 - 1e-6)).clamp(-32.0, 32.0)


def to_frame(logits: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
    """Logits ``(N, 1, h, w)`` -> ``float32 (N, H, W)`` at the frame's size (bilinear)."""
    logits = logits.float()
    if logits.shape[-2:] != tuple(frame_size):
        logits = F.interpolate(logits, size=frame_size, mode="bilinear", align_corners=False)
    return logits[:, 0]
