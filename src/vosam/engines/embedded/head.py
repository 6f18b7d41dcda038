"""A small per-video segmentation head, learned online from the annotated frames.

The frozen features say what things look like; the head learns, for this video only, which
of them are the user's objects (OSVOS's idea on frozen features, trained in about a second
on a CPU because the backbone is never back-propagated). With ``mask_input`` the head also
sees the previous frame's mask and learns, from randomly deformed copies of the
annotations, to correct a roughly right mask (MaskTrack's idea).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SegmentationHead(nn.Module):
    """Dense features (+ previous mask) → logits of background and ``num_objects`` objects.

    Shapes: ``forward(dense (B, C_d, h, w), prev (B, N, h, w) | None) -> (B, N + 1, h, w)``.
    Only 1×1 convolutions: a pixel is judged by its own (multi-scale) features. A head with
    spatial context learns where the object was on the annotated frame, background pattern
    included, and loses it as soon as it moves.
    """

    def __init__(self, in_channels: int, num_objects: int, hidden: int, *, mask_input: bool):
        super().__init__()
        self.num_objects = num_objects
        self.mask_input = mask_input
        cin = in_channels + (num_objects if mask_input else 0)
        self.net = nn.Sequential(
            nn.Conv2d(cin, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_objects + 1, 1),
        )

    def forward(self, dense: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = dense.shape
        prev_rows = None if prev is None else _rows(prev).reshape(b * h * w, -1)
        logits = self.forward_rows(_rows(dense).reshape(b * h * w, -1), prev_rows)
        return logits.view(b, h, w, -1).permute(0, 3, 1, 2)

    def forward_rows(self, rows: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(P, N + 1)`` of pixels ``rows (P, C_d)`` (+ previous mask ``(P, N)``).

        The 1×1 convolutions as matrix products over pixels: no im2col copies, and the
        previous mask enters through its own slice of the first layer's weight instead of
        a concatenated copy of the features.
        """
        first, _, second, _, third = self.net
        weight = first.weight.reshape(first.out_channels, -1)
        c = rows.shape[1]
        y = torch.addmm(first.bias, rows, weight[:, :c].T)
        if self.mask_input:
            if prev is None:
                raise ValueError("this head needs the previous mask")
            y = torch.addmm(y, prev, weight[:, c:].T)
        y = F.relu(y)
        y = F.relu(F.linear(y, second.weight.reshape(second.out_channels, -1), second.bias))
        return F.linear(y, third.weight.reshape(third.out_channels, -1), third.bias)


def _rows(maps: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` → ``(B, h·w, C)`` pixel rows (a view for pixel-major storage)."""
    b, c = maps.shape[:2]
    return maps.permute(0, 2, 3, 1).reshape(b, -1, c)


def deform_masks(masks: torch.Tensor, generator: torch.Generator, *, jitter: float = 0.15):
    """Random similarity warps plus dilation or erosion of ``masks (B, N, h, w)`` in [0, 1].

    Simulates the previous frame's mask being shifted, scaled and a little wrong.
    """
    b = masks.shape[0]
    rnd = torch.rand(b, 5, generator=generator, device="cpu").to(masks.device) * 2 - 1
    scale = 1 + rnd[:, 0] * jitter
    angle = rnd[:, 1] * 0.1
    theta = torch.zeros(b, 2, 3, device=masks.device)
    theta[:, 0, 0] = scale * torch.cos(angle)
    theta[:, 0, 1] = -scale * torch.sin(angle)
    theta[:, 1, 0] = scale * torch.sin(angle)
    theta[:, 1, 1] = scale * torch.cos(angle)
    theta[:, :, 2] = rnd[:, 2:4] * jitter
    grid = F.affine_grid(theta, list(masks.shape), align_corners=False)
    out = F.grid_sample(masks, grid, align_corners=False)
    k = 2 * int(torch.randint(0, 3, (1,), generator=generator)) + 1
    if k > 1:
        out = (
            F.max_pool2d(out, k, 1, k // 2) if rnd[0, 4] > 0 else -F.max_pool2d(-out, k, 1, k // 2)
        )
    return out


def train_head(
    dense: torch.Tensor,
    labels: torch.Tensor,
    num_objects: int,
    *,
    hidden: int,
    iters: int,
    mask_input: bool,
    seed: int,
    batch: int = 1,
    pixels: int | None = None,
) -> SegmentationHead:
    """Fit a head on annotated frames.

    Args:
        dense: ``(F, C_d, h, w)`` features of the annotated frames.
        labels: ``(F, h, w)`` long class maps (0 background, k = k-th object, -1 ignored).
        num_objects: ``N``; classes are ``0..N``.

    The loss is cross-entropy weighted so every class present counts equally. With
    ``pixels``, each step of a one-frame batch sees that many pixels of the frame drawn at
    random (with replacement) instead of all of them.
    """
    with torch.inference_mode(False), torch.enable_grad():
        # inputs made under inference mode cannot be saved for backward: clone them out
        return _fit(
            dense.clone(),
            labels.clone(),
            num_objects,
            hidden,
            iters,
            mask_input,
            seed,
            batch,
            pixels,
        )


def _fit(
    dense, labels, num_objects, hidden, iters, mask_input, seed, batch, pixels
) -> SegmentationHead:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = SegmentationHead(dense.shape[1], num_objects, hidden, mask_input=mask_input)
    head = head.to(dense.device)
    counts = torch.bincount(labels[labels >= 0].flatten(), minlength=num_objects + 1).float()
    weight = torch.where(counts > 0, counts.sum() / (counts.clamp(min=1) * (counts > 0).sum()), 0)
    onehot = torch.stack([(labels == k).float() for k in range(1, num_objects + 1)], 1)
    rows = _rows(dense).contiguous()  # (F, P, C_d), made once for every step
    flat_labels = labels.reshape(labels.shape[0], -1)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3, weight_decay=1e-4)
    head.train()
    for _ in range(iters):
        pick = torch.randint(0, dense.shape[0], (batch,), generator=generator).to(dense.device)
        prev = None
        if mask_input:
            prev = _rows(deform_masks(onehot[pick], generator)).reshape(-1, num_objects)
        if batch == 1:  # a view, not a copy of the frame's features
            x, y = rows[int(pick[0])], flat_labels[int(pick[0])]
            if pixels is not None and pixels < x.shape[0] and prev is None:
                some = torch.randint(0, x.shape[0], (pixels,), generator=generator)
                x, y = x[some.to(x.device)], y[some.to(y.device)]
        else:
            x, y = rows[pick].reshape(-1, rows.shape[2]), flat_labels[pick].reshape(-1)
        loss = F.cross_entropy(head.forward_rows(x, prev), y, weight=weight, ignore_index=-1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return head.eval().requires_grad_(False)
