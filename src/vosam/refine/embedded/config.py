"""Settings of the embedded promptable segmenter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmbeddedSegmenterConfig:
    """How the embedded segmenter reads an image and fits each prompt.

    Attributes:
        short_side: the image's shorter side is scaled to this many pixels before the
            backbone; features come at stride 8 of that (320 → a 40-cell-high grid).
        dims: principal components of the backbone features kept per image (fewer
            dimensions fit a prompt's few labelled cells without overfitting).
        click_dims: principal components used when clicks lead the prompt (no mask).
        colour_weight: weight of the Lab colour of each cell next to the backbone features
            (the features are standardised, so 1.0 makes colour count like one feature).
        ridge: ridge penalty of the per-prompt linear classifier, relative to the total
            sample weight.
        gain: logit per unit of the classifier's ±1 output.
        band: half-width, in grid cells, of the strip along a mask prompt's boundary in
            which the classifier, not the prompt, decides.
        click_radius: radius, in grid cells, of the disc of cells a click labels.
        box_core: share of a box's width and height, at each side, left out of the cells
            taken as object at first for a box-only prompt.
        self_training: refits of the classifier on its own answer (box- and point-only
            prompts), as GrabCut iterates its colour models.
        mask_gain: logit per unit of a mask prompt's value away from 0.5.
        classifier_weight: weight of the classifier's logit next to a mask prompt's.
        guide_radius: radius, in full-resolution pixels, of the edge-aware upsampling.
        guide_eps: regularisation of the edge-aware upsampling (smaller follows edges more).
        guide_scale: the upsampling's coefficients are solved at ``1 / guide_scale`` of the
            image's resolution.
        stability_offset: the logit offset of the stability score (SAM uses 1.0).
        net: correct a mask prompt with the trained refinement network
            (:mod:`vosam.refine.embedded.refine_net`) before the edge-aware upsampling;
            False keeps the mask prompt's own probabilities.
        net_weights: weights file of the network; None: the weights shipped with vosam.
        mask_click_radius: radius, in full-resolution pixels, of the disc a click imposes
            when a mask prompt leads.
        net_band: the network's answer is kept within this many pixels, at a quarter of the
            image's resolution, of the mask prompt's boundary; the prompt's probabilities
            are kept elsewhere.
    """

    short_side: int = 320
    dims: int = 64
    click_dims: int = 32
    colour_weight: float = 2.0
    ridge: float = 1.0
    gain: float = 4.0
    band: float = 2.0
    click_radius: float = 1.0
    box_core: float = 0.3
    self_training: int = 2
    mask_gain: float = 8.0
    classifier_weight: float = 0.0
    guide_radius: int = 8
    guide_eps: float = 1e-3
    guide_scale: int = 4
    stability_offset: float = 1.0
    net: bool = True
    net_weights: str | None = None
    mask_click_radius: float = 2.0
    net_band: float = 3.0
