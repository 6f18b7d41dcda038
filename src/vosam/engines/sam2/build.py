"""Building SAM 2 models through the official ``sam2`` package, with strict weight loading.

``sam2`` keeps its model configs in a Hydra config module and initialises Hydra's global
state when it is imported. Here it is imported only when a model is built, and the configs
are composed inside a scope that leaves Hydra's global state as it found it, so that SAM 2
engines, SAM 2 refiners and an application's own Hydra setup can share one process.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vosam.engines.state_dict import read_tensor_dict, state_dict_problems
from vosam.errors import CheckpointError

log = logging.getLogger(__name__)


# size word in official checkpoint names -> size suffix of the config files
_SIZES = {
    "tiny": "t",
    "t": "t",
    "small": "s",
    "s": "s",
    "base_plus": "b+",
    "base-plus": "b+",
    "b+": "b+",
    "large": "l",
    "l": "l",
}
_NAME = re.compile(
    r"(sam2(?:\.1)?)_hiera_(tiny|small|base_plus|base-plus|large|b\+|t|s|l)(?![A-Za-z0-9])"
)


def config_for_checkpoint(checkpoint: str | Path) -> str:
    """The official model config of an official checkpoint file name.

    ``sam2.1_hiera_tiny.pt`` or ``sam2.1_hiera_t.pt`` -> ``configs/sam2.1/sam2.1_hiera_t.yaml``;
    ``sam2_hiera_base_plus.pt`` -> ``configs/sam2/sam2_hiera_b+.yaml``.

    Raises:
        CheckpointError: the name does not say which model it is.
    """
    match = _NAME.search(Path(checkpoint).name)
    if match is None:
        raise CheckpointError(
            checkpoint,
            "cannot tell the SAM 2 model from the file name; pass --model-config "
            "(e.g. configs/sam2.1/sam2.1_hiera_t.yaml)",
        )
    family, size = match.group(1), _SIZES[match.group(2)]
    return f"configs/{family}/{family}_hiera_{size}.yaml"


@contextlib.contextmanager
def sam2_hydra_scope() -> Iterator[None]:
    """Make sam2's config module the active Hydra search path, then restore the previous one.

    Imports ``sam2`` (which initialises Hydra for itself when nothing else has). When another
    Hydra setup is active, it is set aside for the duration and put back afterwards.
    """
    import sam2  # noqa: F401 (sam2 initialises Hydra for its configs when first imported)
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup

    hydra = GlobalHydra.instance()
    if hydra.is_initialized() and _serves_sam2(hydra):
        yield
        return
    backup = get_gh_backup()
    hydra.clear()
    try:
        with initialize_config_module("sam2", version_base="1.2"):
            yield
    finally:
        restore_gh_from_backup(backup)


def _serves_sam2(hydra: Any) -> bool:
    sources = hydra.config_loader().get_sources()
    return any(s.scheme() == "pkg" and s.path == "sam2" for s in sources)


def build_model(
    model_config: str,
    *,
    overrides: Sequence[str] = (),
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """A SAM 2 video model with random weights, built by sam2's video predictor builder.

    Args:
        model_config: config name inside the ``sam2`` package, e.g.
            ``configs/sam2.1/sam2.1_hiera_t.yaml``.
        overrides: extra Hydra overrides, e.g. ``("++model.image_size=256",)``.
        device: where the model goes.

    Returns:
        an eval-mode ``sam2.sam2_video_predictor.SAM2VideoPredictor`` (a ``SAM2Base``).
        vosam uses only its model methods, never its video-loading inference state.
    """
    with sam2_hydra_scope():
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException
        from sam2.build_sam import build_sam2_video_predictor

        try:
            model = build_sam2_video_predictor(
                model_config,
                ckpt_path=None,
                device=str(device),
                hydra_overrides_extra=list(overrides),
            )
        except (HydraException, OmegaConfBaseException) as exc:
            raise CheckpointError(model_config, f"not a usable SAM 2 model config ({exc})") from exc
    return model


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The model weights of an official SAM 2 checkpoint (``{"model": state_dict}``), on CPU."""
    return read_tensor_dict(
        path,
        kind="a SAM 2 .pt",
        malformed='is not a SAM 2 checkpoint (expected {"model": state dict of tensors})',
        unwrap="model",
    )


def load_weights(
    model: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    path: str | Path | None = None,
    *,
    model_config: str = "",
) -> None:
    """Load ``state`` into ``model`` strictly.

    Raises:
        CheckpointError: names missing or unexpected, or shapes that differ; the message
            lists them and the config they were checked against.
    """
    expected = model.state_dict()
    problems = state_dict_problems(expected, state)
    if problems:
        raise CheckpointError(
            path, f"does not match the SAM 2 model {model_config or '?'}: " + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)
    log.info("SAM 2 weights%s loaded into %s", f" from {path}" if path else "", model_config)
