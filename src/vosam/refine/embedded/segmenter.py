"""The embedded promptable segmenter: a linear classifier per prompt on frozen features.

``embed`` runs EfficientNet-Lite0 once per image and keeps its stride-8 features (their
principal components, and the stride-8 level alone) with the cells' Lab colour,
standardised. ``predict`` turns a box or clicks into labelled cells (the box's middle or the
clicked cells: object; outside the box or at negative clicks: background), fits a weighted
ridge classifier on them in closed form, refits it on its own connected answer a few times
(as GrabCut refits its colour models), and upsamples with an edge-aware guided filter so the
boundary follows the image's edges. A mask prompt leads where it is given: its soft values,
with the box and clicks as hard evidence, go through the same edge-aware filter (the
classifier joins in with ``classifier_weight > 0``); every part of the mask is kept.

The score is SAM's stability (IoU of the masks at logits +1 and -1), times the IoU with the
mask prompt when there is one, so a gate keeps refinements that stay close to what they
were given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from vosam.backbones.efficientnet_lite import LEVEL_ENDS
from vosam.ops.guided_filter import guided_upsample
from vosam.refine.base import ImageEmbedding, Prediction, Prompt, PromptableSegmenter
from vosam.refine.embedded.classifier import apply_ridge, balanced_weights, fit_ridge
from vosam.refine.embedded.config import EmbeddedSegmenterConfig
from vosam.refine.embedded.grid import Grid
from vosam.refine.embedded.refine_net import WEIGHTS, RefineNet, refine_probability

log = logging.getLogger(__name__)

_HARD = 20.0  # logit of cells the prompt decides outright (outside the box, at clicks)
_CLICK_WEIGHT = 10.0  # a click's cells count this many times an ordinary labelled cell
_MAX_LOGIT = 12.0


@dataclass(frozen=True)
class _Features:
    """What :meth:`EmbeddedSegmenter.embed` keeps of one image.

    Attributes:
        image: uint8 ``(H, W, 3)`` RGB, the guide of the edge-aware upsampling.
        grid: geometry of the feature grid.
        x: float32 ``(gh * gw, dims + 3)`` principal components of the cells' multi-scale
            features, then their colour; standardised, row-major.
        local: float32 ``(gh * gw, C8 + 3)`` the stride-8 features alone, then colour: without
            the coarse levels' context, a box cannot be learnt as a place.
    """

    image: np.ndarray
    grid: Grid
    x: np.ndarray
    local: np.ndarray


@dataclass
class _Labels:
    """Training labels and prior of one prompt on the grid (all ``(gh, gw)``)."""

    target: np.ndarray  # +1 object, -1 background, 0 unlabelled
    weight: np.ndarray
    prior: np.ndarray  # logit added to the classifier's
    seeds: np.ndarray  # bool: cells a kept component must touch


def _to_image(grid: Grid, grid_map: np.ndarray) -> np.ndarray:
    """``(gh, gw)`` cell values → ``(H, W)`` at the image's resolution, bilinear."""
    h, w = grid.size
    return cv2.resize(grid.to_input(grid_map), (w, h), interpolation=cv2.INTER_LINEAR)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _standardise(x: np.ndarray) -> np.ndarray:
    """Columns of ``x (N, C)`` to zero mean and unit variance."""
    return (x - x.mean(0)) / (x.std(0) + 1e-6)


def _principal(x: np.ndarray, dims: int) -> np.ndarray:
    """Projection of ``x (N, C)`` on its ``dims`` principal directions → ``(N, dims)``."""
    x = x - x.mean(0)
    if dims >= x.shape[1]:
        return x
    _, vecs = np.linalg.eigh(x.T @ x)  # ascending eigenvalues
    return x @ vecs[:, ::-1][:, :dims]


def _discs(grid: Grid, centres: np.ndarray, radius: float) -> np.ndarray:
    """Bool ``(gh, gw)``: cells within ``radius`` of any of ``centres (P, 2)`` (grid coords)."""
    gx, gy = grid.centres()
    out = np.zeros(grid.shape, bool)
    for cx, cy in centres:
        d2 = (gx - cx) ** 2 + (gy - cy) ** 2
        out |= d2 <= radius**2
        # the cell under the click is always labelled, however small the radius
        i = min(grid.shape[0] - 1, max(0, int(cy)))
        j = min(grid.shape[1] - 1, max(0, int(cx)))
        out[i, j] = True
    return out


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Distance in cells to the boundary of ``mask bool (gh, gw)``: > 0 inside, < 0 outside."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return np.where(mask, inside - 0.5, 0.5 - outside).astype(np.float32)


