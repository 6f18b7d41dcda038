"""Cutie's network: stage-wise methods, no loop over time (that lives in the tracker)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vosam.engines.aggregate import aggregate_logits
from vosam.engines.cutie.arch import CutieArch
from vosam.engines.cutie.decoder import MaskDecoder, PixelFuser, others_of
from vosam.engines.cutie.encoders import KeyProjection, MaskEncoder, PixelEncoder
from vosam.engines.cutie.transformer import ObjectSummarizer, ObjectTransformer


@dataclass(frozen=True)
class ImageFeatures:
    """What the pixel encoder gives for one normalised, padded image ``(B, 3, H, W)``.

    Attributes:
        pix_feat: ``(B, pixel_dim, H/16, W/16)``.
        f8: ``(B, C8, H/8, W/8)``, f4: ``(B, C4, H/4, W/4)`` (skip features).
        key: ``(B, C_k, H/16, W/16)``, shrinkage ``(B, 1, ...)``, selection ``(B, C_k, ...)``.
    """

    pix_feat: torch.Tensor
    f8: torch.Tensor | None
    f4: torch.Tensor | None
    key: torch.Tensor
    shrinkage: torch.Tensor
    selection: torch.Tensor


class _TrainingHeads(nn.Module):
    """Cutie's auxiliary loss head on the sensory memory. It is trained but never used at
    inference; it is kept so that official checkpoints load strictly."""

    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        self.sensory_aux = nn.Module()
        self.sensory_aux.projection = nn.Conv2d(arch.sensory_dim, arch.embed_dim + 1, 1)


class CutieNetwork(nn.Module):
    """Cutie's encoders, pixel fuser, object transformer and summarizer, and mask decoder.

    Build it with :func:`vosam.engines.cutie.checkpoint.load_network` for official weights,
    or from a :class:`CutieArch` (random weights) for tests and benchmarks. Images are
    ImageNet-normalised before they come in (the tracker pads them first, so padding holds
    ``-mean/std``, as in Cutie).
    """

    def __init__(self, arch: CutieArch | None = None) -> None:
        super().__init__()
        self.arch = arch or CutieArch()
        self.pixel_encoder = PixelEncoder(self.arch)
        self.pix_feat_proj = nn.Conv2d(self.arch.f16_dim, self.arch.pixel_dim, 1)
        self.key_proj = KeyProjection(self.arch)
        self.mask_encoder = MaskEncoder(self.arch)
        self.mask_decoder = MaskDecoder(self.arch)
        self.pixel_fuser = PixelFuser(self.arch)
        self.object_transformer = ObjectTransformer(self.arch)
        self.object_summarizer = ObjectSummarizer(self.arch)
        self.aux_computer = _TrainingHeads(self.arch)

    def encode_image(self, image: torch.Tensor) -> ImageFeatures:
        """Pixel features, skip features and key of a normalised image ``(B, 3, H, W)``."""
        f16, f8, f4 = self.pixel_encoder(image)
        key, shrinkage, selection = self.key_proj(f16)
        return ImageFeatures(self.pix_feat_proj(f16), f8, f4, key, shrinkage, selection)

    def encode_mask(
        self,
        image: torch.Tensor,
        pix_feat: torch.Tensor,
        sensory: torch.Tensor,
        masks: torch.Tensor,
        *,
        deep_update: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Memory values, sensory memory and object summaries of every object.

        Args:
            image: ``(B, 3, H, W)`` as given to :meth:`encode_image`.
            pix_feat: ``(B, pixel_dim, H/16, W/16)``.
            sensory: ``(B, O, C_s, H/16, W/16)``.
            masks: ``(B, O, H, W)`` object probabilities (background excluded).
            deep_update: also refresh the sensory memory from the values.

        Returns:
            values ``(B, O, C_v, H/16, W/16)``, sensory (updated if asked) and summaries
            ``(B, O, Q, embed_dim + 1)``.
        """
        values, sensory = self.mask_encoder(
            image, pix_feat, sensory, masks, others_of(masks), deep_update=deep_update
        )
        return values, sensory, self.object_summarizer(masks, values)

    def read_objects(
        self,
        pix_feat: torch.Tensor,
        readout: torch.Tensor,
        sensory: torch.Tensor,
        last_mask: torch.Tensor,
        memory: torch.Tensor,
    ) -> torch.Tensor:
        """Pixel readout of a group of objects, fused and refined by the object transformer.

        Args:
            pix_feat: ``(B, pixel_dim, h, w)``.
            readout: ``(B, O, C_v, h, w)`` from the key-value memory.
            sensory: ``(B, O, C_s, h, w)``.
            last_mask: ``(B, O, H, W)`` the previous frame's probabilities; each object's
                "others" are the other objects of this group.
            memory: ``(B, O, Q, embed_dim + 1)`` object memories.

        Returns:
            ``(B, O, embed_dim, h, w)``.
        """
        last_mask = F.interpolate(last_mask, size=sensory.shape[-2:], mode="area")
        pixel = self.pixel_fuser(pix_feat, readout, sensory, last_mask)
        return self.object_transformer(pixel, memory)

    def segment(
        self,
        features: ImageFeatures,
        pixel: torch.Tensor,
        sensory: torch.Tensor,
        *,
        update_sensory: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode the objects' refined pixels ``(B, O, embed_dim, h, w)``.

        Returns:
            sensory memory (updated if asked) and probabilities ``(B, O + 1, H, W)``,
            background first: per-object sigmoids at stride 4 merged into log-odds (soft
            aggregation), upsampled ×4, softmaxed.
        """
        sensory, logits = self.mask_decoder(
            features.f8, features.f4, pixel, sensory, update_sensory=update_sensory
        )
        odds = aggregate_logits(torch.sigmoid(logits), dim=1)
        odds = F.interpolate(odds, scale_factor=4, mode="bilinear", align_corners=False)
        return sensory, torch.softmax(odds, dim=1)
