"""Cutie's object transformer and object summarizer.

Each object is described by ``num_queries`` queries built from its object memory (running
sums of the summarizer's weighted features). In every block the queries read the pixels
(the first half only the object's current foreground, the second half only its background),
attend to each other and pass a feed-forward network; then the pixels read the queries and
pass a channel-gated block. Position codes go to queries and keys, never to values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vosam.engines.aggregate import aggregate_logits
from vosam.engines.cutie.arch import CutieArch
from vosam.engines.cutie.layers import ChannelGatedBlock, SineCode


class _ReadFrom(nn.Module):
    """``x`` attends to ``mem``: ``x' + attention(x' + x_pe, mem + mem_pe, mem)``, where
    ``x'`` is ``x`` layer-normed (when ``norm``) or ``x`` itself."""

    def __init__(self, dim: int, heads: int, *, norm: bool) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim) if norm else None

    def forward(
        self,
        x: torch.Tensor,
        mem: torch.Tensor,
        x_pe: torch.Tensor,
        mem_pe: torch.Tensor,
        blocked: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.norm is not None:
            x = self.norm(x)
        out = self.cross_attn(x + x_pe, mem + mem_pe, mem, attn_mask=blocked, need_weights=False)
        return x + out[0]


class _SelfAttention(nn.Module):
    """``x' + attention(x' + pe, x' + pe, x')`` with ``x'`` layer-normed."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pe: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        with_pe = x + pe
        return x + self.self_attn(with_pe, with_pe, x, need_weights=False)[0]


class _FeedForward(nn.Module):
    """``x + linear2(relu(linear1(norm(x))))``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear2(F.relu(self.linear1(self.norm(x))))


class _PixelBlock(nn.Module):
    """The pixels' channel-gated block, on ``(N, hw, C)`` tokens of an ``h × w`` grid."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = ChannelGatedBlock(dim)

    def forward(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """``(N, hw, C) -> (N, C, h, w)``."""
        grid = tokens.view(tokens.shape[0], h, w, -1).permute(0, 3, 1, 2).contiguous()
        return self.conv(grid)


class _Block(nn.Module):
    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        dim, heads = arch.embed_dim, arch.num_heads
        self.read_from_pixel = _ReadFrom(dim, heads, norm=True)
        self.self_attn = _SelfAttention(dim, heads)
        self.ffn = _FeedForward(dim, arch.ff_dim)
        self.read_from_query = _ReadFrom(dim, heads, norm=False)
        self.pixel_ffn = _PixelBlock(dim)

    def forward(
        self,
        query: torch.Tensor,
        pixel: torch.Tensor,
        query_pe: torch.Tensor,
        pixel_pe: torch.Tensor,
        blocked: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``query (N, Q, C)``, ``pixel (N, C, h, w)``, ``pixel_pe (N, hw, C)``, ``blocked
        (N·heads, Q, hw)`` -> new query and pixel."""
        h, w = pixel.shape[-2:]
        tokens = pixel.flatten(2).transpose(1, 2).contiguous()
        query = self.read_from_pixel(query, tokens, query_pe, pixel_pe, blocked)
        query = self.ffn(self.self_attn(query, query_pe))
        tokens = self.read_from_query(tokens, query, pixel_pe, query_pe)
        return query, self.pixel_ffn(tokens, h, w)


class ObjectTransformer(nn.Module):
    """Fused pixels ``(B, O, C, h, w)`` + object memories -> refined pixels, same shape."""

    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        dim, q = arch.embed_dim, arch.num_queries
        self.num_heads = arch.num_heads
        self.query_init = nn.Embedding(q, dim)
        self.query_emb = nn.Embedding(q, dim)
        self.summary_to_query_init = nn.Linear(dim, dim)
        self.summary_to_query_emb = nn.Linear(dim, dim)
        self.pixel_init_proj = nn.Conv2d(dim, dim, 1)
        self.pixel_emb_proj = nn.Conv2d(dim, dim, 1)
        self.spatial_pe = SineCode(dim, scale=arch.pe_scale)
        self.blocks = nn.ModuleList(_Block(arch) for _ in range(arch.num_blocks))
        # one auxiliary mask head before the blocks and one after each; the last one only
        # serves training, so inference never runs it
        self.mask_pred = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(dim, 1, 1)) for _ in range(arch.num_blocks + 1)
        )

    def forward(self, pixel: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Args:
        pixel: ``(B, O, C, h, w)``.
        memory: ``(B, O, Q, C + 1)`` object memories: summed features, then summed area.
        """
        b, o, c, h, w = pixel.shape
        n = b * o
        memory = memory.reshape(n, *memory.shape[2:])
        values = memory[..., :-1] / (memory[..., -1:] + 1e-4)
        query = self.query_init.weight.unsqueeze(0) + self.summary_to_query_init(values)
        query_pe = self.query_emb.weight.unsqueeze(0) + self.summary_to_query_emb(values)

        flat = pixel.flatten(0, 1)
        emb = self.pixel_emb_proj(flat).flatten(2).transpose(1, 2)
        pixel_pe = self.spatial_pe(h, w).to(flat.dtype).flatten(0, 1).unsqueeze(0) + emb
        x = self.pixel_init_proj(flat)
        for i, block in enumerate(self.blocks):
            blocked = self._blocked(self.mask_pred[i](x).view(b, o, h, w))
            query, x = block(query, x, query_pe, pixel_pe, blocked)
        return x.view(b, o, c, h, w)

    def _blocked(self, logits: torch.Tensor) -> torch.Tensor:
        """Attention mask ``(B·O·heads, Q, hw)`` from auxiliary logits ``(B, O, h, w)``, True
        where a query may not look: the first half of the queries sees only pixels the object
        wins after soft aggregation over the objects, the second half only the others. A query
        that would see nothing sees everything."""
        odds = aggregate_logits(torch.sigmoid(logits), dim=1)
        fg = (odds[:, 1:] >= odds.max(1, keepdim=True).values).flatten(2)  # (B, O, hw)
        b, o, hw = fg.shape
        half = self.query_init.weight.shape[0] // 2
        heads = self.num_heads
        rows = torch.cat(
            [(~fg).unsqueeze(2).expand(b, o, half, hw), fg.unsqueeze(2).expand(b, o, half, hw)], 2
        )  # (B, O, Q, hw)
        rows = rows & ~rows.all(-1, keepdim=True)
        return rows.unsqueeze(2).expand(b, o, heads, 2 * half, hw).reshape(-1, 2 * half, hw)


class ObjectSummarizer(nn.Module):
    """Memory values + mask -> per-object summaries ``(B, O, Q, C + 1)``: weighted sums of
    projected features and the total weights, the first half of the queries weighted inside
    the mask and the second half outside."""

    def __init__(self, arch: CutieArch) -> None:
        super().__init__()
        dim, q = arch.embed_dim, arch.num_queries
        self.pos_enc = SineCode(dim, scale=arch.pe_scale)
        self.input_proj = nn.Linear(arch.value_dim, dim)
        self.feature_pred = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.weights_pred = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, q))

    def forward(self, masks: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """``masks (B, O, H, W)`` object probabilities, ``value (B, O, C_v, h, w)``."""
        h, w = value.shape[-2:]
        inside = F.interpolate(masks, size=(h, w), mode="area").unsqueeze(-1)
        half = self.weights_pred[2].out_features // 2
        allowed = torch.cat(
            [inside.expand(-1, -1, -1, -1, half), (1 - inside).expand(-1, -1, -1, -1, half)], -1
        )  # (B, O, h, w, Q)
        x = self.input_proj(value.permute(0, 1, 3, 4, 2))
        x = x + self.pos_enc(h, w).to(x.dtype)
        feature = self.feature_pred(x)
        weights = torch.sigmoid(self.weights_pred(x)) * allowed
        sums = torch.einsum("bohwq,bohwc->boqc", weights, feature)
        area = weights.flatten(2, 3).sum(2).unsqueeze(-1)
        return torch.cat([sums, area], -1)