def _connected_to(fg: np.ndarray, seeds: np.ndarray, *, min_share: float) -> np.ndarray:
    """Components of ``fg bool (h, w)`` that touch ``seeds``; without any touching, those at
    least ``min_share`` of the largest component's area."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n <= 1:
        return fg
    touched = np.unique(lab[seeds & fg])
    touched = touched[touched > 0]
    if len(touched) == 0:
        areas = stats[1:, cv2.CC_STAT_AREA]
        touched = 1 + np.flatnonzero(areas >= min_share * areas.max())
    return np.isin(lab, touched)


class EmbeddedSegmenter(PromptableSegmenter):
    """Promptable segmenter on frozen EfficientNet-Lite0 features; needs no download.

    One instance serves any number of images; it holds only the backbone.
    """

    name = "embedded"

    def __init__(
        self, config: EmbeddedSegmenterConfig | None = None, *, device: str = "cpu"
    ) -> None:
        from vosam.devices import resolve_device
        from vosam.engines.embedded.features import FeatureExtractor

        self.config = config or EmbeddedSegmenterConfig()
        self._device = resolve_device(device)
        self._extractor = FeatureExtractor(self._device, self.config.short_side)
        # the dense features start with the stride-8 level's channels
        block = self._extractor.net._blocks[LEVEL_ENDS[8]]
        self._stride8_channels = block._project_conv.out_channels
        self._net: RefineNet | None = None
        if self.config.net:
            self._net = RefineNet.load(self.config.net_weights or WEIGHTS)

    @property
    def device(self) -> str:
        return self._device.type

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        """Features of ``image uint8 (H, W, 3)`` RGB: stride-8 backbone features and colour."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        size = image.shape[:2]
        grid = Grid.of(size, self._extractor.input_size(size))
        dense = self._extractor(image).dense.float().cpu().numpy()  # (C, gh, gw)
        lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
        colour = np.stack([grid.pool(lab[..., c]) for c in range(3)], 0)
        flat = dense.reshape(dense.shape[0], -1).T
        c = _standardise(colour.reshape(3, -1).T) * self.config.colour_weight
        x = np.concatenate([_standardise(_principal(flat, self.config.dims)), c], 1)
        local = np.concatenate([_standardise(flat[:, : self._stride8_channels]), c], 1)
        feats = _Features(
            image=image,
            grid=grid,
            x=np.ascontiguousarray(x, np.float32),
            local=np.ascontiguousarray(local, np.float32),
        )
        return ImageEmbedding(size=size, data=feats)

    # -- prompt → labels -------------------------------------------------------------------

    def _labels(self, feats: _Features, prompt: Prompt) -> tuple[_Labels, bool]:
        """Labels, prior and seeds of ``prompt``; and whether it holds a usable mask."""
        cfg = self.config
        grid = feats.grid
        shape = grid.shape
        target = np.zeros(shape, np.float32)
        weight = np.zeros(shape, np.float32)
        prior = np.zeros(shape, np.float32)
        seeds = np.zeros(shape, bool)
        has_mask = False
        has_click = _has_click(prompt)

        if prompt.mask is not None:
            if np.shape(prompt.mask) != tuple(grid.size):
                raise ValueError(
                    f"mask prompt is {np.shape(prompt.mask)} but the image is {grid.size}"
                )
            soft = grid.pool(np.clip(np.asarray(prompt.mask, np.float32), 0, 1))
            inside = soft > 0.5
            if inside.any():
                has_mask = True
                sd = _signed_distance(inside)
                core = sd > cfg.band
                if not core.any():
                    core = sd >= sd.max()
                target[core], weight[core] = 1.0, 1.0
                far = sd < -cfg.band
                target[far], weight[far] = -1.0, 1.0
                prior += cfg.gain * np.clip(sd / cfg.band, -2.0, 2.0)
                seeds |= inside

        if prompt.box is not None:
            x0, y0, x1, y1 = np.asarray(prompt.box, np.float32).reshape(4)
            (gx0, gy0), (gx1, gy1) = grid.to_cells(np.array([[x0, y0], [x1, y1]]))
            ch, cw = grid.cell
            # corners are inclusive pixels: the box spans [x0, x1 + 1) in pixel extents
            gx0, gy0 = gx0 - 0.5 / cw, gy0 - 0.5 / ch
            gx1, gy1 = gx1 + 0.5 / cw, gy1 + 0.5 / ch
            cx, cy = grid.centres()
            outside = (cx < gx0) | (cx > gx1) | (cy < gy0) | (cy > gy1)
            # cells straddling the box edge are left to the classifier
            far_out = (cx + 0.5 < gx0) | (cx - 0.5 > gx1) | (cy + 0.5 < gy0) | (cy - 0.5 > gy1)
            target[outside], weight[outside] = -1.0, 1.0
            prior[far_out] = -_HARD
            if not has_mask and not has_click:
                # the box's middle is taken as object: a tight box's object reaches its
                # edges only in places, while its middle is mostly object
                mx, my = (gx1 - gx0) * cfg.box_core / 2, (gy1 - gy0) * cfg.box_core / 2
                core = (cx > gx0 + mx) & (cx < gx1 - mx) & (cy > gy0 + my) & (cy < gy1 - my)
                if not core.any():
                    core = _discs(grid, np.array([[(gx0 + gx1) / 2, (gy0 + gy1) / 2]]), 0.5)
                target[core], weight[core] = 1.0, 1.0
                seeds |= core

        if prompt.points is not None and len(prompt.points):
            cells = grid.to_cells(prompt.points)
            labels = np.asarray(prompt.labels).reshape(-1)
            for positive in (False, True):  # positive clicks win where discs overlap
                sel = labels == (1 if positive else 0)
                if not sel.any():
                    continue
                disc = _discs(grid, cells[sel], cfg.click_radius)
                sign = 1.0 if positive else -1.0
                target[disc], weight[disc] = sign, _CLICK_WEIGHT
                prior[disc] = sign * _HARD
            if not has_mask and has_click:
                # clicks lead: everything unclicked is weak background to start with
                rest = weight == 0
                target[rest], weight[rest] = -1.0, 0.1
        clicked = prior >= _HARD
        if clicked.any():
            seeds = clicked  # positive clicks name the object better than a box or mask
        return _Labels(target, weight, prior, seeds & (prior > -_HARD)), has_mask

    # -- fitting ---------------------------------------------------------------------------

    def _fit(self, x: np.ndarray, lab: _Labels) -> np.ndarray:
        """Logits ``(gh, gw)`` of the classifier fitted on ``lab`` plus its prior."""
        t, w = lab.target.reshape(-1), lab.weight.reshape(-1)
        if not ((t > 0) & (w > 0)).any() or not ((t < 0) & (w > 0)).any():
            return lab.prior + np.where(lab.seeds, 1.0, -1.0).astype(np.float32)
        coef = fit_ridge(x, t, balanced_weights(t, w), ridge=self.config.ridge)
        s = apply_ridge(x, coef).reshape(lab.target.shape)
        return self.config.gain * s + lab.prior

    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        """Segment one object: mask, stability-based score and full-resolution logits."""
        feats: _Features = embedding.data
        cfg = self.config
        lab, has_mask = self._labels(feats, prompt)
        x = feats.x
        if not has_mask and not _has_click(prompt):
            x = feats.local  # box alone
        elif not has_mask and cfg.click_dims < x.shape[1] - 3:
            # a few clicked cells fit fewer dimensions better: the leading principal
            # components and the colour
            x = np.concatenate([x[:, : cfg.click_dims], x[:, -3:]], 1)
        # with a mask prompt and no classifier weight, the classifier has no say
        z = lab.prior if has_mask and not cfg.classifier_weight else self._fit(x, lab)
        if not has_mask and _has_click(prompt):
            # clicks alone label a few cells: the first answer is only the cells most like
            # them; widen it to everything above an Otsu split of the classifier's output
            z = z - _otsu(z[np.abs(lab.prior) < _HARD])
        if not has_mask:
            # refit on the answer: the connected part becomes the object, the rest background
            for _ in range(cfg.self_training):
                fg = _connected_to(z > 0, lab.seeds, min_share=0.1)
                strong = lab.weight >= _CLICK_WEIGHT
                hard_out = lab.prior <= -_HARD
                t = np.where(fg, 1.0, -1.0).astype(np.float32)
                w = np.ones_like(t)
                t[strong], w[strong] = lab.target[strong], _CLICK_WEIGHT
                w[hard_out], t[hard_out] = 1.0, -1.0
                z = self._fit(x, _Labels(t, w, lab.prior, lab.seeds))
            keep = _connected_to(z > 0, lab.seeds, min_share=0.1)
            z = np.where(keep | (z <= 0), z, -1.0).astype(np.float32)
            prob_in = feats.grid.to_input(_sigmoid(np.clip(z, -_MAX_LOGIT, _MAX_LOGIT)))
        else:
            prob_in = self._mask_probs(feats, prompt, z - lab.prior)
        pred = self._finish(feats, prob_in.astype(np.float32))
        if has_mask and pred.mask.any():
            # a refinement far from the mask it was given is less likely right: the score
            # also carries the IoU with the prompt's mask, so a gate keeps close refinements
            given = np.asarray(prompt.mask) > 0.5
            agree = np.count_nonzero(given & pred.mask) / np.count_nonzero(given | pred.mask)
            pred = Prediction(mask=pred.mask, score=pred.score * agree, logits=pred.logits)
        return pred

    def _mask_probs(self, feats: _Features, prompt: Prompt, cls: np.ndarray) -> np.ndarray:
        """Probabilities ``(H, W)`` at the image's resolution for a prompt with a mask.

        The mask prompt's own soft values lead (every part of it is kept: thin and detached
        parts of a propagated mask are usually right), corrected by the refinement network
        when there is one; with ``classifier_weight > 0`` the classifier's ``cls (gh, gw)``
        shifts them. The box and clicks are imposed at the image's resolution: nothing more
        than a cell outside the box, and a small disc (``mask_click_radius``) at each click;
        the prompt's points often lie on its own boundary (polygon vertices), where a disc
        of whole cells would override the boundary the mask and the network give.
        """
        cfg = self.config
        grid = feats.grid
        prob = np.clip(np.asarray(prompt.mask, np.float32), 0, 1)
        if self._net is not None:
            small = refine_probability(self._net, feats.image, prob, band=cfg.net_band)
            h, w = grid.size
            prob = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        if cfg.classifier_weight:
            z = cfg.mask_gain * (prob - 0.5) + cfg.classifier_weight * _to_image(grid, cls)
            prob = _sigmoid(z).astype(np.float32)
        h, w = grid.size
        if prompt.box is not None:
            ch, cw = grid.cell
            x0, y0, x1, y1 = np.asarray(prompt.box, np.float32).reshape(4)
            inside = np.zeros((h, w), bool)
            rows = slice(max(0, int(np.floor(y0 - ch))), max(0, int(np.ceil(y1 + ch)) + 1))
            cols = slice(max(0, int(np.floor(x0 - cw))), max(0, int(np.ceil(x1 + cw)) + 1))
            inside[rows, cols] = True
            prob = np.where(inside, prob, 0.0)
        if prompt.points is not None and len(prompt.points):
            yy, xx = np.mgrid[0:h, 0:w]
            labels = np.asarray(prompt.labels).reshape(-1)
            points = np.asarray(prompt.points, np.float32).reshape(-1, 2)
            for positive in (False, True):  # positive clicks win where discs overlap
                for x, y in points[labels == (1 if positive else 0)]:
                    disc = (xx - x) ** 2 + (yy - y) ** 2 <= cfg.mask_click_radius**2
                    prob = np.where(disc, 1.0 if positive else 0.0, prob)
        return prob.astype(np.float32)

    def _finish(self, feats: _Features, prob_in: np.ndarray) -> Prediction:
        """Edge-aware upsampling of probabilities ``prob_in`` (any resolution covering the
        image), then mask and score at the image's resolution."""
        cfg = self.config
        prob = guided_upsample(
            feats.image,
            prob_in[None],
            radius=cfg.guide_radius,
            eps=cfg.guide_eps,
            scale=cfg.guide_scale,
        )[0]
        p = np.clip(prob, 1e-5, 1 - 1e-5)
        logits = np.log(p / (1 - p)).astype(np.float32)
        mask = logits > 0
        score = _stability(logits, cfg.stability_offset) if mask.any() else 0.0
        return Prediction(mask=mask, score=float(score), logits=logits)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of ``values (N,)``: the split maximising between-class variance."""
    if values.size < 2:
        return 0.0
    v = np.sort(values.astype(np.float64))
    n = v.size
    csum = np.cumsum(v)
    k = np.arange(1, n)
    w0, w1 = k / n, 1 - k / n
    m0 = csum[:-1] / k
    m1 = (csum[-1] - csum[:-1]) / (n - k)
    best = int(np.argmax(w0 * w1 * (m0 - m1) ** 2))
    return float((v[best] + v[best + 1]) / 2)


def _has_click(prompt: Prompt) -> bool:
    return prompt.points is not None and bool(np.any(np.asarray(prompt.labels) == 1))


def _stability(logits: np.ndarray, offset: float) -> float:
    """IoU of the masks at logit thresholds ``+offset`` and ``-offset`` (SAM's stability)."""
    inner = np.count_nonzero(logits > offset)
    outer = np.count_nonzero(logits > -offset)
    return inner / outer if outer else 0.0


def build_embedded_segmenter(
    *, device: str = "cpu", config: EmbeddedSegmenterConfig | None = None, **overrides: object
) -> EmbeddedSegmenter:
    """The embedded segmenter; ``overrides`` replace fields of the default config."""
    from dataclasses import replace

    cfg = config or EmbeddedSegmenterConfig()
    if overrides:
        cfg = replace(cfg, **overrides)
    return EmbeddedSegmenter(cfg, device=device)
