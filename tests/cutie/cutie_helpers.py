"""Random weights under the official Cutie names, a synthetic video, and tiny engines.

:func:`official_state` makes the same weights on every machine from the key lists in
``data/`` (the names and shapes of ``cutie-base-mega.pth`` / ``cutie-small-mega.pth``), so
the parity fixtures in ``data/`` were computed by the reference implementation on exactly
these weights (see ``test_cutie_parity.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vosam.engines.cutie import CutieArch, CutieConfig, CutieNetwork, CutiePropagator

DATA = Path(__file__).parent / "data"
KEY_FILES = {"base": "cutie_checkpoint_keys.tsv", "small": "cutie_small_checkpoint_keys.tsv"}


def official_keys(model: str) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of the official ``model`` (``base`` or ``small``) file."""
    out = {}
    for line in (DATA / KEY_FILES[model]).read_text().splitlines():
        name, shape = line.split("\t")
        out[name] = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
    return out


def official_state(model: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random float32 weights under the official names, the same on every machine.

    Drawn key by key in file order from ``numpy.random.default_rng(seed)``: weights
    ``N(0, 1/fan_in)``, biases ``N(0, 0.1²)``, norm scales ``U(0.8, 1.2)``, BatchNorm running
    means ``N(0, 0.1²)`` and variances ``U(0.5, 1.5)``; ``num_batches_tracked`` 0 and the
    position code's ``inv_freq`` the constant the official files hold.
    """
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in official_keys(model).items():
        leaf = name.rsplit(".", 1)[1]
        if leaf == "num_batches_tracked":
            state[name] = torch.zeros((), dtype=torch.long)
            continue
        if leaf == "inv_freq":
            value = 1.0 / (128.0 ** (np.arange(0, 2 * shape[0], 2) / (2 * shape[0])))
        elif leaf == "running_mean" or leaf == "bias" or leaf.endswith("_bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif leaf == "running_var":
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) == 1:  # BatchNorm and LayerNorm scales
            value = rng.uniform(0.8, 1.2, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
        state[name] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    return state


def parity_video(n: int = 28) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """``n`` frames ``uint8 (90, 117, 3)`` and the annotations of the parity scenario.

    Objects 1 and 2 (a disc and a bar) move over a textured background and are annotated on
    frame 0; object 3 (a square) enters on frame 12, annotated there alone.
    """
    h, w = 90, 117
    rng = np.random.default_rng(7)
    coarse = rng.integers(20, 160, size=(h // 6 + 1, w // 6 + 1, 3), dtype=np.uint8)
    background = np.kron(coarse, np.ones((6, 6, 1), dtype=np.uint8))[:h, :w]
    yy, xx = np.mgrid[:h, :w]
    frames, annotations = [], {}
    for t in range(n):
        frame = background.copy()
        mask = np.zeros((h, w), np.uint8)
        disc = (yy - 30 - t // 2) ** 2 + (xx - 20 - 2 * t) ** 2 < 14**2
        bar = (abs(yy - 65) < 8) & (abs(xx - 95 + t) < 18)
        square = (abs(yy - 20 - t // 3) < 9) & (abs(xx - 85) < 9) & (t >= 12)
        for obj, region, colour in ((1, disc, (230, 60, 40)), (2, bar, (40, 200, 80))):
            frame[region] = colour
            mask[region] = obj
        frame[square] = (60, 80, 240)
        mask[square] = 3
        frames.append(frame)
        if t == 0:
            annotations[t] = mask.copy()
        elif t == 12:
            annotations[t] = np.where(mask == 3, 3, 0).astype(np.uint8)
    return frames, annotations


def tiny_network(seed: int = 0, arch: CutieArch | None = None) -> CutieNetwork:
    torch.manual_seed(seed)
    return CutieNetwork(arch or CutieArch.tiny()).eval()


def tiny_propagator(seed: int = 0, **config: object) -> CutiePropagator:
    cfg = CutieConfig(**{"size": -1, **config})
    return CutiePropagator(tiny_network(seed), config=cfg, device="cpu")
